// Crashes during commit: the coordinator process killed (SIGKILL) after PREPARE, after the decision
// is recorded, and between COMMIT PREPARED on one worker and the next; a worker stopped in the
// middle of a transaction. After restart and recovery every transaction is wholly committed or
// wholly absent on every node, and nothing stays prepared. And a session whose COMMIT PREPARED
// meets another backend finishing the same gid (a recovery pass) answers COMMIT only once it is
// visible, or once canopy.prepared_busy_wait_timeout has passed, leaving that node to recovery.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { join } from "node:path";
import { readFile } from "node:fs/promises";
import { startLocalCluster, type TestCluster } from "../support/cluster.js";
import { withClient as withClientAt } from "../support/client.js";
import { startServer, stopServer } from "../../src/nodes/pgserver.js";
import { quoteLiteral } from "../../src/sql/quote.js";

describe("two-phase commit under crashes (local cluster)", () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await startLocalCluster(2);
    await withClient(async (c) => {
      await c.query("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL)");
      await c.query("INSERT INTO accounts SELECT g, 100 FROM generate_series(1, 40) g");
      await c.query("SELECT create_distributed_table('accounts', 'id', shard_count => 8)");
      await c.query("CREATE TABLE currencies (code text PRIMARY KEY)");
      await c.query("SELECT create_reference_table('currencies')");
    });
  });

  after(async () => {
    await cluster?.stop();
  });

  function withClient<T>(f: (c: pg.Client) => Promise<T>): Promise<T> {
    return withClientAt(cluster.url, f);
  }

  /** Rows on each worker, read from the shards directly. */
  async function perWorker(sql: string): Promise<string[]> {
    return withClient(async (c) => {
      const r = await c.query("SELECT result FROM run_command_on_workers($1) ORDER BY nodeport", [sql]);
      return r.rows.map((row) => row.result as string);
    });
  }

  async function connectTo(port: number): Promise<pg.Client> {
    const c = new pg.Client(`postgres://postgres@127.0.0.1:${port}/postgres`);
    await c.connect();
    return c;
  }

  /** Runs recovery until nothing is left prepared on the workers (the killed session's
   *  coordinator-database backend may take a moment to notice and roll back). */
  async function recoverAll(): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const prepared = await perWorker("SELECT count(*) FROM pg_prepared_xacts");
      if (prepared.every((n) => n === "0")) return;
      await withClient((c) => c.query("SELECT recover_prepared_transactions()"));
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail("prepared transactions remained after recovery");
  }

  /** The total balance through the coordinator, and on each worker summed over its shards. */
  async function totals(): Promise<{ total: number; moved: number }> {
    return withClient(async (c) => {
      const r = await c.query(
        "SELECT sum(balance)::int AS total, count(*) FILTER (WHERE balance <> 100)::int AS moved FROM accounts",
      );
      return r.rows[0];
    });
  }

  /**
   * A client in a block that moved `amount` from every even id to the next odd one (rows on both
   * workers changed), not yet committed.
   */
  async function openTransfer(amount: number): Promise<pg.Client> {
    const c = new pg.Client(cluster.url);
    c.on("error", () => {});
    await c.connect();
    await c.query("BEGIN");
    for (let id = 2; id <= 40; id += 2) {
      await c.query("UPDATE accounts SET balance = balance - $2 WHERE id = $1", [id, amount]);
      await c.query("UPDATE accounts SET balance = balance + $2 WHERE id = $1", [id - 1, amount]);
    }
    return c;
  }

  for (const point of ["after-prepare", "after-decision", "during-commit-prepared"] as const) {
    test(`coordinator killed ${point.replace(/-/g, " ")}`, async () => {
      await cluster.restartCoordinator!({ CANOPY_FAULT_INJECTION: point });
      const before = await totals();
      assert.equal(before.total, 4000);
      const c = await openTransfer(1);
      await assert.rejects(c.query("COMMIT"), "the coordinator died during COMMIT");
      await c.end().catch(() => {});

      await cluster.restartCoordinator!();
      await recoverAll();
      const after = await totals();
      assert.equal(after.total, 4000, "the total balance is kept");
      // Wholly absent when the decision was not recorded; wholly present once it was.
      assert.equal(after.moved, point === "after-prepare" ? 0 : 40);
      // Reset for the next case.
      await withClient((c2) => c2.query("UPDATE accounts SET balance = 100"));
      await recoverAll();
    });
  }

  test("coordinator killed after the decision of a statement outside a block", async () => {
    await cluster.restartCoordinator!({ CANOPY_FAULT_INJECTION: "after-decision" });
    const c = new pg.Client(cluster.url);
    c.on("error", () => {});
    await c.connect();
    await assert.rejects(c.query("INSERT INTO currencies VALUES ('EUR'), ('USD')"));
    await c.end().catch(() => {});
    await cluster.restartCoordinator!();
    await recoverAll();
    // A reference table write commits in two phases: both placements have both rows.
    const counts = await withClient(async (c2) => {
      const r = await c2.query("SELECT count(*)::int AS n FROM currencies");
      return r.rows[0].n as number;
    });
    assert.equal(counts, 2);
    const shard = await withClient(async (c2) => {
      const r = await c2.query("SELECT shardid FROM pg_dist_shard WHERE logicalrelid = 'currencies'::regclass");
      return r.rows[0].shardid as string;
    });
    assert.deepEqual(await perWorker(`SELECT count(*) FROM currencies_${shard}`), ["2", "2"]);
  });

  test("a worker stopped in the middle of a transaction: nothing is half-applied", async () => {
    const c = await openTransfer(5);
    const worker2 = join(cluster.dir!, "worker2");
    await stopServer(worker2, "immediate");
    await assert.rejects(c.query("COMMIT"));
    await c.end().catch(() => {});
    await startServer(worker2);
    await recoverAll();
    const after = await totals();
    assert.deepEqual(after, { total: 4000, moved: 0 });
  });

  /**
   * A block moving 3 between ids 1..4 (rows on both workers) whose COMMIT meets its gid busy on the
   * first worker: another backend (as a recovery pass would) is finishing it, held in a wait for a
   * synchronous standby that never comes, which only that backend waits for. The client's session
   * sets canopy.prepared_busy_wait_timeout to `busyWaitMs` first, if given. Returns when the COMMIT
   * returned and when the other backend was let go, once both are done.
   */
  async function commitWhileBusy(busyWaitMs?: number): Promise<{ committed: number; released: number }> {
    const worker = await connectTo(cluster.workerPorts[0]);
    const coordinatorDb = await connectTo(cluster.coordinatorDbPort!);
    const blocker = await connectTo(cluster.workerPorts[0]);
    const reload = async (settings: string[]) => {
      for (const s of settings) await worker.query(s);
      await worker.query("SELECT pg_reload_conf()");
      await new Promise((r) => setTimeout(r, 300));
    };
    const client = new pg.Client(cluster.url);
    await client.connect();
    try {
      if (busyWaitMs !== undefined) await client.query(`SET canopy.prepared_busy_wait_timeout = ${busyWaitMs}`);
      await reload(["ALTER SYSTEM SET synchronous_commit = local"]);
      await reload(["ALTER SYSTEM SET synchronous_standby_names = 'canopy_test_nobody'"]);
      // Blocks that write both workers and read now(): the session then asks the coordinator
      // database's transaction id ahead, and records its decision after PREPARE.
      const transfer = async (amount: number) => {
        await client.query("BEGIN");
        for (const [id, by] of [
          [1, amount],
          [2, -amount],
          [3, amount],
          [4, -amount],
        ]) {
          await client.query("UPDATE accounts SET balance = balance + $2 WHERE id = $1 AND now() IS NOT NULL", [
            id,
            by,
          ]);
        }
      };
      for (let i = 0; i < 4; i++) {
        await transfer(0);
        await client.query("COMMIT");
      }
      await transfer(3);
      await coordinatorDb.query("BEGIN");
      await coordinatorDb.query("LOCK TABLE pg_catalog.pg_dist_transaction IN SHARE MODE");
      const committed = client.query("COMMIT").then(() => Date.now());
      let gid: string | undefined;
      for (let i = 0; i < 100 && gid === undefined; i++) {
        await new Promise((r) => setTimeout(r, 50));
        gid = (await worker.query("SELECT gid FROM pg_prepared_xacts")).rows[0]?.gid;
      }
      assert.ok(gid, "the block was prepared on the worker before its decision");
      await blocker.query("SET synchronous_commit = on");
      const finishing = blocker.query(`COMMIT PREPARED ${quoteLiteral(gid)}`).catch(() => {});
      let held = false;
      for (let i = 0; i < 100 && !held; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        held = (await worker.query("SELECT 1 FROM pg_stat_activity WHERE wait_event = 'SyncRep'")).rows.length > 0;
      }
      assert.ok(held, "the test's backend waits for the standby, holding the gid busy");
      await coordinatorDb.query("ROLLBACK");
      await new Promise((r) => setTimeout(r, 500));
      const released = Date.now();
      await reload(["ALTER SYSTEM RESET synchronous_standby_names"]);
      await finishing;
      const result = { committed: await committed, released };
      const r = await client.query("SELECT id, balance FROM accounts WHERE id <= 4 ORDER BY id");
      assert.deepEqual(
        r.rows.map((row) => row.balance),
        [103, 97, 103, 97],
      );
      return result;
    } finally {
      await coordinatorDb.end();
      await reload(["ALTER SYSTEM RESET synchronous_standby_names", "ALTER SYSTEM RESET synchronous_commit"]);
      for (const c of [client, blocker, worker]) await c.end();
      await withClient((c) => c.query("UPDATE accounts SET balance = 100"));
      await recoverAll();
    }
  }

  test("a COMMIT whose prepared transaction another backend is finishing returns once the commit is visible", async () => {
    const { committed, released } = await commitWhileBusy();
    assert.ok(committed >= released, "the COMMIT waited for the other backend's commit");
  });

  test("canopy.prepared_busy_wait_timeout bounds that wait, and leaves the rest to recovery", async () => {
    const log = join(cluster.dir!, "coordinator.log");
    const logged = (await readFile(log, "utf8")).length;
    const { committed, released } = await commitWhileBusy(200);
    assert.ok(committed < released, "the COMMIT returned while the other backend still held the gid");
    const since = (await readFile(log, "utf8")).slice(logged);
    assert.match(since, /COMMIT PREPARED .* failed \(.*is busy.*\); recovery will finish it/);
  });

  test("the client that saw COMMIT succeed finds its data, and the records are cleaned up", async () => {
    await withClient(async (c) => {
      await c.query("BEGIN");
      await c.query("UPDATE accounts SET balance = balance - 7 WHERE id = 1");
      await c.query("UPDATE accounts SET balance = balance + 7 WHERE id = 2");
      await c.query("COMMIT");
      const r = await c.query("SELECT id, balance FROM accounts WHERE id IN (1, 2) ORDER BY id");
      assert.deepEqual(r.rows, [
        { id: 1, balance: 93 },
        { id: 2, balance: 107 },
      ]);
      await c.query("SELECT recover_prepared_transactions()");
      const left = await c.query("SELECT count(*)::int AS n FROM pg_dist_transaction");
      assert.equal(left.rows[0].n, 0);
    });
  });
});
