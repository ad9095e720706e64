// canopy_stat_activity and canopy_stat_statements seen from other sessions with node-postgres:
// a session holding a worker connection inside a block, as another session sees it; prepared
// router statements counted per distribution value; the least recently called entries evicted
// beyond canopy.stat_statements_max.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { clusterKinds, startEmbeddedCluster, startLocalCluster, type TestCluster } from "../support/cluster.js";

async function connect(cluster: TestCluster, applicationName: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: cluster.url, application_name: applicationName });
  await client.connect();
  return client;
}

async function createTable(client: pg.Client): Promise<void> {
  await client.query("CREATE TABLE kv (k int PRIMARY KEY, v text)");
  await client.query("INSERT INTO kv SELECT g, 'v' || g FROM generate_series(1, 10) g");
  await client.query("SELECT create_distributed_table('kv', 'k')");
}

// Only a cluster of real servers: an embedded cluster's one backend is held by a session in a block.
if (clusterKinds().includes("local")) {
  describe("canopy_stat_activity (local)", () => {
    let cluster: TestCluster;
    let holder: pg.Client;
    let observer: pg.Client;

    before(async () => {
      cluster = await startLocalCluster();
      observer = await connect(cluster, "observer");
      await createTable(observer);
      holder = await connect(cluster, "holder");
    });

    after(async () => {
      await holder?.end().catch(() => {});
      await observer?.end().catch(() => {});
      await cluster?.stop();
    });

    const activityOf = async (applicationName: string) =>
      (
        await observer.query(
          `SELECT pid, usename, datname, state, query, xact_start IS NOT NULL AS in_transaction,
                  query_start IS NOT NULL AS started, backend_start <= now() AS connected,
                  client_addr, client_port > 0 AS has_port,
                  nodename, nodeport, worker_pid, worker_state, worker_query
             FROM canopy_stat_activity WHERE application_name = $1 ORDER BY nodeport`,
          [applicationName],
        )
      ).rows;

    test("a session in a block shows the worker connection serving it", async () => {
      await holder.query("BEGIN");
      await holder.query("SELECT v FROM kv WHERE k = 1");
      const [shard] = (
        await observer.query(
          "SELECT nodeport FROM canopy_shards WHERE shardid = get_shard_id_for_distribution_column('kv', 1)",
        )
      ).rows;
      const rows = await activityOf("holder");
      assert.equal(rows.length, 1, JSON.stringify(rows));
      const row = rows[0];
      assert.equal(row.pid, (holder as unknown as { processID: number }).processID);
      assert.equal(row.usename, "postgres");
      assert.equal(row.datname, "postgres");
      assert.equal(row.state, "idle in transaction");
      assert.equal(row.query, "SELECT v FROM kv WHERE k = 1");
      assert.deepEqual([row.in_transaction, row.started, row.connected], [true, true, true]);
      assert.equal(row.client_addr, "127.0.0.1");
      assert.equal(row.has_port, true);
      assert.equal(row.nodename, "localhost");
      assert.equal(row.nodeport, shard.nodeport);
      assert.equal(row.worker_state, "idle in transaction");
      assert.match(row.worker_query, /FROM public\.kv_\d+ AS kv/);
      // The worker's own view of that backend agrees.
      const worker = await observer.query(
        "SELECT nodeport, result FROM run_command_on_workers($1) WHERE success ORDER BY nodeport",
        [`SELECT coalesce((SELECT state FROM pg_stat_activity WHERE pid = ${Number(row.worker_pid)}), 'none')`],
      );
      assert.deepEqual(
        worker.rows.map((r) => [r.nodeport, r.result]),
        cluster.workerPorts.map((p) => [p, p === shard.nodeport ? "idle in transaction" : "none"]),
      );
    });

    test("the session reading the view is active; after COMMIT the holder is idle", async () => {
      const [self] = await activityOf("observer");
      assert.equal(self.state, "active");
      assert.match(self.query, /canopy_stat_activity/);
      await holder.query("COMMIT");
      const rows = await activityOf("holder");
      assert.equal(rows.length, 1);
      assert.deepEqual([rows[0].state, rows[0].query, rows[0].in_transaction], ["idle", "COMMIT", false]);
      assert.equal(rows[0].worker_state, "idle");
    });

    test("a session that has not reached a worker has one row with NULL worker columns", async () => {
      const fresh = await connect(cluster, "fresh");
      try {
        await fresh.query("SELECT 1");
        const rows = await activityOf("fresh");
        assert.equal(rows.length, 1);
        assert.deepEqual(
          [rows[0].state, rows[0].query, rows[0].nodename, rows[0].worker_pid, rows[0].worker_state],
          ["idle", "SELECT 1", null, null, null],
        );
      } finally {
        await fresh.end();
      }
    });
  });
}

for (const kind of clusterKinds()) {
  describe(`canopy_stat_statements over the extended protocol (${kind})`, () => {
    let cluster: TestCluster;
    let client: pg.Client;

    before(async () => {
      // A small maximum on the embedded cluster, to see eviction.
      cluster =
        kind === "local"
          ? await startLocalCluster()
          : await startEmbeddedCluster(2, { "canopy.stat_statements_max": "3" });
      client = await connect(cluster, "stats");
      await createTable(client);
    });

    after(async () => {
      await client?.end().catch(() => {});
      await cluster?.stop();
    });

    const entries = async () =>
      (
        await client.query(
          "SELECT query, executor, partition_key, calls::int FROM canopy_stat_statements ORDER BY query, partition_key",
        )
      ).rows.map((r) => `${r.query} | ${r.executor} | ${r.partition_key} | ${r.calls}`);

    test("a prepared router statement is one entry per distribution value", async () => {
      await client.query("SELECT canopy_stat_statements_reset()");
      for (const k of [1, 2, 1, 1]) {
        const r = await client.query({ name: "get", text: "SELECT v FROM kv WHERE k = $1", values: [k] });
        assert.deepEqual(r.rows, [{ v: `v${k}` }]);
      }
      assert.deepEqual(await entries(), [
        "SELECT v FROM kv WHERE k = $1 | adaptive | 1 | 3",
        "SELECT v FROM kv WHERE k = $1 | adaptive | 2 | 1",
      ]);
    });

    if (kind === "embedded") {
      test("beyond canopy.stat_statements_max the least recently called entries go", async () => {
        await client.query("SELECT canopy_stat_statements_reset()");
        const get = (k: number) => client.query({ name: "get", text: "SELECT v FROM kv WHERE k = $1", values: [k] });
        await client.query("SELECT count(*) FROM kv");
        await get(1);
        await get(2);
        await get(1);
        await get(3); // the count(*) was called least recently
        assert.deepEqual(await entries(), [
          "SELECT v FROM kv WHERE k = $1 | adaptive | 1 | 2",
          "SELECT v FROM kv WHERE k = $1 | adaptive | 2 | 1",
          "SELECT v FROM kv WHERE k = $1 | adaptive | 3 | 1",
        ]);
        await get(4); // then k = 2
        assert.deepEqual(await entries(), [
          "SELECT v FROM kv WHERE k = $1 | adaptive | 1 | 2",
          "SELECT v FROM kv WHERE k = $1 | adaptive | 3 | 1",
          "SELECT v FROM kv WHERE k = $1 | adaptive | 4 | 1",
        ]);
      });
    }
  });
}
