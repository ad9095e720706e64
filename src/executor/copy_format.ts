// COPY data as PostgreSQL reads it: options from the statement's AST, rows cut out of the CopyData
// stream (text, csv and binary), and one field's value decoded for routing. Rows are passed on as
// the client sent them; only the distribution column's field is decoded.
import { SqlError } from "../errors.js";
import type { AstNode } from "../sql/ast.js";

export interface CopyOptions {
  readonly format: "text" | "csv" | "binary";
  readonly delimiter: number;
  readonly nullString: string;
  readonly header: boolean;
  /** HEADER MATCH: the header line must name the columns. */
  readonly headerMatch: boolean;
  readonly quote: number;
  readonly escape: number;
}

/** Reads a COPY statement's options, with PostgreSQL's defaults and checks. */
export function copyOptions(stmt: AstNode): CopyOptions {
  const options = (stmt.CopyStmt as { options?: { DefElem: { defname: string; arg?: AstNode } }[] }).options ?? [];
  const value = (name: string): string | boolean | undefined => {
    const o = options.find((x) => x.DefElem.defname === name)?.DefElem;
    if (!o) return undefined;
    const arg = o.arg;
    if (!arg) return true;
    if (arg.String) return (arg.String as { sval: string }).sval;
    if (arg.Boolean) return (arg.Boolean as { boolval?: boolean }).boolval === true;
    if (arg.Integer) return String((arg.Integer as { ival?: number }).ival ?? 0);
    return true;
  };
  const format = String(value("format") ?? "text").toLowerCase();
  if (format !== "text" && format !== "csv" && format !== "binary") {
    throw new SqlError("22023", `COPY format "${format}" not recognized`);
  }
  const csv = format === "csv";
  const oneByte = (name: string, fallback: string): number => {
    const v = value(name);
    const s = v === undefined ? fallback : String(v);
    if (Buffer.byteLength(s) !== 1) throw new SqlError("0A000", `COPY ${name} must be a single one-byte character`);
    return s.charCodeAt(0);
  };
  const header = value("header");
  const quote = oneByte("quote", '"');
  return {
    format,
    delimiter: oneByte("delimiter", csv ? "," : "\t"),
    nullString: String(value("null") ?? (csv ? "" : "\\N")),
    header: header === true || (typeof header === "string" && /^(true|on|1|match)$/i.test(header)),
    headerMatch: typeof header === "string" && header.toLowerCase() === "match",
    quote,
    escape: value("escape") === undefined ? quote : oneByte("escape", '"'),
  };
}

const LF = 0x0a;
const CR = 0x0d;
const BACKSLASH = 0x5c;

/** The 11-byte signature, flags and extension length of binary COPY data. */
export const BINARY_HEADER = Buffer.from([
  0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
]);
export const BINARY_TRAILER = Buffer.from([0xff, 0xff]);

/**
 * Cuts a CopyData stream into rows. `push` returns the complete rows in the bytes given so far
 * (each with its terminator); `finish` checks that nothing incomplete is left.
 */
export class CopyRowSplitter {
  private pending: Buffer = Buffer.alloc(0);
  private binaryHeaderSeen = false;
  /** Set once the end-of-data marker (`\.` or the binary trailer) was read. */
  ended = false;

  constructor(private readonly options: CopyOptions) {}

  push(chunk: Buffer): Buffer[] {
    if (this.ended) return [];
    const data = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    const rows: Buffer[] = [];
    const consumed =
      this.options.format === "binary" ? this.binaryRows(data, rows) : this.textRows(data, rows, this.options.format);
    this.pending = Buffer.from(data.subarray(consumed));
    return rows;
  }

  /** Returns the final row when the data did not end with a terminator. */
  finish(): Buffer[] {
    const rest = this.pending;
    this.pending = Buffer.alloc(0);
    if (this.ended || rest.length === 0) return [];
    if (this.options.format === "binary") {
      throw new SqlError(
        "22P04",
        this.binaryHeaderSeen ? "unexpected EOF in COPY data" : "COPY file signature not recognized",
      );
    }
    if (isEndMarker(rest, 0, rest.length)) return [];
    return [Buffer.concat([rest, Buffer.from([LF])])];
  }

  private textRows(data: Buffer, rows: Buffer[], format: "text" | "csv"): number {
    const { quote, escape } = this.options;
    let start = 0;
    let inQuotes = false;
    for (let i = 0; i < data.length; i++) {
      const c = data[i];
      if (format === "text") {
        if (c === BACKSLASH) {
          i++; // the escaped byte is data, even a newline
          continue;
        }
      } else if (inQuotes) {
        if (
          c === escape &&
          escape !== quote &&
          i + 1 < data.length &&
          (data[i + 1] === quote || data[i + 1] === escape)
        ) {
          i++;
          continue;
        }
        if (c === quote) inQuotes = false;
        continue;
      } else if (c === quote) {
        inQuotes = true;
        continue;
      }
      if (c !== LF && c !== CR) continue;
      // A CR at the very end may be the first half of CRLF: wait for the next byte.
      if (c === CR && i + 1 >= data.length) return start;
      const end = c === CR && data[i + 1] === LF ? i + 2 : i + 1;
      if (isEndMarker(data, start, i)) {
        this.ended = true;
        return data.length;
      }
      rows.push(data.subarray(start, end));
      start = end;
      i = end - 1;
    }
    return start;
  }

  private binaryRows(data: Buffer, rows: Buffer[]): number {
    let at = 0;
    if (!this.binaryHeaderSeen) {
      if (data.length < 19) return 0;
      if (!data.subarray(0, 11).equals(BINARY_HEADER.subarray(0, 11))) {
        throw new SqlError("22P04", "COPY file signature not recognized");
      }
      const extension = data.readUInt32BE(15);
      if (data.length < 19 + extension) return 0;
      at = 19 + extension;
      this.binaryHeaderSeen = true;
    }
    while (at + 2 <= data.length) {
      const fields = data.readInt16BE(at);
      if (fields === -1) {
        this.ended = true;
        return data.length;
      }
      let p = at + 2;
      let complete = true;
      for (let f = 0; f < fields; f++) {
        if (p + 4 > data.length) {
          complete = false;
          break;
        }
        const len = data.readInt32BE(p);
        p += 4 + Math.max(len, 0);
        if (p > data.length) {
          complete = false;
          break;
        }
      }
      if (!complete) break;
      rows.push(data.subarray(at, p));
      at = p;
    }
    return at;
  }
}

function isEndMarker(data: Buffer, start: number, end: number): boolean {
  return end - start === 2 && data[start] === BACKSLASH && data[start + 1] === 0x2e;
}

/** A field of a binary row: its bytes (null for NULL), or undefined when the row has fewer fields. */
export function binaryFieldOfRow(row: Buffer, index: number): Buffer | null | undefined {
  let p = 2;
  if (row.readInt16BE(0) <= index) return undefined;
  for (let f = 0; f < index; f++) p += 4 + Math.max(row.readInt32BE(p), 0);
  const len = row.readInt32BE(p);
  return len < 0 ? null : row.subarray(p + 4, p + 4 + len);
}

/** A field of a text or csv row: its text (null for NULL), or undefined when the row has fewer fields. */
export function fieldOfRow(row: Buffer, index: number, options: CopyOptions): string | null | undefined {
  let end = row.length;
  if (end > 0 && row[end - 1] === LF) end--;
  if (end > 0 && row[end - 1] === CR) end--;
  return options.format === "text" ? textField(row, end, index, options) : csvField(row, end, index, options);
}

function textField(row: Buffer, end: number, index: number, options: CopyOptions): string | null | undefined {
  let field = 0;
  let start = 0;
  for (let i = 0; i <= end; i++) {
    if (i < end && row[i] === BACKSLASH) {
      i++;
      continue;
    }
    if (i === end || row[i] === options.delimiter) {
      if (field === index) {
        const raw = row.toString("utf8", start, i);
        return raw === options.nullString ? null : unescapeText(raw);
      }
      field++;
      start = i + 1;
    }
  }
  return undefined;
}

/** Decodes text-format escapes: \b \f \n \r \t \v, octal \ooo, hex \xhh, and \c for any other c. */
function unescapeText(raw: string): string {
  if (!raw.includes("\\")) return raw;
  const bytes: number[] = [];
  const src = Buffer.from(raw, "utf8");
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c !== BACKSLASH || i + 1 >= src.length) {
      bytes.push(c);
      continue;
    }
    const n = src[++i];
    const simple: Record<number, number> = { 0x62: 8, 0x66: 12, 0x6e: 10, 0x72: 13, 0x74: 9, 0x76: 11 };
    if (simple[n] !== undefined) bytes.push(simple[n]);
    else if (n >= 0x30 && n <= 0x37) {
      let v = n - 0x30;
      for (let k = 0; k < 2 && i + 1 < src.length && src[i + 1] >= 0x30 && src[i + 1] <= 0x37; k++)
        v = v * 8 + src[++i] - 0x30;
      bytes.push(v & 0xff);
    } else if (n === 0x78 && i + 1 < src.length && isHex(src[i + 1])) {
      let v = 0;
      for (let k = 0; k < 2 && i + 1 < src.length && isHex(src[i + 1]); k++)
        v = v * 16 + parseInt(String.fromCharCode(src[++i]), 16);
      bytes.push(v);
    } else bytes.push(n);
  }
  return Buffer.from(bytes).toString("utf8");
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

function csvField(row: Buffer, end: number, index: number, options: CopyOptions): string | null | undefined {
  const { delimiter, quote, escape } = options;
  let field = 0;
  let i = 0;
  for (;;) {
    // One field: quoted parts and unquoted parts may alternate, as PostgreSQL allows.
    const bytes: number[] = [];
    let quoted = false;
    while (i < end && row[i] !== delimiter) {
      if (row[i] === quote) {
        quoted = true;
        i++;
        while (i < end) {
          if (
            row[i] === escape &&
            i + 1 < end &&
            (row[i + 1] === quote || row[i + 1] === escape) &&
            (escape !== quote || row[i + 1] === quote)
          ) {
            bytes.push(row[i + 1]);
            i += 2;
          } else if (row[i] === quote) {
            i++;
            break;
          } else bytes.push(row[i++]);
        }
      } else bytes.push(row[i++]);
    }
    if (field === index) {
      const text = Buffer.from(bytes).toString("utf8");
      return !quoted && text === options.nullString ? null : text;
    }
    if (i >= end) return undefined;
    i++; // the delimiter
    field++;
  }
}

/**
 * A text or csv row with more fields appended (values as text, null for NULL), encoded as the
 * row's format reads them back; the row's line ending stays.
 */
export function appendFields(row: Buffer, values: readonly (string | null)[], options: CopyOptions): Buffer {
  let end = row.length;
  if (end > 0 && row[end - 1] === LF) end--;
  if (end > 0 && row[end - 1] === CR) end--;
  const delimiter = String.fromCharCode(options.delimiter);
  const fields = values.map((v) => (v === null ? options.nullString : encodeField(v, options)));
  return Buffer.concat([row.subarray(0, end), Buffer.from(delimiter + fields.join(delimiter)), row.subarray(end)]);
}

function encodeField(value: string, options: CopyOptions): string {
  if (options.format === "text") {
    const delimiter = String.fromCharCode(options.delimiter);
    return value
      .replace(/[\\\n\r\t]/g, (c) => ({ "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t" })[c]!)
      .split(delimiter)
      .join(`\\${delimiter}`);
  }
  // csv: always quoted, so it is never read as NULL; quote (and escape) characters escaped.
  const quote = String.fromCharCode(options.quote);
  const escape = String.fromCharCode(options.escape);
  let out = "";
  for (const c of value) out += c === quote || (c === escape && escape !== quote) ? escape + c : c;
  return quote + out + quote;
}
