// A worker added while other sessions write a reference table: canopy_add_node copies the table
// to the new worker under a lock on the placement it copies from, so a write that came first is in
// the copy, and a write that waited for the copy (planned without the new placement) is refused
// with 40001 rather than missing it. Every placement ends with the same rows. A local cluster: the
// embedded one runs one session's transaction at a time.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { startLocalCluster, type TestCluster } from "../support/cluster.js";
import { until } from "../support/wait.js";

async function connect(url: string): Promise<pg.Client> {
  const c = new pg.Client(url);
  c.on("error", () => {});
  await c.connect();
  return c;
}

describe("reference tables copied to an added worker while they are written (local cluster)", () => {
  let cluster: TestCluster;
  let admin: pg.Client;
  let workers: pg.Client[];
  let shard: string;
  const removedPort = () => cluster.workerPorts[1];

  before(async () => {
    cluster = await startLocalCluster(2);
    admin = await connect(cluster.url);
    workers = await Promise.all(cluster.workerPorts.map((p) => connect(`postgres://postgres@127.0.0.1:${p}/postgres`)));
    await admin.query("CREATE TABLE kinds (id int PRIMARY KEY, label text)");
    await admin.query("INSERT INTO kinds SELECT g, 'k' || g FROM generate_series(1, 5) g");
    await admin.query("SELECT create_reference_table('kinds')");
    const r = await admin.query("SELECT shardid FROM pg_dist_shard WHERE logicalrelid = 'kinds'::regclass");
    shard = `kinds_${r.rows[0].shardid}`;
  });

  after(async () => {
    await admin?.end();
    for (const w of workers ?? []) await w.end();
    await cluster?.stop();
  });

  /** The ids in each worker's placement (null where it has none). */
  async function placementIds(): Promise<(number[] | null)[]> {
    return Promise.all(
      workers.map(async (w) => {
        const exists = await w.query("SELECT to_regclass($1) IS NOT NULL AS e", [shard]);
        if (!exists.rows[0].e) return null;
        return (await w.query(`SELECT id FROM ${shard} ORDER BY id`)).rows.map((row) => row.id as number);
      }),
    );
  }

  /** Waits until a statement containing `text` waits for a lock on the first worker. */
  function waitingOnFirstWorker(text: string): Promise<true> {
    return until(
      async () => {
        const r = await workers[0].query(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND strpos(query, $1) > 0",
          [text],
        );
        return r.rows[0].n > 0 ? true : undefined;
      },
      30_000,
      `a statement containing ${text} waiting for a lock`,
    );
  }

  async function removeSecondWorker(): Promise<void> {
    await admin.query("SELECT canopy_remove_node('localhost', $1)", [removedPort()]);
  }

  test("a write that waited for the copy is refused with 40001; the placements stay equal", async () => {
    await removeSecondWorker();
    const adder = await connect(cluster.url);
    const writer = await connect(cluster.url);
    try {
      await adder.query("BEGIN");
      await adder.query("SELECT canopy_add_node('localhost', $1)", [removedPort()]);
      const write = writer.query("INSERT INTO kinds VALUES (100, 'late')").then(
        () => null,
        (e: pg.DatabaseError) => e,
      );
      await waitingOnFirstWorker("INSERT INTO");
      await adder.query("COMMIT");
      const error = await write;
      assert.equal(error?.code, "40001");
      assert.match(error!.message, /concurrent copy of a reference table/);
      const expected = [1, 2, 3, 4, 5];
      assert.deepEqual(await placementIds(), [expected, expected]);
      // Run again, the write reaches both placements.
      await writer.query("INSERT INTO kinds VALUES (100, 'late')");
      assert.deepEqual(await placementIds(), [
        [...expected, 100],
        [...expected, 100],
      ]);
    } finally {
      await adder.end();
      await writer.end();
    }
  });

  test("a write committed before the copy took its lock is in the copy", async () => {
    await removeSecondWorker();
    const adder = await connect(cluster.url);
    const writer = await connect(cluster.url);
    try {
      await writer.query("BEGIN");
      await writer.query("INSERT INTO kinds VALUES (200, 'early')");
      const add = adder.query("SELECT canopy_add_node('localhost', $1)", [removedPort()]);
      await waitingOnFirstWorker("LOCK TABLE");
      await writer.query("COMMIT");
      await add;
      const expected = [1, 2, 3, 4, 5, 100, 200];
      assert.deepEqual(await placementIds(), [expected, expected]);
      const join = await admin.query(
        "SELECT count(*)::int AS n FROM kinds k JOIN kinds l USING (id) WHERE k.label = l.label",
      );
      assert.equal(join.rows[0].n, expected.length);
    } finally {
      await adder.end();
      await writer.end();
    }
  });
});
