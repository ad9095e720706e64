// SELECT … FOR UPDATE / FOR SHARE that reaches one shard group runs on the worker inside the
// block's remote transaction, so its row locks last until the client's COMMIT or ROLLBACK, as in
// PostgreSQL. A locking clause over several shards, or over a reference table (a router read
// locks one placement only), is refused. Local cluster only: with the embedded cluster a session in
// a block holds the one backend, so a second session could not be seen waiting.
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
  await a.query("CREATE TABLE accounts (id int PRIMARY KEY, owner int, balance int)");
  await a.query("SELECT create_distributed_table('accounts', 'id')");
  await a.query("INSERT INTO accounts SELECT g, g % 3, 100 FROM generate_series(1, 50) g");
  await a.query("CREATE TABLE owners (id int PRIMARY KEY, name text)");
  await a.query("SELECT create_reference_table('owners')");
  await a.query("INSERT INTO owners VALUES (0, 'zero'), (1, 'one'), (2, 'two')");
  await b.query("SET lock_timeout = '300ms'");
});

after(async () => {
  await a?.end();
  await b?.end();
  await cluster?.stop();
});

const lockTimeout = (e: { code?: string }) => e.code === "55P03";
const lockOne = (client: pg.Client, clause: string, id: number) =>
  client.query({ name: `lock ${clause}`, text: `SELECT balance FROM accounts WHERE id = $1 ${clause}`, values: [id] });

test("FOR UPDATE in a block holds the row until COMMIT; other rows stay free", async () => {
  await a.query("BEGIN");
  assert.deepEqual((await lockOne(a, "FOR UPDATE", 7)).rows, [{ balance: 100 }]);
  await assert.rejects(b.query("UPDATE accounts SET balance = 0 WHERE id = 7"), lockTimeout);
  await assert.rejects(lockOne(b, "FOR UPDATE NOWAIT", 7), lockTimeout);
  assert.deepEqual((await lockOne(b, "FOR UPDATE SKIP LOCKED", 7)).rows, []);
  assert.equal((await b.query("UPDATE accounts SET balance = 101 WHERE id = 8")).rowCount, 1);
  await a.query("UPDATE accounts SET balance = balance - 10 WHERE id = 7");
  await a.query("COMMIT");
  const moved = await b.query("UPDATE accounts SET balance = balance + 1 WHERE id = 7 RETURNING balance");
  assert.deepEqual(moved.rows, [{ balance: 91 }]);
});

test("FOR SHARE lets other readers share the row and keeps writers out; ROLLBACK frees it", async () => {
  await a.query("BEGIN");
  await lockOne(a, "FOR SHARE", 9);
  await b.query("BEGIN");
  assert.deepEqual((await lockOne(b, "FOR SHARE", 9)).rows, [{ balance: 100 }]);
  await b.query("COMMIT");
  await assert.rejects(b.query("DELETE FROM accounts WHERE id = 9"), lockTimeout);
  await a.query("ROLLBACK");
  assert.equal((await b.query("UPDATE accounts SET owner = 5 WHERE id = 9")).rowCount, 1);
});

test("FOR UPDATE OF the distributed table in a join with a reference table", async () => {
  await a.query("BEGIN");
  const { rows } = await a.query(
    "SELECT a.balance, o.name FROM accounts a JOIN owners o ON o.id = a.owner WHERE a.id = 10 FOR UPDATE OF a",
  );
  assert.deepEqual(rows, [{ balance: 100, name: "one" }]);
  await assert.rejects(b.query("UPDATE accounts SET balance = 0 WHERE id = 10"), lockTimeout);
  // The reference table's rows are not locked.
  assert.equal((await b.query("UPDATE owners SET name = 'One' WHERE id = 1")).rowCount, 1);
  await a.query("COMMIT");
});

test("refused: locking over several shards or a reference table's rows", async () => {
  const refused = (what: RegExp) => (e: { code?: string; message?: string }) =>
    e.code === "0A000" && what.test(e.message ?? "");
  await assert.rejects(a.query("SELECT * FROM accounts WHERE owner = 1 FOR UPDATE"), refused(/several shards/));
  await assert.rejects(a.query("SELECT * FROM owners WHERE id = 1 FOR UPDATE"), refused(/reference table "owners"/));
  await assert.rejects(
    a.query("SELECT * FROM accounts a JOIN owners o ON o.id = a.owner WHERE a.id = 3 FOR SHARE"),
    refused(/reference table "owners"/),
  );
  // A reference table read in a WHERE subquery is not locked by the clause.
  const { rows } = await a.query(
    "SELECT id FROM accounts WHERE id = 3 AND owner IN (SELECT id FROM owners) FOR UPDATE",
  );
  assert.deepEqual(rows, [{ id: 3 }]);
});

test("under default_transaction_read_only a kept router plan is refused outside a block, named by its lock", async () => {
  const c = new pg.Client(cluster.url);
  await c.connect();
  try {
    await c.query("SET default_transaction_read_only = on");
    for (const clause of ["FOR UPDATE", "FOR NO KEY UPDATE", "FOR SHARE", "FOR KEY SHARE"]) {
      // Run in a read-write block first, which keeps the router plan with the statement.
      await c.query("BEGIN READ WRITE");
      await lockOne(c, clause, 11);
      await lockOne(c, clause, 11);
      await c.query("COMMIT");
      await assert.rejects(
        lockOne(c, clause, 11),
        (e: { code?: string; message?: string }) =>
          e.code === "25006" && e.message === `cannot execute SELECT ${clause} in a read-only transaction`,
      );
    }
  } finally {
    await c.end();
  }
});
