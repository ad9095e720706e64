// A coordinator of several processes (canopy.coordinator_processes; siblings.ts) behaves as one:
// clients spread over the processes (node:cluster hands connections out in turn) see each other's
// metadata changes at once, canopy_stat_statements and canopy_stat_activity cover every process,
// cancels and pg_cancel_backend / pg_terminate_backend reach a session in another process,
// canopy.max_client_connections counts all processes' clients, and a process that dies is started
// again while the others keep serving, even while the supervisor was sending it a message. Without
// the setting, a coordinator runs one process per core but one.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { execFileSync, spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import pg from "pg";
import { startLocalCluster, type TestCluster } from "../support/cluster.js";
import { connect, outcome, sendCancel } from "../support/client.js";
import { until } from "../support/wait.js";

const PROCESSES = 3;
const MAX_CLIENTS = 12;
/** Enough clients that every process serves two of them. */
const CLIENTS = 2 * PROCESSES;

const pidOf = (c: pg.Client) => (c as unknown as { processID: number }).processID;

describe("a coordinator of several processes (local cluster)", () => {
  let cluster: TestCluster;
  let clients: pg.Client[] = [];

  before(async () => {
    cluster = await startLocalCluster(2, {
      "canopy.coordinator_processes": String(PROCESSES),
      "canopy.max_client_connections": String(MAX_CLIENTS),
    });
    for (let i = 0; i < CLIENTS; i++) clients.push(await connect(cluster.url));
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
    await cluster?.stop();
  });

  /** Connects once the coordinator has counted a client that just left (53300 until then). */
  const connectWhenFree = () =>
    until(
      () => connect(cluster.url).catch((e: pg.DatabaseError) => (e.code === "53300" ? undefined : Promise.reject(e))),
      10_000,
      "a free client connection",
    );

  /** The coordinator processes under the supervisor whose pid `local up` recorded. */
  async function coordinatorProcesses(): Promise<number[]> {
    const supervisor = (await readFile(join(cluster.dir!, "coordinator.pid"), "utf8")).trim();
    const out = execFileSync("ps", ["-o", "pid=", "--ppid", supervisor]).toString();
    return out
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map(Number);
  }

  test("the supervisor runs canopy.coordinator_processes processes", async () => {
    assert.equal((await coordinatorProcesses()).length, PROCESSES);
  });

  /**
   * Runs `check` without the coordinator database's notifications (the processes' LISTEN
   * connections ended), so that what it sees is the processes' own hand-over of metadata changes
   * (Session.metadataChangeEnded), not a race; then waits for the processes to listen again.
   */
  async function withoutNotifications(check: () => Promise<void>): Promise<void> {
    const db = await connect(`postgres://postgres@127.0.0.1:${cluster.coordinatorDbPort}/postgres`);
    const listening = `FROM pg_stat_activity WHERE query = 'LISTEN canopy_metadata_changed'`;
    try {
      const r = await db.query(`SELECT pg_terminate_backend(pid) ${listening}`);
      assert.equal(r.rowCount, PROCESSES);
      await check();
      // They listen again after a pause of 2 s.
      await until(
        async () => (await db.query(`SELECT count(*)::int AS n ${listening}`)).rows[0].n === PROCESSES || undefined,
        20_000,
        "the processes to listen again",
      );
    } finally {
      await db.end();
    }
  }

  test("a metadata change committed through one process is seen at once through every other", async () => {
    await withoutNotifications(checkMetadataHandOver);
  });

  test("a worker activated through one process is written at once through every other", async () => {
    const [, port] = cluster.workerPorts;
    await clients[0].query("CREATE TABLE everywhere (id int PRIMARY KEY)");
    await clients[0].query("SELECT create_reference_table('everywhere')");
    await clients[0].query("SELECT canopy_disable_node('localhost', $1)", [port]);
    await withoutNotifications(async () => {
      // canopy_activate_node copies the reference tables, reading the metadata in its transaction.
      await clients[0].query("SELECT canopy_activate_node('localhost', $1)", [port]);
      await Promise.all(clients.slice(1).map((c, i) => c.query("INSERT INTO everywhere VALUES ($1)", [i])));
    });
    const [{ shardid }] = (
      await clients[0].query("SELECT shardid FROM pg_dist_shard WHERE logicalrelid = 'everywhere'::regclass")
    ).rows;
    const worker = await connect(`postgres://postgres@127.0.0.1:${port}/postgres`);
    try {
      const r = await worker.query(`SELECT count(*)::int AS n FROM everywhere_${shardid}`);
      assert.equal(r.rows[0].n, CLIENTS - 1);
    } finally {
      await worker.end();
    }
  });

  async function checkMetadataHandOver(): Promise<void> {
    for (let round = 0; round < 4; round++) {
      const [changer, ...others] = [...clients.slice(round), ...clients.slice(0, round)];
      const table = `spread_${round}`;
      await changer.query(`CREATE TABLE ${table} (id int PRIMARY KEY, v int)`);
      await changer.query(`INSERT INTO ${table} SELECT g, g FROM generate_series(1, 50) g`);
      await changer.query(`SELECT create_distributed_table('${table}', 'id', shard_count => 4)`);
      // Right after the commit, before any notification could be relied on.
      const counts = await Promise.all(others.map((c) => c.query(`SELECT count(*)::int AS n FROM ${table}`)));
      assert.deepEqual(
        counts.map((r) => r.rows[0].n),
        others.map(() => 50),
      );
      await changer.query(`SELECT undistribute_table('${table}')`);
      const rows = await Promise.all(others.map((c, i) => c.query(`SELECT v FROM ${table} WHERE id = $1`, [i + 1])));
      assert.deepEqual(
        rows.map((r) => r.rows[0]?.v),
        others.map((_, i) => i + 1),
      );
    }
  }

  test("canopy_stat_statements adds up the calls of every process; its reset clears them all", async () => {
    await clients[0].query("CREATE TABLE counted (id int PRIMARY KEY)");
    await clients[0].query("SELECT create_distributed_table('counted', 'id')");
    await clients[0].query("SELECT canopy_stat_statements_reset()");
    for (const c of clients) for (let i = 0; i < 3; i++) await c.query("SELECT count(*) FROM counted");
    const calls = async (c: pg.Client) =>
      (
        await c.query(
          "SELECT coalesce(sum(calls), 0)::int AS n FROM canopy_stat_statements WHERE query = 'SELECT count(*) FROM counted'",
        )
      ).rows[0].n;
    assert.equal(await calls(clients[1]), 3 * CLIENTS);
    await clients[2].query("SELECT canopy_stat_statements_reset()");
    for (const c of clients) assert.equal(await calls(c), 0);
  });

  test("canopy_stat_activity shows the sessions of every process", async () => {
    const r = await clients[0].query("SELECT DISTINCT pid FROM canopy_stat_activity");
    const shown = new Set(r.rows.map((row) => row.pid));
    for (const c of clients) assert.ok(shown.has(pidOf(c)), `session ${pidOf(c)} missing`);
  });

  test("a CancelRequest and pg_cancel_backend reach a session served by another process", async () => {
    await clients[0].query("CREATE TABLE sleepy (id int PRIMARY KEY)");
    await clients[0].query("INSERT INTO sleepy VALUES (1), (2), (3)");
    await clients[0].query("SELECT create_distributed_table('sleepy', 'id', shard_count => 2)");
    const sleeping = "SELECT count(*) FROM sleepy WHERE pg_sleep(30) IS NOT NULL";
    for (const [i, victim] of clients.slice(1).entries()) {
      const running = outcome(victim.query(sleeping));
      await until(
        async () =>
          (
            await clients[0].query("SELECT 1 FROM canopy_stat_activity WHERE pid = $1 AND state = 'active'", [
              pidOf(victim),
            ])
          ).rowCount! > 0 || undefined,
        10_000,
        "the statement to run",
      );
      if (i % 2 === 0) await sendCancel(cluster.port!, victim);
      else
        assert.equal((await clients[0].query("SELECT pg_cancel_backend($1) AS ok", [pidOf(victim)])).rows[0].ok, true);
      const { error, ms } = await running;
      assert.equal(error?.code, "57014");
      const how = i % 2 === 0 ? "CancelRequest" : "pg_cancel_backend";
      assert.ok(ms < 15_000, `the ${how} of client ${i + 1} took ${ms} ms`);
      assert.equal((await victim.query("SELECT count(*)::int AS n FROM sleepy")).rows[0].n, 3);
    }
  });

  test("pg_terminate_backend ends a session of another process and waits for it", async () => {
    const victim = await connect(cluster.url);
    const ended = new Promise((resolve) => victim.once("end", resolve));
    const r = await clients[0].query("SELECT pg_terminate_backend($1, 5000) AS ok", [pidOf(victim)]);
    assert.equal(r.rows[0].ok, true);
    await ended;
    const after = await clients[1].query("SELECT count(*)::int AS n FROM canopy_stat_activity WHERE pid = $1", [
      pidOf(victim),
    ]);
    assert.equal(after.rows[0].n, 0);
  });

  test("canopy.max_client_connections counts the clients of all processes", async () => {
    const extra: pg.Client[] = [];
    try {
      while (clients.length + extra.length < MAX_CLIENTS) extra.push(await connect(cluster.url));
      const refused = await outcome(connect(cluster.url));
      assert.equal(refused.error?.code, "53300");
      await extra.pop()!.end();
      extra.push(await connectWhenFree());
    } finally {
      await Promise.all(extra.map((c) => c.end().catch(() => {})));
    }
  });

  /** Once every process runs again: `count` new clients in place of the old ones. */
  async function newClientsOnceRestarted(count: number): Promise<void> {
    await until(
      async () => ((await coordinatorProcesses()).length === PROCESSES ? true : undefined),
      30_000,
      "the process to be started again",
    );
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
    clients = [];
    for (let i = 0; i < count; i++) clients.push(await connectWhenFree());
  }

  test("a process that dies loses its sessions only; it is started again", async () => {
    const before = await coordinatorProcesses();
    process.kill(before[0], "SIGKILL");
    const outcomes = await Promise.all(clients.map((c) => outcome(c.query("SELECT count(*) FROM counted"))));
    const lost = outcomes.filter((o) => o.error !== null).length;
    assert.ok(
      lost > 0 && lost < CLIENTS,
      `${lost} of ${CLIENTS} sessions lost: ${outcomes.map((o) => o.error?.message).join("; ")}`,
    );
    // The lost sessions no longer count against canopy.max_client_connections.
    await newClientsOnceRestarted(MAX_CLIENTS);
    for (const c of clients) assert.equal((await c.query("SELECT count(*)::int AS n FROM counted")).rows[0].n, 0);
  });

  test("a process killed while the supervisor relays questions to it: the others go on serving", async () => {
    const supervisor = Number((await readFile(join(cluster.dir!, "coordinator.pid"), "utf8")).trim());
    for (let round = 0; round < 6; round++) {
      const [victim] = await coordinatorProcesses();
      // Each question about canopy_stat_activity goes from the supervisor to every process.
      const asking = clients.map(async (c) => {
        for (let i = 0; i < 40; i++)
          if ((await outcome(c.query("SELECT count(*) FROM canopy_stat_activity"))).error) return;
      });
      setTimeout(() => process.kill(victim, "SIGKILL"), 5 * round);
      await Promise.all(asking);
      process.kill(supervisor, 0); // throws if the supervisor is gone
      await newClientsOnceRestarted(CLIENTS);
    }
  });
});

describe("the default number of coordinator processes (local cluster)", () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await startLocalCluster(1);
  });

  after(async () => {
    await cluster?.stop();
  });

  test("one per core but one, at least one: a core is left to the coordinator database", async () => {
    const expected = Math.max(1, Math.min(availableParallelism() - 1, 8));
    // Each process listens for metadata changes on a connection of its own: as many as expected
    // once all have started, and no more.
    const db = await connect(`postgres://postgres@127.0.0.1:${cluster.coordinatorDbPort}/postgres`);
    try {
      const listening = await until(
        async () => {
          const r = await db.query(
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = 'LISTEN canopy_metadata_changed'",
          );
          return r.rows[0].n >= expected ? (r.rows[0].n as number) : undefined;
        },
        20_000,
        "the processes to listen",
      );
      assert.equal(listening, expected);
    } finally {
      await db.end();
    }
    // A process of its own, with no supervisor, when there is one.
    const pid = (await readFile(join(cluster.dir!, "coordinator.pid"), "utf8")).trim();
    // ps exits 1 when it lists nothing.
    const children = spawnSync("ps", ["-o", "pid=", "--ppid", pid]).stdout.toString().trim();
    assert.equal(children === "" ? 0 : children.split("\n").length, expected === 1 ? 0 : expected);
  });
});
