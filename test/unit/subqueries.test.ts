// The planner's view of subqueries and CTEs (planner/subqueries.ts, planner/pushdown.ts): which
// run with the outer query on each shard group, which run first as subplans, and how pins follow
// names. Pure: the tables are given as metadata records.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { deparseStatement, loadParser, parseSql } from "../../src/sql/parse.js";
import type { AstNode } from "../../src/sql/ast.js";
import type { TableRecord } from "../../src/metadata/cache.js";
import { collectRelationRefs, keyJoins, pinnedValues, type DistributedRef } from "../../src/planner/analyze.js";
import { localityContext, runsWholeOnShards } from "../../src/planner/pushdown.js";
import { inlineCtes, planRecursive } from "../../src/planner/subqueries.js";

before(() => loadParser());

const table = (relname: string, method: "h" | "n", partitionKey: string | null, colocationId: number) =>
  ({
    relationId: colocationId * 100 + relname.length,
    name: relname,
    schema: "public",
    relname,
    method,
    partitionKey,
    partitionType: 23,
    partitionTypmod: -1,
    colocationId,
    shards: [],
  }) satisfies TableRecord;

const tables: Record<string, { table: TableRecord; columns: string[] }> = {
  companies: { table: table("companies", "h", "id", 1), columns: ["id", "name", "plan_id"] },
  clicks: { table: table("clicks", "h", "company_id", 1), columns: ["company_id", "id", "site_url", "cost"] },
  notes: { table: table("notes", "h", "company_id", 2), columns: ["company_id", "note_id", "priority"] },
  plans: { table: table("plans", "n", null, 0), columns: ["id", "price"] },
};

/** A statement with its references to the tables above, the others (local tables) apart. */
function analyze(sql: string, inline = false) {
  let stmt = parseSql(sql)[0].stmt as AstNode;
  let origins = new Map<AstNode, AstNode>();
  if (inline) ({ stmt, origins } = inlineCtes(stmt));
  const dist: DistributedRef[] = [];
  const columns = new Map<AstNode, string[]>();
  const local = collectRelationRefs(stmt).filter((r) => {
    const known = tables[r.relname];
    if (!known) return true;
    dist.push({ ...r, table: known.table });
    columns.set(r.rangeVar, known.columns);
    return false;
  });
  const ctx = localityContext({
    isAggregate: (n) => ["count", "sum", "max"].includes(n),
    columnsOf: (rv) => columns.get(rv) ?? null,
  });
  return { stmt, select: stmt.SelectStmt as AstNode, dist, local, origins, ctx };
}

/** SQL text of an AST on one line. */
const sqlOf = (stmt: AstNode) => deparseStatement(stmt).replace(/\s+/g, " ").replace(/\( /g, "(").replace(/ \)/g, ")");

const runsWhole = (sql: string) => {
  const { select, dist, ctx } = analyze(sql, true);
  return runsWholeOnShards(select, { ...ctx, refs: dist });
};

test("co-located subqueries run with the outer query on each shard group", () => {
  assert.ok(
    runsWhole(
      "SELECT c.name, x.n FROM companies c JOIN (SELECT company_id, count(*) AS n FROM clicks GROUP BY company_id) x ON x.company_id = c.id",
    ),
  );
  assert.ok(
    runsWhole(
      "SELECT id FROM companies c WHERE EXISTS (SELECT 1 FROM clicks k WHERE k.company_id = c.id ORDER BY cost LIMIT 1)",
    ),
  );
  assert.ok(runsWhole("SELECT id FROM companies WHERE id NOT IN (SELECT company_id FROM clicks GROUP BY company_id)"));
  assert.ok(
    runsWhole(
      "WITH t AS (SELECT company_id, sum(cost) AS s FROM clicks GROUP BY 1) SELECT a.s FROM t a JOIN t b USING (company_id)",
    ),
  );
  assert.ok(runsWhole("SELECT count(*) FROM (SELECT DISTINCT company_id, site_url FROM clicks) d GROUP BY company_id"));
});

test("subqueries not tied to the distribution column do not", () => {
  assert.ok(
    !runsWhole(
      "SELECT c.name FROM companies c JOIN (SELECT site_url, count(*) AS n FROM clicks GROUP BY site_url) x ON x.n = c.id",
    ),
  );
  assert.ok(!runsWhole("SELECT id FROM companies c WHERE EXISTS (SELECT 1 FROM clicks k WHERE k.id = c.id)"));
  assert.ok(!runsWhole("SELECT id FROM companies WHERE id IN (SELECT company_id FROM clicks ORDER BY cost LIMIT 5)"));
  assert.ok(!runsWhole("SELECT id FROM companies WHERE id IN (SELECT company_id FROM notes)"));
  // NULL IN (…) is NULL or false depending on the rows of the other shard groups.
  assert.ok(
    !runsWhole(
      "SELECT c.id, k.company_id IN (SELECT company_id FROM clicks) FROM companies c LEFT JOIN clicks k ON k.company_id = c.id",
    ),
  );
});

test("recursive planning runs uncorrelated subqueries first and fetches other co-location groups", () => {
  const limited = analyze("SELECT id FROM companies WHERE id IN (SELECT company_id FROM clicks ORDER BY cost LIMIT 5)");
  const plan = planRecursive(limited.stmt, limited.dist, limited.local, limited.origins, limited.ctx);
  assert.equal(plan?.subplans.length, 1);
  assert.equal(sqlOf({ SelectStmt: plan!.subplans[0].select }), "SELECT company_id FROM clicks ORDER BY cost LIMIT 5");
  assert.deepEqual(plan!.fetched, []);

  // A CTE read twice runs once and fills both places.
  const twice = analyze(
    "WITH s AS (SELECT site_url, count(*) AS n FROM clicks GROUP BY 1) SELECT a.site_url FROM s a JOIN s b ON a.n = b.n",
    true,
  );
  const once = planRecursive(twice.stmt, twice.dist, twice.local, twice.origins, twice.ctx);
  assert.equal(once?.subplans.length, 1);
  assert.equal(once!.subplans[0].sites.length, 2);

  const joined = analyze(
    "SELECT c.id FROM companies c JOIN clicks k ON k.company_id = c.id JOIN notes n ON n.company_id = c.id JOIN holidays h ON h.id = c.id",
  );
  const fetch = planRecursive(joined.stmt, joined.dist, joined.local, joined.origins, joined.ctx);
  assert.deepEqual(fetch?.fetched.map((r) => r.relname).sort(), ["holidays", "notes"]);

  // EXISTS needs one row to be decided.
  const exists = analyze("SELECT id FROM companies WHERE EXISTS (SELECT * FROM notes WHERE priority = 1)");
  const first = planRecursive(exists.stmt, exists.dist, exists.local, exists.origins, exists.ctx);
  assert.equal(
    sqlOf({ SelectStmt: first!.subplans[0].select }),
    "SELECT * FROM (SELECT * FROM notes WHERE priority = 1) AS s LIMIT 1",
  );
});

test("correlated subqueries are not run on their own", () => {
  const correlated = analyze(
    "SELECT id FROM companies c WHERE c.plan_id > (SELECT count(*) FROM notes n WHERE n.priority = c.plan_id)",
  );
  assert.equal(
    planRecursive(correlated.stmt, correlated.dist, correlated.local, correlated.origins, correlated.ctx),
    null,
  );
  // Unqualified: `plan_id` is only the outer query's column.
  const unqualified = analyze(
    "SELECT id FROM companies c WHERE EXISTS (SELECT 1 FROM notes n WHERE n.priority = plan_id)",
  );
  assert.equal(
    planRecursive(unqualified.stmt, unqualified.dist, unqualified.local, unqualified.origins, unqualified.ctx),
    null,
  );
});

test("CTEs are inlined in the scope they are defined in", () => {
  const { stmt } = analyze(
    "WITH x AS (SELECT id FROM companies) SELECT * FROM x WHERE id IN (WITH x AS (SELECT company_id FROM clicks) SELECT company_id FROM x)",
    true,
  );
  assert.equal(
    sqlOf(stmt),
    "SELECT * FROM (SELECT id FROM companies) AS x WHERE id IN (SELECT company_id FROM (SELECT company_id FROM clicks) AS x)",
  );
  const recursive = analyze(
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r",
    true,
  );
  assert.match(sqlOf(recursive.stmt), /^WITH RECURSIVE r/);
});

test("pins follow names as PostgreSQL resolves them", () => {
  const pinned = (sql: string) => {
    const { dist } = analyze(sql);
    const pins = pinnedValues(dist);
    return dist.map((r) => `${r.refName}:${pins.get(r)?.length ?? "-"}`).join(" ");
  };
  // The inner `k` is pinned; the outer one is not, though an equality names `k`.
  assert.equal(
    pinned(
      "SELECT 1 FROM companies c JOIN clicks k ON k.company_id = c.id WHERE c.id > 1 OR EXISTS (SELECT 1 FROM clicks k WHERE k.company_id = 5)",
    ),
    "c:- k:- k:1",
  );
  // An unqualified name in a subquery is its own table's column first.
  assert.equal(
    pinned(
      "SELECT 1 FROM clicks WHERE company_id = 4 AND EXISTS (SELECT 1 FROM clicks k WHERE k.company_id = company_id)",
    ),
    "clicks:1 k:-",
  );
  // A qualified one reaches the outer query.
  assert.equal(
    pinned("SELECT 1 FROM companies c WHERE c.id = 4 AND EXISTS (SELECT 1 FROM clicks k WHERE k.company_id = c.id)"),
    "c:1 k:1",
  );
});

test("rows joined on a modification target's distribution column", () => {
  const joined = (sql: string) => {
    const { dist, local } = analyze(sql);
    const target = dist.find((r) => r.isTarget)!;
    const joins = keyJoins(target, [...local, ...dist.filter((r) => r !== target)]);
    return [...joins].map(([r, column]) => `${r.refName}.${column}`).join(" ");
  };
  assert.equal(joined("UPDATE companies c SET name = s.name FROM stage s WHERE c.id = s.id"), "s.id");
  assert.equal(
    joined("DELETE FROM companies USING stage s, notes n WHERE s.cid = id AND n.company_id = companies.id"),
    "n.company_id",
  );
  // Either side, next to other conditions; a table inside an outer join of FROM still meets the
  // target only through the equality.
  assert.equal(
    joined(
      "UPDATE companies c SET name = 'x' FROM stage s LEFT JOIN other o ON o.k = s.k WHERE s.k > 1 AND s.cid = c.id",
    ),
    "s.cid",
  );
  // Not a restriction of every row: under OR, in a subquery, a column of no FROM item, another operator.
  assert.equal(joined("UPDATE companies c SET name = 'x' FROM stage s WHERE c.id = s.id OR c.id = 1"), "");
  assert.equal(joined("UPDATE companies c SET name = 'x' WHERE EXISTS (SELECT 1 FROM stage s WHERE s.id = c.id)"), "");
  assert.equal(joined("UPDATE companies c SET name = 'x' FROM stage s WHERE c.plan_id = s.id"), "");
  assert.equal(joined("UPDATE companies c SET name = 'x' FROM stage s WHERE c.id < s.id"), "");
  assert.equal(joined("UPDATE companies c SET name = 'x' FROM (SELECT * FROM stage) s WHERE c.id = s.id"), "");
});
