// Stopping distributed work: a CancelRequest, pg_cancel_backend and pg_terminate_backend of a
// Canopy session, statement_timeout and lock_timeout stop what the session runs on the workers
// (checked in the workers' own pg_stat_activity), the client gets PostgreSQL's error and the
// session carries on. A lock cycle spanning two workers, which neither worker sees, is broken by
// the coordinator's distributed deadlock detector; a cycle on one worker is still PostgreSQL's.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import postgres from "postgres";
import { startEmbeddedCluster, startLocalCluster, type TestCluster } from "../support/cluster.js";
import { sleep, until } from "../support/wait.js";
import { connect, outcome, sendCancel } from "../support/client.js";
import { createServer, connect as tcpConnect, type Server } from "node:net";

async function setUpTable(url: string): Promise<void> {
  const c = await connect(url);
  try {
    await c.query("CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL)");
    await c.query("INSERT INTO items SELECT g, 0 FROM generate_series(1, 20) g");
    await c.query("SELECT create_distributed_table('items', 'id', shard_count => 4)");
  } finally {
    await c.end();
  }
}

describe("cancel, timeouts and distributed deadlocks (local cluster)", () => {
  let cluster: TestCluster;
  const workers: pg.Client[] = [];
  /** Two ids whose rows are on different workers, and two on the same worker. */
  let apart: [number, number];
  let together: [number, number];

  before(async () => {
    cluster = await startLocalCluster(2);
    await setUpTable(cluster.url);
    for (const port of cluster.workerPorts)
      workers.push(await connect(`postgres://postgres@127.0.0.1:${port}/postgres`));
    const c = await connect(cluster.url);
    try {
      const portOf = new Map<number, number>();
      for (let id = 1; id <= 20; id++) {
        const r = await c.query(
          `SELECT n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
            WHERE p.shardid = get_shard_id_for_distribution_column('items', $1)`,
          [id],
        );
        portOf.set(id, r.rows[0].nodeport);
      }
      const ids = [...portOf.keys()];
      const other = ids.find((id) => portOf.get(id) !== portOf.get(1))!;
      const same = ids.find((id) => id !== 1 && portOf.get(id) === portOf.get(1))!;
      apart = [1, other];
      together = [1, same];
    } finally {
      await c.end();
    }
  });

  after(async () => {
    for (const w of workers) await w.end().catch(() => {});
    await cluster?.stop();
  });

  /** How many worker backends run a statement containing `text` (waiting on a lock counts). */
  async function activeOnWorkers(text: string): Promise<number> {
    let n = 0;
    for (const w of workers) {
      const r = await w.query(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND strpos(query, $1) > 0 AND pid <> pg_backend_pid()",
        [text],
      );
      n += r.rows[0].n;
    }
    return n;
  }

  /** Waits until no worker runs a statement containing `text` (the cancel reached them). */
  const workersIdleOf = (text: string) =>
    until(async () => ((await activeOnWorkers(text)) === 0 ? true : undefined), 5000, `workers to stop ${text}`);

  /** Waits until some worker runs a statement containing `text`. */
  const workersRunning = (text: string) =>
    until(async () => ((await activeOnWorkers(text)) > 0 ? true : undefined), 5000, `workers to run ${text}`);

  test("a CancelRequest stops a multi-shard statement on the workers; the session carries on", async () => {
    const c = await connect(cluster.url);
    try {
      const running = outcome(c.query("UPDATE items SET v = v + 1 WHERE pg_sleep(20.01) IS NOT NULL"));
      await workersRunning("pg_sleep(20.01)");
      await sendCancel(cluster.port, c);
      const { error, ms } = await running;
      assert.equal(error?.code, "57014");
      assert.equal(error?.message, "canceling statement due to user request");
      assert.ok(ms < 10_000, `cancel took ${ms} ms`);
      await workersIdleOf("pg_sleep(20.01)");
      assert.equal((await c.query("SELECT sum(v)::int AS s FROM items")).rows[0].s, 0);
    } finally {
      await c.end();
    }
  });

  test("postgres.js cancel of a router query in a block aborts the block as PostgreSQL does", async () => {
    const sql = postgres(cluster.url, { max: 1, onnotice: () => {} });
    try {
      await sql
        .begin(async (tx) => {
          await tx`UPDATE items SET v = v + 1 WHERE id = 1`;
          const query = tx`SELECT pg_sleep(20.02) FROM items WHERE id = 1`.execute();
          await workersRunning("pg_sleep(20.02)");
          query.cancel();
          const { error } = await outcome(query);
          assert.equal(error?.code, "57014");
          const { error: after } = await outcome(tx`SELECT 1`);
          assert.equal(after?.code, "25P02");
          throw new Error("roll back");
        })
        .catch((e: Error) => assert.equal(e.message, "roll back"));
      await workersIdleOf("pg_sleep(20.02)");
      const [row] = await sql`SELECT v FROM items WHERE id = 1`;
      assert.equal(row.v, 0, "the block's update rolled back");
    } finally {
      await sql.end();
    }
  });

  test("pg_backend_pid is the BackendKeyData pid; pg_cancel_backend of it stops the worker work", async () => {
    const victim = await connect(cluster.url);
    const other = await connect(cluster.url);
    // A multi-shard read that waits on a worker: a shard locked there directly (on a connection
    // of its own: pg_stat_activity reads stay the same within a transaction).
    const locker = await connect(`postgres://postgres@127.0.0.1:${cluster.workerPorts[0]}/postgres`);
    const shard = (
      await locker.query("SELECT relname FROM pg_class WHERE relname LIKE 'items\\_1%' AND relkind = 'r' LIMIT 1")
    ).rows[0].relname;
    await locker.query("BEGIN");
    await locker.query(`LOCK TABLE ${shard} IN ACCESS EXCLUSIVE MODE`);
    try {
      const pid = (await victim.query("SELECT pg_backend_pid() AS pid")).rows[0].pid;
      assert.equal(pid, (victim as unknown as { processID: number }).processID);
      const running = outcome(victim.query("SELECT v, count(*) FROM items GROUP BY v"));
      await workersRunning(shard);
      const r = await other.query("SELECT pg_cancel_backend($1) AS ok", [pid]);
      assert.equal(r.rows[0].ok, true);
      const { error } = await running;
      assert.equal(error?.code, "57014");
      assert.equal(error?.message, "canceling statement due to user request");
      await workersIdleOf(shard);
      await locker.query("ROLLBACK");
      assert.equal((await victim.query("SELECT count(*)::int AS n FROM items")).rows[0].n, 20);
      // A pid that is no session's is the coordinator database's to answer.
      const none = await other.query("SELECT pg_cancel_backend(2147483647) AS ok");
      assert.equal(none.rows[0].ok, false);
    } finally {
      await locker.end();
      await victim.end();
      await other.end();
    }
  });

  test("pg_cancel_backend of the pids in canopy_stat_activity and pg_stat_activity rows stops the worker work", async () => {
    const victim = await connect(cluster.url);
    const other = await connect(cluster.url);
    try {
      const pid = (await victim.query("SELECT pg_backend_pid() AS pid")).rows[0].pid;
      const queries = [
        "SELECT pid, pg_cancel_backend(pid) AS cancelled FROM canopy_stat_activity WHERE query LIKE '%pg_sleep(20.05)%' AND pid <> pg_backend_pid()",
        // With PostgreSQL servers a session's pid is its coordinator-database backend's.
        `SELECT pid, pg_cancel_backend(pid) AS cancelled FROM pg_stat_activity WHERE pid = ${Number(pid)}`,
      ];
      for (const sql of queries) {
        const running = outcome(victim.query("SELECT pg_sleep(20.05) FROM items WHERE id = 3"));
        await workersRunning("pg_sleep(20.05)");
        const r = await other.query(sql);
        assert.ok(r.rows.length > 0, "the session is listed");
        assert.ok(r.rows.every((row) => row.pid === pid && row.cancelled === true));
        const { error } = await running;
        assert.equal(error?.code, "57014");
        await workersIdleOf("pg_sleep(20.05)");
      }
      assert.equal((await victim.query("SELECT count(*)::int AS n FROM items")).rows[0].n, 20);
    } finally {
      await victim.end();
      await other.end();
    }
  });

  test("pg_terminate_backend ends the session and its work on the workers", async () => {
    const victim = await connect(cluster.url);
    const other = await connect(cluster.url);
    try {
      const pid = (await victim.query("SELECT pg_backend_pid() AS pid")).rows[0].pid;
      const running = outcome(victim.query("SELECT pg_sleep(20.04) FROM items WHERE id = 3"));
      await workersRunning("pg_sleep(20.04)");
      const r = await other.query("SELECT pg_terminate_backend($1) AS ok", [pid]);
      assert.equal(r.rows[0].ok, true);
      const { error } = await running;
      assert.ok(error, "the terminated session's query failed");
      await workersIdleOf("pg_sleep(20.04)");
      await assert.rejects(victim.query("SELECT 1"));
    } finally {
      await victim.end().catch(() => {});
      await other.end();
    }
  });

  test("statement_timeout stops router and multi-shard statements on the workers", async () => {
    const c = await connect(cluster.url);
    try {
      await c.query("SET statement_timeout = '1s'");
      for (const sql of [
        "SELECT pg_sleep(20.05) FROM items WHERE id = 2",
        "UPDATE items SET v = v + 1 WHERE pg_sleep(20.05) IS NOT NULL",
      ]) {
        const { error, ms } = await outcome(c.query(sql));
        assert.equal(error?.code, "57014", sql);
        assert.equal(error?.message, "canceling statement due to statement timeout");
        assert.ok(ms < 8000, `${sql} took ${ms} ms`);
      }
      await workersIdleOf("pg_sleep(20.05)");
      // Multi-shard work whose parts are each under the limit but add up over it.
      const { error } = await outcome(c.query("UPDATE items SET v = v + (SELECT 0 FROM pg_sleep(0.6))"));
      assert.equal(error?.message, "canceling statement due to statement timeout");
      await c.query("RESET statement_timeout");
      assert.equal((await c.query("SELECT sum(v)::int AS s FROM items")).rows[0].s, 0);
      assert.equal(
        (await c.query("SELECT count(*)::int AS n FROM (SELECT pg_sleep(0.1) FROM items WHERE id <= 12) s")).rows[0].n,
        12,
      );
    } finally {
      await c.end();
    }
  });

  test("lock_timeout applies to the waits on the workers", async () => {
    const holder = await connect(cluster.url);
    const waiter = await connect(cluster.url);
    try {
      await holder.query("BEGIN");
      await holder.query("UPDATE items SET v = v WHERE id = 4");
      await waiter.query("SET lock_timeout = '500ms'");
      const { error, ms } = await outcome(waiter.query("UPDATE items SET v = v + 1 WHERE id = 4"));
      assert.equal(error?.code, "55P03");
      assert.equal(error?.message, "canceling statement due to lock timeout");
      assert.ok(ms < 8000);
      await holder.query("ROLLBACK");
      await waiter.query("RESET lock_timeout");
      await waiter.query("UPDATE items SET v = v WHERE id = 4");
    } finally {
      await holder.end();
      await waiter.end();
    }
  });

  /** Two sessions that lock `first` and `second` in opposite orders; returns both outcomes. */
  async function crossedUpdates(first: number, second: number) {
    const a = await connect(cluster.url);
    const b = await connect(cluster.url);
    try {
      await a.query("BEGIN");
      await b.query("BEGIN");
      await a.query("UPDATE items SET v = v + 1 WHERE id = $1", [first]);
      await b.query("UPDATE items SET v = v + 10 WHERE id = $1", [second]);
      const waitA = outcome(a.query("UPDATE items SET v = v + 1 WHERE id = $1", [second]));
      await sleep(200);
      const waitB = outcome(b.query("UPDATE items SET v = v + 10 WHERE id = $1", [first]));
      const [ra, rb] = await Promise.all([waitA, waitB]);
      const commits = await Promise.all([outcome(a.query("COMMIT")), outcome(b.query("COMMIT"))]);
      return { ra, rb, commits };
    } finally {
      await a.end();
      await b.end();
    }
  }

  test("a deadlock across two workers is broken: one transaction gets 40P01, the other commits", async () => {
    const before = (await workers[0].query("SELECT 1")).rowCount; // workers reachable
    assert.equal(before, 1);
    const { ra, rb, commits } = await crossedUpdates(apart[0], apart[1]);
    const errors = [ra.error, rb.error].filter((e) => e !== null);
    assert.equal(errors.length, 1, "exactly one victim");
    assert.equal(errors[0]!.code, "40P01");
    assert.equal(errors[0]!.message, "canceling the transaction since it was involved in a distributed deadlock");
    assert.ok(Math.max(ra.ms, rb.ms) < 15_000);
    // The younger transaction (b) is the victim; a commits both its updates.
    assert.equal(rb.error?.code, "40P01");
    assert.equal(commits[0].error, null);
    const c = await connect(cluster.url);
    try {
      const r = await c.query("SELECT id, v FROM items WHERE id = ANY($1) ORDER BY id", [apart]);
      assert.deepEqual(
        r.rows.map((row) => row.v),
        [1, 1],
      );
      await c.query("UPDATE items SET v = 0");
    } finally {
      await c.end();
    }
  });

  test("a deadlock on one worker is still detected by PostgreSQL", async () => {
    const { ra, rb } = await crossedUpdates(together[0], together[1]);
    const errors = [ra.error, rb.error].filter((e) => e !== null);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.code, "40P01");
    assert.equal(errors[0]!.message, "deadlock detected");
    const c = await connect(cluster.url);
    try {
      await c.query("UPDATE items SET v = 0");
    } finally {
      await c.end();
    }
  });
});

describe("cancel and timeouts (embedded cluster)", () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await startEmbeddedCluster(2);
    await setUpTable(cluster.url);
  });

  after(async () => {
    await cluster?.stop();
  });

  test("pg_backend_pid is the session's BackendKeyData pid", async () => {
    const a = await connect(cluster.url);
    const b = await connect(cluster.url);
    try {
      for (const c of [a, b]) {
        const pid = (await c.query("SELECT pg_backend_pid() AS pid")).rows[0].pid;
        assert.equal(pid, (c as unknown as { processID: number }).processID);
      }
    } finally {
      await a.end();
      await b.end();
    }
  });

  test("pg_cancel_backend and pg_terminate_backend reach the session with that pid", async () => {
    const a = await connect(cluster.url);
    const b = await connect(cluster.url);
    try {
      const pid = (await b.query("SELECT pg_backend_pid() AS pid")).rows[0].pid;
      assert.equal((await a.query("SELECT pg_cancel_backend($1) AS ok", [pid])).rows[0].ok, true);
      assert.equal((await b.query("SELECT count(*)::int AS n FROM items")).rows[0].n, 20);
      const closed = new Promise((resolve) => b.once("end", resolve));
      assert.equal((await a.query("SELECT pg_terminate_backend($1) AS ok", [pid])).rows[0].ok, true);
      await closed;
      assert.equal((await a.query("SELECT count(*)::int AS n FROM items")).rows[0].n, 20);
    } finally {
      await a.end();
      await b.end().catch(() => {});
    }
  });
});

/**
 * A TCP relay to a PostgreSQL server that passes every connection but a CancelRequest's, which it
 * closes unread: a node whose cancels are lost on the way, as they are when they come too late.
 */
async function cancelDroppingRelay(port: number): Promise<{ port: number; dropped: () => number; server: Server }> {
  let dropped = 0;
  const server = createServer((client) => {
    let head = Buffer.alloc(0);
    const first = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      if (head.length < 8) return;
      client.off("data", first);
      if (head.readInt32BE(0) === 16 && head.readInt32BE(4) === 80877102) {
        dropped++;
        client.destroy();
        return;
      }
      const upstream = tcpConnect(port, "127.0.0.1");
      upstream.write(head);
      client.pipe(upstream).pipe(client);
      upstream.on("error", () => client.destroy());
      client.on("error", () => upstream.destroy());
    };
    client.on("data", first);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as { port: number }).port, dropped: () => dropped, server };
}

describe("a cancel that comes while the workers' part ends (local cluster)", () => {
  let cluster: TestCluster;
  let relay: Awaited<ReturnType<typeof cancelDroppingRelay>>;
  let c: pg.Client;
  let worker: pg.Client;
  /** The shard of `slow` on the worker behind the relay. */
  let shardid: string;

  before(async () => {
    cluster = await startLocalCluster(2);
    relay = await cancelDroppingRelay(cluster.workerPorts[1]);
    c = await connect(cluster.url);
    worker = await connect(`postgres://postgres@127.0.0.1:${cluster.workerPorts[1]}/postgres`);
    // The second worker is reached through the relay, which loses the cancels sent to it.
    const [{ nodename }] = (
      await c.query("SELECT nodename FROM pg_dist_node WHERE nodeport = $1", [cluster.workerPorts[1]])
    ).rows;
    await c.query("SELECT canopy_remove_node($1, $2)", [nodename, cluster.workerPorts[1]]);
    await c.query("SELECT canopy_add_node('127.0.0.1', $1)", [relay.port]);
    await c.query("CREATE TABLE slow (id int PRIMARY KEY)");
    await c.query("INSERT INTO slow SELECT generate_series(1, 4)");
    await c.query("SELECT create_distributed_table('slow', 'id', shard_count => 2)");
    await c.query("CREATE TABLE slow_into (id int)");
    await c.query("SELECT create_distributed_table('slow_into', 'id', shard_count => 2)");
    [{ shardid }] = (
      await c.query(
        `SELECT p.shardid FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
          WHERE n.nodeport = $1 AND p.shardid IN (SELECT shardid FROM pg_dist_shard WHERE logicalrelid = 'slow'::regclass)`,
        [relay.port],
      )
    ).rows;
  });

  after(async () => {
    await worker?.end();
    await c?.end();
    relay?.server.close();
    await cluster?.stop();
  });

  // pg_sleep is volatile: it runs on the coordinator, over the rows read from the workers. Without
  // a check there the coordinator would sleep 10 s for each of the four rows.
  for (const sql of [
    "SELECT count(*) FROM slow WHERE pg_sleep(10) IS NOT NULL",
    "INSERT INTO slow_into SELECT id FROM slow WHERE pg_sleep(10) IS NOT NULL",
    "EXPLAIN ANALYZE SELECT count(*) FROM slow WHERE pg_sleep(10) IS NOT NULL",
  ]) {
    test(`the coordinator's part does not start: ${sql}`, async () => {
      try {
        // The read of that worker's shard waits for this lock, past the cancel. (The worker's
        // pg_stat_activity shows the connection's previous statement while it waits.)
        await worker.query("BEGIN");
        await worker.query(`LOCK TABLE slow_${shardid} IN ACCESS EXCLUSIVE MODE`);
        const running = outcome(c.query(sql));
        await until(
          async () =>
            (await worker.query("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'")).rowCount! > 0 ||
            undefined,
          10_000,
          "the worker's read to wait for the lock",
        );
        const dropped = relay.dropped();
        await sendCancel(cluster.port, c);
        await until(
          async () => relay.dropped() > dropped || undefined,
          10_000,
          "a cancel lost on the way to the worker",
        );
        await worker.query("ROLLBACK");
        const released = Date.now();
        const { error } = await running;
        assert.equal(error?.code, "57014");
        assert.ok(Date.now() - released < 8_000, `the statement ended ${Date.now() - released} ms after the read`);
        assert.equal((await c.query("SELECT count(*)::int AS n FROM slow_into")).rows[0].n, 0);
      } finally {
        await worker.query("ROLLBACK").catch(() => {});
      }
    });
  }
});
