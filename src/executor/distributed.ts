// Runs statements that touch distributed or reference tables.
//
// - Router: every distributed table the statement reads or writes is pinned to one shard group, so
//   the whole statement runs on the node holding it, with the tables renamed to their shards.
// - Modification: multi-row INSERT is split by shard; UPDATE/DELETE run on the target's shards
//   (modify.ts), INSERT … SELECT shard by shard or through the coordinator (insert_select.ts).
// - A multi-shard SELECT is pushed down to the shards where it can be (pushdown.ts); otherwise its
//   subqueries, CTEs, tables of other co-location groups and local tables that can run first do,
//   and their rows take their places in the statement, which is planned again (subplans.ts).
// - Everything else that reads distributed tables is answered by the correct fallback: the rows
//   each distributed table contributes are fetched from the shards (as JSON, pruned by the pins
//   on its distribution column) and the original statement runs in the coordinator database with
//   each table replaced by those rows, so PostgreSQL itself evaluates it.
import { BackendCode, FrontendCode, MessageWriter, write } from "../protocol/messages.js";
import { SqlError } from "../errors.js";
import { utf8Encodings } from "./remote.js";
import { RemoteError, type QueryResult, type RowSink } from "../nodes/gateway.js";
import { referenceShards, type MetadataSnapshot, type TableRecord } from "../metadata/cache.js";
import { hashValue, oid as typeOids, shardIndexForHash } from "../metadata/hash.js";
import { canonicalValues, canonicalValue } from "./canonical.js";
import {
  cloneAst,
  paramNumbers,
  stringList,
  transitText,
  typeNameNode,
  walk,
  withCollation,
  type AstNode,
} from "../sql/ast.js";
import { deparseStatement } from "../sql/parse.js";
import { arrayLiteral, quoteIdent, quoteQualified } from "../sql/quote.js";
import { shardRelname } from "../commands/shard_ddl.js";
import { nodeForGroup } from "../commands/distribute.js";
import {
  collectRelationRefs,
  keyValueSource,
  typeKeepsValue,
  pinnedValues,
  columnTerm,
  applicableConjuncts,
  conjuncts,
  onNullableSide,
  keyListsOf,
  keyArrayParams,
  type KeyArrayParam,
  type DistributedRef,
  type RelationRef,
  type ValueSource,
} from "../planner/analyze.js";
import type { Session } from "../server/session.js";
import type { Invocation, InterceptedStatement, PreparedResult } from "../commands/intercept.js";
import { coordinatorOnly, mentionsAny, runPushdown, type PushdownEntry } from "./pushdown.js";
import { evaluateSubqueries, runRecursive } from "./subplans.js";
import { wholeTasks } from "./adaptive.js";
import { commitBlock, commitStatement } from "../transaction/commit.js";
import { copyOut, relationRef } from "./copy.js";
import {
  callsSequence,
  evaluateSelect,
  evaluateTransactionValues,
  fillDefaults,
  isTransactionStartTime,
  replaceSite,
  sequenceFunctions,
  siteSlots,
  siteValues,
  withoutSites,
  transactionValueSites,
  transactionValuesQuery,
  type ColumnInfo,
} from "./defaults.js";
import { insertSelect } from "./insert_select.js";
import { modify, moveRows, prepareModification, refuseVolatileOnReplicas, returnWholeRows } from "./modify.js";
import { parseRowDescription, type FieldDescription } from "../protocol/messages.js";
import { recordStatement, type ExecutorName } from "./stat_statements.js";
import { rowsAlias, type Task } from "./explain.js";
import { expandViews, type ViewExpansion } from "../planner/views.js";
import { mergeIntoDistributed } from "./merge.js";
export type { Task } from "./explain.js";

const JSON_OID = 114;

/** Per-statement state kept across executions (resolution of names, RowDescription). */
export interface DistributedState {
  resolvedKey?: string;
  resolved?: readonly (number | null)[];
  rowDescription?: Buffer | null;
  /**
   * Set for a Query's text run with its numbers as parameters (server/statement_shapes.ts): the
   * statement lives as long as the metadata and search_path it was kept under, and reads
   * distributed tables only, so its RowDescription is kept as it is for a text without parameters.
   */
  literalParams?: boolean;
  /** A router plan (SELECT or modification), kept while the metadata and search_path stay the same. */
  router?: RouterPlan;
  /** The metadata and search_path under which a modification was found to have no router plan. */
  noModificationRouter?: string;
  /** The coordinator database's description of the statement (coordinatorDescription) and its key. */
  described?: { key: string; description: CoordinatorDescription };
  /** Which result columns' binary forms from a worker are the coordinator's (workerResultFormats). */
  binaryForwardable?: { key: string; columns: readonly boolean[] };
  /** A multi-shard SELECT's pushdown plan (or the finding that it has none). */
  pushdown?: PushdownEntry;
  /** The statement with its views over distributed tables expanded (planner/views.ts). */
  views?: ViewExpansion;
  /** What of the statement only the coordinator database answers (coordinatorOnly), and its key. */
  coordinatorOnly?: { key: string; found: readonly string[] };
  /** The same, beyond the statement's transaction value sites (coordinatorOnlyIn). */
  coordinatorOnlyBeyondSites?: { key: string; found: readonly string[] };
  /** What the checks before planning need of the statement (statementFacts). */
  facts?: StatementFacts;
  /** A SELECT with its transaction value sites as parameters (withSiteValues), or null when it has none. */
  sited?: { key: string; valuesQuery: string | null; types: string; statement: InterceptedStatement | null };
}

/** What the checks before planning need of a statement, found in one walk of it. */
interface StatementFacts {
  /** The row lock PostgreSQL names a locking SELECT by ("FOR SHARE"), or null when it locks none. */
  readonly lock: string | null;
  /** Whether it samples a table by a method other than BERNOULLI or SYSTEM. */
  readonly otherSample: boolean;
  /** Whether it reads a column named tableoid. */
  readonly tableoid: boolean;
  /** Whether it has WHERE CURRENT OF. */
  readonly currentOf: boolean;
}

/**
 * A statement whose distributed tables are each pinned to one value: at each execution only the
 * values are hashed; the worker SQL per shard index is built once.
 */
interface RouterPlan {
  readonly key: string;
  /**
   * The pinned value of each hash-distributed reference (all in one co-location group), or for the
   * statement's only one an array parameter its distribution column is compared with
   * (`key = ANY ($n)`): an execution whose elements all go to one shard runs there.
   */
  readonly pins: readonly { table: TableRecord; pin: ValueSource | KeyArrayParam }[];
  /** For statements over reference tables only: the group to read from. */
  readonly referenceGroup: number | null;
  readonly tables: readonly (TableRecord | null)[];
  readonly byIndex: Map<number, { sql: string; params: number[] }>;
  /** Set for an INSERT, UPDATE or DELETE (see modificationRouterPlan). */
  readonly modification?: RouterModification;
  /**
   * For a SELECT with transaction value sites: how it runs inside a block, where the worker's
   * own now() is its part's start, not the block's (`tasks`: the shards' statements for it).
   */
  readonly blockRead?: RouterSites & { readonly tasks: Map<number, { sql: string; params: number[] }> };
}

/**
 * A statement as the shards run it with its transaction value sites (now(), …) as parameters after
 * the client's, given at each execution by `valuesQuery` in the coordinator database (null when
 * it has none). When every site is the transaction's start time (`startTimeOnly`), a transaction
 * block's known start time serves instead.
 */
interface RouterSites {
  readonly template: AstNode;
  readonly paramCount: number;
  readonly valuesQuery: string | null;
  readonly siteCount: number;
  readonly startTimeOnly: boolean;
}

/** A modification's RouterSites. */
interface RouterModification extends RouterSites {
  /** With startTimeOnly, the shards' statements that keep the sites, for a worker's own now(). */
  readonly ownTimeTasks: Map<number, { sql: string; params: number[] }>;
}

/** Whether SQL text may concern a distributed or reference table: the names are mentioned. */
export function mayTouchDistributed(metadata: MetadataSnapshot, sql: string): boolean {
  return metadata.mentionsTable !== null && metadata.mentionsTable.test(sql);
}

/** Statement kinds the distributed executor plans; other statements on distributed tables are refused. */
export function isPlannable(stmt: AstNode): boolean {
  return !!(stmt.SelectStmt || stmt.InsertStmt || stmt.UpdateStmt || stmt.DeleteStmt || stmt.MergeStmt);
}

/** Resolves which references name distributed tables (as the session's search_path resolves them). */
async function resolveRefs(
  session: Session,
  state: DistributedState,
  refs: readonly RelationRef[],
  metadata: MetadataSnapshot,
): Promise<(TableRecord | null)[]> {
  const key = `${metadata.version}:${session.searchPathEpoch}`;
  if (state.resolvedKey !== key || state.resolved?.length !== refs.length) {
    const unqualified = [
      ...new Set(refs.filter((r) => !r.schemaname && metadata.tablesByRelname.has(r.relname)).map((r) => r.relname)),
    ];
    const oids = new Map<string, number | null>();
    if (unqualified.length > 0) {
      const rows = await session.internalQuery(
        "SELECT pg_catalog.to_regclass(pg_catalog.quote_ident(n))::oid FROM pg_catalog.unnest($1::text[]) AS n",
        [Buffer.from(arrayLiteral(unqualified))],
        [],
        [],
        "read",
      );
      unqualified.forEach((n, i) => oids.set(n, rows[i][0] === null ? null : Number(rows[i][0])));
    }
    state.resolved = refs.map((r) => {
      if (r.schemaname) {
        const t = metadata.tablesByRelname.get(r.relname)?.find((x) => x.schema === r.schemaname);
        return t ? t.relationId : null;
      }
      return oids.get(r.relname) ?? null;
    });
    state.resolvedKey = key;
  }
  return state.resolved!.map((oid) => (oid === null ? null : (metadata.tablesById.get(oid) ?? null)));
}

/** The distributed or reference table a name refers to (through search_path), or null. */
export async function resolveTable(session: Session, ref: RelationRef): Promise<TableRecord | null> {
  const [table] = await resolveRefs(session, {}, [ref], await session.metadata());
  return table;
}

/**
 * Whether a statement was found to read a relation of the coordinator database other than the
 * distributed and reference tables (a local table, a view): its columns may change without the
 * metadata changing, so what is known of its result is not kept across executions.
 */
function readsLocalRelations(state: DistributedState, metadata: MetadataSnapshot): boolean {
  return state.resolved?.some((oid) => oid === null || !metadata.tablesById.has(oid)) ?? false;
}

/** As PostgreSQL does: nothing but the end of a failed transaction block runs in it. */
export function refuseInFailedBlock(session: Session): void {
  if (session.pipe!.transactionStatus === 0x45) throw abortedBlockError();
}

/** What PostgreSQL answers a statement in a failed transaction block with. */
export function abortedBlockError(): SqlError {
  return new SqlError("25P02", "current transaction is aborted, commands ignored until end of transaction block");
}

/** Executes a statement that may touch distributed tables. */
export async function runDistributed(session: Session, st: InterceptedStatement, inv: Invocation): Promise<void> {
  if (st.paramTypes.length > 0 && inv.paramTypes !== st.paramTypes) inv = { ...inv, paramTypes: st.paramTypes };
  const state = st.distributed!;
  refuseInFailedBlock(session);
  // Inline: no await on the way of a statement whose settings are known (the router path's).
  if (!session.remote.knownSettings()?.plainText) await refuseMisreadTextIn(session);
  const metadata = await session.metadata();
  const inBlockNow = session.pipe!.transactionStatus !== 0x49;
  const expanded = await expandViews(session, st, metadata);
  if (expanded) return runDistributed(session, expanded, inv);
  if (state.router && state.router.key === `${metadata.version}:${session.searchPathEpoch}`) {
    if (await runRouterPlan(session, st, state.router, metadata, inv, inBlockNow)) return;
  }
  const copy = st.stmt.CopyStmt as { relation?: { schemaname?: string; relname: string } } | undefined;
  if (copy?.relation) {
    const table = await resolveTable(session, relationRef(copy.relation));
    if (table) {
      await copyOut(session, st.stmt, table, inBlockNow);
      return recordStatement(session, st, "copy", null);
    }
    return runOnCoordinator(session, st.sql, inv, [], st.paramTypes);
  }
  const stmt = cloneAst(st.stmt);
  const { refs, dist } = await distributedRefs(session, st, stmt, metadata);
  const inBlock = session.pipe!.transactionStatus !== 0x49;
  if (dist.length === 0) return runOnCoordinator(session, st.sql, inv, [], st.paramTypes);
  try {
    await plan(session, st, stmt, refs, dist, metadata, inv, inBlock);
    if (!inBlock) await commitStatement(session, "none");
  } catch (e) {
    if (!inBlock) await session.remote.rollbackAll();
    throw await statementError(session, st, e, metadata.tables);
  }
}

/**
 * A statement's error as the client sees it. One a worker found while analysing the shards' text
 * (it has a position there: an unknown column, a literal its type refuses) is PostgreSQL's error
 * for the client's text, as the coordinator database gives it with its position, unless that
 * finds nothing; otherwise shards are named by their tables (any table's: a foreign key's
 * referenced one too).
 */
async function statementError(
  session: Session,
  st: InterceptedStatement,
  e: unknown,
  tables: readonly TableRecord[],
): Promise<unknown> {
  const client = st.origin ?? st;
  if (isWorkerError(e) && e.fields.position !== undefined && !st.subplan) {
    try {
      await describeOnCoordinator(session, client.sql, client.paramTypes);
    } catch (analysed) {
      if (analysed instanceof RemoteError) return analysed;
    }
  }
  return mapShardNamesFromCatalog(session, e, tables);
}

/** The statement's relation references, and those naming distributed or reference tables. */
async function distributedRefs(
  session: Session,
  st: InterceptedStatement,
  stmt: AstNode,
  metadata: MetadataSnapshot,
): Promise<{ refs: RelationRef[]; dist: DistributedRef[] }> {
  const refs = collectRelationRefs(stmt);
  const tables = await resolveRefs(session, st.distributed!, refs, metadata);
  const dist: DistributedRef[] = [];
  refs.forEach((r, i) => {
    if (tables[i]) dist.push({ ...r, table: tables[i]! });
  });
  // The planner knows a distribution column by its name: a column alias list could give that
  // name to another column, or another name to it.
  const renamed = dist.find((d) => ((d.rangeVar.alias as { colnames?: unknown[] } | undefined)?.colnames ?? []).length);
  if (renamed) {
    throw new SqlError("0A000", `column aliases for the distributed table "${renamed.relname}" are not supported`, {
      hint: "Name the columns in a subquery instead: FROM (SELECT … FROM table) AS alias (columns).",
    });
  }
  return { refs, dist };
}

/**
 * Whether every table a statement names is a distributed or reference table (as search_path
 * resolves it), so that its plan and description change only with the metadata and search_path.
 */
export async function readsOnlyDistributedTables(session: Session, st: InterceptedStatement): Promise<boolean> {
  const metadata = await session.metadata();
  const { dist } = await distributedRefs(session, st, st.stmt, metadata);
  return dist.length > 0 && !readsLocalRelations(st.distributed!, metadata);
}

/** Whether a statement names a distributed or reference table (as search_path resolves it). */
export async function readsDistributedTables(session: Session, st: InterceptedStatement): Promise<boolean> {
  const metadata = await session.metadata();
  const planned = (await expandViews(session, st, metadata)) ?? st;
  const { dist } = await distributedRefs(session, planned, planned.stmt, metadata);
  return dist.length > 0;
}

async function plan(
  session: Session,
  st: InterceptedStatement,
  stmt: AstNode,
  refs: readonly RelationRef[],
  dist: readonly DistributedRef[],
  metadata: MetadataSnapshot,
  inv: Invocation,
  inBlock: boolean,
): Promise<void> {
  const target = dist.find((r) => r.isTarget);
  const hasLocal = refs.length > dist.length;
  const facts = statementFacts(st);
  if ((target || facts.lock) && !inBlock) await refuseReadOnlyWrite(session, st);
  if (facts.otherSample) refuseUnsplittableSamples(stmt, dist);
  if (facts.tableoid) refuseTableoid(stmt, dist);
  // An INSERT … SELECT's ON CONFLICT clause and RETURNING list run on the shards as well.
  if (target) await refuseCoordinatorOnly(session, st, metadata);
  if (target && stmt.InsertStmt) {
    refuseSequencesOnShards(stmt);
    refuseTableSubqueriesOnShards(stmt);
  }
  if (target && stmt.SelectStmt)
    return modifyingWith(session, st, stmt, dist, target, hasLocal, metadata, inv, inBlock);
  if (stmt.MergeStmt) {
    if (target) return mergeIntoDistributed(session, st, stmt, dist, target, hasLocal, metadata, inv, inBlock);
    // Into a table of the coordinator database, which runs it over the rows fetched.
    return fallback(session, st, stmt, dist, metadata, inv, inBlock);
  }
  if (target && facts.currentOf) {
    throw new SqlError("0A000", "WHERE CURRENT OF on distributed or reference tables is not supported", {
      hint: "Filter the UPDATE or DELETE by the row's key instead.",
    });
  }
  // Binary results go from the workers to the client as they are when their types allow it; the
  // other paths convert text rows in the coordinator database.
  const unforwardableBinary = (await workerResultFormats(session, st, inv)) === null;
  if (target) {
    if (unforwardableBinary && returns(stmt)) throw binaryReturningRefusal();
    // Whether a modification has a router plan depends on the statement and the metadata only.
    const key = `${metadata.version}:${session.searchPathEpoch}`;
    if (!unforwardableBinary && !inv.explain && st.distributed!.noModificationRouter !== key) {
      const routed = await modificationRouterPlan(session, st, stmt, refs, dist, target, metadata, inv);
      if (routed) {
        st.distributed!.router = routed;
        if (await runRouterPlan(session, st, routed, metadata, inv, inBlock)) return;
      } else {
        st.distributed!.noModificationRouter = key;
      }
    }
    if (isInsertSelect(stmt)) {
      const sources = dist.filter((r) => !r.isTarget);
      return insertSelect({ session, stmt, sources, target, metadata, inv }, st, inBlock, hasLocal);
    }
    if (stmt.InsertStmt) {
      if (hasLocal || dist.length > 1) await evaluateValuesSubqueries(session, st, stmt, inv, inBlock);
      return insert(session, st, stmt, target, metadata, inv, inBlock);
    }
    const local = refs.filter((r) => !dist.some((d) => d.rangeVar === r.rangeVar));
    return modify({ session, st, stmt, dist, local, target, metadata, inv, inBlock });
  }
  // A cursor without HOLD lives in a transaction block: PostgreSQL refuses it before reading.
  const declare = stmt.DeclareCursorStmt as { options?: number } | undefined;
  if (declare && !inBlock && ((declare.options ?? 0) & CURSOR_OPT_HOLD) === 0) {
    throw new SqlError("25P01", "DECLARE CURSOR can only be used in transaction blocks");
  }
  // A read, or a write to a local table that reads distributed ones. SELECT … INTO creates its
  // table in the coordinator database, never on a worker.
  const into = !!(stmt.SelectStmt as { intoClause?: unknown } | undefined)?.intoClause;
  const locking = facts.lock !== null;
  if (locking) refuseLockedReferenceTable(stmt, dist);
  if (!hasLocal && !unforwardableBinary && stmt.SelectStmt && !into) {
    const plan = routerPlan(session, st, dist, metadata);
    const route = routerTarget(dist, metadata, inv);
    // What the workers cannot answer leaves the statement to the paths below, which evaluate it
    // in the coordinator database (the fallback).
    const [found] = plan || route ? await coordinatorOnlyIn(session, st, metadata) : [];
    if (found === undefined) {
      if (plan) {
        const routed = transactionValueSites(st.stmt).some(isTransactionTime)
          ? { ...plan, blockRead: { ...(await routerSites(session, st, inv)), tasks: new Map() } }
          : plan;
        st.distributed!.router = routed;
        if (await runRouterPlan(session, st, routed, metadata, inv, inBlock)) return;
      }
      if (route) return router(session, st, stmt, dist, route, inv, inBlock);
    } else if (locking) {
      throw new SqlError("0A000", `${found} in SELECT … FOR UPDATE/SHARE on distributed tables is not supported`, {
        detail: "Only the coordinator database answers it, and only the shards lock the rows.",
        hint: "Lock the rows in a statement of their own, then compute the value.",
      });
    }
  }
  if (locking && stmt.DeclareCursorStmt) {
    throw new SqlError(
      "0A000",
      "DECLARE CURSOR … FOR UPDATE/SHARE on distributed or reference tables is not supported",
      {
        hint: "Lock the rows with SELECT … FOR UPDATE filtered by the distribution column, then declare the cursor.",
      },
    );
  }
  if (locking) {
    throw new SqlError("0A000", "SELECT … FOR UPDATE/SHARE over several shards is not supported", {
      hint: "Filter the distributed tables by their distribution column so the query reaches one shard.",
    });
  }
  if (stmt.SelectStmt && !into) {
    const sited = await withSiteValues(session, st, metadata, inv);
    if (sited) {
      // The client's columns are named as its statement names them (`now`, not `timestamptz`).
      if (inv.describe) await sendRowDescription(session, st, inv);
      return runRead(session, sited.st, { ...sited.inv, describe: false }, inBlock);
    }
  }
  const pushable = !hasLocal && stmt.SelectStmt && !broadcastsTooMuch(st, inv, dist);
  if (pushable && (await runPushdown(session, st, stmt, dist, metadata, inv, inBlock))) {
    return recordExecution(session, st, inv, null);
  }
  if (await runRecursive(session, st, stmt, dist, metadata, inv, inBlock)) return;
  return fallback(session, st, stmt, dist, metadata, inv, inBlock);
}

/**
 * Rows a node streams (RowSink) sent on to the client as they come. Sending one may fail (the rows
 * a portal keeps for later Executes over their limit): the error is kept and the rest dropped, for
 * `check` to throw once the node has answered, as the node's connection must not see it.
 */
export class ClientRows {
  count = 0;
  private failure: { error: unknown } | null = null;

  constructor(private readonly session: Session) {}

  readonly sink: RowSink = (row) => {
    if (this.failure) return;
    this.count++;
    try {
      return this.session.sendStreamedRow(row);
    } catch (error) {
      this.failure = { error };
    }
  };

  /** Throws what sending a row threw, if it did. */
  check(): void {
    if (this.failure) throw this.failure.error;
  }
}

/** DeclareCursorStmt's option bit for WITH HOLD (PostgreSQL's CURSOR_OPT_HOLD). */
const CURSOR_OPT_HOLD = 0x20;

/**
 * What of the statement only the coordinator database answers, found once per metadata and
 * search_path; with `beyondSites`, what of it remains once its transaction value sites are
 * given their values (what a modification cannot run on the shards).
 */
async function coordinatorOnlyIn(
  session: Session,
  st: InterceptedStatement,
  metadata: MetadataSnapshot,
  beyondSites = false,
): Promise<readonly string[]> {
  const state = st.distributed!;
  const key = `${metadata.version}:${session.searchPathEpoch}`;
  const field = beyondSites ? "coordinatorOnlyBeyondSites" : "coordinatorOnly";
  if (state[field]?.key !== key)
    state[field] = { key, found: await coordinatorOnly(session, beyondSites ? withoutSites(st.stmt) : st.stmt) };
  return state[field]!.found;
}

/**
 * A modification runs its expressions on the shards (the SELECT of an INSERT … SELECT and the
 * items of INSERT … VALUES excepted, which insert and insertSelect evaluate in the coordinator
 * database when they must; sequence functions the modification paths evaluate or refuse
 * themselves): what the workers cannot answer is refused.
 */
async function refuseCoordinatorOnly(
  session: Session,
  st: InterceptedStatement,
  metadata: MetadataSnapshot,
): Promise<void> {
  // An INSERT's VALUES items are evaluated there, and an INSERT … SELECT's rows (its WITH clause
  // with them) are planned as a query of their own; the rest of it runs on the shards.
  // A MERGE's source (with its WITH clause) runs as a query of its own too when it must.
  const values = st.stmt.InsertStmt as AstNode | undefined;
  const merge = st.stmt.MergeStmt as AstNode | undefined;
  const withClause = values && isInsertSelect(st.stmt) ? undefined : values?.withClause;
  const onShards = values
    ? withoutSites({ InsertStmt: { ...values, selectStmt: undefined, withClause } })
    : merge
      ? withoutSites({ MergeStmt: { ...merge, sourceRelation: undefined, withClause: undefined } })
      : null;
  const [found] = (await coordinatorOnlyIn(session, st, metadata, true)).filter(
    (f) => !(f.endsWith("()") && sequenceFunctions.has(f.slice(0, -2))) && (!onShards || mentionsAny(onShards, [f])),
  );
  if (found === undefined) return;
  throw new SqlError("0A000", `${found} in a modification of distributed tables is not supported`, {
    detail: "The workers lack it or would answer it about their own catalog and shards.",
    hint: "Compute the value in a separate statement and pass it as a constant.",
  });
}

/**
 * An INSERT's VALUES items and SELECT get their sequence values from the coordinator; its ON
 * CONFLICT clause and RETURNING list run on the shards, where the sequences do not exist.
 */
function refuseSequencesOnShards(stmt: AstNode): void {
  const ins = stmt.InsertStmt as AstNode;
  if (!callsSequence([ins.onConflictClause, ins.returningClause, ins.returningList])) return;
  throw new SqlError(
    "0A000",
    "sequence functions in ON CONFLICT or RETURNING of an INSERT into a distributed table are not supported",
    { hint: "Call the sequence function in the VALUES list or in a separate statement." },
  );
}

/**
 * An INSERT's ON CONFLICT clause and RETURNING list run on each shard receiving rows: a subquery
 * there reading a table would read that shard's rows, or a table the worker lacks, where
 * PostgreSQL reads the whole table once.
 */
function refuseTableSubqueriesOnShards(stmt: AstNode): void {
  const ins = stmt.InsertStmt as AstNode;
  let reads = false;
  walk([ins.onConflictClause, ins.returningClause, ins.returningList], (node) => {
    const sub = node.SubLink as AstNode | undefined;
    if (sub) walk(sub.subselect, (n) => (reads ||= !!n.RangeVar));
  });
  if (!reads) return;
  throw new SqlError(
    "0A000",
    "subqueries reading tables in ON CONFLICT or RETURNING of an INSERT into a distributed or reference table are not supported",
    {
      detail: "They would run on each shard receiving rows, over its own rows.",
      hint: "Run the subquery in a separate statement, or join its table in the INSERT's SELECT.",
    },
  );
}

/** Whether a statement is an INSERT … SELECT (not … VALUES). */
function isInsertSelect(stmt: AstNode): boolean {
  const source = (stmt.InsertStmt as { selectStmt?: { SelectStmt?: AstNode } } | undefined)?.selectStmt?.SelectStmt;
  return !!source && !source.valuesLists;
}

/**
 * tableoid of a shard's row is the shard's oid on its worker: neither the table's oid nor one the
 * coordinator knows, so it is refused.
 */
function refuseTableoid(stmt: AstNode, dist: readonly DistributedRef[]): void {
  walk(stmt, (node) => {
    const fields = stringList((node.ColumnRef as { fields?: unknown } | undefined)?.fields);
    if (fields[fields.length - 1] !== "tableoid") return;
    if (fields.length > 1 && !dist.some((r) => r.refName === fields[fields.length - 2])) return;
    throw new SqlError("0A000", "tableoid of distributed or reference tables is not supported", {
      detail: "Each row comes from a shard, whose oid is not the table's.",
      hint: "Use the table's name or its oid ('name'::regclass) instead.",
    });
  });
}

/**
 * A SELECT whose WITH modifies a distributed table runs whole on the one shard group all its tables
 * are filtered to, as a router query that writes. Elsewhere each shard would answer the SELECT over
 * its own rows only (and an INSERT would reach every shard), so it is refused.
 */
async function modifyingWith(
  session: Session,
  st: InterceptedStatement,
  stmt: AstNode,
  dist: readonly DistributedRef[],
  target: DistributedRef,
  hasLocal: boolean,
  metadata: MetadataSnapshot,
  inv: Invocation,
  inBlock: boolean,
): Promise<void> {
  let inserts = false;
  walk(stmt, (node) => {
    if (
      (node.InsertStmt as AstNode | undefined)?.relation &&
      dist.some((r) => r.isTarget && r.level === node.InsertStmt)
    ) {
      inserts = true;
    }
  });
  const route =
    !inserts && !hasLocal && dist.every((r) => !r.isTarget || r.table.method === "h")
      ? routerTarget(dist, metadata, inv)
      : null;
  // Refused before anything is prepared (which asks the coordinator database).
  if (!route) {
    throw new SqlError(
      "0A000",
      "a data-modifying WITH in a query over distributed tables is supported only as an UPDATE or DELETE of one shard group",
      {
        hint: "Filter every table by the same distribution column value, or run the modification on its own with RETURNING.",
      },
    );
  }
  // Each UPDATE or DELETE in it is prepared as one on its own would be, and may not move rows.
  const modifications: { body: AstNode; table: TableRecord }[] = [];
  walk(stmt, (node) => {
    for (const kind of ["UpdateStmt", "DeleteStmt"]) {
      const body = node[kind] as AstNode | undefined;
      const ref = body && dist.find((r) => r.isTarget && r.level === body);
      if (ref) modifications.push({ body: node, table: ref.table });
    }
  });
  if (modifications.some((m) => updatesPartitionKey(m.body, m.table))) {
    throw new SqlError("0A000", "a data-modifying WITH may not change a distribution column", {
      hint: "Run the UPDATE on its own: it moves the rows to their new shards.",
    });
  }
  for (const m of modifications) await prepareModification(session, stmt, m.body.UpdateStmt as AstNode, m.table);
  return router(session, st, stmt, dist, route, inv, inBlock, true);
}

/**
 * Rows sent with a statement to every shard are read by each: past this many bytes read in all,
 * joining them on the coordinator (the fallback) costs less than on the shards.
 */
const broadcastBytesMax = 32 * 1024 * 1024;

/** Whether a statement's rows from JSON parameters are too many to send to each of its shards. */
function broadcastsTooMuch(st: InterceptedStatement, inv: Invocation, dist: readonly DistributedRef[]): boolean {
  const shards = dist.find((r) => r.table.method === "h")?.table.shards.length ?? 1;
  const bytes = inv.params.reduce((n, p, i) => n + (st.paramTypes[i] === JSON_OID ? (p?.length ?? 0) : 0), 0);
  return bytes * shards > broadcastBytesMax;
}

/**
 * Runs a SELECT within the client's statement: a subplan, or the statement rewritten by recursive
 * planning (its RowDescription already sent).
 */
export async function runRead(
  session: Session,
  st: InterceptedStatement,
  inv: Invocation,
  inBlock: boolean,
): Promise<void> {
  const metadata = await session.metadata();
  const stmt = cloneAst(st.stmt);
  const { refs, dist } = await distributedRefs(session, st, stmt, metadata);
  if (dist.length > 0) return plan(session, st, stmt, refs, dist, metadata, inv, inBlock);
  if (inv.explain) return inv.explain.coordinator(session, stmt, { ...bindValues(inv, []), types: st.paramTypes });
  return runOnCoordinator(session, st.sql, inv, [], st.paramTypes);
}

/**
 * Records an execution in canopy_stat_statements as the client's statement (a router plan's
 * modification, too); a subplan's execution is part of its outer statement's.
 */
function recordExecution(
  session: Session,
  st: InterceptedStatement,
  inv: Invocation,
  partitionKey: string | null,
): void {
  if (!st.subplan && !inv.collect) recordStatement(session, st.origin ?? st, "adaptive", partitionKey);
}

/** Sends result messages to the client, or to the invocation's collector of a subplan's rows. */
export function emit(session: Session, inv: Invocation | undefined, ...messages: Buffer[]): void {
  if (inv?.collect) inv.collect.add(messages);
  else session.sendToClient(...messages);
}

/**
 * A router plan for an INSERT of one row, UPDATE or DELETE of a hash-distributed table that reaches
 * one shard and needs nothing of the coordinator but its transaction values: no defaults or
 * sequence values to evaluate, no local tables, no rows to fetch or move. Null for the others,
 * which the general path plans at each execution.
 */
async function modificationRouterPlan(
  session: Session,
  st: InterceptedStatement,
  stmt: AstNode,
  refs: readonly RelationRef[],
  dist: readonly DistributedRef[],
  target: DistributedRef,
  metadata: MetadataSnapshot,
  inv: Invocation,
): Promise<RouterPlan | null> {
  const table = target.table;
  if (table.method !== "h" || refs.length !== dist.length || updatesPartitionKey(stmt, table)) return null;
  let setsDefault = false;
  walk(stmt, (node) => {
    if (node.SetToDefault) setsDefault = true;
  });
  if (setsDefault) return null;
  let pins: Map<DistributedRef, ValueSource[] | null> | undefined;
  if (stmt.InsertStmt) {
    const value = dist.length === 1 ? await insertedValue(session, stmt, table) : null;
    if (!value) return null;
    pins = new Map([[target, [value]]]);
  }
  // Sequence calls and what else only the coordinator database answers are evaluated there.
  if ((await coordinatorOnlyIn(session, st, metadata, true)).length > 0) return null;
  const plan = routerPlan(session, st, dist, metadata, pins);
  if (!plan) return null;
  return { ...plan, modification: { ...(await routerSites(session, st, inv)), ownTimeTasks: new Map() } };
}

/** Whether a transaction value site is time the transaction started in (now(), CURRENT_DATE, LOCALTIME, …). */
function isTransactionTime(site: AstNode): boolean {
  const svf = site.SQLValueFunction as { op: string } | undefined;
  if (svf) return /^SVFOP_(CURRENT_(DATE|TIME|TIMESTAMP)|LOCALTIME|LOCALTIMESTAMP)(_N)?$/.test(svf.op);
  return isTransactionStartTime(site);
}

/** The statement with its transaction value sites as parameters (see RouterSites). */
async function routerSites(session: Session, st: InterceptedStatement, inv: Invocation): Promise<RouterSites> {
  const template = cloneAst(st.stmt);
  const sites = transactionValueSites(template);
  let valuesQuery: string | null = null;
  const startTimeOnly = sites.length > 0 && sites.every(isTransactionStartTime);
  if (sites.length > 0) {
    // The sites' types, once: the shards read each value as the type its call returns.
    valuesQuery = transactionValuesQuery(sites);
    const { types } = siteValues((await session.internalQuery(valuesQuery))[0]);
    sitesAsParams(sites, types, inv.params.length);
  }
  const siteCount = new Set(siteSlots(sites)).size;
  return { template, paramCount: inv.params.length, valuesQuery, siteCount, startTimeOnly };
}

/** Replaces each site by a parameter numbered after the statement's `count`, cast to its type. */
function sitesAsParams(sites: readonly AstNode[], types: readonly string[], count: number): void {
  const slots = siteSlots(sites);
  sites.forEach((site, i) =>
    replaceSite(site, {
      TypeCast: { arg: { ParamRef: { number: count + slots[i] + 1 } }, typeName: typeNameNode(types[slots[i]]) },
    }),
  );
}

/**
 * A SELECT calling what only the coordinator database answers for the whole statement (its
 * transaction value sites: now(), CURRENT_USER, current_setting('work_mem'), txid_current(), …)
 * as the statement with those calls as parameters after the client's, and this execution's
 * invocation with their values, evaluated there in one round trip. The shards can then run it
 * (a filter on now() - interval '1 hour' among them) instead of sending their rows to the
 * coordinator. Null when it calls none. The rewritten statement is kept while the metadata, the
 * search_path and the sites' types stay the same.
 */
async function withSiteValues(
  session: Session,
  st: InterceptedStatement,
  metadata: MetadataSnapshot,
  inv: Invocation,
): Promise<{ st: InterceptedStatement; inv: Invocation } | null> {
  const state = st.distributed!;
  const key = `${metadata.version}:${session.searchPathEpoch}:${inv.params.length}`;
  if (state.sited?.key !== key) {
    const sites = transactionValueSites(st.stmt);
    state.sited = {
      key,
      valuesQuery: sites.length > 0 ? transactionValuesQuery(sites) : null,
      types: "",
      statement: null,
    };
  }
  const entry = state.sited;
  if (!entry.valuesQuery) return null;
  const { texts, types } = siteValues((await session.internalQuery(entry.valuesQuery))[0]);
  const typesKey = types.join("\n");
  if (entry.types !== typesKey || !entry.statement) {
    const template = cloneAst(st.stmt);
    const sites = transactionValueSites(template);
    sitesAsParams(sites, types, inv.params.length);
    const paramTypes = [...st.paramTypes];
    while (paramTypes.length < inv.params.length + types.length) paramTypes.push(0);
    entry.statement = {
      sql: deparseStatement(template),
      stmt: template,
      paramTypes,
      distributed: {},
      origin: st.origin ?? st,
      subplan: st.subplan,
    };
    entry.types = typesKey;
  }
  return { st: entry.statement, inv: withDataParams(inv, texts) };
}

/**
 * The distribution value of an INSERT of one row (a constant or a parameter), when the
 * coordinator evaluates nothing for the row: no identity column given, no default of its own.
 */
async function insertedValue(session: Session, stmt: AstNode, table: TableRecord): Promise<ValueSource | null> {
  const ins = stmt.InsertStmt as {
    cols?: { ResTarget: { name: string } }[];
    selectStmt?: { SelectStmt?: { valuesLists?: { List: { items: AstNode[] } }[] } };
  };
  const rows = ins.selectStmt?.SelectStmt?.valuesLists;
  if (rows?.length !== 1) return null;
  const items = rows[0].List.items;
  const all = await session.tableColumns(table.relationId);
  const names = ins.cols?.map((c) => c.ResTarget.name) ?? all.slice(0, items.length).map((c) => c.name);
  const given = new Set(names);
  if (all.some((c) => (given.has(c.name) ? c.identity !== "" : c.coordinatorDefault || c.name === table.partitionKey)))
    return null;
  const position = names.indexOf(table.partitionKey!);
  return position < 0 || !items[position] ? null : keyValueSource(items[position], table);
}

export function returns(stmt: AstNode): boolean {
  const dml = (stmt.InsertStmt ?? stmt.UpdateStmt ?? stmt.DeleteStmt) as
    { returningList?: unknown[]; returningClause?: { exprs?: unknown[] } } | undefined;
  return (dml?.returningClause?.exprs?.length ?? dml?.returningList?.length ?? 0) > 0;
}

/** The names PostgreSQL gives the row lock strengths. */
const lockNames: Record<string, string> = {
  LCS_FORKEYSHARE: "FOR KEY SHARE",
  LCS_FORSHARE: "FOR SHARE",
  LCS_FORNOKEYUPDATE: "FOR NO KEY UPDATE",
  LCS_FORUPDATE: "FOR UPDATE",
};

/** The statement's facts (StatementFacts), found at its first execution. */
function statementFacts(st: InterceptedStatement): StatementFacts {
  const state = st.distributed!;
  if (state.facts) return state.facts;
  type Clause = { LockingClause: { strength: string } };
  // PostgreSQL names a locking SELECT by its first row lock: the top level's first.
  let lock: Clause | undefined = (st.stmt.SelectStmt as { lockingClause?: Clause[] } | undefined)?.lockingClause?.[0];
  let otherSample = false;
  let tableoid = false;
  let currentOf = false;
  walk(st.stmt, (node) => {
    if (node.CurrentOfExpr) currentOf = true;
    lock ??= (node.lockingClause as Clause[] | undefined)?.[0];
    const sample = node.RangeTableSample as { method: AstNode[] } | undefined;
    if (sample && !splitsBySample(sample)) otherSample = true;
    const fields = stringList((node.ColumnRef as { fields?: unknown } | undefined)?.fields);
    if (fields[fields.length - 1] === "tableoid") tableoid = true;
  });
  state.facts = { lock: lock ? lockNames[lock.LockingClause.strength] : null, otherSample, tableoid, currentOf };
  return state.facts;
}

/**
 * TABLESAMPLE of a distributed table is taken on each shard: right for BERNOULLI and SYSTEM, which
 * draw each row or block on its own, not for methods that draw a number of rows or a time.
 */
function refuseUnsplittableSamples(stmt: AstNode, dist: readonly DistributedRef[]): void {
  walk(stmt, (node) => {
    const sample = node.RangeTableSample as { relation: AstNode; method: AstNode[] } | undefined;
    if (!sample) return;
    const ref = dist.find((r) => r.holder === sample.relation && r.table.method === "h");
    if (!ref || splitsBySample(sample)) return;
    const method = stringList(sample.method).join(".");
    throw new SqlError("0A000", `TABLESAMPLE ${method} on distributed table "${ref.relname}" is not supported`, {
      hint: "Use TABLESAMPLE BERNOULLI or SYSTEM, which are sampled on each shard.",
    });
  });
}

/** Whether a TABLESAMPLE method is BERNOULLI or SYSTEM (of pg_catalog, where PostgreSQL has them). */
function splitsBySample(sample: { method: AstNode[] }): boolean {
  const names = stringList(sample.method).map((n) => n.toLowerCase());
  const method = names.length === 2 && names[0] === "pg_catalog" ? names[1] : names.join(".");
  return method === "bernoulli" || method === "system";
}

/**
 * Canopy reads the client's statements as UTF-8, and rows of distributed tables reach the client
 * in UTF-8: under another client_encoding it would misread the client's text and send rows the
 * client misreads (PostgreSQL converts both). Refuses such a statement, and one that
 * refuseNonstandardStrings refuses.
 */
export function refuseMisreadText(settings: { standardStrings: boolean; clientEncoding: string }): void {
  if (!utf8Encodings.has(settings.clientEncoding)) {
    throw new SqlError("0A000", `client_encoding ${settings.clientEncoding} is not supported with distributed tables`, {
      detail: "Canopy reads statements and sends the rows of distributed tables in UTF-8.",
      hint: "SET client_encoding = 'UTF8' (in psql: \\encoding UTF8).",
    });
  }
  refuseNonstandardStrings(settings);
}

/**
 * Canopy reads string literals as standard strings: under standard_conforming_strings = off it
 * would misread them, or fail to parse and leave the statement to the coordinator's empty shells.
 */
export function refuseNonstandardStrings(settings: { standardStrings: boolean }): void {
  if (settings.standardStrings) return;
  throw new SqlError("0A000", "standard_conforming_strings = off is not supported with distributed tables", {
    hint: "SET standard_conforming_strings = on, and write backslash escapes as E'…' strings.",
  });
}

/** refuseMisreadText with the session's settings, read if this settings epoch has not read them. */
export async function refuseMisreadTextIn(session: Session): Promise<void> {
  const known = session.remote.knownSettings();
  if (!known?.plainText) refuseMisreadText(known ?? (await session.remote.sessionSettings()));
}

/**
 * As PostgreSQL refuses writes under default_transaction_read_only: a statement outside a block
 * reaches a worker without a BEGIN that would carry the mode.
 */
async function refuseReadOnlyWrite(session: Session, st: InterceptedStatement): Promise<void> {
  if (!(await session.remote.sessionSettings()).readOnlyDefault) return;
  // As PostgreSQL's command tag: a SELECT named by its row lock (writing WITH: SELECT).
  const kind = Object.keys(st.stmt)[0];
  const lock = statementFacts(st).lock;
  const verb = kind !== "SelectStmt" ? kind.replace(/Stmt$/, "").toUpperCase() : lock ? `SELECT ${lock}` : "SELECT";
  throw new SqlError("25006", `cannot execute ${verb} in a read-only transaction`);
}

/**
 * Refuses a locking clause that covers a reference table. A router read locks the rows of one
 * placement only, the one beside its shard group, so two sessions could each lock a row of a
 * reference table on a different node; writes reach every placement and do wait for the locks.
 */
function refuseLockedReferenceTable(stmt: AstNode, dist: readonly DistributedRef[]): void {
  walk(stmt, (node) => {
    for (const clause of (node.lockingClause as AstNode[] | undefined) ?? []) {
      const rels = ((clause.LockingClause as AstNode).lockedRels as AstNode[] | undefined) ?? [];
      const names = rels.map((r) => (r.RangeVar as { relname: string }).relname);
      // Without OF, the clause locks the tables of its FROM list, also inside derived tables there.
      const levels = new Set<unknown>([node]);
      walk(node.fromClause, (n) => {
        const body = ((n.RangeSubselect as AstNode | undefined)?.subquery as AstNode | undefined)?.SelectStmt;
        if (body) levels.add(body);
      });
      const covers = (r: DistributedRef) => (names.length === 0 ? levels.has(r.level) : names.includes(r.refName));
      const locked = dist.find((r) => r.table.method === "n" && covers(r));
      if (locked) {
        throw new SqlError(
          "0A000",
          `SELECT … FOR UPDATE/SHARE of reference table "${locked.relname}" is not supported`,
          {
            hint: "Lock the rows of the distributed tables only, with FOR UPDATE OF and their names.",
          },
        );
      }
    }
  });
}

/** The pseudo-type of a parameter left for PostgreSQL to infer, as a client may declare it. */
const UNKNOWN_OID = 705;

/**
 * The text of a pinned value for one execution, or null when it cannot be known here: also a
 * parameter declared of a type whose values the column's type may read otherwise (a bpchar's
 * trailing spaces go in varchar, a timestamptz shifts by the time zone in timestamp).
 */
function valueText(v: ValueSource, inv: Invocation, typeOid: number): string | null {
  if (v.kind === "const") return v.text;
  if (v.kind === "setting") return inv.settingValues?.get(v.name) ?? null;
  const p = inv.params[v.number - 1];
  if (p === undefined || p === null) return null;
  const declared = inv.paramTypes?.[v.number - 1] ?? 0;
  if (declared !== 0 && declared !== UNKNOWN_OID && !typeKeepsValue(declared, typeOid)) return null;
  const format = inv.paramFormats.length === 1 ? inv.paramFormats[0] : (inv.paramFormats[v.number - 1] ?? 0);
  if (format === 0) return p.toString("utf8");
  if (typeOid === 23 && p.length === 4) return String(p.readInt32BE(0));
  if (typeOid === 20 && p.length === 8) return String(p.readBigInt64BE(0));
  if (typeOid === 21 && p.length === 2) return String(p.readInt16BE(0));
  if ((typeOid === 25 || typeOid === 1043) && format === 1) return p.toString("utf8");
  return null;
}

/** The shard index a value falls in, or null when it cannot be hashed (e.g. not of the column's type). */
export function shardIndexOf(table: TableRecord, text: string | null): number | null {
  if (text === null) return null;
  let hash: number | null;
  try {
    hash = hashValue(table.partitionType, storedKeyText(table, text));
  } catch {
    return null;
  }
  return hash === null ? null : shardIndexForHash(hash, table.shards.length);
}

/**
 * Whether a source value of type `source` equal to a distribution value of type `key` has the
 * same hash read as that type: the same type, a narrower integer, or text and varchar.
 */
export function comparableKeyType(source: number, key: number): boolean {
  if (source === key) return true;
  const { int2, int4, int8, text, varchar } = typeOids;
  if (key === int8) return source === int4 || source === int2;
  if (key === int4) return source === int2;
  return (key === text || key === varchar) && (source === text || source === varchar);
}

/**
 * The value a distribution column of type varchar(n) stores for `text`: PostgreSQL cuts spaces
 * past the n-th character (anything else past it is an error, whichever shard reports it). Used
 * for lookups too: no stored value equals a longer text, wherever it is looked for.
 */
export function storedKeyText(table: TableRecord, text: string): string {
  const max = varcharLength(table);
  if (max < 0 || text.length <= max) return text;
  const characters = Array.from(text);
  if (characters.length <= max || characters.slice(max).some((c) => c !== " ")) return text;
  return characters.slice(0, max).join("");
}

/** The n of a distribution column of type varchar(n), else -1. */
export function varcharLength(table: TableRecord): number {
  return table.partitionType === typeOids.varchar && table.partitionTypmod >= 4 ? table.partitionTypmod - 4 : -1;
}

/**
 * shardIndexOf() of a pinned value, also in any other spelling the column's type reads in this
 * session (a Date parameter of a client library, …) when PostgreSQL reads it as that type; a value
 * it would compare as another type (a constant, a cast parameter) gives null.
 */
async function readShardIndexOf(
  session: Session,
  st: InterceptedStatement,
  table: TableRecord,
  pin: ValueSource,
  text: string | null,
): Promise<number | null> {
  const index = shardIndexOf(table, text);
  if (index !== null || text === null || !readAsColumnType(st, pin, table)) return index;
  return shardIndexOf(table, await canonicalValue(session, table.partitionType, text));
}

/** Whether a pinned parameter is of the column's type: declared so or left to be inferred, and not cast. */
function readAsColumnType(st: InterceptedStatement, pin: ValueSource, table: TableRecord): boolean {
  if (pin.kind !== "param") return false;
  const declared = st.paramTypes[pin.number - 1] ?? 0;
  if (declared !== 0 && declared !== table.partitionType) return false;
  let cast = false;
  walk(st.stmt, (n) => {
    const arg = (n.TypeCast as { arg?: AstNode } | undefined)?.arg;
    if ((arg?.ParamRef as { number?: number } | undefined)?.number === pin.number) cast = true;
  });
  return !cast;
}

/** The shard index a row goes to by its distribution value: NULL and values not of the column's type are errors. */
export function rowShardIndex(table: TableRecord, text: string | null, command: "INSERT" | "UPDATE"): number {
  if (text === null) {
    throw new SqlError(
      "23502",
      `cannot perform an ${command} with NULL in the partition column "${table.partitionKey}"`,
    );
  }
  const index = shardIndexOf(table, text);
  if (index === null) throw new SqlError("22P02", `invalid value for the distribution column: "${text}"`);
  return index;
}

export interface Route {
  /** Shard index per hash-distributed reference (-1 for reference tables). */
  readonly indexes: Map<DistributedRef, number>;
  readonly groupId: number;
  /** The distribution value the first hash-distributed reference is pinned to (null: none). */
  readonly partitionKey: string | null;
}

/** The single shard group every distributed reference is pinned to, or null. */
export function routerTarget(
  dist: readonly DistributedRef[],
  metadata: MetadataSnapshot,
  inv: Invocation,
): Route | null {
  const pins = pinnedValues(dist);
  const indexes = new Map<DistributedRef, number>();
  let group: number | null = null;
  let colocation: number | null = null;
  let index: number | null = null;
  let partitionKey: string | null = null;
  for (const ref of dist) {
    if (ref.table.method !== "h") continue;
    const pin = pins.get(ref);
    if (!pin || pin.length !== 1) return null;
    const text = valueText(pin[0], inv, ref.table.partitionType);
    const i = shardIndexOf(ref.table, text);
    if (i === null) return null;
    partitionKey ??= text;
    if (colocation !== null && (colocation !== ref.table.colocationId || index !== i)) return null;
    colocation = ref.table.colocationId;
    index = i;
    indexes.set(ref, i);
    group = ref.table.shards[i].placements[0]?.groupId ?? null;
    if (group === null) return null;
  }
  if (group === null) {
    // Only reference tables: any worker holding them.
    const placements = dist[0].table.shards[0]?.placements ?? [];
    const active = placements.find((p) => metadata.nodes.some((n) => n.groupid === p.groupId && n.isactive));
    if (!active) return null;
    group = active.groupId;
  }
  return { indexes, groupId: group, partitionKey };
}

function routerPlan(
  session: Session,
  st: InterceptedStatement,
  dist: readonly DistributedRef[],
  metadata: MetadataSnapshot,
  pins: Map<DistributedRef, ValueSource[] | null> = pinnedValues(dist),
): RouterPlan | null {
  const list: { table: TableRecord; pin: ValueSource | KeyArrayParam }[] = [];
  const hashRefs = dist.filter((r) => r.table.method === "h").length;
  for (const ref of dist) {
    if (ref.table.method !== "h") continue;
    const pin = pins.get(ref);
    if (!pin || pin.length !== 1) {
      const [array] = hashRefs === 1 ? keyArrayParams(ref) : [];
      if (!array) return null;
      list.push({ table: ref.table, pin: array });
      continue;
    }
    if (list.length > 0 && list[0].table.colocationId !== ref.table.colocationId) return null;
    list.push({ table: ref.table, pin: pin[0] });
  }
  let referenceGroup: number | null = null;
  if (list.length === 0) {
    const placements = dist[0].table.shards[0]?.placements ?? [];
    const active = placements.find((p) => metadata.nodes.some((n) => n.groupid === p.groupId && n.isactive));
    if (!active) return null;
    referenceGroup = active.groupId;
  }
  const state = st.distributed!;
  return {
    key: `${metadata.version}:${session.searchPathEpoch}`,
    pins: list,
    referenceGroup,
    tables: state.resolved!.map((oid) => (oid === null ? null : (metadata.tablesById.get(oid) ?? null))),
    byIndex: new Map(),
  };
}

/** Runs a router plan if this execution's values all fall in one shard group; false if not. */
async function runRouterPlan(
  session: Session,
  st: InterceptedStatement,
  plan: RouterPlan,
  metadata: MetadataSnapshot,
  inv: Invocation,
  inBlock: boolean,
): Promise<boolean> {
  const resultFormats = await workerResultFormats(session, st, inv);
  if (resultFormats === null) return false;
  const modification = plan.modification;
  // EXPLAIN of a modification, and Binds whose parameters do not match the plan, take the general path.
  if (modification && (inv.explain || inv.params.length !== modification.paramCount)) return false;
  let index = 0;
  let partitionKey: string | null = null;
  for (let i = 0; i < plan.pins.length; i++) {
    const { table, pin } = plan.pins[i];
    if (!("kind" in pin)) {
      // The statement's one hash-distributed table, read by the elements of an array parameter.
      const byShard = arrayElementsByShard(pin, table, inv, 1);
      if (byShard?.size !== 1) return false;
      const [[shard, elements]] = byShard;
      index = shard;
      partitionKey = elements.length === 1 ? elements[0] : null;
      continue;
    }
    const text = valueText(pin, inv, table.partitionType);
    const shard = shardIndexOf(table, text) ?? (await readShardIndexOf(session, st, table, pin, text));
    if (shard === null || (i > 0 && shard !== index)) return false;
    index = shard;
    partitionKey ??= text;
  }
  const placements = plan.referenceGroup === null ? plan.pins[0].table.shards[index].placements : [];
  // A modification of a replicated shard writes every placement (the general path does).
  if (modification && placements.length !== 1) return false;
  const group = plan.referenceGroup ?? placements[0]?.groupId;
  if (group === undefined) return false;
  if (
    (modification || statementFacts(st).lock) &&
    !inBlock &&
    session.remote.knownSettings()?.readOnlyDefault !== false
  ) {
    await refuseReadOnlyWrite(session, st);
  }
  // Outside a block the statement is alone in its transaction (statements sharing an implicit
  // transaction run in a block: Session.pipelineBlock, needsImplicitBlock) and reaches one shard,
  // so the worker's own now() is that transaction's start time: no coordinator round trip.
  const ownTime = !!modification?.startTimeOnly && !inBlock;
  // A read outside a block is alone in its transaction too: the worker's own values serve.
  const blockRead = inBlock ? plan.blockRead : undefined;
  if (blockRead && inv.params.length !== blockRead.paramCount) return false;
  const sites = modification ?? blockRead;
  const tasks = ownTime ? modification!.ownTimeTasks : (blockRead?.tasks ?? plan.byIndex);
  let task = tasks.get(index);
  if (!task) {
    const copy = cloneAst(ownTime ? st.stmt : (sites?.template ?? st.stmt));
    collectRelationRefs(copy).forEach((ref, i) => {
      const table = plan.tables[i];
      if (table) renameToShard({ ...ref, table }, table.shards[table.method === "n" ? 0 : index].shardId);
    });
    const used = compactParams(copy, st.paramTypes);
    task = { sql: deparseStatement(copy), params: used };
    tasks.set(index, task);
  }
  let values = inv;
  if (sites?.valuesQuery && !ownTime) {
    const start = sites.startTimeOnly ? await session.blockTimestamp() : null;
    const texts =
      start !== null
        ? new Array<string>(sites.siteCount).fill(start)
        : siteValues((await session.internalQuery(sites.valuesQuery))[0]).texts;
    values = withDataParams(inv, texts);
  }
  const params = paramValues(task.params, values);
  const node = nodeForGroup(metadata.nodes, group);
  if (inv.explain) {
    await inv.explain.top(session, [{ node, sql: task.sql, params }], { transactional: inBlock, write: false });
    return true;
  }
  if (inv.describe && (!modification || returns(st.stmt))) await sendRowDescription(session, st, inv);
  // The rows go on to the client as they come, unless they are collected for an outer statement.
  const streamed = inv.collect ? null : new ClientRows(session);
  let result: QueryResult;
  try {
    result = await session.remote.run(node, task.sql, params, {
      transactional: inBlock,
      write: !!modification,
      prepareVersion: metadata.version,
      rows: streamed?.sink,
      resultFormats,
    });
  } catch (e) {
    streamed?.check();
    throw await statementError(session, st, e, metadata.tables);
  }
  streamed?.check();
  sendRows(session, [result], inv);
  emit(session, inv, write.commandComplete(result.command));
  recordExecution(session, st, inv, partitionKey);
  return true;
}

/**
 * A list of values compared with a distribution column, and what a copy of the statement for one
 * shard holds in its place: `holder[key]` is `whole` in the statement, `forShard(index)` in a
 * shard's copy (undefined: whole).
 */
export interface ShardKeyList {
  readonly holder: AstNode;
  readonly key: string;
  readonly whole: unknown;
  readonly forShard: (index: number) => unknown;
  /** Whether the cut follows values given at execution (parameters, settings). */
  readonly bound: boolean;
}

/**
 * The lists of values that hash-distributed references' distribution columns are compared with
 * (`column IN (…)`, `column = ANY (ARRAY[…])`, `column = ANY ($n)` of an array parameter). A copy
 * of the statement for one shard (cloneForShard) needs that shard's items only: no row of the
 * shard matches another. Items given at execution (parameters, settings) are routed by their
 * values in `inv`: a statement cut so is for that execution only. A list with an item not to route
 * by, or without `inv` one given at execution, stays whole.
 */
export function shardKeyLists(refs: readonly DistributedRef[], inv?: Invocation): ShardKeyList[] {
  const lists: ShardKeyList[] = [];
  for (const ref of refs) {
    if (ref.table.method !== "h") continue;
    for (const { site, values } of keyListsOf(ref)) {
      if (values.length < 2) continue;
      const shards = values.map((v) =>
        v?.kind === "const"
          ? shardIndexOf(ref.table, v.text)
          : v && inv
            ? shardIndexOf(ref.table, valueText(v, inv, ref.table.partitionType))
            : null,
      );
      if (shards.some((i) => i === null)) continue;
      const items = site.holder[site.key] as AstNode[];
      lists.push({
        holder: site.holder,
        key: site.key,
        whole: items,
        bound: values.some((v) => v?.kind !== "const"),
        forShard: (index) => {
          // A shard none of the items go to is not read (pruned): the list stays whole there.
          const own = items.filter((_, i) => shards[i] === index);
          return own.length > 0 ? own : undefined;
        },
      });
    }
    if (inv) lists.push(...keyArrayParams(ref).flatMap((site) => arrayParamList(site, ref.table, inv)));
  }
  return lists;
}

/**
 * Arrays shorter than this go whole to each shard they reach: the workers read them in less time
 * than building each execution's statements again takes (the statements with the parameter are
 * kept from one execution to the next). The shards no element goes to are left out either way.
 */
const ARRAY_CUT_MIN_ELEMENTS = 256;

/** Array types whose elements a key array parameter's may be, with their element types. */
const keyArrayTypes = new Map([
  [1005, { element: 21, name: "int2" }],
  [1007, { element: 23, name: "int4" }],
  [1016, { element: 20, name: "int8" }],
  [1009, { element: 25, name: "text" }],
  [1015, { element: 1043, name: "varchar" }],
]);

/**
 * `key = ANY ($n)` cut per shard: in a shard's copy the parameter becomes an array constant of
 * the elements hashing to that shard (NULLs, equal to nothing, left out; none: an empty array).
 * Empty when the value cannot be read here (another array type, more dimensions, bounds).
 */
function arrayParamList(site: KeyArrayParam, table: TableRecord, inv: Invocation): ShardKeyList[] {
  const byShard = arrayElementsByShard(site, table, inv);
  if (byShard === null) return [];
  let count = 0;
  for (const own of byShard.values()) count += own.length;
  if (count < ARRAY_CUT_MIN_ELEMENTS) return [];
  const known = keyArrayTypes.get(inv.paramTypes?.[site.number - 1] ?? 0);
  const whole = site.holder[site.key];
  return [
    {
      holder: site.holder,
      key: site.key,
      whole,
      bound: true,
      forShard: (index) => {
        const literal: AstNode = { A_Const: { sval: { sval: arrayLiteral(byShard.get(index) ?? []) } } };
        // The parameter's declared type, which the statement does not write.
        if (site.cast || !known) return literal;
        return { TypeCast: { arg: literal, typeName: typeNameNode(`pg_catalog.${known.name}[]`) } };
      },
    },
  ];
}

/**
 * The non-NULL elements of the array parameter of `key = ANY ($n)` by the shard they hash to, or
 * null when the value cannot be read here (another array type, more dimensions, bounds). Past
 * `maxShards` shards it stops hashing: the map then holds the shards met so far.
 */
function arrayElementsByShard(
  site: KeyArrayParam,
  table: TableRecord,
  inv: Invocation,
  maxShards = Infinity,
): Map<number, string[]> | null {
  const value = inv.params[site.number - 1];
  if (value === undefined || value === null) return null;
  const declared = inv.paramTypes?.[site.number - 1] ?? 0;
  const known = keyArrayTypes.get(declared);
  if (declared !== 0 && declared !== UNKNOWN_OID && !(known && typeKeepsValue(known.element, table.partitionType))) {
    return null;
  }
  const format = inv.paramFormats.length === 1 ? inv.paramFormats[0] : (inv.paramFormats[site.number - 1] ?? 0);
  const elements = format === 0 ? textArrayElements(value.toString("utf8")) : binaryArrayElements(value, table);
  if (elements === null) return null;
  const byShard = new Map<number, string[]>();
  for (const text of elements) {
    if (text === null) continue;
    const index = shardIndexOf(table, text);
    if (index === null) return null;
    const own = byShard.get(index);
    if (own) own.push(text);
    else if (byShard.set(index, [text]).size > maxShards) break;
  }
  return byShard;
}

/**
 * `indexes` less the shards no element of an array parameter `ref`'s distribution column is
 * compared with (`key = ANY ($n)`) goes to: no row of theirs can meet the condition. One shard
 * stays when none is left, to answer with no rows but the statement's columns (and tag).
 */
export function prunedByArrayParams(ref: DistributedRef, indexes: readonly number[], inv: Invocation): number[] {
  let kept = [...indexes];
  for (const site of keyArrayParams(ref)) {
    const byShard = arrayElementsByShard(site, ref.table, inv);
    if (byShard) kept = kept.filter((i) => byShard.has(i));
  }
  return kept.length > 0 || indexes.length === 0 ? kept : indexes.slice(0, 1);
}

/**
 * The elements of a one-dimensional array in text form (`{1,2,NULL}`, `{"a b","c\\"d"}`), NULL
 * for a NULL element; null for anything else (bounds, more dimensions, another delimiter).
 */
export function textArrayElements(text: string): (string | null)[] | null {
  const s = text.trim();
  if (!s.startsWith("{") || !s.endsWith("}")) return null;
  const out: (string | null)[] = [];
  let i = 1;
  const end = s.length - 1;
  const space = (c: string) => c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\v" || c === "\f";
  while (i < end && space(s[i])) i++;
  if (i === end) return out;
  for (;;) {
    while (i < end && space(s[i])) i++;
    let element = "";
    let quoted = false;
    if (s[i] === '"') {
      quoted = true;
      i++;
      while (i < end && s[i] !== '"') {
        if (s[i] === "\\") i++;
        if (i >= end) return null;
        element += s[i++];
      }
      if (i >= end) return null;
      i++;
      while (i < end && space(s[i])) i++;
    } else {
      let trailing = "";
      while (i < end && s[i] !== ",") {
        const c = s[i];
        if (c === "{" || c === "}" || c === '"') return null;
        if (c === "\\") {
          if (++i >= end) return null;
          element += trailing + s[i++];
          trailing = "";
          quoted = true; // an escaped character: not the NULL keyword
          continue;
        }
        if (space(c)) trailing += c;
        else {
          element += trailing + c;
          trailing = "";
        }
        i++;
      }
      if (element === "") return null;
    }
    out.push(!quoted && element.toUpperCase() === "NULL" ? null : element);
    if (i === end) return out;
    if (s[i] !== ",") return null;
    i++;
  }
}

/** The elements of a one-dimensional array in binary form as text, or null when not of an integer or text type. */
export function binaryArrayElements(bytes: Buffer, table: TableRecord): (string | null)[] | null {
  if (bytes.length < 12) return null;
  const dimensions = bytes.readInt32BE(0);
  const element = bytes.readInt32BE(8);
  if (dimensions === 0) return [];
  if (dimensions !== 1 || bytes.length < 20 || !typeKeepsValue(element, table.partitionType)) return null;
  const count = bytes.readInt32BE(12);
  const out: (string | null)[] = [];
  let at = 20;
  for (let k = 0; k < count; k++) {
    if (at + 4 > bytes.length) return null;
    const length = bytes.readInt32BE(at);
    at += 4;
    if (length < 0) {
      out.push(null);
      continue;
    }
    if (at + length > bytes.length) return null;
    const v = bytes.subarray(at, at + length);
    at += length;
    if (element === 23 && length === 4) out.push(String(v.readInt32BE(0)));
    else if (element === 20 && length === 8) out.push(String(v.readBigInt64BE(0)));
    else if (element === 21 && length === 2) out.push(String(v.readInt16BE(0)));
    else if (element === 25 || element === 1043) out.push(v.toString("utf8"));
    else return null;
  }
  return out;
}

/** Whether a list a reference's distribution column is compared with has items given at execution. */
export function hasBoundKeyLists(refs: readonly DistributedRef[]): boolean {
  return refs.some(
    (ref) =>
      ref.table.method === "h" &&
      (keyArrayParams(ref).length > 0 ||
        keyListsOf(ref).some(
          ({ values }) => values.length > 1 && values.some((v) => v !== null && v.kind !== "const"),
        )),
  );
}

/** A copy of `stmt` for shard index `index`, its key lists cut to that shard's items (whole if it has none). */
export function cloneForShard(stmt: AstNode, lists: readonly ShardKeyList[], index: number): AstNode {
  if (lists.length === 0) return cloneAst(stmt);
  for (const l of lists) {
    const own = l.forShard(index);
    if (own !== undefined) l.holder[l.key] = own;
  }
  try {
    return cloneAst(stmt);
  } finally {
    for (const l of lists) l.holder[l.key] = l.whole;
  }
}

/**
 * Renames a reference to a shard of its table, keeping the name its columns are qualified with.
 * An INSERT target's `ON CONFLICT ON CONSTRAINT name` then names the shard's copy of the constraint
 * (named as shardStatements names it), so `ref.level` must be the InsertStmt holding `ref.rangeVar`.
 */
export function renameToShard(ref: DistributedRef, shardId: number): void {
  const rv = ref.rangeVar;
  if (!rv.alias) rv.alias = { aliasname: ref.relname };
  rv.schemaname = ref.table.schema;
  rv.relname = shardRelname(ref.table.relname, shardId);
  if (!ref.isTarget) return;
  if (ref.level.relation !== rv) throw new SqlError("XX000", "renameToShard: the target's level does not hold it");
  const infer = (ref.level.onConflictClause as { infer?: { conname?: string } } | undefined)?.infer;
  if (infer?.conname) infer.conname = shardRelname(infer.conname, shardId);
}

/** Parameters a worker statement uses, renumbered 1..n so that none is unused. */
export function renumberParams(ast: AstNode, inv: Invocation): (string | Buffer | null)[] {
  return paramValues(compactParams(ast, inv.paramTypes), inv);
}

/**
 * Renumbers the parameters an AST uses to 1..n; returns the original numbers in the new order.
 * A parameter the client declared of a built-in type (`declared`, by original number) is cast to
 * it first: a worker then reads it as declared, where it would infer the type from its use.
 */
export function compactParams(ast: AstNode, declared: readonly number[] = []): number[] {
  if (declared.some((t) => t !== 0)) castDeclaredParams(ast, declared);
  const used = [...paramNumbers(ast)].sort((a, b) => a - b);
  const mapping = new Map(used.map((n, i) => [n, i + 1]));
  walk(ast, (node) => {
    const p = node.ParamRef as { number: number } | undefined;
    if (p) p.number = mapping.get(p.number)!;
  });
  return used;
}

/** Built-in types a client may declare a parameter of, by OID, as SQL names them. */
const declarableTypes = new Map<number, string>([
  ...Object.entries(typeOids).map(([name, oid]): [number, string] => [oid, name === "char" ? '"char"' : name]),
  [114, "json"],
  [3802, "jsonb"],
  [1186, "interval"],
  [869, "inet"],
  [650, "cidr"],
]);

/** Puts each parameter declared of a built-in type under a cast to it (see compactParams). */
function castDeclaredParams(ast: AstNode, declared: readonly number[]): void {
  const refs: AstNode[] = [];
  walk(ast, (node) => {
    if (node.ParamRef) refs.push(node);
  });
  for (const node of refs) {
    const ref = node.ParamRef as { number: number };
    const type = declarableTypes.get(declared[ref.number - 1] ?? 0);
    if (type === undefined) continue;
    delete node.ParamRef;
    node.TypeCast = { arg: { ParamRef: ref }, typeName: typeNameNode(`pg_catalog.${type}`) };
  }
}

/**
 * The invocation with `values` as text parameters after its own (rows of `substituteShardRows` or
 * subplans, transaction values).
 */
export function withDataParams(inv: Invocation, values: readonly (string | null)[]): Invocation {
  if (values.length === 0) return inv;
  const formats = inv.params.map((_, i) =>
    inv.paramFormats.length === 1 ? inv.paramFormats[0] : (inv.paramFormats[i] ?? 0),
  );
  return {
    ...inv,
    params: [...inv.params, ...values.map((p) => (p === null ? null : Buffer.from(p, "utf8")))],
    paramFormats: [...formats, ...values.map(() => 0)],
  };
}

/** The Bind values of the given parameter numbers: text as strings, binary as Buffers. */
export function paramValues(numbers: readonly number[], inv: Invocation): (string | Buffer | null)[] {
  return numbers.map((n) => {
    const v = inv.params[n - 1];
    if (v === undefined) {
      // A simple Query has no Bind: PostgreSQL refuses the reference when it parses the statement.
      if (inv.describe) throw new SqlError("42P02", `there is no parameter $${n}`);
      throw new SqlError("08P01", `bind message supplies too few parameters (no $${n})`);
    }
    if (v === null) return null;
    const format = inv.paramFormats.length === 1 ? inv.paramFormats[0] : (inv.paramFormats[n - 1] ?? 0);
    return format === 1 ? v : v.toString("utf8");
  });
}

async function router(
  session: Session,
  st: InterceptedStatement,
  stmt: AstNode,
  dist: readonly DistributedRef[],
  route: Route,
  inv: Invocation,
  inBlock: boolean,
  writes = false,
): Promise<void> {
  for (const ref of dist) {
    const index = route.indexes.get(ref) ?? 0;
    renameToShard(ref, ref.table.shards[index].shardId);
  }
  const params = renumberParams(stmt, inv);
  const node = nodeForGroup((await session.metadata()).nodes, route.groupId);
  const opts = { transactional: inBlock, write: writes };
  if (inv.explain) return inv.explain.top(session, [{ node, sql: deparseStatement(stmt), params }], opts);
  if (inv.describe) await sendRowDescription(session, st, inv);
  // (A SELECT asking for such binary results takes other paths; a data-modifying WITH cannot.)
  const resultFormats = await workerResultFormats(session, st, inv);
  if (resultFormats === null) throw binaryReturningRefusal();
  const result = await session.remote.run(node, deparseStatement(stmt), params, { ...opts, resultFormats });
  sendRows(session, [result], inv);
  emit(session, inv, write.commandComplete(result.command));
  recordExecution(session, st, inv, route.partitionKey);
}

/** Sends the statement's RowDescription (simple Query), as the coordinator database describes it. */
export async function sendRowDescription(session: Session, st: InterceptedStatement, inv: Invocation): Promise<void> {
  // A rewritten statement's columns are named and typed as the client's statement's.
  const client = st.origin ?? st;
  const state = client.distributed!;
  // An EXECUTE's statement is described at each execution; a text's parameterized form keeps its
  // description while its shape's entry lives (statement_shapes.ts: only distributed tables).
  const again = (inv.params.length > 0 && !state.literalParams) || readsLocalRelations(state, await session.metadata());
  if (state.rowDescription === undefined || again) {
    state.rowDescription = (await describeOnCoordinator(session, client.sql, client.paramTypes)).rows;
  }
  if (state.rowDescription) session.sendToClient(state.rowDescription);
}

/**
 * Built-in types whose values name objects of one node (OIDs), in binary as numbers that differ
 * from node to node, and the anonymous record, whose binary form names its columns' types.
 */
const nodeBoundTypes = new Set([
  // oid, regproc, regprocedure, regoper, regoperator, regclass, regtype, regconfig, regdictionary,
  // regnamespace, regrole, regcollation, and their arrays
  26, 24, 2202, 2203, 2204, 2205, 2206, 3734, 3769, 4089, 4096, 4191, 1028, 1008, 2207, 2208, 2209, 2210, 2211, 3735,
  3770, 4090, 4097, 4192,
  // record, record[]
  2249, 2287,
]);

/** OIDs below this are PostgreSQL's own, the same on every node (FirstNormalObjectId). */
const FIRST_NORMAL_OID = 16384;

/**
 * The result formats a worker statement answering the client's directly is bound with: none (text)
 * when the client asks for text; the client's when every column it asks for in binary is of a
 * built-in type or an enum, whose binary form is the same from any node; null otherwise (binary
 * forms of the user's other types carry node-local OIDs: such rows are converted in the
 * coordinator database).
 */
export async function workerResultFormats(
  session: Session,
  st: InterceptedStatement,
  inv: Invocation,
): Promise<readonly number[] | null> {
  const formats = inv.resultFormats;
  if (!formats.some((f) => f === 1)) return [];
  const client = st.origin ?? st;
  const state = client.distributed;
  if (!state) return null;
  const key = `${(await session.metadata()).version}:${session.searchPathEpoch}`;
  if (state.binaryForwardable?.key !== key) {
    const { rows } = await coordinatorDescription(session, client);
    const fields = rows ? parseRowDescription(rows.subarray(5)) : [];
    // An enum's binary form is its label: the same from every node.
    const own = fields.filter((f) => f.typeOid >= FIRST_NORMAL_OID).map((f) => f.typeOid);
    const enums = new Set(
      own.length === 0
        ? []
        : (
            await session.internalQuery(
              "SELECT oid FROM pg_catalog.pg_type WHERE oid = ANY ($1::pg_catalog.oid[]) AND typtype = 'e'",
              [Buffer.from(`{${own.join(",")}}`)],
            )
          ).map((r) => Number(r[0])),
    );
    const columns = fields.map(
      (f) => (f.typeOid < FIRST_NORMAL_OID && !nodeBoundTypes.has(f.typeOid)) || enums.has(f.typeOid),
    );
    state.binaryForwardable = { key, columns };
  }
  const binary = (i: number) => (formats.length === 1 ? formats[0] : formats[i]) === 1;
  return state.binaryForwardable.columns.every((portable, i) => portable || !binary(i)) ? formats : null;
}

export function binaryReturningRefusal(): SqlError {
  return new SqlError(
    "0A000",
    "binary results of RETURNING columns of the user's composite, array or range types from distributed tables are not supported",
    {
      detail: "Their binary form names types by OIDs that differ between nodes.",
      hint: "Ask for those columns in text format.",
    },
  );
}

/** How many result columns the client's statement has, as the coordinator database describes it. */
export async function resultWidth(session: Session, st: InterceptedStatement): Promise<number> {
  const { rows } = await coordinatorDescription(session, st.origin ?? st);
  return rows ? rows.readInt16BE(5) : 0;
}

/** What the coordinator database, with the empty shells in its catalog, says of a statement. */
export interface CoordinatorDescription {
  /** Its ParameterDescription message. */
  parameters: Buffer;
  /** Its RowDescription message, or null when it returns no rows (NoData). */
  rows: Buffer | null;
}

/**
 * The name Canopy's own descriptions are prepared under on the coordinator database. Closed
 * before and after, in the same exchange: the client's unnamed statement there is not replaced,
 * and one left by a Describe that failed is gone before the next Parse.
 */
const describeName = "canopy\u0001describe";

/**
 * Parses and describes SQL on the coordinator database, which checks it as PostgreSQL checks a
 * Parse (names, types, parameters): throws its error.
 */
export async function describeOnCoordinator(
  session: Session,
  sql: string,
  paramTypes: readonly number[],
): Promise<CoordinatorDescription> {
  let parameters = write.parameterDescription([]);
  let rows: Buffer | null = null;
  const results = [
    session.internalRaw(FrontendCode.Close, write.close("S", describeName)),
    session.internalRaw(FrontendCode.Parse, write.parse(describeName, sql, paramTypes)),
    session.internalRaw(FrontendCode.Describe, write.describe("S", describeName), (code, message) => {
      if (code === BackendCode.ParameterDescription) parameters = Buffer.from(message);
      else if (code === BackendCode.RowDescription) rows = Buffer.from(message);
    }),
    session.internalRaw(FrontendCode.Close, write.close("S", describeName)),
  ];
  await session.flushAndAwait(results);
  return { parameters, rows };
}

/**
 * The coordinator database's description of an intercepted statement. A distributed statement's
 * is kept while the metadata and search_path stay the same, so that a prepared statement's Parse,
 * Bind and Describe do not visit the coordinator database each time.
 */
export async function coordinatorDescription(
  session: Session,
  st: InterceptedStatement,
): Promise<CoordinatorDescription> {
  const state = st.distributed;
  if (!state) return describeOnCoordinator(session, st.sql, st.paramTypes);
  const metadata = await session.metadata();
  const key = `${metadata.version}:${session.searchPathEpoch}`;
  if (state.described?.key !== key || readsLocalRelations(state, metadata)) {
    state.described = { key, description: await describeOnCoordinator(session, st.sql, st.paramTypes) };
  }
  return state.described.description;
}

/** What a prepared statement keeps of its description, to find its result columns changed later. */
export function preparedResult(description: CoordinatorDescription): PreparedResult {
  return { rows: description.rows, agreed: description };
}

/**
 * Refuses to run a prepared statement whose result columns changed since it was prepared (an ALTER
 * TABLE of a table it reads), with PostgreSQL's error: a client that kept the first description
 * would read the new rows with it. Drivers that know the error prepare the statement again. The
 * description is the kept one while the metadata stays the same, so this costs no round trip.
 */
export async function checkResultUnchanged(session: Session, st: InterceptedStatement): Promise<void> {
  const kept = st.preparedResult;
  if (!kept) return;
  const now = await coordinatorDescription(session, st);
  if (now === kept.agreed) return;
  if (!sameResultColumns(kept.rows, now.rows)) {
    // The routine is PostgreSQL's, which drivers read to know the statement wants preparing again.
    throw new SqlError("0A000", "cached plan must not change result type", { routine: "RevalidateCachedQuery" });
  }
  kept.agreed = now;
}

/** Whether two RowDescriptions have the same columns: names, types and type modifiers, as PostgreSQL compares them. */
export function sameResultColumns(a: Buffer | null, b: Buffer | null): boolean {
  if (a === null || b === null) return a === b;
  const x = parseRowDescription(a.subarray(5));
  const y = parseRowDescription(b.subarray(5));
  return (
    x.length === y.length &&
    x.every((f, i) => f.name === y[i].name && f.typeOid === y[i].typeOid && f.typeModifier === y[i].typeModifier)
  );
}

/** The parameter types the coordinator database infers for a statement (checking it on the way). */
export async function parameterTypes(session: Session, sql: string, given: readonly number[]): Promise<number[]> {
  return describedParameterTypes((await describeOnCoordinator(session, sql, given)).parameters);
}

/** The parameter types of a ParameterDescription message. */
export function describedParameterTypes(parameters: Buffer): number[] {
  const count = parameters.readUInt16BE(5);
  return Array.from({ length: count }, (_, i) => parameters.readUInt32BE(7 + 4 * i));
}

/** The result columns of SQL as the coordinator database (with the empty shells) describes them. */
export async function describeStatement(
  session: Session,
  sql: string,
  paramTypes: readonly number[],
): Promise<FieldDescription[] | null> {
  const { rows } = await describeOnCoordinator(session, sql, paramTypes);
  return rows ? parseRowDescription(rows.subarray(5)) : null;
}

export function sendRows(session: Session, results: readonly QueryResult[], inv?: Invocation): void {
  const out: Buffer[] = [];
  for (const r of results) {
    // Text rows from a node go to the client as the node sent them.
    if (r.dataRows) {
      if (out.length > 0) emit(session, inv, ...out.splice(0));
      for (let i = 0; i < r.dataRows.length; i += 1024) emit(session, inv, ...r.dataRows.slice(i, i + 1024));
      continue;
    }
    for (const row of r.rows) {
      out.push(write.dataRow(row));
      if (out.length >= 256) emit(session, inv, ...out.splice(0));
    }
  }
  if (out.length > 0) emit(session, inv, ...out);
}

/** The nodes holding each shard index of a table (reference tables: every placement). */
export function placementsOf(table: TableRecord, index: number): number[] {
  return table.shards[index].placements.map((p) => p.groupId);
}

/**
 * The subqueries of an INSERT … VALUES reading other tables, distributed or local, run first and
 * their values take their places (evaluateSubqueries); so do its WITH clause's queries, which only
 * they can read, and the clause goes. What is left reading a table is refused.
 */
async function evaluateValuesSubqueries(
  session: Session,
  st: InterceptedStatement,
  stmt: AstNode,
  inv: Invocation,
  inBlock: boolean,
): Promise<void> {
  const ins = stmt.InsertStmt as { selectStmt?: AstNode; withClause?: { ctes: AstNode[] } };
  const values = (ins.selectStmt?.SelectStmt as { valuesLists?: unknown } | undefined)?.valuesLists;
  if (ins.withClause?.ctes.some((c) => !(c.CommonTableExpr as { ctequery: AstNode }).ctequery.SelectStmt)) {
    throw new SqlError("0A000", "data-modifying WITH in an INSERT … VALUES reading tables is not supported", {
      hint: "Run the data-modifying statement on its own.",
    });
  }
  await evaluateSubqueries(session, st, values, ins.withClause, inv, inBlock);
  delete ins.withClause;
  if (collectRelationRefs(stmt).some((r) => r.rangeVar !== (stmt.InsertStmt as AstNode).relation)) {
    throw new SqlError(
      "0A000",
      "subqueries reading tables outside the VALUES of an INSERT into a distributed table are not supported",
      {
        hint: "Use INSERT … SELECT.",
      },
    );
  }
}

/** INSERT … VALUES into a distributed or reference table: rows grouped by shard. */
async function insert(
  session: Session,
  st: InterceptedStatement,
  stmt: AstNode,
  target: DistributedRef,
  metadata: MetadataSnapshot,
  inv: Invocation,
  inBlock: boolean,
): Promise<void> {
  const ins = stmt.InsertStmt as {
    cols?: { ResTarget: { name: string } }[];
    selectStmt?: AstNode;
    override?: string;
    onConflictClause?: { action: string; targetList?: { ResTarget: { name: string } }[] };
  };
  const select = ins.selectStmt?.SelectStmt as { valuesLists?: { List: { items: AstNode[] } }[] } | undefined;
  const table = target.table;
  if (table.method === "n") await refuseVolatileOnReplicas(session, stmt, table);
  // DEFAULT VALUES is one row that gives no column.
  const all = await session.tableColumns(table.relationId);
  const found = await coordinatorOnlyIn(session, st, metadata);
  const given = select?.valuesLists?.map((l) => l.List.items) ?? [[]];
  const width = given[0].length;
  const columns = await fillDefaults(
    session,
    all,
    ins.cols?.map((c) => c.ResTarget.name) ?? all.slice(0, given[0].length).map((c) => c.name),
    given,
    ins.override,
    inv,
    table.partitionKey,
    (item) => mentionsAny(item, found),
  );
  if (columns.length > width) {
    // Values were added: the statement now lists its columns.
    ins.cols = columns.map((name) => ({ ResTarget: { name } }));
    if (!ins.selectStmt) {
      ins.selectStmt = {
        SelectStmt: {
          valuesLists: given.map((items) => ({ List: { items } })),
          limitOption: "LIMIT_OPTION_DEFAULT",
          op: "SETOP_NONE",
        },
      };
    }
  }
  await evaluateTransactionValues(session, stmt);
  const rows = ins.selectStmt ? given : null;
  // Which shards receive which rows, and the one distribution value they all have, if so.
  const groups = new Map<number, AstNode[][]>();
  const values = new Set<string>();
  if (table.method === "n") {
    groups.set(0, rows ?? []);
  } else {
    const position = columns.indexOf(table.partitionKey!);
    if (!rows || position < 0) {
      throw new SqlError("23502", "cannot perform an INSERT without a partition column value", {
        hint: `Give a value for "${table.partitionKey}".`,
      });
    }
    const texts: (string | null)[] = [];
    for (const row of rows) {
      const expr = row[position];
      const v = expr ? keyValueSource(expr, table) : null;
      let text = v ? valueText(v, inv, table.partitionType) : null;
      // A value cast to some type is converted to the column's, not read as it: evaluated. So is a
      // parameter of another type, or in a binary format read here for the column's type only, and
      // a setting the workers are not given (unknown to the session: PostgreSQL's error follows).
      const converted = !!expr?.TypeCast && shardIndexOf(table, text) === null;
      const unread = text === null && (v?.kind === "setting" || (v?.kind === "param" && !!inv.params[v.number - 1]));
      if ((v === null || converted || unread) && expr && !expr.SetToDefault) {
        text = await evaluate(session, expr, inv, table);
        row[position] = constantNode(text, expr);
      }
      texts.push(text);
    }
    const canonical = await canonicalValues(session, table.partitionType, texts);
    rows.forEach((row, i) => {
      const text = canonical[i];
      const index = rowShardIndex(table, text, "INSERT");
      groups.set(index, [...(groups.get(index) ?? []), row]);
      values.add(text!);
    });
  }
  const moves = table.method === "h" && updatesPartitionKey(stmt, table);
  if (moves) await returnWholeRows(session, stmt, target);
  // PostgreSQL returns the rows in the order of the VALUES: rows that went to several shards are
  // put back in it (valuesOrder). Under ON CONFLICT DO NOTHING, where a row may return nothing,
  // each row is a statement of its own, so that which one did is known (a later row meeting an
  // earlier one of the same statement is skipped alike).
  const ordered = returns(stmt) && groups.size > 1 && !moves;
  const rowByRow = ordered && ins.onConflictClause?.action === "ONCONFLICT_NOTHING";
  const order: RowOrder = { rowBatches: [], batchOfTask: [], firstOfBatch: [] };
  const batchOfRow = new Map<AstNode[], number>();
  const tasks: Task[] = [];
  for (const [index, groupRows] of groups) {
    for (const batch of rowByRow ? groupRows.map((row) => [row]) : [groupRows]) {
      const batchId = batchOfRow.size;
      for (const row of batch) batchOfRow.set(row, batchId);
      const copy = cloneAst(stmt);
      const ci = copy.InsertStmt as { relation: AstNode; selectStmt?: AstNode };
      const values = (ci.selectStmt?.SelectStmt as { valuesLists?: unknown[] } | undefined) ?? null;
      if (values?.valuesLists) values.valuesLists = batch.map((items) => ({ List: { items: cloneAst(items) } }));
      renameToShard({ ...target, rangeVar: ci.relation, level: ci }, table.shards[index].shardId);
      const params = renumberParams(copy, inv);
      const sql = deparseStatement(copy);
      placementsOf(table, index).forEach((group, placement) => {
        tasks.push({ node: nodeForGroup(metadata.nodes, group), sql, params });
        order.batchOfTask.push(batchId);
        order.firstOfBatch.push(placement === 0);
      });
    }
  }
  for (const row of rows ?? []) order.rowBatches.push(batchOfRow.get(row)!);
  const partitionKey = values.size === 1 ? [...values][0] : null;
  if (moves)
    return moveRows({ session, st, target, metadata, inv }, tasks, [...groups.keys()], "INSERT 0", partitionKey);
  const reference = referenceShards([table]);
  await runModifyTasks(
    session,
    st,
    tasks,
    inv,
    inBlock,
    "INSERT 0",
    reference,
    partitionKey,
    "adaptive",
    ordered ? order : undefined,
  );
}

/**
 * Where a multi-shard INSERT's VALUES rows went: each row's batch (the VALUES of one statement on
 * one shard), each task's batch, and whether the task is its batch's first placement (the others,
 * a replicated shard's, return the same rows).
 */
interface RowOrder {
  rowBatches: number[];
  batchOfTask: number[];
  firstOfBatch: boolean[];
}

/**
 * The rows the tasks returned, in the order of the VALUES rows they came from, and the command
 * tag's count; null when a batch of several rows did not return one row each (a trigger skipped
 * some), whose rows then cannot be placed.
 */
function valuesOrder(results: readonly QueryResult[], order: RowOrder): QueryResult | null {
  const returned = new Map<number, { rows: QueryResult; next: number }>();
  let count = 0;
  results.forEach((r, i) => {
    if (!order.firstOfBatch[i]) return;
    returned.set(order.batchOfTask[i], { rows: r, next: 0 });
    count += Number(r.command.split(" ").pop() ?? 0);
  });
  const sent = new Map<number, number>();
  for (const b of order.rowBatches) sent.set(b, (sent.get(b) ?? 0) + 1);
  const rowCount = (r: QueryResult) => r.dataRows?.length ?? r.rows.length;
  for (const [b, { rows }] of returned) if (sent.get(b)! > 1 && rowCount(rows) !== sent.get(b)) return null;
  const dataRows: Buffer[] = [];
  for (const b of order.rowBatches) {
    const batch = returned.get(b)!;
    const k = batch.next++;
    if (k >= rowCount(batch.rows)) continue;
    dataRows.push(batch.rows.dataRows?.[k] ?? write.dataRow(batch.rows.rows[k]));
  }
  return { command: `INSERT 0 ${count}`, dataRows, rows: [] };
}

/** Whether UPDATE's SET list or INSERT's ON CONFLICT DO UPDATE assigns the distribution column. */
export function updatesPartitionKey(stmt: AstNode, table: TableRecord): boolean {
  type Targets = { targetList?: { ResTarget: { name: string } }[] } | undefined;
  const update = stmt.UpdateStmt as Targets;
  const onConflict = (stmt.InsertStmt as { onConflictClause?: Targets } | undefined)?.onConflictClause;
  return !!(update ?? onConflict)?.targetList?.some((t) => t.ResTarget.name === table.partitionKey);
}

/**
 * Evaluates an expression in the coordinator database (once), for routing a row by its value. The
 * cast is to the column's type without its modifier (an explicit cast would cut what storing
 * refuses): typmod -1 spells bpchar as bpchar, where NULL gives "character", which is char(1).
 */
async function evaluate(session: Session, expr: AstNode, inv: Invocation, table: TableRecord): Promise<string | null> {
  const [[typeName]] = await session.internalQuery("SELECT pg_catalog.format_type($1::oid, -1)", [
    Buffer.from(String(table.partitionType)),
  ]);
  const cast = transitText({ TypeCast: { arg: expr, typeName: typeNameNode(typeName!) } }, table.partitionType);
  const select: AstNode = {
    SelectStmt: { targetList: [{ ResTarget: { val: cast } }], limitOption: "LIMIT_OPTION_DEFAULT", op: "SETOP_NONE" },
  };
  const rows = await evaluateSelect(session, select, inv);
  return rows[0][0];
}

/** A constant holding an evaluated value, typed as the expression it replaces. */
function constantNode(text: string | null, _original: AstNode): AstNode {
  if (text === null) return { A_Const: { isnull: true } };
  return { A_Const: { sval: { sval: text } } };
}

/** The shard indexes a reference's pins allow (every shard when it is not pinned). */
export function prunedIndexes(ref: DistributedRef, pin: ValueSource[] | null, inv: Invocation): number[] {
  const all = ref.table.shards.map((_, i) => i);
  if (!pin) return all;
  const set = new Set<number>();
  for (const v of pin) {
    const i = shardIndexOf(ref.table, valueText(v, inv, ref.table.partitionType));
    if (i === null) return all;
    set.add(i);
  }
  return [...set].sort((a, b) => a - b);
}

/** A statement for one placement. */

/** Runs a modification's tasks and reports its rows and command tag to the client. */
export async function runModifyTasks(
  session: Session,
  st: InterceptedStatement,
  tasks: readonly Task[],
  inv: Invocation,
  inBlock: boolean,
  tagPrefix: string,
  reference: readonly number[],
  partitionKey: string | null,
  executor: ExecutorName = "adaptive",
  order?: RowOrder,
): Promise<void> {
  const nodes = new Set(tasks.map((t) => t.node.nodeid));
  // A reference table's write commits in two phases even on one placement: it must reach every
  // placement there is when it commits (see transaction/commit.ts).
  const transactional = inBlock || nodes.size > 1 || tasks.length > 1 || reference.length > 0;
  if (inv.explain) return inv.explain.top(session, tasks, { transactional, write: true, reference });
  if (inv.describe && returns(st.stmt)) await sendRowDescription(session, st, inv);
  const resultFormats = (await workerResultFormats(session, st, inv)) ?? [];
  const all = await executeTasks(session, tasks, { transactional, reference, resultFormats });
  const inOrder = order && valuesOrder(all, order);
  if (inOrder) return reportModify(session, st, [inOrder], tagPrefix, partitionKey, executor);
  // A reference table's placements each return the same rows; count them once.
  const seenSql = new Set<string>();
  const results = all.filter((_, i) => !seenSql.has(tasks[i].sql) && !!seenSql.add(tasks[i].sql));
  reportModify(session, st, results, tagPrefix, partitionKey, executor);
}

/**
 * Runs writing tasks, one after another on each node's connection, the nodes in parallel; returns
 * the results in the tasks' order. Every node's work ends (settles) before an error is reported,
 * so that a rollback reaches every remote transaction the statement opened. Transactions on
 * several nodes get their connections in node order first (see claimInOrder).
 */
export async function executeTasks(
  session: Session,
  tasks: readonly Task[],
  opts: { transactional: boolean; reference: readonly number[]; resultFormats?: readonly number[] },
): Promise<QueryResult[]> {
  const byNode = new Map<number, number[]>();
  tasks.forEach((t, i) => byNode.set(t.node.nodeid, [...(byNode.get(t.node.nodeid) ?? []), i]));
  const results: QueryResult[] = new Array(tasks.length);
  const release =
    opts.transactional && byNode.size > 1
      ? await session.remote.claimInOrder([...byNode.values()].map((list) => tasks[list[0]].node))
      : null;
  try {
    await settleAll(
      [...byNode.values()].map(async (list) => {
        for (const i of list) {
          const t = tasks[i];
          results[i] = await session.remote.run(t.node, t.sql, t.params, { ...opts, write: true });
        }
      }),
    );
  } finally {
    release?.();
  }
  return results;
}

/** Sends a modification's returned rows and its command tag, counting the rows the results name. */
export function reportModify(
  session: Session,
  st: InterceptedStatement,
  results: readonly QueryResult[],
  tagPrefix: string,
  partitionKey: string | null,
  executor: ExecutorName = "adaptive",
): void {
  let count = 0;
  for (const r of results) count += Number(r.command.split(" ").pop() ?? 0);
  sendRows(session, results);
  session.sendToClient(write.commandComplete(`${tagPrefix} ${count}`));
  recordStatement(session, st, executor, partitionKey);
}

/**
 * The correct fallback: the rows each distributed table contributes, fetched from its shards,
 * take the table's place in the statement, which then runs in the coordinator database.
 */
async function fallback(
  session: Session,
  st: InterceptedStatement,
  stmt: AstNode,
  dist: readonly DistributedRef[],
  metadata: MetadataSnapshot,
  inv: Invocation,
  inBlock: boolean,
): Promise<void> {
  const dataParams = await substituteShardRows(session, stmt, dist, metadata, inv, inBlock);
  if (stmt.CopyStmt || stmt.DeclareCursorStmt) {
    // COPY (query) and DECLARE take no parameters but the client's: the rows go in as literals.
    // A cursor then reads rows fetched when it is declared, as PostgreSQL's cursor reads the
    // snapshot of that moment.
    walk(stmt, (node) => {
      const ref = node.ParamRef as { number: number } | undefined;
      if (!ref || ref.number <= inv.params.length) return;
      delete node.ParamRef;
      node.A_Const = { sval: { sval: dataParams[ref.number - inv.params.length - 1] } };
    });
    await runOnCoordinator(session, deparseStatement(stmt), inv, [], st.paramTypes);
    return stmt.CopyStmt ? recordStatement(session, st, "copy", null) : recordExecution(session, st, inv, null);
  }
  const types = withJsonParams(st.paramTypes, inv, dataParams);
  if (inv.explain) {
    return inv.explain.coordinator(session, stmt, { ...bindValues(inv, dataParams), types });
  }
  await runOnCoordinator(session, deparseStatement(stmt), inv, dataParams, types);
  recordExecution(session, st, inv, null);
}

/** Parameter types for a statement given the rows of `substituteShardRows` after its own parameters. */
export function withJsonParams(
  paramTypes: readonly number[],
  inv: Invocation,
  dataParams: readonly string[],
): number[] {
  const types = [...paramTypes];
  while (types.length < inv.params.length) types.push(0);
  for (let i = 0; i < dataParams.length; i++) types.push(JSON_OID);
  return types;
}

/** Where substituteShardRows put a reference's rows: which of its parameters, and their columns. */
export interface PlacedRows {
  readonly index: number;
  /** Whether other references of the same table read the parameter too. */
  readonly shared: boolean;
  readonly columns: readonly ColumnInfo[];
}

/**
 * Replaces each reference to a distributed table in the statement by the rows the table
 * contributes (pruned, filtered and projected on its shards), and each of the `local` references
 * (tables of the coordinator database) by its rows there, which it returns as JSON parameters
 * numbered after the statement's own (`placed` gets where each reference's went). Capped by
 * canopy.max_intermediate_result_size.
 */
export async function substituteShardRows(
  session: Session,
  stmt: AstNode,
  dist: readonly DistributedRef[],
  metadata: MetadataSnapshot,
  inv: Invocation,
  inBlock: boolean,
  local: readonly RelationRef[] = [],
  placed?: Map<RelationRef, PlacedRows>,
): Promise<string[]> {
  const limit = await intermediateLimit(session);
  const pins = pinnedValues(dist);
  const samples = tableSamples(stmt, [...dist, ...local]);
  const dataParams: string[] = [];
  let total = 0;
  const substitute = (
    refs: readonly RelationRef[],
    allColumns: readonly ColumnInfo[],
    columns: string[],
    json: string,
  ) => {
    total += json.length;
    checkIntermediateSize(total, limit);
    const number = inv.params.length + dataParams.length + 1;
    dataParams.push(json);
    for (const ref of refs) {
      replaceWithRows(ref, number, allColumns, columns);
      placed?.set(ref, {
        index: dataParams.length - 1,
        shared: refs.length > 1,
        columns: columnInfos(columns, allColumns),
      });
    }
  };
  for (const refs of groupBy(dist, (r) => String(r.table.relationId))) {
    const table = refs[0].table;
    // A table read once can be pruned and filtered as that one reference allows.
    const single = refs.length === 1 ? refs[0] : null;
    const indexes =
      table.method === "n"
        ? [0]
        : single
          ? prunedIndexes(single, pins.get(single) ?? null, inv)
          : table.shards.map((_, i) => i);
    const allColumns = await session.tableColumns(table.relationId);
    const filters = single ? pushableFilters(single, allColumns) : [];
    const columns = usedColumns(stmt, refs, allColumns);
    const infos = columnInfos(columns, allColumns);
    const byGroup = new Map<number, number[]>();
    for (const i of indexes) {
      const group = table.shards[i].placements[0]?.groupId;
      if (group === undefined) throw new SqlError("55000", `shard ${table.shards[i].shardId} has no placement`);
      byGroup.set(group, [...(byGroup.get(group) ?? []), i]);
    }
    const shares = [...byGroup].map(([group, shardIndexes]) => ({
      node: nodeForGroup(metadata.nodes, group),
      read: {
        parts: shardIndexes.length,
        task: (from: number, to: number) => {
          const shards = shardIndexes.slice(from, to).map((i) => ({
            schemaname: table.schema,
            relname: shardRelname(table.relname, table.shards[i].shardId),
          }));
          const fetch = fetchQuery(shards, refs[0].refName, infos, filters, samples.get(refs[0]));
          return { sql: deparseStatement(fetch), params: [] };
        },
      },
    }));
    const opts = { transactional: inBlock, write: false };
    if (inv.explain) {
      const tasks = wholeTasks(shares);
      await inv.explain.rows(session, inv.params.length + dataParams.length + 1, tasks, opts);
    }
    // EXPLAIN without ANALYZE plans over no rows.
    const parts =
      inv.explain && !inv.explain.analyze
        ? []
        : (await session.remote.runReads(shares, inBlock)).flat().map((r) => r.rows[0][0]!);
    substitute(refs, allColumns, columns, joinJsonArrays(parts));
  }
  for (const refs of groupBy(local, (r) => `${r.schemaname ?? ""}.${r.relname}`)) {
    const { schemaname, relname } = refs[0];
    const oid = await localRelationId(session, refs[0]);
    if (oid === null) throw new SqlError("42P01", `relation "${relname}" does not exist`);
    const allColumns = await session.tableColumns(oid);
    const columns = usedColumns(stmt, refs, allColumns);
    const filters = refs.length === 1 ? pushableFilters(refs[0], allColumns) : [];
    const fetch = fetchQuery(
      [{ schemaname, relname }],
      refs[0].refName,
      columnInfos(columns, allColumns),
      filters,
      samples.get(refs[0]),
    );
    if (inv.explain) await inv.explain.localRows(session, fetch);
    // EXPLAIN without ANALYZE plans over no rows.
    const [[json]] =
      inv.explain && !inv.explain.analyze ? [["[]"]] : await session.internalQuery(deparseStatement(fetch));
    substitute(refs, allColumns, columns, json!);
  }
  unwrapSamples(stmt);
  return dataParams;
}

/**
 * The TABLESAMPLE clauses of the references: rows are sampled where they are fetched, each shard
 * on its own, as the sampling methods draw each row or block independently. A table read more than
 * once shares one fetch, which cannot sample for one reference only.
 */
function tableSamples(stmt: AstNode, refs: readonly RelationRef[]): Map<RelationRef, AstNode> {
  const byHolder = new Map<AstNode, AstNode>();
  walk(stmt, (node) => {
    const sample = node.RangeTableSample as AstNode | undefined;
    if (sample) byHolder.set(sample.relation as AstNode, sample);
  });
  const samples = new Map<RelationRef, AstNode>();
  for (const ref of refs) {
    const sample = ref.holder && byHolder.get(ref.holder);
    if (!sample) continue;
    const key = tableKey(ref.rangeVar);
    if (refs.some((r) => r !== ref && tableKey(r.rangeVar) === key)) {
      throw new SqlError(
        "0A000",
        `TABLESAMPLE on table "${ref.relname}" read more than once in a query is not supported`,
        {
          hint: "Sample the table in a CTE and read the CTE instead.",
        },
      );
    }
    samples.set(ref, sample);
  }
  return samples;
}

/** Puts the fetched rows of sampled references in the place of their TABLESAMPLE clauses. */
function unwrapSamples(stmt: AstNode): void {
  walk(stmt, (node) => {
    const sample = node.RangeTableSample as AstNode | undefined;
    const rows = (sample?.relation as AstNode | undefined)?.RangeSubselect;
    if (!rows) return;
    delete node.RangeTableSample;
    node.RangeSubselect = rows;
  });
}

/** The oid of the relation a reference to a table of the coordinator database names (search_path), or null. */
async function localRelationId(session: Session, ref: RelationRef): Promise<number | null> {
  const name = ref.schemaname ? quoteQualified(ref.schemaname, ref.relname) : quoteIdent(ref.relname);
  const [[oid]] = await session.internalQuery("SELECT pg_catalog.to_regclass($1)::oid", [Buffer.from(name)]);
  return oid === null ? null : Number(oid);
}

/**
 * The column names of the tables a statement's references name (distributed and local), by
 * RangeVar, for the planner; null for a relation that is not known.
 */
export async function relationColumns(
  session: Session,
  dist: readonly DistributedRef[],
  local: readonly RelationRef[] = [],
): Promise<(rangeVar: AstNode) => readonly string[] | null> {
  const columns = new Map<AstNode, readonly string[] | null>();
  const names = (all: readonly ColumnInfo[]) => all.map((c) => c.name);
  for (const r of dist) columns.set(r.rangeVar, names(await session.tableColumns(r.table.relationId)));
  for (const r of local) {
    const oid = await localRelationId(session, r);
    columns.set(r.rangeVar, oid === null ? null : names(await session.tableColumns(oid)));
  }
  return (rangeVar) => columns.get(rangeVar) ?? null;
}

/**
 * The references of a statement rewritten from one whose references were resolved (the same
 * names resolve alike): those naming distributed or reference tables, and the others.
 */
export function sameRefs(
  stmt: AstNode,
  resolved: readonly DistributedRef[],
): { dist: DistributedRef[]; local: RelationRef[] } {
  const byName = new Map(resolved.map((r) => [tableKey(r.rangeVar), r.table]));
  const dist: DistributedRef[] = [];
  const local: RelationRef[] = [];
  for (const r of collectRelationRefs(stmt)) {
    const table = byName.get(tableKey(r.rangeVar));
    if (table) dist.push({ ...r, table });
    else local.push(r);
  }
  return { dist, local };
}

/** A table's name as a reference writes it, qualified or not. */
export function tableKey(rv: AstNode): string {
  return `${(rv.schemaname as string | undefined) ?? ""}.${rv.relname as string}`;
}

/** The items in groups of equal keys, in the order the keys first occur. */
export function groupBy<T>(items: readonly T[], key: (item: T) => string): T[][] {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return [...groups.values()];
}

/** The columns named, in that order. */
function columnInfos(names: readonly string[], all: readonly ColumnInfo[]): ColumnInfo[] {
  return names.map((name) => all.find((c) => c.name === name)!);
}

/** The names of a table's columns the statement may use through the references. */
function usedColumns(stmt: AstNode, refs: readonly RelationRef[], all: readonly ColumnInfo[]): string[] {
  const mentioned = neededColumns(stmt, refs);
  return all.filter((c) => mentioned === null || mentioned.includes(c.name)).map((c) => c.name);
}

/** Joins JSON arrays given as text without parsing them. */
/** canopy.max_intermediate_result_size in bytes (Infinity when -1), read once per statement. */
export async function intermediateLimit(session: Session): Promise<{ kb: number; bytes: number }> {
  const kb = Number(await session.currentSetting("canopy.max_intermediate_result_size"));
  return { kb, bytes: kb < 0 ? Infinity : kb * 1024 };
}

/** Fails with 54000 when rows brought to the coordinator exceed the limit. */
export function checkIntermediateSize(bytes: number, limit: { kb: number; bytes: number }): void {
  if (bytes <= limit.bytes) return;
  throw new SqlError(
    "54000",
    `the intermediate result size exceeds canopy.max_intermediate_result_size (currently ${limit.kb} kB)`,
    {
      detail: "The query needs the rows of distributed tables on the coordinator.",
      hint: "Set canopy.max_intermediate_result_size to a higher value or -1 to disable, or filter by the distribution column.",
    },
  );
}

export function joinJsonArrays(parts: readonly string[]): string {
  const inner = parts.map((p) => p.trim().slice(1, -1).trim()).filter((p) => p.length > 0);
  return `[${inner.join(",")}]`;
}

/**
 * The query returning, as one JSON array, the rows of some relations of one table (the shards of
 * a table on one node, or a table of the coordinator database), read under the reference's name.
 */
function fetchQuery(
  relations: readonly { schemaname: string | undefined; relname: string }[],
  refName: string,
  columns: readonly ColumnInfo[],
  filters: readonly AstNode[],
  sample?: AstNode,
): AstNode {
  const branches = relations.map(({ schemaname, relname }) => {
    const relation = {
      RangeVar: {
        ...(schemaname ? { schemaname } : {}),
        relname,
        inh: true,
        relpersistence: "p",
        alias: { aliasname: refName },
      },
    };
    const select: AstNode = {
      targetList: columns.map((c) => ({
        ResTarget: { val: { ColumnRef: { fields: [{ String: { sval: refName } }, { String: { sval: c.name } }] } } },
      })),
      fromClause: [sample ? { RangeTableSample: { ...cloneAst(sample), relation } } : relation],
      limitOption: "LIMIT_OPTION_DEFAULT",
      op: "SETOP_NONE",
    };
    if (filters.length > 0) {
      select.whereClause =
        filters.length === 1 ? cloneAst(filters[0]) : { BoolExpr: { boolop: "AND_EXPR", args: cloneAst(filters) } };
    }
    return select;
  });
  return jsonRowsQuery(
    branches,
    columns.length,
    columns.map((c) => c.baseTypeOid),
  );
}

/**
 * `SELECT coalesce(json_agg(ARRAY[s.c0::text, …]), '[]')::text FROM (b1 UNION ALL b2 …) s(c0, …)`:
 * the rows of the branches (SELECT bodies of `width` columns) as one JSON array of arrays of their
 * values' text forms, read back on the coordinator by jsonRowsSubquery. `types`: the columns' type
 * OIDs (a domain's base type's), for the forms of transitText that bpchar and timestamptz values
 * travel in (a bpchar without a length, as max() of a char(n) column gives, has no other way to
 * keep its trailing spaces).
 */
export function jsonRowsQuery(branches: readonly AstNode[], width: number, types: readonly number[] = []): AstNode {
  const columns = Array.from({ length: width }, (_, i) => `c${i}`);
  const column = (name: string) => ({ ColumnRef: { fields: [{ String: { sval: "s" } }, { String: { sval: name } }] } });
  const text = (c: string, i: number) => transitText(column(c), types[i] ?? 0);
  const array = {
    TypeCast: {
      arg: {
        A_ArrayExpr: {
          elements: columns.map(text),
        },
      },
      typeName: typeNameNode("text[]"),
    },
  };
  const agg = {
    CoalesceExpr: {
      args: [
        {
          FuncCall: { funcname: [{ String: { sval: "json_agg" } }], args: [array], funcformat: "COERCE_EXPLICIT_CALL" },
        },
        { TypeCast: { arg: { A_Const: { sval: { sval: "[]" } } }, typeName: typeNameNode("json") } },
      ],
    },
  };
  return {
    SelectStmt: {
      targetList: [{ ResTarget: { val: { TypeCast: { arg: agg, typeName: typeNameNode("text") } } } }],
      fromClause: [
        {
          RangeSubselect: {
            subquery: { SelectStmt: unionAll(branches) },
            alias: {
              aliasname: "s",
              ...(width > 0 ? { colnames: columns.map((c) => ({ String: { sval: c } })) } : {}),
            },
          },
        },
      ],
      limitOption: "LIMIT_OPTION_DEFAULT",
      op: "SETOP_NONE",
    },
  };
}

/** The SELECT bodies as one `b1 UNION ALL b2 …` body. */
export function unionAll(branches: readonly AstNode[]): AstNode {
  let body: AstNode = branches[0];
  for (const b of branches.slice(1)) {
    body = { op: "SETOP_UNION", all: true, larg: body, rarg: b, limitOption: "LIMIT_OPTION_DEFAULT" };
  }
  return body;
}

/**
 * The columns of a table the statement may use: every column name it mentions, or null (all)
 * when it uses a whole row (`t.*`, `t` as a value, NATURAL joins).
 */
function neededColumns(stmt: AstNode, refs: readonly RelationRef[]): string[] | null {
  const names = new Set<string>();
  let all = false;
  const refNames = new Set(refs.map((r) => r.refName));
  walk(stmt, (node) => {
    const c = node.ColumnRef as { fields: AstNode[] } | undefined;
    if (c) {
      const fields = c.fields.map((f) => (f.String as { sval?: string } | undefined)?.sval ?? (f.A_Star ? "*" : null));
      if (fields.includes("*") || fields.includes(null)) {
        if (fields.length === 1 || refNames.has(fields[fields.length - 2] ?? "") || fields.length > 2) all = true;
      }
      if (fields.length === 1 && refNames.has(fields[0] ?? "")) all = true;
      for (const f of fields) if (f) names.add(f);
    }
    const join = node.JoinExpr as { isNatural?: boolean; usingClause?: AstNode[] } | undefined;
    if (join?.isNatural) all = true;
    for (const u of join?.usingClause ?? []) names.add((u.String as { sval: string }).sval);
  });
  if (all) return null;
  return [...names];
}

/** Functions whose result depends only on their arguments, safe to evaluate on a worker. */
const immutableFunctions = new Set([
  "abs",
  "lower",
  "upper",
  "length",
  "char_length",
  "substr",
  "substring",
  "btrim",
  "coalesce",
  "mod",
]);

/**
 * Conjuncts that may run on the workers while fetching a reference's rows: those restricting it
 * that refer only to its own columns, constants and immutable functions.
 */
function pushableFilters(ref: RelationRef, columns: readonly ColumnInfo[]): AstNode[] {
  const level = ref.level;
  // The target of UPDATE/DELETE is an item of its level too.
  const items =
    ((level.fromClause as AstNode[]) ?? []).length +
    ((level.usingClause as AstNode[]) ?? []).length +
    (level.relation ? 1 : 0);
  const sole = items === 1 && !((level.fromClause as AstNode[]) ?? []).some((f) => f.JoinExpr) && !ref.isTarget;
  // Only conditions that NULLs fail may move into the nullable side of an outer join; the join
  // conditions there qualify, WHERE conditions in general do not.
  const where = new Set(onNullableSide(ref) ? conjuncts(level.whereClause) : []);
  return applicableConjuncts(ref).filter((conj) => {
    if (where.has(conj)) return false;
    let ok = true;
    walk(conj, (node) => {
      if (!ok) return;
      const keys = Object.keys(node);
      if (keys.length !== 1) return;
      const kind = keys[0];
      if (kind === "ColumnRef") {
        const term = columnTerm(node);
        // An unqualified name not of the table's columns is the enclosing query's.
        const own =
          term !== null &&
          (term[0] === ref.refName || (term[0] === null && sole && columns.some((c) => c.name === term[1])));
        if (!own) ok = false;
      } else if (kind === "FuncCall") {
        const name = ((node.FuncCall as { funcname: AstNode[] }).funcname ?? []).map(
          (n) => (n.String as { sval: string }).sval,
        );
        if (name.length !== 1 || !immutableFunctions.has(name[0])) ok = false;
      } else if (
        kind === "SubLink" ||
        kind === "ParamRef" ||
        kind === "SQLValueFunction" ||
        kind === "CollateClause" ||
        kind === "TypeCast"
      ) {
        ok = false;
      }
    });
    return ok;
  });
}

/**
 * Replaces a reference by `(SELECT (x->>0)::type1 AS c1, … FROM json_array_elements($n) x) AS name`:
 * the fetched columns from their text forms, the others NULL of their types.
 */
function replaceWithRows(
  ref: RelationRef,
  paramNumber: number,
  allColumns: readonly { name: string; type: string; collation: readonly string[] | null }[],
  fetched: readonly string[],
): void {
  const alias = (ref.rangeVar.alias as AstNode | undefined) ?? { aliasname: ref.relname };
  const columns = allColumns.map((c) => ({ ...c, position: fetched.indexOf(c.name) }));
  const holder = ref.holder!;
  delete holder.RangeVar;
  holder.RangeSubselect = jsonRowsSubquery(columns, paramNumber, alias).RangeSubselect;
}

/**
 * `(SELECT (r->>i)::type [COLLATE c] AS name, … FROM json_array_elements($n::json) r) AS alias`:
 * rows that travel as a JSON array of arrays of their values' text forms, read back by the types'
 * input functions, in the columns' collations. A column whose position is negative is NULL of its
 * type. The function's alias `r` names the parameter, so that EXPLAIN finds the scan of each
 * parameter's rows.
 */
export function jsonRowsSubquery(
  columns: readonly { name: string; type: string; position: number; collation?: readonly string[] | null }[],
  paramNumber: number,
  outerAlias: AstNode,
): AstNode {
  const alias = rowsAlias(paramNumber);
  const targetList = columns.map((c) => {
    const value =
      c.position < 0
        ? { A_Const: { isnull: true } }
        : {
            A_Expr: {
              kind: "AEXPR_OP",
              name: [{ String: { sval: "->>" } }],
              lexpr: { ColumnRef: { fields: [{ String: { sval: alias } }] } },
              rexpr: { A_Const: { ival: { ival: c.position } } },
            },
          };
    const val = withCollation({ TypeCast: { arg: value, typeName: typeNameNode(c.type) } }, c.collation ?? null);
    return { ResTarget: { name: c.name, val } };
  });
  const source = {
    FuncCall: {
      funcname: [{ String: { sval: "pg_catalog" } }, { String: { sval: "json_array_elements" } }],
      args: [{ TypeCast: { arg: { ParamRef: { number: paramNumber } }, typeName: typeNameNode("json") } }],
      funcformat: "COERCE_EXPLICIT_CALL",
    },
  };
  const subquery = {
    SelectStmt: {
      targetList,
      fromClause: [{ RangeFunction: { functions: [{ List: { items: [source, {}] } }], alias: { aliasname: alias } } }],
      limitOption: "LIMIT_OPTION_DEFAULT",
      op: "SETOP_NONE",
    },
  };
  return { RangeSubselect: { subquery, alias: outerAlias } };
}

/** Whether a SELECT is the one of jsonRowsSubquery, reading rows from a JSON parameter. */
export function isParameterRows(select: AstNode): boolean {
  const from = select.fromClause as AstNode[] | undefined;
  const scan = from?.length === 1 ? (from[0].RangeFunction as AstNode | undefined) : undefined;
  const alias = (scan?.alias as { aliasname?: string } | undefined)?.aliasname;
  const params = scan ? [...paramNumbers(scan.functions)] : [];
  return params.length === 1 && alias === rowsAlias(params[0]);
}

/** The Bind values and formats of the invocation's parameters followed by text ones. */
export function bindValues(
  inv: Invocation,
  extraParams: readonly string[],
): { params: (Buffer | null)[]; formats: number[] } {
  const params = [...inv.params, ...extraParams.map((p) => Buffer.from(p, "utf8"))];
  let formats = [...inv.paramFormats];
  if (formats.length === 1 && inv.params.length > 1) formats = inv.params.map(() => inv.paramFormats[0]);
  if (extraParams.length > 0) {
    while (formats.length < inv.params.length) formats.push(0);
    for (let i = 0; i < extraParams.length; i++) formats.push(0);
  }
  return { params, formats };
}

/**
 * Runs SQL on the session's coordinator-database connection and sends its result to the client
 * (or hands each message of it to `onMessage`); with `sync`, ends it with a Sync.
 */
export async function runOnCoordinator(
  session: Session,
  sql: string,
  inv: Invocation,
  extraParams: readonly string[],
  paramTypes: readonly number[],
  onMessage: (code: number, message: Buffer) => void = (_, message) => emit(session, inv, message),
  sync = false,
): Promise<void> {
  // A statement asked to stop while its rows were read from the workers does not go on here: the
  // request found nothing of the coordinator database's to cancel then.
  session.interrupts.check();
  const { params, formats } = bindValues(inv, extraParams);
  const types = [...paramTypes];
  const forward = (code: number, message: Buffer) => {
    if (code === BackendCode.RowDescription || code === BackendCode.NoData) {
      if (inv.describe && code === BackendCode.RowDescription) onMessage(code, message);
    } else if (
      code === BackendCode.DataRow ||
      code === BackendCode.CommandComplete ||
      code === BackendCode.EmptyQueryResponse ||
      code === BackendCode.CopyOutResponse ||
      code === BackendCode.CopyData ||
      code === BackendCode.CopyDone
    ) {
      onMessage(code, message);
    }
  };
  const results = [
    session.internalRaw(FrontendCode.Parse, write.parse("", sql, types)),
    session.internalRaw(FrontendCode.Bind, write.bind("", "", params, formats, inv.resultFormats)),
    ...(inv.describe ? [session.internalRaw(FrontendCode.Describe, write.describe("P", ""), forward)] : []),
    session.internalRaw(FrontendCode.Execute, write.execute("", 0), forward),
    ...(sync ? [session.internalRaw(FrontendCode.Sync, write.sync())] : []),
  ];
  await session.flushAndAwait(results);
}

/**
 * Puts the coordinator's names back where a node's message names a shard (`<table>_<shardid>`) or
 * a shard's constraint or index (`<name>_<shardid>`): the suffix goes, and a name that
 * shardRelname shortened comes back whole when it is a table's or in `known` (shard name → name).
 */
export function shardNameStripper(
  tables: readonly TableRecord[],
  known: ReadonlyMap<string, string> = new Map(),
): (text: string | undefined) => string | undefined {
  const ids = new Set<string>();
  const exact = new Map(known);
  for (const table of tables) {
    for (const s of table.shards) {
      ids.add(String(s.shardId));
      exact.set(shardRelname(table.relname, s.shardId), table.relname);
    }
  }
  return (text) =>
    text?.replace(/([\p{L}\p{N}_$]+)_(\d{6,})(?![\p{L}\p{N}_$])/gu, (all, base: string, id: string) =>
      ids.has(id) ? (exact.get(all) ?? base) : all,
    );
}

/** Shard names in a node's error message are put back to the names the client used. */
export function mapShardNames(
  e: unknown,
  tables: readonly TableRecord[],
  known?: ReadonlyMap<string, string>,
): unknown {
  if (!isWorkerError(e)) return e;
  const strip = shardNameStripper(tables, known);
  const f = e.fields;
  return new RemoteError({
    ...f,
    message: strip(f.message)!,
    detail: strip(f.detail),
    hint: strip(f.hint),
    where: undefined,
    position: undefined,
    table: strip(f.table),
    constraint: strip(f.constraint),
  });
}

/**
 * As mapShardNames, and where the error names a constraint or index by a shard name that
 * shardRelname shortened (`<cut name>_<hash>_<shardid>`), the whole name is looked up in the
 * coordinator database's catalog (in the session's transaction, which the error has not failed yet).
 */
export async function mapShardNamesFromCatalog(
  session: Session,
  e: unknown,
  tables: readonly TableRecord[],
): Promise<unknown> {
  if (!isWorkerError(e)) return e;
  const f = e.fields;
  const tableOfShard = new Map(tables.flatMap((t) => t.shards.map((s) => [String(s.shardId), t] as const)));
  const shortened = new Map<string, TableRecord>();
  for (const text of [f.message, f.detail, f.hint, f.constraint]) {
    for (const [, id] of text?.matchAll(/_[0-9a-f]{8}_(\d{6,})/g) ?? []) {
      const table = tableOfShard.get(id);
      if (table) shortened.set(id, table);
    }
  }
  if (shortened.size === 0) return mapShardNames(e, tables);
  const relationIds = [...new Set([...shortened.values()].map((t) => String(t.relationId)))];
  const rows = await session
    .internalQuery(
      `SELECT conname::text, conrelid FROM pg_catalog.pg_constraint WHERE conrelid = ANY ($1::oid[])
       UNION ALL
       SELECT c.relname::text, i.indrelid FROM pg_catalog.pg_index i
         JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = ANY ($1::oid[])`,
      [Buffer.from(arrayLiteral(relationIds))],
    )
    .catch(() => []);
  const known = new Map<string, string>();
  for (const [name, relationId] of rows) {
    for (const [id, table] of shortened) {
      if (String(table.relationId) === relationId) known.set(shardRelname(name!, Number(id)), name!);
    }
  }
  return mapShardNames(e, tables, known);
}

/** Whether an error is a worker's (not the coordinator database's). */
export function isWorkerError(e: unknown): e is RemoteError {
  return e instanceof RemoteError && !!(e as RemoteError & { fromWorker?: boolean }).fromWorker;
}

/** COMMIT, ROLLBACK and savepoints: the remote transactions end with the coordinator's. */
export async function runTransactionControl(
  session: Session,
  st: InterceptedStatement,
  inv: Invocation,
): Promise<void> {
  const open = session.remote.hasOpenTransactions();
  const kind = st.transaction;
  if (open) {
    if (kind === "TRANS_STMT_COMMIT") {
      if (session.pipe!.transactionStatus === 0x45) {
        await session.remote.rollbackAll();
      } else {
        try {
          await commitBlock(session, () => runTransactionStatement(session, st, inv));
          return;
        } catch (e) {
          // Unless the failed COMMIT ended the coordinator database's transaction itself.
          await session.pipe!.idle();
          if (session.pipe!.transactionStatus !== 0x49) await session.internalQuery("ROLLBACK").catch(() => {});
          throw e;
        }
      }
    } else if (kind === "TRANS_STMT_ROLLBACK") {
      await session.remote.rollbackAll();
    } else if (kind === "TRANS_STMT_SAVEPOINT" || kind === "TRANS_STMT_RELEASE" || kind === "TRANS_STMT_ROLLBACK_TO") {
      // The coordinator database first: it checks the name and the transaction's state.
      await runOnCoordinator(session, st.sql, inv, [], st.paramTypes);
      await session.remote.savepoint(savepointKind(kind), savepointName(st));
      session.remote.constraintModes.savepoint(savepointKind(kind), savepointName(st));
      return;
    } else if (kind === "TRANS_STMT_PREPARE" && session.pipe!.transactionStatus === 0x45) {
      // PREPARE TRANSACTION of a failed block rolls it back, as PostgreSQL's does.
      await session.remote.rollbackAll();
    } else if (kind === "TRANS_STMT_PREPARE") {
      throw new SqlError("0A000", "PREPARE TRANSACTION is not supported in transactions that reached worker nodes", {
        hint: "Canopy commits distributed transactions in two phases itself; use COMMIT.",
      });
    }
    // BEGIN, COMMIT / ROLLBACK PREPARED: the coordinator database's answer (a warning, 25001, 25P02).
  }
  await runTransactionStatement(session, st, inv);
  if (kind === "TRANS_STMT_SAVEPOINT" || kind === "TRANS_STMT_RELEASE" || kind === "TRANS_STMT_ROLLBACK_TO") {
    session.remote.constraintModes.savepoint(savepointKind(kind), savepointName(st));
  }
}

function savepointKind(kind: string): "set" | "release" | "rollback" {
  return kind === "TRANS_STMT_SAVEPOINT" ? "set" : kind === "TRANS_STMT_RELEASE" ? "release" : "rollback";
}

function savepointName(st: InterceptedStatement): string {
  return (st.stmt.TransactionStmt as { savepoint_name: string }).savepoint_name;
}

/**
 * Runs a transaction control statement in the coordinator database. When the client's Sync
 * follows, the statement carries it: the transaction's end is known without another round trip.
 */
function runTransactionStatement(session: Session, st: InterceptedStatement, inv: Invocation): Promise<void> {
  const sync = session.syncFollows(inv.describe);
  return runOnCoordinator(session, st.sql, inv, [], st.paramTypes, undefined, sync);
}

/** Like Promise.all, but waits for every promise to settle before throwing the first error. */
export async function settleAll<T>(promises: readonly Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}
