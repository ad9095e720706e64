// UPDATE and DELETE of distributed and reference tables.
//
// - Router: every distributed table the statement reads is pinned to the target's one shard, so
//   the statement runs there with the tables renamed to their shards.
// - Shard by shard: otherwise the statement runs on each (pruned) shard of the target, naming the
//   shards of the same index of the tables it reads shard-locally (planner/modify.ts) and the one
//   shard of each reference table.
// - The rows of every other table it reads (other co-location groups, subqueries not correlated
//   on the distribution column, local tables) are fetched first, as the fallback fetches them, and
//   travel with each shard's statement as JSON parameters: every shard reads all of them.
// - UPDATE of the distribution column: each shard updates its rows and returns them whole; the
//   rows whose new value belongs to another shard are deleted there and inserted into their new
//   shard, all in the statement's distributed transaction, so their unique keys are checked there.
import { SqlError } from "../errors.js";
import { referenceShards, type MetadataSnapshot, type TableRecord } from "../metadata/cache.js";
import { canonicalValues } from "./canonical.js";
import {
  cloneAst,
  expressionFromTemplate,
  stringList,
  transitText,
  typeNameNode,
  walk,
  type AstNode,
} from "../sql/ast.js";
import { deparseStatement } from "../sql/parse.js";
import { arrayLiteral } from "../sql/quote.js";
import { shardRelname } from "../commands/shard_ddl.js";
import { nodeForGroup } from "../commands/distribute.js";
import {
  collectRelationRefs,
  keyJoins,
  pinnedValues,
  type DistributedRef,
  type RelationRef,
} from "../planner/analyze.js";
import { shardLocalRefs, withDerivedRefs } from "../planner/subqueries.js";
import { localityContext } from "../planner/pushdown.js";
import type { Session } from "../server/session.js";
import type { Invocation, InterceptedStatement } from "../commands/intercept.js";
import { calledFunctions, functionFacts, shardSafety } from "./pushdown.js";
import {
  callsSequence,
  evaluateTransactionValues,
  sequenceFunctions,
  transactionFunctions,
  type ColumnInfo,
} from "./defaults.js";
import {
  cloneForShard,
  comparableKeyType,
  prunedByArrayParams,
  shardIndexOf,
  type PlacedRows,
  executeTasks,
  jsonRowsSubquery,
  placementsOf,
  prunedIndexes,
  relationColumns,
  renameToShard,
  renumberParams,
  reportModify,
  returns,
  routerTarget,
  runModifyTasks,
  sendRowDescription,
  shardKeyLists,
  rowShardIndex,
  substituteShardRows,
  updatesPartitionKey,
  withDataParams,
  workerResultFormats,
  binaryReturningRefusal,
  resultWidth,
  type Task,
} from "./distributed.js";
import { parseDataRow, write } from "../protocol/messages.js";

/** One execution of an UPDATE or DELETE. */
export interface Modification {
  readonly session: Session;
  readonly st: InterceptedStatement;
  /** This execution's copy of the statement, rewritten in place. */
  readonly stmt: AstNode;
  /** The references to distributed and reference tables, the target among them. */
  readonly dist: readonly DistributedRef[];
  /** The references to tables of the coordinator database. */
  readonly local: readonly RelationRef[];
  readonly target: DistributedRef;
  readonly metadata: MetadataSnapshot;
  readonly inv: Invocation;
  readonly inBlock: boolean;
}

type Assignment = { ResTarget: { name: string; val?: AstNode } };

/** UPDATE/DELETE of a distributed or reference table: on one shard (router) or on each of them. */
export async function modify(m: Modification): Promise<void> {
  const { session, st, stmt, dist, local, target, metadata, inv, inBlock } = m;
  const table = target.table;
  if (table.method === "n") await refuseVolatileOnReplicas(session, stmt, table);
  await prepareModification(session, stmt, stmt.UpdateStmt as AstNode | undefined, table);
  const route = table.method === "h" ? routerTarget(dist, metadata, inv) : null;
  // Only the router runs a data-modifying WITH as it is: on the one shard all its tables are on.
  if (local.some((r) => r.isTarget) || (!route && dist.some((r) => r.isTarget && r !== target))) {
    throw new SqlError("0A000", "data-modifying WITH in a multi-shard UPDATE or DELETE is not supported", {
      hint: "Run the modifications as separate statements in one transaction.",
    });
  }
  let indexes: number[];
  let fetched: DistributedRef[] = [];
  if (route) {
    indexes = [route.indexes.get(target)!];
  } else {
    indexes =
      table.method === "n"
        ? [0]
        : prunedByArrayParams(target, prunedIndexes(target, pinnedValues(dist).get(target) ?? null, inv), inv);
    const others = dist.filter((r) => r !== target && r.table.method === "h");
    const shardLocal = table.method === "h" && others.length > 0 ? await findShardLocal(m) : new Set();
    fetched = others.filter((r) => !shardLocal.has(r));
  }
  const moves = table.method === "h" && updatesPartitionKey(stmt, table);
  // RETURNING sees the rows' new distribution values, whose rows of other tables are elsewhere.
  if (moves) fetched = [...new Set([...fetched, ...readInReturning(stmt, dist)])];
  const manyShards = indexes.length > 1 || placementsOf(table, indexes[0]).length > 1;
  if (manyShards && (fetched.length > 0 || local.length > 0)) await refuseVolatileSubqueries(session, stmt);
  // Rows joined on the target's distribution column go to the shards their values hash to only
  // (not when moving rows: a row's new shard reads them too; nor for EXPLAIN over no rows).
  const joins =
    table.method === "h" && !route && !moves && !(inv.explain && !inv.explain.analyze)
      ? keyJoins(target, [...fetched, ...local])
      : new Map<RelationRef, string>();
  const placed = new Map<RelationRef, PlacedRows>();
  const dataParams =
    fetched.length > 0 || local.length > 0
      ? await substituteShardRows(session, stmt, fetched, metadata, inv, inBlock, local, placed)
      : [];
  const split = joins.size > 0 ? await splitJoinedRows(session, table, joins, placed, dataParams) : null;
  if (split) {
    // A shard none of a split parameter's rows go to has no row to change; one runs anyway, so
    // that a statement changing nothing still answers as PostgreSQL does (RETURNING's columns).
    const reached = indexes.filter((i) => split.shards.has(i));
    indexes = reached.length > 0 ? reached : indexes.slice(0, 1);
  }
  const invocation = withDataParams(inv, dataParams);
  if (moves) await returnWholeRows(session, stmt, target);

  const originals = collectRelationRefs(stmt);
  const lists = shardKeyLists(
    originals.flatMap((o) => {
      const d = dist.find((r) => r.rangeVar === o.rangeVar);
      return d ? [{ ...o, table: d.table }] : [];
    }),
    inv,
  );
  const tasks: Task[] = [];
  for (const index of indexes) {
    const copy = cloneForShard(stmt, lists, index);
    const refs = collectRelationRefs(copy);
    originals.forEach((o, i) => {
      const d = dist.find((r) => r.rangeVar === o.rangeVar);
      if (d) renameToShard({ ...refs[i], table: d.table }, d.table.shards[d.table.method === "n" ? 0 : index].shardId);
    });
    const params = renumberParams(copy, split ? withDataParams(inv, split.paramsOf(index)) : invocation);
    const sql = deparseStatement(copy);
    for (const group of placementsOf(table, index)) {
      tasks.push({ node: nodeForGroup(metadata.nodes, group), sql, params });
    }
  }
  const partitionKey = route?.partitionKey ?? null;
  if (moves) return moveRows(m, tasks, indexes, "UPDATE", partitionKey);
  const tag = stmt.UpdateStmt ? "UPDATE" : "DELETE";
  await runModifyTasks(session, st, tasks, invocation, inBlock, tag, referenceShards([table]), partitionKey);
}

/**
 * The rows of the parameters of references joined on the target's distribution column
 * (`target.key = x.col`, keyJoins), split by the shard each row's value hashes to: such a row can
 * meet target rows of that shard only, and a row without a value meets none. A reference is split
 * when its parameter is its own and its column's type hashes as the distribution column's does.
 * `shards`: the shards that get rows of every split parameter; `paramsOf`: a shard's parameters.
 * Null when no reference is split.
 */
async function splitJoinedRows(
  session: Session,
  table: TableRecord,
  joins: ReadonlyMap<RelationRef, string>,
  placed: ReadonlyMap<RelationRef, PlacedRows>,
  dataParams: readonly string[],
): Promise<{ shards: Set<number>; paramsOf: (index: number) => string[] } | null> {
  const byParam = new Map<number, Map<number, string[]>>();
  for (const [ref, column] of joins) {
    const rows = placed.get(ref);
    const position = rows?.columns.findIndex((c) => c.name === column) ?? -1;
    if (!rows || rows.shared || position < 0) continue;
    if (!comparableKeyType(rows.columns[position].baseTypeOid, table.partitionType)) continue;
    const values = JSON.parse(dataParams[rows.index]) as (string | null)[][];
    const keys = values.map((v) => v[position]);
    const indexes = keys.map((k) => shardIndexOf(table, k));
    const unread = keys.flatMap((k, i) => (k !== null && indexes[i] === null ? [i] : []));
    if (unread.length > 0) {
      // A value printed in a form hash.ts does not read is read by the coordinator database.
      const canonical = await canonicalValues(
        session,
        table.partitionType,
        unread.map((i) => keys[i]!),
      );
      unread.forEach((i, k) => (indexes[i] = shardIndexOf(table, canonical[k])));
      if (unread.some((i) => indexes[i] === null)) continue;
    }
    const byShard = new Map<number, string[]>();
    values.forEach((v, i) => {
      const index = indexes[i];
      if (index === null) return;
      let list = byShard.get(index);
      if (!list) byShard.set(index, (list = []));
      list.push(JSON.stringify(v));
    });
    byParam.set(rows.index, byShard);
  }
  if (byParam.size === 0) return null;
  const splits = [...byParam.values()];
  const shards = new Set([...splits[0].keys()].filter((i) => splits.every((s) => s.has(i))));
  const paramsOf = (index: number) =>
    dataParams.map((p, k) => {
      const byShard = byParam.get(k);
      return byShard ? `[${(byShard.get(index) ?? []).join(",")}]` : p;
    });
  return { shards, paramsOf };
}

/** The references to hash-distributed tables in the statement's RETURNING list. */
function readInReturning(stmt: AstNode, dist: readonly DistributedRef[]): DistributedRef[] {
  const inside = new Set<unknown>();
  walk((stmt.UpdateStmt as { returningClause?: AstNode }).returningClause, (node) => {
    if (node.RangeVar) inside.add(node.RangeVar);
  });
  return dist.filter((r) => r.table.method === "h" && inside.has(r.rangeVar));
}

/** The references besides the target that each shard of the target can read from its own shard group. */
async function findShardLocal(m: Modification): Promise<Set<DistributedRef>> {
  // Knowing the aggregates lets subqueries (`IN (SELECT …)`, derived tables) be checked for
  // running whole on shards.
  const aggregates = await shardSafety(m.session, m.stmt);
  const columnsOf = await relationColumns(m.session, m.dist, m.local);
  const ctx = aggregates
    ? localityContext({ isAggregate: (name) => aggregates.has(name), columnsOf })
    : { isAggregate: () => false, columnsOf, runsWhole: () => false };
  return shardLocalRefs(m.stmt, [m.target], withDerivedRefs(m.stmt, m.dist, ctx), ctx);
}

/**
 * Refuses volatile functions (random(), clock_timestamp(), gen_random_uuid(), …) in a modification
 * of a reference table: each placement would evaluate them on its own, and the copies would differ.
 */
export async function refuseVolatileOnReplicas(session: Session, stmt: AstNode, table: TableRecord): Promise<void> {
  // Sequence functions and the transaction's times are Canopy's to evaluate (or refuse): no lookup.
  const names = [...calledFunctions(stmt)].filter((n) => !sequenceFunctions.has(n) && !transactionFunctions.has(n));
  const [volatile] = (await functionFacts(session, new Set(names))).volatile;
  if (volatile === undefined) return;
  throw new SqlError(
    "0A000",
    `volatile function ${volatile}() in a modification of reference table "${table.relname}" is not supported`,
    {
      detail: "Each placement of the table would evaluate it on its own, and the copies would differ.",
      hint: "Compute the values first, in INSERT … SELECT or a separate statement, and pass them as constants.",
    },
  );
}

/**
 * Refuses volatile functions in subqueries of a statement that runs on several shards and reads
 * rows brought from elsewhere: PostgreSQL evaluates an uncorrelated subquery once, each shard
 * would evaluate it again.
 */
async function refuseVolatileSubqueries(session: Session, stmt: AstNode): Promise<void> {
  const names = new Set<string>();
  walk(stmt, (node) => {
    const sub =
      (node.SubLink as AstNode | undefined)?.subselect ??
      (node.RangeSubselect as AstNode | undefined)?.subquery ??
      (node.CommonTableExpr as AstNode | undefined)?.ctequery;
    if (sub) for (const name of calledFunctions(sub)) names.add(name);
  });
  const [volatile] = (await functionFacts(session, names)).volatile;
  if (volatile === undefined) return;
  throw new SqlError(
    "0A000",
    `volatile function ${volatile}() in a subquery of a multi-shard UPDATE or DELETE is not supported`,
    {
      detail: "Each shard would evaluate the subquery on its own.",
      hint: "Compute the value in a separate statement and pass it as a constant.",
    },
  );
}

/**
 * What an UPDATE or DELETE (`update`: the UPDATE's body, if one) of a distributed table needs
 * before its statement goes to the shards as it is: no sequence functions (the sequences live on
 * the coordinator), defaults the coordinator evaluates in place of `SET column = DEFAULT`, and the
 * transaction's values (now(), …) as constants.
 */
export async function prepareModification(
  session: Session,
  stmt: AstNode,
  update: AstNode | undefined,
  table: TableRecord,
): Promise<void> {
  if (callsSequence(stmt)) {
    throw new SqlError("0A000", "sequence functions in UPDATE or DELETE of distributed tables are not supported", {
      hint: "Draw the values in a separate statement and pass them as constants.",
    });
  }
  if (update) await setDefaults(session, (update.targetList as Assignment[] | undefined) ?? [], table);
  await evaluateTransactionValues(session, stmt);
}

/**
 * `SET column = DEFAULT` for a column whose default the coordinator evaluates: the default
 * expression takes its place (a default drawing from a sequence would need a value per row).
 */
async function setDefaults(session: Session, targets: readonly Assignment[], table: TableRecord): Promise<void> {
  const defaulted = targets.filter((t) => t.ResTarget.val?.SetToDefault);
  if (defaulted.length === 0) return;
  const columns = await session.tableColumns(table.relationId);
  for (const t of defaulted) {
    const expr = columns.find((c) => c.name === t.ResTarget.name)?.coordinatorDefault;
    if (!expr) continue;
    if (callsSequence(expr)) {
      throw new SqlError("0A000", `UPDATE … SET ${t.ResTarget.name} = DEFAULT is not supported on distributed tables`, {
        detail: "The column's default draws from a sequence, which lives on the coordinator.",
        hint: "Draw the values with nextval() in a separate statement.",
      });
    }
    t.ResTarget.val = cloneAst(expr);
  }
}

/** The columns a moved row carries to its new shard: all but generated ones, computed there. */
async function movedColumns(session: Session, table: TableRecord): Promise<ColumnInfo[]> {
  return (await session.tableColumns(table.relationId)).filter((c) => !c.generated);
}

/**
 * Appends to the RETURNING list of an UPDATE (or INSERT … ON CONFLICT DO UPDATE) what moving a row
 * needs: its new version's ctid and the text form of each of its columns (which, unlike JSON,
 * tells a JSON null in a json column from an SQL NULL).
 */
export async function returnWholeRows(session: Session, stmt: AstNode, target: DistributedRef): Promise<void> {
  const dml = (stmt.UpdateStmt ?? stmt.InsertStmt) as { returningClause?: { exprs?: AstNode[] } };
  const column = (name: string) => ({
    ColumnRef: { fields: [{ String: { sval: target.refName } }, { String: { sval: name } }] },
  });
  const columns = await movedColumns(session, target.table);
  dml.returningClause ??= {};
  dml.returningClause.exprs = [
    ...(dml.returningClause.exprs ?? []),
    { ResTarget: { val: column("ctid") } },
    ...columns.map((c) => ({ ResTarget: { val: transitText(column(c.name), c.baseTypeOid) } })),
  ];
}

/**
 * Runs a statement that updates the distribution column, one task per shard index, its RETURNING
 * list extended by `returnWholeRows`: the shards update their rows (checking every constraint as
 * PostgreSQL does), then the rows whose new value hashes to another shard leave their shard and
 * are inserted into their new one, where its unique keys are checked.
 */
export async function moveRows(
  m: Pick<Modification, "session" | "st" | "target" | "metadata" | "inv">,
  tasks: readonly Task[],
  indexes: readonly number[],
  tagPrefix: string,
  partitionKey: string | null,
): Promise<void> {
  const { session, st, target, metadata, inv } = m;
  const table = target.table;
  const returning = returns(st.stmt);
  const formats = returning ? await workerResultFormats(session, st, inv) : [];
  if (formats === null) throw binaryReturningRefusal();
  if (inv.explain) {
    throw new SqlError("0A000", "EXPLAIN of a statement that moves rows between shards is not supported", {
      detail: "It changes the distribution column of the rows it updates.",
    });
  }
  if (table.shards.some((s) => s.placements.length !== 1)) {
    throw new SqlError("0A000", "UPDATE of the distribution column of a replicated table is not supported", {
      hint: "Delete the rows and insert them with their new values.",
    });
  }
  if (inv.describe && returning) await sendRowDescription(session, st, inv);
  const opts = { transactional: true, reference: [] };
  const columns = await movedColumns(session, table);
  const position = columns.findIndex((c) => c.name === table.partitionKey);
  const appended = 1 + columns.length;
  // The client's columns in the formats it asked for, the columns moving a row needs in text.
  const width = formats.length === 0 ? 0 : await resultWidth(session, st);
  const resultFormats =
    formats.length === 0
      ? []
      : [
          ...Array.from({ length: width }, (_, i) => (formats.length === 1 ? formats[0] : (formats[i] ?? 0))),
          ...new Array<number>(appended).fill(0),
        ];
  const results = await executeTasks(session, tasks, { ...opts, resultFormats });
  const leaving = new Map<number, string[]>();
  const arriving = new Map<number, string[]>();
  const add = (map: Map<number, string[]>, index: number, value: string) =>
    map.set(index, [...(map.get(index) ?? []), value]);
  const returned = results.flatMap((result, k) => result.rows.map((row) => ({ k, tail: row.slice(-appended) })));
  // The nodes print the new values in this session's DateStyle, …: read them in any spelling.
  const keys = await canonicalValues(
    session,
    table.partitionType,
    returned.map(({ tail }) => tail[1 + position]),
  );
  for (const [i, { k, tail }] of returned.entries()) {
    const [ctid, ...values] = tail;
    const index = rowShardIndex(table, keys[i], "UPDATE");
    if (index === indexes[k]) continue;
    add(leaving, indexes[k], ctid!);
    add(arriving, index, JSON.stringify(values));
  }
  const nodeOf = (index: number) => nodeForGroup(metadata.nodes, table.shards[index].placements[0].groupId);
  const shardName = (index: number) => shardRelname(table.relname, table.shards[index].shardId);
  await executeTasks(
    session,
    [...leaving].map(([index, ctids]) => ({
      node: nodeOf(index),
      sql: deparseStatement({
        DeleteStmt: {
          relation: { schemaname: table.schema, relname: shardName(index), inh: true, relpersistence: "p" },
          whereClause: expressionFromTemplate("ctid = ANY ($1::pg_catalog.tid[])"),
        },
      }),
      params: [arrayLiteral(ctids)],
    })),
    opts,
  );
  // INSERT INTO shard (cols) SELECT (x->>0)::type0, … FROM json_array_elements($1::json) x
  const rows = jsonRowsSubquery(
    columns.map((c, i) => ({ name: c.name, type: c.type, position: i })),
    1,
    { aliasname: "r" },
  );
  const insert = (index: number): AstNode => ({
    InsertStmt: {
      relation: { schemaname: table.schema, relname: shardName(index), inh: true, relpersistence: "p" },
      cols: columns.map((c) => ({ ResTarget: { name: c.name } })),
      selectStmt: (rows.RangeSubselect as AstNode).subquery,
      ...(columns.some((c) => c.identity === "a") ? { override: "OVERRIDING_SYSTEM_VALUE" } : {}),
    },
  });
  await executeTasks(
    session,
    [...arriving].map(([index, rows]) => ({
      node: nodeOf(index),
      sql: deparseStatement(insert(index)),
      params: [`[${rows.join(",")}]`],
    })),
    opts,
  );
  // The client sees its own RETURNING list, if it asked for one (in binary: cut from the rows sent).
  const visible = results.map((r) => ({
    command: r.command,
    rows: returning && formats.length === 0 ? r.rows.map((row) => row.slice(0, -appended)) : [],
    dataRows:
      returning && formats.length > 0
        ? (r.dataRows ?? []).map((m) => write.dataRow(parseDataRow(m.subarray(5)).slice(0, width)))
        : undefined,
  }));
  reportModify(session, st, visible, tagPrefix, partitionKey);
}
