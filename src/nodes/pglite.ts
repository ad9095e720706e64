// Node gateway for PGlite instances in this process (embedded mode). PGlite has one backend, so a
// session holds a node exclusively from its first message until the node is idle again (outside a
// transaction); statement and portal names are prefixed per link so sessions do not collide.
import { PGlite } from "@electric-sql/pglite";
import type {
  ConnectOptions,
  CopyProducer,
  NodeAddress,
  NodeClient,
  NodeGateway,
  QueryResult,
  RawLink,
} from "./gateway.js";
import { RemoteError, connectionFailed } from "./gateway.js";
import {
  BackendCode,
  BodyReader,
  FrontendCode,
  MessageFramer,
  MessageWriter,
  parseDataRow,
  parseErrorFields,
  scanMessages,
  write,
} from "../protocol/messages.js";
import { deparseStatement, parseSql } from "../sql/parse.js";

/** One PGlite instance with the lock that makes its single backend exclusive to one holder. */
export class PGliteNode {
  /** The owner holding the backend (a connection in a transaction block holds it across calls). */
  holder: object | null = null;
  private readonly waiters: { owner: object; wake: () => void; fail: (error: Error) => void }[] = [];
  private nextLinkId = 1;

  private constructor(
    readonly db: PGlite,
    readonly address: NodeAddress,
  ) {}

  /** Starts a PGlite instance, in memory or persisted under dataDir. */
  static async start(address: NodeAddress, dataDir?: string): Promise<PGliteNode> {
    // Prepared transactions: workers take part in two-phase commit.
    const db = new PGlite({ dataDir, postgresqlconf: ["max_prepared_transactions = 100"] });
    await db.waitReady;
    return new PGliteNode(db, address);
  }

  /** Waits until `owner` holds the backend (at once if it already does). */
  async acquire(owner: object): Promise<void> {
    if (this.holder === owner) return;
    if (this.holder === null) {
      this.holder = owner;
      return;
    }
    await new Promise<void>((wake, fail) => this.waiters.push({ owner, wake, fail }));
  }

  /**
   * Fails `owner`'s wait for the backend, if it waits. This is the one wait of an embedded node
   * that can be interrupted: a statement running on PGlite runs to its end in this thread.
   */
  stopWaiting(owner: object, error: Error): void {
    const at = this.waiters.findIndex((w) => w.owner === owner);
    if (at >= 0) this.waiters.splice(at, 1)[0].fail(error);
  }

  /** Gives the backend to the next waiter, if `owner` holds it. */
  release(owner: object): void {
    if (this.holder !== owner) return;
    const next = this.waiters.shift();
    this.holder = next ? next.owner : null;
    next?.wake();
  }

  /** Channels whose notifications are Canopy's own: removed from session output and passed here. */
  readonly internalChannels = new Map<string, () => void>();

  /** Drops notifications on Canopy's internal channels from backend output, calling their handlers. */
  withoutInternalNotifications(out: Buffer): Buffer {
    if (this.internalChannels.size === 0 || !out.includes(BackendCode.NotificationResponse)) return out;
    const kept: Buffer[] = [];
    let dropped = false;
    scanMessages(out, (code, start, end) => {
      if (code === BackendCode.NotificationResponse) {
        const r = new BodyReader(out.subarray(start + 5, end));
        r.int32();
        const handler = this.internalChannels.get(r.cstring());
        if (handler) {
          dropped = true;
          queueMicrotask(handler);
          return;
        }
      }
      kept.push(out.subarray(start, end));
    });
    return dropped ? Buffer.concat(kept) : out;
  }

  /** Runs protocol messages and returns the backend's raw output. */
  async exec(bytes: Uint8Array): Promise<Buffer> {
    return Buffer.from(await this.db.execProtocolRaw(bytes));
  }

  /** Opens a raw link; statement names on it are made unique to the link. */
  openLink(): RawLink {
    return new PGliteLink(this, `l${this.nextLinkId++}_`);
  }

  /** Runs SQL with text parameters (Buffers: binary) while holding the backend; see runExtendedQuery. */
  async query(
    sql: string,
    params: readonly (string | Buffer | null)[] = [],
    owner: object = {},
    resultFormats: readonly number[] = [],
  ): Promise<QueryResult> {
    await this.acquire(owner);
    let status = 0x49;
    try {
      const r = await runExtendedQuery((b) => this.exec(b), sql, params, resultFormats);
      status = r.status;
      return r;
    } catch (e) {
      status = (e as { status?: number }).status ?? 0x49;
      throw e;
    } finally {
      // A connection in a transaction block keeps the backend until the block ends.
      if (status === 0x49) this.release(owner);
    }
  }

  /**
   * Runs COPY FROM STDIN with the given data, or COPY TO STDOUT, while holding the backend. PGlite
   * takes COPY data only through a blob, so the statement is rewritten to read or write '/dev/blob'.
   */
  async copy(sql: string, owner: object, data: readonly Buffer[] | null): Promise<{ command: string; out: Buffer }> {
    const [parsed] = parseSql(sql);
    (parsed.stmt.CopyStmt as { filename?: string }).filename = "/dev/blob";
    await this.acquire(owner);
    try {
      const blob = data ? new Blob(data.map((b) => new Uint8Array(b))) : undefined;
      const r = await this.db.query(deparseStatement(parsed.stmt), [], blob ? { blob } : {});
      const out = r.blob ? Buffer.from(await r.blob.arrayBuffer()) : Buffer.alloc(0);
      return { command: `COPY ${r.affectedRows ?? 0}`, out };
    } catch (e) {
      throw pgliteError(e);
    } finally {
      if (!this.db.isInTransaction()) this.release(owner);
    }
  }

  /** Runs a script of several statements (simple protocol) while holding the backend. */
  async execScript(sql: string): Promise<void> {
    const owner = {};
    await this.acquire(owner);
    try {
      await this.db.exec(sql);
    } finally {
      this.release(owner);
    }
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

/**
 * Sends Parse/Bind/Describe/Execute/Sync and decodes the text result or the error. With a binary
 * result format the rows are kept as the DataRow messages the node sent too (`dataRows`).
 */
export async function runExtendedQuery(
  exec: (bytes: Buffer) => Promise<Buffer>,
  sql: string,
  params: readonly (string | Buffer | null)[],
  resultFormats: readonly number[] = [],
): Promise<QueryResult & { status: number }> {
  const out = await exec(
    Buffer.concat([
      write.parse("", sql),
      write.bind(
        "",
        "",
        params.map((p) => (p === null ? null : typeof p === "string" ? Buffer.from(p, "utf8") : p)),
        params.map((p) => (Buffer.isBuffer(p) ? 1 : 0)),
        resultFormats,
      ),
      write.describe("P", ""),
      write.execute("", 0),
      write.sync(),
    ]),
  );
  const rows: (string | null)[][] = [];
  const raw = resultFormats.some((f) => f === 1);
  const dataRows: Buffer[] = [];
  let command = "";
  let status = 0x49;
  let error: RemoteError | null = null;
  scanMessages(out, (code, start, end) => {
    const body = out.subarray(start + 5, end);
    if (code === BackendCode.DataRow) {
      if (raw) dataRows.push(Buffer.from(out.subarray(start, end)));
      rows.push(parseDataRow(body).map((v) => (v === null ? null : v.toString("utf8"))));
    } else if (code === BackendCode.CommandComplete) command = new BodyReader(body).cstring();
    else if (code === BackendCode.ErrorResponse) error ??= new RemoteError(parseErrorFields(body));
    else if (code === BackendCode.ReadyForQuery) status = body[0];
  });
  if (error) throw Object.assign(error, { status });
  return raw ? { rows, dataRows, command, status } : { rows, command, status };
}

/** A link to a PGlite node; also runs COPY FROM STDIN, which PGlite takes only from a blob. */
export class PGliteLink implements RawLink {
  private readonly framer = new MessageFramer(1 << 30);
  private queue: Buffer[] = [];
  private pumping = false;
  private closed = false;
  private readonly dataListeners: ((chunk: Buffer) => void)[] = [];
  private readonly closeListeners: ((error?: Error) => void)[] = [];
  private readonly statements = new Set<string>();

  constructor(
    private readonly node: PGliteNode,
    private readonly prefix: string,
  ) {}

  write(bytes: Buffer): void {
    if (this.closed) return;
    this.framer.push(bytes);
    for (let m = this.framer.next(); m; m = this.framer.next()) {
      if (m.code === FrontendCode.Terminate) continue; // the shared backend must live on
      this.queue.push(this.renamed(m.code, m.body));
    }
    void this.pump();
  }

  onData(listener: (chunk: Buffer) => void): void {
    this.dataListeners.push(listener);
  }

  onClose(listener: (error?: Error) => void): void {
    this.closeListeners.push(listener);
  }

  async cancel(): Promise<void> {
    // PGlite runs each batch to completion; there is nothing to interrupt.
  }

  pause(): void {
    // PGlite hands over each batch's output whole; there is no stream to hold back.
  }

  resume(): void {}

  /** Runs `COPY … FROM '/dev/blob'` with the given data, in this link's transaction. */
  async copyFromBlob(sql: string, data: Buffer): Promise<number> {
    await this.node.acquire(this);
    try {
      const r = await this.node.db.query(sql, [], { blob: new Blob([new Uint8Array(data)]) });
      return r.affectedRows ?? 0;
    } catch (e) {
      throw pgliteError(e);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const cleanup = [...this.statements].map((s) => write.close("S", s));
    this.queue = [];
    void (async () => {
      await this.node.acquire(this);
      try {
        const status = await this.node.exec(Buffer.concat([...cleanup, write.sync()]));
        if (lastReadyStatus(status) !== 0x49) await this.node.exec(Buffer.concat([write.query("ROLLBACK")]));
      } finally {
        this.node.release(this);
      }
      for (const l of this.closeListeners) l();
    })();
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0 && !this.closed) {
        const batch = Buffer.concat(this.queue);
        this.queue = [];
        await this.node.acquire(this);
        const out = await this.node.exec(batch);
        if (this.queue.length === 0 && lastReadyStatus(out) === 0x49) this.node.release(this);
        const visible = this.withoutPrefixInErrors(this.node.withoutInternalNotifications(out));
        if (visible.length > 0) for (const l of this.dataListeners) l(visible);
      }
    } catch (e) {
      this.node.release(this);
      for (const l of this.closeListeners) l(e as Error);
    } finally {
      this.pumping = false;
    }
  }

  /** Errors naming a statement or portal ("… "s1" does not exist") name it as the client did. */
  private withoutPrefixInErrors(out: Buffer): Buffer {
    if (!out.includes(BackendCode.ErrorResponse)) return out;
    const quoted = `"${this.prefix}`;
    const kept: Buffer[] = [];
    let changed = false;
    scanMessages(out, (code, start, end) => {
      const message = out.subarray(start, end);
      if (code !== BackendCode.ErrorResponse || !message.includes(quoted)) return void kept.push(message);
      const fields = parseErrorFields(message.subarray(5));
      kept.push(write.errorResponse({ ...fields, message: fields.message.replaceAll(quoted, '"') }));
      changed = true;
    });
    return changed ? Buffer.concat(kept) : out;
  }

  /** Prefixes statement and portal names so that sessions sharing the backend do not collide. */
  private renamed(code: number, body: Buffer): Buffer {
    const name = (n: string) => (n === "" ? n : this.prefix + n);
    const r = new BodyReader(body);
    switch (code) {
      case FrontendCode.Parse: {
        const statement = name(r.cstring());
        if (statement) this.statements.add(statement);
        return new MessageWriter(code).cstring(statement).raw(r.bytes(r.remaining)).finish();
      }
      case FrontendCode.Bind: {
        const portal = name(r.cstring());
        const statement = name(r.cstring());
        return new MessageWriter(code).cstring(portal).cstring(statement).raw(r.bytes(r.remaining)).finish();
      }
      case FrontendCode.Describe:
      case FrontendCode.Close: {
        const kind = r.byte();
        const target = name(r.cstring());
        if (code === FrontendCode.Close && kind === 0x53) this.statements.delete(target);
        return new MessageWriter(code).int8(kind).cstring(target).finish();
      }
      case FrontendCode.Execute: {
        const portal = name(r.cstring());
        return new MessageWriter(code).cstring(portal).raw(r.bytes(r.remaining)).finish();
      }
      default:
        return new MessageWriter(code).raw(body).finish();
    }
  }
}

/**
 * The whole data of a COPY producer: PGlite takes COPY data only as one blob, so it cannot be
 * streamed (an embedded producer, another PGlite node's COPY TO, hands over its whole output at
 * once anyway). A producer's failure fails the COPY as a server's CopyFail does.
 */
async function gather(produce: CopyProducer): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  try {
    await produce((chunk) => {
      chunks.push(chunk);
    });
  } catch (e) {
    const message = `COPY from stdin failed: ${e instanceof Error ? e.message : String(e)}`;
    throw new RemoteError({ severity: "ERROR", code: "57014", message });
  }
  return chunks;
}

/** PGlite's error for a query as a RemoteError with PostgreSQL's fields (other errors as they are). */
function pgliteError(e: unknown): unknown {
  const d = e as { code?: string; message: string; detail?: string; hint?: string; where?: string; severity?: string };
  if (!d?.code) return e;
  return new RemoteError({
    severity: d.severity ?? "ERROR",
    code: d.code,
    message: d.message,
    detail: d.detail,
    hint: d.hint,
    where: d.where,
  });
}

/** PostgreSQL's error for a cancelled statement. */
function canceledByUser(): RemoteError {
  return new RemoteError({ severity: "ERROR", code: "57014", message: "canceling statement due to user request" });
}

/** The transaction status byte of the last ReadyForQuery in backend output, or 0 if none. */
export function lastReadyStatus(out: Buffer): number {
  let status = 0;
  scanMessages(out, (code, start) => {
    if (code === BackendCode.ReadyForQuery) status = out[start + 5];
  });
  return status;
}

/** Node gateway over in-process PGlite nodes, registered by name and port. */
export class PGliteGateway implements NodeGateway {
  /** One backend per node: a session has one connection per node, and no shared pool applies. */
  readonly parallel = false;
  private readonly nodes = new Map<string, PGliteNode>();

  register(node: PGliteNode): void {
    this.nodes.set(`${node.address.name}:${node.address.port}`, node);
  }

  lookup(address: NodeAddress): PGliteNode | undefined {
    return this.nodes.get(`${address.name}:${address.port}`);
  }

  async connect(address: NodeAddress, _options: ConnectOptions): Promise<NodeClient> {
    const node = this.lookup(address);
    if (!node)
      throw connectionFailed(address, Object.assign(new Error("Connection refused"), { code: "ECONNREFUSED" }));
    const owner = {};
    return {
      query: async (sql, params, _prepare, begin, _rows, resultFormats) => {
        if (begin) await node.query(begin, [], owner);
        return node.query(sql, params, owner, resultFormats);
      },
      copyIn: async (sql, data) => {
        const rows = typeof data === "function" ? await gather(data) : data;
        return { rows: [], command: (await node.copy(sql, owner, rows)).command };
      },
      copyOut: async (sql, onData) => {
        const r = await node.copy(sql, owner, null);
        if (r.out.length > 0) await onData(r.out);
        return { rows: [], command: r.command };
      },
      cancel: async () => node.stopWaiting(owner, canceledByUser()),
      backendPid: null,
      close: async () => {
        node.stopWaiting(owner, canceledByUser());
        // A session that ends inside a block gives the backend back clean.
        if (node.holder === owner) {
          await node.exec(write.query("ROLLBACK")).catch(() => {});
          node.release(owner);
        }
      },
    };
  }

  async close(): Promise<void> {
    for (const node of this.nodes.values()) await node.close();
    this.nodes.clear();
  }
}
