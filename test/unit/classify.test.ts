import { test, before } from "node:test";
import assert from "node:assert/strict";
import { classifyStatement } from "../../src/server/classify.js";
import { loadParser } from "../../src/sql/parse.js";

before(() => loadParser());

test("statements that do not concern Canopy are forwarded without parsing", () => {
  assert.equal(classifyStatement("SELECT abalance FROM pgbench_accounts WHERE aid = $1").kind, "forward");
  assert.equal(classifyStatement("SELEC broken").kind, "forward");
  // Mentions the word but is not a UDF call or a setting.
  assert.equal(classifyStatement("SELECT 'canopy_add_node' AS s").kind, "forward");
  assert.equal(classifyStatement("CREATE TABLE canopy_things (a int)").kind, "forward");
});

test("UDF calls are intercepted wherever they appear, also schema-qualified", () => {
  for (const sql of [
    "SELECT * FROM canopy_add_node('h', 5432)",
    "SELECT pg_catalog.canopy_add_node('h', 5432)",
    "SELECT x FROM (SELECT run_command_on_workers('select 1') AS x) s",
    "SELECT 1; SELECT * FROM master_get_active_worker_nodes()",
  ]) {
    const c = classifyStatement(sql);
    assert.equal(c.kind, "intercept", sql);
  }
  const c = classifyStatement("SELECT 1; SELECT * FROM master_get_active_worker_nodes()");
  assert.ok(c.kind === "intercept");
  assert.equal(c.statements.length, 2);
  assert.equal(c.statements[0].intercepted, null);
  assert.equal(c.statements[0].text, "SELECT 1");
  assert.ok(c.statements[1].intercepted);
  // Another schema's function of the same name is not Canopy's.
  assert.equal(classifyStatement("SELECT myschema.canopy_add_node('h', 1)").kind, "forward");
});

test("canopy settings are validated; SHOW is intercepted, SET forwarded", () => {
  assert.equal(classifyStatement("SET canopy.shard_count = 64").kind, "forward");
  assert.equal(classifyStatement("SET LOCAL canopy.explain_all_tasks TO on").kind, "forward");
  assert.equal(classifyStatement("RESET canopy.shard_count").kind, "forward");
  const unknown = classifyStatement("SET canopy.nope = 1");
  assert.ok(unknown.kind === "error");
  assert.equal(unknown.error.code, "42704");
  const bad = classifyStatement("SET canopy.shard_count = 'many'");
  assert.ok(bad.kind === "error");
  assert.equal(bad.error.code, "22023");
  const show = classifyStatement("SHOW canopy.shard_count");
  assert.ok(show.kind === "intercept");
  assert.equal(show.statements[0].intercepted?.show, "canopy.shard_count");
  const showUnknown = classifyStatement("SHOW canopy.nope");
  assert.ok(showUnknown.kind === "error");
  assert.equal(showUnknown.error.code, "42704");
});
