// DDL in one session and statements in another: once the ALTER has returned, other sessions see
// the table's new shape — in the column list an INSERT routes by, in the rows of a router SELECT
// whose worker statement was prepared before, and in the metadata after a rename.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { clusterKinds, startCluster, type TestCluster } from "../support/cluster.js";

for (const kind of clusterKinds()) {
  describe(`DDL seen by other sessions (${kind})`, () => {
    let cluster: TestCluster;
    let ddl: pg.Client;
    let other: pg.Client;

    before(async () => {
      cluster = await startCluster(kind);
      ddl = new pg.Client({ connectionString: cluster.url });
      other = new pg.Client({ connectionString: cluster.url });
      await ddl.connect();
      await other.connect();
      await ddl.query("CREATE TABLE shapes (a int, k int, b int)");
      await ddl.query("SELECT create_distributed_table('shapes', 'k', shard_count => 4)");
    });

    after(async () => {
      await ddl?.end();
      await other?.end();
      await cluster?.stop();
    });

    test("an INSERT without a column list routes by the distribution column's new position", async () => {
      await other.query("INSERT INTO shapes VALUES (1, 10, 100)");
      await ddl.query("ALTER TABLE shapes DROP COLUMN a");
      await other.query("INSERT INTO shapes VALUES (20, 200)");
      const r = await other.query({ text: "SELECT b FROM shapes WHERE k = $1", values: [20], rowMode: "array" });
      assert.deepEqual(r.rows, [[200]]);
    });

    test("a router SELECT prepared on the workers before an ADD COLUMN returns the new column", async () => {
      const select = { text: "SELECT * FROM shapes WHERE k = $1", values: [10] };
      for (let i = 0; i < 2; i++) assert.deepEqual((await other.query(select)).rows, [{ k: 10, b: 100 }]);
      await ddl.query("ALTER TABLE shapes ADD COLUMN c text DEFAULT 'new'");
      assert.deepEqual((await other.query(select)).rows, [{ k: 10, b: 100, c: "new" }]);
    });

    test("a renamed table and distribution column are found under their new names", async () => {
      await ddl.query("ALTER TABLE shapes RENAME TO forms");
      await ddl.query("ALTER TABLE forms RENAME COLUMN k TO key");
      await other.query("INSERT INTO forms (key, b) VALUES (30, 300)");
      const r = await other.query({ text: "SELECT b, c FROM forms WHERE key = $1", values: [30], rowMode: "array" });
      assert.deepEqual(r.rows, [[300, "new"]]);
      const count = await other.query("SELECT count(*)::int AS n FROM forms");
      assert.equal(count.rows[0].n, 3);
    });
  });
}
