// Raw PostgreSQL wire-protocol helpers for tests that need to send what a well-behaved client
// never would (garbage, huge lengths, unknown message types) or to see the exact bytes a server
// answers with. Deliberately independent of src/protocol so the tests do not check the coordinator
// against its own encoder.
import net from "node:net";
import tls from "node:tls";

export const PROTOCOL_3_0 = 196608;
export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;
export const CANCEL_REQUEST_CODE = 80877102;

/** A StartupMessage for protocol 3.0 with the given parameters. */
export function startupMessage(params: Record<string, string>, version = PROTOCOL_3_0): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(params)) parts.push(Buffer.from(`${k}\0${v}\0`, "utf8"));
  parts.push(Buffer.from([0]));
  const body = Buffer.concat(parts);
  const out = Buffer.alloc(8 + body.length);
  out.writeInt32BE(out.length, 0);
  out.writeInt32BE(version, 4);
  body.copy(out, 8);
  return out;
}

/** An 8-byte request packet (SSLRequest, GSSENCRequest). */
export function requestPacket(code: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeInt32BE(8, 0);
  out.writeInt32BE(code, 4);
  return out;
}

/** A CancelRequest for the given BackendKeyData. */
export function cancelRequest(processId: number, secretKey: number): Buffer {
  const out = Buffer.alloc(16);
  out.writeInt32BE(16, 0);
  out.writeInt32BE(CANCEL_REQUEST_CODE, 4);
  out.writeInt32BE(processId, 8);
  out.writeInt32BE(secretKey, 12);
  return out;
}

/** A typed frontend message: type byte, int32 length, body. */
export function message(type: string, body: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out.write(type, 0, "latin1");
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

/** A simple Query message. */
export function queryMessage(sql: string): Buffer {
  return message("Q", Buffer.from(sql + "\0", "utf8"));
}

export const terminateMessage = (): Buffer => message("X");

/** A backend message as read from the socket. */
export interface RawMessage {
  /** The type character, e.g. 'Z', 'E', 'K'. */
  readonly type: string;
  readonly body: Buffer;
}

/** ErrorResponse / NoticeResponse fields keyed by their one-letter code (C = SQLSTATE, M = message, ...). */
export function parseErrorFields(body: Buffer): Record<string, string> {
  const fields: Record<string, string> = {};
  let offset = 0;
  while (offset < body.length && body[offset] !== 0) {
    const key = String.fromCharCode(body[offset]);
    const end = body.indexOf(0, offset + 1);
    if (end < 0) break;
    fields[key] = body.toString("utf8", offset + 1, end);
    offset = end + 1;
  }
  return fields;
}

/** Thrown by reads when the server closes the connection before the awaited data arrives. */
export class ConnectionClosed extends Error {
  constructor(readonly received: Buffer) {
    super(`connection closed (${received.length} unread bytes)`);
  }
}

/**
 * A raw client connection: accumulates whatever the server sends and lets a test read exact byte
 * counts or whole typed messages, each with a timeout.
 */
export class RawConnection {
  private buffer = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  closed = false;
  readonly closedPromise: Promise<void>;

  constructor(readonly socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake();
    });
    socket.on("error", () => {});
    this.closedPromise = new Promise((resolve) => {
      socket.on("close", () => {
        this.closed = true;
        this.wake();
        resolve();
      });
    });
  }

  /** Opens a TCP connection to 127.0.0.1:port. */
  static connect(port: number, host = "127.0.0.1"): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port });
      socket.once("connect", () => resolve(new RawConnection(socket)));
      socket.once("error", reject);
    });
  }

  /**
   * Connects and completes startup (trust authentication) as user=postgres, database=postgres,
   * returning the connection and the BackendKeyData it was given.
   */
  static async startup(
    port: number,
    params: Record<string, string> = { user: "postgres", database: "postgres" },
  ): Promise<{ conn: RawConnection; processId: number; secretKey: number }> {
    const conn = await RawConnection.connect(port);
    return { conn, ...(await conn.completeStartup(params)) };
  }

  /** Sends a StartupMessage and reads up to ReadyForQuery; returns the BackendKeyData. */
  async completeStartup(
    params: Record<string, string> = { user: "postgres", database: "postgres" },
  ): Promise<{ processId: number; secretKey: number; parameters: Record<string, string> }> {
    this.write(startupMessage(params));
    let processId = 0;
    let secretKey = 0;
    const parameters: Record<string, string> = {};
    for (;;) {
      const m = await this.readMessage(10_000);
      if (m.type === "E") throw new Error(`startup failed: ${JSON.stringify(parseErrorFields(m.body))}`);
      if (m.type === "R" && m.body.readInt32BE(0) !== 0) throw new Error("server asked for a password");
      if (m.type === "S") {
        const [name, value] = m.body.toString("utf8").split("\0");
        parameters[name] = value;
      }
      if (m.type === "K") {
        processId = m.body.readInt32BE(0);
        secretKey = m.body.readInt32BE(4);
      }
      if (m.type === "Z") return { processId, secretKey, parameters };
    }
  }

  /**
   * Performs the TLS handshake on this connection (after the server answered 'S' to an
   * SSLRequest) and returns a RawConnection over the encrypted stream. This object is unusable after.
   */
  async startTls(): Promise<RawConnection> {
    if (this.buffer.length > 0) throw new Error("unread plaintext bytes before the TLS handshake");
    this.socket.removeAllListeners("data");
    const secure = tls.connect({ socket: this.socket, rejectUnauthorized: false, servername: undefined });
    await new Promise<void>((resolve, reject) => {
      secure.once("secureConnect", resolve);
      secure.once("error", reject);
    });
    return new RawConnection(secure);
  }

  /** Sends a simple Query and collects its messages up to ReadyForQuery. */
  async simpleQuery(sql: string, timeoutMs = 10_000): Promise<RawMessage[]> {
    this.write(queryMessage(sql));
    return this.readUntil("Z", timeoutMs);
  }

  /** Runs each statement as a simple Query, in order; throws with the error of one that fails. */
  async simpleQueries(statements: readonly string[]): Promise<void> {
    for (const sql of statements) {
      const error = firstError(await this.simpleQuery(sql));
      if (error) throw new Error(`${sql}: ${JSON.stringify(error)}`);
    }
  }

  /**
   * Binds a prepared statement to the unnamed portal, describes and executes it, then Syncs, in one
   * write; returns the messages up to ReadyForQuery.
   */
  async executePrepared(name: string, params: readonly (string | null)[] = []): Promise<RawMessage[]> {
    this.write(
      Buffer.concat([bindMessage("", name, params), describeMessage("P", ""), executeMessage(""), syncMessage()]),
    );
    return this.readUntil("Z");
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Bytes received and not yet read. */
  get unread(): number {
    return this.buffer.length;
  }

  /** Reads exactly n bytes. */
  async readBytes(n: number, timeoutMs = 5000): Promise<Buffer> {
    await this.waitFor(() => this.buffer.length >= n, timeoutMs, `${n} bytes`);
    const out = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    return out;
  }

  /** Reads one whole typed backend message. */
  async readMessage(timeoutMs = 5000): Promise<RawMessage> {
    await this.waitFor(
      () => this.buffer.length >= 5 && this.buffer.length >= 1 + this.buffer.readInt32BE(1),
      timeoutMs,
      "a message",
    );
    const length = this.buffer.readInt32BE(1);
    const type = String.fromCharCode(this.buffer[0]);
    const body = Buffer.from(this.buffer.subarray(5, 1 + length));
    this.buffer = this.buffer.subarray(1 + length);
    return { type, body };
  }

  /** Reads messages until one of type `type` (returned) arrives; the others are returned too. */
  async readUntil(type: string, timeoutMs = 5000): Promise<RawMessage[]> {
    const deadline = Date.now() + timeoutMs;
    const out: RawMessage[] = [];
    for (;;) {
      const m = await this.readMessage(Math.max(1, deadline - Date.now()));
      out.push(m);
      if (m.type === type) return out;
    }
  }

  /** Reads messages until the server closes the connection; returns them (partial bytes dropped). */
  async readUntilClose(timeoutMs = 5000): Promise<RawMessage[]> {
    const out: RawMessage[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        out.push(await this.readMessage(Math.max(1, deadline - Date.now())));
      } catch (e) {
        if (e instanceof ConnectionClosed) return out;
        throw e;
      }
    }
  }

  /** Resolves when the server has closed the connection, or rejects after the timeout. */
  async waitClosed(timeoutMs = 5000): Promise<void> {
    if (this.closed) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.closedPromise,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`connection still open after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  /** Closes from the client side without Terminate (RST-free end, then destroy). */
  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  private async waitFor(ready: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!ready()) {
      if (this.closed) throw new ConnectionClosed(this.buffer);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          if (this.waiter === done) this.waiter = null;
          resolve();
        }, left);
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        this.waiter = done;
      });
    }
  }
}

/** The column values of a DataRow body, as UTF-8 text (null for SQL NULL). */
export function dataRowValues(body: Buffer): (string | null)[] {
  return dataRowBuffers(body).map((v) => (v === null ? null : v.toString("utf8")));
}

/** The fields of the first ErrorResponse among `messages`, or null if there is none. */
export function firstError(messages: readonly RawMessage[]): Record<string, string> | null {
  const e = messages.find((m) => m.type === "E");
  return e ? parseErrorFields(e.body) : null;
}

/** The type letters of `messages`, in order. */
export function messageTypes(messages: readonly RawMessage[]): string[] {
  return messages.map((m) => m.type);
}

/** The transaction status (I, T or E) of the ReadyForQuery that ends `messages`. */
export function readyStatus(messages: readonly RawMessage[]): string {
  const z = messages[messages.length - 1];
  if (z?.type !== "Z") throw new Error(`the answer does not end with ReadyForQuery: ${messageTypes(messages)}`);
  return String.fromCharCode(z.body[0]);
}

/** The first error among `messages` as JSON, for assertion messages ("" when there is none). */
export function errorText(messages: readonly RawMessage[]): string {
  const error = firstError(messages);
  return error ? JSON.stringify(error) : "";
}

/** Parse: statement name, SQL text, parameter type OIDs (0 = unspecified). */
export function parseMessage(name: string, sql: string, paramTypes: readonly number[] = []): Buffer {
  const types = Buffer.alloc(2 + 4 * paramTypes.length);
  types.writeInt16BE(paramTypes.length, 0);
  paramTypes.forEach((t, i) => types.writeInt32BE(t, 2 + 4 * i));
  return message("P", Buffer.concat([Buffer.from(`${name}\0${sql}\0`, "utf8"), types]));
}

/**
 * Bind: parameters as text (strings), in binary format (Buffers) or SQL NULL (null), and the
 * result format codes (0 text, 1 binary).
 */
export function bindMessage(
  portal: string,
  statement: string,
  params: readonly (string | Buffer | null)[] = [],
  resultFormats: readonly number[] = [],
): Buffer {
  const parts: Buffer[] = [Buffer.from(`${portal}\0${statement}\0`, "utf8")];
  const int16 = (v: number) => {
    const b = Buffer.alloc(2);
    b.writeInt16BE(v, 0);
    return b;
  };
  // No format codes (all text) unless some parameter is binary.
  const formats = params.some((p) => Buffer.isBuffer(p)) ? params.map((p) => (Buffer.isBuffer(p) ? 1 : 0)) : [];
  parts.push(int16(formats.length), ...formats.map(int16));
  parts.push(int16(params.length));
  for (const p of params) {
    const len = Buffer.alloc(4);
    if (p === null) {
      len.writeInt32BE(-1, 0);
      parts.push(len);
    } else {
      const value = Buffer.isBuffer(p) ? p : Buffer.from(p, "utf8");
      len.writeInt32BE(value.length, 0);
      parts.push(len, value);
    }
  }
  parts.push(int16(resultFormats.length), ...resultFormats.map(int16));
  return message("B", Buffer.concat(parts));
}

/** A Bind message with the format codes given as they are, valid or not (bindMessage derives them). */
export function bindMessageWithFormats(
  portal: string,
  statement: string,
  paramFormats: readonly number[],
  params: readonly (string | Buffer | null)[],
  resultFormats: readonly number[],
): Buffer {
  const int16 = (v: number) => Buffer.from([(v >> 8) & 0xff, v & 0xff]);
  const parts: Buffer[] = [Buffer.from(`${portal}\0${statement}\0`, "utf8"), int16(paramFormats.length)];
  parts.push(...paramFormats.map(int16), int16(params.length));
  for (const p of params) {
    const len = Buffer.alloc(4);
    const value = p === null ? null : Buffer.isBuffer(p) ? p : Buffer.from(p, "utf8");
    len.writeInt32BE(value === null ? -1 : value.length, 0);
    parts.push(len, ...(value === null ? [] : [value]));
  }
  parts.push(int16(resultFormats.length), ...resultFormats.map(int16));
  return message("B", Buffer.concat(parts));
}

/** Describe of a statement ('S') or portal ('P'). */
export function describeMessage(kind: "S" | "P", name: string): Buffer {
  return message("D", Buffer.from(`${kind}${name}\0`, "utf8"));
}

/** Execute a portal, with a row limit (0 = all). */
export function executeMessage(portal: string, maxRows = 0): Buffer {
  const tail = Buffer.alloc(4);
  tail.writeInt32BE(maxRows, 0);
  return message("E", Buffer.concat([Buffer.from(`${portal}\0`, "utf8"), tail]));
}

export const syncMessage = (): Buffer => message("S");

/** The column values of every DataRow among `messages`, as text (null for SQL NULL). */
export function dataRows(messages: readonly RawMessage[]): (string | null)[][] {
  return messages.filter((m) => m.type === "D").map((m) => dataRowValues(m.body));
}

/** The raw column values of a DataRow body (null for SQL NULL), undecoded. */
export function dataRowBuffers(body: Buffer): (Buffer | null)[] {
  const values: (Buffer | null)[] = [];
  const count = body.readInt16BE(0);
  let offset = 2;
  for (let i = 0; i < count; i++) {
    const length = body.readInt32BE(offset);
    offset += 4;
    if (length < 0) {
      values.push(null);
    } else {
      values.push(body.subarray(offset, offset + length));
      offset += length;
    }
  }
  return values;
}

/** Column name, type OID and format code of each field of a RowDescription body. */
export function rowDescriptionFields(body: Buffer): { name: string; typeOid: number; format: number }[] {
  const fields: { name: string; typeOid: number; format: number }[] = [];
  const count = body.readInt16BE(0);
  let offset = 2;
  for (let i = 0; i < count; i++) {
    const end = body.indexOf(0, offset);
    const name = body.toString("utf8", offset, end);
    offset = end + 1;
    const typeOid = body.readInt32BE(offset + 6);
    const format = body.readInt16BE(offset + 16);
    offset += 18;
    fields.push({ name, typeOid, format });
  }
  return fields;
}
