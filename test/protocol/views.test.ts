// Views over distributed tables and their DDL seen by another session: a view created before the
// table was distributed reads the shards; CREATE, CREATE OR REPLACE, RENAME and DROP VIEW in one
// session reload the metadata of the others; a view created in a transaction block is expanded
// later in that block; a prepared statement over a view follows its replacement; a view or derived
// table read by its distribution column reaches one shard (the equality is pushed into it).
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { clusterKinds, startCluster, type TestCluster } from "../support/cluster.js";

for (const kind of clusterKinds()) {
  describe(`views over distributed tables (${kind})`, () => {
    let cluster: TestCluster;
    let ddl: pg.Client;
    let other: pg.Client;
    const count = async (client: pg.Client, sql: string) => Number((await client.query(sql)).rows[0].count);

    before(async () => {
      cluster = await startCluster(kind);
      ddl = new pg.Client({ connectionString: cluster.url });
      other = new pg.Client({ connectionString: cluster.url });
      await ddl.connect();
      await other.connect();
      await ddl.query("CREATE TABLE vitems (id int PRIMARY KEY, v int NOT NULL)");
      await ddl.query("INSERT INTO vitems SELECT g, g FROM generate_series(1, 20) g");
      await ddl.query("CREATE VIEW vbefore AS SELECT * FROM vitems WHERE v > 5");
      await ddl.query("SELECT create_distributed_table('vitems', 'id', shard_count => 4)");
    });

    after(async () => {
      await ddl?.end();
      await other?.end();
      await cluster?.stop();
    });

    test("a view created before distribution reads the shards, and refuses writes", async () => {
      assert.equal(await count(other, "SELECT count(*) FROM vbefore"), 15);
      await assert.rejects(other.query("INSERT INTO vbefore VALUES (100, 100)"), { code: "0A000" });
      assert.equal(await count(other, "SELECT count(*) FROM vitems"), 20);
    });

    test("CREATE, REPLACE, RENAME and DROP VIEW are seen by another session", async () => {
      await ddl.query("CREATE VIEW vlater AS SELECT * FROM vitems WHERE id <= 4");
      assert.equal(await count(other, "SELECT count(*) FROM vlater"), 4);
      const prepared = { name: "vlater_count", text: "SELECT count(*) FROM vlater WHERE id > $1", values: [0] };
      assert.equal(Number((await other.query(prepared)).rows[0].count), 4);
      await ddl.query("CREATE OR REPLACE VIEW vlater AS SELECT * FROM vitems WHERE id <= 7");
      assert.equal(await count(other, "SELECT count(*) FROM vlater"), 7);
      assert.equal(Number((await other.query(prepared)).rows[0].count), 7);
      await ddl.query("ALTER VIEW vlater RENAME TO vrenamed");
      assert.equal(await count(other, "SELECT count(*) FROM vrenamed"), 7);
      await ddl.query("DROP VIEW vrenamed");
      await assert.rejects(other.query("SELECT count(*) FROM vrenamed"), { code: "42P01" });
    });

    test("a view or derived table read by its distribution column reaches one shard", async () => {
      const plan = async (sql: string) =>
        (await other.query(`EXPLAIN (COSTS OFF) ${sql}`)).rows.map((r) => r["QUERY PLAN"]).join("\n");
      await ddl.query("CREATE VIEW vkeyed AS SELECT id, v FROM vitems WHERE v > 2");
      await ddl.query("CREATE VIEW vover AS SELECT * FROM vkeyed");
      await ddl.query("CREATE VIEW vfirst AS SELECT * FROM vitems ORDER BY id LIMIT 3");
      for (const sql of [
        "SELECT * FROM vkeyed WHERE id = 7",
        "SELECT * FROM vkeyed k(i, w) WHERE i = 7",
        "SELECT * FROM vover WHERE id IN (7)",
        "SELECT * FROM (SELECT id, count(*) FROM vitems GROUP BY id) s WHERE s.id = 7",
      ]) {
        assert.match(await plan(sql), /Task Count: 1\n/, sql);
      }
      // LIMIT first: the equality stays outside, and the view's rows come from every shard.
      assert.doesNotMatch(await plan("SELECT * FROM vfirst WHERE id = 7"), /Task Count: 1\n/);
      assert.equal(await count(other, "SELECT count(*) FROM vfirst WHERE id = 7"), 0);
      // A prepared read: its router plan is built once and meets each value at Bind.
      await other.query("SELECT canopy_stat_statements_reset()");
      const read = { name: "vkeyed_read", text: "SELECT v FROM vkeyed WHERE id = $1" };
      for (const id of [7, 13, 7]) assert.deepEqual((await other.query({ ...read, values: [id] })).rows, [{ v: id }]);
      const stats = await other.query(
        "SELECT partition_key, calls::int FROM canopy_stat_statements WHERE query LIKE '%vkeyed%' ORDER BY 1",
      );
      assert.deepEqual(stats.rows, [
        { partition_key: "13", calls: 1 },
        { partition_key: "7", calls: 2 },
      ]);
    });

    test("a view created in a transaction block is read in that block", async () => {
      await ddl.query("BEGIN");
      await ddl.query("CREATE VIEW vblock AS SELECT * FROM vitems WHERE id <= 3");
      assert.equal(await count(ddl, "SELECT count(*) FROM vblock"), 3);
      await ddl.query("ROLLBACK");
      await assert.rejects(other.query("SELECT count(*) FROM vblock"), { code: "42P01" });
    });
  });
}
