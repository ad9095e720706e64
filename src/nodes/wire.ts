// A connection to a PostgreSQL node that speaks the frontend/backend protocol itself, so that
// requests are pipelined: each request's messages are written as soon as it is made, without
// waiting for the previous request's ReadyForQuery (the node answers them in order, and a Sync
// ends each, so an error in one does not touch the next). A transaction's BEGIN and its first
// statement, for instance, leave in one write and cost one round trip.
//
// Rows stay as the DataRow messages the node sent: the router forwards them to the client as they
// are, and they are decoded into text only when asked for.
import type { Duplex } from "node:stream";
import {
  BackendCode,
  FrontendCode,
  MessageFramer,
  MessageWriter,
  parseDataRow,
  parseErrorFields,
  write,
  type Message,
} from "../protocol/messages.js";
import { SqlError } from "../errors.js";
import { corkForTick, drained } from "../protocol/cork.js";
import { RemoteError, type CopyProducer, type NodeClient, type QueryResult, type RowSink } from "./gateway.js";

/** PostgreSQL's own bound on a message's size. */
const MESSAGE_SIZE_MAX = 0x3fffffff;
/** Statements kept prepared per connection. */
const PREPARED_MAX = 1000;
/** How long close() waits for the node to close the connection after Terminate. */
const CLOSE_WAIT_MS = 5000;
/** Bytes of streamed COPY data written and not yet sent to the node above which the producer waits. */
const COPY_UNSENT_MAX = 1 << 20;

/** A request in flight: it sees every message the node sends for it, up to its ReadyForQuery. */
interface Request {
  /** A promise returned holds reading back until it settles (see copyOut). */
  onMessage(m: Message): void | Promise<void>;
  /** Called at ReadyForQuery, or with the error that ended the connection. */
  finish(error: Error | null): void;
}

/** Rows as the node sent them (DataRow messages), decoded into text on first use. */
class WireResult implements QueryResult {
  command = "";
  readonly dataRows: Buffer[] = [];
  private decoded: (string | null)[][] | null = null;

  get rows(): (string | null)[][] {
    this.decoded ??= this.dataRows.map((m) =>
      parseDataRow(m.subarray(5)).map((v) => (v === null ? null : v.toString("utf8"))),
    );
    return this.decoded;
  }
}

export class WireClient implements NodeClient {
  private readonly framer = new MessageFramer(MESSAGE_SIZE_MAX);
  private readonly requests: Request[] = [];
  private readonly prepared = new Map<string, string>();
  /** Names prepared statements; never reused on the connection, so a name cannot collide. */
  private preparedCount = 0;
  private lost: Error | null = null;
  /**
   * While a streamed COPY writes its data: the messages of requests made meanwhile, written after
   * its CopyDone or CopyFail so that nothing slips into the data.
   */
  private held: Buffer[] | null = null;
  /** Whether reading from the node waits for a message's handler (see copyOut). */
  private waiting = false;

  /**
   * `socket` is a connection on which startup and authentication are done (the node sent
   * ReadyForQuery); `backendPid` is what its BackendKeyData said, `cancel` sends a CancelRequest
   * for it.
   */
  constructor(
    private readonly socket: Duplex,
    readonly backendPid: number | null,
    readonly cancel: () => Promise<void>,
  ) {
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    socket.on("error", (e: Error) => this.fail(e));
    socket.on("close", () => this.fail(new Error("the node closed the connection")));
  }

  query(
    sql: string,
    params: readonly (string | Buffer | null)[] = [],
    prepare = false,
    begin?: string,
    rows?: RowSink,
    resultFormats: readonly number[] = [],
  ): Promise<QueryResult> {
    if (params.length === 0 && !prepare && !begin && !rows && resultFormats.length === 0) return this.simpleQuery(sql);
    const out: Buffer[] = [];
    // Executed ahead in the same Sync, the BEGIN turns the implicit block into the transaction
    // block; the node sends both answers in one write (a Query would flush its own). It is kept
    // prepared like the statements: a transaction's BEGIN is then not parsed again.
    const beginParse = begin ? this.bindPrepared(out, begin, true, []) : null;
    if (begin) out.push(write.execute(""));
    const parse = this.bindPrepared(out, sql, prepare, params, resultFormats);
    out.push(write.execute(""), write.sync());
    const result = new WireResult();
    // The statement's own ParseComplete is the last one (the BEGIN's, when parsed, comes first).
    let parses = beginParse ? -1 : 0;
    return this.request(out, (m) => {
      if (m.code === BackendCode.DataRow) {
        if (rows) return rows(m.raw);
        result.dataRows.push(m.raw);
      } else if (m.code === BackendCode.CommandComplete) result.command = commandTag(m);
      else if (m.code === BackendCode.ParseComplete) parses++;
    }).then(
      () => result,
      (e: Error) => {
        // A statement whose Parse failed was not prepared; one that failed later stays prepared.
        if (beginParse?.named && parses < 0) this.prepared.delete(begin!);
        if (parse?.named && parses < 1) this.prepared.delete(sql);
        throw e;
      },
    );
  }

  /**
   * Adds the Parse of `sql` (unless it is prepared already) and its Bind to `out`, preparing it
   * under a name of its own when `prepare`. Returns whether a Parse was added and whether under a
   * name, or null when none was.
   */
  private bindPrepared(
    out: Buffer[],
    sql: string,
    prepare: boolean,
    params: readonly (string | Buffer | null)[],
    resultFormats: readonly number[] = [],
  ): { named: boolean } | null {
    let name = prepare ? this.prepared.get(sql) : undefined;
    let parse: { named: boolean } | null = null;
    if (name === undefined) {
      name = prepare && this.prepared.size < PREPARED_MAX ? `canopy_${++this.preparedCount}` : "";
      out.push(write.parse(name, sql));
      if (name) this.prepared.set(sql, name);
      parse = { named: name !== "" };
    }
    const values = params.map((p) => (p === null || Buffer.isBuffer(p) ? p : Buffer.from(p, "utf8")));
    const formats = params.map((p) => (Buffer.isBuffer(p) ? 1 : 0));
    out.push(write.bind("", name, values, formats, resultFormats));
    return parse;
  }

  /** Deallocates the statements kept prepared (after DDL their result shapes may be stale). */
  async forgetPrepared(): Promise<void> {
    if (this.prepared.size === 0) return;
    this.prepared.clear();
    await this.simpleQuery("DEALLOCATE ALL");
  }

  /** A Query message: SQL that may hold several statements; the result is the last one's. */
  private simpleQuery(sql: string): Promise<QueryResult> {
    let result = new WireResult();
    return this.request([write.query(sql)], (m) => {
      if (m.code === BackendCode.RowDescription || m.code === BackendCode.DataRow) {
        if (result.command !== "") result = new WireResult();
        if (m.code === BackendCode.DataRow) result.dataRows.push(m.raw);
      } else if (m.code === BackendCode.CommandComplete) {
        result.command = commandTag(m);
      }
    }).then(() => result);
  }

  copyIn(sql: string, data: readonly Buffer[] | CopyProducer): Promise<QueryResult> {
    if (typeof data === "function") return this.streamedCopyIn(sql, data);
    // The data follows the statement at once: a node that refuses the COPY before reading data
    // ignores CopyData and CopyDone outside COPY, and a request pipelined next cannot slip in.
    // Each chunk is written as it is, after a header of its own: the data is not copied again.
    const out = [write.query(sql)];
    for (const d of data) out.push(copyDataHeader(d.length), d);
    out.push(new MessageWriter(FrontendCode.CopyDone).finish());
    const result = new WireResult();
    return this.request(out, (m) => {
      if (m.code === BackendCode.CommandComplete) result.command = commandTag(m);
    }).then(() => result);
  }

  /**
   * COPY … FROM STDIN with the data written as the producer makes it, each chunk once it is handed
   * over. The producer waits while more than COPY_UNSENT_MAX bytes wait to be sent to the node.
   */
  private async streamedCopyIn(sql: string, produce: CopyProducer): Promise<QueryResult> {
    // Its data would mix with the other's.
    if (this.held) throw new Error("a streamed COPY is already writing to this connection");
    const result = new WireResult();
    const done = this.request([write.query(sql)], (m) => {
      if (m.code === BackendCode.CommandComplete) result.command = commandTag(m);
    }).then(() => result);
    // Once the node has answered, the COPY is over (it refused the statement or a row): the rest
    // of the data is dropped (a node ignores CopyData outside COPY, but need not be sent it).
    let ended = false;
    const end = () => {
      ended = true;
    };
    done.then(end, end);
    this.held = [];
    let last: Buffer;
    try {
      await produce((chunk) => {
        if (ended || this.lost) return;
        this.socket.write(copyDataHeader(chunk.length));
        this.socket.write(chunk);
        if (this.socket.writableLength > COPY_UNSENT_MAX) return drained(this.socket);
      });
      last = new MessageWriter(FrontendCode.CopyDone).finish();
    } catch (e) {
      last = new MessageWriter(FrontendCode.CopyFail).cstring(e instanceof Error ? e.message : String(e)).finish();
    }
    const held = this.held;
    this.held = null;
    if (!this.lost) this.send([last, ...held]);
    return done;
  }

  copyOut(sql: string, onData: (chunk: Buffer) => void | Promise<void>): Promise<QueryResult> {
    const result = new WireResult();
    return this.request([write.query(sql)], (m) => {
      if (m.code === BackendCode.CopyData) return onData(m.body);
      if (m.code === BackendCode.CommandComplete) result.command = commandTag(m);
    }).then(() => result);
  }

  /**
   * Sends Terminate and resolves once the node has closed the connection: its backend is gone
   * then (a node that does not close within CLOSE_WAIT_MS is cut off).
   */
  async close(): Promise<void> {
    if (this.lost || this.socket.destroyed) return;
    this.lost = new Error("connection closed");
    const closed = new Promise((resolve) => this.socket.once("close", resolve));
    const timer = setTimeout(() => this.socket.destroy(), CLOSE_WAIT_MS);
    this.socket.end(write.terminate());
    await closed;
    clearTimeout(timer);
  }

  /** Writes a request's messages now and resolves at its ReadyForQuery (rejects with its first error). */
  private request(messages: Buffer[], onMessage: (m: Message) => void | Promise<void>): Promise<void> {
    if (this.lost) return Promise.reject(lostConnection(this.lost));
    return new Promise<void>((resolve, reject) => {
      let error: Error | null = null;
      this.requests.push({
        onMessage: (m) => {
          if (m.code === BackendCode.ErrorResponse) error ??= new RemoteError(parseErrorFields(m.body));
          else return onMessage(m);
        },
        finish: (lost) => {
          const e = lost ?? error;
          if (e) reject(e);
          else resolve();
        },
      });
      this.send(messages);
    });
  }

  /** Writes messages; those written in the same tick leave in one write. */
  private send(messages: Buffer[]): void {
    if (this.held) {
      this.held.push(...messages);
      return;
    }
    corkForTick(this.socket);
    for (const m of messages) this.socket.write(m);
  }

  private receive(chunk: Buffer): void {
    this.framer.push(chunk);
    this.dispatchReceived();
  }

  /**
   * Dispatches the messages received, up to one whose handler returns a promise: then the socket
   * is paused (the node's sending waits in turn) until the promise settles.
   */
  private dispatchReceived(): void {
    let m: Message | null;
    try {
      while (!this.waiting && (m = this.framer.next()) !== null) {
        const wait = this.dispatch(m);
        if (wait) this.waitFor(wait);
      }
    } catch (e) {
      this.socket.destroy();
      this.fail(e instanceof Error ? e : new Error(String(e)));
    }
  }

  private waitFor(wait: Promise<void>): void {
    this.waiting = true;
    this.socket.pause();
    void wait.then(() => {
      this.waiting = false;
      if (this.lost) return;
      this.socket.resume();
      this.dispatchReceived();
    });
  }

  private dispatch(m: Message): void | Promise<void> {
    // Notices, parameter changes and notifications belong to no request.
    if (
      m.code === BackendCode.NoticeResponse ||
      m.code === BackendCode.ParameterStatus ||
      m.code === BackendCode.NotificationResponse
    ) {
      return;
    }
    const request = this.requests[0];
    if (!request) throw new Error(`unexpected message ${String.fromCharCode(m.code)} from the node`);
    if (m.code === BackendCode.ReadyForQuery) {
      this.requests.shift();
      request.finish(null);
    } else {
      return request.onMessage(m);
    }
  }

  /** The connection is gone: every request in flight fails. */
  private fail(cause: Error): void {
    this.lost ??= cause;
    const pending = this.requests.splice(0);
    for (const r of pending) r.finish(lostConnection(cause));
  }
}

function lostConnection(cause: Error): SqlError {
  return new SqlError("08006", `connection to node lost: ${cause.message}`);
}

/** The type byte and length of a CopyData message whose body is `length` bytes. */
function copyDataHeader(length: number): Buffer {
  const header = Buffer.allocUnsafe(5);
  header[0] = FrontendCode.CopyData;
  header.writeInt32BE(length + 4, 1);
  return header;
}

function commandTag(m: Message): string {
  return m.body.toString("utf8", 0, m.body.length - 1);
}
