// A Query message holding several statements is one implicit transaction in PostgreSQL: all of it
// commits or none of it, and now() is the same throughout. When its statements reach distributed
// tables, Canopy runs the string inside a block of its own (Session.needsImplicitBlock).
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { clusterKinds, startCluster, type TestCluster } from "../support/cluster.js";

// Keys spread over both workers (32 shards, round-robin placement).
const keys = [1, 2, 3, 4, 5, 6, 7, 8];

for (const kind of clusterKinds()) {
  describe(`multi-statement queries as one transaction (${kind})`, () => {
    let cluster: TestCluster;
    let c: pg.Client;
    let other: pg.Client;

    before(async () => {
      cluster = await startCluster(kind);
      c = new pg.Client(cluster.url);
      await c.connect();
      await c.query("CREATE TABLE items (k int PRIMARY KEY, at timestamptz, note text)");
      await c.query("SELECT create_distributed_table('items', 'k')");
      await c.query("CREATE TABLE notes (n int)");
      other = new pg.Client(cluster.url);
      await other.connect();
    });

    after(async () => {
      await other?.end();
      await c?.end();
      await cluster?.stop();
    });

    const count = async (sql: string) => Number((await other.query(sql)).rows[0].n);
    const inserts = (ks: number[]) => ks.map((k) => `INSERT INTO items VALUES (${k}, now(), 'n${k}')`).join("; ");

    test("a failing statement rolls back the ones before it, on every worker and locally", async () => {
      await assert.rejects(
        c.query(`${inserts(keys)}; INSERT INTO notes VALUES (1); UPDATE items SET note = (1/0)::text WHERE k = 3`),
        /division by zero/,
      );
      assert.equal(await count("SELECT count(*) AS n FROM items"), 0);
      assert.equal(await count("SELECT count(*) AS n FROM notes"), 0);
      // The session is out of any block: a statement of its own commits at once.
      await c.query("INSERT INTO notes VALUES (2)");
      assert.equal(await count("SELECT count(*) AS n FROM notes"), 1);
    });

    test("a duplicate key on one worker rolls back rows written on the other", async () => {
      await c.query("INSERT INTO items VALUES (100, now(), 'kept')");
      await assert.rejects(
        c.query(`${inserts(keys)}; INSERT INTO items VALUES (100, now(), 'again')`),
        /duplicate key/,
      );
      assert.equal(await count("SELECT count(*) AS n FROM items"), 1);
    });

    test("a string that succeeds commits whole, with one now() and its own writes visible", async () => {
      const results = (await c.query(
        `${inserts(keys)}; SELECT count(*)::int AS n FROM items; INSERT INTO notes VALUES (3)`,
      )) as unknown as pg.QueryResult[];
      assert.equal(results[keys.length].rows[0].n, keys.length + 1);
      assert.equal(await count("SELECT count(*) AS n FROM items WHERE k < 100"), keys.length);
      assert.equal(await count("SELECT count(DISTINCT at) AS n FROM items WHERE k < 100"), 1);
      assert.equal(await count("SELECT count(*) AS n FROM notes WHERE n = 3"), 1);
      const { rows } = await c.query("SELECT pg_catalog.txid_current_if_assigned() IS NULL AS fresh");
      assert.equal(rows[0].fresh, true);
    });

    test("BEGIN and COMMIT inside the string keep their own meaning", async () => {
      await c.query(
        "BEGIN; UPDATE items SET note = 'in block' WHERE k = 1; UPDATE items SET note = 'in block' WHERE k = 2; COMMIT",
      );
      assert.equal(await count("SELECT count(*) AS n FROM items WHERE note = 'in block'"), 2);
      await c.query("BEGIN");
      await c.query("UPDATE items SET note = 'outer' WHERE k = 5; UPDATE items SET note = 'outer' WHERE k = 6");
      await c.query("ROLLBACK");
      assert.equal(await count("SELECT count(*) AS n FROM items WHERE note = 'outer'"), 0);
    });

    test("statements outside the string's BEGIN … COMMIT, beside transaction control: refused, nothing runs", async () => {
      // PostgreSQL: the ROLLBACK undoes the INSERT; the failing INSERT undoes the one after COMMIT;
      // SAVEPOINT outside a block fails and undoes both INSERTs. Each would have kept rows here.
      for (const sql of [
        "INSERT INTO items VALUES (201, now(), 'x'); ROLLBACK",
        "BEGIN; INSERT INTO items VALUES (202, now(), 'x'); COMMIT; INSERT INTO items VALUES (203, now(), 'x'); INSERT INTO items VALUES (202, now(), 'x')",
        "INSERT INTO items VALUES (204, now(), 'x'); INSERT INTO notes VALUES (204); SAVEPOINT a",
        "INSERT INTO notes VALUES (205); BEGIN; INSERT INTO items VALUES (205, now(), 'x'); ROLLBACK",
      ]) {
        await assert.rejects(c.query(sql), (e: { code?: string; message: string }) => {
          assert.equal(e.code, "0A000", e.message);
          assert.match(e.message, /only inside its BEGIN … COMMIT/);
          return true;
        });
      }
      assert.equal(await count("SELECT count(*) AS n FROM items WHERE k > 200"), 0);
      assert.equal(await count("SELECT count(*) AS n FROM notes WHERE n > 200"), 0);
      // The session is out of any block, and a string whose statements are all inside its block
      // runs, a plain read after it too.
      await c.query(
        "COMMIT; BEGIN; INSERT INTO items VALUES (206, now(), 'x'); INSERT INTO notes VALUES (206); COMMIT; SELECT count(*) FROM items",
      );
      assert.equal(await count("SELECT count(*) AS n FROM items WHERE k = 206"), 1);
      assert.equal(await count("SELECT count(*) AS n FROM notes WHERE n = 206"), 1);
    });
  });
}
