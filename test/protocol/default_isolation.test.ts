// A statement outside a block is its own transaction, at the session's default_transaction_isolation:
// on the workers too, single-shard statements included, so a REPEATABLE READ session's UPDATE of a
// row another transaction changed meanwhile fails with 40001 instead of losing that update. A block
// at another level than the default runs at its own. Local cluster only: with the embedded cluster
// a session in a block holds the one backend, so a second session could not be seen waiting.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { startLocalCluster, type TestCluster } from "../support/cluster.js";

let cluster: TestCluster;
let a: pg.Client;
let b: pg.Client;

before(async () => {
  cluster = await startLocalCluster();
  a = new pg.Client(cluster.url);
  b = new pg.Client(cluster.url);
  await a.connect();
  await b.connect();
  await a.query("CREATE TABLE counters (id int PRIMARY KEY, v int)");
  await a.query("SELECT create_distributed_table('counters', 'id')");
  await a.query("INSERT INTO counters SELECT g, g FROM generate_series(1, 20) g");
});

after(async () => {
  await a?.end();
  await b?.end();
  await cluster?.stop();
});

const level = async (client: pg.Client, where: string) =>
  (await client.query(`SELECT DISTINCT current_setting('transaction_isolation') AS l FROM counters ${where}`)).rows;

test("single-shard and multi-shard statements run at the session's default level", async () => {
  await a.query("SET default_transaction_isolation = 'repeatable read'");
  assert.deepEqual(await level(a, "WHERE id = 1"), [{ l: "repeatable read" }]);
  assert.deepEqual(await level(a, ""), [{ l: "repeatable read" }]);
  await a.query("BEGIN ISOLATION LEVEL READ COMMITTED");
  assert.deepEqual(await level(a, "WHERE id = 1"), [{ l: "read committed" }]);
  await a.query("COMMIT");
  await a.query("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE");
  assert.deepEqual(await level(a, "WHERE id = 2"), [{ l: "serializable" }]);
  await a.query("RESET default_transaction_isolation");
  assert.deepEqual(await level(a, "WHERE id = 2"), [{ l: "read committed" }]);
});

test("a REPEATABLE READ session's single-shard UPDATE of a row changed meanwhile fails with 40001", async () => {
  await a.query("SET default_transaction_isolation = 'repeatable read'");
  await b.query("BEGIN");
  await b.query("UPDATE counters SET v = v + 10 WHERE id = 1");
  const waiting = a.query("UPDATE counters SET v = v * 2 WHERE id = 1 RETURNING v");
  const outcome = waiting.then(
    () => null,
    (e: { code?: string }) => e.code,
  );
  await new Promise((r) => setTimeout(r, 300));
  await b.query("COMMIT");
  assert.equal(await outcome, "40001");
  assert.deepEqual((await b.query("SELECT v FROM counters WHERE id = 1")).rows, [{ v: 11 }]);
  await a.query("RESET default_transaction_isolation");
});
