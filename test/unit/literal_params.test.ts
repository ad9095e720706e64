// The numeric and string literals of a statement's text (sql/literals.ts) and which of them become parameters
// (planner/literal_params.ts): pure functions, checked against libpg-query's own parse.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { literalType, stringValue, textLiterals } from "../../src/sql/literals.js";
import { parameterizeLiterals } from "../../src/planner/literal_params.js";
import { deparseStatement, loadParser, parseSql } from "../../src/sql/parse.js";

before(() => loadParser());

const texts = (sql: string) => textLiterals(sql)?.literals.map((l) => l.text) ?? [];

test("numbers and plain strings in code are literals; those in strings, names, comments and parameters are not", () => {
  assert.deepEqual(texts("SELECT 1, 2.5, .5, 5., 1e5, 1.5E-3 FROM t WHERE x = 42"), [
    "1",
    "2.5",
    ".5",
    "5.",
    "1e5",
    "1.5E-3",
    "42",
  ]);
  assert.deepEqual(
    texts("SELECT '1', E'2\\'3', \"4\", x5, $6, $$7$$, $tag$ 8 $tag$ FROM t9 -- 10\n/* 11 /* 12 */ 13 */"),
    ["'1'"],
  );
  assert.deepEqual(texts("SELECT b'101', x'1F', n'3', U&'4', U&\"5\" FROM t WHERE a = 6"), ["6"]);
  assert.deepEqual(texts("SELECT * FROM t WHERE a = 'it''s' AND b = '' AND c = date '2020-01-01'"), [
    "'it''s'",
    "''",
    "'2020-01-01'",
  ]);
  // Runs of a number into letters or dots are left alone: PostgreSQL lexes them otherwise.
  assert.deepEqual(texts("SELECT 1e, 2x, 1..3, t.5 FROM t WHERE a = 7"), ["7"]);
  assert.equal(textLiterals("SELECT a FROM t"), null);
});

test("texts differing only in numbers share a shape", () => {
  const a = textLiterals("SELECT * FROM t WHERE id = 1 AND v > 2.5")!;
  const b = textLiterals("SELECT * FROM t WHERE id = 12345 AND v > 0.1")!;
  assert.equal(a.key, b.key);
  assert.notEqual(a.key, textLiterals("SELECT * FROM t WHERE id = 1 AND v >= 2.5")!.key);
  assert.notEqual(a.key, textLiterals("SELECT * FROM t WHERE id = '1' AND v > 2.5")?.key);
  // And in strings: a string's place is not a number's.
  const c = textLiterals("SELECT * FROM t WHERE name = 'bob' AND id = 1")!;
  assert.equal(c.key, textLiterals("SELECT * FROM t WHERE name = 'it''s alice' AND id = 2")!.key);
  assert.notEqual(c.key, textLiterals("SELECT * FROM t WHERE name = 3 AND id = 1")!.key);
});

test("a literal's type is PostgreSQL's: int4, int8 past int4's range (with its sign), numeric past int8's", () => {
  assert.equal(literalType("2147483647", false), 23);
  assert.equal(literalType("000000000002", false), 23);
  assert.equal(literalType("2147483648", false), 20);
  // PostgreSQL lexes 2147483648 as too large for int4 before the minus sign folds in.
  assert.equal(literalType("2147483648", true), 20);
  assert.equal(literalType("9223372036854775807", false), 20);
  assert.equal(literalType("9223372036854775808", false), 1700);
  assert.equal(literalType("9223372036854775808", true), 20);
  assert.equal(literalType("1.0", false), 1700);
  assert.equal(literalType("1e3", false), 1700);
});

/** The statement's text with its literals as parameters (deparsed), and the parameters' values. */
function parameterized(sql: string): { sql: string; values: string[]; types: number[] } | null {
  const shape = textLiterals(sql);
  if (!shape) return null;
  const p = parameterizeLiterals(sql, parseSql(sql)[0].stmt, shape.literals);
  if (!p) return null;
  return {
    sql: deparseStatement(p.stmt).replace(/\s+/g, " "),
    values: p.params.map((q) =>
      shape.literals[q.literal].quoted
        ? stringValue(shape.literals[q.literal].text)
        : (q.negated ? "-" : "") + shape.literals[q.literal].text,
    ),
    types: p.params.map((q) => q.type),
  };
}

test("WHERE clauses, UPDATE assignments and INSERT values take parameters, with the literals' types", () => {
  assert.deepEqual(parameterized("SELECT a, 1 FROM t WHERE id = 7 AND n > 1.5 AND b = - 2147483648"), {
    sql: "SELECT a, 1 FROM t WHERE id = $1 AND n > $2 AND b = $3",
    values: ["7", "1.5", "-2147483648"],
    types: [23, 1700, 20],
  });
  assert.deepEqual(parameterized("UPDATE t SET v = v + -5, w = 3 WHERE id IN (1, 2)"), {
    sql: "UPDATE t SET v = v + $1, w = $2 WHERE id IN ($3, $4)",
    values: ["-5", "3", "1", "2"],
    types: [23, 23, 23, 23],
  });
  assert.deepEqual(parameterized("INSERT INTO t VALUES (1, 'x', 99999999999), (2, 'y''s', 0.5) RETURNING 3"), {
    sql: "INSERT INTO t VALUES ($1, $2, $3), ($4, $5, $6) RETURNING 3",
    values: ["1", "x", "99999999999", "2", "y's", "0.5"],
    types: [23, 0, 20, 23, 0, 1700],
  });
  // A typed string ('…'::interval, interval '…') keeps its type as a cast of its parameter.
  assert.deepEqual(parameterized("DELETE FROM t WHERE id = 3 AND ts < now() - 2 * interval '1 day'"), {
    sql: "DELETE FROM t WHERE id = $1 AND ts < (now() - ($2 * CAST($3 AS interval)))",
    values: ["3", "2", "1 day"],
    types: [23, 23, 0],
  });
});

test("constants that name, match or shape something stay constants", () => {
  // Select lists, GROUP BY and ORDER BY positions, HAVING, LIMIT: not a WHERE clause.
  assert.equal(parameterized("SELECT x + 1 FROM t GROUP BY x + 1 HAVING count(*) > 2 ORDER BY 1 LIMIT 5"), null);
  // Type modifiers and subqueries.
  assert.deepEqual(
    parameterized("SELECT * FROM t WHERE n::numeric(10, 2) = 1.5 AND id IN (SELECT id FROM u WHERE k = 4)")?.values,
    ["1.5"],
  );
  // A statement with parameters of its own, set operations, INSERT … SELECT: left as they are.
  assert.equal(parameterized("SELECT * FROM t WHERE id = $1 AND v = 2"), null);
  assert.equal(parameterized("SELECT * FROM t WHERE id = 1 UNION SELECT * FROM t WHERE id = 2"), null);
  assert.equal(parameterized("INSERT INTO t SELECT * FROM u WHERE id = 1"), null);
  // A double negation is not a constant of the literal's value.
  assert.equal(parameterized("SELECT * FROM t WHERE id = - -5"), null);
  // Strings given to functions: names (current_setting's, nextval's) and what an index may be on;
  // but lower's and upper's, which are values (case-insensitive lookups).
  assert.deepEqual(
    parameterized(
      "SELECT * FROM t WHERE tenant = current_setting('app.tenant')::int AND md5(name) = md5('Bob') AND k = 'v'",
    )?.values,
    ["v"],
  );
  assert.deepEqual(
    parameterized("SELECT * FROM t WHERE upper(name::text) = upper('Bob') AND pg_catalog.lower(k) = lower('V')")
      ?.values,
    ["Bob", "V"],
  );
  assert.equal(parameterized("SELECT * FROM t WHERE name = myschema.lower('Bob')"), null);
  // Two strings run together are one constant of both: not either literal's value.
  assert.equal(parameterized("SELECT * FROM t WHERE name = 'a'\n'b'"), null);
});

test("locations count bytes: literals after multi-byte characters are found", () => {
  assert.deepEqual(parameterized("SELECT 'héllo 🌲' AS s FROM t WHERE id = 7 AND name = 'ü' AND v = 8")?.values, [
    "7",
    "ü",
    "8",
  ]);
});
