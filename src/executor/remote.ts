// A session's connections to the workers, managed as the seed's adaptive executor manages them.
//
// Per node the session has a *home* connection: work on one connection goes through it, so inside
// a transaction block every statement reaches a node through the same connection and sees the
// block's earlier writes. A block opens a remote transaction on a node the first time the node is
// used and ends it when the client commits or rolls back. Outside a block, a statement that
// writes on several nodes wraps its work in a remote transaction per node (one per node: a
// modification's tasks run one after another on the home connection). How they commit (one or
// two phases) is decided in transaction/commit.ts.
//
// A multi-shard read may run its per-shard parts over *extra* connections too (adaptive.ts), up to
// canopy.max_adaptive_executor_pool_size per node, where no transaction needs them: outside a
// block, or in a READ COMMITTED block on a node it has not reached yet (each statement takes its
// own snapshot there, and the block has nothing of its own on the node to see). Extra connections
// never hold a transaction. When the session is idle again it keeps at most
// canopy.max_cached_conns_per_worker idle connections per node. Every connection holds a slot of
// the coordinator-wide canopy.max_shared_pool_size (shared_pool.ts); embedded nodes (one backend
// each) have home connections only and no slots.
import type { CopyProducer, NodeClient, QueryResult, RowSink } from "../nodes/gateway.js";
import { connectAsSession } from "../operations/node_management.js";
import type { NodeRecord } from "../metadata/cache.js";
import type { ExecutorSettings, Session } from "../server/session.js";
import { RemoteError } from "../nodes/gateway.js";
import { SqlError } from "../errors.js";
import { arrayLiteral, quoteIdent } from "../sql/quote.js";
import { settleAll } from "./distributed.js";
import { write } from "../protocol/messages.js";
import { runSplit, type Lane, type Lanes, type NodeShare } from "./adaptive.js";
import type { ConnectionSlots, SlotHolder } from "./shared_pool.js";
import { BlockConstraintModes, constraintsCommand, type ConstraintsMode } from "../transaction/set_constraints.js";

/** How often, and how many times, a cancel is sent again while the command it is for runs. */
const CANCEL_REPEAT_MS = 100;
const CANCEL_REPEATS = 50;

interface RemoteNode {
  client: NodeClient;
  node: NodeRecord;
  /** Numbers the session's connections, as canopy.log_remote_commands names them. */
  connectionId: number;
  /** The command last issued on the connection, and whether it is still running. */
  command: string | null;
  /**
   * Commands sent and not yet answered, plus the statements being set up on it: a connection
   * with none is idle, and may be closed for another session.
   */
  running: number;
  /** Counts the commands issued on the connection (a cancel is for the one issued then). */
  issued: number;
  /** The node's group (pg_dist_transaction records prepared transactions by group). */
  groupId: number;
  /** Whether a remote transaction is open on this connection. */
  inTransaction: boolean;
  /** Whether this transaction wrote on the node. */
  wrote: boolean;
  /** Between PREPARE TRANSACTION and COMMIT / ROLLBACK PREPARED: the commit needs the connection. */
  prepared: boolean;
  /** Whether the connection broke; it is replaced at next use outside a transaction. */
  broken: boolean;
  /** The node's key in the shared pool, while the connection holds a slot there. */
  slot: string | null;
  /** The session's settings epoch last applied to this connection. */
  settingsEpoch: number;
  /** Savepoints set in this remote transaction, oldest first. */
  savepoints: string[];
  /** The session's transaction mode epoch its remote transaction last followed (see run). */
  modeEpoch: number;
  /** The metadata version the connection's prepared statements were planned under. */
  preparedVersion: number | null;
}

/** The session's connections to one node. */
interface NodeConnections {
  /** `host:port`, the node's key in the shared pool. */
  readonly key: string;
  home: RemoteNode | null;
  /** The home connection being opened. */
  connecting: Promise<RemoteNode> | null;
  readonly extras: RemoteNode[];
}

/**
 * How a statement uses a node: `transactional` opens a remote transaction first when none is open
 * (in a block, or for a statement writing on several nodes); `write` records that the node was
 * written, `reference` which reference tables' shards were.
 */
export interface RunOptions {
  readonly transactional: boolean;
  readonly write: boolean;
  readonly reference?: readonly number[];
  /** Where the rows go as they arrive (see RowSink), instead of into the result. */
  readonly rows?: RowSink;
  /** The Bind's result format codes (text when absent); binary rows are kept as sent. */
  readonly resultFormats?: readonly number[];
}

const readOutside: RunOptions = { transactional: false, write: false };

/**
 * Session settings workers always follow: the user and role whose privileges apply (SET SESSION
 * AUTHORIZATION, which only a superuser's session can change, and SET ROLE; 'none' when unset),
 * how values are read and printed, where unqualified functions, operators and types are found
 * (the schemas of objects recorded for the workers exist there), how long a statement waits
 * for a lock (the waits happen on the workers), and the settings that change what expressions
 * mean (text search configuration, `= NULL`, NULL in array literals, XML encoding and parsing,
 * identifier quoting). Besides these, the workers follow every setting the session has SET that
 * any user may set, and every custom one (`app.tenant`): a statement sees them on a shard as it
 * would in one PostgreSQL (current_setting(), work_mem, enable_seqscan, lc_monetary, …).
 */
export const followedSettings = [
  "session_authorization",
  "role",
  "search_path",
  "timezone",
  "datestyle",
  "intervalstyle",
  "extra_float_digits",
  "bytea_output",
  "lock_timeout",
  "default_text_search_config",
  "transform_null_equals",
  "array_nulls",
  "xmlbinary",
  "xmloption",
  "quote_all_identifiers",
  // A statement outside a block is its own transaction on the worker, at the session's level.
  "default_transaction_isolation",
  "default_transaction_deferrable",
];

/**
 * Settings of the session that the workers do not take: Canopy answers for them over the whole
 * distributed statement or session (timeouts, read-only defaults, the client's encoding and
 * name), they name what may exist on the coordinator only (tablespaces, access methods), a worker's connection
 * may no longer take them (temp_buffers, once it used a temporary table), or Canopy reads the
 * workers' messages (lc_messages).
 */
const unfollowedSettings = [
  "application_name",
  "client_encoding",
  "statement_timeout",
  "idle_in_transaction_session_timeout",
  "idle_session_timeout",
  "default_transaction_read_only",
  "transaction_isolation",
  "transaction_read_only",
  "transaction_deferrable",
  "default_tablespace",
  "temp_tablespaces",
  "default_table_access_method",
  "temp_buffers",
  "lc_messages",
];

/** A time setting as current_setting() shows it ('0', '250ms', '5s', '2min', '1h', '1d'), in milliseconds. */
function millisecondsOf(shown: string): number {
  const m = /^(-?\d+)\s*(ms|s|min|h|d)?$/.exec(shown.trim());
  if (!m) return 0;
  const units: Record<string, number> = { ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 };
  return Number(m[1]) * units[m[2] ?? "ms"];
}

/** The session's settings as read at one settings epoch. */
export interface SessionSettings {
  readonly epoch: number;
  /** The settings workers follow (followedSettings first, in order), and their values. */
  readonly names: readonly string[];
  readonly followed: readonly string[];
  /** statement_timeout in ms (0: none); Canopy enforces it over the whole distributed statement. */
  readonly statementTimeoutMs: number;
  /**
   * default_transaction_read_only: a statement outside a block may not write (blocks pass their
   * modes to the workers with BEGIN).
   */
  readonly readOnlyDefault: boolean;
  /** standard_conforming_strings: Canopy's parser reads literals as standard strings only. */
  readonly standardStrings: boolean;
  /** client_encoding, as PostgreSQL names it (UTF8, LATIN1, …). */
  readonly clientEncoding: string;
  /**
   * Whether Canopy reads the client's text as the client meant it: standard strings, in UTF-8
   * (distributed.ts: refuseMisreadText).
   */
  readonly plainText: boolean;
}

/**
 * The client encodings in which the client's text is UTF-8's bytes, as Canopy reads statements and
 * sends rows (SQL_ASCII: PostgreSQL converts nothing, and checks the text is the server's UTF-8).
 */
export const utf8Encodings: ReadonlySet<string> = new Set(["UTF8", "SQL_ASCII"]);

/** Whether a connection may be closed or lent: nothing runs on it and nothing needs it later. */
function idle(remote: RemoteNode): boolean {
  return remote.running === 0 && !remote.inTransaction && !remote.prepared;
}

export class RemoteConnections implements SlotHolder {
  private readonly nodes = new Map<number, NodeConnections>();
  private extraCount = 0;
  private closed = false;
  /**
   * The reference tables' shards the open remote transactions wrote, with the groups written (such
   * a write always commits in two phases, and only if it reached every placement).
   */
  readonly referenceWrites = new Map<number, Set<number>>();
  /** How remote transactions begin, and whether each statement takes its own snapshot. */
  private modes: { epoch: number; begin: string; snapshotPerStatement: boolean } | null = null;
  private connectionsOpened = 0;
  private settings: SessionSettings | null = null;
  /** The settings beyond followedSettings that the session's workers follow (see followedSettings). */
  private sessionFollowed: string[] = [];
  /** Settings the session set that may join sessionFollowed (noteSetSettings). */
  private setNames: string[] = [];
  /**
   * The coordinator transaction's id, asked for as soon as two-phase commit became certain, so
   * that its decision record is ready to write beside the PREPAREs (see transaction/commit.ts).
   */
  private decisionXid: { transaction: number; xid: Promise<string | null> } | null = null;
  /**
   * How often this session's recent commit protocols had several nodes to commit: a moving
   * average of 1 (several) and 0 (one or none), each commit weighing a quarter.
   */
  private severalShare = 0;

  /** Notes whether a commit protocol had several nodes to commit (likelyWritesSeveral). */
  noteCommitWroteSeveral(several: boolean): void {
    this.severalShare = 0.75 * this.severalShare + (several ? 0.25 : 0);
  }

  /**
   * Whether the session's next commit likely has several nodes to commit: at least half of its
   * recent ones had. A workload mixing both, TPC-B's say, stays on one side of the line, where
   * the last commit alone would switch at every change.
   */
  get likelyWritesSeveral(): boolean {
    return this.severalShare >= 0.5;
  }
  /** When the first of the open remote transactions began (Date.now()). */
  transactionStartedAt = 0;
  /**
   * Set when the remote transactions were rolled back whole inside the client's block (a deadlock
   * victim): the block can then only end, not go back to a savepoint.
   */
  private abandoned = false;

  constructor(private readonly session: Session) {}

  private get shared(): ConnectionSlots {
    return this.session.coordinator.connectionSlots;
  }

  /** Whether any remote transaction is open (the client's COMMIT or ROLLBACK must reach it). */
  hasOpenTransactions(): boolean {
    if (this.abandoned) return true;
    for (const n of this.nodes.values()) if (n.home?.inTransaction) return true;
    return false;
  }

  /**
   * Runs SQL on a node's home connection (see RunOptions). `prepareVersion` keeps the statement
   * prepared on the connection, for the metadata version it was planned under: statements prepared
   * under another version are deallocated first, since DDL may have changed what they return.
   */
  async run(
    node: NodeRecord,
    sql: string,
    params: readonly (string | Buffer | null)[],
    opts: RunOptions & { prepareVersion?: number },
  ): Promise<QueryResult> {
    const prepare = opts.prepareVersion !== undefined;
    return this.execute(
      await this.claimHome(node),
      opts,
      (remote, setup, begin) => {
        if (prepare && remote.preparedVersion !== opts.prepareVersion) {
          setup.push(this.issue(remote, "DEALLOCATE ALL", async () => remote.client.forgetPrepared?.()));
          remote.preparedVersion = opts.prepareVersion!;
        }
        if (begin === null) return this.send(remote, sql, params, prepare, opts.rows, opts.resultFormats);
        const query = () => remote.client.query(sql, params, prepare, begin, opts.rows, opts.resultFormats);
        return this.issue(remote, sql, query, begin);
      },
      // A statement sent as a Query may hold several commands, which the extended protocol refuses.
      prepare || params.length > 0,
    );
  }

  /** Runs COPY … FROM STDIN on a node with the given data, as `run` runs SQL. */
  async copyIn(
    node: NodeRecord,
    sql: string,
    data: readonly Buffer[] | CopyProducer,
    opts: RunOptions,
  ): Promise<QueryResult> {
    const [result] = await this.copyInAll(node, [{ sql, data }], opts);
    if (result.status === "rejected") throw result.reason;
    return result.value;
  }

  /**
   * Runs several COPY … FROM STDIN on a node, each with its data, pipelined: they leave together
   * and the node runs them one after another without waiting for the coordinator in between.
   * Settles each; after one fails, those behind it in a transaction fail too.
   */
  async copyInAll(
    node: NodeRecord,
    copies: readonly { sql: string; data: readonly Buffer[] | CopyProducer }[],
    opts: RunOptions,
  ): Promise<PromiseSettledResult<QueryResult>[]> {
    return this.execute(await this.claimHome(node), opts, (remote) =>
      Promise.allSettled(copies.map(({ sql, data }) => this.issue(remote, sql, () => remote.client.copyIn(sql, data)))),
    );
  }

  /** Runs COPY … TO STDOUT on a node, handing over its data as it arrives (see NodeClient.copyOut). */
  async copyOut(node: NodeRecord, sql: string, onData: (chunk: Buffer) => void | Promise<void>, opts: RunOptions) {
    return this.execute(await this.claimHome(node), opts, (remote) =>
      this.issue(remote, sql, () => remote.client.copyOut(sql, onData)),
    );
  }

  /**
   * Runs COPY … TO STDOUT (`out`) on one node and COPY … FROM STDIN (`into`) on another, the data
   * flowing from one to the other as it arrives: reading from the source waits while the target is
   * behind, so that memory stays bounded whatever the amount copied. An error of the source ends
   * the target's COPY with CopyFail, and is the one thrown.
   */
  async copyBetween(source: NodeRecord, out: string, target: NodeRecord, into: string, opts: RunOptions) {
    let sourceFailure = null as { error: unknown } | null;
    try {
      return await this.copyIn(
        target,
        into,
        (write) =>
          this.copyOut(source, out, write, opts).catch((error: unknown) => {
            sourceFailure = { error };
            throw error;
          }),
        opts,
      );
    } catch (e) {
      throw sourceFailure ? sourceFailure.error : e;
    }
  }

  /**
   * Claims the home connections of the nodes one after another, in node id order, and returns what
   * gives them back. A statement that holds transactions on several nodes claims them first, so
   * that two such statements never wait for each other's slots of the shared pool in a cycle.
   */
  async claimInOrder(nodes: readonly NodeRecord[]): Promise<() => void> {
    const claimed: RemoteNode[] = [];
    const release = () => {
      for (const remote of claimed) this.unclaim(remote);
    };
    try {
      for (const node of [...nodes].sort((a, b) => a.nodeid - b.nodeid)) claimed.push(await this.claimHome(node));
    } catch (e) {
      release();
      throw e;
    }
    return release;
  }

  /**
   * Runs a read's share on each node; returns each share's results in part order. A share runs on
   * the home connection as one statement, or in parts over several connections where the session
   * may use extra ones (see the module comment). With `rows`, the rows go there as they come, in
   * no particular order across parts and nodes.
   */
  async runReads(
    shares: readonly NodeShare[],
    inBlock: boolean,
    rows?: RowSink,
    resultFormats?: readonly number[],
  ): Promise<QueryResult[][]> {
    const settings = await this.session.executorSettings();
    return settleAll(
      shares.map(async ({ node, read }) => {
        if (read.parts === 1 || !(await this.mayUseExtras(node, inBlock, settings))) {
          const { sql, params } = read.task(0, read.parts);
          return [await this.run(node, sql, params, { transactional: inBlock, write: false, rows, resultFormats })];
        }
        return runSplit(read, this.lanes(node, rows, resultFormats), settings);
      }),
    );
  }

  /** The session's settings if already read in this settings epoch (no query); else null. */
  knownSettings(): SessionSettings | null {
    return this.settings?.epoch === this.session.settingsEpoch ? this.settings : null;
  }

  /**
   * Notes the settings a statement of the session SETs, RESETs, passes to set_config() or reads
   * with current_setting(): the workers follow them too, once sessionSettings() has found them
   * set in the session and settable by any user, or custom (`app.tenant`, which the catalog does
   * not list).
   */
  noteSetSettings(names: readonly string[]): void {
    for (const name of names) {
      if (
        !name.startsWith("canopy.") &&
        !followedSettings.includes(name) &&
        !unfollowedSettings.includes(name) &&
        !this.sessionFollowed.includes(name) &&
        !this.setNames.includes(name)
      ) {
        this.setNames.push(name);
      }
    }
  }

  /** The session's settings, read from its coordinator-database connection once per settings epoch. */
  async sessionSettings(): Promise<SessionSettings> {
    const epoch = this.session.settingsEpoch;
    if (this.settings?.epoch === epoch) return this.settings;
    if (this.setNames.length > 0) {
      const names = this.setNames;
      this.setNames = [];
      // A setting stays followed for the session once found: after a RESET its value is the
      // default again, which the workers' connections then take too.
      const found = await this.session.internalQuery(
        // A custom setting (a name with a dot, hidden as a placeholder: pg_settings does not list
        // it) is followed once it exists; another once the session's SET of it took, if any role
        // may set it: a superuser's session may SET ROLE to one that could not, and the workers
        // set the role first. Hidden built-in settings (is_superuser, seed) are neither.
        `SELECT n FROM pg_catalog.unnest($1::text[]) AS n
          WHERE pg_catalog.current_setting(n, true) IS NOT NULL
            AND ((n LIKE '%.%' AND 'NO_SHOW_ALL' = ANY (pg_catalog.pg_settings_get_flags(n)))
                 OR n IN (SELECT name FROM pg_catalog.pg_settings WHERE source = 'session' AND context = 'user'))`,
        [Buffer.from(arrayLiteral(names))],
        [],
        [],
        "read",
      );
      this.sessionFollowed.push(...found.map((r) => r[0]!));
    }
    const names = [...followedSettings, ...this.sessionFollowed];
    const rows = await this.session.internalQuery(
      // An embedded coordinator database reports session_authorization as '' until it is set.
      `SELECT CASE s WHEN 'session_authorization' THEN session_user::text ELSE pg_catalog.current_setting(s) END,
              pg_catalog.current_setting('statement_timeout'),
              pg_catalog.current_setting('default_transaction_read_only'),
              pg_catalog.current_setting('standard_conforming_strings'),
              pg_catalog.current_setting('client_encoding')
         FROM pg_catalog.unnest($1::text[]) AS s`,
      [Buffer.from(arrayLiteral(names))],
      [],
      [],
      "read",
    );
    this.settings = {
      epoch,
      names,
      followed: rows.map((r) => r[0] ?? ""),
      statementTimeoutMs: millisecondsOf(rows[0][1] ?? "0"),
      readOnlyDefault: rows[0][2] === "on",
      standardStrings: rows[0][3] === "on",
      clientEncoding: rows[0][4] ?? "UTF8",
      plainText: rows[0][3] === "on" && utf8Encodings.has(rows[0][4] ?? "UTF8"),
    };
    return this.settings;
  }

  /**
   * Runs a command on a claimed connection with the session's settings applied and, if asked, a
   * transaction open, then gives up the claim. The commands that set the connection up are sent
   * but not awaited (`setup`): the statement that follows goes in the same write, and its caller
   * waits for both (see afterSetup).
   */
  private async execute<T>(
    remote: RemoteNode,
    opts: RunOptions,
    command: (remote: RemoteNode, setup: Promise<unknown>[], begin: string | null) => Promise<T>,
    takesBegin = false,
  ): Promise<T> {
    const setup: Promise<unknown>[] = [];
    let statement: Promise<T>;
    try {
      this.session.interrupts.check();
      // Known before anything is issued, so that each command leaves at once, in the order issued:
      // a command waiting for it could otherwise leave after the ones issued behind it.
      const logging = this.session.logRemoteCommands();
      if (logging !== true && logging !== false) await logging;
      const settings = remote.settingsEpoch !== this.session.settingsEpoch ? await this.sessionSettings() : null;
      const opens = opts.transactional && !remote.inTransaction;
      if (opens && !this.hasOpenTransactions()) {
        this.transactionStartedAt = Date.now();
        this.session.prefetchBlockTimestamp();
      }
      const begin = opens ? (await this.transactionModes()).begin : null;
      // A block made read-only after its remote transaction began (SET TRANSACTION READ ONLY, SET
      // LOCAL transaction_read_only) refuses later writes there too. ROLLBACK TO undoes the mode in
      // both places alike, the savepoints being followed on the node.
      const readOnlyNow =
        !opens &&
        opts.transactional &&
        remote.inTransaction &&
        remote.modeEpoch !== this.session.transactionModeEpoch &&
        (await this.transactionModes()).begin.includes("READ ONLY");
      if (opts.transactional) remote.modeEpoch = this.session.transactionModeEpoch;
      // A stop asked for while those were read: nothing leaves (a cancel sent to the node now
      // would find nothing running there).
      this.session.interrupts.check();
      if (settings) {
        setup.push(
          this.send(
            remote,
            "SELECT pg_catalog.set_config(s, v, false) FROM unnest($1::text[], $2::text[]) AS x(s, v)",
            [arrayLiteral(settings.names), arrayLiteral(settings.followed)],
          ),
        );
        remote.settingsEpoch = settings.epoch;
      }
      if (readOnlyNow) setup.push(this.send(remote, "SET TRANSACTION READ ONLY", []));
      // The block's SET CONSTRAINTS follow the BEGIN, which then cannot go with the statement.
      const constraints = begin !== null ? this.constraintModes.commandsFor(remote.groupId) : [];
      const bundled = takesBegin && constraints.length === 0;
      if (begin !== null) {
        if (!bundled) setup.push(this.send(remote, begin, []));
        for (const sql of constraints) setup.push(this.send(remote, sql, []));
        remote.inTransaction = true;
        remote.savepoints = [];
      }
      // A write outside a remote transaction commits on its own: nothing is left for the commit protocol.
      if (opts.write && remote.inTransaction) this.recordWrite(remote, opts);
      // The statement takes the BEGIN along when it goes first: the node then answers both at once.
      statement = command(remote, setup, bundled ? begin : null);
    } finally {
      this.unclaim(remote);
    }
    return afterSetup(setup, statement);
  }

  /**
   * BEGIN with the coordinator transaction's isolation level, read-only and deferrable modes, so
   * that each node runs its part as the client asked. Read once while they are the defaults.
   */
  private async transactionModes(): Promise<{ begin: string; snapshotPerStatement: boolean }> {
    const epoch = this.session.transactionModeEpoch;
    if (this.modes?.epoch === epoch) return this.modes;
    const [[isolation, readOnly, deferrable]] = await this.session.internalQuery(
      `SELECT pg_catalog.current_setting('transaction_isolation'), pg_catalog.current_setting('transaction_read_only'),
              pg_catalog.current_setting('transaction_deferrable')`,
      [],
      [],
      [],
      "read",
    );
    const modes = [`ISOLATION LEVEL ${isolation!.toUpperCase()}`];
    if (readOnly === "on") modes.push("READ ONLY");
    if (deferrable === "on") modes.push("DEFERRABLE");
    const snapshotPerStatement = /^(read committed|read uncommitted)$/.test(isolation!);
    // The workers' connections follow the session's default level: a BEGIN without one takes it.
    const settings = await this.sessionSettings();
    const followedDefault = settings.followed[followedSettings.indexOf("default_transaction_isolation")];
    if (!snapshotPerStatement || readOnly === "on" || followedDefault !== "read committed") {
      return { begin: `BEGIN ${modes.join(" ")}`, snapshotPerStatement };
    }
    this.modes = { epoch, begin: "BEGIN", snapshotPerStatement };
    return this.modes;
  }

  /** Whether a read on the node may run over extra connections (see the module comment). */
  private async mayUseExtras(node: NodeRecord, inBlock: boolean, settings: ExecutorSettings): Promise<boolean> {
    if (settings.poolSize <= 1 || !this.session.coordinator.gateway.parallel) return false;
    if (!inBlock) return true;
    if (this.nodes.get(node.nodeid)?.home?.inTransaction) return false;
    return (await this.transactionModes()).snapshotPerStatement;
  }

  /** The connections a split read on the node runs on: the home one, then extra ones. */
  private lanes(node: NodeRecord, rows?: RowSink, resultFormats?: readonly number[]): Lanes {
    const conns = this.connectionsTo(node);
    // A lane's connection is claimed (RemoteNode.running) from when it is taken until done.
    const lane = (remote: RemoteNode): Lane => ({
      run: (sql, params) => {
        remote.running++;
        return this.execute(remote, readOutside, () => this.send(remote, sql, params, false, rows, resultFormats));
      },
      done: () => this.unclaim(remote),
    });
    return {
      home: async () => lane(await this.claimHome(node)),
      cached: () => {
        const extra = conns.extras.find((r) => idle(r) && !r.broken);
        if (!extra) return null;
        extra.running++;
        return lane(extra);
      },
      open: async () => {
        const extra = await this.open(node, conns.key, false).catch(() => null);
        if (extra === null) return null;
        extra.running++;
        conns.extras.push(extra);
        this.extraCount++;
        if (!this.closed) return lane(extra);
        // The session closed meanwhile: closeAll went through the list before this one was in it.
        await this.remove(conns, extra);
        return null;
      },
    };
  }

  /**
   * Follows the client's SAVEPOINT, RELEASE and ROLLBACK TO on every open remote transaction. A
   * remote transaction begun after the savepoint was set holds only later work: rolling back to
   * the savepoint rolls it back whole, and releasing the savepoint leaves it as it is.
   */
  async savepoint(kind: "set" | "release" | "rollback", name: string): Promise<void> {
    if (this.abandoned) {
      throw new SqlError("25P02", "current transaction is aborted, commands ignored until end of transaction block", {
        detail: "The transaction was canceled as a distributed deadlock victim; it can only be rolled back.",
      });
    }
    const quoted = quoteIdent(name);
    await settleAll(
      this.inTransaction().map(async (remote) => {
        const at = remote.savepoints.lastIndexOf(name);
        if (kind === "set") {
          await this.send(remote, `SAVEPOINT ${quoted}`, []);
          remote.savepoints.push(name);
        } else if (at < 0) {
          if (kind === "rollback") {
            remote.inTransaction = false;
            remote.wrote = false;
            await this.send(remote, "ROLLBACK", []);
          }
        } else if (kind === "release") {
          await this.send(remote, `RELEASE SAVEPOINT ${quoted}`, []);
          remote.savepoints.length = at;
        } else {
          await this.send(remote, `ROLLBACK TO SAVEPOINT ${quoted}`, []);
          remote.savepoints.length = at + 1;
        }
      }),
    );
  }

  /** The block's SET CONSTRAINTS, which remote transactions opened later in it follow. */
  readonly constraintModes = new BlockConstraintModes();

  /** A SET CONSTRAINTS of the client's block: the open remote transactions follow it now. */
  async setConstraints(mode: ConstraintsMode): Promise<void> {
    this.constraintModes.add(mode);
    await settleAll(
      this.inTransaction().map(async (remote) => {
        const sql = constraintsCommand(mode, remote.groupId);
        if (sql) await this.send(remote, sql, []);
      }),
    );
  }

  /** The session's worker connections as canopy_stat_activity shows them. */
  activity(): { nodename: string; nodeport: number; pid: number | null; state: string; command: string | null }[] {
    return this.all().map((n) => ({
      nodename: n.node.nodename,
      nodeport: n.node.nodeport,
      pid: n.client.backendPid,
      state: n.running > 0 ? "active" : n.inTransaction ? "idle in transaction" : "idle",
      command: n.command,
    }));
  }

  /** Notes a write in the connection's remote transaction, for the commit protocol. */
  private recordWrite(remote: RemoteNode, opts: RunOptions): void {
    remote.wrote = true;
    for (const shardId of opts.reference ?? []) {
      const groups = this.referenceWrites.get(shardId) ?? new Set();
      this.referenceWrites.set(shardId, groups.add(remote.groupId));
    }
    if (this.currentDecisionXid() === null && this.commitsInTwoPhases()) {
      // Asked now, the answer travels while the node works.
      this.expectDecisionXid(
        this.session.internalQuery("SELECT pg_catalog.txid_current()", [], [], [], "aside").then(
          ([[xid]]) => xid,
          () => null,
        ),
      );
    }
  }

  /**
   * Takes the coordinator database's transaction id, asked for ahead of the commit protocol (an
   * id given to a transaction that then commits in one phase does no harm).
   */
  expectDecisionXid(xid: Promise<string | null>): void {
    if (this.currentDecisionXid() === null) {
      this.decisionXid = { transaction: this.session.coordinatorTransaction, xid };
    }
  }

  /** Whether the open remote transactions will commit in two phases, whatever happens next. */
  private commitsInTwoPhases(): boolean {
    const written = this.inTransaction().filter((n) => n.wrote).length;
    return written > 1 || (written > 0 && this.referenceWrites.size > 0);
  }

  /** The coordinator transaction id asked for ahead of the commit (null: not asked, or failed); forgets it. */
  takeDecisionXid(): Promise<string | null> {
    const xid = this.currentDecisionXid() ?? Promise.resolve(null);
    this.decisionXid = null;
    return xid;
  }

  /**
   * The id asked for in the coordinator database's current transaction. One asked in an earlier
   * transaction (which ended without the commit protocol: a block whose remote transactions broke,
   * then the client's ROLLBACK) must not name this one's prepared transactions: recovery would
   * judge them by that other transaction's fate.
   */
  private currentDecisionXid(): Promise<string | null> | null {
    if (this.decisionXid?.transaction !== this.session.coordinatorTransaction) return null;
    return this.decisionXid.xid;
  }

  /** The open remote transactions, for the commit protocol. */
  openTransactions(): { nodeId: number; groupId: number; wrote: boolean }[] {
    const open: { nodeId: number; groupId: number; wrote: boolean }[] = [];
    for (const [nodeId, n] of this.nodes)
      if (n.home?.inTransaction) open.push({ nodeId, groupId: n.home.groupId, wrote: n.home.wrote });
    return open;
  }

  /**
   * Ends the remote transaction on a node with `sql` (COMMIT, ROLLBACK, PREPARE TRANSACTION …);
   * `prepares` when it is PREPARE TRANSACTION, after which the connection stays for COMMIT PREPARED.
   */
  async end(nodeId: number, sql: string, prepares = false): Promise<void> {
    const remote = this.nodes.get(nodeId)!.home!;
    remote.inTransaction = false;
    remote.wrote = false;
    remote.prepared = prepares;
    try {
      await this.send(remote, sql, []);
    } catch (e) {
      remote.prepared = false;
      throw e;
    }
  }

  /**
   * The commit protocol stopped with its outcome unknown: recovery, not these connections, ends
   * their prepared transactions, so the connections may go idle.
   */
  leavePreparedToRecovery(nodeIds: readonly number[]): void {
    for (const id of nodeIds) {
      const remote = this.nodes.get(id)?.home;
      if (remote) remote.prepared = false;
    }
  }

  /** Runs SQL on a node's connection outside any transaction (COMMIT PREPARED …). */
  async runOutside(nodeId: number, sql: string): Promise<void> {
    const remote = this.nodes.get(nodeId)?.home;
    if (remote) remote.prepared = false;
    if (!remote || remote.broken) throw new Error("connection lost");
    await this.send(remote, sql, []);
  }

  /**
   * Rolls back every remote transaction at once, inside the client's block, so that their locks
   * are released now (a deadlock victim); the block stays open until the client ends it.
   */
  async abandonTransaction(): Promise<void> {
    await this.rollbackAll();
    this.abandoned = true;
  }

  /** Rolls back every open remote transaction. */
  async rollbackAll(): Promise<void> {
    this.referenceWrites.clear();
    this.decisionXid = null;
    this.abandoned = false;
    await Promise.all(
      this.inTransaction().map(async (remote) => {
        remote.inTransaction = false;
        remote.wrote = false;
        await this.send(remote, "ROLLBACK", []).catch(() => {
          remote.broken = true;
        });
      }),
    );
  }

  /**
   * Cancels the statements running on the session's connections, and its waits for a slot of the
   * shared pool. Those connections are marked broken: a cancel request arriving late could hit
   * their next statement, so they are replaced once their transaction ends.
   */
  cancelRunning(): void {
    const cancelled: [RemoteNode, number][] = [];
    for (const remote of this.all()) {
      if (remote.running === 0) continue;
      remote.broken = true;
      void remote.client.cancel();
      cancelled.push([remote, remote.issued]);
    }
    this.shared.abandonWaits(this, new SqlError("57014", "canceling the wait for a worker connection"));
    if (cancelled.length === 0) return;
    // A node drops a cancel that comes before the command it is for has begun (still unread in
    // its socket): it is sent again while that command runs.
    let repeats = 0;
    const again = setInterval(() => {
      const still = cancelled.filter(([remote, issued]) => remote.running > 0 && remote.issued === issued);
      if (still.length === 0 || ++repeats > CANCEL_REPEATS) clearInterval(again);
      else for (const [remote] of still) void remote.client.cancel();
    }, CANCEL_REPEAT_MS);
    again.unref();
  }

  /** The node processes serving this session's connections, as (node id, pid) pairs (for deadlock detection). */
  backendPids(): [number, number][] {
    const pids: [number, number][] = [];
    for (const remote of this.all())
      if (remote.client.backendPid !== null) pids.push([remote.node.nodeid, remote.client.backendPid]);
    return pids;
  }

  /**
   * Closes the connections the idle session no longer needs: idle ones beyond
   * canopy.max_cached_conns_per_worker per node, broken ones, and every idle one to a node other
   * sessions wait for.
   */
  trim(): void {
    const cachedMax = this.session.lastExecutorSettings.cachedMax;
    if (this.extraCount === 0 && cachedMax > 0 && this.shared.waiting === 0) return;
    for (const conns of this.nodes.values()) {
      let keep = this.shared.hasWaiters(conns.key) ? 0 : cachedMax;
      for (const remote of conns.home ? [conns.home, ...conns.extras] : [...conns.extras]) {
        if (!idle(remote)) keep--;
        else if (keep > 0 && !remote.broken) keep--;
        else void this.remove(conns, remote);
      }
    }
  }

  /** Closes one connection to the node that is idle outside a transaction (another session waits). */
  giveUpIdle(node: string): boolean {
    for (const conns of this.nodes.values()) {
      if (conns.key !== node) continue;
      const remote = [...conns.extras, ...(conns.home ? [conns.home] : [])].find(idle);
      if (!remote) return false;
      void this.remove(conns, remote);
      return true;
    }
    return false;
  }

  /** Closes every connection (the session ended). */
  async closeAll(): Promise<void> {
    this.closed = true;
    this.shared.abandonWaits(this, new SqlError("08006", "session closed"));
    const closing: Promise<void>[] = [];
    for (const conns of this.nodes.values()) {
      for (const remote of [...conns.extras, ...(conns.home ? [conns.home] : [])])
        closing.push(this.remove(conns, remote));
    }
    await Promise.all(closing);
  }

  private send(
    remote: RemoteNode,
    sql: string,
    params: readonly (string | Buffer | null)[],
    prepare = false,
    rows?: RowSink,
    resultFormats?: readonly number[],
  ) {
    return this.issue(remote, sql, () => remote.client.query(sql, params, prepare, undefined, rows, resultFormats));
  }

  /**
   * Sends a command (reported to the client first when canopy.log_remote_commands is on, after
   * the BEGIN it carries, if any: run); marks errors as the worker's, and the connection broken
   * when it was not a worker's error. A connection left idle outside a transaction goes to a
   * session waiting for its node.
   */
  private async issue<T>(
    remote: RemoteNode,
    sql: string,
    f: () => Promise<T>,
    begin: string | null = null,
  ): Promise<T> {
    remote.command = sql;
    remote.issued++;
    remote.running++;
    try {
      const logging = this.session.logRemoteCommands();
      if (logging === true || (logging !== false && (await logging))) {
        if (begin !== null) this.logRemoteCommand(remote, begin);
        this.logRemoteCommand(remote, sql);
      }
      return await f();
    } catch (e) {
      if (!(e instanceof RemoteError)) remote.broken = true;
      else (e as RemoteError & { fromWorker?: boolean }).fromWorker = true;
      throw e;
    } finally {
      this.unclaim(remote);
    }
  }

  /** Tells the client what is sent to a node (canopy.log_remote_commands). */
  private logRemoteCommand(remote: RemoteNode, sql: string): void {
    const { nodename, nodeport } = remote.node;
    this.session.sendToClient(
      write.noticeResponse({
        severity: "NOTICE",
        code: "00000",
        message: `issuing ${sql}`,
        detail: `on server ${this.session.user}@${nodename}:${nodeport} connectionId: ${remote.connectionId}`,
      }),
    );
  }

  /**
   * Ends a claim on a connection (a command's, a lane's). A connection left idle is closed if it
   * broke or a session waits for its node (its slot goes to that session); a broken one in a
   * transaction stays until the transaction ends.
   */
  private unclaim(remote: RemoteNode): void {
    if (--remote.running > 0 || (!remote.broken && this.shared.waiting === 0)) return;
    // A connection still open holds its slot (embedded ones hold none and stay until replaced).
    if (remote.slot === null || !idle(remote)) return;
    if (remote.broken || this.shared.hasWaiters(remote.slot))
      void this.remove(this.nodes.get(remote.node.nodeid)!, remote);
  }

  /** The node's home connection, claimed for a statement (see RemoteNode.running). */
  private claimHome(node: NodeRecord): RemoteNode | Promise<RemoteNode> {
    // A statement asked to stop starts nothing more.
    this.session.interrupts.check();
    const conns = this.connectionsTo(node);
    const home = conns.home;
    if (home !== null && !(home.broken && !home.inTransaction)) {
      home.running++;
      return home;
    }
    return this.connectHome(node, conns);
  }

  private connectHome(node: NodeRecord, conns: NodeConnections): Promise<RemoteNode> {
    if (conns.home !== null) void this.remove(conns, conns.home);
    // An idle extra connection becomes the home one: it holds a slot already.
    const extra = conns.extras.find((r) => idle(r) && !r.broken);
    if (extra) {
      conns.extras.splice(conns.extras.indexOf(extra), 1);
      this.extraCount--;
      conns.home = extra;
      extra.running++;
      return Promise.resolve(extra);
    }
    if (conns.connecting === null) {
      const opening = this.open(node, conns.key, true) as Promise<RemoteNode>;
      conns.connecting = opening;
      // Installed and claimed by reactions to the same promise, which run back to back: no other
      // session sees the new connection unclaimed.
      opening.then(
        (remote) => {
          conns.connecting = null;
          if (this.closed) void this.remove(conns, remote);
          else conns.home = remote;
        },
        () => {
          conns.connecting = null;
        },
      );
    }
    return conns.connecting.then((remote) => {
      remote.running++;
      return remote;
    });
  }

  /**
   * Opens a connection to the node, holding a slot of the shared pool: a `required` one waits
   * for a slot (and retries a node refusing connections), an extra one is null when no slot is free.
   */
  private async open(node: NodeRecord, key: string, required: boolean): Promise<RemoteNode | null> {
    const [conninfo, timeout, maxConnections] = await this.session.currentSettings([
      "canopy.node_conninfo",
      "canopy.node_connection_timeout",
      "max_connections",
    ]);
    const timeoutMs = Number(timeout);
    let slot: string | null = null;
    if (this.session.coordinator.gateway.parallel) {
      // -1: no cap; 0: as many as the coordinator database takes connections, as in Citus.
      const cap = Number(this.session.coordinator.settings["canopy.max_shared_pool_size"]);
      const limit = cap === -1 ? Infinity : cap === 0 ? Number(maxConnections) : cap;
      if (required) await this.shared.take(key, { limit, timeoutMs }, this);
      else if (!(await this.shared.tryTake(key, limit))) return null;
      slot = key;
    }
    // Numbered once it can connect, so that parallel connections get the same numbers each run.
    const connectionId = ++this.connectionsOpened;
    let client: NodeClient;
    try {
      client = await connectAsSession(this.session, node, conninfo, timeoutMs, required);
    } catch (e) {
      if (slot !== null) this.shared.release(slot);
      throw e;
    }
    return {
      client,
      node,
      connectionId,
      command: null,
      running: 0,
      issued: 0,
      groupId: node.groupid,
      inTransaction: false,
      wrote: false,
      prepared: false,
      broken: false,
      slot,
      settingsEpoch: -1,
      savepoints: [],
      modeEpoch: -1,
      preparedVersion: null,
    };
  }

  /** Closes a connection; its slot goes back to the shared pool once the node has let it go. */
  private async remove(conns: NodeConnections, remote: RemoteNode): Promise<void> {
    if (conns.home === remote) conns.home = null;
    const at = conns.extras.indexOf(remote);
    if (at >= 0) {
      conns.extras.splice(at, 1);
      this.extraCount--;
    }
    const slot = remote.slot;
    remote.slot = null;
    remote.broken = true;
    await remote.client.close().catch(() => {});
    if (slot !== null) this.shared.release(slot);
  }

  private connectionsTo(node: NodeRecord): NodeConnections {
    let conns = this.nodes.get(node.nodeid);
    if (!conns) {
      conns = { key: `${node.nodename}:${node.nodeport}`, home: null, connecting: null, extras: [] };
      this.nodes.set(node.nodeid, conns);
    }
    return conns;
  }

  /** Every connection of the session. */
  private all(): RemoteNode[] {
    const all: RemoteNode[] = [];
    for (const conns of this.nodes.values()) {
      if (conns.home) all.push(conns.home);
      all.push(...conns.extras);
    }
    return all;
  }

  /** The home connections with an open remote transaction. */
  private inTransaction(): RemoteNode[] {
    const open: RemoteNode[] = [];
    for (const conns of this.nodes.values()) if (conns.home?.inTransaction) open.push(conns.home);
    return open;
  }
}

/**
 * A statement's result once the commands sent before it on the same connection (settings, BEGIN)
 * have succeeded too; their failure is the statement's. Both are awaited, so neither rejection
 * goes unobserved.
 */
async function afterSetup<T>(setup: readonly Promise<unknown>[], statement: Promise<T>): Promise<T> {
  if (setup.length === 0) return statement;
  const [before, result] = await Promise.allSettled([Promise.all(setup), statement]);
  if (before.status === "rejected") throw before.reason;
  if (result.status === "rejected") throw result.reason;
  return result.value;
}
