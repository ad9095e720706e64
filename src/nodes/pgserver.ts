// Manages real local PostgreSQL servers (initdb, configuration, start/stop, TLS
// certificates and free-port discovery) used as Canopy data nodes and in tests.
//
// PostgreSQL refuses to run as root, so when this process is root every server
// binary is spawned as the `postgres` OS user. That user must be able to traverse
// every parent of the data and socket directories: use paths under /tmp (or
// another world-traversable location), never under /root (mode 0700).

import { execFile, type ExecFileOptions } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { chmod, chown, copyFile, mkdir, open, readFile, rename, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";

const PG_ROOT = "/usr/lib/postgresql";
const INCLUDE_FILE = "canopy.conf";
const INCLUDE_LINE = `include_if_exists = '${INCLUDE_FILE}'`;

/** Options describing how a local PostgreSQL server is initialized and configured. */
export interface ServerOptions {
  dataDir: string;
  port: number;
  socketDir: string;
  certFile: string;
  keyFile: string;
  /**
   * Default true; false also disables full_page_writes. synchronous_commit stays on: a commit is
   * acknowledged once its WAL is written (not synced), so a server process that crashes loses no
   * acknowledged commit, only a machine that does.
   */
  fsync?: boolean;
  /** Default 300. */
  maxConnections?: number;
  /** Extra postgresql.conf settings, written verbatim (values are quoted when needed). */
  extraConf?: Record<string, string>;
}

interface ExecResult {
  stdout: string;
  stderr: string;
}

class ExecError extends Error {
  constructor(
    message: string,
    readonly code: number | string | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}

/** Runs a command and resolves with its output; rejects with an ExecError carrying the output. */
function run(file: string, args: string[], options: ExecFileOptions = {}): Promise<ExecResult> {
  return new Promise((resolvePromise, reject) => {
    execFile(file, args, { ...options, encoding: "utf8", maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const out = String(stdout ?? "");
      const errOut = String(stderr ?? "");
      if (err) {
        const code = (err as NodeJS.ErrnoException & { code?: number | string }).code ?? null;
        const detail = errOut.trim() || out.trim() || err.message;
        reject(new ExecError(`${file} ${args.join(" ")} failed (${String(code)}): ${detail}`, code, out, errOut));
      } else {
        resolvePromise({ stdout: out, stderr: errOut });
      }
    });
  });
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

interface PgIdentity {
  uid: number;
  gid: number;
}

let pgIdentityPromise: Promise<PgIdentity> | undefined;

/** Looks up (once) the uid/gid of the `postgres` OS user. */
function postgresIdentity(): Promise<PgIdentity> {
  pgIdentityPromise ??= (async () => {
    try {
      const [u, g] = await Promise.all([run("id", ["-u", "postgres"]), run("id", ["-g", "postgres"])]);
      const uid = Number.parseInt(u.stdout.trim(), 10);
      const gid = Number.parseInt(g.stdout.trim(), 10);
      if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error(`unexpected id output`);
      return { uid, gid };
    } catch (err) {
      pgIdentityPromise = undefined;
      throw new Error(
        `running as root but the 'postgres' OS user could not be resolved (run scripts/ensure-postgres.sh): ${
          (err as Error).message
        }`,
      );
    }
  })();
  return pgIdentityPromise;
}

/** Spawn options that run a child as the postgres OS user when we are root. */
async function pgSpawnOptions(): Promise<ExecFileOptions> {
  if (!isRoot()) return {};
  const { uid, gid } = await postgresIdentity();
  const home = existsSync("/var/lib/postgresql") ? "/var/lib/postgresql" : "/tmp";
  return {
    uid,
    gid,
    cwd: "/",
    env: { ...process.env, HOME: home, USER: "postgres", LOGNAME: "postgres" },
  };
}

/**
 * Runs a PostgreSQL binary from the bin dir, as postgres when we are root; `wrapper` is a command
 * that runs it (chrt).
 */
async function runPg(binary: string, args: string[], wrapper: readonly string[] = []): Promise<ExecResult> {
  const bin = join(findPostgresBinDir(), binary);
  const [file, ...rest] = [...wrapper, bin, ...args];
  return run(file, rest, await pgSpawnOptions());
}

/**
 * util-linux's chrt, through which servers start under SCHED_BATCH (startServer); without it they
 * start under the default policy.
 */
export const CHRT = "/usr/bin/chrt";

/** Gives a path to the postgres OS user (no-op unless root). */
async function chownToPostgres(path: string): Promise<void> {
  if (!isRoot()) return;
  const { uid, gid } = await postgresIdentity();
  await chown(path, uid, gid);
}

/** Like mkdir -p, but chmods every directory it created to 0755 and returns them (outermost first). */
async function mkdirp(dir: string, mode = 0o755): Promise<string[]> {
  const first = await mkdir(dir, { recursive: true, mode });
  if (first === undefined) return [];
  const created: string[] = [];
  let cur = resolve(dir);
  const top = resolve(first);
  for (;;) {
    created.unshift(cur);
    if (cur === top) break;
    const parent = dirname(cur);
    if (parent === cur) break;
    cur = parent;
  }
  for (const d of created) await chmod(d, mode);
  return created;
}

/** Checks, as the postgres user, that `test <flag> path` holds (access(2) checks every parent too). */
async function postgresCan(flag: "-x" | "-w" | "-r", path: string): Promise<boolean> {
  if (!isRoot()) return true;
  try {
    await run("/bin/sh", ["-c", `test ${flag} "$1"`, "sh", path], await pgSpawnOptions());
    return true;
  } catch {
    return false;
  }
}

function traversalError(what: string, path: string): Error {
  return new Error(
    `the postgres OS user cannot access ${what} ${path}: a parent directory is not traversable ` +
      `(e.g. /root is mode 0700). Use a directory under /tmp or another path whose parents are ` +
      `world-traversable (mode 0755).`,
  );
}

/** Returns the newest /usr/lib/postgresql/<ver>/bin directory that contains pg_ctl. */
export function findPostgresBinDir(): string {
  let versions: string[] = [];
  try {
    versions = readdirSync(PG_ROOT);
  } catch {
    versions = [];
  }
  const candidates = versions
    .filter((v) => /^\d+(\.\d+)?$/.test(v))
    .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
  for (const v of candidates) {
    const bin = join(PG_ROOT, v, "bin");
    if (existsSync(join(bin, "pg_ctl"))) return bin;
  }
  throw new Error(
    `no PostgreSQL server binaries found (looked for ${PG_ROOT}/<version>/bin/pg_ctl); ` +
      `run scripts/ensure-postgres.sh (as root) to install them`,
  );
}

/** Writes a self-signed server.crt/server.key (CN=localhost, 10 years) into dir using the openssl CLI, unless both exist. */
export async function generateSelfSignedCertificate(dir: string): Promise<{ certFile: string; keyFile: string }> {
  const certFile = join(resolve(dir), "server.crt");
  const keyFile = join(resolve(dir), "server.key");
  if (existsSync(certFile) && existsSync(keyFile)) return { certFile, keyFile };
  await mkdirp(dir);
  // Generate under temporary names and rename, so concurrent callers never see half-written files.
  const tag = `${process.pid}-${Math.random().toString(36).slice(2)}`;
  const tmpCert = `${certFile}.${tag}.tmp`;
  const tmpKey = `${keyFile}.${tag}.tmp`;
  try {
    await run("/usr/bin/openssl", [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-sha256",
      "-days",
      "3650",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-keyout",
      tmpKey,
      "-out",
      tmpCert,
    ]);
    await chmod(tmpKey, 0o600);
    await chmod(tmpCert, 0o644);
    await rename(tmpKey, keyFile);
    await rename(tmpCert, certFile);
  } finally {
    await rm(tmpKey, { force: true });
    await rm(tmpCert, { force: true });
  }
  return { certFile, keyFile };
}

let localeArgsPromise: Promise<string[]> | undefined;

/** Chooses initdb locale arguments: C.UTF-8 when the system has it, else --no-locale. */
function initdbLocaleArgs(): Promise<string[]> {
  localeArgsPromise ??= (async () => {
    try {
      const { stdout } = await run("locale", ["-a"]);
      const has = stdout
        .split("\n")
        .map((l) => l.trim().toLowerCase().replace(/-/g, ""))
        .includes("c.utf8");
      return has ? ["--locale=C.UTF-8"] : ["--no-locale"];
    } catch {
      return ["--no-locale"];
    }
  })();
  return localeArgsPromise;
}

/** Quotes a postgresql.conf value unless it is a plain number/identifier. */
function confValue(value: string | number | boolean): string {
  if (typeof value === "number") return String(value);
  if (typeof value === "boolean") return value ? "on" : "off";
  if (/^'.*'$/s.test(value)) return value;
  if (/^-?[0-9]+(\.[0-9]+)?[a-zA-Z]*$/.test(value) || /^[a-zA-Z_][a-zA-Z0-9_]*$/.test(value)) return value;
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`;
}

/** Runs initdb if dataDir is not yet a cluster, then (re)writes its configuration, pg_hba.conf and TLS files. */
export async function initServer(opts: ServerOptions): Promise<void> {
  const dataDir = resolve(opts.dataDir);
  const socketDir = resolve(opts.socketDir);
  const fsync = opts.fsync ?? true;
  const maxConnections = opts.maxConnections ?? 300;
  findPostgresBinDir(); // fail early with a clear message

  // Parents of the data directory: create (0755, owned by postgres) and check traversal.
  const parent = dirname(dataDir);
  for (const d of await mkdirp(parent)) await chownToPostgres(d);
  if (!(await postgresCan("-x", parent))) throw traversalError("data directory", dataDir);

  // Socket directory: postgres must be able to create socket and lock files in it.
  const createdSock = await mkdirp(socketDir);
  for (const d of createdSock) await chownToPostgres(d);
  if (!(await postgresCan("-x", socketDir))) throw traversalError("socket directory", socketDir);
  if (!(await postgresCan("-w", socketDir))) {
    throw new Error(`the postgres OS user cannot write to socket directory ${socketDir}`);
  }

  if (!existsSync(join(dataDir, "PG_VERSION"))) {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    await chmod(dataDir, 0o700);
    await chownToPostgres(dataDir);
    const args = ["-D", dataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8", ...(await initdbLocaleArgs())];
    if (!fsync) args.push("--no-sync");
    try {
      await runPg("initdb", args);
    } catch (err) {
      throw new Error(`initdb failed for ${dataDir}: ${(err as Error).message}`);
    }
  }

  // TLS: the server insists the key is owned by its user (or root) and not group/world readable.
  const dataCert = join(dataDir, "server.crt");
  const dataKey = join(dataDir, "server.key");
  if (resolve(opts.certFile) !== dataCert) await copyFile(opts.certFile, dataCert);
  if (resolve(opts.keyFile) !== dataKey) await copyFile(opts.keyFile, dataKey);
  await chmod(dataCert, 0o644);
  await chmod(dataKey, 0o600);
  await chownToPostgres(dataCert);
  await chownToPostgres(dataKey);

  const settings: Record<string, string | number | boolean> = {
    listen_addresses: "127.0.0.1",
    port: opts.port,
    unix_socket_directories: socketDir,
    wal_level: "logical",
    max_prepared_transactions: 100,
    max_wal_senders: 20,
    max_replication_slots: 20,
    max_connections: maxConnections,
    ssl: true,
    ssl_cert_file: "server.crt",
    ssl_key_file: "server.key",
    shared_buffers: "128MB",
    logging_collector: false,
    log_destination: "stderr",
  };
  if (!fsync) {
    settings.fsync = false;
    settings.full_page_writes = false;
  }
  const lines = [
    "# Written by Canopy (src/nodes/pgserver.ts); rewritten on every initServer call.",
    ...Object.entries(settings).map(([k, v]) => `${k} = ${confValue(v)}`),
    ...Object.entries(opts.extraConf ?? {}).map(([k, v]) => `${k} = ${confValue(v)}`),
    "",
  ];
  const includePath = join(dataDir, INCLUDE_FILE);
  await writeFile(includePath, lines.join("\n"), { mode: 0o600 });
  await chownToPostgres(includePath);

  // postgresql.conf includes our file at its end (postgresql.auto.conf, i.e. ALTER SYSTEM, still wins).
  const confPath = join(dataDir, "postgresql.conf");
  const conf = await readFile(confPath, "utf8");
  if (!conf.split("\n").some((l) => l.trim() === INCLUDE_LINE)) {
    await writeFile(confPath, `${conf.endsWith("\n") ? conf : `${conf}\n`}\n# Canopy settings\n${INCLUDE_LINE}\n`);
  }

  const hba = [
    "# Written by Canopy (src/nodes/pgserver.ts).",
    "# TYPE  DATABASE     USER  ADDRESS       METHOD",
    "local   all          all                 trust",
    "host    all          all   127.0.0.1/32  trust",
    "host    all          all   ::1/128       trust",
    "local   replication  all                 trust",
    "host    replication  all   127.0.0.1/32  trust",
    "host    replication  all   ::1/128       trust",
    "",
  ].join("\n");
  const hbaPath = join(dataDir, "pg_hba.conf");
  await writeFile(hbaPath, hba);
  await chownToPostgres(hbaPath);
}

/** Reads the last `lines` lines of a file, or a note if it cannot be read. */
async function tail(file: string, lines = 40): Promise<string> {
  try {
    const text = await readFile(file, "utf8");
    return text
      .split("\n")
      .slice(-lines - 1)
      .join("\n")
      .trimEnd();
  } catch (err) {
    return `(could not read ${file}: ${(err as Error).message})`;
  }
}

/**
 * Starts the server in dataDir with pg_ctl (waiting up to 60s), logging to logFile (default
 * <dataDir>/server.log); no-op if already running.
 *
 * The server and every process it forks run under SCHED_BATCH: a backend woken by a message then
 * does not preempt the process that sent it, but runs on a free CPU or when that process waits.
 * On a machine the servers share with the coordinator (a local cluster, its coordinator database)
 * that process is the coordinator's event loop, which every session waits on: preempted at each
 * message it sent, it waited for that backend's work before going on with the other sessions.
 * Measured on 2 cores (five runs of each, alternating): TPC-B-like over distributed tables 13 %
 * more transactions a second, plain PostgreSQL's 6 % more. The CPU share is unchanged (the nice
 * value stays).
 */
export async function startServer(dataDir: string, logFile?: string): Promise<void> {
  const dir = resolve(dataDir);
  const log = resolve(logFile ?? join(dir, "server.log"));
  if (!existsSync(join(dir, "PG_VERSION"))) {
    throw new Error(`cannot start PostgreSQL: ${dir} is not an initialized data directory (call initServer first)`);
  }
  if (await isServerRunning(dir)) return;
  if (isRoot()) {
    // Pre-create the log file so the postgres user can append to it wherever it lives.
    await mkdirp(dirname(log));
    const fh = await open(log, "a", 0o640);
    await fh.close();
    await chownToPostgres(log);
  }
  try {
    const batch = existsSync(CHRT) ? [CHRT, "--batch", "0"] : [];
    await runPg("pg_ctl", ["-D", dir, "-l", log, "-w", "-t", "60", "start"], batch);
  } catch (err) {
    throw new Error(
      `failed to start PostgreSQL in ${dir}: ${(err as Error).message}\n--- tail of ${log} ---\n${await tail(log)}`,
    );
  }
}

/** Stops the server in dataDir with pg_ctl in the given shutdown mode; does nothing if it is not running. */
export async function stopServer(dataDir: string, mode: "fast" | "immediate" = "fast"): Promise<void> {
  const dir = resolve(dataDir);
  if (!existsSync(join(dir, "postmaster.pid"))) return;
  try {
    await runPg("pg_ctl", ["-D", dir, "-m", mode, "-w", "-t", "60", "stop"]);
  } catch (err) {
    // Stopped concurrently, or a stale pid file of a dead server: not an error.
    if (!(await isServerRunning(dir))) return;
    throw new Error(`failed to stop PostgreSQL in ${dir}: ${(err as Error).message}`);
  }
}

/** Reports whether a postmaster is running for dataDir (pg_ctl status). */
export async function isServerRunning(dataDir: string): Promise<boolean> {
  const dir = resolve(dataDir);
  if (!existsSync(join(dir, "postmaster.pid"))) return false;
  try {
    await runPg("pg_ctl", ["-D", dir, "status"]);
    return true;
  } catch (err) {
    if (err instanceof ExecError && (err.code === 3 || err.code === 4)) return false;
    throw err;
  }
}

/** Tries to bind 127.0.0.1:port exclusively; resolves with the bound port or null if unavailable. */
function tryListen(port: number): Promise<number | null> {
  return new Promise((resolvePromise) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", () => resolvePromise(null));
    srv.listen({ host: "127.0.0.1", port, exclusive: true }, () => {
      const addr = srv.address();
      const bound = typeof addr === "object" && addr !== null ? addr.port : null;
      srv.close(() => resolvePromise(bound));
    });
  });
}

/** Returns a TCP port on 127.0.0.1 that was free at the time of the call. */
export async function findFreePort(): Promise<number> {
  const port = await tryListen(0);
  if (port === null) throw new Error("could not find a free TCP port on 127.0.0.1");
  return port;
}

/** Returns a base port such that base..base+count-1 were all free on 127.0.0.1 (bases drawn from 20000-60000). */
export async function findFreePortRange(count: number): Promise<number> {
  if (!Number.isInteger(count) || count < 1 || count > 40000) {
    throw new Error(`findFreePortRange: invalid count ${count}`);
  }
  // Below Linux's ephemeral range (32768 up): a port in it may be taken, while a server is
  // restarted, by some outgoing connection's local end.
  const low = 10000;
  const high = 32768 - count + 1; // exclusive upper bound for the base
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = low + Math.floor(Math.random() * (high - low));
    let ok = true;
    for (let p = base; p < base + count; p++) {
      if ((await tryListen(p)) === null) {
        ok = false;
        break;
      }
    }
    if (ok) return base;
  }
  throw new Error(`could not find ${count} consecutive free TCP ports in 10000-32767`);
}
