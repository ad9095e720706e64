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
  /** csv: the columns of FORCE_NOT_NULL (never NULL) and FORCE_NULL (NULL also when quoted). */
  readonly forceNotNull: readonly string[];
  readonly forceNull: readonly string[];
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
  const columnList = (name: string): string[] => {
    const arg = options.find((x) => x.DefElem.defname === name)?.DefElem.arg?.List as { items?: AstNode[] } | undefined;
    return (arg?.items ?? []).map((i) => (i.String as { sval: string }).sval);
  };
  // Compared as PostgreSQL compares it: FORMAT CSV is read as csv, FORMAT 'CSV' is not.
  const format = String(value("format") ?? "text");
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
  const header = headerChoice(value("header"));
  if (header !== "false" && format === "binary") throw new SqlError("0A000", "cannot specify HEADER in BINARY mode");
  const quote = oneByte("quote", '"');
  return {
    format,
    delimiter: oneByte("delimiter", csv ? "," : "\t"),
    nullString: String(value("null") ?? (csv ? "" : "\\N")),
    header: header !== "false",
    headerMatch: header === "match",
    quote,
    escape: value("escape") === undefined ? quote : oneByte("escape", '"'),
    forceNotNull: columnList("force_not_null"),
    forceNull: columnList("force_null"),
  };
}

/** HEADER's value as PostgreSQL reads it: a Boolean (true, false, on, off, 1, 0) or "match". */
function headerChoice(value: string | boolean | undefined): "true" | "false" | "match" {
  if (value === undefined || value === false) return "false";
  if (value === true) return "true";
  const v = value.toLowerCase();
  if (v === "true" || v === "on" || v === "1") return "true";
  if (v === "false" || v === "off" || v === "0") return "false";
  if (v === "match") return "match";
  throw new SqlError("42601", 'header requires a Boolean value or "match"');
}

const LF = 0x0a;
const CR = 0x0d;
const BACKSLASH = 0x5c;

/** The 11-byte signature, flags and extension length of binary COPY data. */
export const BINARY_HEADER = Buffer.from([
  0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
]);
export const BINARY_TRAILER = Buffer.from([0xff, 0xff]);

/** Rows cut out of CopyData, each with its terminator: row i is data[bounds[i], bounds[i + 1]). */
export interface RowBatch {
  readonly data: Buffer;
  readonly bounds: readonly number[];
}

const NO_ROWS: RowBatch = { data: Buffer.alloc(0), bounds: [0] };

/** The number of rows in a batch. */
export function rowCount(batch: RowBatch): number {
  return batch.bounds.length - 1;
}

/** Row i of a batch as a buffer of its own (a view of the batch's bytes). */
export function rowOf(batch: RowBatch, i: number): Buffer {
  return batch.data.subarray(batch.bounds[i], batch.bounds[i + 1]);
}

/** Rows given one by one as a batch. */
export function batchOf(rows: readonly Buffer[]): RowBatch {
  const bounds = [0];
  for (const row of rows) bounds.push(bounds[bounds.length - 1] + row.length);
  return { data: Buffer.concat(rows), bounds };
}

/** How many backslashes end the bytes. */
function trailingBackslashes(bytes: Buffer): number {
  let n = 0;
  while (n < bytes.length && bytes[bytes.length - 1 - n] === BACKSLASH) n++;
  return n;
}

/**
 * Cuts a CopyData stream into rows. `push` returns the complete rows in the bytes given so far as
 * offsets into them (no buffer per row: a million rows are a million views otherwise); `finish`
 * checks that nothing incomplete is left.
 */
export class CopyRowSplitter {
  private pending: Buffer = NO_ROWS.data;
  private binaryHeaderSeen = false;
  /** Set once the end-of-data marker (`\.` or the binary trailer) was read. */
  ended = false;
  /** How the first line ended: every line must end so, as PostgreSQL requires. */
  private newline: "lf" | "cr" | "crlf" | null = null;
  /** Lines read so far; after an error, the number of the line it is about. */
  line = 0;

  constructor(private readonly options: CopyOptions) {}

  push(chunk: Buffer): RowBatch {
    if (this.ended) return NO_ROWS;
    const data = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    const bounds: number[] = [];
    const consumed =
      this.options.format === "binary"
        ? this.binaryRows(data, bounds)
        : this.textRows(data, bounds, this.options.format);
    // A part row waits for the next message; it is copied so that the message can be freed.
    this.pending = consumed < data.length ? Buffer.from(data.subarray(consumed)) : NO_ROWS.data;
    return bounds.length > 1 ? { data, bounds } : NO_ROWS;
  }

  /** Returns the final row when the data did not end with a terminator. */
  finish(): RowBatch {
    const rest = this.pending;
    this.pending = NO_ROWS.data;
    if (this.ended || rest.length === 0) return NO_ROWS;
    if (this.options.format === "binary") {
      throw new SqlError(
        "22P04",
        this.binaryHeaderSeen ? "unexpected EOF in COPY data" : "COPY file signature not recognized",
      );
    }
    if (isEndMarker(rest, 0, rest.length)) return NO_ROWS;
    if (rest[rest.length - 1] === CR) {
      // A CR that turned out not to begin a CRLF: the line ends with it.
      const format = this.options.format === "csv" ? "csv" : "text";
      if (!isEndMarker(rest, 0, rest.length - 1)) this.checkNewline("cr", format);
      this.line++;
      return isEndMarker(rest, 0, rest.length - 1) ? NO_ROWS : { data: rest, bounds: [0, rest.length] };
    }
    // Text data ending in an escaping backslash: PostgreSQL drops it, where a newline after it
    // would be read as an escaped one.
    let end = rest.length;
    if (this.options.format === "text" && trailingBackslashes(rest) % 2 === 1) end--;
    return { data: Buffer.concat([rest.subarray(0, end), Buffer.from([LF])]), bounds: [0, end + 1] };
  }

  private textRows(data: Buffer, bounds: number[], format: "text" | "csv"): number {
    // Most rows hold no escape, quote or CR: their end is the next LF, found by a native search.
    // The positions of the next such byte are looked up again only once passed.
    const special = format === "text" ? BACKSLASH : this.options.quote;
    let nextSpecial = -1;
    let nextCR = -1;
    let start = 0;
    while (start < data.length) {
      if (nextSpecial < start) nextSpecial = indexOrLength(data, special, start);
      if (nextCR < start) nextCR = indexOrLength(data, CR, start);
      const lf = data.indexOf(LF, start);
      const at = lf >= 0 && lf < nextSpecial && lf < nextCR ? lf : this.terminatorAt(data, start, format);
      if (at < 0) break;
      const newline = data[at] === LF ? "lf" : data[at + 1] === LF ? "crlf" : "cr";
      if (isEndMarker(data, start, at)) {
        if (this.newline !== null && newline !== this.newline) {
          this.line++;
          throw new SqlError("22P04", "end-of-copy marker does not match previous newline style");
        }
        this.ended = true;
        return data.length;
      }
      this.checkNewline(newline, format);
      this.line++;
      const end = newline === "crlf" ? at + 2 : at + 1;
      if (bounds.length === 0) bounds.push(start);
      bounds.push(end);
      start = end;
    }
    return start;
  }

  /** Refuses a line ending unlike the first line's, with PostgreSQL's errors. */
  private checkNewline(newline: "lf" | "cr" | "crlf", format: "text" | "csv"): void {
    if (this.newline === null) this.newline = newline;
    if (newline === this.newline) return;
    const literal = format === "text" ? "literal" : "unquoted";
    // A CR where LF ends lines, or alone where CRLF does; else an LF where lines end with CR.
    const carriageReturn = this.newline === "lf" || (this.newline === "crlf" && newline === "cr");
    // With CR ending lines, a CRLF's LF begins the next line.
    this.line += this.newline === "cr" && newline === "crlf" ? 2 : 1;
    const [what, escaped] = carriageReturn ? ["carriage return", "\\r"] : ["newline", "\\n"];
    throw new SqlError("22P04", `${literal} ${what} found in data`, {
      hint: format === "text" ? `Use "${escaped}" to represent ${what}.` : `Use quoted CSV field to represent ${what}.`,
    });
  }

  /**
   * Where the row from `start` ends: the position of its LF or CR, or -1 when the data ends
   * before (or with a CR that may be the first half of CRLF).
   */
  private terminatorAt(data: Buffer, start: number, format: "text" | "csv"): number {
    const { quote, escape } = this.options;
    let inQuotes = false;
    for (let i = start; i < data.length; i++) {
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
      return c === CR && i + 1 >= data.length ? -1 : i;
    }
    return -1;
  }

  private binaryRows(data: Buffer, bounds: number[]): number {
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
      if (bounds.length === 0) bounds.push(at);
      bounds.push(p);
      at = p;
    }
    return at;
  }
}

function indexOrLength(data: Buffer, byte: number, from: number): number {
  const at = data.indexOf(byte, from);
  return at < 0 ? data.length : at;
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
export function fieldOfRow(
  row: Buffer,
  index: number,
  options: CopyOptions,
  nulls: CsvNulls = "unquoted",
): string | null | undefined {
  let end = row.length;
  if (end > 0 && row[end - 1] === LF) end--;
  if (end > 0 && row[end - 1] === CR) end--;
  return options.format === "text" ? textField(row, end, index, options) : csvField(row, end, index, options, nulls);
}

/** Which spellings of the NULL string a csv field reads as NULL: unquoted ones, none, or quoted ones too. */
export type CsvNulls = "unquoted" | "never" | "quoted too";

/** How a column's csv fields read the NULL string: FORCE_NOT_NULL never, FORCE_NULL also quoted. */
export function csvNullsOf(column: string, options: CopyOptions): CsvNulls {
  if (options.forceNotNull.includes(column)) return "never";
  return options.forceNull.includes(column) ? "quoted too" : "unquoted";
}

/** Where a field's bytes lie in a row's buffer. */
export interface FieldRange {
  start: number;
  end: number;
}

/**
 * Finds field `index` of the text or csv row data[start, end) when its bytes are its value as they
 * stand: no escape in text, no quote in csv (nor before it), and not the NULL string. Fills `range`
 * and returns true; returns false when the field must be decoded (fieldOfRow) or is missing.
 */
export function plainFieldRange(
  data: Buffer,
  start: number,
  end: number,
  index: number,
  options: CopyOptions,
  nullBytes: Buffer,
  range: FieldRange,
): boolean {
  if (end > start && data[end - 1] === LF) end--;
  if (end > start && data[end - 1] === CR) end--;
  // Text escapes and csv quotes end the search: a quoted field may hold delimiters.
  const special = options.format === "text" ? BACKSLASH : options.quote;
  let field = 0;
  let fieldStart = start;
  for (let i = start; i <= end; i++) {
    const c = i < end ? data[i] : options.delimiter;
    if (c === special) return false;
    if (c !== options.delimiter) continue;
    if (field === index) {
      range.start = fieldStart;
      range.end = i;
      return !bytesEqual(data, fieldStart, i, nullBytes);
    }
    field++;
    fieldStart = i + 1;
  }
  return false;
}

function bytesEqual(data: Buffer, start: number, end: number, bytes: Buffer): boolean {
  if (end - start !== bytes.length) return false;
  for (let i = 0; i < bytes.length; i++) if (data[start + i] !== bytes[i]) return false;
  return true;
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

/**
 * A csv field's value; which spellings of the NULL string read as NULL: unquoted ones, none
 * (FORCE_NOT_NULL), or quoted ones too (FORCE_NULL).
 */
function csvField(
  row: Buffer,
  end: number,
  index: number,
  options: CopyOptions,
  nulls: CsvNulls,
): string | null | undefined {
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
      return text === options.nullString && (nulls === "quoted too" || (nulls === "unquoted" && !quoted)) ? null : text;
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
    const field = escapeText(value, options);
    return field === options.nullString ? notNullText(value, options) : field;
  }
  // csv: always quoted, so it is never read as NULL; quote (and escape) characters escaped.
  const quote = String.fromCharCode(options.quote);
  const escape = String.fromCharCode(options.escape);
  let out = "";
  for (const c of value) out += c === quote || (c === escape && escape !== quote) ? escape + c : c;
  return quote + out + quote;
}

/**
 * A text-format field for a value whose plain spelling is the NULL string (`NULL '0'`): its first
 * character written as escaped bytes, which PostgreSQL reads as the value (the NULL string is
 * matched before escapes are read). An empty value has no other spelling.
 */
function notNullText(value: string, options: CopyOptions): string {
  if (value === "") {
    throw new SqlError(
      "0A000",
      "COPY in text format with NULL '' into a column whose default is an empty string is not supported",
      {
        detail: "The coordinator computes the default, and the empty string would be read as NULL.",
        hint: "Give the column's values, or use another NULL string or the csv format.",
      },
    );
  }
  const first = String.fromCodePoint(value.codePointAt(0)!);
  const bytes = [...Buffer.from(first, "utf8")].map((b) => `\\x${b.toString(16).padStart(2, "0")}`).join("");
  return bytes + escapeText(value.slice(first.length), options);
}

/** A value as a text-format field: backslash, newline, carriage return, tab and the delimiter escaped. */
function escapeText(value: string, options: CopyOptions): string {
  const delimiter = String.fromCharCode(options.delimiter);
  return value
    .replace(/[\\\n\r\t]/g, (c) => ({ "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t" })[c]!)
    .split(delimiter)
    .join(`\\${delimiter}`);
}
