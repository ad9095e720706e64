import { test } from "node:test";
import assert from "node:assert/strict";
import { checkSessionSet, ensureSettingExists, normalizeSetting, resolveDefaults } from "../../src/settings.js";
import { SqlError } from "../../src/errors.js";
import { parseConninfo } from "../../src/nodes/gateway.js";

const code = (c: string) => (e: unknown) => e instanceof SqlError && e.code === c;

test("defaults are the documented ones", () => {
  const d = resolveDefaults();
  assert.equal(d["canopy.shard_count"], "32");
  assert.equal(d["canopy.shard_replication_factor"], "1");
  assert.equal(d["canopy.node_conninfo"], "sslmode=require");
  assert.equal(d["canopy.max_adaptive_executor_pool_size"], "16");
  assert.equal(d["canopy.executor_slow_start_interval"], "10");
  assert.equal(d["canopy.max_cached_conns_per_worker"], "16");
  assert.equal(d["canopy.explain_all_tasks"], "off");
  assert.equal(d["canopy.log_remote_commands"], "off");
  assert.equal(resolveDefaults({ "canopy.shard_count": "64" })["canopy.shard_count"], "64");
  assert.equal(d["canopy.stat_statements_max"], "50000");
  assert.equal(d["canopy.stat_statements_purge_interval"], "3600");
  assert.equal(d["canopy.stat_statements_track"], "all");
});

test("unknown names, bad values and out-of-range values are refused as PostgreSQL does", () => {
  assert.throws(() => ensureSettingExists("canopy.nope"), code("42704"));
  assert.throws(() => checkSessionSet("canopy.shard_count", "abc"), code("22023"));
  assert.throws(() => checkSessionSet("canopy.shard_count", "0"), code("22023"));
  assert.throws(() => checkSessionSet("canopy.explain_all_tasks", "maybe"), code("22023"));
  assert.throws(() => checkSessionSet("canopy.max_message_size", "2048"), code("55P02"));
  assert.throws(() => checkSessionSet("canopy.stat_statements_max", "100"), code("55P02"));
  assert.throws(() => checkSessionSet("canopy.max_shared_pool_size", "10"), code("55P02"));
  assert.equal(resolveDefaults({ "canopy.max_shared_pool_size": "-1" })["canopy.max_shared_pool_size"], "-1");
  assert.throws(() => resolveDefaults({ "canopy.stat_statements_max": "10000001" }), code("22023"));
  assert.throws(() => resolveDefaults({ "canopy.stat_statements_track": "top" }), code("22023"));
  assert.throws(() => checkSessionSet("canopy.node_conninfo", "password=secret"), code("22023"));
  assert.throws(() => checkSessionSet("canopy.node_conninfo", "host=elsewhere"), code("22023"));
  assert.equal(normalizeSetting("canopy.explain_all_tasks", "TRUE"), "on");
  assert.equal(normalizeSetting("CANOPY.SHARD_COUNT", " 64 "), "64");
  assert.equal(
    checkSessionSet("canopy.node_conninfo", "sslmode=verify-full sslrootcert='/a b/ca.crt'"),
    "sslmode=verify-full sslrootcert='/a b/ca.crt'",
  );
});

test("conninfo strings parse with quoting and reject garbage", () => {
  assert.deepEqual(parseConninfo("sslmode=require  password=abc"), { sslmode: "require", password: "abc" });
  assert.deepEqual(parseConninfo("sslrootcert='/x y/z' sslmode=verify-ca"), {
    sslrootcert: "/x y/z",
    sslmode: "verify-ca",
  });
  assert.deepEqual(parseConninfo("password='a\\'b'"), { password: "a'b" });
  assert.throws(() => parseConninfo("sslmode"), code("22023"));
});
