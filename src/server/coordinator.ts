// The coordinator: one process serving clients for a cluster. It owns the listener, the node
// gateway, the connection to the coordinator database for its own bookkeeping, and the registry of
// sessions (for CancelRequest). It keeps no durable state: that lives in the coordinator database.
import net from "node:net";
import tls from "node:tls";
import { readFileSync } from "node:fs";
import { randomInt } from "node:crypto";
import pg from "pg";
import type { ConnectOptions, NodeAddress, NodeClient, NodeGateway } from "../nodes/gateway.js";
import { PGliteGateway, PGliteNode } from "../nodes/pglite.js";
import { PostgresGateway, clientConfig } from "../nodes/postgres.js";
import { metadataSchemaSql, METADATA_CHANNEL } from "../metadata/schema.js";
import { resolveDefaults, type SettingValues } from "../settings.js";
import { loadParser } from "../sql/parse.js";
import { Session } from "./session.js";
import { MetadataCache } from "../metadata/cache.js";
import { recoverPreparedTransactions } from "../transaction/recovery.js";
import { detectDistributedDeadlocks, lockWaits, lockWaitsQuery, type Participant } from "../transaction/deadlock.js";
import { connectAsCoordinator } from "../operations/node_management.js";
import { answerStatStatements, StatementStatistics } from "../executor/stat_statements.js";
import { answerActivity } from "./activity.js";
import { answerSignals } from "../commands/backend_signals.js";
import { BrokeredConnectionPool, SharedConnectionPool, type ConnectionSlots } from "../executor/shared_pool.js";
import { Siblings } from "./siblings.js";

/** Where the coordinator database is: a real server, or a PGlite node in this process. */
export type CoordinatorDatabase =
  | { kind: "postgres"; host: string; port: number; database: string; user: string; password?: string }
  | { kind: "pglite"; node: PGliteNode; database: string; user: string };

export interface CoordinatorOptions {
  readonly database: CoordinatorDatabase;
  readonly gateway: NodeGateway;
  readonly host: string;
  readonly port: number;
  /** Extra listen address: a directory for a unix socket (`.s.PGSQL.<port>`). */
  readonly socketDir?: string;
  readonly tls?: { certFile: string; keyFile: string };
  readonly settings?: Record<string, string>;
  readonly log?: (line: string) => void;
  /** The coordinator's other processes (siblings.ts); none by default. */
  readonly siblings?: Siblings;
}

/** A session of another process taking part in deadlock detection, as that process describes it. */
type RemoteParticipant = Omit<Participant, "cancelAsVictim"> & { processId: number };

/** Parses a postgres:// URL into a coordinator-database address. */
export function parseDatabaseUrl(url: string): Extract<CoordinatorDatabase, { kind: "postgres" }> {
  const u = new URL(url);
  const socketHost = u.searchParams.get("host");
  return {
    kind: "postgres",
    host: socketHost ?? (decodeURIComponent(u.hostname) || "127.0.0.1"),
    port: Number(u.port || 5432),
    database: decodeURIComponent(u.pathname.slice(1)) || "postgres",
    user: decodeURIComponent(u.username) || "postgres",
    password: u.password ? decodeURIComponent(u.password) : undefined,
  };
}

export class Coordinator {
  readonly settings: SettingValues;
  readonly sessions = new Map<number, Session>();
  readonly tlsContext: tls.SecureContext | null;
  private readonly servers: net.Server[] = [];
  private admin: NodeClient | null = null;
  private listener: pg.Client | null = null;
  /** This coordinator's copy of the metadata, dropped whenever any coordinator changes it. */
  readonly metadata = new MetadataCache((sql, params) => this.adminQuery(sql, params));
  /** server_version and friends reported to clients in embedded mode. */
  serverParameters: Record<string, string> = {};
  readonly log: (line: string) => void;
  /** The coordinator database's system identifier: the gids this cluster prepares carry it. */
  clusterId = "";
  private recoveryTimer: NodeJS.Timeout | null = null;
  private purgeTimer: NodeJS.Timeout | null = null;
  /** canopy_stat_statements: this coordinator's statistics of distributed statements. */
  readonly statStatements: StatementStatistics;
  private deadlockTimer: NodeJS.Timeout | null = null;
  private recovering: Promise<number> | null = null;
  /** The coordinator's other processes, asked what this one cannot know alone. */
  readonly siblings: Siblings;
  /** canopy.max_shared_pool_size: the slots of each worker node, shared by every session. */
  readonly connectionSlots: ConnectionSlots;

  constructor(readonly options: CoordinatorOptions) {
    this.settings = resolveDefaults(options.settings);
    this.tlsContext = options.tls
      ? tls.createSecureContext({
          cert: readFileSync(options.tls.certFile),
          key: readFileSync(options.tls.keyFile),
        })
      : null;
    this.log = options.log ?? ((line) => process.stderr.write(line + "\n"));
    this.siblings = options.siblings ?? new Siblings(0, 1);
    const holders = () => Array.from(this.sessions.values(), (s) => s.remote);
    this.connectionSlots =
      this.siblings.count > 1 ? new BrokeredConnectionPool(this.siblings, holders) : new SharedConnectionPool(holders);
    this.statStatements = new StatementStatistics(
      Number(this.settings["canopy.stat_statements_max"]),
      this.settings["canopy.stat_statements_track"] === "all",
    );
  }

  get database(): CoordinatorDatabase {
    return this.options.database;
  }

  get gateway(): NodeGateway {
    return this.options.gateway;
  }

  /** Installs the metadata schema, learns the server's parameters and starts listening. */
  async start(): Promise<void> {
    await loadParser();
    this.admin = await this.connectAdmin();
    // The other processes start once the first has installed the schema (siblings.ts).
    if (this.siblings.index === 0) await this.admin.query(`BEGIN; ${metadataSchemaSql()} COMMIT;`);
    const [[clusterId]] = (
      await this.admin.query("SELECT system_identifier::text FROM pg_catalog.pg_control_system()", [])
    ).rows;
    this.clusterId = clusterId!;
    if (this.database.kind === "pglite") {
      const r = await this.admin.query(
        "SELECT current_setting('server_version'), current_setting('TimeZone'), current_setting('DateStyle'), current_setting('IntervalStyle')",
        [],
      );
      const [version, timezone, datestyle, intervalstyle] = r.rows[0] as string[];
      this.serverParameters = {
        server_version: version,
        server_encoding: "UTF8",
        client_encoding: "UTF8",
        DateStyle: datestyle,
        TimeZone: timezone,
        IntervalStyle: intervalstyle,
        integer_datetimes: "on",
        standard_conforming_strings: "on",
        is_superuser: "on",
        session_authorization: this.database.user,
        application_name: "",
      };
      // The embedded backend is shared: give its canopy.* settings their defaults once.
      for (const [name, value] of Object.entries(this.settings)) {
        await this.admin.query("SELECT pg_catalog.set_config($1, $2, false)", [name, value]);
      }
    }
    await this.listenForMetadataChanges();
    this.answerSiblings();
    await this.siblings.prepared();
    await this.listen();
    // Background work of the whole coordinator runs in its first process only.
    if (this.siblings.index === 0) {
      this.startRecoveryLoop();
      await this.startDeadlockDetection();
    }
    this.startStatStatementsPurge();
  }

  /** Drops, every canopy.stat_statements_purge_interval seconds, the entries not called within it. */
  private startStatStatementsPurge(): void {
    const intervalMs = Number(this.settings["canopy.stat_statements_purge_interval"]) * 1000;
    if (intervalMs <= 0) return;
    this.purgeTimer = setInterval(() => this.statStatements.purge(performance.now() - intervalMs), intervalMs).unref();
  }

  /**
   * Commits or rolls back what crashes left prepared on the workers (one pass at a time); returns
   * how many prepared transactions it finished.
   */
  async recoverPreparedTransactions(): Promise<number> {
    // One pass at a time for the whole coordinator: in its first process, when it runs.
    if (this.siblings.index !== 0) {
      const [finished] = (await this.siblings.ask<number | null>("recover")).filter((n) => n !== null);
      if (finished !== undefined) return finished;
    }
    this.recovering ??= (async () => {
      try {
        return await recoverPreparedTransactions({
          clusterId: this.clusterId,
          nodes: (await this.metadata.get()).nodes,
          coordinatorQuery: async (sql, params) => (await this.adminQuery(sql, params)).rows,
          connect: (node) => connectAsCoordinator(this, node.nodename, node.nodeport),
          log: this.log,
        });
      } finally {
        this.recovering = null;
      }
    })();
    return this.recovering;
  }

  /** Runs recovery at start (a crash may just have happened) and every canopy.recover_2pc_interval ms. */
  private startRecoveryLoop(): void {
    const interval = Number(this.settings["canopy.recover_2pc_interval"]);
    if (interval < 0) return;
    const pass = () =>
      this.recoverPreparedTransactions()
        .catch((e: Error) => this.log(`recovery of prepared transactions failed: ${e.message}`))
        .finally(() => {
          if (interval > 0 && this.admin) this.recoveryTimer = setTimeout(pass, interval).unref();
        });
    void pass();
  }

  /**
   * Looks for distributed deadlocks among this coordinator's sessions (see transaction/deadlock.ts)
   * every deadlock_timeout × canopy.distributed_deadlock_detection_factor / 2 ms. Embedded nodes
   * have one backend each, so they have no lock waits to look at.
   */
  private async startDeadlockDetection(): Promise<void> {
    const factor = Number(this.settings["canopy.distributed_deadlock_detection_factor"]);
    if (factor < 0 || this.database.kind !== "postgres") return;
    const [[setting]] = (
      await this.adminQuery("SELECT setting FROM pg_catalog.pg_settings WHERE name = 'deadlock_timeout'")
    ).rows;
    const deadlockTimeoutMs = Number(setting);
    const waitMs = deadlockTimeoutMs * (factor - 0.5);
    const pass = async () => {
      const participants = [
        ...this.deadlockParticipants(waitMs),
        ...(await this.siblings.ask<RemoteParticipant[]>("deadlock-participants", waitMs)).flatMap((list) =>
          (list ?? []).map((p) => ({
            ...p,
            cancelAsVictim: () => this.siblings.tell("deadlock-victim", p.processId),
          })),
        ),
      ];
      if (participants.length < 2) return;
      const victims = await detectDistributedDeadlocks(
        {
          participants,
          nodes: (await this.metadata.get()).nodes,
          coordinatorWaits: async (ms) => lockWaits((await this.adminQuery(lockWaitsQuery, [String(ms)])).rows),
          connect: (node) => connectAsCoordinator(this, node.nodename, node.nodeport),
          log: this.log,
        },
        waitMs,
      );
      if (victims > 0) this.log(`canceled ${victims} transaction(s) involved in a distributed deadlock`);
    };
    const loop = () =>
      void pass()
        .catch((e: Error) => this.log(`distributed deadlock detection failed: ${e.message}`))
        .finally(() => {
          if (this.admin) this.deadlockTimer = setTimeout(loop, (deadlockTimeoutMs * factor) / 2).unref();
        });
    this.deadlockTimer = setTimeout(loop, (deadlockTimeoutMs * factor) / 2).unref();
  }

  /** This process's sessions that may take part in a distributed deadlock (deadlock.ts). */
  private deadlockParticipants(waitMs: number): (Participant & { processId: number })[] {
    const participants: (Participant & { processId: number })[] = [];
    for (const s of this.sessions.values()) {
      const p = s.deadlockParticipant(waitMs);
      if (p) participants.push({ ...p, processId: s.processId });
    }
    return participants;
  }

  /** What the coordinator's other processes ask this one (siblings.ts). */
  private answerSiblings(): void {
    const siblings = this.siblings;
    if (siblings.count === 1) return;
    siblings.on("recover", () => (siblings.index === 0 ? this.recoverPreparedTransactions() : null));
    siblings.on("deadlock-participants", (waitMs: number) =>
      this.deadlockParticipants(waitMs).map(({ processId, backends, transactionStartedAt }) => ({
        processId,
        backends,
        transactionStartedAt,
      })),
    );
    siblings.on("deadlock-victim", (processId: number) => this.sessions.get(processId)?.cancelAsDeadlockVictim());
    siblings.on("metadata-changed", () => this.metadata.invalidate());
    answerActivity(this);
    answerStatStatements(this);
    answerSignals(this);
  }

  /** Runs SQL on the coordinator database outside any session (autocommit). */
  adminQuery(sql: string, params?: readonly (string | null)[]) {
    if (!this.admin) throw new Error("coordinator not started");
    return this.admin.query(sql, params);
  }

  /** Whether one more client session may start: canopy.max_client_connections, all processes together. */
  admitSession(): Promise<boolean> {
    const max = Number(this.settings["canopy.max_client_connections"]);
    return this.siblings.count === 1 ? Promise.resolve(this.sessions.size < max) : this.siblings.call("admit", max);
  }

  /** A session that admitSession let start has ended. */
  sessionLeft(): void {
    if (this.siblings.count > 1) this.siblings.post("leave");
  }

  /** A fresh process id and secret for BackendKeyData, unique among live sessions. */
  allocateSessionKey(): { processId: number; secretKey: number } {
    for (;;) {
      const processId = randomInt(1, 0x7fffffff);
      if (!this.sessions.has(processId)) return { processId, secretKey: randomInt(0, 0x7fffffff) };
    }
  }

  /** The URL clients use to reach this coordinator. */
  get url(): string {
    const address = this.servers[0]?.address();
    const port = address && typeof address === "object" ? address.port : this.options.port;
    return `postgres://${this.database.user}@${this.options.host}:${port}/${this.database.database}`;
  }

  /** The TCP port actually listened on (useful with port 0). */
  get port(): number {
    const address = this.servers[0]?.address();
    return address && typeof address === "object" ? address.port : this.options.port;
  }

  async stop(): Promise<void> {
    if (this.recoveryTimer) clearTimeout(this.recoveryTimer);
    if (this.purgeTimer) clearInterval(this.purgeTimer);
    if (this.deadlockTimer) clearTimeout(this.deadlockTimer);
    await this.recovering?.catch(() => {});
    for (const s of this.servers) s.close();
    for (const session of this.sessions.values()) session.terminate();
    const listener = this.listener;
    this.listener = null;
    await listener?.end().catch(() => {});
    await this.admin?.close();
    this.admin = null;
    await this.gateway.close();
  }

  private async connectAdmin(): Promise<NodeClient> {
    const db = this.database;
    if (db.kind === "pglite") {
      return {
        query: (sql, params) =>
          params === undefined ? db.node.execScript(sql).then(() => emptyResult) : db.node.query(sql, params),
        copyIn: () => Promise.reject(new Error("COPY is not used on the coordinator's own connection")),
        copyOut: () => Promise.reject(new Error("COPY is not used on the coordinator's own connection")),
        cancel: async () => {},
        backendPid: null,
        close: async () => {},
      };
    }
    const [node, options] = adminTarget(db);
    return new PostgresGateway().connect(node, options);
  }

  private async listenForMetadataChanges(): Promise<void> {
    const notify = () => this.metadata.invalidate();
    const db = this.database;
    if (db.kind === "pglite") {
      db.node.internalChannels.set(METADATA_CHANNEL, notify);
      await db.node.db.listen(METADATA_CHANNEL, notify);
      return;
    }
    const listener = new pg.Client(clientConfig(...adminTarget(db)));
    listener.on("error", (e) => this.log(`metadata listener error: ${e.message}`));
    listener.on("notification", notify);
    // A lost connection loses notifications: the cached metadata is dropped and, after a pause
    // (the coordinator database may be restarting), the connection made again.
    listener.on("end", () => {
      if (this.listener !== listener) return;
      this.listener = null;
      notify();
      const again = () =>
        this.listenForMetadataChanges().catch((e: Error) => {
          this.log(`cannot listen for metadata changes: ${e.message}`);
          if (this.admin) setTimeout(again, LISTEN_RETRY_MS).unref();
        });
      if (this.admin) setTimeout(again, LISTEN_RETRY_MS).unref();
    });
    await listener.connect();
    await listener.query(`LISTEN ${METADATA_CHANNEL}`);
    this.listener = listener;
    notify();
  }

  private async listen(): Promise<void> {
    const accept = (socket: net.Socket) => new Session(this, socket).start();
    // Half-open: a client may send its last messages and close its side at once; they still run
    // (Session.onClientEnd), as a PostgreSQL backend runs what it read before the end of input.
    const server = net.createServer({ noDelay: true, allowHalfOpen: true }, accept);
    server.maxConnections = Number(this.settings["canopy.max_client_connections"]) + 16;
    await new Promise<void>((resolve, reject) => {
      server.once("error", (e: NodeJS.ErrnoException) =>
        reject(
          e.code === "EADDRINUSE"
            ? new Error(
                `port ${this.options.port} on ${this.options.host} is already in use; choose another with --port`,
              )
            : e,
        ),
      );
      server.listen(this.options.port, this.options.host, () => {
        resolve();
      });
    });
    server.on("error", (e) => this.log(`listener error: ${e.message}`));
    this.servers.push(server);
    if (this.options.socketDir) {
      const unix = net.createServer({ allowHalfOpen: true }, accept);
      const path = unixSocketPath(this.options.socketDir, this.port);
      // The supervisor of several processes removes a stale socket before it starts them.
      if (this.siblings.count === 1) await import("node:fs/promises").then((fs) => fs.rm(path, { force: true }));
      await new Promise<void>((resolve, reject) => {
        unix.once("error", reject);
        unix.listen(path, () => resolve());
      });
      this.servers.push(unix);
    }
  }
}

/** Where the coordinator listens in a socket directory, named as PostgreSQL names its socket. */
export function unixSocketPath(dir: string, port: number): string {
  return `${dir}/.s.PGSQL.${port}`;
}

/** The pause before the LISTEN connection for metadata changes is made again. */
const LISTEN_RETRY_MS = 2000;

const emptyResult = { fields: [], rows: [], command: "" };

/**
 * How the coordinator reaches its database for its own bookkeeping: without TLS, like the
 * sessions' connections (the coordinator database is expected beside the coordinator).
 */
function adminTarget(db: Extract<CoordinatorDatabase, { kind: "postgres" }>): [NodeAddress, ConnectOptions] {
  const conninfo: Record<string, string> = { sslmode: "disable", application_name: "canopy coordinator" };
  if (db.password !== undefined) conninfo.password = db.password;
  return [
    { name: db.host, port: db.port },
    { user: db.user, database: db.database, conninfo, connectTimeoutMs: 30_000 },
  ];
}

/** Creates the gateway matching a coordinator database kind. */
export function gatewayFor(kind: "postgres" | "pglite"): NodeGateway {
  return kind === "pglite" ? new PGliteGateway() : new PostgresGateway();
}
