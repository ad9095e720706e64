// The TPC-B-like workload over distributed pgbench tables (accounts by aid, branches by bid,
// tellers by tid, history by aid): pgbench's own script with 8 clients, pgbench's select-only
// script (-S) with 8 clients, then 8 clients of this test's own while a worker is restarted.
// Afterwards the balances of accounts, tellers and branches each add up to the deltas in history,
// every transaction whose COMMIT succeeded is there and none that failed before COMMIT is; -S
// changes nothing. CANOPY_TPCB_SECONDS sets each run's length (60).
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { join } from "node:path";
import pg from "pg";
import { startLocalCluster, type TestCluster } from "../support/cluster.js";
import { withClient as withClientAt } from "../support/client.js";
import { startServer, stopServer } from "../../src/nodes/pgserver.js";

const run = promisify(execFile);
const seconds = Number(process.env.CANOPY_TPCB_SECONDS ?? 60);
const clients = 8;
const scale = 1;

describe("TPC-B-like workload over distributed tables (local cluster)", () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await startLocalCluster(2);
    await run("pgbench", ["-i", "-s", String(scale), "-q", cluster.url], { timeout: 120_000 });
    await withClient(async (c) => {
      await c.query("SELECT create_distributed_table('pgbench_accounts', 'aid')");
      await c.query("SELECT create_distributed_table('pgbench_branches', 'bid')");
      await c.query("SELECT create_distributed_table('pgbench_tellers', 'tid')");
      await c.query("SELECT create_distributed_table('pgbench_history', 'aid')");
    });
  });

  after(async () => {
    await cluster?.stop();
  });

  function withClient<T>(f: (c: pg.Client) => Promise<T>): Promise<T> {
    return withClientAt(cluster.url, f);
  }

  /** Finishes what the workload left prepared, then checks that every balance matches history. */
  async function assertConsistent(): Promise<void> {
    await withClient(async (c) => {
      for (let i = 0; ; i++) {
        await c.query("SELECT recover_prepared_transactions()");
        const r = await c.query("SELECT result FROM run_command_on_workers('SELECT count(*) FROM pg_prepared_xacts')");
        if (r.rows.every((row) => row.result === "0")) break;
        assert.ok(i < 100, "prepared transactions remained after recovery");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const sum = async (sql: string) => String((await c.query(sql)).rows[0].s);
      const history = await sum("SELECT coalesce(sum(delta), 0) AS s FROM pgbench_history");
      assert.equal(await sum("SELECT sum(abalance) AS s FROM pgbench_accounts"), history, "accounts");
      assert.equal(await sum("SELECT sum(tbalance) AS s FROM pgbench_tellers"), history, "tellers");
      assert.equal(await sum("SELECT sum(bbalance) AS s FROM pgbench_branches"), history, "branches");
    });
  }

  /** Runs pgbench with the clients for the run's length; asserts no failed transaction, returns how many ran. */
  async function pgbench(t: { diagnostic(message: string): void }, ...options: string[]): Promise<number> {
    const { stdout } = await run(
      "pgbench",
      [...options, "-c", String(clients), "-j", "2", "-T", String(seconds), "-n", cluster.url],
      { timeout: (seconds + 120) * 1000 },
    );
    assert.match(stdout, /number of failed transactions: 0 /);
    const processed = Number(/number of transactions actually processed: (\d+)/.exec(stdout)?.[1]);
    assert.ok(processed > 0, stdout);
    const tps = /tps = ([\d.]+)/.exec(stdout);
    assert.ok(tps && Number(tps[1]) > 0, stdout);
    t.diagnostic(tps[0]);
    return processed;
  }

  test(`pgbench's TPC-B-like script, ${clients} clients for ${seconds} s: no errors, balances consistent`, async (t) => {
    const processed = await pgbench(t, "-M", "prepared");
    await assertConsistent();
    const history = await withClient(
      async (c) => (await c.query("SELECT count(*)::int AS n FROM pgbench_history")).rows[0].n,
    );
    assert.equal(history, processed);
  });

  test(`pgbench -S (select only), ${clients} clients for ${seconds} s: no errors, nothing changes`, async (t) => {
    const totals = () =>
      withClient(async (c) => {
        const sums: string[] = [];
        for (const sql of [
          "SELECT sum(abalance) AS s FROM pgbench_accounts",
          "SELECT sum(tbalance) AS s FROM pgbench_tellers",
          "SELECT sum(bbalance) AS s FROM pgbench_branches",
          "SELECT count(*) AS s FROM pgbench_history",
        ]) {
          sums.push(String((await c.query(sql)).rows[0].s));
        }
        return sums;
      });
    const before = await totals();
    await pgbench(t, "-S");
    assert.deepEqual(await totals(), before);
  });

  test(`${clients} clients for ${seconds} s while a worker restarts: failures reported, none half-applied`, async (t) => {
    await withClient((c) => c.query("TRUNCATE pgbench_history"));
    await withClient((c) => c.query("UPDATE pgbench_accounts SET abalance = 0 WHERE abalance <> 0"));
    await withClient((c) => c.query("UPDATE pgbench_tellers SET tbalance = 0"));
    await withClient((c) => c.query("UPDATE pgbench_branches SET bbalance = 0"));
    const committed = new Set<string>();
    const failedBeforeCommit = new Set<string>();
    let committedAfterRestart = 0;
    let restarted = false;
    const end = Date.now() + seconds * 1000;

    async function client(id: number): Promise<void> {
      let c: pg.Client | null = null;
      for (let n = 0; Date.now() < end; n++) {
        const marker = `c${id}-${n}`;
        let atCommit = false;
        try {
          if (!c) {
            c = new pg.Client(cluster.url);
            c.on("error", () => {});
            await c.connect();
          }
          const aid = 1 + Math.floor(Math.random() * 100_000 * scale);
          const tid = 1 + Math.floor(Math.random() * 10 * scale);
          const bid = 1 + Math.floor(Math.random() * scale);
          const delta = Math.floor(Math.random() * 10_001) - 5000;
          await c.query("BEGIN");
          await c.query("UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2", [delta, aid]);
          await c.query("SELECT abalance FROM pgbench_accounts WHERE aid = $1", [aid]);
          await c.query("UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2", [delta, tid]);
          await c.query("UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2", [delta, bid]);
          await c.query(
            "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime, filler) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP, $5)",
            [tid, bid, aid, delta, marker],
          );
          atCommit = true;
          await c.query("COMMIT");
          committed.add(marker);
          if (restarted) committedAfterRestart++;
        } catch {
          // A failure at COMMIT leaves the outcome to the commit protocol; before it, nothing.
          if (!atCommit) failedBeforeCommit.add(marker);
          const broken = c;
          c = null;
          await broken?.query("ROLLBACK").then(
            () => (c = broken),
            () => broken.end().catch(() => {}),
          );
        }
      }
      await (c as pg.Client | null)?.end().catch(() => {});
    }

    const restart = (async () => {
      await new Promise((resolve) => setTimeout(resolve, (seconds * 1000) / 3));
      const worker2 = join(cluster.dir!, "worker2");
      await stopServer(worker2, "immediate");
      await new Promise((resolve) => setTimeout(resolve, 2000));
      await startServer(worker2);
      restarted = true;
    })();
    await Promise.all([restart, ...Array.from({ length: clients }, (_, i) => client(i))]);

    t.diagnostic(
      `${committed.size} committed (${committedAfterRestart} after the restart), ${failedBeforeCommit.size} failed before COMMIT`,
    );
    assert.ok(failedBeforeCommit.size > 0, "the restart made no transaction fail");
    assert.ok(committedAfterRestart > 0, "no transaction committed after the worker came back");
    await assertConsistent();
    const markers = await withClient(async (c) => {
      const r = await c.query("SELECT trim(filler) AS m FROM pgbench_history");
      return new Set(r.rows.map((row) => row.m as string));
    });
    for (const m of committed) assert.ok(markers.has(m), `committed transaction ${m} is missing`);
    for (const m of failedBeforeCommit) assert.ok(!markers.has(m), `failed transaction ${m} was applied`);
  });
});
