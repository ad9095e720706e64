// CREATE FUNCTION of an IMMUTABLE function in SQL or PL/pgSQL whose body names no relation and
// runs no dynamic SQL creates it on the workers too (recorded in pg_dist_object, like the
// functions shards depend on), so a statement over distributed tables calling it runs on the
// shards instead of bringing every row to the coordinator. Other functions (STABLE, reading a
// table, calling a function the workers lack, or created by a role that may not record objects
// for the workers) stay the coordinator database's and are answered there. Answers are compared with
// PostgreSQL's in the differential tests (28_functions.sql).
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { clusterKinds } from "../support/cluster.js";
import { clientSuite } from "../support/client.js";

for (const kind of clusterKinds()) {
  describe(`user functions on the shards (${kind})`, () => {
    const suite = clientSuite(kind, [
      "CREATE TABLE readings (device int, id int, label text, PRIMARY KEY (device, id))",
      "SELECT create_distributed_table('readings', 'device', shard_count => 4)",
      "INSERT INTO readings SELECT d, i, 'Label ' || i FROM generate_series(1, 4) d, generate_series(1, 100) i",
      "CREATE TABLE ranges_local (lo int, hi int)",
      "INSERT INTO ranges_local VALUES (1, 10)",
      "CREATE FUNCTION bucket(i int) RETURNS int IMMUTABLE LANGUAGE sql AS $$ SELECT i % 10 $$",
      `CREATE FUNCTION slug(t text) RETURNS text IMMUTABLE LANGUAGE plpgsql
         AS $$ BEGIN RETURN lower(replace(t, ' ', '-')); END $$`,
      "CREATE FUNCTION shifted(i int) RETURNS int STABLE LANGUAGE sql AS $$ SELECT i + 1 $$",
      // IMMUTABLE, but calling a function the workers lack.
      "CREATE FUNCTION via_shifted(i int) RETURNS int IMMUTABLE LANGUAGE sql AS $$ SELECT shifted(i) * 2 $$",
      `CREATE FUNCTION in_range(i int) RETURNS boolean IMMUTABLE LANGUAGE sql
         AS $$ SELECT EXISTS (SELECT 1 FROM ranges_local WHERE i BETWEEN lo AND hi) $$`,
    ]);

    async function plan(sql: string): Promise<string> {
      const rows = (await suite.c.query(`EXPLAIN (VERBOSE, COSTS OFF) ${sql}`)).rows;
      return rows.map((r) => r["QUERY PLAN"] as string).join("\n");
    }

    test("IMMUTABLE functions without relations are created on the workers; others are not", async () => {
      const recorded = await suite.c.query(
        `SELECT p.proname FROM pg_dist_object o JOIN pg_proc p ON p.oid = o.objid
          WHERE o.classid = 'pg_proc'::regclass ORDER BY 1`,
      );
      assert.deepEqual(
        recorded.rows.map((r) => r.proname),
        ["bucket", "slug"],
      );
    });

    test("a statement calling them runs on the shards, with PostgreSQL's answers", async () => {
      for (const [where, count] of [
        ["bucket(id) = 3", "40"],
        ["slug(label) = 'label-7'", "4"],
      ]) {
        const sql = `SELECT count(*) FROM readings WHERE ${where}`;
        const shown = await plan(sql);
        assert.match(shown, /Filter: /, shown);
        assert.match(shown, /Output: count\(\*\)/, shown);
        assert.equal((await suite.c.query(sql)).rows[0].count, count, where);
      }
      const grouped = await suite.c.query(
        "SELECT bucket(id) AS b, count(*)::int AS n FROM readings GROUP BY 1 ORDER BY 1 LIMIT 2",
      );
      assert.deepEqual(grouped.rows, [
        { b: 0, n: 40 },
        { b: 1, n: 40 },
      ]);
      // Not on the workers: answered by the coordinator database, rightly.
      assert.equal((await suite.c.query("SELECT count(*) FROM readings WHERE shifted(id) = 3")).rows[0].count, "4");
      assert.equal((await suite.c.query("SELECT count(*) FROM readings WHERE in_range(id)")).rows[0].count, "40");
      assert.equal((await suite.c.query("SELECT count(*) FROM readings WHERE via_shifted(id) = 4")).rows[0].count, "4");
    });

    test("a role that may not record objects for the workers creates its functions for the coordinator", async () => {
      await suite.c.query("CREATE ROLE fn_author");
      await suite.c.query("GRANT CREATE ON SCHEMA public TO fn_author");
      await suite.c.query("GRANT SELECT ON readings TO fn_author");
      await suite.c.query("SET ROLE fn_author");
      try {
        await suite.c.query("CREATE FUNCTION doubled(i int) RETURNS int IMMUTABLE LANGUAGE sql AS $$ SELECT i * 2 $$");
        assert.equal((await suite.c.query("SELECT count(*) FROM readings WHERE doubled(id) = 8")).rows[0].count, "4");
      } finally {
        await suite.c.query("RESET ROLE");
      }
      const recorded = await suite.c.query(
        "SELECT count(*)::int AS n FROM pg_dist_object WHERE objid = 'doubled(int)'::regprocedure",
      );
      assert.equal(recorded.rows[0].n, 0);
    });

    test("CREATE OR REPLACE and DROP FUNCTION reach the workers' copies", async () => {
      await suite.c.query(
        "CREATE OR REPLACE FUNCTION bucket(i int) RETURNS int IMMUTABLE LANGUAGE sql AS $$ SELECT i % 5 $$",
      );
      assert.equal((await suite.c.query("SELECT count(*) FROM readings WHERE bucket(id) = 3")).rows[0].count, "80");
      await suite.c.query("DROP FUNCTION bucket(int)");
      const left = await suite.c.query(
        "SELECT result FROM run_command_on_workers($$SELECT count(*) FROM pg_proc WHERE proname = 'bucket'$$)",
      );
      assert.ok(left.rows.length > 0);
      assert.deepEqual(new Set(left.rows.map((r) => r.result)), new Set(["0"]));
    });
  });
}
