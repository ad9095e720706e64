// COPY into and out of distributed and reference tables.
//
// COPY FROM STDIN is streamed: CopyData is cut into rows as it arrives, each row goes to its
// shard's buffer (reference tables: the one shard, sent to every placement), and buffers are sent
// to the workers as COPY … FROM STDIN on the session's remote transactions, every node in parallel
// and a node's shards pipelined, while the next rows are read. Rows travel as the client wrote them;
// only the distribution column's field is read to find the shard, mostly hashed from its bytes
// without decoding. The per-row work is kept free of allocations: it runs a million times a COPY.
// The workers check every row, and their errors name the client's line. Everything commits or
// nothing does, with the statement or the client's block.
//
// COPY table TO STDOUT streams each shard's rows from its worker to the client.
import type { Session } from "../server/session.js";
import type { InterceptedStatement } from "../commands/intercept.js";
import { referenceShards, type MetadataSnapshot, type NodeRecord, type TableRecord } from "../metadata/cache.js";
import type { RelationRef } from "../planner/analyze.js";
import { SqlError } from "../errors.js";
import { RemoteError } from "../nodes/gateway.js";
import { BackendCode, MessageWriter, write } from "../protocol/messages.js";
import { cloneAst, transitText, type AstNode } from "../sql/ast.js";
import { deparseStatement } from "../sql/parse.js";
import { hashPlainBytes, hashValue, shardIndexForHash } from "../metadata/hash.js";
import { canonicalValues } from "./canonical.js";
import { shardRelname } from "../commands/shard_ddl.js";
import { nodeForGroup } from "../commands/distribute.js";
import { refuseMisreadTextIn, shardNameStripper, storedKeyText, varcharLength } from "./distributed.js";
import {
  appendFields,
  BINARY_HEADER,
  BINARY_TRAILER,
  CopyRowSplitter,
  batchOf,
  csvNullsOf,
  type CsvNulls,
  binaryFieldOfRow,
  copyOptions,
  fieldOfRow,
  plainFieldRange,
  rowCount,
  rowOf,
  type CopyOptions,
  type FieldRange,
  type RowBatch,
} from "./copy_format.js";
import { commitStatement } from "../transaction/commit.js";
import { recordStatement } from "./stat_statements.js";

/** Bytes of rows buffered before they are sent to the workers. */
const FLUSH_BYTES = 16 * 1024 * 1024;
/** Rows whose defaults the coordinator evaluates in one round trip. */
const FILL_ROWS = 10_000;

const INT2 = 21;
const INT4 = 23;
const INT8 = 20;
const TEXT_TYPES = new Set([25, 1043, 1042, 19]); // text, varchar, bpchar, name
const CLOCK_TYPES = new Set([1083, 1114, 1184, 1266]); // time, timestamp, timestamptz, timetz

/** Resolves the COPY statement's table among the distributed and reference tables. */
export type TableResolver = (ref: RelationRef) => Promise<TableRecord | null>;

/**
 * A shard's rows waiting to be sent, copied out of the messages (which can then be freed). Used
 * again for a later batch once the workers have taken this one.
 */
interface ShardBuffer {
  data: Buffer;
  /** A view of `data` for copying rows into it. */
  view: DataView;
  length: number;
  /** The client's line number of each row, and the number of rows. */
  lines: Float64Array;
  rows: number;
}

/** Rows up to this long are copied by a loop; longer ones by a native copy. */
const LOOP_COPY_BYTES_MAX = 256;

function shardBuffer(): ShardBuffer {
  const data = Buffer.allocUnsafe(64 * 1024);
  return { data, view: viewOf(data), length: 0, lines: new Float64Array(1024), rows: 0 };
}

function addLine(buffer: ShardBuffer, line: number): void {
  if (buffer.rows === buffer.lines.length) {
    const bigger = new Float64Array(buffer.lines.length * 2);
    bigger.set(buffer.lines);
    buffer.lines = bigger;
  }
  buffer.lines[buffer.rows++] = line;
}

function viewOf(bytes: Buffer): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** Appends source[start, end) to a shard's buffer; `from`, when given, views `source`. */
function append(buffer: ShardBuffer, source: Buffer, start = 0, end = source.length, from?: DataView): void {
  const length = end - start;
  if (buffer.length + length > buffer.data.length) {
    const bigger = Buffer.allocUnsafe(Math.max(buffer.data.length * 2, buffer.length + length));
    buffer.data.copy(bigger, 0, 0, buffer.length);
    buffer.data = bigger;
    buffer.view = viewOf(bigger);
  }
  let at = buffer.length;
  buffer.length += length;
  if (!from || length > LOOP_COPY_BYTES_MAX) {
    buffer.data.set(source.subarray(start, end), at);
    return;
  }
  // Four bytes at a time through views: a native copy needs a typed array of the row first, and
  // making one per row costs more than the copy (species lookup, allocation, garbage collection).
  const to = buffer.view;
  let i = start;
  for (; i + 4 <= end; i += 4, at += 4) to.setUint32(at, from.getUint32(i));
  for (; i < end; i++, at++) buffer.data[at] = source[i];
}

/** One COPY FROM STDIN into a distributed or reference table, fed CopyData as it arrives. */
export class DistributedCopyIn {
  private readonly splitter: CopyRowSplitter;
  /** The batch being filled: each shard's buffer, by shard index. */
  private buffers: (ShardBuffer | undefined)[] = [];
  /** Buffers of batches the workers have taken (at most one set: one batch is in flight). */
  private spare: ShardBuffer[] = [];
  private buffered = 0;
  private line = 0;
  private rows = 0;
  private inflight: Promise<void> = Promise.resolve();
  private failure: unknown = null;
  private readonly shardSql = new Map<number, string>();
  private readonly inBlock: boolean;
  /** Rows waiting for their defaults, and the client's line number of the first. */
  private unfilled: Buffer[] = [];
  private unfilledLine = 0;
  /** The NULL string's bytes, and where the distribution column's field was found last. */
  private readonly nullBytes: Buffer;
  private readonly field: FieldRange = { start: 0, end: 0 };
  /** How the distribution column's csv fields read the NULL string (FORCE_NOT_NULL, FORCE_NULL). */
  private readonly keyNulls: CsvNulls;

  private constructor(
    private readonly session: Session,
    private readonly statement: InterceptedStatement,
    private readonly table: TableRecord,
    private readonly metadata: MetadataSnapshot,
    private readonly options: CopyOptions,
    readonly columns: readonly string[],
    private readonly shardColumns: readonly string[],
    /** The text of each value appended to the rows: the columns after `columns` in shardColumns. */
    private readonly defaults: readonly AstNode[],
    private readonly distIndex: number,
  ) {
    this.splitter = new CopyRowSplitter(options);
    this.nullBytes = Buffer.from(options.nullString);
    this.keyNulls = csvNullsOf(table.partitionKey ?? "", options);
    this.inBlock = session.pipe!.transactionStatus !== 0x49;
  }

  /** Checks the statement and prepares the copy; throws the errors PostgreSQL would give first. */
  static async start(session: Session, st: InterceptedStatement, resolve: TableResolver): Promise<DistributedCopyIn> {
    const copy = st.stmt.CopyStmt as {
      relation: { schemaname?: string; relname: string };
      attlist?: { String: { sval: string } }[];
      whereClause?: unknown;
    };
    if (copy.whereClause) {
      throw new SqlError("0A000", "COPY … FROM … WHERE into a distributed table is not supported", {
        hint: "Load the rows into a local staging table and insert the ones you want.",
      });
    }
    const table = await resolve(relationRef(copy.relation));
    if (!table) throw new SqlError("XX000", "COPY target is not a distributed table");
    // The rows are read and routed as UTF-8.
    await refuseMisreadTextIn(session);
    const options = copyOptions(st.stmt);
    const infos = await session.tableColumns(table.relationId);
    const all = infos.map((c) => c.name);
    // Without a column list, every column but the generated ones, as PostgreSQL reads it.
    const columns = copy.attlist
      ? copy.attlist.map((a) => a.String.sval)
      : infos.filter((c) => !c.generated).map((c) => c.name);
    const seen = new Set<string>();
    for (const c of columns) {
      if (!all.includes(c)) throw new SqlError("42703", `column "${c}" of relation "${table.relname}" does not exist`);
      if (seen.has(c)) throw new SqlError("42701", `column "${c}" specified more than once`);
      seen.add(c);
    }
    // Columns left out whose defaults the coordinator evaluates get values appended to each row.
    const fill = infos.filter(
      (c) => !columns.includes(c.name) && (c.coordinatorDefault || (c.name === table.partitionKey && c.defaultExpr)),
    );
    if (fill.length > 0 && options.format === "binary") {
      throw new SqlError(
        "0A000",
        `binary COPY into a distributed table that leaves out column "${fill[0].name}" is not supported`,
        {
          detail: "Its default is evaluated by the coordinator.",
          hint: "Give the column's values, or use COPY in text or csv format.",
        },
      );
    }
    const shardColumns = [...columns, ...fill.map((c) => c.name)];
    const distIndex = table.method === "h" ? shardColumns.indexOf(table.partitionKey!) : -1;
    if (table.method === "h" && distIndex < 0) {
      throw new SqlError(
        "0A000",
        `COPY into a distributed table must include the distribution column "${table.partitionKey}"`,
        {
          hint: "Add the column to the COPY column list.",
        },
      );
    }
    const type = table.partitionType;
    if (
      options.format === "binary" &&
      table.method === "h" &&
      ![INT2, INT4, INT8].includes(type) &&
      !TEXT_TYPES.has(type)
    ) {
      throw new SqlError("0A000", "binary COPY into a table distributed by a column of this type is not supported", {
        hint: "Use COPY in text or csv format.",
      });
    }
    refuseRecodedKeys(st.stmt, table);
    const metadata = await session.metadata();
    await checkOnWorker(session, st.stmt, table, metadata, options.format === "binary");
    const defaults = fill.map((f) => transitText(cloneAst((f.coordinatorDefault ?? f.defaultExpr)!), f.baseTypeOid));
    return new DistributedCopyIn(session, st, table, metadata, options, columns, shardColumns, defaults, distIndex);
  }

  get binary(): boolean {
    return this.options.format === "binary";
  }

  /** Takes one CopyData message's bytes. */
  async push(data: Buffer): Promise<void> {
    if (this.failure) return;
    let rows: RowBatch;
    try {
      rows = this.splitter.push(data);
    } catch (e) {
      this.failure ??= copyError(e, this.table, this.splitter.line);
      return;
    }
    try {
      // Rows are views of the message's bytes: each socket read is a buffer of its own.
      await this.route(rows);
    } catch (e) {
      this.failure ??= e;
    }
  }

  /** Ends the data: sends what is buffered and returns the number of rows copied, or throws. */
  async finish(): Promise<number> {
    if (!this.failure) {
      try {
        await this.route(this.splitter.finish(), true);
        this.flush();
      } catch (e) {
        this.failure ??= e;
      }
    }
    await this.inflight;
    if (this.failure) throw this.failure;
    if (!this.inBlock) await commitStatement(this.session, "none");
    recordStatement(this.session, this.statement, "copy", null);
    return this.rows;
  }

  /** The client gave up (CopyFail): waits for what is in flight; nothing is committed. */
  async abort(): Promise<void> {
    this.failure ??= new Error("COPY aborted");
    await this.inflight;
  }

  private async route(batch: RowBatch, last = false): Promise<void> {
    const count = rowCount(batch);
    if (count === 0 && !(last && this.unfilled.length > 0)) return;
    let firstLine = this.line + 1;
    this.line += count;
    let first = 0;
    if (this.options.header && firstLine === 1 && count > 0) {
      this.checkHeader(rowOf(batch, 0));
      first = 1;
    }
    if (this.defaults.length > 0) {
      // Defaults are evaluated for many rows at once, in the rows' order.
      if (this.unfilled.length === 0) this.unfilledLine = firstLine + first;
      for (let i = first; i < count; i++) {
        const row = rowOf(batch, i);
        // Values appended to a row with too few or too many would be taken for its own.
        this.checkFieldCount(row, firstLine + i);
        this.unfilled.push(row);
      }
      if (this.unfilled.length < FILL_ROWS && !last) return;
      batch = batchOf(await this.withDefaults(this.unfilled.splice(0)));
      firstLine = this.unfilledLine;
      first = 0;
    }
    const indexes = await this.shardIndexes(batch, first, firstLine);
    const { data, bounds } = batch;
    const view = viewOf(data);
    for (let i = first; i < rowCount(batch); i++) {
      const index = indexes[i - first];
      let buffer = this.buffers[index];
      if (!buffer) {
        buffer = this.spare.pop() ?? shardBuffer();
        buffer.length = 0;
        buffer.rows = 0;
        if (this.binary) append(buffer, BINARY_HEADER);
        this.buffers[index] = buffer;
      }
      append(buffer, data, bounds[i], bounds[i + 1], view);
      addLine(buffer, firstLine + i);
      this.buffered += bounds[i + 1] - bounds[i];
      this.rows++;
    }
    if (this.buffered >= FLUSH_BYTES) {
      // One batch in flight while the next is read: wait for the previous one first.
      await this.inflight;
      if (this.failure) throw this.failure;
      this.flush();
    }
  }

  /** A text or csv row must have a field for each column given, as PostgreSQL checks. */
  private checkFieldCount(row: Buffer, line: number): void {
    const count = this.columns.length;
    let message: string | null = null;
    if (fieldOfRow(row, count - 1, this.options) === undefined) {
      let missing = 0;
      while (fieldOfRow(row, missing, this.options) !== undefined) missing++;
      message = `missing data for column "${this.columns[missing]}"`;
    } else if (fieldOfRow(row, count, this.options) !== undefined) {
      message = "extra data after last expected column";
    }
    if (message !== null) throw copyError(new SqlError("22P04", message), this.table, line, { row });
  }

  /** The rows with the values of the defaults the coordinator evaluates appended. */
  private async withDefaults(rows: Buffer[]): Promise<Buffer[]> {
    const select = {
      SelectStmt: {
        targetList: this.defaults.map((d) => ({ ResTarget: { val: cloneAst(d) } })),
        fromClause: [
          {
            RangeFunction: {
              functions: [
                {
                  List: {
                    items: [
                      {
                        FuncCall: {
                          funcname: [{ String: { sval: "pg_catalog" } }, { String: { sval: "generate_series" } }],
                          args: [{ A_Const: { ival: { ival: 1 } } }, { A_Const: { ival: { ival: rows.length } } }],
                          funcformat: "COERCE_EXPLICIT_CALL",
                        },
                      },
                      {},
                    ],
                  },
                },
              ],
            },
          },
        ],
        limitOption: "LIMIT_OPTION_DEFAULT",
        op: "SETOP_NONE",
      },
    };
    const values = await this.session.internalQuery(deparseStatement(select));
    return rows.map((row, i) => appendFields(row, values[i], this.options));
  }

  /** HEADER MATCH and HEADER: the first line holds column names (checked only with MATCH). */
  private checkHeader(row: Buffer): void {
    if (!this.options.headerMatch) return;
    this.columns.forEach((name, i) => {
      const got = fieldOfRow(row, i, this.options);
      if (got !== name) {
        throw copyError(
          new SqlError(
            "22P04",
            `column name mismatch in header line field ${i + 1}: got "${got ?? "null"}", expected "${name}"`,
          ),
          this.table,
          1,
        );
      }
    });
  }

  /** The shard index of each row from `first` on (reference tables: 0). */
  private async shardIndexes(batch: RowBatch, first: number, firstLine: number): Promise<number[]> {
    const count = rowCount(batch) - first;
    if (this.table.method === "n") return new Array<number>(count).fill(0);
    const out = new Array<number>(count);
    const pending: { at: number; text: string }[] = [];
    for (let i = 0; i < count; i++) {
      const start = batch.bounds[first + i];
      const end = batch.bounds[first + i + 1];
      // Most keys are hashed from the row's bytes as they stand; the rest are decoded first.
      const hash = this.binary ? null : this.plainHash(batch.data, start, end);
      if (hash !== null) out[i] = shardIndexForHash(hash, this.table.shards.length);
      else {
        const line = firstLine + first + i;
        const text = this.keyText(batch.data.subarray(start, end), line);
        const hashable = hashableText(this.table.partitionType, text);
        if (hashable === null) pending.push({ at: i, text });
        else out[i] = this.indexOf(hashable, line);
      }
    }
    if (pending.length > 0) {
      // The coordinator database reads the values as the column's type would, in this session's
      // settings (DateStyle, …), and prints them in the form the hash functions take.
      const canonical = await this.canonicalize(
        pending.map((p) => p.text),
        firstLine + first,
        pending,
      );
      pending.forEach((p, k) => (out[p.at] = this.indexOf(canonical[k], firstLine + first + p.at)));
    }
    return out;
  }

  /** The hash of a text or csv row's distribution value when its bytes spell it plainly, else null. */
  private plainHash(data: Buffer, start: number, end: number): number | null {
    const field = this.field;
    if (!plainFieldRange(data, start, end, this.distIndex, this.options, this.nullBytes, field)) return null;
    // A varchar(n) value longer than n may be stored cut (storedKeyText).
    const max = varcharLength(this.table);
    if (max >= 0 && field.end - field.start > max) return null;
    return hashPlainBytes(this.table.partitionType, data, field.start, field.end);
  }

  /** The distribution value of a row as text; throws for a missing or NULL value. */
  private keyText(row: Buffer, line: number): string {
    const type = this.table.partitionType;
    let text: string | null | undefined;
    if (this.binary) {
      const bytes = binaryFieldOfRow(row, this.distIndex);
      text = bytes ? binaryText(type, bytes) : bytes;
    } else {
      text = fieldOfRow(row, this.distIndex, this.options, this.keyNulls);
    }
    if (text === undefined) {
      throw copyError(new SqlError("22P04", `missing data for column "${this.table.partitionKey}"`), this.table, line);
    }
    if (text !== null && CLOCK_TYPES.has(type) && text.length < 16 && text.trim().toLowerCase() === "now") {
      // Each worker would read it as its own transaction's start, not the time it was routed by.
      throw copyError(
        new SqlError(
          "0A000",
          `the value 'now' of distribution column "${this.table.partitionKey}" in COPY is not supported`,
          {
            hint: "Give the time itself, or insert the row with INSERT.",
          },
        ),
        this.table,
        line,
      );
    }
    if (text === null) {
      throw copyError(
        new SqlError(
          "23502",
          `cannot perform an INSERT with NULL in the partition column "${this.table.partitionKey}"`,
        ),
        this.table,
        line,
      );
    }
    return text;
  }

  private async canonicalize(
    values: string[],
    firstLine: number,
    pending: readonly { at: number }[],
  ): Promise<string[]> {
    // Integer columns get here only with unusual text (spaces, …): read it as the type too.
    try {
      return await canonicalValues(this.session, this.table.partitionType, values);
    } catch (e) {
      // Name the line of the value the type rejected, as PostgreSQL's COPY would.
      if (!(e instanceof RemoteError)) throw e;
      const k = Math.max(
        0,
        values.findIndex((v) => e.fields.message.includes(`"${v}"`)),
      );
      throw copyError(e, this.table, firstLine + pending[k].at, { column: this.table.partitionKey!, value: values[k] });
    }
  }

  private indexOf(text: string, line: number): number {
    let hash: number | null;
    try {
      hash = hashValue(this.table.partitionType, storedKeyText(this.table, text));
    } catch (e) {
      throw copyError(e, this.table, line, { column: this.table.partitionKey!, value: text });
    }
    if (hash === null) throw new SqlError("XX000", "no hash function for the distribution column");
    return shardIndexForHash(hash, this.table.shards.length);
  }

  /**
   * Sends every shard buffer to its placements: nodes in parallel, and each node's shards in one
   * pipelined write, so that a node goes from one shard's COPY to the next without a round trip.
   */
  private flush(): void {
    const batch = this.buffers;
    this.buffers = [];
    this.buffered = 0;
    const byNode = new Map<number, { node: NodeRecord; index: number; buffer: ShardBuffer }[]>();
    batch.forEach((buffer, index) => {
      if (!buffer) return;
      if (this.binary) append(buffer, BINARY_TRAILER);
      for (const p of this.table.shards[index].placements) {
        const node = nodeForGroup(this.metadata.nodes, p.groupId);
        byNode.set(node.nodeid, [...(byNode.get(node.nodeid) ?? []), { node, index, buffer }]);
      }
    });
    const reference = referenceShards([this.table]);
    this.inflight = Promise.all(
      [...byNode.values()].map(async (work) => {
        // One CopyData message per shard and batch, not one per row.
        const copies = work.map(({ index, buffer }) => ({
          sql: this.sqlFor(index),
          data: [buffer.data.subarray(0, buffer.length)],
        }));
        try {
          const results = await this.session.remote.copyInAll(work[0].node, copies, {
            transactional: true,
            write: true,
            reference,
          });
          // The first to fail is the one to report: those behind it fail because it did.
          const failed = results.findIndex((r) => r.status === "rejected");
          if (failed >= 0) {
            const reason = (results[failed] as PromiseRejectedResult).reason;
            const { lines, rows } = work[failed].buffer;
            this.failure ??= workerCopyError(reason, this.table, lines.subarray(0, rows));
          }
        } catch (e) {
          this.failure ??= workerCopyError(e, this.table, []);
        }
      }),
    ).then(() => {
      for (const buffer of batch) if (buffer) this.spare.push(buffer);
    });
  }

  /** COPY shard (columns) FROM STDIN with the client's options, less HEADER. */
  private sqlFor(index: number): string {
    let sql = this.shardSql.get(index);
    if (!sql) {
      sql = shardCopy(this.statement.stmt, this.table, this.table.shards[index].shardId, this.shardColumns);
      this.shardSql.set(index, sql);
    }
    return sql;
  }
}

/**
 * The client's COPY statement as it stands (its columns and options, HEADER excepted), run on the
 * table's first shard without data before any is read, as PostgreSQL checks a COPY before it
 * asks for data: its errors about options and columns are PostgreSQL's, also when no row
 * follows. Outside a block a failure leaves nothing open on the worker.
 */
async function checkOnWorker(
  session: Session,
  stmt: AstNode,
  table: TableRecord,
  metadata: MetadataSnapshot,
  binary: boolean,
): Promise<void> {
  const s = cloneAst(stmt);
  const copy = s.CopyStmt as { relation: AstNode; options?: { DefElem: { defname: string } }[] };
  // HEADER is checked by copyOptions: with no data, HEADER MATCH would find an empty header line.
  copy.options = copy.options?.filter((o) => o.DefElem.defname !== "header");
  if (copy.options?.length === 0) delete copy.options;
  const shard = table.shards[0];
  copy.relation = {
    schemaname: table.schema,
    relname: shardRelname(table.relname, shard.shardId),
    inh: true,
    relpersistence: "p",
  };
  const node = nodeForGroup(metadata.nodes, shard.placements[0].groupId);
  try {
    // Binary data is never empty: its header and trailer at least.
    const data = binary ? [BINARY_HEADER, BINARY_TRAILER] : [];
    await session.remote.copyIn(node, deparseStatement(s), data, { transactional: true, write: false });
  } catch (e) {
    if (session.pipe!.transactionStatus === 0x49) await session.remote.rollbackAll();
    throw workerCopyError(e, table, []);
  }
}

/**
 * COPY's ENCODING option: the rows travel as the client wrote them and the workers convert them,
 * but a text distribution value is hashed from its bytes, which must then be UTF-8's.
 */
function refuseRecodedKeys(stmt: AstNode, table: TableRecord): void {
  const options = (stmt.CopyStmt as { options?: { DefElem: { defname: string; arg?: AstNode } }[] }).options ?? [];
  const encoding = options.find((o) => o.DefElem.defname === "encoding")?.DefElem.arg?.String as
    { sval: string } | undefined;
  if (!encoding || /^utf-?8$|^unicode$/i.test(encoding.sval) || !TEXT_TYPES.has(table.partitionType)) return;
  throw new SqlError("0A000", "COPY … ENCODING into a table distributed by a text column is not supported", {
    detail: `Its rows would be routed by the bytes of "${table.partitionKey}" in ${encoding.sval}.`,
    hint: "Convert the data to UTF-8 and leave out ENCODING.",
  });
}

/** The client's COPY statement aimed at one shard, with every column named and HEADER left out. */
function shardCopy(stmt: AstNode, table: TableRecord, shardId: number, columns: readonly string[]): string {
  const s = cloneAst(stmt);
  const c = s.CopyStmt as { relation: AstNode; attlist?: unknown[]; options?: { DefElem: { defname: string } }[] };
  c.relation = {
    schemaname: table.schema,
    relname: shardRelname(table.relname, shardId),
    inh: true,
    relpersistence: "p",
  };
  c.attlist = columns.map((name) => ({ String: { sval: name } }));
  c.options = c.options?.filter((o) => o.DefElem.defname !== "header");
  if (c.options?.length === 0) delete c.options;
  return deparseStatement(s);
}

/** Streams `COPY table [(columns)] TO STDOUT` from the shards, one placement each, in shard order. */
export async function copyOut(session: Session, stmt: AstNode, table: TableRecord, inBlock: boolean): Promise<void> {
  const copy = stmt.CopyStmt as { attlist?: { String: { sval: string } }[] };
  const options = copyOptions(stmt);
  if (options.headerMatch) throw new SqlError("0A000", 'cannot use "match" with HEADER in COPY TO');
  const infos = await session.tableColumns(table.relationId);
  const all = infos.map((c) => c.name);
  // Without a column list, every column but the generated ones, as PostgreSQL writes it.
  const columns = copy.attlist
    ? copy.attlist.map((a) => a.String.sval)
    : infos.filter((c) => !c.generated).map((c) => c.name);
  for (const c of columns) {
    if (!all.includes(c)) throw new SqlError("42703", `column "${c}" of relation "${table.relname}" does not exist`);
  }
  const metadata = await session.metadata();
  const format = options.format === "binary" ? 1 : 0;
  const response = new MessageWriter(BackendCode.CopyOutResponse).int8(format).int16(columns.length);
  for (let i = 0; i < columns.length; i++) response.int16(format);
  session.sendToClient(response.finish());
  if (options.format === "binary") session.sendToClient(copyData(BINARY_HEADER));
  else if (options.header) session.sendToClient(copyData(headerLine(columns, options)));
  const shards = table.method === "n" ? table.shards.slice(0, 1) : table.shards;
  let count = 0;
  for (const shard of shards) {
    const node = nodeForGroup(metadata.nodes, shard.placements[0].groupId);
    const strip = options.format === "binary";
    const r = await session.remote.copyOut(
      node,
      shardCopy(stmt, table, shard.shardId, columns),
      (chunk) => {
        // Each shard's binary data has its own header and trailer: keep only the tuples.
        const body = strip ? withoutBinaryFraming(chunk) : chunk;
        if (body.length > 0) session.sendToClient(copyData(body));
        // A client slow to read holds the worker back: the table never piles up here.
        return session.clientCaughtUp();
      },
      { transactional: inBlock, write: false },
    );
    count += Number(r.command.split(" ").pop() ?? 0);
  }
  if (options.format === "binary") session.sendToClient(copyData(BINARY_TRAILER));
  session.sendToClient(new MessageWriter(BackendCode.CopyDone).finish(), write.commandComplete(`COPY ${count}`));
}

function copyData(bytes: Buffer): Buffer {
  return new MessageWriter(BackendCode.CopyData).raw(bytes).finish();
}

/** The header line PostgreSQL writes: column names, quoted in csv where needed. */
function headerLine(columns: readonly string[], options: CopyOptions): Buffer {
  const d = String.fromCharCode(options.delimiter);
  const names = columns.map((n) =>
    options.format === "csv" ? csvName(n, options, columns.length === 1) : textName(n, d),
  );
  return Buffer.from(names.join(d) + "\n");
}

/** A column name in a csv header, quoted as PostgreSQL quotes it (its escape character before quotes and escapes). */
function csvName(name: string, options: CopyOptions, alone: boolean): string {
  const d = String.fromCharCode(options.delimiter);
  const q = String.fromCharCode(options.quote);
  const e = String.fromCharCode(options.escape);
  const quoted =
    (alone && name === "\\.") ||
    name.includes(d) ||
    name.includes(q) ||
    /[\r\n]/.test(name) ||
    name === options.nullString;
  if (!quoted) return name;
  let out = q;
  for (const c of name) out += c === q || c === e ? e + c : c;
  return out + q;
}

/** A column name in a text header, escaped as PostgreSQL writes text values. */
function textName(name: string, delimiter: string): string {
  const named: Record<string, string> = { "\b": "b", "\f": "f", "\n": "n", "\r": "r", "\t": "t", "\v": "v" };
  let out = "";
  for (const c of name) {
    if (named[c] !== undefined) out += "\\" + named[c];
    else if (c === "\\" || c === delimiter) out += "\\" + c;
    else out += c;
  }
  return out;
}

/** Binary COPY output of one shard without the file header and the trailer. */
function withoutBinaryFraming(chunk: Buffer): Buffer {
  let body = chunk;
  if (body.length >= 19 && body.subarray(0, 11).equals(BINARY_HEADER.subarray(0, 11))) {
    body = body.subarray(19 + body.readUInt32BE(15));
  }
  if (body.length >= 2 && body.readInt16BE(body.length - 2) === -1) {
    // A trailer ends the data; a tuple never ends in 0xffff unless its last field does, so check
    // that the rest parses as whole tuples.
    if (wholeTuples(body.subarray(0, body.length - 2))) body = body.subarray(0, body.length - 2);
  }
  return body;
}

function wholeTuples(body: Buffer): boolean {
  let at = 0;
  while (at < body.length) {
    if (at + 2 > body.length) return false;
    const fields = body.readInt16BE(at);
    if (fields < 0) return false;
    at += 2;
    for (let f = 0; f < fields; f++) {
      if (at + 4 > body.length) return false;
      at += 4 + Math.max(body.readInt32BE(at), 0);
    }
  }
  return at === body.length;
}

/**
 * A distribution value's text in the form hashValue reads, or null when the coordinator database
 * must read it as the column's type (see canonicalize): integers with unusual text (spaces, …),
 * other types than integers and text.
 */
function hashableText(type: number, text: string): string | null {
  if (type === INT2 || type === INT4 || type === INT8) {
    const m = /^\s*\+?(-?\d+)\s*$/.exec(text);
    return m ? BigInt(m[1]).toString() : null;
  }
  return TEXT_TYPES.has(type) ? text : null;
}

/** A binary field of an integer or text column as text. */
function binaryText(type: number, bytes: Buffer): string {
  switch (type) {
    case INT2:
      return String(bytes.readInt16BE(0));
    case INT4:
      return String(bytes.readInt32BE(0));
    case INT8:
      return bytes.readBigInt64BE(0).toString();
    default:
      return bytes.toString("utf8");
  }
}

/** A reference to the table a COPY statement names. */
export function relationRef(rv: { schemaname?: string; relname: string }): RelationRef {
  return {
    rangeVar: rv,
    schemaname: rv.schemaname,
    relname: rv.relname,
    refName: rv.relname,
    level: {},
    isTarget: true,
  };
}

/**
 * An error for a line of the client's data, with PostgreSQL's CONTEXT: the line's number, and the
 * column and its value or the line's text when given.
 */
function copyError(
  e: unknown,
  table: TableRecord,
  line: number,
  at?: { column: string; value: string } | { row: Buffer },
): unknown {
  const fields = e instanceof SqlError ? e.fields() : e instanceof RemoteError ? e.fields : null;
  if (!fields) return e;
  let where = `COPY ${table.relname}, line ${line}`;
  if (at && "column" in at) where += `, column ${at.column}: "${at.value}"`;
  else if (at) where += `: "${printedLine(at.row)}"`;
  return new RemoteError({ ...fields, where, position: undefined });
}

/** A line as PostgreSQL's COPY context prints it: without its newline, cut after 100 bytes with "...". */
function printedLine(row: Buffer): string {
  let end = row.length;
  while (end > 0 && (row[end - 1] === 0x0a || row[end - 1] === 0x0d)) end--;
  if (end <= 100) return row.toString("utf8", 0, end);
  let cut = 100;
  while (cut > 0 && (row[cut] & 0xc0) === 0x80) cut--; // not inside a character
  return `${row.toString("utf8", 0, cut)}...`;
}

/** A worker's error about a row: the shard's name and line number become the client's. */
function workerCopyError(e: unknown, table: TableRecord, lines: ArrayLike<number>): unknown {
  if (!(e instanceof RemoteError)) return e;
  const strip = shardNameStripper([table]);
  const f = e.fields;
  const where = strip(f.where)?.replace(/^(COPY [^,]+, line )(\d+)/, (_, prefix: string, n: string) => {
    const line = lines[Number(n) - 1];
    return `${prefix}${line ?? n}`;
  });
  return new RemoteError({
    ...f,
    message: strip(f.message)!,
    detail: strip(f.detail),
    table: strip(f.table),
    constraint: strip(f.constraint),
    where,
    position: undefined,
  });
}
