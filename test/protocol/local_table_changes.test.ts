// A statement joining a distributed table with a table of the coordinator database (a local table)
// reads the local table's columns as they are at each execution: an ALTER TABLE of the local table
// changes no metadata of Canopy's, so nothing kept by metadata version may stand for them. Before,
// a statement run again after `ALTER TABLE loc ADD COLUMN` answered with the old columns, or with
// a RowDescription of the new ones and rows of the old (the client failed on the rows).
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { clusterKinds } from "../support/cluster.js";
import { clientSuite } from "../support/client.js";

for (const kind of clusterKinds()) {
  describe(`a local table changed under statements that join it (${kind})`, () => {
    const suite = clientSuite(kind, [
      "CREATE TABLE items (id int PRIMARY KEY, v int)",
      "SELECT create_distributed_table('items', 'id')",
      "CREATE TABLE notes (id int, w int)",
      "INSERT INTO items VALUES (1, 1), (2, 2), (3, 3)",
      "INSERT INTO notes VALUES (1, 10), (2, 20), (3, 30)",
    ]);

    test("a simple-protocol statement run again answers with the columns the table has now", async () => {
      const join = "SELECT * FROM items JOIN notes USING (id) WHERE items.id = 2";
      const before = await suite.c.query(join);
      assert.deepEqual(before.rows, [{ id: 2, v: 2, w: 20 }]);
      await suite.c.query(join);
      await suite.c.query("ALTER TABLE notes ADD COLUMN z int DEFAULT 7");
      assert.deepEqual((await suite.c.query(join)).rows, [{ id: 2, v: 2, w: 20, z: 7 }]);
      // Another text over the same tables.
      const other = await suite.c.query("SELECT * FROM items JOIN notes USING (id) WHERE items.id = 3");
      assert.deepEqual(other.rows, [{ id: 3, v: 3, w: 30, z: 7 }]);
      await suite.c.query("ALTER TABLE notes DROP COLUMN z");
      assert.deepEqual((await suite.c.query(join)).rows, [{ id: 2, v: 2, w: 20 }]);
    });

    test("a prepared statement whose result columns changed fails as PostgreSQL's does", async () => {
      const prepared = { name: "joined", text: "SELECT * FROM items JOIN notes USING (id) WHERE items.id = $1" };
      assert.deepEqual((await suite.c.query({ ...prepared, values: [1] })).rows, [{ id: 1, v: 1, w: 10 }]);
      assert.deepEqual((await suite.c.query({ ...prepared, values: [1] })).rows, [{ id: 1, v: 1, w: 10 }]);
      await suite.c.query("ALTER TABLE notes ADD COLUMN y text DEFAULT 'y'");
      await assert.rejects(suite.c.query({ ...prepared, values: [1] }), (e: pg.DatabaseError) => {
        assert.equal(e.code, "0A000");
        assert.equal(e.message, "cached plan must not change result type");
        return true;
      });
      // Prepared again under another name, it answers with the new columns.
      const again = await suite.c.query({ ...prepared, name: "joined again", values: [1] });
      assert.deepEqual(again.rows, [{ id: 1, v: 1, w: 10, y: "y" }]);
    });
  });
}
