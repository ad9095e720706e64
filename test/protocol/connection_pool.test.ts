// Connection management as the seed describes it (Concepts › query execution; Cluster management ›
// connection management), on a local cluster: a multi-shard read opens up to
// canopy.max_adaptive_executor_pool_size connections per worker, more of them as
// canopy.executor_slow_start_interval passes; canopy.max_cached_conns_per_worker of them stay;
// canopy.max_shared_pool_size caps each worker's connections across all sessions, which wait for
// a slot rather than fail (200 concurrent clients, the workers' pg_stat_activity sampled
// meanwhile), up to canopy.node_connection_timeout; a worker refusing connections (its
// max_connections reached) is tried again until then, and named in a clear error.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import pg from "pg";
import { startLocalCluster, type TestCluster } from "../support/cluster.js";
import { sleep, until } from "../support/wait.js";
import { connect, outcome, withClient } from "../support/client.js";
import { startServer, stopServer } from "../../src/nodes/pgserver.js";

const ROWS = 200;
/** canopy.max_shared_pool_size of the test cluster's coordinator. */
const CAP = 8;

const pidOf = (c: pg.Client) => (c as unknown as { processID: number }).processID;

describe("connection management (local cluster)", () => {
  let cluster: TestCluster;
  let admin: pg.Client;
  /** Direct connections to each worker, by port. */
  const direct = new Map<number, pg.Client>();
  /** The shards of `items` on each worker, by port. */
  const shardsOn = new Map<number, string[]>();
  /** A distribution value whose row is on each worker, by port. */
  const idOn = new Map<number, number>();

  before(async () => {
    cluster = await startLocalCluster(2, { "canopy.max_shared_pool_size": String(CAP) });
    admin = await connect(cluster.url);
    await admin.query("CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL)");
    await admin.query(`INSERT INTO items SELECT g, 1 FROM generate_series(1, ${ROWS}) g`);
    await admin.query("SELECT create_distributed_table('items', 'id', shard_count => 8)");
    for (const port of cluster.workerPorts)
      direct.set(port, await connect(`postgres://postgres@127.0.0.1:${port}/postgres`));
    const shards = await admin.query(
      "SELECT shardid, nodeport FROM canopy_shards WHERE table_name = 'items'::regclass",
    );
    for (const { shardid, nodeport } of shards.rows)
      shardsOn.set(nodeport, [...(shardsOn.get(nodeport) ?? []), `items_${shardid}`]);
    for (let id = 1; idOn.size < cluster.workerPorts.length; id++) {
      const r = await admin.query(
        "SELECT nodeport FROM canopy_shards WHERE shardid = get_shard_id_for_distribution_column('items', $1)",
        [id],
      );
      if (!idOn.has(r.rows[0].nodeport)) idOn.set(r.rows[0].nodeport, id);
    }
  });

  after(async () => {
    for (const c of direct.values()) await c.end().catch(() => {});
    await admin?.end().catch(() => {});
    await cluster?.stop();
  });

  /** The worker connections of a session, as canopy_stat_activity shows them. */
  async function connectionsOf(client: pg.Client): Promise<{ nodeport: number; worker_state: string }[]> {
    const r = await admin.query(
      "SELECT nodeport, worker_state FROM canopy_stat_activity WHERE pid = $1 AND nodeport IS NOT NULL",
      [pidOf(client)],
    );
    return r.rows;
  }

  const busyConnectionsOf = async (client: pg.Client) =>
    (await connectionsOf(client)).filter((r) => r.worker_state !== "idle");

  const countOn = (rows: { nodeport: number }[], port: number) => rows.filter((r) => r.nodeport === port).length;

  /**
   * Runs `SELECT count(*) FROM items` from `client` while the shards on one worker are locked, and
   * returns how many connections the query had open to that worker after `waitMs` (or once it has
   * `expect`), then lets the query finish and checks its answer. Idle connections the session keeps
   * from earlier statements are not counted.
   */
  async function connectionsWhileBlocked(client: pg.Client, expect: number | null, waitMs: number): Promise<number> {
    const [port] = cluster.workerPorts;
    const locker = direct.get(port)!;
    await locker.query("BEGIN");
    await locker.query(`LOCK TABLE ${shardsOn.get(port)!.join(", ")} IN ACCESS EXCLUSIVE MODE`);
    const query = client.query("SELECT count(*)::int AS n FROM items");
    let seen = 0;
    try {
      if (expect !== null) {
        await until(
          async () => ((seen = countOn(await busyConnectionsOf(client), port)) >= expect ? true : undefined),
          10_000,
          `${expect} connections to the worker`,
        );
      }
      await sleep(waitMs);
      seen = countOn(await busyConnectionsOf(client), port);
    } finally {
      await locker.query("COMMIT");
    }
    assert.equal((await query).rows[0].n, ROWS);
    return seen;
  }

  test("a multi-shard read opens up to max_adaptive_executor_pool_size connections per worker", async () => {
    await withClient(cluster.url, async (c) => {
      await c.query("SET canopy.executor_slow_start_interval = 0");
      await c.query("SET canopy.max_adaptive_executor_pool_size = 3");
      // Four shards on the worker, at most three connections, every one of them at once.
      assert.equal(await connectionsWhileBlocked(c, 3, 300), 3);
      await c.query("SET canopy.max_adaptive_executor_pool_size = 1");
      assert.equal(await connectionsWhileBlocked(c, null, 300), 1);
    });
  });

  test("slow start: one connection first, more while tasks stay queued", async () => {
    await withClient(cluster.url, async (c) => {
      await c.query("SET canopy.max_adaptive_executor_pool_size = 4");
      // An interval longer than the query waits: the tasks share the first connection.
      await c.query("SET canopy.executor_slow_start_interval = 600000");
      assert.equal(await connectionsWhileBlocked(c, null, 500), 1);
      await c.query("SET canopy.executor_slow_start_interval = 20");
      assert.equal(await connectionsWhileBlocked(c, 4, 300), 4);
    });
  });

  test("max_cached_conns_per_worker connections stay open after a statement", async () => {
    await withClient(cluster.url, async (c) => {
      await c.query("SET canopy.executor_slow_start_interval = 0");
      await c.query("SET canopy.max_adaptive_executor_pool_size = 4");
      const [port] = cluster.workerPorts;
      await connectionsWhileBlocked(c, 4, 0);
      const kept = await connectionsOf(c);
      assert.equal(countOn(kept, port), 4, "the default (16) keeps all four");
      assert.ok(
        kept.every((r) => r.worker_state === "idle"),
        JSON.stringify(kept),
      );
      await c.query("SET canopy.max_cached_conns_per_worker = 1");
      await connectionsWhileBlocked(c, 4, 0);
      assert.equal(countOn(await connectionsOf(c), port), 1);
      await c.query("SET canopy.max_cached_conns_per_worker = 0");
      await c.query("SELECT v FROM items WHERE id = $1", [idOn.get(port)]);
      assert.deepEqual(await connectionsOf(c), []);
    });
  });

  test("max_shared_pool_size caps each worker's connections across 200 sessions, which wait instead of failing", async () => {
    const clients: pg.Client[] = [];
    let sampling = true;
    const most = new Map<number, number>();
    const samplers = [...direct].map(async ([port, worker]) => {
      most.set(port, 0);
      while (sampling) {
        const r = await worker.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE backend_type = 'client backend' AND usename = current_user AND datname = current_database()
              AND pid <> pg_backend_pid() AND application_name <> 'canopy coordinator'`,
        );
        most.set(port, Math.max(most.get(port)!, r.rows[0].n));
        await sleep(5);
      }
    });
    try {
      for (let i = 0; i < 200; i++) clients.push(await connect(cluster.url));
      // Each client: a multi-shard count, a router read, a multi-shard count with a filter.
      const answers = await Promise.all(
        clients.map(async (c, i) => {
          const port = cluster.workerPorts[i % cluster.workerPorts.length];
          return [
            (await c.query("SELECT count(*)::int AS n FROM items")).rows[0].n,
            (await c.query("SELECT v FROM items WHERE id = $1", [idOn.get(port)])).rows[0].v,
            (await c.query("SELECT count(*)::int AS n FROM items WHERE v > 0 AND id % 7 = $1", [i % 7])).rows[0].n,
          ];
        }),
      );
      const bySeven = (r: number) => Array.from({ length: ROWS }, (_, k) => k + 1).filter((id) => id % 7 === r).length;
      answers.forEach((out, i) => assert.deepEqual(out, [ROWS, 1, bySeven(i % 7)]));
    } finally {
      sampling = false;
      await Promise.all(samplers);
      await Promise.all(clients.map((c) => c.end().catch(() => {})));
    }
    for (const [port, n] of most) {
      assert.ok(n <= CAP, `worker ${port} served ${n} Canopy connections at once, more than ${CAP}`);
      assert.ok(n > 0, `the sampler saw no connection to worker ${port}`);
    }
  });

  test("a session waits canopy.node_connection_timeout for a slot, then fails naming the node and the setting", async () => {
    const [port] = cluster.workerPorts;
    const holders: pg.Client[] = [];
    const waiter = await connect(cluster.url);
    try {
      // Every slot of the worker held by a transaction (an idle connection would be given up).
      for (let i = 0; i < CAP; i++) {
        const holder = await connect(cluster.url);
        holders.push(holder);
        await holder.query("BEGIN");
        await holder.query("SELECT v FROM items WHERE id = $1", [idOn.get(port)]);
      }
      await waiter.query("SET canopy.node_connection_timeout = 1000");
      const failed = await outcome(waiter.query("SELECT v FROM items WHERE id = $1", [idOn.get(port)]));
      assert.equal(failed.error?.code, "53300");
      assert.match(failed.error!.message, new RegExp(`worker node localhost:${port}.*canopy\\.max_shared_pool_size`));
      assert.ok(failed.ms >= 900, `gave up after ${failed.ms} ms`);
      // statement_timeout (or a cancel) ends the wait too.
      await waiter.query("SET canopy.node_connection_timeout = 20000");
      await waiter.query("SET statement_timeout = 300");
      const timedOut = await outcome(waiter.query("SELECT v FROM items WHERE id = $1", [idOn.get(port)]));
      assert.equal(timedOut.error?.code, "57014");
      assert.ok(timedOut.ms < 5000, `waited ${timedOut.ms} ms`);
      await waiter.query("RESET statement_timeout");
      // Once a holder's transaction ends, its idle connection goes to the waiting session.
      const waited = waiter.query("SELECT v FROM items WHERE id = $1", [idOn.get(port)]);
      await sleep(300);
      await holders[0].query("COMMIT");
      assert.equal((await waited).rows[0].v, 1);
    } finally {
      for (const holder of holders) await holder.end();
      await waiter.end();
    }
  });

  test("a worker refusing connections (max_connections reached) is tried again, then named in the error", async () => {
    const port = cluster.workerPorts[1];
    const dataDir = join(cluster.dir!, "worker2");
    const restart = async () => {
      await direct.get(port)!.end();
      await stopServer(dataDir, "fast");
      await startServer(dataDir);
      direct.set(port, await connect(`postgres://postgres@127.0.0.1:${port}/postgres`));
    };
    await direct.get(port)!.query("ALTER SYSTEM SET max_connections = 6");
    await restart();
    const hogs: pg.Client[] = [];
    try {
      // Take every slot the worker has left.
      for (;;) {
        const c = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
        c.on("error", () => {});
        try {
          await c.connect();
        } catch {
          break;
        }
        hogs.push(c);
        assert.ok(hogs.length < 10, "the worker kept taking connections");
      }
      const c = await connect(cluster.url);
      try {
        await c.query("SET canopy.node_connection_timeout = 1500");
        const refused = await outcome(c.query("SELECT v FROM items WHERE id = $1", [idOn.get(port)]));
        assert.equal(refused.error?.code, "53300");
        assert.match(refused.error!.message, new RegExp(`remote node localhost:${port} failed.*too many clients`));
        assert.ok(refused.ms >= 1400, `gave up after ${refused.ms} ms`);
        // A slot freed while the session tries again is taken.
        await c.query("SET canopy.node_connection_timeout = 20000");
        const retried = c.query("SELECT v FROM items WHERE id = $1", [idOn.get(port)]);
        await sleep(500);
        await hogs.pop()!.end();
        assert.equal((await retried).rows[0].v, 1);
      } finally {
        await c.end();
      }
    } finally {
      for (const h of hogs) await h.end().catch(() => {});
      await direct.get(port)!.query("ALTER SYSTEM RESET max_connections");
      await restart();
    }
  });
});
