// PostgreSQL wire protocol (version 3.0): message codes, framing and one writer that builds every
// message Canopy sends. Pure: no sockets here. Row data is never decoded on the forwarding path; the
// framer only reads the 5-byte headers.

import { SqlError } from "../errors.js";

/** Message type bytes sent by the frontend (client). */
export const enum FrontendCode {
  Bind = 0x42, // B
  Close = 0x43, // C
  CopyData = 0x64, // d
  CopyDone = 0x63, // c
  CopyFail = 0x66, // f
  Describe = 0x44, // D
  Execute = 0x45, // E
  Flush = 0x48, // H
  FunctionCall = 0x46, // F
  Parse = 0x50, // P
  Password = 0x70, // p (also SASLInitialResponse, SASLResponse, GSSResponse)
  Query = 0x51, // Q
  Sync = 0x53, // S
  Terminate = 0x58, // X
}

/** Message type bytes sent by the backend (server). */
export const enum BackendCode {
  Authentication = 0x52, // R
  BackendKeyData = 0x4b, // K
  BindComplete = 0x32, // 2
  CloseComplete = 0x33, // 3
  CommandComplete = 0x43, // C
  CopyData = 0x64, // d
  CopyDone = 0x63, // c
  CopyInResponse = 0x47, // G
  CopyOutResponse = 0x48, // H
  CopyBothResponse = 0x57, // W
  DataRow = 0x44, // D
  EmptyQueryResponse = 0x49, // I
  ErrorResponse = 0x45, // E
  FunctionCallResponse = 0x56, // V
  NoData = 0x6e, // n
  NoticeResponse = 0x4e, // N
  NotificationResponse = 0x41, // A
  ParameterDescription = 0x74, // t
  ParameterStatus = 0x53, // S
  ParseComplete = 0x31, // 1
  PortalSuspended = 0x73, // s
  ReadyForQuery = 0x5a, // Z
  RowDescription = 0x54, // T
}

export const PROTOCOL_VERSION_3 = 196608;
export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;
export const CANCEL_REQUEST_CODE = 80877102;

/** A framed message: its type byte, its body (without type byte and length) and all its bytes. */
export interface Message {
  readonly code: number;
  readonly body: Buffer;
  readonly raw: Buffer;
}

/** Thrown when input violates the protocol; the session answers with 08P01 and closes. */
export class ProtocolViolation extends Error {
  constructor(
    message: string,
    readonly sqlState = "08P01",
  ) {
    super(message);
  }
}

/**
 * Accumulates bytes from a socket and yields whole messages. The length prefix is checked against
 * `messageSizeMax` before any body is buffered, so a huge announced length costs nothing.
 */
export class MessageFramer {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly messageSizeMax: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** Bytes received and not yet returned as messages. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** The type code of the next message, if its first byte has arrived. */
  nextCode(): number | null {
    return this.buffered > 0 ? this.chunks[0][0] : null;
  }

  /** Returns the next typed message, or null when more bytes are needed. */
  next(): Message | null {
    if (this.buffered < 5) return null;
    const head = this.peek(5);
    const length = head.readInt32BE(1);
    if (length < 4) throw new ProtocolViolation(`invalid message length ${length}`);
    if (length > this.messageSizeMax) {
      throw new ProtocolViolation(
        `message length ${length} exceeds canopy.max_message_size (${this.messageSizeMax})`,
        "54000",
      );
    }
    if (this.buffered < 1 + length) return null;
    const whole = this.take(1 + length);
    return { code: whole[0], body: whole.subarray(5), raw: whole };
  }

  /** Returns the next untyped startup-phase packet (length-prefixed), or null. */
  nextStartup(): Buffer | null {
    if (this.buffered < 4) return null;
    const length = this.peek(4).readInt32BE(0);
    if (length < 8 || length > 10_000) throw new ProtocolViolation(`invalid startup packet length ${length}`);
    if (this.buffered < length) return null;
    return this.take(length).subarray(4);
  }

  /** Removes and returns every buffered byte (used when handing the stream to TLS). */
  drain(): Buffer {
    const all = Buffer.concat(this.chunks);
    this.chunks = [];
    this.buffered = 0;
    return all;
  }

  /** The first n bytes, without removing them. */
  private peek(n: number): Buffer {
    if (this.chunks[0].length >= n) return this.chunks[0];
    return Buffer.concat(this.chunks.slice(0, n), n);
  }

  /** Removes and returns the first n bytes. */
  private take(n: number): Buffer {
    const first = this.chunks[0];
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return first.subarray(0, n);
    }
    // A message split across reads: only its own bytes are copied, not the rest of the last read
    // (nor a backlog behind it).
    const out = Buffer.allocUnsafe(n);
    for (let at = 0; at < n;) {
      const chunk = this.chunks[0];
      const part = Math.min(chunk.length, n - at);
      chunk.copy(out, at, 0, part);
      at += part;
      if (part === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(part);
    }
    this.buffered -= n;
    return out;
  }
}

/**
 * Finds the end of the last whole message in `buf` starting at `offset`, calling `visit` with the
 * type byte and offset of each whole message. Used to forward backend output chunk by chunk while
 * still seeing message boundaries (ReadyForQuery, ErrorResponse) without decoding rows.
 */
export function scanMessages(buf: Buffer, visit: (code: number, start: number, end: number) => boolean | void): number {
  let offset = 0;
  while (buf.length - offset >= 5) {
    const length = buf.readInt32BE(offset + 1);
    const end = offset + 1 + length;
    if (end > buf.length) break;
    if (visit(buf[offset], offset, end) === false) return end;
    offset = end;
  }
  return offset;
}

/** Reads NUL-terminated strings and integers from a message body. */
export class BodyReader {
  private offset = 0;
  constructor(private readonly body: Buffer) {}

  get remaining(): number {
    return this.body.length - this.offset;
  }

  cstring(): string {
    const end = this.body.indexOf(0, this.offset);
    if (end < 0) throw new ProtocolViolation("invalid string in message");
    const s = this.body.toString("utf8", this.offset, end);
    this.offset = end + 1;
    return s;
  }

  int16(): number {
    this.ensure(2);
    const v = this.body.readInt16BE(this.offset);
    this.offset += 2;
    return v;
  }

  /** A count or format code of Parse and Bind, which PostgreSQL reads unsigned (up to 65535). */
  uint16(): number {
    this.ensure(2);
    const v = this.body.readUInt16BE(this.offset);
    this.offset += 2;
    return v;
  }

  int32(): number {
    this.ensure(4);
    const v = this.body.readInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  byte(): number {
    this.ensure(1);
    return this.body[this.offset++];
  }

  bytes(n: number): Buffer {
    this.ensure(n);
    const v = this.body.subarray(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }

  private ensure(n: number): void {
    if (n < 0 || this.offset + n > this.body.length) throw new ProtocolViolation("message too short");
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

/** Builds one message: type byte, length, then body parts. */
export class MessageWriter {
  private parts: Buffer[] = [];
  private size = 0;

  constructor(private readonly code: number | null) {}

  int8(v: number): this {
    return this.push(Buffer.from([v]));
  }
  int16(v: number): this {
    const b = Buffer.allocUnsafe(2);
    b.writeInt16BE(v);
    return this.push(b);
  }
  uint16(v: number): this {
    const b = Buffer.allocUnsafe(2);
    b.writeUInt16BE(v);
    return this.push(b);
  }
  int32(v: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeInt32BE(v);
    return this.push(b);
  }
  cstring(s: string): this {
    return this.push(Buffer.from(s + "\0", "utf8"));
  }
  raw(b: Buffer): this {
    return this.push(b);
  }

  finish(): Buffer {
    const headerSize = this.code === null ? 4 : 5;
    const out = Buffer.allocUnsafe(headerSize + this.size);
    let o = 0;
    if (this.code !== null) out[o++] = this.code;
    out.writeInt32BE(this.size + 4, o);
    o += 4;
    for (const p of this.parts) {
      p.copy(out, o);
      o += p.length;
    }
    return out;
  }

  private push(b: Buffer): this {
    this.parts.push(b);
    this.size += b.length;
    return this;
  }
}

/** Fields of an ErrorResponse or NoticeResponse, keyed by the protocol's field letters. */
export interface ErrorFields {
  severity: string;
  code: string;
  message: string;
  detail?: string;
  hint?: string;
  position?: string;
  internalPosition?: string;
  internalQuery?: string;
  where?: string;
  schema?: string;
  table?: string;
  column?: string;
  dataType?: string;
  constraint?: string;
  file?: string;
  line?: string;
  routine?: string;
}

const errorFieldLetters: Record<keyof ErrorFields, string> = {
  severity: "S",
  code: "C",
  message: "M",
  detail: "D",
  hint: "H",
  position: "P",
  internalPosition: "p",
  internalQuery: "q",
  where: "W",
  schema: "s",
  table: "t",
  column: "c",
  dataType: "d",
  constraint: "n",
  file: "F",
  line: "L",
  routine: "R",
};

/** Parses the fields of an ErrorResponse or NoticeResponse body. */
export function parseErrorFields(body: Buffer): ErrorFields {
  const fields: Partial<ErrorFields> & Record<string, string> = {} as never;
  const byLetter = new Map(Object.entries(errorFieldLetters).map(([k, v]) => [v, k]));
  let o = 0;
  while (o < body.length && body[o] !== 0) {
    const letter = String.fromCharCode(body[o]);
    const end = body.indexOf(0, o + 1);
    if (end < 0) break;
    const name = byLetter.get(letter);
    if (name) fields[name] = body.toString("utf8", o + 1, end);
    o = end + 1;
  }
  return {
    severity: fields.severity ?? "ERROR",
    code: fields.code ?? "XX000",
    message: fields.message ?? "",
    ...fields,
  };
}

/** The messages Canopy writes to clients and nodes, each a small function. */
export const write = {
  errorResponse(f: ErrorFields, code = BackendCode.ErrorResponse): Buffer {
    const w = new MessageWriter(code);
    const severity = f.severity || "ERROR";
    w.int8(0x53).cstring(severity); // S
    w.int8(0x56).cstring(severity); // V: non-localized severity
    for (const [key, letter] of Object.entries(errorFieldLetters)) {
      if (key === "severity") continue;
      const value = f[key as keyof ErrorFields];
      if (value !== undefined) w.int8(letter.charCodeAt(0)).cstring(value);
    }
    return w.int8(0).finish();
  },
  noticeResponse(f: ErrorFields): Buffer {
    return write.errorResponse(f, BackendCode.NoticeResponse);
  },
  authenticationOk(): Buffer {
    return new MessageWriter(BackendCode.Authentication).int32(0).finish();
  },
  parameterStatus(name: string, value: string): Buffer {
    return new MessageWriter(BackendCode.ParameterStatus).cstring(name).cstring(value).finish();
  },
  backendKeyData(processId: number, secretKey: number): Buffer {
    return new MessageWriter(BackendCode.BackendKeyData).int32(processId).int32(secretKey).finish();
  },
  readyForQuery(status: number): Buffer {
    return new MessageWriter(BackendCode.ReadyForQuery).int8(status).finish();
  },
  commandComplete(tag: string): Buffer {
    return new MessageWriter(BackendCode.CommandComplete).cstring(tag).finish();
  },
  emptyQueryResponse(): Buffer {
    return new MessageWriter(BackendCode.EmptyQueryResponse).finish();
  },
  parseComplete(): Buffer {
    return new MessageWriter(BackendCode.ParseComplete).finish();
  },
  bindComplete(): Buffer {
    return new MessageWriter(BackendCode.BindComplete).finish();
  },
  closeComplete(): Buffer {
    return new MessageWriter(BackendCode.CloseComplete).finish();
  },
  noData(): Buffer {
    return new MessageWriter(BackendCode.NoData).finish();
  },
  parameterDescription(typeOids: readonly number[]): Buffer {
    const w = new MessageWriter(BackendCode.ParameterDescription).uint16(typeOids.length);
    for (const oid of typeOids) w.int32(oid | 0);
    return w.finish();
  },
  rowDescription(fields: readonly FieldDescription[]): Buffer {
    const w = new MessageWriter(BackendCode.RowDescription).int16(fields.length);
    for (const f of fields) {
      w.cstring(f.name).int32(f.tableOid).int16(f.columnNumber).int32(f.typeOid);
      w.int16(f.typeSize).int32(f.typeModifier).int16(f.format);
    }
    return w.finish();
  },
  /** A DataRow of values as sent (text values are UTF-8 strings). */
  dataRow(values: readonly (Buffer | string | null)[]): Buffer {
    const w = new MessageWriter(BackendCode.DataRow).int16(values.length);
    for (const v of values) {
      if (v === null) w.int32(-1);
      else {
        const bytes = typeof v === "string" ? Buffer.from(v, "utf8") : v;
        w.int32(bytes.length).raw(bytes);
      }
    }
    return w.finish();
  },

  // Frontend messages, used on node connections.
  startupMessage(params: Record<string, string>): Buffer {
    const w = new MessageWriter(null).int32(PROTOCOL_VERSION_3);
    for (const [k, v] of Object.entries(params)) w.cstring(k).cstring(v);
    return w.int8(0).finish();
  },
  cancelRequest(processId: number, secretKey: number): Buffer {
    return new MessageWriter(null).int32(CANCEL_REQUEST_CODE).int32(processId).int32(secretKey).finish();
  },
  query(sql: string): Buffer {
    return new MessageWriter(FrontendCode.Query).cstring(sql).finish();
  },
  parse(name: string, sql: string, paramTypes: readonly number[] = []): Buffer {
    // A Bind carries at most 65535 values: a statement with more parameters could never run.
    if (paramTypes.length > 0xffff) {
      throw new SqlError(
        "54000",
        `statement has ${paramTypes.length} parameters, more than the 65535 a Bind can carry`,
      );
    }
    const w = new MessageWriter(FrontendCode.Parse).cstring(name).cstring(sql).uint16(paramTypes.length);
    for (const t of paramTypes) w.int32(t);
    return w.finish();
  },
  bind(
    portal: string,
    statement: string,
    params: readonly (Buffer | null)[],
    paramFormats: readonly number[] = [],
    resultFormats: readonly number[] = [],
  ): Buffer {
    const w = new MessageWriter(FrontendCode.Bind).cstring(portal).cstring(statement);
    w.uint16(paramFormats.length);
    for (const f of paramFormats) w.int16(f);
    w.uint16(params.length);
    for (const p of params) {
      if (p === null) w.int32(-1);
      else w.int32(p.length).raw(p);
    }
    w.uint16(resultFormats.length);
    for (const f of resultFormats) w.int16(f);
    return w.finish();
  },
  describe(kind: "S" | "P", name: string): Buffer {
    return new MessageWriter(FrontendCode.Describe).int8(kind.charCodeAt(0)).cstring(name).finish();
  },
  execute(portal: string, maxRows = 0): Buffer {
    return new MessageWriter(FrontendCode.Execute).cstring(portal).int32(maxRows).finish();
  },
  close(kind: "S" | "P", name: string): Buffer {
    return new MessageWriter(FrontendCode.Close).int8(kind.charCodeAt(0)).cstring(name).finish();
  },
  sync(): Buffer {
    return SYNC;
  },
  flush(): Buffer {
    return FLUSH;
  },
  terminate(): Buffer {
    return TERMINATE;
  },
};

const SYNC = Buffer.from([FrontendCode.Sync, 0, 0, 0, 4]);
const FLUSH = Buffer.from([FrontendCode.Flush, 0, 0, 0, 4]);
const TERMINATE = Buffer.from([FrontendCode.Terminate, 0, 0, 0, 4]);

/** A column of a RowDescription. */
export interface FieldDescription {
  name: string;
  tableOid: number;
  columnNumber: number;
  typeOid: number;
  typeSize: number;
  typeModifier: number;
  format: number;
}

/** Decodes a RowDescription body. */
export function parseRowDescription(body: Buffer): FieldDescription[] {
  const r = new BodyReader(body);
  const n = r.int16();
  const fields: FieldDescription[] = [];
  for (let i = 0; i < n; i++) {
    fields.push({
      name: r.cstring(),
      tableOid: r.int32(),
      columnNumber: r.int16(),
      typeOid: r.int32(),
      typeSize: r.int16(),
      typeModifier: r.int32(),
      format: r.int16(),
    });
  }
  return fields;
}

/** Decodes a DataRow body into raw column values (null for SQL NULL). */
export function parseDataRow(body: Buffer): (Buffer | null)[] {
  const r = new BodyReader(body);
  const n = r.int16();
  const values: (Buffer | null)[] = [];
  for (let i = 0; i < n; i++) {
    const len = r.int32();
    values.push(len < 0 ? null : r.bytes(len));
  }
  return values;
}

/** Parses a StartupMessage body (after the length): protocol version and parameters. */
export function parseStartup(body: Buffer): { version: number; params: Record<string, string> } {
  const r = new BodyReader(body);
  const version = r.int32();
  const params: Record<string, string> = {};
  if (version !== PROTOCOL_VERSION_3) return { version, params };
  for (let i = 0; i < 1000 && r.remaining > 1; i++) {
    const key = r.cstring();
    if (key === "") break;
    params[key] = r.cstring();
  }
  return { version, params };
}
