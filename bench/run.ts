// npm run bench [-- --peer URL]: Canopy beside a plain PostgreSQL on the same machine, in the same run.
//
// First a local cluster (2 workers). The plain PostgreSQL is the coordinator's own server, reached
// directly, in a database of its own (`plain`) holding the same pgbench data. Workloads:
// - pass-through: pgbench -S against tables that stay local to the coordinator;
// - router SELECT: pgbench -S -M prepared with the pgbench tables distributed (32 shards), 8 and 1
//   clients, and with the simple protocol (values in the statements' texts), 8 clients; a router
//   SELECT whose text also carries a string value that changes, simple protocol, 8 clients;
// - router INSERT: a pgbench script inserting one row per transaction into pgbench_history
//   (distributed by aid), 8 clients;
// - TPC-B-like: pgbench's default script over the distributed tables, -M prepared and -M simple;
// - idle connections: 500 connections held open while 8 clients run pgbench -S; every one must
//   still answer SELECT 1 afterwards;
// - GROUP BY over 1M rows: an aggregate over pgbench_accounts grouped by a non-distribution column;
// - a count over 1M rows filtered on an expression of each row compared with now();
// - COPY of 1M rows (pgbench_accounts' rows, text format, through psql) into a distributed table.
// Then the embedded cluster (`canopy dev --memory`, 2 PGlite workers) with the same data and all
// workloads but pass-through and TPC-B-like (see distributedWorkloads), beside the plain
// PostgreSQL figures of the first part.
// `--peer URL` runs every workload also against that server, in tables of its own that the bench
// replaces (pgbench_* and canopy_bench_copy), as a third column.
//
// A table goes to the terminal, JSON and a Markdown table to bench/results/. The run exits 1 if
// any measurement failed (the others are still reported). Environment:
//   CANOPY_BENCH_SECONDS  length of each timed pgbench run (10)
//   CANOPY_BENCH_ROUNDS   timed runs per system of each pgbench workload but the idle-connections
//                         one (3): the systems take turns, in alternating order, and each one's
//                         median is compared, so that a slow spell of the machine (other tenants
//                         of its host) weighs on both sides alike rather than on whichever ran in it
//   CANOPY_BENCH_SCALE    pgbench scale: 100 000 pgbench_accounts rows each (10)
//   CANOPY_BENCH_IDLE     idle connections of the idle-connections workload (500)
//   CANOPY_BENCH_RESULTS  directory of the JSON and Markdown results (bench/results)
// With the defaults a run takes about 17 minutes on a 2-core machine, 21 with --peer.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startEmbeddedCluster, startLocalCluster, type TestCluster } from "../test/support/cluster.js";
import { copyMs, median, medianMs, pgbenchTps, run, sql, withIdleConnections } from "./measure.js";

const seconds = Number(process.env.CANOPY_BENCH_SECONDS ?? 10);
const rounds = Number(process.env.CANOPY_BENCH_ROUNDS ?? 3);
const warmUpSeconds = 5;
const scale = Number(process.env.CANOPY_BENCH_SCALE ?? 10);
const idleConnections = Number(process.env.CANOPY_BENCH_IDLE ?? 500);
const resultsDir = process.env.CANOPY_BENCH_RESULTS ?? "bench/results";
const rows = scale * 100_000;
const shards = 32;
const busyClients = 8;

type Section = "local" | "embedded";
const systems = ["plain", "peer", "canopy"] as const;
type System = (typeof systems)[number];

interface Result {
  cluster: Section;
  workload: string;
  unit: "tps" | "ms";
  plain: number | null;
  canopy: number | null;
  /** Present when the run had --peer. */
  peer?: number | null;
  /** Canopy relative to plain: throughput ratio (higher is better) or time ratio (lower is better). */
  ratio: number | null;
  target: string;
  /** Each system's figure in each round, for the workloads measured in rounds (medians above). */
  rounds?: Partial<Record<System, (number | null)[]>>;
  /** Why a figure is null. */
  errors?: Partial<Record<System, string>>;
}

interface Workload {
  name: string;
  unit: "tps" | "ms";
  target: string;
  measure(url: string): Promise<number>;
  /** Set for workloads measured in rounds (CANOPY_BENCH_ROUNDS): run once before the first. */
  warmUp?(url: string): Promise<unknown>;
}

/** Where the files the workloads read live for the run. */
interface Files {
  insertScript: string;
  stringScript: string;
  copyData: string;
}

const results: Result[] = [];

/** pgbench options shared by the timed runs: no vacuum, prepared statements, `-j` up to 2 (the cores). */
function pgbenchArgs(clients: number, ...extra: string[]): string[] {
  return [
    "-n",
    "-M",
    "prepared",
    "-c",
    String(clients),
    "-j",
    String(Math.min(clients, 2)),
    "-T",
    String(seconds),
    ...extra,
  ];
}

/** The same options with the simple query protocol (pgbench's default): each statement's values in its text. */
function simpleProtocol(args: string[]): string[] {
  return args.map((a) => (a === "prepared" ? "simple" : a));
}

/**
 * A pgbench workload's throughput, measured in rounds after a warm-up run of the same script on
 * the same system (both systems alike): the first seconds after loading, with cold caches and new
 * connections, are not what is compared.
 */
function tpsWorkload(name: string, args: string[], target = ""): Workload {
  return {
    name,
    unit: "tps",
    target,
    warmUp: (url) => pgbenchTps(url, [...args, "-T", String(warmUpSeconds)], warmUpSeconds),
    measure: (url) => pgbenchTps(url, args, seconds),
  };
}

/** One row into pgbench_history per transaction, routed by aid, as TPC-B's last statement does. */
function insertScript(): string {
  return [
    `\\set aid random(1, ${rows})`,
    `\\set bid random(1, ${scale})`,
    `\\set tid random(1, ${10 * scale})`,
    `\\set delta random(-5000, 5000)`,
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP);",
    "",
  ].join("\n");
}

/**
 * A router SELECT whose text carries a string value that changes with each execution, as clients
 * writing values into the text (psycopg2, Django) send names, UUIDs and dates: run over the simple
 * protocol, each text differs in a number and a string.
 */
function stringScript(): string {
  return [
    `\\set aid random(1, ${rows})`,
    "SELECT abalance FROM pgbench_accounts WHERE aid = :aid AND filler <> 'key-:aid';",
    "",
  ].join("\n");
}

const passThrough = tpsWorkload("pass-through pgbench -S -M prepared, 8 clients", pgbenchArgs(busyClients, "-S"));

/** The workloads over the distributed pgbench tables, in the order they run. */
function distributedWorkloads(cluster: Section, files: Files): Workload[] {
  const groupBy = "SELECT bid, count(*), sum(abalance), avg(abalance), max(filler) FROM pgbench_accounts GROUP BY bid";
  const nowFilter =
    "SELECT count(*) FROM pgbench_accounts WHERE timestamptz '2020-01-01' + aid * interval '1 minute' > now() - interval '7 years'";
  return [
    tpsWorkload("router pgbench -S -M prepared, 8 clients", pgbenchArgs(busyClients, "-S"), "≥ 0.25"),
    tpsWorkload("router pgbench -S -M prepared, 1 client", pgbenchArgs(1, "-S"), "latency ≤ 4× (ratio ≥ 0.25)"),
    tpsWorkload("router pgbench -S -M simple, 8 clients", simpleProtocol(pgbenchArgs(busyClients, "-S"))),
    tpsWorkload(
      "router SELECT with a string value in its text, -M simple, 8 clients",
      simpleProtocol(pgbenchArgs(busyClients, "-f", files.stringScript)),
    ),
    tpsWorkload(
      "router INSERT of one pgbench_history row, -M prepared, 8 clients",
      pgbenchArgs(busyClients, "-f", files.insertScript),
    ),
    // On the embedded cluster a session in a transaction block holds the coordinator database's
    // one backend until the block ends, and pgbench prepares each statement with a blocking call:
    // a pgbench thread serving several clients would wait in one client's prepare for the block
    // another of its own clients has open. One thread per client there.
    tpsWorkload(
      "TPC-B-like pgbench -M prepared, 8 clients",
      [...pgbenchArgs(busyClients), ...(cluster === "embedded" ? ["-j", String(busyClients)] : [])],
      "≥ 0.2",
    ),
    tpsWorkload(
      "TPC-B-like pgbench -M simple (pgbench's default), 8 clients",
      simpleProtocol([...pgbenchArgs(busyClients), ...(cluster === "embedded" ? ["-j", String(busyClients)] : [])]),
    ),
    {
      name: `${idleConnections} idle connections + router pgbench -S -M prepared, 8 clients`,
      unit: "tps",
      target: "no errors",
      measure: (url) =>
        withIdleConnections(url, idleConnections, () => pgbenchTps(url, pgbenchArgs(busyClients, "-S"), seconds)),
    },
    {
      name: `GROUP BY over ${rows} rows (non-distribution column)`,
      unit: "ms",
      target: "time ≤ 1.5×",
      // After the write workloads. On Canopy VACUUM acts on the coordinator's empty shell only, not
      // on the shards: if anything, this favours the plain side.
      measure: async (url) => {
        await sql(url, ["VACUUM ANALYZE pgbench_accounts"]);
        return medianMs(url, groupBy);
      },
    },
    {
      // now() is the coordinator's: each shard is given its value and filters and counts its own rows.
      name: `count(*) over ${rows} rows filtered on now()`,
      unit: "ms",
      target: "time ≤ 1.5×",
      measure: (url) => medianMs(url, nowFilter),
    },
    {
      name: `COPY of ${rows} rows into a distributed table (text)`,
      unit: "ms",
      target: "time ≤ 1.3×",
      measure: (url) => copyMs(url, "canopy_bench_copy", files.copyData),
    },
  ];
}

/**
 * Measures each workload on each system given a URL: in turn, or in rounds (Workload.warmUp) where
 * the systems take turns, each round in the other order, and each one's median counts. The
 * systems without a URL (the embedded section's plain and peer) take the figure of the local
 * section. A failure is recorded and reported, not thrown, so the other figures survive it.
 */
async function measureAll(cluster: Section, workloads: Workload[], urls: Partial<Record<System, string>>) {
  for (const w of workloads) {
    const local = results.find((r) => r.cluster === "local" && r.workload === w.name);
    const r: Result = {
      cluster,
      workload: w.name,
      unit: w.unit,
      plain: null,
      canopy: null,
      ratio: null,
      target: w.target,
    };
    const measured = systems.filter((system) => urls[system] !== undefined);
    for (const system of systems) {
      if (urls[system] === undefined && local && system in local) r[system] = local[system] ?? null;
    }
    const attempt = async (system: System, f: (url: string) => Promise<number>): Promise<number | null> => {
      if (r.errors?.[system] !== undefined) return null;
      try {
        return await f(urls[system]!);
      } catch (e) {
        r.errors = { ...r.errors, [system]: (e as Error).message };
        return null;
      }
    };
    if (w.warmUp) {
      const figures: Partial<Record<System, (number | null)[]>> = {};
      for (const system of measured) {
        figures[system] = [];
        await attempt(system, async (url) => (await w.warmUp!(url), 0));
      }
      for (let round = 0; round < rounds; round++) {
        for (const system of round % 2 === 0 ? measured : [...measured].reverse()) {
          figures[system]!.push(await attempt(system, w.measure));
        }
      }
      for (const system of measured) r[system] = r.errors?.[system] ? null : median(figures[system]! as number[]);
      r.rounds = figures;
    } else {
      for (const system of measured) r[system] = await attempt(system, w.measure);
    }
    if (r.canopy !== null && r.plain) r.ratio = r.canopy / r.plain;
    results.push(r);
    console.log(`${cluster}: ${w.name}: ${formatRow(r).join("  ")}`);
    for (const [system, message] of Object.entries(r.errors ?? {})) console.error(`  ${system} failed: ${message}`);
  }
}

async function initPgbench(url: string): Promise<void> {
  await run("pgbench", ["-i", "-s", String(scale), "-q", url], { timeout: 600_000 });
}

async function distribute(url: string): Promise<void> {
  await sql(url, [
    `SELECT create_distributed_table('pgbench_accounts', 'aid', shard_count => ${shards})`,
    `SELECT create_distributed_table('pgbench_branches', 'bid', shard_count => ${shards})`,
    `SELECT create_distributed_table('pgbench_tellers', 'tid', shard_count => ${shards})`,
    `SELECT create_distributed_table('pgbench_history', 'aid', shard_count => ${shards})`,
    // pgbench -i vacuums the tables it fills, the plain side's among them; the shards the rows
    // moved into get the same, rather than autovacuum's work during the first timed runs.
    "SELECT run_command_on_workers('VACUUM ANALYZE')",
  ]);
}

/** The COPY workload's table: pgbench_accounts' columns and key; distributed on Canopy. */
async function createCopyTable(url: string, distributed: boolean): Promise<void> {
  await sql(url, [
    "DROP TABLE IF EXISTS canopy_bench_copy",
    "CREATE TABLE canopy_bench_copy (aid int PRIMARY KEY, bid int, abalance int, filler char(84))",
    ...(distributed ? [`SELECT create_distributed_table('canopy_bench_copy', 'aid', shard_count => ${shards})`] : []),
  ]);
}

async function benchLocal(peer: string | undefined, files: Files): Promise<void> {
  const cluster = await startLocalCluster(2);
  try {
    const direct = `postgres://postgres@127.0.0.1:${cluster.coordinatorDbPort}/postgres`;
    const plain = `postgres://postgres@127.0.0.1:${cluster.coordinatorDbPort}/plain`;
    await sql(direct, ["CREATE DATABASE plain"]);
    const urls = { plain, peer, canopy: cluster.url };
    const references = peer ? [plain, peer] : [plain];
    for (const url of [...references, cluster.url]) await initPgbench(url);
    await run("psql", ["-X", "-q", "-d", plain, "-c", `\\copy pgbench_accounts TO '${files.copyData}'`], {
      timeout: 300_000,
    });
    await measureAll("local", [passThrough], urls);
    await distribute(cluster.url);
    for (const url of references) await createCopyTable(url, false);
    await createCopyTable(cluster.url, true);
    await measureAll("local", distributedWorkloads("local", files), urls);
  } finally {
    await cluster.stop();
  }
}

async function benchEmbedded(files: Files): Promise<void> {
  const cluster = await startEmbeddedCluster(2);
  try {
    await initPgbench(cluster.url);
    await distribute(cluster.url);
    await createCopyTable(cluster.url, true);
    await measureAll("embedded", distributedWorkloads("embedded", files), { canopy: cluster.url });
  } finally {
    await cluster.stop();
  }
}

function formatRow(r: Result): string[] {
  const fmt = (v: number | null | undefined) =>
    v === null || v === undefined ? "error" : r.unit === "ms" ? `${v.toFixed(1)} ms` : `${v.toFixed(0)} tps`;
  const figures = [fmt(r.plain), fmt(r.canopy), ...("peer" in r ? [fmt(r.peer)] : [])];
  return [...figures, r.ratio === null ? "-" : r.ratio.toFixed(2)];
}

const sectionTitles: Record<Section, string> = {
  local: "local cluster (2 PostgreSQL workers)",
  embedded: "embedded cluster (2 PGlite workers; the other columns as above)",
};

function printTable(peer: boolean): void {
  const header = ["plain", "canopy", ...(peer ? ["peer"] : []), "ratio"];
  for (const section of ["local", "embedded"] as const) {
    console.log(`\n${sectionTitles[section].padEnd(70)} ${header.map((h) => h.padStart(11)).join(" ")}   target`);
    for (const r of results.filter((x) => x.cluster === section)) {
      console.log(
        `  ${r.workload.padEnd(68)} ${formatRow(r)
          .map((c) => c.padStart(11))
          .join(" ")}   ${r.target}`,
      );
    }
  }
}

/** The table as the README shows it. */
function markdownTable(peer: boolean): string {
  const header = ["workload", "plain PostgreSQL", "Canopy", ...(peer ? ["peer"] : []), "ratio", "target"];
  const lines: string[] = [];
  for (const section of ["local", "embedded"] as const) {
    lines.push(`**${sectionTitles[section]}**`, "", `| ${header.join(" | ")} |`);
    lines.push(
      `| --- | ${header
        .slice(1, -1)
        .map(() => "---:")
        .join(" | ")} | --- |`,
    );
    for (const r of results.filter((x) => x.cluster === section)) {
      lines.push(`| ${[r.workload, ...formatRow(r), r.target].join(" | ")} |`);
    }
    lines.push("");
  }
  return lines.join("\n");
}

/** The peer's URL without its password, for the results. */
function withoutPassword(url: string): string {
  const u = new URL(url);
  u.password = "";
  return u.toString();
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { peer: { type: "string" } } });
  const peer = values.peer;
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), "canopy-bench-"));
  const files = {
    insertScript: join(work, "insert.sql"),
    stringScript: join(work, "string.sql"),
    copyData: join(work, "accounts.txt"),
  };
  writeFileSync(files.insertScript, insertScript());
  writeFileSync(files.stringScript, stringScript());
  try {
    await benchLocal(peer, files);
    await benchEmbedded(files);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  printTable(peer !== undefined);
  const elapsedSeconds = Math.round((Date.now() - started) / 1000);
  mkdirSync(resultsDir, { recursive: true });
  const date = new Date().toISOString();
  const base = join(resultsDir, date.replace(/[:.]/g, "-"));
  const summary = {
    date,
    durationSeconds: seconds,
    scale,
    idleConnections,
    peer: peer && withoutPassword(peer),
    elapsedSeconds,
    results,
  };
  writeFileSync(`${base}.json`, JSON.stringify(summary, null, 2) + "\n");
  writeFileSync(`${base}.md`, markdownTable(peer !== undefined));
  console.log(`\nsaved ${base}.json and ${base}.md; the run took ${elapsedSeconds} s`);
  if (results.some((r) => r.errors)) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
