// npm run bench: Canopy beside a plain PostgreSQL on the same machine, in the same run.
//
// A local cluster (2 workers) is started. The plain PostgreSQL is the coordinator's own server,
// reached directly, in a database of its own (`plain`) holding the same pgbench data. Workloads:
// - pass-through: pgbench -S against tables that stay local to the coordinator;
// - router: pgbench -S -M prepared with the pgbench tables distributed (32 shards);
// - TPC-B-like: pgbench's default script over the distributed tables;
// - GROUP BY over 1M rows: an aggregate over pgbench_accounts grouped by a non-distribution column;
// - COPY of 1M rows (pgbench_accounts' rows, text format, through psql) into a distributed table.
// A table goes to the terminal and JSON to bench/results/.
import { execFile, spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { startLocalCluster } from "../test/support/cluster.js";

const run = promisify(execFile);
const durationSeconds = Number(process.env.CANOPY_BENCH_SECONDS ?? 15);
const scale = 10;

interface Result {
  workload: string;
  unit: "tps" | "ms";
  plain: number;
  canopy: number;
  /** Canopy relative to plain: throughput ratio (higher is better) or time ratio (lower is better). */
  ratio: number;
  target: string;
}

async function pgbenchTps(url: string, args: string[]): Promise<number> {
  const { stdout } = await run("pgbench", [...args, url], { timeout: (durationSeconds + 120) * 1000 });
  const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout);
  if (!m) throw new Error(`pgbench printed no tps:\n${stdout}`);
  if (!/number of failed transactions: 0 /.test(stdout)) throw new Error(`pgbench had failures:\n${stdout}`);
  return Number(m[1]);
}

/** The median time of a statement over several runs, after one warm-up run. */
async function medianMs(url: string, sql: string, runs = 5): Promise<number> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    await client.query(sql);
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const start = process.hrtime.bigint();
      await client.query(sql);
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)];
  } finally {
    await client.end();
  }
}

/** Runs psql with a file on its stdin; returns the wall-clock milliseconds. */
function psqlWithInput(url: string, command: string, inputFile: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const fd = openSync(inputFile, "r");
    const start = process.hrtime.bigint();
    const child = spawn("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", command], {
      stdio: [fd, "ignore", "pipe"],
    });
    let err = "";
    child.stderr!.on("data", (c: Buffer) => (err += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      closeSync(fd);
      if (code !== 0) reject(new Error(`psql failed: ${err}`));
      else resolve(Number(process.hrtime.bigint() - start) / 1e6);
    });
  });
}

/** The median time of COPY … FROM STDIN of a file into an emptied table, over three runs. */
async function copyMs(url: string, table: string, file: string): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    await sql(url, [`TRUNCATE ${table}`]);
    times.push(await psqlWithInput(url, `COPY ${table} FROM STDIN`, file));
  }
  times.sort((a, b) => a - b);
  return times[1];
}

async function sql(url: string, statements: string[]): Promise<void> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    for (const s of statements) await client.query(s);
  } finally {
    await client.end();
  }
}

async function main(): Promise<void> {
  const cluster = await startLocalCluster(2);
  const results: Result[] = [];
  try {
    const direct = `postgres://postgres@127.0.0.1:${cluster.coordinatorDbPort}/postgres`;
    const plain = `postgres://postgres@127.0.0.1:${cluster.coordinatorDbPort}/plain`;
    await sql(direct, ["CREATE DATABASE plain"]);
    await run("pgbench", ["-i", "-s", String(scale), "-q", plain], { timeout: 300_000 });
    await run("pgbench", ["-i", "-s", String(scale), "-q", cluster.url], { timeout: 300_000 });
    const tpsWorkload = async (workload: string, args: string[], target: string) => {
      const p = await pgbenchTps(plain, args);
      const c = await pgbenchTps(cluster.url, args);
      results.push({ workload, unit: "tps", plain: p, canopy: c, ratio: c / p, target });
    };
    const selectOnly = (clients: number) => [
      "-n",
      "-S",
      "-M",
      "prepared",
      "-c",
      String(clients),
      "-j",
      String(Math.min(clients, 2)),
      "-T",
      String(durationSeconds),
    ];

    await tpsWorkload("pass-through pgbench -S -M prepared, 8 clients", selectOnly(8), "");

    await sql(cluster.url, [
      "SELECT create_distributed_table('pgbench_accounts', 'aid', shard_count => 32)",
      "SELECT create_distributed_table('pgbench_branches', 'bid', shard_count => 32)",
      "SELECT create_distributed_table('pgbench_tellers', 'tid', shard_count => 32)",
      "SELECT create_distributed_table('pgbench_history', 'aid', shard_count => 32)",
    ]);
    await tpsWorkload("router pgbench -S -M prepared, 8 clients", selectOnly(8), "≥ 0.25");
    await tpsWorkload("router pgbench -S -M prepared, 1 client", selectOnly(1), "latency ≤ 4× (ratio ≥ 0.25)");
    await tpsWorkload(
      "TPC-B-like pgbench -M prepared, 8 clients",
      ["-n", "-M", "prepared", "-c", "8", "-j", "2", "-T", String(durationSeconds)],
      "≥ 0.2",
    );

    const groupBy =
      "SELECT bid, count(*), sum(abalance), avg(abalance), max(filler) FROM pgbench_accounts GROUP BY bid";
    await sql(plain, ["VACUUM ANALYZE pgbench_accounts"]);
    const p = await medianMs(plain, groupBy);
    const c = await medianMs(cluster.url, groupBy);
    results.push({
      workload: `GROUP BY over ${scale * 100000} rows (non-distribution column)`,
      unit: "ms",
      plain: p,
      canopy: c,
      ratio: c / p,
      target: "time ≤ 1.5×",
    });

    // COPY: pgbench_accounts' rows as text, into an empty table with the same columns and key.
    const data = join(tmpdir(), `canopy-bench-copy-${process.pid}.txt`);
    try {
      await run("psql", ["-X", "-q", "-d", plain, "-c", `\\copy pgbench_accounts TO '${data}'`], { timeout: 300_000 });
      const create = "CREATE TABLE copy_accounts (aid int PRIMARY KEY, bid int, abalance int, filler char(84))";
      await sql(plain, [create]);
      await sql(cluster.url, [create, "SELECT create_distributed_table('copy_accounts', 'aid', shard_count => 32)"]);
      const cp = await copyMs(plain, "copy_accounts", data);
      const cc = await copyMs(cluster.url, "copy_accounts", data);
      results.push({
        workload: `COPY of ${scale * 100000} rows into a distributed table (text)`,
        unit: "ms",
        plain: cp,
        canopy: cc,
        ratio: cc / cp,
        target: "time ≤ 1.3×",
      });
    } finally {
      rmSync(data, { force: true });
    }
  } finally {
    await cluster.stop();
  }
  console.log(`\n${"workload".padEnd(58)} ${"plain".padStart(10)} ${"canopy".padStart(10)}   ratio   target`);
  for (const r of results) {
    const fmt = (v: number) => (r.unit === "ms" ? `${v.toFixed(1)} ms` : `${v.toFixed(0)} tps`);
    console.log(
      `${r.workload.padEnd(58)} ${fmt(r.plain).padStart(10)} ${fmt(r.canopy).padStart(10)}   ${r.ratio.toFixed(2).padStart(5)}   ${r.target}`,
    );
  }
  mkdirSync("bench/results", { recursive: true });
  const file = `bench/results/${new Date().toISOString().replace(/[:.]/g, "-")}.json`;
  writeFileSync(
    file,
    JSON.stringify({ date: new Date().toISOString(), durationSeconds, scale, results }, null, 2) + "\n",
  );
  console.log(`\nsaved ${file}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
