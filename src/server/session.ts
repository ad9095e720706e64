// One client session: the protocol state machine from SSLRequest to Terminate. Startup and
// authentication are relayed to the session's own coordinator-database connection (so trust, md5
// and scram-sha-256 behave as that database is configured); afterwards every message that needs no
// Canopy logic is forwarded as bytes, and the rest (Canopy UDFs, canopy.* settings) is intercepted.
import net from "node:net";
import tls from "node:tls";
import type { Duplex } from "node:stream";
import { isUtf8 } from "node:buffer";
import {
  BackendCode,
  BodyReader,
  CANCEL_REQUEST_CODE,
  FrontendCode,
  GSSENC_REQUEST_CODE,
  MessageFramer,
  MessageWriter,
  ProtocolViolation,
  SSL_REQUEST_CODE,
  parseDataRow,
  parseErrorFields,
  parseStartup,
  scanMessages,
  write,
  type ErrorFields,
  type Message,
} from "../protocol/messages.js";
import { SqlError, shiftPosition, toErrorFields } from "../errors.js";
import { RemoteError, type RawLink } from "../nodes/gateway.js";
import { openSocket, sendCancelRequest } from "../nodes/postgres.js";
import type { PGliteLink } from "../nodes/pglite.js";
import { arrayLiteral, quoteQualified } from "../sql/quote.js";
import { deparseStatement, parseSql } from "../sql/parse.js";
import { settingsNamedIn, walk, type AstNode } from "../sql/ast.js";
import { BackendPipe, type InternalSink } from "./backend_pipe.js";
import type { Coordinator } from "./coordinator.js";
import { classifyStatement, type Classification } from "./classify.js";
import { InterceptedStatement, runIntercepted, describeIntercepted, type Invocation } from "../commands/intercept.js";
import { commitBlock } from "../transaction/commit.js";
import { RemoteConnections, utf8Encodings, type SessionSettings } from "../executor/remote.js";
import { loadMetadata, type MetadataSnapshot, type TableRecord } from "../metadata/cache.js";
import { classifyDistributed, mayConcernDistributed } from "./classify.js";
import { recordedView, refuseWriteThroughView } from "../planner/views.js";
import { DistributedCopyIn, relationRef } from "../executor/copy.js";
import { COLUMNS_QUERY, columnsFromRows, type ColumnInfo } from "../executor/defaults.js";
import {
  abortedBlockError,
  checkResultUnchanged,
  coordinatorDescription,
  preparedResult,
  describedParameterTypes,
  emit,
  intermediateLimit,
  refuseInFailedBlock,
  refuseNonstandardStrings,
  resolveTable,
  returns,
  runOnCoordinator,
  isPlannable,
  mayTouchDistributed,
  readsOnlyDistributedTables,
  sameResultColumns,
  type DistributedState,
} from "../executor/distributed.js";
import { shareIdentity } from "../executor/stat_statements.js";
import { textLiterals, type TextShape } from "../sql/literals.js";
import { parameterizeLiterals } from "../planner/literal_params.js";
import { StatementShapes } from "./statement_shapes.js";
import type { SqlPrepared } from "../commands/prepared.js";
import { StatementInterrupts, interruption, isDeadlockVictim } from "./interrupts.js";
import { COORDINATOR_DATABASE, type Participant } from "../transaction/deadlock.js";
import { PortalRows } from "./portal_rows.js";
import { corkForTick, drained } from "../protocol/cork.js";

const enum SessionState {
  Startup,
  Authenticating,
  Ready,
  Closed,
}

/** An intercepted portal: the statement it was bound from and its Bind values. */
interface InterceptedPortal {
  statement: InterceptedStatement;
  params: (Buffer | null)[];
  paramFormats: number[];
  resultFormats: number[];
  /** Set once an Execute with a row limit ran it: what it answered, handed out in pieces. */
  rows?: PortalRows;
}

/** A statement's error as its client gets it, the position counted in the client's text. */
function statementErrorFields(e: unknown, st: InterceptedStatement): ErrorFields {
  return shiftPosition(toErrorFields(e), st.offset ?? 0);
}

/**
 * What running a portal's statement is given. Built field by field: spreading the portal copies
 * its properties one by one through V8's slow path, a measurable share of a router statement.
 */
function portalInvocation(portal: InterceptedPortal): Invocation {
  return {
    params: portal.params,
    paramFormats: portal.paramFormats,
    resultFormats: portal.resultFormats,
    describe: false,
  };
}

const classificationCacheMax = 5000;

/**
 * How long a client's BEGIN may wait for the block's next statement before it goes to the
 * coordinator database alone (BackendPipe.holdBegin): the block's start, and so its now(), is at
 * most this late, as if the BEGIN had taken this long to arrive.
 */
const heldBeginMaxDelayMs = 10;

/**
 * Epoch seconds with up to six decimals (extract(epoch …) of a timestamptz) as the text
 * "YYYY-MM-DD HH:MM:SS.US+00", which every node reads alike whatever its DateStyle and TimeZone.
 */
export function utcTimestamp(epoch: string): string {
  const dot = epoch.indexOf(".");
  const whole = dot < 0 ? epoch : epoch.slice(0, dot);
  // Whole seconds are exact as a Number; the fraction is read as microseconds.
  let seconds = Number(whole);
  let micros = dot < 0 ? 0 : Number(epoch.slice(dot + 1, dot + 7).padEnd(6, "0"));
  if (whole.startsWith("-") && micros > 0) {
    seconds -= 1;
    micros = 1_000_000 - micros;
  }
  const date = new Date(seconds * 1000).toISOString();
  return `${date.slice(0, 10)} ${date.slice(11, 19)}.${String(micros).padStart(6, "0")}+00`;
}

/**
 * PostgreSQL runs a Query of several statements as one implicit transaction: a BEGIN in it takes
 * the statements before it into the block, a COMMIT or ROLLBACK ends them, and the statements after
 * that start another such transaction. Canopy runs a string that reaches distributed tables
 * statement by statement (in a block of its own only when nothing in it controls transactions), so
 * a statement outside the string's BEGIN … COMMIT would commit on its own. Such a string is refused
 * before any of it runs. `inBlock`: the session's block is open when the string starts.
 */
function implicitTransactionRefusal(
  parts: readonly { intercepted: InterceptedStatement | null }[],
  inBlock: boolean,
): SqlError | null {
  if (parts.length < 2 || !parts.some((p) => p.intercepted?.transaction !== undefined)) return null;
  let explicit = inBlock;
  for (const p of parts) {
    const effect = blockEffect(p.intercepted);
    if (effect === "opens") explicit = true;
    else if (effect === "ends") explicit = false;
    else if (!explicit && !plainRead(p.intercepted)) {
      return new SqlError(
        "0A000",
        "a query string that reaches distributed tables and controls transactions may hold statements only inside its BEGIN … COMMIT",
        {
          detail:
            "PostgreSQL runs the statements outside the block as one implicit transaction with the block; Canopy would commit each on its own.",
          hint: "Send the statements outside the block as queries of their own, or put them inside BEGIN … COMMIT.",
        },
      );
    }
  }
  return null;
}

/**
 * What a statement does to the transaction block: opens one (BEGIN, START TRANSACTION), ends it
 * (COMMIT or ROLLBACK without AND CHAIN, PREPARE TRANSACTION), other transaction control ("other":
 * SAVEPOINT, chained ends, …), or null for any other statement.
 */
function blockEffect(st: InterceptedStatement | null): "opens" | "ends" | "other" | null {
  if (st?.transaction === undefined) return null;
  const tx = st.stmt.TransactionStmt as { kind?: string; chain?: boolean } | undefined;
  if (tx?.kind === "TRANS_STMT_BEGIN" || tx?.kind === "TRANS_STMT_START") return "opens";
  if (tx?.kind === "TRANS_STMT_PREPARE") return "ends";
  if ((tx?.kind === "TRANS_STMT_COMMIT" || tx?.kind === "TRANS_STMT_ROLLBACK") && !tx.chain) return "ends";
  return "other";
}

/** A SELECT without row locks or WITH: nothing of it to undo with the implicit transaction. */
function plainRead(st: InterceptedStatement | null): boolean {
  const select = st?.stmt.SelectStmt as { lockingClause?: unknown; withClause?: unknown } | undefined;
  return !!select && !select.lockingClause && !select.withClause;
}

/**
 * Statements before one Sync are one implicit transaction in PostgreSQL, up to a COMMIT or ROLLBACK
 * among them, after which the rest start another. Canopy runs the statements of such a pipeline
 * that reach distributed tables in a block of its own (Session.pipelineBlock), which a
 * transaction control statement would break, and does not open another after a transaction ended.
 */
function pipelineRefusal(): SqlError {
  return new SqlError(
    "0A000",
    "transaction control in a pipeline with statements on distributed tables outside BEGIN … COMMIT is not supported",
    {
      detail:
        "The statements before a Sync that are not inside BEGIN … COMMIT are one implicit transaction in PostgreSQL.",
      hint: "End the pipeline with a Sync before the transaction control statement, or after its COMMIT or ROLLBACK.",
    },
  );
}

/** The number of parameters and of result columns the coordinator database found at Parse, if it was asked. */
function describedShape(statement: InterceptedStatement): { params: number; columns: number } | null {
  const description = statement.distributed?.described?.description;
  if (!description) return null;
  const columns = description.rows ? description.rows.readInt16BE(5) : 0;
  return { params: description.parameters.readUInt16BE(5), columns };
}

/** Whether a statement ends a transaction block, and so may run in a failed one (COMMIT, ROLLBACK, …). */
function endsBlock(statement: InterceptedStatement): boolean {
  const kind = statement.transaction;
  return (
    kind === "TRANS_STMT_COMMIT" ||
    kind === "TRANS_STMT_ROLLBACK" ||
    kind === "TRANS_STMT_ROLLBACK_TO" ||
    kind === "TRANS_STMT_PREPARE"
  );
}

/** A Bind whose counts of parameters and their format codes do not fit the statement, as PostgreSQL refuses it. */
function bindCountRefusal(
  statementName: string,
  statement: InterceptedStatement,
  paramFormats: readonly number[],
  params: readonly unknown[],
): SqlError | null {
  if (paramFormats.length > 1 && paramFormats.length !== params.length) {
    return new SqlError(
      "08P01",
      `bind message has ${paramFormats.length} parameter formats but ${params.length} parameters`,
    );
  }
  const required = describedShape(statement)?.params;
  if (required !== undefined && params.length !== required) {
    return new SqlError(
      "08P01",
      `bind message supplies ${params.length} parameters, but prepared statement "${statementName}" requires ${required}`,
    );
  }
  return null;
}

/** A Bind with a format code other than text (0) and binary (1), or result formats that do not fit the columns. */
function bindFormatRefusal(
  statement: InterceptedStatement,
  paramFormats: readonly number[],
  params: readonly unknown[],
  resultFormats: readonly number[],
): SqlError | null {
  for (let i = 0; i < params.length; i++) {
    const format = paramFormats.length === 1 ? paramFormats[0] : (paramFormats[i] ?? 0);
    if (format !== 0 && format !== 1) return new SqlError("22023", `unsupported format code: ${format}`);
  }
  const columns = describedShape(statement)?.columns;
  // A statement without rows takes any result formats.
  if (columns && resultFormats.length > 1 && resultFormats.length !== columns) {
    return new SqlError(
      "08P01",
      `bind message has ${resultFormats.length} result formats but query has ${columns} columns`,
    );
  }
  return null;
}

/**
 * The names of the settings a startup packet's `options` sets (`-c name=value`, `-cname=value`,
 * `--name=value`), lower case; words split at spaces, a backslash keeping the next character, as
 * PostgreSQL splits them (pg_split_opts).
 */
export function optionSettings(options: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < options.length; i++) {
    const c = options[i];
    if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else {
      word = (word ?? "") + (c === "\\" && i + 1 < options.length ? options[++i] : c);
    }
  }
  if (word !== null) words.push(word);
  const names: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    const setting =
      w === "-c"
        ? words[++i]
        : w.startsWith("--")
          ? w.slice(2).replaceAll("-", "_")
          : w.startsWith("-c")
            ? w.slice(2)
            : null;
    if (setting) names.push(setting.split("=")[0].toLowerCase());
  }
  return names;
}

const INTERVAL_OID = 1186;

/** The tag of a BEGIN without options, or null for any other statement. */
function beginTag(sql: string): string | null {
  if (/^\s*begin(\s+(work|transaction))?\s*;?\s*$/i.test(sql)) return "BEGIN";
  if (/^\s*start\s+transaction\s*;?\s*$/i.test(sql)) return "START TRANSACTION";
  return null;
}

/** canopy.* settings the distributed executor follows (see executorSettings). */
export interface ExecutorSettings {
  readonly epoch: number;
  readonly logRemoteCommands: boolean;
  /** canopy.max_adaptive_executor_pool_size */
  readonly poolSize: number;
  /** canopy.executor_slow_start_interval, ms */
  readonly slowStartMs: number;
  /** canopy.max_cached_conns_per_worker */
  readonly cachedMax: number;
  /** canopy.prepared_busy_wait_timeout, ms */
  readonly preparedBusyWaitMs: number;
  /** canopy.parameterize_after */
  readonly parameterizeAfter: number;
}

const executorSettingNames = [
  "canopy.log_remote_commands",
  "canopy.max_adaptive_executor_pool_size",
  "canopy.executor_slow_start_interval",
  "canopy.max_cached_conns_per_worker",
  "canopy.prepared_busy_wait_timeout",
  "canopy.parameterize_after",
];

function executorSettingsFrom(epoch: number, values: readonly string[]): ExecutorSettings {
  const [log, poolSize, slowStartMs, cachedMax, preparedBusyWaitMs, parameterizeAfter] = values;
  return {
    epoch,
    logRemoteCommands: log === "on",
    poolSize: +poolSize,
    slowStartMs: +slowStartMs,
    cachedMax: +cachedMax,
    preparedBusyWaitMs: +preparedBusyWaitMs,
    parameterizeAfter: +parameterizeAfter,
  };
}

const transactionWords = /commit|end|rollback|abort|savepoint|release|prepare/i;
/**
 * Words of statements that may change search_path (or what its names reach: DISCARD TEMP drops
 * temporary tables), transaction modes, settings the workers follow.
 */
const searchPathWords = /search_path|discard/i;
const transactionModeWords = /isolation|read(\s+|_)only|deferrable|default_transaction|reset|discard|set_config/i;
const settingWords =
  /search_path|timezone|time zone|datestyle|intervalstyle|extra_float_digits|bytea_output|timeout|\brole\b|session.authorization|reset|discard|read.only|characteristics|default_transaction|text_search|transform_null|array_nulls|xmlbinary|xmloption|quote_all|standard_conforming/i;
/** Words of statements that may change canopy.* settings (noteCanopySettingChanges). */
const canopySettingWords = /canopy\.|reset|discard/i;

/** The answer to a block's start-time query (Session.blockStartAnswer). */
interface BlockStart {
  /** now(), as text every node reads alike. */
  readonly time: string;
  /** Whether the transaction had an id when asked. */
  readonly wrote: boolean;
  /** The id asked for, or null. */
  readonly xid: string | null;
}

/** Whether a message is one after which PostgreSQL flushes its output to the client. */
function endsFlush(message: Buffer): boolean {
  return message[0] === BackendCode.ReadyForQuery || message[0] === BackendCode.NoticeResponse;
}

export class Session {
  private state = SessionState.Startup;
  /** Counted among the coordinator's client connections (canopy.max_client_connections). */
  private admitted = false;
  /**
   * Commits of metadata changes the coordinator's other processes have not yet acknowledged
   * (metadataChangeEnded), and the output for the client held back until they have.
   */
  private metadataBarriers = 0;
  private heldOutput: Buffer[][] = [];
  private socket: Duplex;
  private readonly framer: MessageFramer;
  private link: RawLink | null = null;
  pipe: BackendPipe | null = null;
  private busy = false;
  private localErrorUntilSync = false;
  /** Executes received since the client's last Sync. */
  private executesSinceSync = 0;
  /** Whether a COMMIT, ROLLBACK or PREPARE TRANSACTION ran since the last Sync (pipelineRefusal). */
  private transactionEndedSinceSync = false;
  /**
   * Set while extended-protocol statements run in a block Canopy opened: one that reaches
   * distributed tables came with others before the client's Sync, all one implicit transaction in
   * PostgreSQL (a JDBC batch, a pipeline). The Sync commits the block, or rolls it back after an error.
   */
  private pipelineBlock = false;
  private readonly statements = new Map<string, InterceptedStatement>();
  private readonly portals = new Map<string, InterceptedPortal>();
  /** While set, what the session sends to the client is collected here instead (executeWithRowLimit). */
  private capture: Buffer[] | null = null;
  private captureBytes = 0;
  private captureLimit = { kb: -1, bytes: Infinity };
  private readonly classifications = new Map<string, Classification>();
  /** Simple-protocol statements over distributed tables kept by shape, run with their numbers as parameters. */
  private readonly shapes = new StatementShapes();
  private key = { processId: 0, secretKey: 0 };
  user = "";
  database = "";
  /** This session's connections to the workers. */
  readonly remote = new RemoteConnections(this);
  /** What stops this session's statements early: cancel, timeouts, deadlock detection. */
  readonly interrupts = new StatementInterrupts(() => this.stopRunning());
  /** Bumped when the session may have changed search_path (names resolve anew). */
  searchPathEpoch = 0;
  /** Bumped when the session may have changed settings that workers must follow (TimeZone, …). */
  settingsEpoch = 0;
  /** Set when settings may have changed since the last transaction end (which may undo them). */
  private settingsChangedSinceTransactionEnd = false;
  /** Bumped when the session may have changed transaction modes (isolation level, read only, …). */
  transactionModeEpoch = 0;
  /** Set when this session changed the metadata in a transaction not yet ended. */
  private metadataChangedInBlock = false;
  /** That transaction, by transactionsEnded. */
  private metadataChangedIn = -1;
  /** Counts the coordinator-database transactions that ended (ReadyForQuery reporting idle). */
  private transactionsEnded = 0;
  /** The block's start-time query (see blockStartAnswer), by BackendPipe.transactionNumber. */
  private blockStart: { transaction: number; statementsSent: number; answer: Promise<BlockStart | null> } | null = null;
  /** The block (by transactionsEnded) whose modifications last used its start time. */
  private blockStartUsedIn = -1;
  private blockMetadataLoads = 0;
  /** Counts this session's changes of the metadata (noteMetadataChange). */
  private metadataChanges = 0;
  private readonly distributedClassifications = new Map<
    string,
    { version: number; prepared: number; c: Classification }
  >();
  /**
   * Statements the client PREPAREd (SQL) over distributed tables, by name, and a counter of changes
   * to them (commands/prepared.ts).
   */
  readonly sqlPrepared = new Map<string, SqlPrepared>();
  sqlPreparedEpoch = 0;
  private readonly columnCache = new Map<string, ColumnInfo[]>();
  /**
   * Bumped when canopy.* settings may change: SET, RESET or DISCARD, set_config, or, once the
   * session has changed one, the end of a transaction or savepoint (which may undo it). Bumped
   * when such a statement is classified and again with the next one, which cannot read settings
   * before the change is made.
   */
  private canopySettingsEpoch = 0;
  private canopySettingsChanged = false;
  private canopySettingsBumpNext = false;
  /** canopy.* settings the executor follows, as last read (epoch -1: not read yet). */
  private executor: ExecutorSettings;
  /** When the client connected (ms since the epoch), and what it said in its startup packet. */
  readonly backendStartMs = Date.now();
  applicationName = "";
  /** The statement the session runs or ran last, as canopy_stat_activity shows it. */
  query = "";
  queryStartMs: number | null = null;
  private transactionStartMs: number | null = null;
  /** The texts of the forwarded prepared statements and portals, for `query` at Execute. */
  private readonly forwardedStatementTexts = new Map<string, string>();
  private readonly forwardedPortalTexts = new Map<string, string>();
  /**
   * The client's prepared statements seen to open a transaction block, by name, with their tag: a
   * Bind and Execute of one alone before a Sync may be held back (BackendPipe.holdBegin).
   */
  private readonly beginStatements = new Map<string, { tag: string; bind: Buffer }>();
  /** Execution states of statements parsed with parameter types, by types and text (stateForTypes). */
  private readonly typedStates = new Map<string, DistributedState>();
  /**
   * Canopy's statements run at every transaction (the block's start time, the commit decision),
   * parsed on the backend under names of Canopy's, by text (internalQuery's `keep`): parsing and
   * planning them there at each run was a third of the coordinator database's work per transaction.
   */
  private readonly keptStatements = new Map<string, string>();
  private keptStatementCount = 0;
  /** Counts the client's Parse and Close of statements, DEALLOCATE and DISCARD (beginStatements). */
  private statementChanges = 0;
  /** The last Bind forwarded to the backend since the client's last Sync, and a Describe of its portal after it. */
  private forwardedBind: { portal: string; statement: string; raws: Buffer[] } | null = null;
  /**
   * The Bind, Describe (of the portal, if any) and Execute of a BEGIN (its prepared statement named
   * `statement`) forwarded alone since the client's last Sync.
   */
  private beginBatch: { statement: string; tag: string; raws: Buffer[] } | null = null;
  /** performance.now() when Canopy began its current (or last) statement, for canopy_stat_statements. */
  statementStartMs = 0;

  constructor(
    readonly coordinator: Coordinator,
    socket: net.Socket,
  ) {
    this.socket = socket;
    this.framer = new MessageFramer(Number(coordinator.settings["canopy.max_message_size"]));
    this.executor = executorSettingsFrom(
      -1,
      executorSettingNames.map((name) => coordinator.settings[name]),
    );
  }

  start(): void {
    this.attach(this.socket);
  }

  /** Closes the session from the server side (shutdown). */
  terminate(): void {
    this.close();
  }

  /** Whether the session has ended. */
  get closed(): boolean {
    return this.state === SessionState.Closed;
  }

  /** The process id this session announced to its client (BackendKeyData, pg_backend_pid()). */
  get processId(): number {
    return this.key.processId;
  }

  /** The client's address and port (null and -1 over a unix socket, as pg_stat_activity shows). */
  get clientAddress(): { address: string | null; port: number } {
    const socket = this.socket as net.Socket;
    if (!socket.remoteAddress) return { address: null, port: -1 };
    return { address: socket.remoteAddress.replace(/^::ffff:(?=\d+\.)/, ""), port: socket.remotePort ?? -1 };
  }

  /** The session's state as pg_stat_activity names it, and when its transaction began. */
  get activityState(): { state: string; transactionStartMs: number | null } {
    const status = this.pipe?.transactionStatus ?? 0x49;
    const active = this.busy || (this.pipe?.outstanding ?? 0) > 0;
    if (!active && status === 0x49) return { state: "idle", transactionStartMs: null };
    const state = active ? "active" : status === 0x54 ? "idle in transaction" : "idle in transaction (aborted)";
    return { state, transactionStartMs: this.transactionStartMs };
  }

  /** Notes a statement's start for canopy_stat_activity; a transaction starts with it when none is open. */
  private beginQuery(sql: string): void {
    this.query = sql;
    this.queryStartMs = Date.now();
    if (this.pipe?.transactionStatus === 0x49) this.transactionStartMs = this.queryStartMs;
  }

  /**
   * Cancels the statement running in this session (a CancelRequest or pg_cancel_backend): a
   * statement of Canopy's stops on the workers too; anything else is the backend's to cancel.
   */
  cancel(): void {
    if (this.interrupts.committing) return;
    if (this.interrupts.request(interruption.userRequest())) return;
    // A statement of Canopy's being read or planned stops when its work begins (beginInterruptible).
    if (this.busy) this.cancelPending = true;
    void this.link?.cancel();
  }

  /** A cancel came while the client's messages were handled but before Canopy's statement began. */
  private cancelPending = false;

  /** A CancelRequest naming this session: honoured if it carries the session's secret. */
  cancelRequest(secretKey: number): void {
    if (this.key.secretKey === secretKey) this.cancel();
  }

  /** Ends this session as pg_terminate_backend asks, once no commit protocol is running. */
  terminateByAdministrator(): void {
    this.interrupts.request(interruption.terminate());
    this.interrupts.whenNotCommitting(() => this.fatal(interruption.terminate()));
  }

  /**
   * Runs a statement of Canopy's that a cancel, statement_timeout or the deadlock detector may stop;
   * its error is then the interruption's.
   */
  async runInterruptible<T>(work: () => Promise<T>): Promise<T> {
    await this.beginInterruptible();
    try {
      return await work();
    } catch (e) {
      const error = this.interrupts.errorFor(e);
      // A deadlock victim's whole transaction is cancelled: its locks on every node go now.
      if (isDeadlockVictim(error) && this.pipe!.transactionStatus !== 0x49) await this.remote.abandonTransaction();
      throw error;
    } finally {
      this.interrupts.end();
    }
  }

  /** Marks the start of a statement of Canopy's, under the session's statement_timeout. */
  private async beginInterruptible(): Promise<void> {
    // In a failed block nothing runs (the statement is refused), and settings cannot be read.
    const failedBlock = this.pipe!.transactionStatus === 0x45;
    this.interrupts.begin(failedBlock ? 0 : (await this.remote.sessionSettings()).statementTimeoutMs);
    if (this.cancelPending) {
      this.cancelPending = false;
      this.interrupts.request(interruption.userRequest());
    }
  }

  /**
   * This session as a possible party to a distributed deadlock: when its statement has run for at
   * least `ms` inside a remote transaction, the node backends it is waiting through.
   */
  deadlockParticipant(ms: number): Participant | null {
    if (!this.interrupts.running || Date.now() - this.interrupts.startedAt < ms) return null;
    if (!this.remote.hasOpenTransactions()) return null;
    const backends = this.remote.backendPids();
    if (this.coordinator.database.kind === "postgres") backends.push([COORDINATOR_DATABASE, this.processId]);
    return {
      backends,
      transactionStartedAt: this.remote.transactionStartedAt,
      cancelAsVictim: () => this.cancelAsDeadlockVictim(),
    };
  }

  /** Cancels the session's transaction, chosen to break a distributed deadlock. */
  cancelAsDeadlockVictim(): void {
    this.interrupts.request(interruption.deadlock());
  }

  /** Cancels what the running statement runs on the workers and on the coordinator database. */
  private stopRunning(): void {
    this.remote.cancelRunning();
    if (this.pipe && this.pipe.outstanding > 0) void this.link?.cancel();
  }

  // -------------------------------------------------------------------------------------------
  // Socket plumbing

  private attach(socket: Duplex): void {
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    socket.on("end", () => this.onClientEnd());
    socket.on("error", () => this.close());
    socket.on("close", () => this.close());
  }

  /** Set once the client closed its side: what it sent before runs, then the session ends. */
  private clientEnded = false;

  private onClientEnd(): void {
    this.clientEnded = true;
    if (!this.busy) void this.closeAfterEnd();
  }

  /** Ends the session once what the client sent before closing its side has run. */
  private async closeAfterEnd(): Promise<void> {
    await this.pipe?.idle().catch(() => undefined);
    this.close();
  }

  private receive(chunk: Buffer): void {
    if (this.state === SessionState.Closed) return;
    this.framer.push(chunk);
    // During such a COPY the framer holds at most part of one message: no pause, which only the
    // end of the Query being handled would undo, and that waits for the rest of the client's data.
    if (this.subQueryCopyIn) return this.pumpSubQueryCopyIn();
    // Bound what a client can pile up while a message is being handled.
    if (this.framer.pendingBytes > 64 * 1024 * 1024 && this.busy) this.socket.pause();
    void this.drive();
  }

  private async drive(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.state !== SessionState.Closed) {
        if (this.state === SessionState.Startup) {
          const packet = this.framer.nextStartup();
          if (!packet) break;
          await this.onStartupPacket(packet);
          continue;
        }
        const m = this.framer.next();
        if (!m) break;
        if (this.state === SessionState.Authenticating) this.onAuthMessage(m);
        else await this.onMessage(m);
      }
    } catch (e) {
      this.fatal(e);
    } finally {
      this.pipe?.flush();
      this.busy = false;
      this.cancelPending = false;
      this.flushClient();
      this.remote.trim();
      if (this.socket.isPaused() && !this.backendBehind) this.socket.resume();
      this.holdClientForBackend();
      if (this.clientEnded) void this.closeAfterEnd();
    }
  }

  /**
   * Sends a row of a result a node streams (RowSink); while the client is behind in reading, the
   * promise returned holds the node's connection back, so that a slow client keeps the rows on the
   * node rather than in the coordinator's memory, as PostgreSQL's backend waits on its socket.
   */
  sendStreamedRow(row: Buffer): Promise<void> | undefined {
    this.sendToClient(row);
    return this.socket.writableLength > CLIENT_BACKLOG_MAX ? drained(this.socket) : undefined;
  }

  sendToClient(...chunks: Buffer[]): void {
    if (this.state === SessionState.Closed) return;
    if (this.capture) {
      this.capture.push(...chunks);
      for (const c of chunks) this.captureBytes += c.length;
      // Past the limit the statement fails where it is, before it commits.
      if (this.captureBytes > this.captureLimit.bytes) throw portalTooLarge(this.captureLimit.kb);
      return;
    }
    if (this.metadataBarriers > 0) {
      this.heldOutput.push(chunks);
      return;
    }
    this.corkClient();
    const accepted = this.socket.write(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    // PostgreSQL's flush points: a ReadyForQuery, a notice (and a full buffer).
    if (!accepted || chunks.some(endsFlush)) this.flushClient();
    // A client that reads slowly holds back the backend instead of filling our memory.
    if (!accepted && this.link && !this.backendPaused) {
      this.backendPaused = true;
      this.link.pause();
      this.socket.once("drain", () => {
        this.backendPaused = false;
        this.link?.resume();
      });
    }
  }

  private backendPaused = false;
  private clientCorked = false;

  /**
   * While the client is behind in reading what it was sent: resolves once it has caught up, so
   * that what produces the output (a worker's COPY TO) can wait rather than fill our memory.
   */
  clientCaughtUp(): Promise<void> | undefined {
    if (this.capture || !this.socket.writableNeedDrain) return undefined;
    return drained(this.socket);
  }

  /** The coordinator database's answers, which it sent at its own flush points: they leave now. */
  private forwardToClient(chunks: Buffer[]): void {
    this.sendToClient(...chunks);
    this.flushClient();
  }

  /**
   * Holds what is sent to the client, as PostgreSQL does, until a ReadyForQuery, a notice, the
   * client's Flush, or the session waiting for the client: while the client's messages are being
   * handled (drive) until they are all handled, otherwise until the end of the tick. A router
   * query's BindComplete and its rows then leave in one write, not two. Past the socket's
   * high-water mark the output leaves at once (sendToClient), as do the coordinator database's
   * answers (forwardToClient).
   */
  private corkClient(): void {
    // While the client is slow to read, nothing is held: the socket's drain must come.
    if (this.clientCorked || this.socket.writableNeedDrain) return;
    this.clientCorked = true;
    this.socket.cork();
    if (!this.busy) process.nextTick(() => this.flushClient());
  }

  private flushClient(): void {
    if (!this.clientCorked) return;
    this.clientCorked = false;
    this.socket.uncork();
  }

  private fatal(e: unknown): void {
    const fields =
      e instanceof ProtocolViolation
        ? { severity: "FATAL", code: e.sqlState, message: e.message }
        : { ...toErrorFields(e), severity: "FATAL" };
    if (!(e instanceof ProtocolViolation) && !(e instanceof SqlError)) {
      this.coordinator.log(`session ${this.key.processId}: ${e instanceof Error ? e.stack : String(e)}`);
    }
    this.sendToClient(write.errorResponse(fields));
    this.close();
  }

  private close(): void {
    if (this.state === SessionState.Closed) return;
    this.state = SessionState.Closed;
    // Closing a connection does not stop a statement running on it.
    this.remote.cancelRunning();
    void this.remote.closeAll();
    this.coordinator.sessions.delete(this.key.processId);
    if (this.admitted) this.coordinator.sessionLeft();
    // A client that went away mid-query should not leave its query running on the backend.
    if (this.pipe && this.pipe.outstanding > 0) void this.link?.cancel();
    this.pipe?.abandon({ severity: "FATAL", code: "08006", message: "session closed" });
    this.link?.close();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  // -------------------------------------------------------------------------------------------
  // Startup

  private async onStartupPacket(packet: Buffer): Promise<void> {
    const { version, params } = parseStartup(packet);
    if (version === SSL_REQUEST_CODE) {
      if (this.framer.pendingBytes > 0) throw new ProtocolViolation("unexpected data after SSLRequest");
      if (!this.coordinator.tlsContext || this.socket instanceof tls.TLSSocket) {
        this.socket.write("N");
        return;
      }
      this.socket.write("S");
      this.socket.removeAllListeners("data");
      this.socket.removeAllListeners("end");
      this.socket.removeAllListeners("close");
      this.socket.removeAllListeners("error");
      const secure = new tls.TLSSocket(this.socket as net.Socket, {
        isServer: true,
        secureContext: this.coordinator.tlsContext,
      });
      this.socket = secure;
      this.attach(secure);
      return;
    }
    if (version === GSSENC_REQUEST_CODE) {
      this.socket.write("N");
      return;
    }
    if (version === CANCEL_REQUEST_CODE) {
      const r = new BodyReader(packet.subarray(4));
      const processId = r.int32();
      const secretKey = r.int32();
      const target = this.coordinator.sessions.get(processId);
      if (target) target.cancelRequest(secretKey);
      else this.coordinator.siblings.tell("cancel-request", { processId, secretKey });
      this.close();
      return;
    }
    if (version >> 16 !== 3) {
      throw new SqlError(
        "0A000",
        `unsupported frontend protocol ${version >> 16}.${version & 0xffff}: server supports 3.0 to 3.0`,
      );
    }
    if (!params.user) throw new SqlError("28000", "no PostgreSQL user name specified in startup packet");
    const admitted = await this.coordinator.admitSession();
    if (admitted && this.state === SessionState.Closed) return this.coordinator.sessionLeft();
    if (!admitted) throw new SqlError("53300", "sorry, too many clients already");
    this.admitted = true;
    if (params.replication && params.replication !== "false") {
      throw new SqlError("0A000", "replication connections are not supported by the Canopy coordinator");
    }
    this.user = params.user;
    this.database = params.database || params.user;
    // An embedded coordinator database is one database; a server's other ones are refused once
    // the server has authenticated the client and found the database (onAuthData).
    const refusal = this.otherDatabaseRefusal();
    if (refusal && this.coordinator.database.kind === "pglite") throw refusal;
    this.applicationName = params.application_name ?? "";
    this.key = this.coordinator.allocateSessionKey();
    this.coordinator.sessions.set(this.key.processId, this);
    await this.connectBackend(params);
  }

  private async connectBackend(params: Record<string, string>): Promise<void> {
    const db = this.coordinator.database;
    if (db.kind === "pglite") {
      this.link = db.node.openLink();
      this.pipe = new BackendPipe(
        this.link,
        (chunks) => this.forwardToClient(chunks),
        () => this.onTransactionEnd(),
      );
      this.link.onClose(() => this.close());
      const out: Buffer[] = [write.authenticationOk()];
      const parameters: Record<string, string> = {
        ...this.coordinator.serverParameters,
        session_authorization: this.user,
      };
      if (params.application_name) parameters.application_name = params.application_name;
      for (const [k, v] of Object.entries(parameters)) out.push(write.parameterStatus(k, v));
      out.push(write.backendKeyData(this.key.processId, this.key.secretKey), write.readyForQuery(0x49));
      this.sendToClient(...out);
      this.state = SessionState.Ready;
      return;
    }
    // Real PostgreSQL: relay the startup and authentication exchange, adding Canopy's defaults.
    const startup: Record<string, string> = { ...params };
    // A setting the client gives in `options` (PGOPTIONS='-c canopy.x=…') is the client's: one of
    // Canopy's defaults in the packet would override it, as PostgreSQL reads those after `options`.
    const given = new Set(optionSettings(params.options ?? ""));
    for (const [name, value] of Object.entries(this.coordinator.settings)) {
      if (!(name in startup) && !given.has(name.toLowerCase())) startup[name] = value;
    }
    const socket = openSocket(db.host, db.port);
    const link = new SocketLink(socket, db.host, db.port);
    this.link = link;
    this.state = SessionState.Authenticating;
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", (e) =>
        reject(new SqlError("08006", `could not connect to the coordinator database: ${e.message}`)),
      );
    });
    link.onClose(() => this.close());
    link.onData((chunk) => this.onAuthData(chunk));
    socket.write(write.startupMessage(startup));
  }

  /**
   * The refusal of a session to a database other than the coordinator database: the metadata, and
   * so what is distributed, is that database's, and in another one the same names are other tables.
   */
  private otherDatabaseRefusal(): SqlError | null {
    const served = this.coordinator.database.database;
    if (this.database === served) return null;
    return new SqlError("0A000", `connections to database "${this.database}" are not supported by this coordinator`, {
      detail: `The coordinator serves database "${served}", whose metadata says which tables are distributed.`,
      hint: "Connect to the other database's PostgreSQL server directly.",
    });
  }

  private authLeftover: Buffer | null = null;

  private onAuthData(chunk: Buffer): void {
    if (this.state !== SessionState.Authenticating) return;
    const buf = this.authLeftover ? Buffer.concat([this.authLeftover, chunk]) : chunk;
    const out: Buffer[] = [];
    let ready = false;
    const end = scanMessages(buf, (code, start, finish) => {
      const message = buf.subarray(start, finish);
      if (code === BackendCode.BackendKeyData) {
        const r = new BodyReader(message.subarray(5));
        const backendKey = { processId: r.int32(), secretKey: r.int32() };
        (this.link as SocketLink).backendKey = backendKey;
        this.takeProcessId(backendKey.processId);
        out.push(write.backendKeyData(this.key.processId, this.key.secretKey));
      } else if (code === BackendCode.ParameterStatus && isHiddenParameter(message)) {
        // canopy.* defaults were sent in the startup packet; clients see them through SHOW.
      } else {
        out.push(message);
      }
      if (code === BackendCode.ReadyForQuery) {
        ready = true;
        return false;
      }
      if (code === BackendCode.ErrorResponse) {
        this.sendToClient(...out);
        out.length = 0;
        this.close();
        return false;
      }
    });
    const refusal = ready ? this.otherDatabaseRefusal() : null;
    if (refusal) return this.fatal(refusal);
    this.sendToClient(...out);
    if (!ready) {
      this.authLeftover = end < buf.length ? Buffer.from(buf.subarray(end)) : null;
      return;
    }
    const rest = buf.subarray(end);
    this.authLeftover = null;
    const link = this.link as SocketLink;
    link.clearDataListeners();
    this.pipe = new BackendPipe(
      link,
      (chunks) => this.forwardToClient(chunks),
      () => this.onTransactionEnd(),
    );
    this.state = SessionState.Ready;
    if (rest.length > 0) link.emit(Buffer.from(rest));
    void this.drive();
  }

  /**
   * Announces the coordinator-database backend's pid as this session's, so that pg_backend_pid()
   * and pg_stat_activity agree with the BackendKeyData the client got (the secret stays Canopy's).
   */
  private takeProcessId(processId: number): void {
    if (this.coordinator.sessions.has(processId)) return;
    this.coordinator.sessions.delete(this.key.processId);
    this.key = { processId, secretKey: this.key.secretKey };
    this.coordinator.sessions.set(processId, this);
  }

  private onAuthMessage(m: Message): void {
    if (m.code !== FrontendCode.Password) {
      if (m.code === FrontendCode.Terminate) return this.close();
      throw new ProtocolViolation(`expected password response, got message type ${m.code}`);
    }
    this.link!.write(m.raw);
  }

  // -------------------------------------------------------------------------------------------
  // Messages after startup

  private async onMessage(m: Message): Promise<void> {
    const pipe = this.pipe!;
    if (this.copyIn) return this.onCopyInMessage(m);
    if (this.distributedCopyIn) return this.onDistributedCopyInMessage(m);
    if (this.localErrorUntilSync && m.code !== FrontendCode.Sync) {
      if (m.code === FrontendCode.Terminate) this.close();
      return;
    }
    switch (m.code) {
      case FrontendCode.Query:
        return this.onQuery(m);
      case FrontendCode.Parse:
        return this.onParse(m);
      case FrontendCode.Bind:
        return this.onBind(m);
      case FrontendCode.Describe:
        return this.onDescribe(m);
      case FrontendCode.Execute:
        return this.onExecute(m);
      case FrontendCode.Close:
        return this.onClose(m);
      case FrontendCode.Sync: {
        const begin = this.executesSinceSync === 1 ? this.beginBatch : null;
        this.executesSinceSync = 0;
        this.transactionEndedSinceSync = false;
        this.beginBatch = null;
        this.forwardedBind = null;
        if (begin && !this.localErrorUntilSync && !this.pipelineBlock) return this.syncAfterBegin(begin, m);
        if (this.pipelineBlock) {
          this.pipelineBlock = false;
          // The answers to statements forwarded in the block may still be on their way: an error
          // among them fails the block, which must not then try to commit.
          await pipe.idle();
          const failed = this.localErrorUntilSync || pipe.errorSinceSync;
          this.localErrorUntilSync = false;
          return this.endImplicitBlock(failed);
        }
        this.localErrorUntilSync = false;
        // After statements Canopy answered without the coordinator database (router queries), or
        // with internal queries only, inside a block. One still under way (the transaction id asked
        // beside the statement) is waited for: the client's Sync would wait for it too.
        if (pipe.outstanding > 0 && pipe.onlyInternalOutstanding()) await pipe.idle();
        const status = pipe.answerSync();
        if (status === null) return pipe.forward(m.code, m.raw);
        if (status === 0x49) this.dropPortals();
        return this.sendToClient(write.readyForQuery(status));
      }
      case FrontendCode.Flush:
        pipe.send(m.raw);
        return this.flushClient();
      case FrontendCode.CopyData:
      case FrontendCode.CopyDone:
      case FrontendCode.CopyFail:
        return pipe.send(m.raw);
      case FrontendCode.FunctionCall:
        return pipe.forward(m.code, m.raw);
      case FrontendCode.Terminate:
        return this.close();
      default:
        throw new ProtocolViolation(`invalid frontend message type ${m.code}`);
    }
  }

  private classify(sql: string): Classification {
    let c = this.classifications.get(sql);
    if (!c) {
      c = classifyStatement(sql, this.coordinator.database.kind === "pglite");
      if (this.classifications.size >= classificationCacheMax) this.classifications.clear();
      this.classifications.set(sql, c);
    }
    return c;
  }

  /** Classifies SQL, also finding statements that touch distributed tables or end remote transactions. */
  private async classifyAll(sql: string, prepared = false): Promise<Classification> {
    try {
      return await this.classifyWithMetadata(sql, prepared);
    } catch (e) {
      return { kind: "error", error: toErrorFields(e) };
    }
  }

  /**
   * `prepared`: the statement is being prepared (Parse) and runs later, maybe in a block that
   * has reached workers by then: transaction control must be Canopy's whatever the block is now.
   */
  private async classifyWithMetadata(sql: string, prepared: boolean): Promise<Classification> {
    this.noteCanopySettingChanges(sql);
    const deallocate = this.canopyDeallocate(sql);
    if (deallocate) return deallocate;
    const c = this.classify(sql);
    if (c.kind === "intercept" && c.statements.some((p) => p.intercepted?.copyFromStdin)) {
      // The embedded database's COPY FROM STDIN, unless the table is a distributed one.
      const metadata = await this.metadata();
      if (!metadata.mentionsTable?.test(sql)) return c;
      const d = classifyDistributed(sql, metadata);
      if (d.kind !== "intercept") return d.kind === "error" ? d : c;
      return {
        kind: "intercept",
        statements: c.statements.map((p, i) => ({ ...p, intercepted: d.statements[i]?.intercepted ?? p.intercepted })),
      };
    }
    if (c.kind === "intercept") {
      // Canopy's functions look at the metadata; it is loaded now, before the statement holds an
      // embedded coordinator database, whose one backend the loading would otherwise wait for.
      const metadata = await this.metadata();
      // The string's other statements may be on distributed tables (`SELECT count(*) FROM t;
      // SELECT undistribute_table('t')`) or end a block that reached workers: those are Canopy's
      // too, or they would read the shells, or commit the coordinator database's part alone.
      if (c.statements.every((p) => p.intercepted !== null) || !this.concernsDistributed(sql, metadata, prepared)) {
        return c;
      }
      const d = classifyDistributed(sql, metadata, new Set(this.sqlPrepared.keys()));
      if (d.kind !== "intercept") return d.kind === "error" ? d : c;
      return {
        kind: "intercept",
        statements: c.statements.map((p, i) => ({
          ...p,
          intercepted: p.intercepted ?? d.statements[i]?.intercepted ?? null,
        })),
      };
    }
    if (c.kind !== "forward") return c;
    // PostgreSQL reads the literals of the whole string as standard_conforming_strings stands when
    // it arrives: a SET in the string, or the end of a block that set it, changes the strings after
    // it only. Read before it runs.
    if (sql.includes("\\") && /standard_conforming|\b(reset|discard|commit|end|rollback|abort)\b/i.test(sql)) {
      if (mayConcernDistributed(sql, await this.metadata())) {
        const checked = await this.checkStrings(c);
        if (checked.kind === "error") return checked;
      }
    }
    if (searchPathWords.test(sql)) this.searchPathEpoch++;
    if (transactionModeWords.test(sql)) this.transactionModeEpoch++;
    // Any SET: the workers follow every setting a user may change (RemoteConnections.sessionSettings).
    const sets = mayChangeSettings(sql);
    if (sets || settingWords.test(sql)) {
      this.settingsEpoch++;
      this.settingsChangedSinceTransactionEnd = true;
      if (sets) this.remote.noteSetSettings(setSettingNames(sql));
    } else if (this.settingsChangedSinceTransactionEnd && transactionWords.test(sql)) {
      this.settingsUndone();
    }
    const metadata = await this.metadata();
    // Settings read earlier only: a query here would put the forwarded statement in a pipeline.
    const settings = this.remote.knownSettings();
    if (settings && mayConcernDistributed(sql, metadata)) {
      try {
        refuseNonstandardStrings(settings);
      } catch (e) {
        return { kind: "error", error: toErrorFields(e) };
      }
    }
    if (!this.concernsDistributed(sql, metadata, prepared)) return c;
    const cached = this.distributedClassifications.get(sql);
    let d: Classification;
    if (cached && cached.version === metadata.version && cached.prepared === this.sqlPreparedEpoch) {
      d = cached.c;
    } else {
      d = classifyDistributed(sql, metadata, new Set(this.sqlPrepared.keys()));
      if (this.distributedClassifications.size >= classificationCacheMax) this.distributedClassifications.clear();
      this.distributedClassifications.set(sql, { version: metadata.version, prepared: this.sqlPreparedEpoch, c: d });
    }
    // What Canopy cannot parse goes to the coordinator database, which reports the syntax error,
    // unless the session reads literals otherwise, where it would run over the empty shells.
    if (d.kind === "forward" && !settings && !parses(sql)) return this.checkStrings(d);
    return d;
  }

  /**
   * Whether SQL may be Canopy's to run beyond its own functions: it names a distributed table, ends
   * a block that reached workers (or may run in one: `prepared`), or executes a prepared statement.
   */
  private concernsDistributed(sql: string, metadata: MetadataSnapshot, prepared: boolean): boolean {
    if (mayConcernDistributed(sql, metadata)) return true;
    // The workers follow SET CONSTRAINTS, and its modes follow the block's savepoints.
    if (metadata.tables.length > 0 && /\bconstraints\b/i.test(sql)) return true;
    const modes = this.remote.constraintModes.active;
    if ((prepared || modes || this.remote.hasOpenTransactions()) && transactionWords.test(sql)) return true;
    return this.sqlPrepared.size > 0 && /\bexecute\b/i.test(sql);
  }

  /**
   * Whether a statement text that is not UTF-8 (Canopy read it with replacement characters) goes to
   * the coordinator database as it came, which refuses it as PostgreSQL does (22021, before reading
   * it): when the client's encoding is UTF-8's. Under another one the text is Canopy's to read, and
   * to refuse if it concerns distributed tables (refuseMisreadText).
   */
  private async forwardsMisencoded(text: Buffer): Promise<boolean> {
    if (isUtf8(text)) return false;
    // In a failed block the coordinator database refuses it whatever it holds.
    if (this.pipe!.transactionStatus === 0x45) return true;
    try {
      return utf8Encodings.has((await this.settingsBeforeForward()).clientEncoding);
    } catch {
      return true;
    }
  }

  /**
   * The session's settings, read now if this settings epoch has not read them, the internal query
   * ended with a Sync so a statement forwarded next is not in a pipeline (VACUUM, CREATE INDEX
   * CONCURRENTLY refuse to run in one), unless that Sync would end the client's own pipelined
   * statements early (they are then in one anyway).
   */
  private async settingsBeforeForward(): Promise<SessionSettings> {
    const known = this.remote.knownSettings();
    if (known) return known;
    const settings = await this.remote.sessionSettings();
    if (this.pipe!.syncEndsOnlyInternal()) await this.internalRaw(FrontendCode.Sync, write.sync());
    return settings;
  }

  /**
   * Refuses a string naming distributed tables when the session reads literals otherwise than
   * Canopy's parser (standard_conforming_strings off), read as settingsBeforeForward reads them.
   */
  private async checkStrings(d: Classification): Promise<Classification> {
    try {
      refuseNonstandardStrings(await this.settingsBeforeForward());
      return d;
    } catch (e) {
      return { kind: "error", error: toErrorFields(e) };
    }
  }

  private async onQuery(m: Message): Promise<void> {
    const sql = new BodyReader(m.body).cstring();
    this.beginQuery(sql);
    if (sql.includes("\uFFFD") && (await this.forwardsMisencoded(m.body.subarray(0, m.body.indexOf(0))))) {
      this.noteForwardedText(sql);
      return this.pipe!.forward(m.code, m.raw);
    }
    const shape = await this.queryShape(sql);
    // Settings already read only: a query here would put a forwarded statement (VACUUM) in a pipeline.
    const known = this.executor.epoch === this.canopySettingsEpoch ? this.executor : null;
    const kept = shape && known && known.parameterizeAfter >= 0 && this.shapes.find(shape.text, shape.stamp);
    if (kept) return this.runParameterized(kept.statement, kept.params);
    const c = await this.classifyAll(sql);
    const after = shape && c.kind === "intercept" ? (await this.executorSettings()).parameterizeAfter : -1;
    if (shape && after >= 0 && this.shapes.due(shape.text.key, shape.stamp, after)) {
      let found;
      try {
        found = await this.keepShape(sql, shape, c);
      } catch (e) {
        // The coordinator database failed Canopy's own queries (a lost connection, a cancel).
        this.sendToClient(write.errorResponse(toErrorFields(e)));
        return this.finishSimpleQuery(true);
      }
      if (found) return this.runParameterized(found.statement, found.params);
    }
    if (c.kind === "forward") {
      this.noteForwardedText(sql);
      this.pipe!.forward(m.code, m.raw);
      const tag = beginTag(sql);
      if (tag !== null && this.holdBegin([m.raw]))
        this.sendToClient(write.commandComplete(tag), write.readyForQuery(0x54));
      return;
    }
    await this.pipe!.idle();
    if (c.kind === "error") {
      this.sendToClient(write.errorResponse(c.error));
      return this.finishSimpleQuery(true);
    }
    const refusal = implicitTransactionRefusal(c.statements, this.pipe!.transactionStatus !== 0x49);
    if (refusal) {
      this.sendToClient(write.errorResponse(refusal.fields()));
      return this.finishSimpleQuery(true);
    }
    // Statement by statement: forwarded ones as their own Query, intercepted ones by Canopy.
    const implicitBlock = this.needsImplicitBlock(c.statements);
    if (implicitBlock) await this.beginImplicitBlock();
    let failed = false;
    const changesBefore = this.metadataChanges;
    const parts = c.statements;
    for (let i = 0; i < parts.length; i++) {
      let part = parts[i];
      const last = i === parts.length - 1;
      // A statement before this one changed the metadata (distributed a table, or undid that):
      // this one is classified again, as it would have been had it come in a Query of its own.
      if (this.metadataChanges !== changesBefore) {
        const again = await this.classifyAll(part.text);
        if (again.kind === "error") {
          this.sendToClient(write.errorResponse(shiftPosition(again.error, part.offset)));
          failed = true;
          break;
        }
        part =
          again.kind === "intercept"
            ? { ...again.statements[0], offset: part.offset }
            : { text: part.text, offset: part.offset, intercepted: null };
      }
      if (part.intercepted === null) {
        failed = (await this.forwardSubQuery(part.text, part.offset)) !== null;
      } else if (part.intercepted.copyFromStdin || part.intercepted.distributedCopy) {
        if (!last) {
          this.sendToClient(
            write.errorResponse(
              new SqlError("0A000", "COPY FROM STDIN must be the last statement of a query string").fields(),
            ),
          );
          failed = true;
          break;
        }
        if (!part.intercepted.distributedCopy) return this.startCopyIn(part.intercepted);
        const target = await this.copyTarget(part.intercepted);
        if (target !== "local") return this.startDistributedCopyIn(part.intercepted, false, target);
        if (this.coordinator.database.kind === "pglite") return this.startCopyIn(part.intercepted);
        failed = (await this.forwardSubQuery(part.text, part.offset)) !== null;
      } else {
        try {
          await runIntercepted(this, part.intercepted, {
            params: [],
            paramFormats: [],
            resultFormats: [],
            describe: true,
          });
          // End the extended-protocol work before a later statement is sent as a simple Query.
          if (!last) await this.internalRaw(FrontendCode.Sync, write.sync());
        } catch (e) {
          this.sendToClient(write.errorResponse(shiftPosition(toErrorFields(e), part.offset)));
          failed = true;
        }
      }
      if (failed) break;
    }
    if (c.statements.length === 0) this.sendToClient(write.emptyQueryResponse());
    if (implicitBlock) return this.endImplicitBlock(failed);
    await this.finishSimpleQuery(failed);
  }

  /**
   * The shape of a Query's text (statement_shapes.ts), when its statement may run as the kept
   * statement of its shape: it may name a distributed table, and its words change nothing Canopy
   * follows (canopy.* settings, search_path, transaction modes, settings the workers follow: those
   * are checked when the shape is kept; texts of one shape differ only in numbers and strings).
   */
  private async queryShape(sql: string): Promise<{ text: TextShape; stamp: string } | null> {
    // While this session's block holds metadata changes, each statement reads the metadata anew.
    if (this.metadataChangedInBlock || sql.includes("\\") || canopySettingWords.test(sql)) return null;
    if ((this.settingsChangedSinceTransactionEnd || this.canopySettingsChanged) && transactionWords.test(sql)) {
      return null;
    }
    const metadata = await this.metadata();
    if (!mayTouchDistributed(metadata, sql)) return null;
    const text = textLiterals(sql);
    if (!text) return null;
    this.noteCanopySettingChanges(sql);
    return { text, stamp: `${metadata.version}:${this.searchPathEpoch}` };
  }

  /**
   * Keeps the statement of a recurring shape with its literals as parameters, and returns it with
   * this text's values: when the text is one statement over distributed and reference tables only
   * (`c`), its words change no state, and the coordinator database describes it with the same
   * result columns both ways. Otherwise the shape is given up (null).
   */
  private async keepShape(
    sql: string,
    shape: { text: TextShape; stamp: string },
    c: Classification,
  ): Promise<{ statement: InterceptedStatement; params: Buffer[] } | null> {
    const st = c.kind === "intercept" && c.statements.length === 1 ? c.statements[0].intercepted : null;
    const plain =
      st?.distributed !== undefined &&
      isPlannable(st.stmt) &&
      !searchPathWords.test(sql) &&
      !transactionModeWords.test(sql) &&
      !settingWords.test(sql) &&
      !mayChangeSettings(sql);
    // Strings whose parameters are read as intervals stay constants: a column's or cast's
    // modifiers (interval day) would read the constant otherwise than the parameter's value.
    const constants = new Set<number>();
    for (let attempt = 0; attempt < 2; attempt++) {
      const parameterized = plain ? parameterizeLiterals(sql, st!.stmt, shape.text.literals, constants) : null;
      if (!parameterized) {
        this.shapes.keep(shape.text.key, null);
        return null;
      }
      const statement: InterceptedStatement = {
        sql: deparseStatement(parameterized.stmt),
        stmt: parameterized.stmt,
        paramTypes: parameterized.params.map((p) => p.type),
        distributed: { literalParams: true },
      };
      await this.pipe!.idle();
      // In a failed block the statement's error is the usual path's.
      if (this.pipe!.transactionStatus === 0x45) return null;
      // What else it reads may change without the metadata: an ALTER TABLE of a local table.
      const only = await readsOnlyDistributedTables(this, statement).catch((e) => {
        if (e instanceof SqlError) return false; // refused as the usual path refuses it
        throw e;
      });
      if (!only) {
        this.shapes.keep(shape.text.key, null);
        return null;
      }
      const alike = await this.describesAlike(st!, statement);
      if (alike === null) return null;
      if (!alike) {
        this.shapes.keep(shape.text.key, null);
        return null;
      }
      // Described just now, under the stamp the entry is kept by.
      const description = await coordinatorDescription(this, statement);
      const types = describedParameterTypes(description.parameters);
      const intervals = parameterized.params.filter((p, i) => p.type === 0 && types[i] === INTERVAL_OID);
      if (intervals.length > 0) {
        for (const p of intervals) constants.add(p.literal);
        continue;
      }
      shareIdentity(this, st!, statement);
      statement.distributed!.rowDescription = description.rows;
      const params = new Set(parameterized.params.map((p) => p.literal));
      const fixed = shape.text.literals.map((l, i) => (params.has(i) ? null : l.text));
      this.shapes.keep(shape.text.key, { stamp: shape.stamp, statement, params: parameterized.params, fixed });
      return this.shapes.find(shape.text, shape.stamp);
    }
    this.shapes.keep(shape.text.key, null);
    return null;
  }

  /**
   * Whether the coordinator database describes a statement and its parameterized form with the
   * same result columns; null when it refuses the statement itself (its error is the usual path's
   * to report). Inside a block the descriptions run under a savepoint, so that a refusal does not
   * fail the client's transaction.
   */
  private async describesAlike(
    original: InterceptedStatement,
    parameterized: InterceptedStatement,
  ): Promise<boolean | null> {
    const inBlock = this.pipe!.transactionStatus !== 0x49;
    if (inBlock) await this.internalCommand("SAVEPOINT canopy_shape");
    let alike: boolean | null = null;
    try {
      const theirs = await coordinatorDescription(this, original);
      alike = false;
      alike = sameResultColumns(theirs.rows, (await coordinatorDescription(this, parameterized)).rows);
    } catch (e) {
      if (!(e instanceof RemoteError)) throw e;
      await this.internalRaw(FrontendCode.Sync, write.sync());
      if (inBlock) await this.internalCommand("ROLLBACK TO SAVEPOINT canopy_shape");
    }
    if (inBlock) await this.internalCommand("RELEASE SAVEPOINT canopy_shape");
    return alike;
  }

  /** Runs a Query's text as the kept statement of its shape, with the text's numbers as parameters. */
  private async runParameterized(statement: InterceptedStatement, params: Buffer[]): Promise<void> {
    await this.pipe!.idle();
    let failed = false;
    try {
      await runIntercepted(this, statement, { params, paramFormats: [], resultFormats: [], describe: true });
    } catch (e) {
      this.sendToClient(write.errorResponse(toErrorFields(e)));
      failed = true;
    }
    await this.finishSimpleQuery(failed);
  }

  /**
   * Whether a Query of several statements must run in one transaction that Canopy opens: PostgreSQL
   * runs such a string as one implicit transaction (all or nothing, one now()), but Canopy runs its
   * statements one by one. When some statement reaches distributed or reference tables and none
   * controls transactions, is COPY FROM STDIN or is a statement of Canopy's own (UDFs, DDL), the
   * string runs inside BEGIN … COMMIT instead, the coordinator database's and the workers' parts
   * alike. Inside a block the client opened, the statements are already in one.
   */
  private needsImplicitBlock(parts: readonly { intercepted: InterceptedStatement | null }[]): boolean {
    if (parts.length < 2 || this.pipe!.transactionStatus !== 0x49) return false;
    return (
      parts.some((p) => p.intercepted?.distributed) &&
      parts.every((p) => p.intercepted === null || (p.intercepted.distributed && !p.intercepted.distributedCopy))
    );
  }

  private beginImplicitBlock(): Promise<void> {
    return this.internalCommand("BEGIN");
  }

  /** Runs a command without parameters and ends it with a Sync, in one round trip. */
  private async internalCommand(sql: string): Promise<void> {
    const results = [
      this.internalRaw(FrontendCode.Parse, write.parse("", sql, [])),
      this.internalRaw(FrontendCode.Bind, write.bind("", "", [], [])),
      this.internalRaw(FrontendCode.Execute, write.execute("", 0)),
      this.internalRaw(FrontendCode.Sync, write.sync()),
    ];
    await this.flushAndAwait(results);
  }

  /** Commits the implicit block, or rolls it back when a statement or the commit failed. */
  private async endImplicitBlock(failed: boolean): Promise<void> {
    if (!failed) {
      try {
        const commit = () => this.internalCommand("COMMIT");
        if (this.remote.hasOpenTransactions()) await commitBlock(this, commit);
        else await commit();
      } catch (e) {
        this.sendToClient(write.errorResponse(toErrorFields(e)));
        failed = true;
      }
    }
    if (failed) {
      await this.remote.rollbackAll().catch(() => {});
      await this.internalRaw(FrontendCode.Sync, write.sync());
      if (this.pipe!.transactionStatus !== 0x49) await this.internalCommand("ROLLBACK").catch(() => {});
    }
    this.sendToClient(write.readyForQuery(this.pipe!.transactionStatus));
  }

  private copyIn: { statement: InterceptedStatement; chunks: Buffer[]; size: number } | null = null;
  /** A COPY FROM STDIN into a distributed table in progress; `extended` when started by Execute. */
  private distributedCopyIn: { copy: DistributedCopyIn; extended: boolean } | null = null;

  /**
   * What a COPY FROM, taken for one into a distributed table because a distributed or reference
   * table has its name, writes into: that table; "local" when the name reaches another one through
   * its schema or search_path (a coordinator table, or none, which the coordinator database then
   * reports); null when startDistributedCopyIn is to find out and refuse (in a failed block, where
   * the COPY is refused whatever it names; a view over distributed tables; a failed lookup).
   */
  private async copyTarget(statement: InterceptedStatement): Promise<TableRecord | "local" | null> {
    if (this.pipe!.transactionStatus === 0x45) return null;
    const relation = (statement.stmt.CopyStmt as { relation: AstNode & { schemaname?: string; relname: string } })
      .relation;
    try {
      if (await recordedView(this, relation)) return null;
      return (await resolveTable(this, relationRef(relation))) ?? "local";
    } catch {
      return null;
    }
  }

  /**
   * Runs a COPY FROM STDIN into a local table that the client sent through the extended protocol,
   * and Canopy kept (copyTarget): the coordinator database gets the statement with
   * Canopy's Parse and Bind (their answers, which the client had from Canopy, go no further) and
   * the client's Execute; the CopyInResponse, and what follows the client's data, go to the client.
   */
  private startLocalCopyIn(statement: InterceptedStatement): void {
    if (this.coordinator.database.kind === "pglite") return this.failExtended(embeddedExtendedCopyRefusal().fields());
    const sink: InternalSink = {
      message: () => {},
      done: (error, skipped) => {
        if (!error || skipped) return;
        this.sendToClient(write.errorResponse(error));
        this.localErrorUntilSync = true;
      },
    };
    this.noteForwardedText(statement.sql);
    this.pipe!.request(FrontendCode.Parse, write.parse("", statement.sql, []), sink);
    this.pipe!.request(FrontendCode.Bind, write.bind("", "", []), sink);
    this.pipe!.forward(FrontendCode.Execute, write.execute("", 0));
    this.pipe!.requestFlush();
  }

  /** Starts COPY FROM STDIN into a distributed or reference table (`target`, when copyTarget found it). */
  private async startDistributedCopyIn(
    statement: InterceptedStatement,
    extended: boolean,
    target: TableRecord | null,
  ): Promise<void> {
    let copy: DistributedCopyIn;
    this.statementStartMs = performance.now();
    try {
      refuseInFailedBlock(this);
      // The statement runs until the client's data ends, under one statement_timeout.
      await this.beginInterruptible();
      copy = await DistributedCopyIn.start(this, statement, async (ref) => {
        if (target) return target;
        await refuseWriteThroughView(this, ref.rangeVar);
        return resolveTable(this, ref);
      });
    } catch (e) {
      e = this.interrupts.errorFor(e);
      this.interrupts.end();
      if (extended) return this.failExtended(toErrorFields(e));
      this.sendToClient(write.errorResponse(toErrorFields(e)));
      return this.finishSimpleQuery(true);
    }
    const format = copy.binary ? 1 : 0;
    const w = new MessageWriter(BackendCode.CopyInResponse).int8(format).int16(copy.columns.length);
    for (let i = 0; i < copy.columns.length; i++) w.int16(format);
    this.distributedCopyIn = { copy, extended };
    this.sendToClient(w.finish());
  }

  private async onDistributedCopyInMessage(m: Message): Promise<void> {
    const { copy, extended } = this.distributedCopyIn!;
    if (m.code === FrontendCode.CopyData) return copy.push(m.body);
    if (m.code === FrontendCode.Flush || m.code === FrontendCode.Sync) return;
    this.distributedCopyIn = null;
    let error: ErrorFields | null = null;
    if (m.code === FrontendCode.CopyDone) {
      try {
        const count = await copy.finish();
        this.sendToClient(write.commandComplete(`COPY ${count}`));
      } catch (e) {
        error = toErrorFields(this.interrupts.errorFor(e));
      }
    } else if (m.code === FrontendCode.CopyFail) {
      error = {
        severity: "ERROR",
        code: "57014",
        message: `COPY from stdin failed: ${new BodyReader(m.body).cstring()}`,
      };
      await copy.abort();
    } else {
      error = {
        severity: "ERROR",
        code: "08P01",
        message: `unexpected message type 0x${m.code.toString(16)} during COPY from stdin`,
      };
      await copy.abort();
    }
    this.interrupts.end();
    if (error) {
      // Nothing of a failed COPY stays: outside a block its remote transactions roll back here;
      // inside one, the block fails as in PostgreSQL.
      if (this.pipe!.transactionStatus === 0x49) await this.remote.rollbackAll();
      if (extended) return this.failExtended(error);
      this.sendToClient(write.errorResponse(error));
    }
    if (!extended) return this.finishSimpleQuery(error !== null);
  }

  /** Starts COPY FROM STDIN for an embedded coordinator database: Canopy collects the data. */
  private async startCopyIn(statement: InterceptedStatement): Promise<void> {
    const copy = statement.stmt.CopyStmt as {
      options?: { DefElem: { defname: string; arg?: { String?: { sval: string } } } }[];
      attlist?: unknown[];
      relation?: { relname: string; schemaname?: string };
    };
    const format =
      copy.options?.find((o) => o.DefElem.defname === "format")?.DefElem.arg?.String?.sval === "binary" ? 1 : 0;
    const listed = (copy.attlist ?? []).map((c) => (c as { String: { sval: string } }).String.sval);
    let columns = listed.length;
    if (copy.relation) {
      try {
        // As PostgreSQL's COPY, before the data: a missing schema (3F000; the embedded database's
        // regclass input would report the table), a missing table (42P01, the regclass input's),
        // a listed column the table lacks (42703). Asked without an error, in one query.
        const name = Buffer.from(quoteQualified(copy.relation.schemaname, copy.relation.relname));
        const schema = copy.relation.schemaname ?? null;
        const attributes = (relation: string) =>
          `SELECT count(*) FROM pg_catalog.pg_attribute WHERE attrelid = ${relation} AND attnum > 0 AND NOT attisdropped`;
        let rows = await this.internalQuery(
          `SELECT (${attributes("pg_catalog.to_regclass($1)")}), pg_catalog.to_regclass($1) IS NOT NULL,
                  $2::text IS NULL OR EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = $2),
                  (SELECT c FROM pg_catalog.unnest($3::text[]) AS c
                    WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_attribute WHERE attrelid = pg_catalog.to_regclass($1)
                                        AND attname = c AND attnum > 0 AND NOT attisdropped)
                    LIMIT 1)`,
          [name, schema === null ? null : Buffer.from(schema), Buffer.from(arrayLiteral(listed))],
        );
        if (rows[0][2] === "f") throw new SqlError("3F000", `schema "${schema}" does not exist`);
        if (rows[0][1] === "f") rows = await this.internalQuery(attributes("$1::regclass"), [name]);
        const unknown = rows[0][3];
        if (unknown !== null && unknown !== undefined) {
          throw new SqlError("42703", `column "${unknown}" of relation "${copy.relation.relname}" does not exist`);
        }
        if (!columns) columns = Number(rows[0][0]);
      } catch (e) {
        this.sendToClient(write.errorResponse(toErrorFields(e)));
        return this.finishSimpleQuery(true);
      }
    }
    const w = new MessageWriter(BackendCode.CopyInResponse).int8(format).int16(columns);
    for (let i = 0; i < columns; i++) w.int16(format);
    this.copyIn = { statement, chunks: [], size: 0 };
    this.sendToClient(w.finish());
  }

  private async onCopyInMessage(m: Message): Promise<void> {
    const copy = this.copyIn!;
    const limit = Number(this.coordinator.settings["canopy.max_message_size"]);
    switch (m.code) {
      case FrontendCode.CopyData:
        copy.size += m.body.length;
        if (copy.size <= limit) copy.chunks.push(Buffer.from(m.body));
        return;
      case FrontendCode.Flush:
      case FrontendCode.Sync:
        return;
      case FrontendCode.CopyDone:
      case FrontendCode.CopyFail: {
        this.copyIn = null;
        let error: ErrorFields | null = null;
        if (m.code === FrontendCode.CopyFail) {
          error = {
            severity: "ERROR",
            code: "57014",
            message: `COPY from stdin failed: ${new BodyReader(m.body).cstring()}`,
          };
        } else if (copy.size > limit) {
          error = {
            severity: "ERROR",
            code: "54000",
            message: `COPY data of ${copy.size} bytes exceeds canopy.max_message_size (${limit})`,
          };
        } else {
          try {
            const stmt = structuredClone(copy.statement.stmt);
            (stmt.CopyStmt as { filename?: string }).filename = "/dev/blob";
            this.pipe!.countStatement();
            const count = await (this.link as PGliteLink).copyFromBlob(
              deparseStatement(stmt),
              withoutEndMarker(Buffer.concat(copy.chunks)),
            );
            this.sendToClient(write.commandComplete(`COPY ${count}`));
          } catch (e) {
            error = toErrorFields(e);
          }
        }
        if (error) this.sendToClient(write.errorResponse(error));
        return this.finishSimpleQuery(error !== null);
      }
      default:
        this.copyIn = null;
        this.sendToClient(
          write.errorResponse({
            severity: "ERROR",
            code: "08P01",
            message: `unexpected message type 0x${m.code.toString(16)} during COPY from stdin`,
          }),
        );
        return this.finishSimpleQuery(true);
    }
  }

  /** Ends a simple Query that Canopy handled: aborts the backend's transaction on error, then Z. */
  private async finishSimpleQuery(failed: boolean): Promise<void> {
    if (failed && !this.pipe!.errorSinceSync) this.poisonBackend();
    let status = this.pipe!.answerSync();
    if (status === null) {
      await this.internalRaw(FrontendCode.Sync, write.sync());
      status = this.pipe!.transactionStatus;
    }
    this.sendToClient(write.readyForQuery(status));
  }

  /**
   * Whether the client's Sync follows the statement being run with nothing in between: it is a
   * simple Query's (whose parts Canopy ends with a Sync each), or an Execute whose next message,
   * already received, is the Sync outside a pipeline Canopy made one block. A command of Canopy's
   * that ends the coordinator database's transaction may then carry that Sync itself.
   */
  syncFollows(simpleQuery: boolean): boolean {
    return simpleQuery || (!this.pipelineBlock && this.framer.nextCode() === FrontendCode.Sync);
  }

  /** Puts the backend into its error state, so that the transaction fails as PostgreSQL's would. */
  private poisonBackend(): void {
    this.pipe!.request(FrontendCode.Bind, write.bind("", "canopy_abort_transaction", []), swallow);
  }

  /**
   * Runs one statement of a multi-statement Query as its own Query, `offset` characters into the
   * client's (its error's position is moved by them); returns its error, if any.
   */
  private forwardSubQuery(sql: string, offset: number): Promise<ErrorFields | null> {
    this.noteForwardedText(sql);
    return new Promise((resolve) => {
      let error: ErrorFields | null = null;
      this.pipe!.request(FrontendCode.Query, write.query(sql), {
        message: (code, message) => {
          if (code === BackendCode.ReadyForQuery) return;
          if (code === BackendCode.ErrorResponse) {
            error = parseErrorFields(message.subarray(5));
            if (offset > 0 && error.position !== undefined) {
              return this.sendToClient(write.errorResponse(shiftPosition(error, offset)));
            }
          }
          this.sendToClient(message);
          if (code === BackendCode.CopyInResponse) {
            // The client sends its data once it has this: it must not wait for the Query's end.
            this.flushClient();
            this.subQueryCopyIn = true;
            this.pumpSubQueryCopyIn();
          }
        },
        done: () => {
          this.subQueryCopyIn = false;
          resolve(error);
        },
      });
    });
  }

  /**
   * Whether a statement of a Query that Canopy runs statement by statement is a COPY FROM STDIN
   * the coordinator database runs: the client's data goes to it while the Query is being handled
   * (drive waits for that statement's end), as it comes (receive).
   */
  private subQueryCopyIn = false;

  /**
   * Passes the client's messages on to the backend until its copy data ends, as they arrive. The
   * backend handles them as PostgreSQL does during COPY FROM STDIN: it ignores Flush and Sync, and
   * any other message is a protocol violation that ends the connection.
   */
  private pumpSubQueryCopyIn(): void {
    // Messages that came before the CopyInResponse may have paused the socket (receive).
    if (this.socket.isPaused() && !this.backendBehind) this.socket.resume();
    try {
      while (this.subQueryCopyIn) {
        const code = this.framer.nextCode();
        if (code === null) break;
        if (code === FrontendCode.Terminate) return this.close();
        const m = this.framer.next();
        if (m === null) break;
        this.pipe!.send(m.raw);
        if (code === FrontendCode.CopyDone || code === FrontendCode.CopyFail) this.subQueryCopyIn = false;
      }
    } catch (e) {
      // A malformed message (a length out of bounds): the session ends, as drive() ends it.
      return this.fatal(e);
    }
    this.pipe!.flush();
    this.holdClientForBackend();
  }

  /** Whether the client's socket waits for the coordinator database to read what it was sent. */
  private backendBehind = false;

  /**
   * While the coordinator database is behind in reading what went to it (the client's copy data,
   * forwarded as it comes): nothing more is read from the client until it has caught up, so that
   * a fast client cannot pile its data up in the coordinator's memory.
   */
  private holdClientForBackend(): void {
    if (this.backendBehind) return;
    const caughtUp = this.link?.backlogged?.();
    if (!caughtUp) return;
    this.backendBehind = true;
    this.socket.pause();
    void caughtUp.then(() => {
      this.backendBehind = false;
      if (this.state !== SessionState.Closed) this.socket.resume();
    });
  }

  /**
   * Holds back the client's BEGIN just forwarded (`raws`), answered by Canopy: on a real
   * PostgreSQL coordinator database, whose backend is this session's alone. Should the backend
   * refuse it after all (it cannot, idle with nothing under way), the session ends: the client was
   * told its block had begun.
   */
  private holdBegin(raws: Buffer[]): boolean {
    if (this.coordinator.database.kind === "pglite") return false;
    return this.pipe!.holdBegin(raws, heldBeginMaxDelayMs, (error) =>
      this.fatal(new SqlError("08006", `the coordinator database refused BEGIN: ${error.message}`)),
    );
  }

  /**
   * The client's Sync after the Bind and Execute of a prepared BEGIN alone. One seen to open a
   * block before is held back and answered here; otherwise the backend answers, and whether it
   * opened a block is noted for the next time.
   */
  private syncAfterBegin(begin: { statement: string; tag: string; raws: Buffer[] }, m: Message): void {
    const seen = this.beginStatements.get(begin.statement);
    if (seen?.tag === begin.tag && seen.bind.equals(begin.raws[0]) && this.holdBegin(begin.raws)) {
      const described = begin.raws.slice(2).map(() => write.noData());
      return this.sendToClient(
        write.bindComplete(),
        ...described,
        write.commandComplete(begin.tag),
        write.readyForQuery(0x54),
      );
    }
    const changes = this.statementChanges;
    this.pipe!.forward(m.code, m.raw, (status, failed) => {
      if (status === 0x54 && !failed && this.statementChanges === changes) {
        this.beginStatements.set(begin.statement, { tag: begin.tag, bind: Buffer.from(begin.raws[0]) });
      }
    });
  }

  /**
   * `DEALLOCATE name` of a protocol statement of Canopy's: Canopy's to run, as the coordinator
   * database does not hold it (drivers deallocating the statements they prepared, Rails' among
   * them, would otherwise fail their transaction). Known by the current statements, so not cached.
   */
  private canopyDeallocate(sql: string): Classification | null {
    if (this.statements.size === 0 || !/^\s*deallocate\b/i.test(sql)) return null;
    let parsed;
    try {
      parsed = parseSql(sql);
    } catch {
      return null;
    }
    const name =
      parsed.length === 1 ? (parsed[0].stmt.DeallocateStmt as { name?: string } | undefined)?.name : undefined;
    if (name === undefined || !this.statements.has(name)) return null;
    const intercepted = { sql, stmt: parsed[0].stmt, paramTypes: [], deallocate: name };
    return { kind: "intercept", statements: [{ text: sql, offset: 0, intercepted }] };
  }

  /** Runs a DEALLOCATE of a protocol statement of Canopy's (canopyDeallocate). */
  async deallocate(st: InterceptedStatement, inv: Invocation): Promise<void> {
    // Prepared through the protocol and run later, when the statement may be gone.
    if (!this.statements.has(st.deallocate!)) return runOnCoordinator(this, st.sql, inv, [], []);
    refuseInFailedBlock(this);
    this.statements.delete(st.deallocate!);
    this.noteStatementChange();
    emit(this, inv, write.commandComplete("DEALLOCATE"));
  }

  /** DEALLOCATE and DISCARD may drop the client's prepared statements on the backend: none is known to be a BEGIN any more. */
  private noteForwardedText(sql: string): void {
    if (!/deallocate|discard/i.test(sql)) return;
    this.noteStatementChange();
    // They drop the statements prepared through the protocol too, Canopy's among them.
    if (/\b(discard\s+all|deallocate\s+(prepare\s+)?all)\b/i.test(sql)) {
      this.statements.clear();
      this.keptStatements.clear();
    } else if (/canopy_kept_/i.test(sql)) {
      // One of Canopy's kept statements deallocated by name: all are parsed again, under new names.
      this.keptStatements.clear();
    }
  }

  /** A prepared statement of the client's may have changed on the backend. */
  private noteStatementChange(): void {
    this.statementChanges++;
    this.beginStatements.clear();
  }

  /**
   * The execution state (plans, worker statements, Describe answers) of a statement parsed with
   * parameter types: its own per types declared, as the types change what it means; the state
   * shared by its text when it declares none.
   */
  private stateForTypes(sql: string, paramTypes: readonly number[], shared: DistributedState): DistributedState {
    if (!paramTypes.some((t) => t !== 0)) return shared;
    const key = `${paramTypes.join(",")}\0${sql}`;
    let state = this.typedStates.get(key);
    if (!state) {
      if (this.typedStates.size >= classificationCacheMax) this.typedStates.clear();
      state = {};
      this.typedStates.set(key, state);
    }
    return state;
  }

  private async onParse(m: Message): Promise<void> {
    const r = new BodyReader(m.body);
    const name = r.cstring();
    const sql = r.cstring();
    const start = m.body.indexOf(0) + 1;
    const misencoded =
      sql.includes("\uFFFD") && (await this.forwardsMisencoded(m.body.subarray(start, m.body.indexOf(0, start))));
    const c: Classification = misencoded ? { kind: "forward" } : await this.classifyAll(sql, true);
    // A named statement of Canopy's is not replaced by another Parse (the coordinator database,
    // which refuses one of its own, does not know it).
    if (name !== "" && this.statements.has(name)) {
      await this.pipe!.idle();
      if (this.pipe!.errorSinceSync) return;
      return this.failExtended(new SqlError("42P05", `prepared statement "${name}" already exists`).fields());
    }
    if (c.kind === "forward") {
      this.statements.delete(name);
      this.noteStatementChange();
      this.forwardedStatementTexts.set(name, sql);
      return this.pipe!.forward(m.code, m.raw);
    }
    await this.pipe!.idle();
    if (this.pipe!.errorSinceSync) return;
    if (c.kind === "error") return this.failExtended(c.error);
    if (
      c.statements.length === 1 &&
      c.statements[0].intercepted?.copyFromStdin &&
      !c.statements[0].intercepted.distributedCopy
    ) {
      return this.failExtended(embeddedExtendedCopyRefusal().fields());
    }
    if (c.statements.length !== 1 || c.statements[0].intercepted === null) {
      return this.failExtended(
        new SqlError("42601", "cannot insert multiple commands into a prepared statement").fields(),
      );
    }
    const count = r.uint16();
    const paramTypes: number[] = [];
    for (let i = 0; i < count; i++) paramTypes.push(r.int32());
    const intercepted = c.statements[0].intercepted;
    if (this.pipe!.transactionStatus === 0x45 && !endsBlock(intercepted)) {
      return this.failExtended(abortedBlockError().fields());
    }
    let statement: InterceptedStatement = {
      ...intercepted,
      paramTypes,
      distributed: intercepted.distributed && this.stateForTypes(sql, paramTypes, intercepted.distributed),
    };
    // Checked as PostgreSQL checks a Parse (names, types, parameters), by the coordinator database.
    if (statement.distributed && !statement.distributedCopy) {
      try {
        statement = { ...statement, preparedResult: preparedResult(await coordinatorDescription(this, statement)) };
      } catch (e) {
        return this.failExtended(statementErrorFields(e, statement));
      }
    }
    this.statements.set(name, statement);
    this.sendToClient(write.parseComplete());
  }

  private async onBind(m: Message): Promise<void> {
    const r = new BodyReader(m.body);
    const portal = r.cstring();
    const statementName = r.cstring();
    const statement = this.statements.get(statementName);
    if (!statement) {
      this.portals.delete(portal);
      this.forwardedPortalTexts.set(portal, this.forwardedStatementTexts.get(statementName) ?? "");
      // The unnamed portal only: Bind fails on a named one that exists (a cursor's).
      this.forwardedBind = portal === "" ? { portal, statement: statementName, raws: [m.raw] } : null;
      return this.pipe!.forward(m.code, m.raw);
    }
    await this.pipe!.idle();
    if (this.pipe!.errorSinceSync) return;
    const paramFormats: number[] = [];
    for (let i = r.uint16(); i > 0; i--) paramFormats.push(r.int16());
    const params: (Buffer | null)[] = [];
    for (let i = r.uint16(); i > 0; i--) {
      const length = r.int32();
      params.push(length < 0 ? null : Buffer.from(r.bytes(length)));
    }
    const resultFormats: number[] = [];
    for (let i = r.uint16(); i > 0; i--) resultFormats.push(r.int16());
    // Refused in PostgreSQL's order: the counts, the portal's name, then the format codes.
    const refused =
      bindCountRefusal(statementName, statement, paramFormats, params) ??
      (this.pipe!.transactionStatus === 0x45 && !(endsBlock(statement) && params.length === 0)
        ? abortedBlockError()
        : null) ??
      // A named portal lives until its transaction ends or it is closed (the unnamed one is replaced).
      (portal !== "" && this.portals.has(portal) ? new SqlError("42P03", `cursor "${portal}" already exists`) : null) ??
      bindFormatRefusal(statement, paramFormats, params, resultFormats);
    if (refused) return this.failExtended(refused.fields());
    try {
      await checkResultUnchanged(this, statement);
    } catch (e) {
      return this.failExtended(toErrorFields(e));
    }
    this.portals.set(portal, { statement, params, paramFormats, resultFormats });
    this.sendToClient(write.bindComplete());
  }

  private async onDescribe(m: Message): Promise<void> {
    const r = new BodyReader(m.body);
    const kind = r.byte();
    const name = r.cstring();
    const portal = kind === 0x50 ? this.portals.get(name) : undefined;
    const statement = kind === 0x53 ? this.statements.get(name) : portal?.statement;
    if (!statement) {
      if (kind === 0x50 && this.forwardedBind?.portal === name) this.forwardedBind.raws.push(m.raw);
      return this.pipe!.forward(m.code, m.raw);
    }
    await this.pipe!.idle();
    if (this.pipe!.errorSinceSync) return;
    // PostgreSQL describes only statements without rows in a failed block.
    if (this.pipe!.transactionStatus === 0x45 && (describedShape(statement)?.columns ?? 0) > 0) {
      return this.failExtended(abortedBlockError().fields());
    }
    try {
      await describeIntercepted(this, statement, kind === 0x53 ? null : portal!.resultFormats);
    } catch (e) {
      this.failExtended(toErrorFields(e));
    }
  }

  private async onExecute(m: Message): Promise<void> {
    const r = new BodyReader(m.body);
    const name = r.cstring();
    const maxRows = r.int32();
    const portal = this.portals.get(name);
    this.beginQuery(portal ? portal.statement.sql : (this.forwardedPortalTexts.get(name) ?? ""));
    const earlier = this.executesSinceSync++;
    if (!portal) {
      const text = this.forwardedPortalTexts.get(name) ?? "";
      if (/^\s*(begin|start\s+transaction)\b/i.test(text)) {
        if (this.pipelineBlock) {
          await this.pipe!.idle();
          return this.failExtended(pipelineRefusal().fields());
        }
        // The statements after it are the new block's, not an implicit transaction.
        this.transactionEndedSinceSync = false;
      }
      this.noteForwardedText(text);
      const bind = this.forwardedBind;
      const tag = earlier === 0 && bind?.portal === name ? beginTag(text) : null;
      if (tag !== null) this.beginBatch = { statement: bind!.statement, tag, raws: [...bind!.raws, m.raw] };
      return this.pipe!.forward(m.code, m.raw);
    }
    await this.pipe!.idle();
    if (this.pipe!.errorSinceSync) return;
    if (portal.rows) return this.takeRows(name, portal.rows, maxRows);
    const effect = blockEffect(portal.statement);
    if ((this.pipelineBlock && effect !== null) || (this.transactionEndedSinceSync && portal.statement.distributed)) {
      return this.failExtended(pipelineRefusal().fields());
    }
    if (effect === "ends") this.transactionEndedSinceSync = true;
    else if (effect === "opens") this.transactionEndedSinceSync = false;
    if (
      portal.statement.distributed &&
      !portal.statement.distributedCopy &&
      !this.pipelineBlock &&
      this.pipe!.transactionStatus === 0x49 &&
      (earlier > 0 || this.framer.nextCode() !== FrontendCode.Sync)
    ) {
      // Not alone before the client's Sync: the statements up to it are one implicit transaction.
      await this.beginImplicitBlock();
      this.pipelineBlock = true;
    }
    if (portal.statement.distributedCopy) {
      const target = await this.copyTarget(portal.statement);
      if (target === "local") return this.startLocalCopyIn(portal.statement);
      return this.startDistributedCopyIn(portal.statement, true, target);
    }
    // PostgreSQL refuses such a format when it sends a row; here before the statement runs.
    const badFormat = portal.resultFormats.find((f) => f !== 0 && f !== 1);
    if (badFormat !== undefined && (describedShape(portal.statement)?.columns ?? 0) > 0) {
      return this.failExtended(new SqlError("22023", `unsupported format code: ${badFormat}`).fields());
    }
    if (maxRows > 0) return this.executeWithRowLimit(name, portal, maxRows);
    try {
      await runIntercepted(this, portal.statement, portalInvocation(portal));
    } catch (e) {
      this.failExtended(statementErrorFields(e, portal.statement));
    }
  }

  /**
   * Runs the portal's statement whole, collecting its answer, and sends its first `maxRows` rows;
   * the rest stays on the portal for the next Executes (bounded by
   * canopy.max_intermediate_result_size).
   */
  private async executeWithRowLimit(name: string, portal: InterceptedPortal, maxRows: number): Promise<void> {
    this.captureLimit = await intermediateLimit(this);
    this.captureBytes = 0;
    this.capture = [];
    let error: unknown = null;
    try {
      await runIntercepted(this, portal.statement, portalInvocation(portal));
    } catch (e) {
      error = e;
    }
    const answer = Buffer.concat(this.capture);
    this.capture = null;
    const stmt = portal.statement.stmt;
    const rows = error ? null : PortalRows.from(answer, stmt.SelectStmt !== undefined || returns(stmt));
    if (!rows) {
      // Rows of a statement that failed are not sent (past maxRows they would not have been).
      if (answer.length > 0 && !error) this.sendToClient(answer);
      if (error) this.failExtended(statementErrorFields(error, portal.statement));
      return;
    }
    portal.rows = rows;
    this.takeRows(name, rows, maxRows);
  }

  private takeRows(name: string, rows: PortalRows, maxRows: number): void {
    try {
      this.sendToClient(...rows.take(name, maxRows));
    } catch (e) {
      this.failExtended(toErrorFields(e));
    }
  }

  /** Portals do not outlive their transaction (protocol portals are never WITH HOLD). */
  private dropPortals(): void {
    this.portals.clear();
  }

  private async onClose(m: Message): Promise<void> {
    const r = new BodyReader(m.body);
    const kind = r.byte();
    const name = r.cstring();
    const map = kind === 0x53 ? this.statements : this.portals;
    (kind === 0x53 ? this.forwardedStatementTexts : this.forwardedPortalTexts).delete(name);
    if (kind === 0x53) this.noteStatementChange();
    if (!map.has(name)) return this.pipe!.forward(m.code, m.raw);
    await this.pipe!.idle();
    if (this.pipe!.errorSinceSync) return;
    map.delete(name);
    this.sendToClient(write.closeComplete());
  }

  /** Reports an error in extended-protocol mode: skip to Sync, and fail the backend's transaction. */
  failExtended(error: ErrorFields): void {
    this.sendToClient(write.errorResponse(error));
    this.localErrorUntilSync = true;
    if (!this.pipe!.errorSinceSync) this.poisonBackend();
  }

  // -------------------------------------------------------------------------------------------
  // Internal queries on the session's own connection (so they join its transaction)

  /**
   * Sends one message and waits for its answer; messages are passed to `onMessage`. `readOnly`:
   * see BackendPipe.request.
   */
  internalRaw(
    code: number,
    raw: Buffer,
    onMessage?: (code: number, message: Buffer) => void,
    readOnly = false,
  ): Promise<ErrorFields | null> {
    return new Promise((resolve) => {
      this.pipe!.request(
        code,
        raw,
        {
          message: (c, message) => onMessage?.(c, message),
          done: (error) => resolve(error),
        },
        readOnly,
      );
    });
  }

  /**
   * Runs SQL through the extended protocol (no Sync, so it joins the open transaction) and returns
   * its rows in text format, or throws the backend's error (after which the backend skips to Sync).
   * `kind`: "read" for a query that writes nothing (not counted by BackendPipe.statementsSent);
   * "aside" for a read asked beside the client's statement (the block's start time, its
   * transaction id), which inside a transaction block, where a Sync commits nothing, ends with one,
   * so that the client's Sync after the statement is answered without the backend
   * (BackendPipe.answerSync). `keep`: for a statement run at every transaction, parsed once per
   * connection under a name of Canopy's (keptStatements) and only bound after.
   */
  async internalQuery(
    sql: string,
    params: readonly (Buffer | null)[] = [],
    paramFormats: readonly number[] = [],
    paramTypes: readonly number[] = [],
    kind: "may write" | "read" | "aside" = "may write",
    flush = true,
    keep = false,
  ): Promise<(string | null)[][]> {
    const rows: (string | null)[][] = [];
    const results: Promise<ErrorFields | null>[] = [];
    // A kept statement is parsed under a name of Canopy's once per backend connection, and
    // forgotten if that Parse fails.
    let name = keep ? (this.keptStatements.get(sql) ?? "") : "";
    if (name === "") {
      if (keep) {
        name = `canopy_kept_${++this.keptStatementCount}`;
        this.keptStatements.set(sql, name);
      }
      const parsed = this.internalRaw(FrontendCode.Parse, write.parse(name, sql, paramTypes));
      if (keep) void parsed.then((error) => error && this.keptStatements.delete(sql));
      results.push(parsed);
    }
    results.push(
      this.internalRaw(FrontendCode.Bind, write.bind("", name, params, paramFormats)),
      this.internalRaw(
        FrontendCode.Execute,
        write.execute("", 0),
        (code, message) => {
          if (code === BackendCode.DataRow) {
            rows.push(parseDataRow(message.subarray(5)).map((v) => (v === null ? null : v.toString("utf8"))));
          }
        },
        kind !== "may write",
      ),
    );
    if (kind === "aside" && this.pipe!.transactionStatus === 0x54 && this.pipe!.syncEndsOnlyInternal()) {
      results.push(this.internalRaw(FrontendCode.Sync, write.sync()));
    }
    await this.flushAndAwait(results, flush);
    return rows;
  }

  /**
   * Asks the backend for the answers to internal requests already sent, and waits for them;
   * throws the first error (after which the backend skips to the next Sync). Without `flush` the
   * caller sends a Sync or Flush itself, right after, before anything awaits: the backend then
   * answers both in one message.
   */
  async flushAndAwait(results: readonly Promise<ErrorFields | null>[], flush = true): Promise<void> {
    if (flush) this.pipe!.requestFlush();
    for (const r of results) {
      const error = await r;
      if (error) throw new RemoteError(error);
    }
  }

  /**
   * The metadata this session plans with: the coordinator's cached copy, or, after this session
   * changed the metadata inside a transaction block, its own uncommitted view.
   */
  async metadata(): Promise<MetadataSnapshot> {
    // The transaction may be a statement's own (a UDF outside a block), its status still idle.
    if (
      this.metadataChangedInBlock &&
      this.metadataChangedIn === this.transactionsEnded &&
      this.pipe!.transactionStatus !== 0x45
    ) {
      return loadMetadata(
        async (sql, params) => ({
          rows: await this.internalQuery(
            sql,
            params.map((p) => (p === null ? null : Buffer.from(p))),
          ),
        }),
        -1 - this.blockMetadataLoads++,
      );
    }
    return this.coordinator.metadata.get();
  }

  /** Numbers the coordinator database's transactions: it changes when one ends. */
  get coordinatorTransaction(): number {
    return this.pipe!.transactionNumber;
  }

  /**
   * now() of the open transaction block, as text every node reads alike whatever its DateStyle
   * and TimeZone ("YYYY-MM-DD HH:MM:SS.US+00"); null outside a block or when it cannot be had.
   * Asked once per block. A block whose predecessor needed it asks when its first remote
   * transaction opens (prefetchBlockTimestamp), so that the answer travels while the worker
   * works, not later while the statement needing it holds its locks.
   */
  blockTimestamp(): Promise<string | null> {
    if (this.pipe?.transactionStatus !== 0x54) return Promise.resolve(null);
    this.blockStartUsedIn = this.transactionsEnded;
    return this.blockStartAnswer().then((a) => a?.time ?? null);
  }

  /** Asks for the block's start time ahead if the previous block needed it (see blockTimestamp). */
  prefetchBlockTimestamp(): void {
    if (this.blockStartUsedIn === this.transactionsEnded - 1) void this.blockTimestamp();
  }

  /**
   * Whether the coordinator database's open transaction has written, when the block's start-time
   * query tells: it asks whether the transaction had an id then, and nothing that might write
   * went there since. Otherwise null.
   */
  async coordinatorWroteInBlock(): Promise<boolean | null> {
    const asked = this.blockStart;
    if (asked?.transaction !== this.pipe!.transactionNumber || asked.statementsSent !== this.pipe!.statementsSent) {
      return null;
    }
    return (await asked.answer)?.wrote ?? null;
  }

  /**
   * The block's start-time query, asked once per coordinator transaction. It also tells whether
   * the transaction had an id (coordinatorWroteInBlock) and, if this session's recent commits
   * mostly wrote several nodes (RemoteConnections.likelyWritesSeveral), asks for one
   * (RemoteConnections.expectDecisionXid): the commit that likely follows then needs no round trip
   * of its own for either.
   */
  private blockStartAnswer(): Promise<BlockStart | null> {
    const transaction = this.pipe!.transactionNumber;
    if (this.blockStart?.transaction === transaction) return this.blockStart.answer;
    const withXid = this.remote.likelyWritesSeveral;
    const statementsSent = this.pipe!.statementsSent;
    // A select list is computed in its order: whether the transaction had an id is asked before
    // txid_current() gives it one. now() as epoch seconds (numeric, exact to the microsecond) reads
    // alike under any DateStyle and TimeZone, and costs the backend less than formatting it there.
    const answer = this.internalQuery(
      `SELECT pg_catalog.extract('epoch', pg_catalog.now()), pg_catalog.txid_current_if_assigned() IS NOT NULL${
        withXid ? ", pg_catalog.txid_current()" : ""
      }`,
      [],
      [],
      [],
      "aside",
      /* flush */ true,
      /* keep */ true,
    ).then(
      ([[epoch, wrote, xid]]) => ({ time: utcTimestamp(epoch!), wrote: wrote === "t", xid: xid ?? null }),
      () => null,
    );
    this.blockStart = { transaction, statementsSent, answer };
    if (withXid) this.remote.expectDecisionXid(answer.then((a) => a?.xid ?? null));
    return answer;
  }

  /**
   * The coordinator database's transaction ended: metadata (or table shapes) this session changed
   * in it are committed or gone, so every session of this coordinator stops using its cached copy
   * before the client hears of the commit (other coordinators learn it from the notification).
   */
  private onTransactionEnd(): void {
    this.transactionsEnded++;
    this.remote.constraintModes.clear();
    this.dropPortals();
    if (this.settingsChangedSinceTransactionEnd) this.settingsUndone();
    if (this.metadataChangedInBlock) this.metadataChangeEnded();
  }

  /**
   * The end of a block undoes SET LOCAL, and a rollback undoes SET: the settings, search_path
   * (which names resolve to) and transaction modes are read again when next needed.
   */
  private settingsUndone(): void {
    this.settingsEpoch++;
    this.searchPathEpoch++;
    this.transactionModeEpoch++;
    this.settingsChangedSinceTransactionEnd = false;
  }

  /** Called by commands that changed the metadata in this session's transaction. */
  noteMetadataChange(): void {
    this.metadataChanges++;
    this.coordinator.metadata.invalidate();
    this.metadataChangedInBlock = true;
    this.metadataChangedIn = this.transactionsEnded;
    this.columnCache.clear();
  }

  /**
   * The transaction that changed the metadata has ended: every cached copy is stale. The
   * coordinator's other processes drop theirs before this session's client hears of the end
   * (its output waits), so that its next statement through any of them sees the change; the
   * coordinator database's notification alone could come later.
   */
  private metadataChangeEnded(): void {
    this.metadataChangedInBlock = false;
    this.coordinator.metadata.invalidate();
    const siblings = this.coordinator.siblings;
    if (siblings.count === 1) return;
    this.metadataBarriers++;
    void siblings.ask("metadata-changed").then(() => {
      if (--this.metadataBarriers > 0) return;
      const held = this.heldOutput;
      this.heldOutput = [];
      for (const chunks of held) this.sendToClient(...chunks);
      this.flushClient();
    });
  }

  /**
   * The columns of a table in order, with their types as SQL and defaults: a distributed or
   * reference table's cached per metadata version (its DDL changes the metadata); a local table's
   * read each time (an ALTER TABLE of it does not).
   */
  async tableColumns(relationId: number): Promise<ColumnInfo[]> {
    const metadata = await this.metadata();
    const key = `${metadata.version}:${relationId}`;
    let columns = this.columnCache.get(key);
    if (!columns) {
      columns = columnsFromRows(await this.internalQuery(COLUMNS_QUERY, [Buffer.from(String(relationId))]));
      if (!metadata.tablesById.has(relationId)) return columns;
      if (this.columnCache.size > 1000) this.columnCache.clear();
      this.columnCache.set(key, columns);
    }
    return columns;
  }

  private noteCanopySettingChanges(sql: string): void {
    if (this.canopySettingsBumpNext) {
      this.canopySettingsEpoch++;
      this.canopySettingsBumpNext = false;
    }
    const changes = canopySettingWords.test(sql);
    if (changes || (this.canopySettingsChanged && transactionWords.test(sql))) {
      this.canopySettingsEpoch++;
      this.canopySettingsBumpNext = true;
      this.canopySettingsChanged ||= changes;
    }
  }

  /** Whether canopy.log_remote_commands is on; read again only when the settings may have changed. */
  logRemoteCommands(): boolean | Promise<boolean> {
    if (this.executor.epoch === this.canopySettingsEpoch) return this.executor.logRemoteCommands;
    return this.executorSettings().then((s) => s.logRemoteCommands);
  }

  /**
   * The canopy.* settings the executor follows, read once per canopy.* settings epoch (with
   * canopy.log_remote_commands, before the first command a statement sends to a worker).
   */
  async executorSettings(): Promise<ExecutorSettings> {
    // A failed block cannot answer until it ends (its ROLLBACK still reaches the workers).
    if (this.executor.epoch === this.canopySettingsEpoch || this.pipe!.transactionStatus === 0x45) return this.executor;
    const epoch = this.canopySettingsEpoch;
    this.executor = executorSettingsFrom(epoch, await this.currentSettings(executorSettingNames));
    return this.executor;
  }

  /** The executor's settings as last read, for work that cannot wait for them. */
  get lastExecutorSettings(): ExecutorSettings {
    return this.executor;
  }

  /** The session's current value of a setting, read from its connection. */
  async currentSetting(name: string): Promise<string> {
    return (await this.currentSettings([name]))[0];
  }

  /** The session's current values of settings, read from its connection in one query. */
  async currentSettings(names: readonly string[]): Promise<string[]> {
    const rows = await this.internalQuery(
      "SELECT pg_catalog.current_setting(s, true) FROM pg_catalog.unnest($1::text[]) AS s",
      [Buffer.from(arrayLiteral(names))],
    );
    return names.map((name, i) => this.settingOrDefault(name, rows[i]?.[0]));
  }

  /** A setting's value as current_setting(name, true) read it, or this coordinator's default when unset. */
  settingOrDefault(name: string, value: string | null | undefined): string {
    return value === null || value === undefined || value === "" ? this.coordinator.settings[name] : value;
  }
}

/** Drops a final `\\.` line, which ends text and CSV data on STDIN but is data in a file. */
function withoutEndMarker(data: Buffer): Buffer {
  for (const marker of ["\\.\n", "\\.\r\n"]) {
    const end = Buffer.from(marker);
    if (data.length >= end.length && data.subarray(data.length - end.length).equals(end)) {
      const start = data.length - end.length;
      if (start === 0 || data[start - 1] === 0x0a) return data.subarray(0, start);
    }
  }
  return data;
}

const swallow: InternalSink = { message: () => {}, done: () => {} };

function isHiddenParameter(message: Buffer): boolean {
  return message.subarray(5, 12).toString("latin1") === "canopy.";
}

/** Bytes of the client's (copy data) waiting for the coordinator database before the client waits. */
const BACKEND_BACKLOG_MAX = 4 * 1024 * 1024;

/** Bytes of streamed rows waiting to reach the client before the node sending them waits. */
const CLIENT_BACKLOG_MAX = 1024 * 1024;

/** A RawLink over a socket to a real PostgreSQL server. */
class SocketLink implements RawLink {
  backendKey: { processId: number; secretKey: number } | null = null;
  private dataListeners: ((chunk: Buffer) => void)[] = [];
  private readonly closeListeners: ((error?: Error) => void)[] = [];

  constructor(
    private readonly socket: net.Socket,
    private readonly host: string,
    private readonly port: number,
  ) {
    socket.on("data", (chunk: Buffer) => this.emit(chunk));
    socket.on("close", () => {
      for (const l of this.closeListeners) l();
    });
    socket.on("error", () => {});
  }

  emit(chunk: Buffer): void {
    for (const l of this.dataListeners) l(chunk);
  }

  clearDataListeners(): void {
    this.dataListeners = [];
  }

  /** Writes made in one tick (an internal query's Parse, Bind, Execute and Flush) leave in one syscall. */
  write(bytes: Buffer): void {
    corkForTick(this.socket);
    this.socket.write(bytes);
  }

  backlogged(): Promise<void> | undefined {
    return this.socket.writableLength > BACKEND_BACKLOG_MAX ? drained(this.socket) : undefined;
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  onData(listener: (chunk: Buffer) => void): void {
    this.dataListeners.push(listener);
  }

  onClose(listener: (error?: Error) => void): void {
    this.closeListeners.push(listener);
  }

  async cancel(): Promise<void> {
    if (this.backendKey)
      await sendCancelRequest(this.host, this.port, this.backendKey.processId, this.backendKey.secretKey);
  }

  close(): void {
    if (this.socket.writable) this.socket.end(write.terminate());
    this.socket.destroy();
  }
}

/** An Execute with a row limit keeps its statement's answer: bounded by the intermediate limit. */
function portalTooLarge(kb: number): SqlError {
  return new SqlError(
    "54000",
    `the rows kept for a portal exceed canopy.max_intermediate_result_size (currently ${kb} kB)`,
    { hint: "Execute it with a larger row limit or none, or set canopy.max_intermediate_result_size higher." },
  );
}

function parses(sql: string): boolean {
  try {
    parseSql(sql);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether a string may SET, RESET or set_config() a setting. A SET at the start of a line is one
 * unless the string is one UPDATE (or INSERT … ON CONFLICT, MERGE) laid out over several lines.
 */
function mayChangeSettings(sql: string): boolean {
  if (/(^|;|\*\/)\s*(re)?set\s|set_config/i.test(sql)) return true;
  return /\n\s*(re)?set\s/i.test(sql) && !/^\s*(update|insert|merge|with)\b[^;]*;?\s*$/i.test(sql);
}

/** The settings that a string's SET, RESET and set_config() calls name (lower case, as the catalog names them). */
function setSettingNames(sql: string): string[] {
  let stmts: AstNode[];
  try {
    stmts = parseSql(sql).map((p) => p.stmt);
  } catch {
    // Its error is PostgreSQL's to report: the string goes to the coordinator database as it is.
    return [];
  }
  const names = settingsNamedIn(stmts, "set_config");
  walk(stmts, (node) => {
    const set = node.VariableSetStmt as { kind?: string; name?: string } | undefined;
    if (set?.name && set.kind !== "VAR_SET_MULTI") names.push(set.name.toLowerCase());
  });
  return names;
}

/** An embedded coordinator database takes COPY FROM STDIN from a simple Query only. */
function embeddedExtendedCopyRefusal(): SqlError {
  return new SqlError(
    "0A000",
    "COPY FROM STDIN through the extended query protocol is not supported by an embedded cluster",
    { hint: "Send COPY as a simple query, or use a cluster of PostgreSQL servers (canopy local up)." },
  );
}
