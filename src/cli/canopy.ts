#!/usr/bin/env node
// The canopy command: `dev` (embedded cluster of PGlite nodes in this process), `local up|down`
// (a cluster of real PostgreSQL servers under a directory) and `serve` (a coordinator for an
// existing cluster). See DESIGN.md, "Command-line contract".
import { spawn } from "node:child_process";
import net from "node:net";
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import cluster from "node:cluster";
import { availableParallelism, getPriority, setPriority } from "node:os";
import { Coordinator, parseDatabaseUrl, unixSocketPath } from "../server/coordinator.js";
import { clientConnectionCount, exitWithSupervisor, Siblings, superviseProcesses } from "../server/siblings.js";
import { connectionSlotBroker } from "../executor/shared_pool.js";
import { PGliteGateway, PGliteNode } from "../nodes/pglite.js";
import { PostgresGateway } from "../nodes/postgres.js";
import {
  generateSelfSignedCertificate,
  initServer,
  isServerRunning,
  startServer,
  stopServer,
} from "../nodes/pgserver.js";
import { resolveDefaults, settingDefinitions, type SettingValues } from "../settings.js";

const usage = `usage:
  canopy dev [--port 5432] [--workers 2] [--data DIR | --memory] [--set canopy.NAME=VALUE ...]
  canopy local up DIR [--workers 2] [--port 9700] [--fsync off] [--set canopy.NAME=VALUE ...]
  canopy local down DIR
  canopy serve --coordinator-db URL [--port 5432] [--host 127.0.0.1] [--tls-cert FILE --tls-key FILE]
               [--socket-dir DIR] [--node-socket-dir DIR] [--set canopy.NAME=VALUE ...]`;

interface Flags {
  positional: string[];
  values: Map<string, string[]>;
}

function parseFlags(argv: string[]): Flags {
  const positional: string[] = [];
  const values = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) {
      positional.push(a);
      continue;
    }
    const [name, inline] = a.slice(2).split(/=(.*)/s, 2);
    const value = inline ?? (argv[i + 1] !== undefined && !argv[i + 1].startsWith("--") ? argv[++i] : "true");
    values.set(name, [...(values.get(name) ?? []), value]);
  }
  return { positional, values };
}

function flag(f: Flags, name: string, fallback?: string): string | undefined {
  return f.values.get(name)?.at(-1) ?? fallback;
}

function settingsFrom(f: Flags): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of f.values.get("set") ?? []) {
    const eq = s.indexOf("=");
    if (eq < 0) throw new Error(`--set expects canopy.NAME=VALUE, got ${s}`);
    out[s.slice(0, eq).trim().toLowerCase()] = s.slice(eq + 1);
  }
  return out;
}

function portFlag(f: Flags, fallback: number): number {
  const p = Number(flag(f, "port", String(fallback)));
  if (!Number.isInteger(p) || p < 0 || p > 65535) throw new Error(`invalid --port ${flag(f, "port")}`);
  return p;
}

function workerCount(f: Flags): number {
  const n = Number(flag(f, "workers", "2"));
  if (!Number.isInteger(n) || n < 0 || n > 64) throw new Error("--workers must be between 0 and 64");
  return n;
}

/** Stops the coordinator cleanly on SIGINT/SIGTERM. */
function stopOnSignal(coordinator: Coordinator): void {
  const stop = () => {
    void coordinator.stop().finally(() => process.exit(0));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

async function dev(f: Flags): Promise<void> {
  const port = portFlag(f, 5432);
  const workers = workerCount(f);
  const dataDir = f.values.has("memory") ? undefined : flag(f, "data");
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const gateway = new PGliteGateway();
  const coordinatorNode = await PGliteNode.start(
    { name: "localhost", port: port + 1000 },
    dataDir ? path.join(dataDir, "coordinator") : undefined,
  );
  const workerNodes: PGliteNode[] = [];
  for (let i = 0; i < workers; i++) {
    const node = await PGliteNode.start(
      { name: "localhost", port: port + 1 + i },
      dataDir ? path.join(dataDir, `worker${i + 1}`) : undefined,
    );
    gateway.register(node);
    workerNodes.push(node);
  }
  const certDir = dataDir ?? path.join(process.env.TMPDIR ?? "/tmp", `canopy-dev-${process.pid}`);
  const tls = await generateSelfSignedCertificate(certDir).catch(() => undefined);
  const coordinator = new Coordinator({
    database: { kind: "pglite", node: coordinatorNode, database: "postgres", user: "postgres" },
    gateway,
    host: flag(f, "host", "127.0.0.1")!,
    port,
    tls,
    settings: settingsFrom(f),
  });
  await coordinator.start();
  for (const node of workerNodes) {
    await coordinator.adminQuery(
      `INSERT INTO pg_catalog.pg_dist_node (nodename, nodeport, groupid)
       SELECT $1, $2::int, nextval('pg_catalog.pg_dist_groupid_seq')::int
        WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_node WHERE nodename = $1 AND nodeport = $2::int)`,
      [node.address.name, String(node.address.port)],
    );
  }
  stopOnSignal(coordinator);
  const where = dataDir ? `data in ${dataDir}` : "in memory; use --data DIR to keep data";
  process.stdout.write(`canopy ready: ${coordinator.url}\n`);
  process.stderr.write(`embedded cluster: ${workers} workers, ${where}\n`);
}

async function serve(f: Flags): Promise<void> {
  const url = flag(f, "coordinator-db");
  if (!url) throw new Error("serve needs --coordinator-db URL");
  const cert = flag(f, "tls-cert");
  const key = flag(f, "tls-key");
  if (!!cert !== !!key) throw new Error("--tls-cert and --tls-key go together");
  const settings = settingsFrom(f);
  const port = portFlag(f, 5432);
  const socketDir = flag(f, "socket-dir");
  const values = resolveDefaults(settings);
  const processes = coordinatorProcesses(values);
  // Unless set, the processes keep the value they were started at (`nice canopy serve …`).
  if (cluster.isPrimary && "canopy.coordinator_nice" in settings) {
    applyCoordinatorNice(Number(values["canopy.coordinator_nice"]));
  }
  if (processes > 1 && cluster.isPrimary) {
    if (socketDir) rmSync(unixSocketPath(socketDir, port), { force: true });
    const ready = await superviseProcesses(
      processes,
      (line) => process.stderr.write(line + "\n"),
      (directory) => [clientConnectionCount(), connectionSlotBroker(directory)],
    );
    process.stdout.write(`canopy ready: ${ready}\n`);
    return;
  }
  exitWithSupervisor();
  const coordinator = new Coordinator({
    database: parseDatabaseUrl(url),
    gateway: new PostgresGateway(flag(f, "node-socket-dir")),
    host: flag(f, "host", "127.0.0.1")!,
    port,
    socketDir,
    tls: cert && key ? { certFile: cert, keyFile: key } : undefined,
    settings,
    siblings: Siblings.ofThisProcess(),
  });
  await coordinator.start();
  stopOnSignal(coordinator);
  if (cluster.isWorker) coordinator.siblings.ready(coordinator.url);
  else process.stdout.write(`canopy ready: ${coordinator.url}\n`);
}

/**
 * How many processes serve a coordinator: canopy.coordinator_processes, 0 for one per core but
 * one, at least one and at most 8. The coordinator database always shares the machine, and its
 * backends and the kernel's socket work take about a core's worth beside the processes: on two
 * cores one process ran TPC-B-like 10 to 20 % faster than two, spending a quarter less CPU per
 * transaction. Each process holds two connections to the coordinator database and a parser.
 */
function coordinatorProcesses(settings: SettingValues): number {
  const configured = Number(settings["canopy.coordinator_processes"]);
  return configured === 0 ? Math.max(1, Math.min(availableParallelism() - 1, 8)) : configured;
}

/**
 * Sets the process's nice value (canopy.coordinator_nice) before it forks the others, which take it
 * along. One process serves many sessions on one thread, and the kernel shares the CPU by process:
 * where the clients' processes and the nodes' backends (a process per session) run on the same
 * cores, a process at the default weighs as one session against all of them, and each session's
 * every step waits in its queue. Lowering the value needs root or CAP_SYS_NICE; without, the
 * process says so and runs at the value it has.
 */
function applyCoordinatorNice(nice: number): void {
  if (getPriority() === nice) return;
  try {
    setPriority(nice);
  } catch (e) {
    process.stderr.write(
      `canopy: could not set the coordinator's nice value to ${nice} (${(e as Error).message}); it runs at ${getPriority()}\n`,
    );
  }
}

/**
 * The nice value `local up` gives its coordinator unless the cluster's settings name one: every
 * process of that cluster, clients' too, shares the machine's cores (applyCoordinatorNice).
 */
const LOCAL_COORDINATOR_NICE = "-10";

/** What `local up` records about the cluster it created. */
interface LocalCluster {
  port: number;
  workers: number;
  /** The coordinator's --set settings, kept for every later `local up` of the cluster. */
  settings?: Record<string, string>;
}

function clusterPaths(dir: string) {
  return {
    config: path.join(dir, "cluster.json"),
    certs: path.join(dir, "certs"),
    sockets: path.join(dir, "sockets"),
    pid: path.join(dir, "coordinator.pid"),
    log: path.join(dir, "coordinator.log"),
    node: (i: number) => path.join(dir, i === 0 ? "coordinator-db" : `worker${i}`),
  };
}

/**
 * The coordinator database's max_connections: canopy.max_client_connections (as the cluster sets
 * it, or its default) and 100 more for background work and administrators.
 */
function coordinatorDatabaseConnections(settings: Record<string, string> | undefined): number {
  const clients = settings?.["canopy.max_client_connections"];
  return Number(clients ?? settingDefinitions["canopy.max_client_connections"].defaultValue) + 100;
}

async function localUp(f: Flags): Promise<void> {
  const dir = path.resolve(f.positional[2] ?? "");
  if (!f.positional[2]) throw new Error("local up needs a directory");
  const paths = clusterPaths(dir);
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  const cluster: LocalCluster = existsSync(paths.config)
    ? JSON.parse(readFileSync(paths.config, "utf8"))
    : { port: portFlag(f, 9700), workers: workerCount(f), settings: settingsFrom(f) };
  // Another process on the port (another cluster's coordinator) would answer the readiness check
  // below, and be given this cluster's workers: refused before anything is made.
  if (!(await coordinatorAlive(paths.pid))) await ensurePortFree(cluster.port);
  writeFileSync(paths.config, JSON.stringify(cluster, null, 2) + "\n");
  mkdirSync(paths.sockets, { recursive: true });
  chmodSync(paths.sockets, 0o777);
  const { certFile, keyFile } = await generateSelfSignedCertificate(paths.certs);
  for (let i = 0; i <= cluster.workers; i++) {
    const dataDir = paths.node(i);
    const fsync = flag(f, "fsync", "on") !== "off";
    // Every client session holds a connection to the coordinator database: room for
    // canopy.max_client_connections of them, and for the coordinator's own work.
    const maxConnections = i === 0 ? coordinatorDatabaseConnections(cluster.settings) : undefined;
    await initServer({
      dataDir,
      port: cluster.port + 1 + i,
      socketDir: paths.sockets,
      certFile,
      keyFile,
      fsync,
      maxConnections,
    });
    await startServer(dataDir);
  }
  if (!(await coordinatorAlive(paths.pid))) {
    const entry = fileURLToPath(import.meta.url);
    const dbUrl = `postgres://postgres@localhost:${cluster.port + 1}/postgres?host=${encodeURIComponent(paths.sockets)}`;
    const log = openSync(paths.log, "a");
    const child = spawn(
      process.execPath,
      [
        entry,
        "serve",
        "--coordinator-db",
        dbUrl,
        "--port",
        String(cluster.port),
        "--tls-cert",
        certFile,
        "--tls-key",
        keyFile,
        "--socket-dir",
        paths.sockets,
        "--node-socket-dir",
        paths.sockets,
        ...Object.entries({ "canopy.coordinator_nice": LOCAL_COORDINATOR_NICE, ...cluster.settings }).flatMap(
          ([name, value]) => ["--set", `${name}=${value}`],
        ),
      ],
      { detached: true, stdio: ["ignore", log, log] },
    );
    writeFileSync(paths.pid, String(child.pid));
    child.unref();
  }
  const url = `postgres://postgres@127.0.0.1:${cluster.port}/postgres`;
  const client = await connectWithRetry(url, 30_000);
  try {
    await ensureOwnCoordinator(client, cluster.port, paths.sockets);
    for (let i = 1; i <= cluster.workers; i++) {
      const port = cluster.port + 1 + i;
      const r = await client.query("SELECT 1 FROM pg_dist_node WHERE nodename = 'localhost' AND nodeport = $1", [port]);
      if (r.rowCount === 0) await client.query("SELECT canopy_add_node('localhost', $1)", [port]);
    }
  } finally {
    await client.end();
  }
  process.stdout.write(`${url}\n`);
}

async function coordinatorAlive(pidFile: string): Promise<boolean> {
  if (!existsSync(pidFile)) return false;
  const pid = Number(readFileSync(pidFile, "utf8"));
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Throws when something listens on 127.0.0.1:port already. */
async function ensurePortFree(port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", (e: NodeJS.ErrnoException) =>
      reject(
        e.code === "EADDRINUSE"
          ? new Error(`port ${port} on 127.0.0.1 is already in use; choose another with --port`)
          : e,
      ),
    );
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve()));
  });
}

/**
 * Throws unless the coordinator answering on the port serves this directory's coordinator
 * database (one started on the port meanwhile by someone else would not).
 */
async function ensureOwnCoordinator(client: pg.Client, port: number, sockets: string): Promise<void> {
  const identity = "SELECT system_identifier::text AS id FROM pg_catalog.pg_control_system()";
  const own = new pg.Client({ host: sockets, port: port + 1, user: "postgres", database: "postgres" });
  await own.connect();
  try {
    const [theirs, ours] = await Promise.all([client.query(identity), own.query(identity)]);
    if (theirs.rows[0].id !== ours.rows[0].id) {
      throw new Error(
        `port ${port} on 127.0.0.1 is served by another cluster's coordinator; choose another with --port`,
      );
    }
  } finally {
    await own.end();
  }
}

async function connectWithRetry(url: string, timeoutMs: number): Promise<pg.Client> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      return client;
    } catch (e) {
      await client.end().catch(() => {});
      if (Date.now() > deadline) throw new Error(`the coordinator did not start: ${(e as Error).message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function localDown(f: Flags): Promise<void> {
  const dir = path.resolve(f.positional[2] ?? "");
  if (!f.positional[2]) throw new Error("local down needs a directory");
  const paths = clusterPaths(dir);
  if (!existsSync(paths.config)) throw new Error(`${dir} holds no cluster made by canopy local up`);
  const cluster: LocalCluster = JSON.parse(readFileSync(paths.config, "utf8"));
  if (await coordinatorAlive(paths.pid)) {
    const pid = Number(readFileSync(paths.pid, "utf8"));
    process.kill(pid, "SIGTERM");
    for (let i = 0; i < 50 && (await coordinatorAlive(paths.pid)); i++) await new Promise((r) => setTimeout(r, 100));
    if (await coordinatorAlive(paths.pid)) process.kill(pid, "SIGKILL");
  }
  for (let i = 0; i <= cluster.workers; i++) {
    if (await isServerRunning(paths.node(i))) await stopServer(paths.node(i), "fast");
  }
  process.stdout.write(`stopped the cluster in ${dir}\n`);
}

async function main(argv: string[]): Promise<void> {
  const f = parseFlags(argv);
  const [command, sub] = f.positional;
  if (command === "dev") return dev(f);
  if (command === "serve") return serve(f);
  if (command === "local" && sub === "up") return localUp(f);
  if (command === "local" && sub === "down") return localDown(f);
  process.stderr.write(usage + "\n");
  process.exit(command === undefined || command === "help" || f.values.has("help") ? 0 : 2);
}

main(process.argv.slice(2)).catch((e) => {
  process.stderr.write(
    `canopy: ${e instanceof Error ? (process.env.CANOPY_DEBUG ? e.stack : e.message) : String(e)}\n`,
  );
  process.exit(1);
});
