// Calls whose value is the transaction's, the session's or the coordinator's (now(), CURRENT_USER,
// current_setting() of a setting the workers do not follow, current_database(), txid_current(),
// has_table_privilege(), …, with constant arguments) are evaluated once per statement by the
// coordinator database and given to every shard as parameters: a filter on them runs on the shards
// instead of every row travelling to the coordinator, modifications may use them, and each
// execution of a prepared statement gets the values of its own transaction. Their answers are
// compared with PostgreSQL's in the differential tests (27_coordinator_values.sql).
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { clusterKinds } from "../support/cluster.js";
import { clientSuite } from "../support/client.js";

for (const kind of clusterKinds()) {
  describe(`values the coordinator gives the shards (${kind})`, () => {
    const suite = clientSuite(kind, [
      "CREATE TABLE hits (site int, id int, at timestamptz, who text, PRIMARY KEY (site, id))",
      "SELECT create_distributed_table('hits', 'site', shard_count => 4)",
      `INSERT INTO hits SELECT s, i, timestamptz '2021-01-01' + i * interval '1 day', 'nobody'
         FROM generate_series(1, 4) s, generate_series(1, 50) i`,
    ]);

    /** The worker plans EXPLAIN VERBOSE shows for a statement, as one text. */
    async function plan(sql: string): Promise<string> {
      const rows = (await suite.c.query(`EXPLAIN (VERBOSE, COSTS OFF) ${sql}`)).rows;
      return rows.map((r) => r["QUERY PLAN"] as string).join("\n");
    }

    test("a filter on now(), CURRENT_USER or a setting of the coordinator's runs on the shards", async () => {
      for (const where of [
        "at < now() - interval '1 day'",
        "at < CURRENT_TIMESTAMP AND who <> CURRENT_USER",
        "who <> current_setting('application_name') AND current_database() IS NOT NULL",
      ]) {
        const sql = `SELECT count(*) FROM hits WHERE ${where}`;
        const shown = await plan(sql);
        // The shards filter and count; before, each sent all its rows for the coordinator to do so.
        assert.match(shown, /Filter: /, shown);
        assert.match(shown, /Output: count\(\*\)/, shown);
        assert.equal((await suite.c.query(sql)).rows[0].count, "200", where);
      }
    });

    test("each execution of a prepared statement gets its own transaction's now(), to the microsecond", async () => {
      const counted = { name: "hits_now", text: "SELECT count(*)::int AS n FROM hits WHERE at = now() AND site <> $1" };
      // A zone whose abbreviation other zones share, printed by a DateStyle that names it.
      await suite.c.query("SET TimeZone = 'Asia/Kolkata'");
      await suite.c.query("SET DateStyle = 'Postgres, DMY'");
      for (const round of [1, 2]) {
        await suite.c.query("BEGIN");
        await suite.c.query(`INSERT INTO hits SELECT s, 100 + ${round}, now(), 'x' FROM generate_series(1, 4) s`);
        assert.equal((await suite.c.query({ ...counted, values: [0] })).rows[0].n, 4, `${round}`);
        assert.equal((await suite.c.query({ ...counted, values: [1] })).rows[0].n, 3, `${round}`);
        await suite.c.query("COMMIT");
        // A later transaction's now() is another instant.
        assert.equal((await suite.c.query({ ...counted, values: [0] })).rows[0].n, 0);
      }
      await suite.c.query("RESET TimeZone");
      await suite.c.query("RESET DateStyle");
      await suite.c.query("DELETE FROM hits WHERE id > 100");
    });

    test("modifications write the coordinator's values, on one shard or several", async () => {
      await suite.c.query("SET application_name = 'values-test'");
      await suite.c.query("UPDATE hits SET who = current_setting('application_name') WHERE site = 2 AND id = 1");
      await suite.c.query("UPDATE hits SET who = current_database() || '/' || current_user WHERE id = 2");
      await suite.c.query("BEGIN");
      await suite.c.query("UPDATE hits SET who = txid_current()::text WHERE id = 3");
      const xid = (await suite.c.query("SELECT txid_current()::text AS x")).rows[0].x;
      await suite.c.query("COMMIT");
      const { rows } = await suite.c.query("SELECT site, id, who FROM hits WHERE id <= 3 ORDER BY id, site");
      const expected = (await suite.c.query("SELECT current_database() || '/' || current_user AS v")).rows[0].v;
      assert.deepEqual(
        rows.map((r) => `${r.site}:${r.id}:${r.who}`),
        [
          "1:1:nobody",
          "2:1:values-test",
          "3:1:nobody",
          "4:1:nobody",
          ...[1, 2, 3, 4].map((s) => `${s}:2:${expected}`),
          ...[1, 2, 3, 4].map((s) => `${s}:3:${xid}`),
        ],
      );
      await suite.c.query("RESET application_name");
    });

    test("a value the coordinator database cannot give fails the statement as PostgreSQL does", async () => {
      await assert.rejects(suite.c.query("SELECT count(*) FROM hits WHERE current_setting('nosuch') = 'x'"), {
        code: "42704",
      });
      await assert.rejects(suite.c.query("UPDATE hits SET who = current_setting('nosuch') WHERE site = 1"), {
        code: "42704",
      });
      assert.equal((await suite.c.query("SELECT count(*) FROM hits WHERE who = current_user")).rows[0].count, "0");
    });
  });
}
