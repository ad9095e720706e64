// A coordinator database whose metadata is older than the shells' write guard (version 3): when
// the coordinator starts on it, every existing shell gets the canopy_shell_guard trigger, so that
// writes from inside the coordinator database are refused from then on. A local cluster, whose
// coordinator restarts on the same database (test/regress/sql/within_coordinator.sql covers the rest).
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import type pg from "pg";
import { startLocalCluster, type TestCluster } from "../support/cluster.js";
import { connect, withClient } from "../support/client.js";
import { METADATA_SCHEMA_VERSION } from "../../src/metadata/schema.js";

describe("metadata upgrade adds the shell guard (local cluster)", () => {
  let cluster: TestCluster;
  let direct: pg.Client;

  /** The shells that have the guard, as the coordinator database's catalog says. */
  async function guarded(): Promise<string[]> {
    const r = await direct.query(
      `SELECT tgrelid::regclass::text AS t FROM pg_trigger WHERE tgname = 'canopy_shell_guard' ORDER BY 1`,
    );
    return r.rows.map((row: { t: string }) => row.t);
  }

  before(
    async () => {
      cluster = await startLocalCluster(2);
      await withClient(cluster.url, async (client) => {
        await client.query("CREATE TABLE up_items (id int PRIMARY KEY, v int)");
        await client.query("INSERT INTO up_items SELECT g, g FROM generate_series(1, 10) g");
        await client.query("SELECT create_distributed_table('up_items', 'id', shard_count => 4)");
        await client.query("CREATE TABLE up_kinds (id int PRIMARY KEY)");
        await client.query("SELECT create_reference_table('up_kinds')");
      });
      direct = await connect(`postgres://postgres@127.0.0.1:${cluster.coordinatorDbPort}/postgres`);
    },
    { timeout: 180_000 },
  );

  after(async () => {
    await direct?.end().catch(() => {});
    await cluster?.stop();
  });

  test("a version 3 database gets the trigger on its shells at start", { timeout: 180_000 }, async () => {
    assert.deepEqual(await guarded(), ["up_items", "up_kinds"], "new shells are guarded");
    // As a coordinator database of version 3 was: no guard on the shells.
    await direct.query("DROP TRIGGER canopy_shell_guard ON up_items");
    await direct.query("DROP TRIGGER canopy_shell_guard ON up_kinds");
    await direct.query("UPDATE pg_dist_metadata_version SET version = 3");
    assert.deepEqual(await guarded(), []);

    await cluster.restartCoordinator!();
    assert.deepEqual(await guarded(), ["up_items", "up_kinds"]);
    const version = await direct.query("SELECT version FROM pg_dist_metadata_version");
    assert.deepEqual(version.rows, [{ version: METADATA_SCHEMA_VERSION }]);

    await withClient(cluster.url, async (client) => {
      await assert.rejects(client.query("DO $$ BEGIN EXECUTE 'INSERT INTO up_items VALUES (100, 1)'; END $$"), {
        code: "0A000",
        message: 'cannot modify distributed table "up_items" inside the coordinator database',
      });
      const counts = await client.query("SELECT (SELECT count(*) FROM up_items)::int AS n");
      assert.equal(counts.rows[0].n, 10);
      const shell = await direct.query("SELECT count(*)::int AS n FROM ONLY up_items");
      assert.equal(shell.rows[0].n, 0, "the shell stays empty");
    });
  });

  test("at the current version, a restart leaves the triggers as they are", { timeout: 180_000 }, async () => {
    await direct.query("DROP TRIGGER canopy_shell_guard ON up_kinds");
    await cluster.restartCoordinator!();
    assert.deepEqual(await guarded(), ["up_items"]);
  });
});
