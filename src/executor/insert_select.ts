// INSERT … SELECT into a distributed or reference table.
//
// - Pushed down: when the SELECT reads only tables co-located with the target (and reference
//   tables), joined on their distribution columns, every group or row of its result comes from
//   one shard group, and the target's distribution column is filled from a source's, each shard
//   group runs `INSERT INTO target_shard SELECT … FROM source_shards` itself: the rows a shard's
//   SELECT yields hash to the same shard index of the target.
// - Through the coordinator: otherwise the SELECT runs in the coordinator database (over the rows
//   the distributed tables contribute, as the fallback fetches them), cast to the target's column
//   types and completed with the defaults the coordinator evaluates, and its rows are routed to
//   the target's shards by their distribution value, where each shard inserts its rows from one
//   JSON parameter (with ON CONFLICT and RETURNING as given).
import { BackendCode, FrontendCode, parseDataRow, write } from "../protocol/messages.js";
import { SqlError } from "../errors.js";
import { canonicalValues } from "./canonical.js";
import { cloneAst, textCast, typeNameNode, walk, type AstNode } from "../sql/ast.js";
import { deparseStatement } from "../sql/parse.js";
import { referenceShards, type MetadataSnapshot } from "../metadata/cache.js";
import { shardRelname } from "../commands/shard_ddl.js";
import { nodeForGroup } from "../commands/distribute.js";
import {
  collectRelationRefs,
  distColumnRef,
  onNullableSide,
  pinnedValues,
  type DistributedRef,
} from "../planner/analyze.js";
import { runsWholeOnShards } from "../planner/pushdown.js";
import type { Session } from "../server/session.js";
import type { Invocation, InterceptedStatement } from "../commands/intercept.js";
import { shardSafety } from "./pushdown.js";
import { evaluateTransactionValues, type ColumnInfo } from "./defaults.js";
import type { Task } from "./explain.js";
import {
  bindValues,
  checkIntermediateSize,
  compactParams,
  describeStatement,
  intermediateLimit,
  parameterTypes,
  paramValues,
  prunedIndexes,
  relationColumns,
  renameToShard,
  rowShardIndex,
  shardIndexOf,
  runModifyTasks,
  substituteShardRows,
  updatesPartitionKey,
  varcharLength,
  withJsonParams,
} from "./distributed.js";

interface InsertParts {
  relation: AstNode;
  cols?: { ResTarget: { name: string } }[];
  selectStmt: AstNode;
  withClause?: AstNode;
  override?: string;
  onConflictClause?: AstNode;
}

/** One execution of an INSERT … SELECT. */
export interface InsertSelect {
  readonly session: Session;
  /** The statement (this execution's copy, rewritten in place). */
  readonly stmt: AstNode;
  /** The references to distributed and reference tables the SELECT reads. */
  readonly sources: readonly DistributedRef[];
  readonly target: DistributedRef;
  readonly metadata: MetadataSnapshot;
  readonly inv: Invocation;
}

export async function insertSelect(
  x: InsertSelect,
  st: InterceptedStatement,
  inBlock: boolean,
  readsLocalTables: boolean,
): Promise<void> {
  if (x.target.table.method === "h" && updatesPartitionKey(x.stmt, x.target.table)) {
    throw new SqlError("0A000", "INSERT … SELECT … ON CONFLICT DO UPDATE of the distribution column is not supported", {
      hint: "Use INSERT … VALUES, or update the rows in a separate statement.",
    });
  }
  // The coordinator database checks the statement against the shells first (column counts,
  // types, identity columns: PostgreSQL's own errors) and tells the parameters' types.
  const paramTypes = await parameterTypes(x.session, st.sql, st.paramTypes);
  const all = await x.session.tableColumns(x.target.table.relationId);
  const tasks =
    (readsLocalTables ? null : await pushdownTasks(x, all)) ?? (await coordinatorTasks(x, all, paramTypes, inBlock));
  if (!tasks) return;
  await runModifyTasks(
    x.session,
    st,
    tasks,
    x.inv,
    inBlock,
    "INSERT 0",
    referenceShards([x.target.table]),
    null,
    "insert-select",
  );
}

/** The per-shard-group statements of a pushed-down INSERT … SELECT, or null when it cannot be. */
async function pushdownTasks(x: InsertSelect, all: readonly ColumnInfo[]): Promise<Task[] | null> {
  const { session, stmt, sources, target, metadata, inv } = x;
  const ins = stmt.InsertStmt as InsertParts;
  const table = target.table;
  const select = ins.selectStmt.SelectStmt as AstNode;
  // The shards' identity columns draw from sequences of their own: OVERRIDING USER VALUE needs the
  // coordinator's.
  if (table.method !== "h" || ins.withClause || ins.override === "OVERRIDING_USER_VALUE") return null;
  const hashSources = sources.filter((r) => r.table.method === "h");
  if (hashSources.length === 0 || hashSources.some((r) => r.table.colocationId !== table.colocationId)) return null;
  await expandStar(session, select, sources);
  const columns = ins.cols?.map((c) => c.ResTarget.name) ?? all.map((c) => c.name);
  const targets = ((select.targetList as AstNode[] | undefined) ?? []).map((t) => t.ResTarget as AstNode);
  // Columns left out whose defaults the coordinator evaluates need the coordinator.
  const given = new Set(columns.slice(0, targets.length));
  if (all.some((c) => c.coordinatorDefault && !given.has(c.name))) return null;
  const position = columns.indexOf(table.partitionKey!);
  if (position < 0 || position >= targets.length) return null;
  const feeding = distColumnRef(targets[position].val as AstNode, hashSources);
  if (!feeding || onNullableSide(feeding) || feeding.table.partitionType !== table.partitionType) return null;
  // A varchar(n) target stores a longer source value cut (storedKeyText): in another shard.
  const max = varcharLength(table);
  const sourceMax = varcharLength(feeding.table);
  if (max >= 0 && (sourceMax < 0 || sourceMax > max)) return null;
  const aggregates = await shardSafety(session, stmt);
  if (!aggregates) return null;
  const columnsOf = await relationColumns(session, sources);
  if (!runsWholeOnShards(select, { refs: sources, isAggregate: (n) => aggregates.has(n), columnsOf })) return null;

  const indexes = prunedIndexes(feeding, pinnedValues(sources).get(feeding) ?? null, inv);
  const originals = collectRelationRefs(stmt);
  const byRangeVar = new Map([target, ...sources].map((r) => [r.rangeVar, r]));
  return indexes.map((index) => {
    const copy = cloneAst(stmt);
    collectRelationRefs(copy).forEach((ref, i) => {
      const d = byRangeVar.get(originals[i].rangeVar);
      if (d) renameToShard({ ...ref, table: d.table }, d.table.shards[d.table.method === "n" ? 0 : index].shardId);
    });
    const params = paramValues(compactParams(copy, inv.paramTypes), inv);
    const group = table.shards[index].placements[0].groupId;
    return { node: nodeForGroup(metadata.nodes, group), sql: deparseStatement(copy), params };
  });
}

/** `*` in the target list of a SELECT over one table, spelled out as its columns. */
async function expandStar(session: Session, select: AstNode, sources: readonly DistributedRef[]): Promise<void> {
  const from = (select.fromClause as AstNode[] | undefined) ?? [];
  const source = sources.find((r) => from.length === 1 && r.rangeVar === from[0].RangeVar);
  if (!source) return;
  const columns = await session.tableColumns(source.table.relationId);
  const targetList = (select.targetList as AstNode[] | undefined) ?? [];
  select.targetList = targetList.flatMap((t) => {
    const fields = ((t.ResTarget as AstNode).val as AstNode).ColumnRef as { fields: AstNode[] } | undefined;
    const last = fields?.fields[fields.fields.length - 1];
    if (!last?.A_Star || fields!.fields.length > 2) return [t];
    return columns.map((c) => ({
      ResTarget: {
        val: { ColumnRef: { fields: [{ String: { sval: source.refName } }, { String: { sval: c.name } }] } },
      },
    }));
  });
}

/**
 * Runs the SELECT in the coordinator database and returns the per-shard statements inserting its
 * rows. Each row comes back as its distribution value's text and a JSON object of the target's
 * columns (values cast to the column types, defaults filled in), read on the worker by
 * json_populate_recordset, so the shard's types read them as an INSERT would assign them.
 * Under EXPLAIN, describes the SELECT instead (returning null): the rows decide the tasks.
 */
async function coordinatorTasks(
  x: InsertSelect,
  all: readonly ColumnInfo[],
  paramTypes: readonly number[],
  inBlock: boolean,
): Promise<Task[] | null> {
  const { session, stmt, sources, target, metadata, inv } = x;
  if (inv.explain?.analyze) {
    throw new SqlError("0A000", "EXPLAIN ANALYZE of INSERT … SELECT through the coordinator is not supported", {
      hint: "Use EXPLAIN without ANALYZE to see the plan.",
    });
  }
  const ins = stmt.InsertStmt as InsertParts;
  const table = target.table;
  const select = ins.selectStmt.SelectStmt as AstNode;
  if (ins.withClause && select.withClause) {
    throw new SqlError(
      "0A000",
      "INSERT … SELECT with WITH clauses on both the INSERT and the SELECT is not supported",
      {
        hint: "Move the common table expressions into one WITH clause.",
      },
    );
  }
  if (ins.withClause) {
    walk(ins.withClause, (node) => {
      const cte = node.CommonTableExpr as { ctequery?: AstNode } | undefined;
      if (cte?.ctequery && !cte.ctequery.SelectStmt) {
        throw new SqlError("0A000", "data-modifying WITH in INSERT … SELECT into a distributed table is not supported");
      }
    });
  }
  const dataParams = await substituteShardRows(session, stmt, sources, metadata, inv, inBlock);
  const body: AstNode = { ...select };
  if (ins.withClause) body.withClause = ins.withClause;
  const types = withJsonParams(paramTypes, inv, dataParams);
  const width = (await describeStatement(session, deparseStatement({ SelectStmt: body }), types))?.length ?? 0;
  const names = ins.cols?.map((c) => c.ResTarget.name) ?? all.slice(0, width).map((c) => c.name);
  const byName = new Map(all.map((c) => [c.name, c]));
  const given = names.map((n) => byName.get(n)!);
  // OVERRIDING USER VALUE: identity columns take their own values, whatever the SELECT gives.
  const ignored = (c: ColumnInfo) => ins.override === "OVERRIDING_USER_VALUE" && c.identity !== "";
  const filled = [
    ...given.map((c, i) => ({
      c,
      value: transported(ignored(c) ? cloneAst(c.defaultExpr!) : cast(column("s", `c${i}`), c), c),
    })),
    ...all
      .filter(
        (c) => !names.includes(c.name) && (c.coordinatorDefault || (c.name === table.partitionKey && c.defaultExpr)),
      )
      .map((c) => ({ c, value: transported(cloneAst((c.coordinatorDefault ?? c.defaultExpr)!), c) })),
  ];
  const position = filled.findIndex((f) => f.c.name === table.partitionKey);
  if (table.method === "h" && position < 0) {
    throw new SqlError("23502", "cannot perform an INSERT without a partition column value", {
      hint: `Give a value for "${table.partitionKey}".`,
    });
  }
  // SELECT d.v<p>::text, json_build_object('col', d.v0, …)::text
  //   FROM (SELECT <cast s.c0>, …, <defaults> FROM (<select>) s(c0, …)) d
  const inner: AstNode = {
    targetList: filled.map((f, i) => ({ ResTarget: { name: `v${i}`, val: f.value } })),
    fromClause: [
      {
        RangeSubselect: {
          subquery: { SelectStmt: body },
          alias: { aliasname: "s", colnames: given.map((_, i) => ({ String: { sval: `c${i}` } })) },
        },
      },
    ],
    limitOption: "LIMIT_OPTION_DEFAULT",
    op: "SETOP_NONE",
  };
  const object = {
    FuncCall: {
      funcname: [{ String: { sval: "pg_catalog" } }, { String: { sval: "json_build_object" } }],
      args: filled.flatMap((f, i) => [{ A_Const: { sval: { sval: f.c.name } } }, column("d", `v${i}`)]),
      funcformat: "COERCE_EXPLICIT_CALL",
    },
  };
  const outer = {
    SelectStmt: {
      targetList: [
        { ResTarget: { val: textCast(position < 0 ? { A_Const: { isnull: true } } : column("d", `v${position}`)) } },
        { ResTarget: { val: textCast(object) } },
      ],
      fromClause: [{ RangeSubselect: { subquery: { SelectStmt: inner }, alias: { aliasname: "d" } } }],
      limitOption: "LIMIT_OPTION_DEFAULT",
      op: "SETOP_NONE",
    },
  };
  if (inv.explain) {
    await inv.explain.coordinator(session, outer, { ...bindValues(inv, dataParams), types }, true);
    return null;
  }
  const byShard = await routeRows(session, outer, inv, dataParams, types, table.method === "h" ? table : null);
  return shardTasks(
    x,
    filled.map((f) => f.c),
    byShard,
  );
}

/**
 * Runs the coordinator's SELECT and sorts its rows (distribution value, JSON object) by the
 * target's shard index, as they arrive. Capped by canopy.max_intermediate_result_size.
 */
async function routeRows(
  session: Session,
  select: AstNode,
  inv: Invocation,
  dataParams: readonly string[],
  types: readonly number[],
  table: DistributedRef["table"] | null,
): Promise<Map<number, string[]>> {
  const limit = await intermediateLimit(session);
  const byShard = new Map<number, string[]>();
  let total = dataParams.reduce((n, p) => n + p.length, 0);
  let failure: unknown = null;
  const { params, formats } = bindValues(inv, dataParams);
  const unread: [string, string][] = [];
  // Asked to stop while the rows were read: the SELECT does not begin (see runOnCoordinator).
  session.interrupts.check();
  const add = (index: number, object: string) => {
    let list = byShard.get(index);
    if (!list) byShard.set(index, (list = []));
    list.push(object);
  };
  const results = [
    session.internalRaw(FrontendCode.Parse, write.parse("", deparseStatement(select), types)),
    session.internalRaw(FrontendCode.Bind, write.bind("", "", params, formats)),
    session.internalRaw(FrontendCode.Execute, write.execute("", 0), (code, message) => {
      if (code !== BackendCode.DataRow || failure) return;
      try {
        const [value, object] = parseDataRow(message.subarray(5)).map((v) => v?.toString("utf8") ?? null);
        total += object!.length;
        checkIntermediateSize(total, limit);
        // A value printed in a DateStyle hash.ts does not read waits for the coordinator to read it.
        if (table && value !== null && shardIndexOf(table, value) === null) unread.push([value, object!]);
        else add(table ? rowShardIndex(table, value, "INSERT") : 0, object!);
      } catch (e) {
        failure = e;
      }
    }),
  ];
  await session.flushAndAwait(results);
  if (failure) throw failure;
  if (table && unread.length > 0) {
    const canonical = await canonicalValues(
      session,
      table.partitionType,
      unread.map(([value]) => value),
    );
    unread.forEach(([, object], k) => add(rowShardIndex(table, canonical[k], "INSERT"), object));
  }
  return byShard;
}

/**
 * `INSERT INTO shard AS t (cols) SELECT r.col, … FROM json_populate_recordset(NULL::shard, $n) r
 * [ON CONFLICT …] [RETURNING …]` for each shard receiving rows, on each of its placements.
 */
async function shardTasks(
  x: InsertSelect,
  columns: readonly ColumnInfo[],
  byShard: ReadonlyMap<number, string[]>,
): Promise<Task[]> {
  const { session, stmt, target, metadata, inv } = x;
  const table = target.table;
  const template = cloneAst(stmt);
  const ti = template.InsertStmt as InsertParts;
  delete ti.withClause;
  delete ti.override;
  ti.cols = columns.map((c) => ({ ResTarget: { name: c.name } }));
  // ON CONFLICT and RETURNING run on the shards: now() and the like take the coordinator's values.
  await evaluateTransactionValues(session, template);
  const rowsParam = inv.params.length + 1;
  const tasks: Task[] = [];
  for (const [index, objects] of byShard) {
    const shardId = table.shards[index].shardId;
    const copy = cloneAst(template);
    const ci = copy.InsertStmt as InsertParts;
    ci.selectStmt = populateSelect(table.schema, shardRelname(table.relname, shardId), columns, rowsParam);
    renameToShard({ ...target, rangeVar: ci.relation, level: copy.InsertStmt as AstNode }, shardId);
    const used = compactParams(copy, inv.paramTypes);
    const json = `[${objects.join(",")}]`;
    const params = used.map((n) => (n === rowsParam ? json : paramValues([n], inv)[0]));
    const sql = deparseStatement(copy);
    for (const p of table.shards[index].placements) {
      tasks.push({ node: nodeForGroup(metadata.nodes, p.groupId), sql, params });
    }
  }
  return tasks;
}

function populateSelect(schema: string, shard: string, columns: readonly ColumnInfo[], param: number): AstNode {
  const source = {
    FuncCall: {
      funcname: [{ String: { sval: "pg_catalog" } }, { String: { sval: "json_populate_recordset" } }],
      args: [
        {
          TypeCast: {
            arg: { A_Const: { isnull: true } },
            typeName: { names: [{ String: { sval: schema } }, { String: { sval: shard } }], typemod: -1 },
          },
        },
        { TypeCast: { arg: { ParamRef: { number: param } }, typeName: typeNameNode("json") } },
      ],
      funcformat: "COERCE_EXPLICIT_CALL",
    },
  };
  // json and jsonb values travel as JSON strings of their text (see transported).
  const value = (c: ColumnInfo): AstNode =>
    c.json
      ? cast(
          {
            A_Expr: {
              kind: "AEXPR_OP",
              name: [{ String: { sval: "#>>" } }],
              lexpr: column("r", c.name),
              rexpr: { A_Const: { sval: { sval: "{}" } } },
            },
          },
          c,
        )
      : column("r", c.name);
  return {
    SelectStmt: {
      targetList: columns.map((c) => ({ ResTarget: { val: value(c) } })),
      fromClause: [{ RangeFunction: { functions: [{ List: { items: [source, {}] } }], alias: { aliasname: "r" } } }],
      limitOption: "LIMIT_OPTION_DEFAULT",
      op: "SETOP_NONE",
    },
  };
}

/**
 * How a value travels in the JSON object of its row: as itself, except json and jsonb values,
 * which go as the JSON string of their text, so that a JSON null stays apart from SQL NULL.
 */
function transported(value: AstNode, c: ColumnInfo): AstNode {
  return c.json ? textCast(value) : value;
}

/** A value cast to a column's type without its modifier: the shard's input function applies that. */
function cast(value: AstNode, c: ColumnInfo): AstNode {
  return {
    TypeCast: { arg: value, typeName: { names: c.baseType.map((sval) => ({ String: { sval } })), typemod: -1 } },
  };
}

function column(relation: string, name: string): AstNode {
  return { ColumnRef: { fields: [{ String: { sval: relation } }, { String: { sval: name } }] } };
}
