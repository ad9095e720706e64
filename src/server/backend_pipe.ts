// The pipe between a session and its coordinator-database connection. Every message sent to the
// backend that expects an answer is recorded in a queue with its sink: the client (bytes forwarded
// as they are, rows never decoded) or an internal consumer (Canopy's own queries on the session's
// connection). Backend output is framed by its headers only and routed to the head entry's sink.
import { BackendCode, FrontendCode, parseErrorFields, scanMessages, type ErrorFields } from "../protocol/messages.js";
import type { RawLink } from "../nodes/gateway.js";
import { SqlError } from "../errors.js";

/** Receives the backend's answer to one internal request. */
export interface InternalSink {
  message(code: number, message: Buffer): void;
  /** Called once when the request is answered, with the error if the backend reported one. */
  done(error: ErrorFields | null, skipped: boolean): void;
}

type Sink = "client" | InternalSink;

interface Pending {
  readonly code: number;
  readonly sink: Sink;
  /** For a client's Sync: told the status its ReadyForQuery reports and whether anything failed since the previous one. */
  readonly observe?: (status: number, failed: boolean) => void;
  /** A held BEGIN's message (holdBegin): the status it sets was reported already. */
  readonly held?: boolean;
  /** How many CopyDone and CopyFail went to the backend before this message (BackendPipe.copyEnds). */
  readonly copyEnds: number;
}

const FLUSH = Buffer.from([FrontendCode.Flush, 0, 0, 0, 4]);
const SYNC = Buffer.from([FrontendCode.Sync, 0, 0, 0, 4]);

/** The sink of a request whose answer nobody waits for. */
const unanswered: InternalSink = { message: () => {}, done: () => {} };

/** What an internal request skipped after an error gets, as PostgreSQL reports statements in a failed transaction. */
const ABORTED: ErrorFields = new SqlError(
  "25P02",
  "current transaction is aborted, commands ignored until end of transaction block",
).fields();

const extendedCodes = new Set<number>([
  FrontendCode.Parse,
  FrontendCode.Bind,
  FrontendCode.Describe,
  FrontendCode.Execute,
  FrontendCode.Close,
]);

/** Whether backend message `code` is the last answer to a request of type `request`. */
function completes(request: number, code: number): boolean {
  switch (request) {
    case FrontendCode.Parse:
      return code === BackendCode.ParseComplete;
    case FrontendCode.Bind:
      return code === BackendCode.BindComplete;
    case FrontendCode.Describe:
      return code === BackendCode.RowDescription || code === BackendCode.NoData;
    case FrontendCode.Execute:
      return (
        code === BackendCode.CommandComplete ||
        code === BackendCode.EmptyQueryResponse ||
        code === BackendCode.PortalSuspended
      );
    case FrontendCode.Close:
      return code === BackendCode.CloseComplete;
    default: // Query, Sync, FunctionCall
      return code === BackendCode.ReadyForQuery;
  }
}

/** Messages the backend may send at any time; they always go to the client. */
function isAsynchronous(code: number): boolean {
  return (
    code === BackendCode.NoticeResponse ||
    code === BackendCode.NotificationResponse ||
    code === BackendCode.ParameterStatus
  );
}

export class BackendPipe {
  private readonly pending: Pending[] = [];
  private pendingHead = 0;
  private leftover: Buffer | null = null;
  private idleWaiters: (() => void)[] = [];
  /** The transaction status of the backend's last ReadyForQuery: I, T or E. */
  transactionStatus = 0x49;
  /** True from an error answering an extended-protocol message until the next Sync is answered. */
  errorSinceSync = false;
  /** Whether anything went to the backend since the last Sync. */
  private sentSinceSync = false;
  /** Whether a transaction control command (BEGIN, COMMIT, …) completed since the last Sync. */
  private transactionControlSinceSync = false;
  /** Whether a client message went to the backend since the last Sync (one would end its work). */
  private clientSentSinceSync = false;
  /** Whether a client's extended-protocol message awaits answers that no Sync or Flush asked for yet. */
  private unflushed = false;
  /** Statements sent (Execute, Query, FunctionCall), but for Canopy's read-only ones. */
  private executions = 0;
  /** `executions` when the last Sync went. */
  private executionsAtSync = 0;
  /**
   * CopyDone and CopyFail messages sent so far. A backend in COPY FROM STDIN ignores the Syncs it
   * reads until the copy data ends (a client may send one right after the Execute, as libpq does):
   * those are the Syncs queued after the statement while this count stayed the same.
   */
  private copyEnds = 0;
  /**
   * Numbers the backend's transactions: it changes when a ReadyForQuery reports no transaction and
   * when a COMMIT, ROLLBACK (also TO SAVEPOINT) or PREPARE TRANSACTION completes, which may end
   * one without a ReadyForQuery in between (COMMIT AND CHAIN; COMMIT; BEGIN in one Query).
   */
  transactionNumber = 0;

  /**
   * `onIdle` runs when a ReadyForQuery reports no transaction, before that message reaches the
   * client: what the ended transaction did is then visible to every session.
   */
  constructor(
    private readonly link: RawLink,
    private readonly toClient: (chunks: Buffer[]) => void,
    private readonly onIdle: () => void = () => {},
  ) {
    link.onData((chunk) => this.receive(chunk));
  }

  /** Number of requests awaiting an answer. */
  get outstanding(): number {
    return this.pending.length - this.pendingHead;
  }

  private outgoing: Buffer[] = [];

  /**
   * A client's BEGIN that Canopy answered itself and has not sent yet (holdBegin): it leaves with
   * whatever goes to the backend next, in the same write, or alone when the timer runs out.
   */
  private heldBegin: { code: number; raw: Buffer; sink: InternalSink }[] | null = null;
  private heldBeginTimer: NodeJS.Timeout | null = null;

  /** Whether every request awaiting an answer is Canopy's own (none is the client's). */
  onlyInternalOutstanding(): boolean {
    for (let i = this.pendingHead; i < this.pending.length; i++) if (this.pending[i].sink === "client") return false;
    return true;
  }

  /**
   * Keeps back the client's BEGIN queued since the last Sync, so that it reaches the backend
   * together with the block's first message there rather than in an exchange of its own, and
   * reports the block open. Only when the backend is idle with nothing under way, where BEGIN
   * cannot fail and says nothing but its tag; `raws` are the messages just queued (forward) that
   * carry it: a Query, or a Bind and an Execute. Within `maxDelayMs` it is sent anyway, followed
   * by a Sync, so that the block's start (now(), idle_in_transaction_session_timeout) comes at
   * most that much after the client's BEGIN. Returns whether it was held.
   */
  holdBegin(raws: readonly Buffer[], maxDelayMs: number, failed: (error: ErrorFields) => void): boolean {
    const n = raws.length;
    if (
      this.transactionStatus !== 0x49 ||
      this.errorSinceSync ||
      this.transactionControlSinceSync ||
      this.heldBegin !== null ||
      this.outstanding !== n ||
      this.outgoing.length !== n ||
      raws.some((raw, i) => this.outgoing[i] !== raw)
    ) {
      return false;
    }
    const sink: InternalSink = { message: () => {}, done: (error) => error && failed(error) };
    this.heldBegin = this.pending.slice(this.pendingHead).map((p, i) => ({ code: p.code, raw: raws[i], sink }));
    this.pending.length = this.pendingHead;
    this.outgoing = [];
    // Nothing waits for a Flush now: idle() must not send one, which would release the BEGIN into
    // an exchange of its own (a distributed statement's Bind waits for idle()).
    this.unflushed = false;
    this.sentSinceSync = false;
    this.clientSentSinceSync = false;
    this.transactionStatus = 0x54;
    this.heldBeginTimer = setTimeout(() => {
      this.heldBeginTimer = null;
      if (this.heldBegin !== null) this.request(FrontendCode.Sync, SYNC, unanswered);
    }, maxDelayMs);
    return true;
  }

  /** Queues a held BEGIN (holdBegin) ahead of the message about to be queued or sent. */
  private releaseBegin(): void {
    const held = this.heldBegin;
    if (held === null) return;
    this.heldBegin = null;
    if (this.heldBeginTimer !== null) clearTimeout(this.heldBeginTimer);
    this.heldBeginTimer = null;
    // Its Execute was counted when forwarded (statementsSent).
    for (const { code, raw, sink } of held) {
      this.pending.push({ code, sink, held: true, copyEnds: this.copyEnds });
      this.outgoing.push(raw);
    }
    if (held.some((h) => extendedCodes.has(h.code))) this.unflushed = true;
    this.sentSinceSync = true;
  }

  /** Queues a client message whose answers go to the client; sent at the next flush. */
  forward(code: number, raw: Buffer, observe?: (status: number, failed: boolean) => void): void {
    this.releaseBegin();
    if (executes(code)) this.executions++;
    if (expectsAnswer(code)) this.pending.push({ code, sink: "client", observe, copyEnds: this.copyEnds });
    if (extendedCodes.has(code)) this.unflushed = true;
    else if (code === FrontendCode.Sync) {
      this.unflushed = false;
      this.executionsAtSync = this.executions;
    }
    this.outgoing.push(raw);
    this.sentSinceSync = code !== FrontendCode.Sync;
    this.clientSentSinceSync = code !== FrontendCode.Sync;
  }

  /**
   * Whether a Sync sent now ends nothing but Canopy's own queries: in a transaction block, where a
   * Sync commits nothing, when no command since the last ReadyForQuery began or ended a transaction
   * (the status may be stale) and no client command awaits its answer (it may be one); outside a
   * block, when nothing of the client's went to the backend since its last Sync (a Sync would
   * commit the client's pipelined statements early).
   */
  syncEndsOnlyInternal(): boolean {
    if (this.transactionControlSinceSync || !this.onlyInternalOutstanding()) return false;
    if (this.transactionStatus === 0x54) return true;
    return this.transactionStatus === 0x49 && !this.clientSentSinceSync;
  }

  /**
   * Answers a client's Sync without waiting for the backend when its transaction status is known:
   * nothing went to it since its last ReadyForQuery; or it is in a transaction block where
   * everything since succeeded and nothing began or ended a transaction (there a Sync commits
   * nothing); or, outside a block, all that went since were Canopy's own read-only queries, all
   * answered without error (the Sync ends an implicit transaction that changed nothing, and the
   * status stays idle). In the latter cases the backend still gets a Sync, whose answer nobody
   * waits for, so that it ends that transaction, or goes idle in transaction as PostgreSQL's would
   * (idle_in_transaction_session_timeout). Returns the status to report, or null when the backend
   * must answer.
   */
  answerSync(): number | null {
    if (this.outstanding > 0 || this.outgoing.length > 0 || this.errorSinceSync) return null;
    if (!this.sentSinceSync) return this.transactionStatus;
    if (!this.syncEndsOnlyInternal()) return null;
    if (this.transactionStatus !== 0x54 && this.executions !== this.executionsAtSync) return null;
    this.request(FrontendCode.Sync, SYNC, unanswered);
    return this.transactionStatus;
  }

  /** Sends queued client messages in one write. */
  flush(): void {
    if (this.outgoing.length === 0) return;
    this.link.write(this.outgoing.length === 1 ? this.outgoing[0] : Buffer.concat(this.outgoing));
    this.outgoing = [];
  }

  /**
   * Sends a message whose answers go to an internal sink. `readOnly`: a statement of Canopy's that
   * changes nothing in the transaction (not counted by statementsSent).
   */
  request(code: number, raw: Buffer, sink: InternalSink, readOnly = false): void {
    // After an error the backend ignores extended-protocol messages until a Sync, without answer.
    if (this.errorSinceSync && extendedCodes.has(code)) return sink.done(ABORTED, true);
    this.releaseBegin();
    this.flush();
    this.sentSinceSync = code !== FrontendCode.Sync;
    if (code === FrontendCode.Sync) {
      this.clientSentSinceSync = this.unflushed = false;
      this.executionsAtSync = this.executions;
    }
    if (executes(code) && !readOnly) this.executions++;
    this.pending.push({ code, sink, copyEnds: this.copyEnds });
    this.link.write(raw);
  }

  /** Queues bytes that expect no answer of their own (CopyData, Flush). */
  send(raw: Buffer): void {
    this.releaseBegin();
    if (raw[0] === FrontendCode.Flush) this.unflushed = false;
    else if (raw[0] === FrontendCode.CopyDone || raw[0] === FrontendCode.CopyFail) this.copyEnds++;
    this.outgoing.push(raw);
    this.sentSinceSync = true;
    this.clientSentSinceSync = true;
  }

  /** Asks the backend to send everything it has for the requests so far (Flush), now. */
  requestFlush(): void {
    this.releaseBegin();
    this.unflushed = false;
    this.outgoing.push(FLUSH);
    this.flush();
  }

  /** Statements sent so far but Canopy's read-only ones: a statement sent after a count ran after it. */
  get statementsSent(): number {
    return this.executions;
  }

  /** Counts a statement that reached the backend past the pipe (an embedded database's COPY). */
  countStatement(): void {
    this.executions++;
  }

  /**
   * Resolves when every request sent so far has been answered. A client's Bind or Execute the
   * client has not yet followed with a Sync (a statement of Canopy's came next in its batch) is
   * answered only after a Flush: one goes.
   */
  idle(): Promise<void> {
    if (this.unflushed) this.requestFlush();
    else this.flush();
    if (this.outstanding === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Fails every outstanding internal request (the backend connection is gone). */
  abandon(error: ErrorFields): void {
    this.heldBegin = null;
    if (this.heldBeginTimer !== null) clearTimeout(this.heldBeginTimer);
    while (this.outstanding > 0) {
      const p = this.shift();
      if (p.sink !== "client") p.sink.done(error, false);
    }
    this.wakeIdle();
  }

  private receive(chunk: Buffer): void {
    const buf = this.leftover ? Buffer.concat([this.leftover, chunk]) : chunk;
    const out: Buffer[] = [];
    let runStart = -1; // start of a run of consecutive client-bound messages
    const end = scanMessages(buf, (code, start, finish) => {
      const head = this.outstanding > 0 ? this.pending[this.pendingHead] : null;
      const toClient = head === null || head.sink === "client" || isAsynchronous(code);
      if (toClient) {
        if (runStart < 0) runStart = start;
      } else {
        if (runStart >= 0) out.push(buf.subarray(runStart, start));
        runStart = -1;
        (head.sink as InternalSink).message(code, buf.subarray(start, finish));
      }
      if (head !== null && !isAsynchronous(code)) this.account(head, code, buf.subarray(start + 5, finish));
    });
    if (runStart >= 0) out.push(buf.subarray(runStart, end));
    this.leftover = end < buf.length ? Buffer.from(buf.subarray(end)) : null;
    if (out.length > 0) this.toClient(out);
    if (this.outstanding === 0) this.wakeIdle();
  }

  private account(head: Pending, code: number, body: Buffer): void {
    if (code === BackendCode.ErrorResponse && extendedCodes.has(head.code)) {
      // The backend now ignores extended-protocol messages until the next Sync.
      this.errorSinceSync = true;
      const fields = parseErrorFields(body);
      this.shift();
      if (head.sink !== "client") head.sink.done(fields, false);
      while (this.outstanding > 0 && extendedCodes.has(this.pending[this.pendingHead].code)) {
        const skipped = this.shift();
        if (skipped.sink !== "client") skipped.sink.done(ABORTED, true);
      }
      return;
    }
    if (code === BackendCode.CopyInResponse) this.dropSyncsDuringCopy(head);
    if (code === BackendCode.ErrorResponse && head.sink !== "client") {
      (head as Pending & { error?: ErrorFields }).error ??= parseErrorFields(body);
    }
    if (code === BackendCode.CommandComplete && !head.held && isTransactionControl(body)) {
      this.transactionControlSinceSync = true;
      const tag = body.toString("latin1", 0, 24);
      // A BEGIN answered before the next ReadyForQuery already opens the block (pipelined extended protocol).
      if (tag.startsWith("BEGIN\0")) this.transactionStatus = 0x54;
      else if (/^(COMMIT|ROLLBACK|PREPARE TRANSACTION)\0/.test(tag)) this.transactionNumber++;
    }
    if (!completes(head.code, code)) return;
    if (code === BackendCode.ReadyForQuery) {
      head.observe?.(body[0], this.errorSinceSync);
      this.transactionStatus = body[0];
      this.errorSinceSync = false;
      this.transactionControlSinceSync = false;
      if (this.transactionStatus === 0x49) {
        this.transactionNumber++;
        this.onIdle();
      }
    }
    this.shift();
    if (head.sink !== "client") head.sink.done((head as Pending & { error?: ErrorFields }).error ?? null, false);
  }

  /**
   * The backend began COPY FROM STDIN for `head`: the Syncs sent after it and before its copy data
   * ends get no answer (PostgreSQL ignores Sync and Flush in copy-in mode), so none is awaited.
   */
  private dropSyncsDuringCopy(head: Pending): void {
    const kept = this.pending.filter(
      (p, i) => i <= this.pendingHead || p.code !== FrontendCode.Sync || p.copyEnds !== head.copyEnds,
    );
    if (kept.length === this.pending.length) return;
    for (const p of this.pending.slice(this.pendingHead + 1)) {
      if (!kept.includes(p) && p.sink !== "client") p.sink.done(null, true);
    }
    this.pending.splice(0, this.pending.length, ...kept);
  }

  private shift(): Pending {
    const p = this.pending[this.pendingHead++];
    if (this.pendingHead > 1024 && this.pendingHead * 2 > this.pending.length) {
      this.pending.splice(0, this.pendingHead);
      this.pendingHead = 0;
    } else if (this.pendingHead === this.pending.length) {
      this.pending.length = 0;
      this.pendingHead = 0;
    }
    return p;
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}

/**
 * Whether a CommandComplete's tag is a transaction control command's: the only statements that
 * change a block's transaction status without an error (a CALL in a block cannot commit).
 */
function isTransactionControl(tag: Buffer): boolean {
  return transactionControlTag.test(tag.toString("latin1", 0, Math.min(tag.length, 24)));
}

const transactionControlTag = /^(BEGIN|START TRANSACTION|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|PREPARE TRANSACTION)\0/;

/** Whether a frontend message runs a statement. */
function executes(code: number): boolean {
  return code === FrontendCode.Execute || code === FrontendCode.Query || code === FrontendCode.FunctionCall;
}

/** Whether a frontend message gets an answer of its own from the backend. */
function expectsAnswer(code: number): boolean {
  return (
    extendedCodes.has(code) ||
    code === FrontendCode.Sync ||
    code === FrontendCode.Query ||
    code === FrontendCode.FunctionCall
  );
}
