// Sizes with a worker down: reading where shards are (canopy_shards without its size column)
// asks no worker and still answers; sizes fail with an error naming the unreachable node, never
// a made-up 0; once the worker is back, sizes work again.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startLocalCluster, type TestCluster } from "../support/cluster.js";
import { withClient } from "../support/client.js";
import { startServer, stopServer } from "../../src/nodes/pgserver.js";

describe("table sizes with a worker down (local cluster)", () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await startLocalCluster(2);
    await withClient(cluster.url, async (c) => {
      await c.query("CREATE TABLE sized (id int PRIMARY KEY, v text)");
      await c.query("SELECT create_distributed_table('sized', 'id', shard_count => 4)");
      await c.query("INSERT INTO sized SELECT g, repeat('x', 100) FROM generate_series(1, 100) g");
    });
  });

  after(async () => {
    await cluster?.stop();
  });

  test("locations still answer, sizes name the node that is down", async () => {
    const down = cluster.workerPorts[1];
    const worker2 = join(cluster.dir!, "worker2");
    await stopServer(worker2, "fast");
    try {
      await withClient(cluster.url, async (c) => {
        const located = await c.query("SELECT shardid, nodeport FROM canopy_shards ORDER BY shardid");
        assert.equal(located.rows.length, 4);
        assert.ok(located.rows.some((r) => r.nodeport === down));
        const tables = await c.query("SELECT table_name::text, shard_count::int FROM canopy_tables");
        assert.deepEqual(tables.rows, [{ table_name: "sized", shard_count: 4 }]);
        const unreachable = { code: "08001", message: new RegExp(`remote node localhost:${down} failed`) };
        await assert.rejects(c.query("SELECT sum(shard_size) FROM canopy_shards"), unreachable);
        await assert.rejects(c.query("SELECT * FROM canopy_shards WHERE nodeport <> $1", [down]), unreachable);
        await assert.rejects(c.query("SELECT table_size FROM canopy_tables"), unreachable);
        await assert.rejects(c.query("SELECT canopy_total_relation_size('sized')"), unreachable);
      });
    } finally {
      await startServer(worker2);
    }
    await withClient(cluster.url, async (c) => {
      const r = await c.query(
        "SELECT canopy_total_relation_size('sized') = (SELECT sum(shard_size) FROM canopy_shards) AS same",
      );
      assert.equal(r.rows[0].same, true);
    });
  });
});
