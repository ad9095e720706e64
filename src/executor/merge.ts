// MERGE over distributed tables. Into a table of the coordinator database it takes the fallback:
// the rows of the distributed tables it reads are fetched and PostgreSQL runs the MERGE. Into a
// distributed or reference table:
// - Shard by shard, when every shard can decide alone, as in Citus: the source is a table
//   co-located with the target, joined on both distribution columns, no action changes the
//   target's distribution column, and an INSERT takes it from the source's. A source row then
//   meets, on its own shard, every target row it can match, and a row it inserts belongs there.
// - Through the coordinator otherwise (any source: a subquery, VALUES, a local table, tables of
//   other co-location groups): the source runs first as a query of its own (router, pushdown,
//   recursive or fallback), and each of its rows goes to the shard its value for the target's
//   distribution column hashes to, where the MERGE reads the shard's rows from a JSON parameter in
//   the source's place. This needs the join condition to equate the target's distribution column
//   with a column of the source (so a row can only match target rows of that shard), and an INSERT
//   to take that column's value (so the row it inserts belongs there). A reference table's one
//   shard gets every row.
import { SqlError } from "../errors.js";
import type { AstNode } from "../sql/ast.js";
import { cloneAst, exprKey, stringList, walk } from "../sql/ast.js";
import { deparseStatement } from "../sql/parse.js";
import { callsSequence, evaluateTransactionValues } from "./defaults.js";
import { nodeForGroup } from "../commands/distribute.js";
import {
  comparableKeyType,
  intermediateLimit,
  jsonRowsSubquery,
  parameterTypes,
  placementsOf,
  renameToShard,
  renumberParams,
  rowShardIndex,
  runModifyTasks,
  runRead,
  shardIndexOf,
  withDataParams,
} from "./distributed.js";
import { describeColumns } from "./pushdown.js";
import { RowCollector, standaloneInvocation, standaloneSelect } from "./subplans.js";
import { canonicalValues } from "./canonical.js";
import { collectRelationRefs, type DistributedRef } from "../planner/analyze.js";
import type { Task } from "./explain.js";
import { referenceShards, type MetadataSnapshot } from "../metadata/cache.js";
import type { Session } from "../server/session.js";
import type { InterceptedStatement, Invocation } from "../commands/intercept.js";

interface MergeParts {
  relation: AstNode;
  sourceRelation: AstNode;
  joinCondition: AstNode;
  mergeWhenClauses: AstNode[];
  withClause?: AstNode;
}

interface WhenClause {
  matchKind: string;
  commandType: string;
  targetList?: { ResTarget: { name: string } }[];
  values?: AstNode[];
}

/** One MERGE into a distributed or reference table. */
interface MergeInto {
  readonly session: Session;
  readonly st: InterceptedStatement;
  readonly stmt: AstNode;
  readonly target: DistributedRef;
  readonly metadata: MetadataSnapshot;
  readonly inv: Invocation;
  readonly inBlock: boolean;
}

/** Runs a MERGE into a distributed or reference table, or refuses it (0A000) naming why it cannot. */
export async function mergeIntoDistributed(
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
  const x: MergeInto = { session, st, stmt, target, metadata, inv, inBlock };
  const merge = stmt.MergeStmt as MergeParts;
  await refuseActions(x);
  const source = dist.find((r) => r.rangeVar === (merge.sourceRelation.RangeVar as AstNode | undefined));
  const table = target.table;
  const key = table.partitionKey;
  const shardByShard =
    table.method === "h" &&
    !!source &&
    source.table.method === "h" &&
    source.table.colocationId === table.colocationId &&
    !hasLocal &&
    dist.length <= 2 &&
    !merge.withClause &&
    conjuncts(merge.joinCondition).some((c) => joinsKeys(c, target, key!, source, source.table.partitionKey!)) &&
    (await insertedKeys(x)).every((v) => v !== undefined && isColumn(v, source, source.table.partitionKey!));
  if (!shardByShard) return mergeThroughCoordinator(x);
  await evaluateTransactionValues(session, stmt);
  const originals = collectRelationRefs(stmt);
  const tasks: Task[] = [];
  table.shards.forEach((shard, index) => {
    const copy = cloneAst(stmt);
    collectRelationRefs(copy).forEach((ref, i) => {
      const d = dist.find((r) => r.rangeVar === originals[i].rangeVar)!;
      renameToShard({ ...ref, table: d.table }, d.table.shards[index].shardId);
    });
    const params = renumberParams(copy, inv);
    const sql = deparseStatement(copy);
    for (const group of placementsOf(table, index))
      tasks.push({ node: nodeForGroup(metadata.nodes, group), sql, params });
  });
  await runModifyTasks(session, st, tasks, inv, inBlock, "MERGE", [], null);
}

function refusal(target: DistributedRef, why: string): SqlError {
  return new SqlError("0A000", `MERGE into distributed table "${target.relname}" is not supported: ${why}`, {
    hint: "Join the source on the target's distribution column and insert that column's value from it, or run the MERGE's actions as INSERT … ON CONFLICT, UPDATE and DELETE.",
  });
}

/** Refuses what neither way can run: actions the shards cannot evaluate as PostgreSQL would. */
async function refuseActions(x: MergeInto): Promise<void> {
  const { session, stmt, target } = x;
  const merge = stmt.MergeStmt as MergeParts;
  const key = target.table.partitionKey;
  const coordinatorDefaults = (await session.tableColumns(target.table.relationId)).filter((c) => c.coordinatorDefault);
  for (const node of merge.mergeWhenClauses) {
    const when = node.MergeWhenClause as WhenClause;
    const names = await actionColumns(x, when);
    if (when.commandType === "CMD_UPDATE" && key !== null && names.includes(key)) {
      throw refusal(target, "an UPDATE action changes the distribution column");
    }
    if (when.commandType !== "CMD_INSERT") continue;
    const defaulted = coordinatorDefaults.find((c) => !names.includes(c.name));
    if (defaulted)
      throw refusal(target, `an INSERT action leaves out "${defaulted.name}", whose default the coordinator evaluates`);
  }
  // Everything but the source (and the WITH clause it may read) runs on the shards.
  const onShards = { ...merge, sourceRelation: undefined, withClause: undefined };
  if (callsSequence(onShards)) {
    throw refusal(target, "an action calls a sequence function, whose sequence lives on the coordinator");
  }
  // (The target is the statement's relation, a RangeVar not wrapped as a node.)
  walk(onShards, (node) => {
    if (node.RangeVar) {
      throw refusal(target, "its join condition or an action reads a table; only the source may");
    }
  });
}

/** The columns an action gives values: its column list, or the target's first ones in order. */
async function actionColumns(x: MergeInto, when: WhenClause): Promise<string[]> {
  if (when.targetList) return when.targetList.map((t) => t.ResTarget.name);
  if (when.commandType !== "CMD_INSERT") return [];
  const all = await x.session.tableColumns(x.target.table.relationId);
  return all.slice(0, when.values?.length ?? 0).map((c) => c.name);
}

/** The values the INSERT actions give the target's distribution column (undefined: none). */
async function insertedKeys(x: MergeInto): Promise<(AstNode | undefined)[]> {
  const merge = x.stmt.MergeStmt as MergeParts;
  const out: (AstNode | undefined)[] = [];
  for (const node of merge.mergeWhenClauses) {
    const when = node.MergeWhenClause as WhenClause;
    if (when.commandType !== "CMD_INSERT") continue;
    const names = await actionColumns(x, when);
    out.push(when.values?.[names.indexOf(x.target.table.partitionKey!)]);
  }
  return out;
}

/**
 * The source's name in the statement, as its columns are qualified: its alias, else its table's
 * or function's name; null for a join, which names several.
 */
function sourceName(source: AstNode): string | null {
  const alias = (node: AstNode | undefined) => (node?.alias as { aliasname?: string } | undefined)?.aliasname;
  const rv = source.RangeVar as AstNode | undefined;
  if (rv) return alias(rv) ?? (rv.relname as string);
  const sub = source.RangeSubselect as AstNode | undefined;
  if (sub) return alias(sub) ?? null;
  const fn = source.RangeFunction as { alias?: AstNode; functions?: AstNode[] } | undefined;
  if (!fn) return null;
  const named = alias(fn as AstNode);
  if (named) return named;
  const calls = fn.functions ?? [];
  const call = calls.length === 1 ? ((calls[0].List as { items: AstNode[] }).items[0].FuncCall as AstNode) : undefined;
  return call ? stringList(call.funcname).pop()! : null;
}

/**
 * MERGE through the coordinator: the source runs as a query of its own, its rows are routed to the
 * target's shards by the value the join condition compares the distribution column with, and each
 * shard receiving rows runs the MERGE over them.
 */
async function mergeThroughCoordinator(x: MergeInto): Promise<void> {
  const { session, st, stmt, target, metadata, inv, inBlock } = x;
  const merge = stmt.MergeStmt as MergeParts;
  const table = target.table;
  const name = sourceName(merge.sourceRelation);
  if (name === null) throw refusal(target, "its source is a join");
  let keyValue: AstNode | null = null;
  if (table.method === "h") {
    const targetColumns = new Set((await session.tableColumns(table.relationId)).map((c) => c.name));
    const source = { name, targetColumns };
    keyValue =
      conjuncts(merge.joinCondition)
        .map((c) => comparedWithKey(c, target, table.partitionKey!, source))
        .find((v) => v !== null) ?? null;
    if (keyValue === null) {
      throw refusal(
        target,
        `its join condition does not equate ${target.refName}.${table.partitionKey} with a column of the source`,
      );
    }
    const column = keyValue;
    if (!(await insertedKeys(x)).every((v) => v !== undefined && sameExpression(v, column, source))) {
      throw refusal(
        target,
        `an INSERT action does not take ${table.partitionKey} from the source's value it is joined with`,
      );
    }
  }
  if (inv.explain?.analyze) {
    throw new SqlError("0A000", "EXPLAIN ANALYZE of MERGE through the coordinator is not supported", {
      hint: "Use EXPLAIN without ANALYZE to see the plan.",
    });
  }
  // SELECT <the key's value>, * FROM <source>, with the MERGE's WITH clause.
  const star = { ResTarget: { val: { ColumnRef: { fields: [{ A_Star: {} }] } } } };
  const select: AstNode = {
    targetList: keyValue ? [{ ResTarget: { val: cloneAst(keyValue) } }, star] : [star],
    fromClause: [cloneAst(merge.sourceRelation)],
    limitOption: "LIMIT_OPTION_DEFAULT",
    op: "SETOP_NONE",
  };
  if (merge.withClause) select.withClause = cloneAst(merge.withClause);
  const paramTypes = inv.params.length > 0 ? await parameterTypes(session, st.sql, st.paramTypes) : [];
  const fields = await describeColumns(session, select, paramTypes);
  if (keyValue) {
    const type = fields[0].typeOid;
    if (!comparableKeyType(type, table.partitionType)) {
      throw refusal(
        target,
        `the source's value joined with ${table.partitionKey} is of type ${fields[0].typeName}, not of the distribution column's type`,
      );
    }
  }
  const columns = fields.slice(keyValue ? 1 : 0).map((f, i) => ({
    name: f.name,
    type: f.typeName,
    position: i,
    collation: f.collation,
  }));
  if (columns.some((c) => c.type === "record" || c.type === "record[]")) {
    throw refusal(target, "a column of its source is of an anonymous record type");
  }

  const rowsParam = inv.params.length + 1;
  const template = cloneAst(stmt);
  const tm = template.MergeStmt as MergeParts;
  delete tm.withClause;
  tm.sourceRelation = jsonRowsSubquery(columns, rowsParam, { aliasname: name });
  // The join condition and actions run on the shards: now() and the like take the coordinator's values.
  await evaluateTransactionValues(session, template);

  let byShard: Map<number, string[]>;
  if (inv.explain) {
    // Under EXPLAIN the source is explained as a subplan, and every shard's MERGE over no rows.
    const nested = inv.explain.nested();
    await runRead(
      session,
      standaloneSelect(select, paramTypes),
      standaloneInvocation(inv, { explain: nested }),
      inBlock,
    );
    inv.explain.subplan(nested);
    byShard = new Map(table.shards.map((_, i) => [i, []]));
  } else {
    const collect = new RowCollector(await intermediateLimit(session), 0, keyValue !== null);
    await runRead(session, standaloneSelect(select, paramTypes), standaloneInvocation(inv, { collect }), inBlock);
    byShard = await routeSourceRows(x, collect);
  }

  const tasks: Task[] = [];
  for (const [index, rows] of byShard) {
    const shardId = table.shards[index].shardId;
    const copy = cloneAst(template);
    const ref = collectRelationRefs(copy).find((r) => r.isTarget)!;
    renameToShard({ ...ref, table }, shardId);
    const params = renumberParams(copy, withDataParams(inv, [`[${rows.join(",")}]`]));
    const sql = deparseStatement(copy);
    for (const group of placementsOf(table, index))
      tasks.push({ node: nodeForGroup(metadata.nodes, group), sql, params });
  }
  await runModifyTasks(session, st, tasks, inv, inBlock, "MERGE", referenceShards([table]), null);
}

/**
 * The source's rows by the target shard index their key hashes to. A row without a key matches no
 * target row: it is dropped unless an INSERT action may insert it, which its shard refuses as
 * PostgreSQL does when the column is NOT NULL, and which fails as an INSERT of NULL into the
 * distribution column does otherwise.
 */
async function routeSourceRows(x: MergeInto, collect: RowCollector): Promise<Map<number, string[]>> {
  const table = x.target.table;
  const byShard = new Map<number, string[]>();
  const add = (index: number, row: string) => {
    let list = byShard.get(index);
    if (!list) byShard.set(index, (list = []));
    list.push(row);
  };
  if (table.method !== "h") {
    const rows = collect.json();
    if (rows !== "[]") byShard.set(0, [rows.slice(1, -1)]);
    return byShard;
  }
  const { keys, rows } = collect.keyedRows();
  const inserts = (await insertedKeys(x)).length > 0;
  // A NOT NULL distribution column refuses such a row on any shard, as PostgreSQL would, and only
  // if an INSERT action's condition holds for it: the first shard gets it.
  const notNull =
    inserts &&
    keys.includes(null) &&
    (
      await x.session.internalQuery(
        "SELECT attnotnull FROM pg_catalog.pg_attribute WHERE attrelid = $1::pg_catalog.oid AND attname = $2",
        [Buffer.from(String(table.relationId)), Buffer.from(table.partitionKey!)],
      )
    )[0]?.[0] === "t";
  const unread: number[] = [];
  keys.forEach((key, i) => {
    if (key === null) {
      if (notNull) add(0, rows[i]);
      else if (inserts) rowShardIndex(table, null, "INSERT");
      return;
    }
    const index = shardIndexOf(table, key);
    if (index === null) unread.push(i);
    else add(index, rows[i]);
  });
  if (unread.length > 0) {
    // A value printed in a DateStyle hash.ts does not read is read by the coordinator database.
    const canonical = await canonicalValues(
      x.session,
      table.partitionType,
      unread.map((i) => keys[i]!),
    );
    unread.forEach((i, k) => add(rowShardIndex(table, canonical[k], "INSERT"), rows[i]));
  }
  return byShard;
}

/** How the source's columns are told from the target's in a join condition. */
interface SourceNames {
  /** The source's name, which qualifies its columns. */
  readonly name: string;
  /** The target's columns: an unqualified name among them is not the source's. */
  readonly targetColumns: ReadonlySet<string>;
}

/**
 * The source's side of a conjunct `target.key = <source column>` (the column possibly cast), or
 * null when the conjunct is not one.
 */
function comparedWithKey(expr: AstNode, target: DistributedRef, key: string, source: SourceNames): AstNode | null {
  const eq = expr.A_Expr as { kind: string; name: AstNode[]; lexpr: AstNode; rexpr: AstNode } | undefined;
  if (eq?.kind !== "AEXPR_OP" || stringList(eq.name).join(".") !== "=") return null;
  const keyRef = (e: AstNode) => isColumn(e, target, key, true);
  const sourceSide = (e: AstNode) => sourceColumn(e, source) !== null;
  if (keyRef(eq.lexpr) && sourceSide(eq.rexpr)) return eq.rexpr;
  if (keyRef(eq.rexpr) && sourceSide(eq.lexpr)) return eq.lexpr;
  return null;
}

/**
 * The column of a reference to the source's (possibly cast): qualified by the source's name, or
 * unqualified and not the target's (in an INSERT action's values only the source's are visible).
 */
function sourceColumn(expr: AstNode, source: SourceNames, insertValue = false): string | null {
  const cast = expr.TypeCast as { arg: AstNode } | undefined;
  if (cast) return sourceColumn(cast.arg, source, insertValue);
  const fields = stringList((expr.ColumnRef as { fields?: unknown } | undefined)?.fields);
  if (fields.length === 2 && fields[0] === source.name) return fields[1];
  return fields.length === 1 && (insertValue || !source.targetColumns.has(fields[0])) ? fields[0] : null;
}

/**
 * Whether an INSERT action's value is the join's source value: the same expression, or the same
 * column of the source however qualified.
 */
function sameExpression(value: AstNode, joined: AstNode, source: SourceNames): boolean {
  if (exprKey(value) === exprKey(joined)) return true;
  if (!value.ColumnRef || !joined.ColumnRef) return false;
  const column = sourceColumn(joined, source);
  return column !== null && sourceColumn(value, source, true) === column;
}

function conjuncts(expr: AstNode): AstNode[] {
  const and = expr.BoolExpr as { boolop: string; args: AstNode[] } | undefined;
  return and?.boolop === "AND_EXPR" ? and.args.flatMap(conjuncts) : [expr];
}

function joinsKeys(
  expr: AstNode,
  target: DistributedRef,
  key: string,
  source: DistributedRef,
  sourceKey: string,
): boolean {
  const eq = expr.A_Expr as { kind: string; name: AstNode[]; lexpr: AstNode; rexpr: AstNode } | undefined;
  if (eq?.kind !== "AEXPR_OP" || stringList(eq.name).join(".") !== "=") return false;
  const pair = (a: AstNode, b: AstNode) => isColumn(a, target, key, true) && isColumn(b, source, sourceKey, true);
  return pair(eq.lexpr, eq.rexpr) || pair(eq.rexpr, eq.lexpr);
}

/**
 * Whether an expression is the reference's column: qualified by its name, or (where only the
 * source's columns are visible, in an INSERT action's values) unqualified.
 */
function isColumn(expr: AstNode, ref: DistributedRef, column: string, qualified = false): boolean {
  const fields = stringList((expr.ColumnRef as { fields?: unknown } | undefined)?.fields);
  if (fields.length === 2) return fields[0] === ref.refName && fields[1] === column;
  return !qualified && fields.length === 1 && fields[0] === column;
}
