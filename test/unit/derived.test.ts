// Equalities pushed into derived tables (planner/derived.ts): where a copy keeps the rows the outer
// conjunct keeps, it goes into the derived table's WHERE on the column its query names; elsewhere
// the statement stays as written. Pure: the catalog's answers about functions are given.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { deparseStatement, loadParser, parseSql } from "../../src/sql/parse.js";
import type { AstNode } from "../../src/sql/ast.js";
import { pushIntoDerivedTables } from "../../src/planner/derived.js";

before(() => loadParser());

const functions = {
  isAggregate: (name: string) => ["count", "sum", "max"].includes(name),
  returnsSet: (name: string) => ["generate_series", "unnest"].includes(name),
};

const statement = (sql: string) => parseSql(sql)[0].stmt as AstNode;

/** The statement after the push, deparsed, or null when nothing was pushed. */
function pushed(sql: string): string | null {
  const stmt = statement(sql);
  return pushIntoDerivedTables(stmt, functions) ? deparseStatement(stmt) : null;
}

const same = (sql: string, expected: string) => assert.equal(pushed(sql), deparseStatement(statement(expected)), sql);

test("an equality, IN list or = ANY on a plain column goes in, on the column as the query writes it", () => {
  same(
    "SELECT * FROM (SELECT o.id, o.k FROM orders o WHERE o.x > 1) v WHERE k = 5",
    "SELECT * FROM (SELECT o.id, o.k FROM orders o WHERE o.x > 1 AND o.k = 5) v WHERE k = 5",
  );
  same(
    "SELECT * FROM (SELECT id, k FROM orders) v(a, b) WHERE v.b IN (1, $2) AND 7 = v.a",
    "SELECT * FROM (SELECT id, k FROM orders WHERE k IN (1, $2) AND 7 = id) v(a, b) WHERE v.b IN (1, $2) AND 7 = v.a",
  );
  same(
    "SELECT * FROM (SELECT k FROM t) v, u WHERE v.k = ANY($1::int[]) AND u.k = v.k",
    "SELECT * FROM (SELECT k FROM t WHERE k = ANY($1::int[])) v, u WHERE v.k = ANY($1::int[]) AND u.k = v.k",
  );
});

test("a derived table within a derived table is reached, and a second push adds nothing", () => {
  const sql = "SELECT * FROM (SELECT a.k FROM (SELECT t.k FROM t) a) b WHERE b.k = '3'";
  const once = pushed(sql)!;
  assert.equal(
    once,
    deparseStatement(
      statement(
        "SELECT * FROM (SELECT a.k FROM (SELECT t.k FROM t WHERE t.k = '3') a WHERE a.k = '3') b WHERE b.k = '3'",
      ),
    ),
  );
  assert.equal(pushIntoDerivedTables(statement(once), functions), false);
});

test("grouped by the column (by reference or position), it goes into WHERE", () => {
  same(
    "SELECT * FROM (SELECT k, count(*) FROM t GROUP BY k) s WHERE k = 1",
    "SELECT * FROM (SELECT k, count(*) FROM t WHERE k = 1 GROUP BY k) s WHERE k = 1",
  );
  same(
    "SELECT * FROM (SELECT t.k, max(x) AS m FROM t GROUP BY 1 HAVING max(x) > 0) s WHERE s.k = 1",
    "SELECT * FROM (SELECT t.k, max(x) AS m FROM t WHERE t.k = 1 GROUP BY 1 HAVING max(x) > 0) s WHERE s.k = 1",
  );
});

test("where a copy could keep other rows, or the column is not plain, nothing is pushed", () => {
  for (const sql of [
    "SELECT * FROM (SELECT k FROM t ORDER BY k LIMIT 3) s WHERE k = 1",
    "SELECT * FROM (SELECT k FROM t OFFSET 1) s WHERE k = 1",
    "SELECT * FROM (SELECT DISTINCT ON (x) k FROM t) s WHERE k = 1",
    "SELECT * FROM (SELECT k, rank() OVER (ORDER BY x) FROM t) s WHERE k = 1",
    "SELECT * FROM (SELECT k, generate_series(1, 2) FROM t) s WHERE k = 1",
    "SELECT * FROM (SELECT k, count(*) FROM t GROUP BY ROLLUP (k)) s WHERE k = 1",
    "SELECT * FROM (SELECT max(k) AS k FROM t) s WHERE k = 1",
    "SELECT * FROM (SELECT k FROM t UNION SELECT k FROM u) s WHERE k = 1",
    "SELECT * FROM (SELECT k + 0 AS k FROM t) s WHERE k = 1",
    "SELECT * FROM (SELECT * FROM t) s WHERE k = 1",
    "SELECT * FROM (SELECT k FROM t) s WHERE k = 1.5::int",
    "SELECT * FROM (SELECT k FROM t) s WHERE k = 1 OR k = 2",
    "SELECT * FROM (SELECT k FROM t) s WHERE k <> 1",
    "SELECT * FROM u, LATERAL (SELECT k FROM t) s WHERE s.k = 1",
    "SELECT * FROM u LEFT JOIN (SELECT k FROM t) s ON s.k = u.k WHERE s.k = 1",
    "SELECT * FROM (SELECT k FROM t) s FULL JOIN u ON s.k = u.k WHERE s.k = 1",
    "SELECT * FROM (SELECT k FROM t) s, u WHERE k = 1",
  ]) {
    assert.equal(pushed(sql), null, sql);
  }
  // Grouped by another column only: only the grouped one goes in.
  same(
    "SELECT * FROM (SELECT k, x FROM t GROUP BY x, k) s WHERE s.k = 1",
    "SELECT * FROM (SELECT k, x FROM t WHERE k = 1 GROUP BY x, k) s WHERE s.k = 1",
  );
  assert.equal(pushed("SELECT * FROM (SELECT k, x FROM t GROUP BY x) s WHERE s.k = 1"), null);
});
