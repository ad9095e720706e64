// Plans a SELECT over co-located distributed tables so that the shards do the work. Two shapes:
//
// - Full pushdown: every group (or row) of the result comes from one shard group — there is no
//   GROUP BY or it includes a distribution column, window functions are partitioned by one — so
//   each shard group runs the statement itself (with ORDER BY and LIMIT + OFFSET when a LIMIT
//   allows cutting early), and the coordinator only concatenates, or sorts, de-duplicates and
//   limits the rows.
// - Partial aggregation: each shard group computes per-group partial states (count, sum, …) and
//   the coordinator database combines them, then evaluates HAVING, ORDER BY, DISTINCT, window
//   functions and LIMIT as PostgreSQL would. DISTINCT aggregates move their argument into the
//   shards' grouping keys and are computed on the coordinator. Aggregates without such partials
//   (array_agg, string_agg, json(b)_agg and json(b)_object_agg, with their ORDER BY, and any other)
//   carry their inputs: each shard group sends, per group, one JSON array of the rows' arguments
//   and sort keys (FILTER applied), and the coordinator runs the aggregate itself over the rows of
//   all shard groups, with the arguments and sort keys back in their types and collations.
//
// Subqueries, derived tables and (inlined) CTEs run with the statement on each shard group when
// they are shard-local with its tables (planner/subqueries.ts).
//
// A statement outside these shapes gets no plan; the caller answers it from the tables' rows.
// This module does no I/O itself: types come through the `describe` callback.
import type { AstNode } from "../sql/ast.js";
import {
  cloneAst,
  exprKey,
  expressionFromTemplate,
  transitText,
  typeNameNode,
  walk,
  withCollation,
} from "../sql/ast.js";
import { columnTerm, distColumnRef, fromLeaf, onNullableSide, type DistributedRef } from "./analyze.js";
import {
  joinedGroups,
  levelInputColumns,
  shardLocalRefs,
  withDerivedRefs,
  type LocalityContext,
  type SubqueryContext,
} from "./subqueries.js";

/** What planning needs to know beyond the statement. */
export interface PushdownContext extends SubqueryContext {
  /** The statement's references to distributed and reference tables (no local tables). */
  readonly refs: readonly DistributedRef[];
  /** The statement's output column names, as PostgreSQL names them. */
  readonly outputNames: readonly string[];
  /** The result columns of a SELECT run against the coordinator's (empty) shells. */
  describe(select: AstNode): Promise<readonly ColumnType[]>;
}

/** A result column's type as the coordinator database describes it. */
export interface ColumnType {
  readonly typeOid: number;
  readonly typeModifier: number;
  /** The type written as format_type writes it (with its modifier), to cast text back to it. */
  readonly typeName: string;
  /** The column's collation (schema and name) when it is not the database's default, else null. */
  readonly collation: readonly string[] | null;
}

export interface PushdownPlan {
  /** The SELECT every shard group runs (references still name the distributed tables). */
  readonly worker: AstNode;
  /** The worker's result types, in column order. */
  readonly workerTypes: readonly ColumnType[];
  /**
   * The coordinator's SELECT over the shards' rows: its FROM holds `ROWS_PLACEHOLDER`, to be
   * replaced by the rows (column i named `w<i>`).
   */
  readonly coordinator: AstNode;
  /** Whether the shards' rows, concatenated, are already the result. */
  readonly streamable: boolean;
}

/** The relation name standing for the shards' rows in a plan's coordinator statement. */
export const ROWS_PLACEHOLDER = "__canopy_rows";
const ROWS_ALIAS = "p";

const INT_TYPES = new Set([21, 23]);
const EXACT_TYPES = new Set([21, 23, 20, 1700]);
const FLOAT_TYPES = new Set([700, 701]);
const INTERVAL_OID = 1186;
const RECORD_OID = 2249;
const UNKNOWN_OID = 705;

/** Aggregates whose partials combine with the same aggregate. */
const SELF_COMBINING: Record<string, string> = {
  min: "min",
  max: "max",
  bool_and: "bool_and",
  every: "bool_and",
  bool_or: "bool_or",
  bit_and: "bit_and",
  bit_or: "bit_or",
};
const VARIANCE: Record<string, { sample: boolean; root: boolean }> = {
  variance: { sample: true, root: false },
  var_samp: { sample: true, root: false },
  var_pop: { sample: false, root: false },
  stddev: { sample: true, root: true },
  stddev_samp: { sample: true, root: true },
  stddev_pop: { sample: false, root: true },
};

/** Plans the statement, or returns null when it has neither shape. */
export async function planPushdown(select: AstNode, ctx: PushdownContext): Promise<PushdownPlan | null> {
  // The coordinator applies LIMIT and OFFSET over the shards' rows: a subquery there would read
  // the coordinator database's empty shells. Such a subquery runs first (planRecursive).
  if (hasSubLink(select.limitCount) || hasSubLink(select.limitOffset)) return null;
  const shape = statementShape(select, ctx);
  if (!shape) return null;
  if (shape.full) return planFull(select, shape.targets, shape.star, ctx);
  if (!shape.grouped) return null;
  return planPartial(select, shape.targets, shape.star, shape.groupExprs, ctx);
}

/**
 * Whether each shard group can run the SELECT whole, the rows of all shard groups together being
 * its result (in some order): the full pushdown shape with nothing left for the coordinator to
 * cut (LIMIT, OFFSET) or de-duplicate (DISTINCT), its subqueries shard-local.
 */
export function runsWholeOnShards(select: AstNode, ctx: ShapeContext): boolean {
  const shape = statementShape(select, ctx);
  return !!shape && wholeOnShards(select, shape);
}

/** What deciding a statement's shape needs to know. */
export type ShapeContext = Pick<PushdownContext, "refs" | "isAggregate" | "columnsOf">;

/** The shape test of one query level, for planner/subqueries.ts (a level's references do not change). */
export function localityContext(ctx: SubqueryContext): LocalityContext {
  const known = new Map<AstNode, boolean>();
  return {
    ...ctx,
    runsWhole: (select, levelRefs) => {
      let whole = known.get(select);
      if (whole === undefined) {
        const shape = shapeOf(select, { ...ctx, refs: levelRefs });
        whole = !!shape && wholeOnShards(select, shape);
        known.set(select, whole);
      }
      return whole;
    },
  };
}

function wholeOnShards(select: AstNode, shape: Shape): boolean {
  // Rows with different distribution values differ: DISTINCT over them is DISTINCT per shard group.
  const distinctByShard = !isPlainDistinct(select) || shape.targets.some((t) => shape.isDistColumn(t.val as AstNode));
  return shape.full && !select.limitCount && !select.limitOffset && distinctByShard;
}

/**
 * The shape of the statement's own level, its derived tables seen as tables, when every
 * distributed table in its subqueries is shard-local with the level's own.
 */
function statementShape(select: AstNode, ctx: ShapeContext): Shape | null {
  const stmt = { SelectStmt: select };
  const locality = localityContext(ctx);
  const refs = withDerivedRefs(stmt, ctx.refs, locality);
  const shape = shapeOf(select, { ...ctx, refs });
  if (!shape) return null;
  const seeds = refs.filter((r) => r.table.method === "h" && r.level === select);
  const local = shardLocalRefs(stmt, seeds, refs, locality);
  return refs.every((r) => r.table.method !== "h" || local.has(r)) ? shape : null;
}

interface Shape {
  readonly targets: AstNode[];
  readonly star: boolean;
  readonly groupExprs: AstNode[];
  readonly grouped: boolean;
  /** Whether every group (or row) of the result comes from one shard group. */
  readonly full: boolean;
  /** Whether an expression is the distribution column of one of the level's tables (not NULL-extended). */
  readonly isDistColumn: (e: AstNode) => boolean;
}

/** The shape of one query level, given its references (derived tables included); subqueries aside. */
function shapeOf(select: AstNode, ctx: ShapeContext): Shape | null {
  const levelRefs = ctx.refs.filter((r) => r.level === select);
  const hashRefs = levelRefs.filter((r) => r.table.method === "h");
  if (hashRefs.length === 0) return null;
  if (select.op !== "SETOP_NONE" || select.withClause || select.intoClause) return null;
  if ((select.lockingClause as unknown[] | undefined)?.length) return null;
  const from = (select.fromClause as AstNode[] | undefined) ?? [];
  if (!shardLocalFrom(from, levelRefs) || joinedGroups(select, hashRefs).length !== 1) return null;
  const inputColumns = levelInputColumns({ SelectStmt: select }, select, ctx);
  if (!inputColumns) return null;

  const targets = ((select.targetList as AstNode[] | undefined) ?? []).map((t) => t.ResTarget as AstNode);
  const star = targets.some((t) => hasStar(t.val as AstNode));
  const groupClause = (select.groupClause as AstNode[] | undefined) ?? [];
  if (groupClause.some((g) => g.GroupingSet)) return null;
  const groupExprs: AstNode[] = [];
  for (const g of groupClause) {
    const e = resolveGroupItem(g, targets, inputColumns, star);
    if (!e) return null;
    groupExprs.push(e);
  }
  const isDistColumn = (e: AstNode) => {
    const ref = distColumnRef(e, hashRefs);
    return ref !== null && !onNullableSide(ref);
  };
  const aggregates = findCalls(select, (fc) => !fc.over && (fc.agg_star === true || ctx.isAggregate(funcName(fc))));
  const grouped = groupClause.length > 0 || aggregates.length > 0 || !!select.havingClause;
  const windowsLocal = windowsPartitionedByShard(select, isDistColumn);
  const distinctOn = distinctOnExprs(select);
  const full =
    (!grouped || groupExprs.some(isDistColumn)) &&
    windowsLocal &&
    (distinctOn === null || distinctOn.some(isDistColumn));
  return { targets, star, groupExprs, grouped, full, isDistColumn };
}

// ---------------------------------------------------------------------------------------------
// Full pushdown

async function planFull(
  select: AstNode,
  targets: AstNode[],
  star: boolean,
  ctx: PushdownContext,
): Promise<PushdownPlan | null> {
  const worker = cloneAst(select);
  delete worker.sortClause;
  delete worker.limitCount;
  delete worker.limitOffset;
  worker.limitOption = "LIMIT_OPTION_DEFAULT";
  const visible = ctx.outputNames.length;
  const plainDistinct = isPlainDistinct(select);
  const sortClause = (select.sortClause as AstNode[] | undefined) ?? [];
  // Sort keys become columns of the worker's result: output columns, or hidden ones appended.
  const hidden: AstNode[] = [];
  const coordinatorSort: AstNode[] = [];
  for (const item of sortClause) {
    const sortBy = item.SortBy as AstNode;
    const node = sortBy.node as AstNode;
    let index = outputIndex(node, targets, ctx.outputNames, star);
    if (index === null) {
      if (plainDistinct) return null;
      index = visible + hidden.length;
      hidden.push(cloneAst(node));
    }
    // The worker's column carries the sort key's collation (an explicit COLLATE's, too).
    coordinatorSort.push({ SortBy: { ...cloneAst(sortBy), node: rowsColumn(index) } });
  }
  // A SELECT of no columns has no target list in the parser's tree.
  worker.targetList = [
    ...((worker.targetList as AstNode[] | undefined) ?? []),
    ...hidden.map((val, i) => ({ ResTarget: { name: `__canopy_sort${i}`, val } })),
  ];
  const limited = select.limitCount !== undefined && !plainDistinct;
  if (limited || distinctOnExprs(select) !== null) worker.sortClause = cloneAst(select.sortClause);
  if (limited) {
    worker.limitOption = select.limitOption;
    // LIMIT and OFFSET are bigint; parameters there have no type of their own in a sum. A
    // negative OFFSET leaves the shards unlimited, so that the coordinator's OFFSET reports it
    // first, as PostgreSQL checks OFFSET before LIMIT.
    worker.limitCount = select.limitOffset
      ? template("CASE WHEN __offset::int8 < 0 THEN NULL ELSE __limit::int8 + __offset::int8 END", {
          __limit: select.limitCount as AstNode,
          __offset: select.limitOffset as AstNode,
        })
      : cloneAst(select.limitCount);
  }
  const workerTypes = await ctx.describe(worker);
  if (workerTypes.length !== visible + hidden.length) return null;
  const coordinator: AstNode = {
    targetList: ctx.outputNames.map((name, i) => ({ ResTarget: { name, val: rowsColumn(i) } })),
    fromClause: [rowsPlaceholder()],
    limitOption: select.limitOption ?? "LIMIT_OPTION_DEFAULT",
    op: "SETOP_NONE",
  };
  if (plainDistinct) coordinator.distinctClause = [{}];
  if (coordinatorSort.length > 0) coordinator.sortClause = coordinatorSort;
  if (select.limitCount) coordinator.limitCount = cloneAst(select.limitCount);
  if (select.limitOffset) coordinator.limitOffset = cloneAst(select.limitOffset);
  const streamable = sortClause.length === 0 && !plainDistinct && !select.limitCount && !select.limitOffset;
  return { worker, workerTypes, coordinator, streamable };
}

/** The output column an ORDER BY item denotes (position, output name, or same expression). */
function outputIndex(node: AstNode, targets: AstNode[], names: readonly string[], star: boolean): number | null {
  const position = integerConstant(node);
  if (position !== null) return position >= 1 && position <= names.length ? position - 1 : null;
  const term = columnTerm(node);
  if (term && term[0] === null && names.includes(term[1])) return names.indexOf(term[1]);
  if (star) return null;
  const key = exprKey(node);
  const i = targets.findIndex((t) => exprKey(t.val as AstNode) === key);
  return i >= 0 ? i : null;
}

// ---------------------------------------------------------------------------------------------
// Partial aggregation

async function planPartial(
  select: AstNode,
  targets: AstNode[],
  star: boolean,
  groupExprs: AstNode[],
  ctx: PushdownContext,
): Promise<PushdownPlan | null> {
  if (star || targets.length !== ctx.outputNames.length) return null;
  // The types of the aggregates' inputs: sum, avg and variance choose their partials by their
  // argument's type, and aggregates carrying their inputs cast them back. One describe finds all.
  const inputs = new Map<string, AstNode>();
  for (const fc of findCalls(select, (f) => !f.over && ctx.isAggregate(funcName(f)))) {
    for (const e of aggregateInputs(fc)) inputs.set(exprKey(e), e);
  }
  const inputTypes = new Map<string, ColumnType>();
  if (inputs.size > 0) {
    const probe = {
      targetList: [...inputs.values()].map((e) => ({ ResTarget: { val: cloneAst(e) } })),
      fromClause: cloneAst(select.fromClause),
      limitOption: "LIMIT_OPTION_DEFAULT",
      op: "SETOP_NONE",
    };
    const types = await ctx.describe(probe);
    [...inputs.keys()].forEach((k, i) => {
      if (types[i]) inputTypes.set(k, types[i]);
    });
  }

  const keys: AstNode[] = [];
  const keyIndex = new Map<string, number>();
  const addKey = (e: AstNode) => {
    const k = exprKey(e);
    if (!keyIndex.has(k)) {
      keyIndex.set(k, keys.length);
      keys.push(cloneAst(e));
    }
    return keyIndex.get(k)!;
  };
  groupExprs.forEach(addKey);
  const groupKeyCount = keys.length;
  const partials: AstNode[] = [];
  // Coordinator expressions refer to worker columns through placeholders resolved at the end,
  // once the number of keys (which DISTINCT aggregates may grow) is known.
  const keyRef = (i: number): AstNode => ({ __key: i });
  const partialIndex = new Map<string, number>();
  const partialRef = (e: AstNode): AstNode => {
    const k = exprKey(e);
    if (!partialIndex.has(k)) {
      partialIndex.set(k, partials.length);
      partials.push(e);
    }
    return { __partial: partialIndex.get(k)! };
  };

  /** The aggregate over its partials (null: it has none here, see `fromInputs`). */
  const combineByPartials = (fc: AstNode): AstNode | null => {
    const name = funcName(fc);
    const args = (fc.args as AstNode[] | undefined) ?? [];
    if (fc.agg_distinct) {
      if (fc.agg_filter || args.length === 0 || args.slice(1).some((a) => !isConstant(a))) return null;
      const order = (fc.agg_order as AstNode[] | undefined) ?? [];
      if (order.some((item) => exprKey((item.SortBy as AstNode).node as AstNode) !== exprKey(args[0]))) return null;
      const k = addKey(args[0]);
      const out = cloneAst(fc);
      out.args = [keyRef(k), ...cloneAst(args.slice(1))];
      for (const item of (out.agg_order as AstNode[] | undefined) ?? []) (item.SortBy as AstNode).node = keyRef(k);
      return { FuncCall: out };
    }
    const filter = fc.agg_filter as AstNode | undefined;
    const partial = (fname: string, callArgs: AstNode[] | null): AstNode => ({
      FuncCall: {
        funcname: [{ String: { sval: fname } }],
        ...(callArgs === null ? { agg_star: true } : { args: callArgs }),
        ...(filter ? { agg_filter: cloneAst(filter) } : {}),
        funcformat: "COERCE_EXPLICIT_CALL",
      },
    });
    if (name === "count") {
      const p = partialRef(partial("count", fc.agg_star ? null : cloneAst(args)));
      return template("coalesce(sum(__a), 0)::int8", { __a: p });
    }
    if (name in SELF_COMBINING) {
      if (args.length !== 1) return null;
      const p = partialRef(partial(name, cloneAst(args)));
      return callOf(SELF_COMBINING[name], [p]);
    }
    if (args.length !== 1 || fc.agg_order) return null;
    const type = inputTypes.get(exprKey(args[0]))?.typeOid ?? 0;
    const arg = () => cloneAst(args[0]);
    const asFloat = () => ({ TypeCast: { arg: arg(), typeName: typeNameNode("float8") } });
    const asNumeric = () => ({ TypeCast: { arg: arg(), typeName: typeNameNode("numeric") } });
    if (name === "sum") {
      const p = partialRef(partial("sum", [arg()]));
      return template(INT_TYPES.has(type) ? "sum(__a)::int8" : "sum(__a)", { __a: p });
    }
    if (name === "avg") {
      if (EXACT_TYPES.has(type)) {
        const s = partialRef(partial("sum", [arg()]));
        const c = partialRef(partial("count", [arg()]));
        return template("sum(__s) / nullif(sum(__c), 0)", { __s: s, __c: c });
      }
      if (FLOAT_TYPES.has(type) || type === INTERVAL_OID) {
        const s = partialRef(partial("sum", [type === INTERVAL_OID ? arg() : asFloat()]));
        const c = partialRef(partial("count", [arg()]));
        return template("sum(__s) / nullif(sum(__c), 0)::float8", { __s: s, __c: c });
      }
      return null;
    }
    const variance = VARIANCE[name];
    if (variance) {
      if (EXACT_TYPES.has(type)) {
        // PostgreSQL's numeric variance: (N·Σx² − (Σx)²) / (N·(N−1)), exact, then the square root
        // at the quotient's scale (NaN, from a NaN or an infinite input, has none: it stays NaN).
        const n = partialRef(partial("count", [arg()]));
        const s = partialRef(partial("sum", [asNumeric()]));
        const q = partialRef(
          partial("sum", [
            { A_Expr: { kind: "AEXPR_OP", name: [{ String: { sval: "*" } }], lexpr: asNumeric(), rexpr: asNumeric() } },
          ]),
        );
        const numerator = "(sum(__n) * sum(__q) - sum(__s) * sum(__s))";
        const quotient = `(${numerator} / (sum(__n) * ${variance.sample ? "(sum(__n) - 1)" : "sum(__n)"}))`;
        const value = variance.root ? `round(sqrt(${quotient}), coalesce(scale(${quotient}), 0))` : quotient;
        return template(
          `CASE WHEN sum(__n) > ${variance.sample ? 1 : 0} THEN CASE WHEN ${numerator} <= 0 THEN 0::numeric ELSE ${value} END END`,
          { __n: n, __s: s, __q: q },
        );
      }
      if (FLOAT_TYPES.has(type)) {
        // Per shard PostgreSQL's own state: N, Σx and the sum of squared deviations; combined as
        // its parallel aggregation combines them (canopy_float8_combine), finished by its function.
        const n = partialRef(partial("count", [arg()]));
        const s = partialRef(partial("sum", [asFloat()]));
        const m = partialRef({
          A_Expr: {
            kind: "AEXPR_OP",
            name: [{ String: { sval: "*" } }],
            lexpr: partial("var_pop", [asFloat()]),
            rexpr: partial("count", [arg()]),
          },
        });
        const finish = `float8_${variance.root ? "stddev" : "var"}_${variance.sample ? "samp" : "pop"}`;
        return template(
          `pg_catalog.${finish}(pg_catalog.canopy_float8_combine(ARRAY[__n::float8, coalesce(__s, 0), coalesce(__m, 0)]))`,
          { __n: n, __s: s, __m: m },
        );
      }
      return null;
    }
    return null;
  };

  /**
   * The aggregate run on the coordinator over its inputs: each shard group sends, per group, a
   * JSON array of rows holding the text of each argument and sort key (FILTER applied there); the
   * coordinator reads them back as their types, with their collations, and calls the aggregate as
   * written (DISTINCT, ORDER BY and all) over the rows of every shard group.
   */
  const fromInputs = (fc: AstNode): AstNode | null => {
    const args = (fc.args as AstNode[] | undefined) ?? [];
    // An ordered-set aggregate's direct arguments are per group, not per row.
    if (fc.agg_within_group && !args.every(isConstant)) return null;
    const carried: AstNode[] = [];
    const positions = new Map<string, number>();
    let unreadable = false;
    const carry = (e: AstNode): AstNode => {
      const key = exprKey(e);
      const type = inputTypes.get(key);
      if (!type || type.typeOid === RECORD_OID || type.typeOid === UNKNOWN_OID) unreadable = true;
      if (!positions.has(key)) {
        positions.set(key, carried.length);
        carried.push(cloneAst(e));
      }
      return type ? carriedValue(positions.get(key)!, type) : e;
    };
    const call = cloneAst(fc);
    delete call.agg_filter;
    call.args = args.map((a) => (isConstant(a) ? cloneAst(a) : carry(a)));
    for (const item of (call.agg_order as AstNode[] | undefined) ?? []) {
      const sortBy = item.SortBy as AstNode;
      sortBy.node = carry(sortBy.node as AstNode);
    }
    if (unreadable) return null;
    const filter = fc.agg_filter as AstNode | undefined;
    const text = carried.map((e) => transitText(e, inputTypes.get(exprKey(e))?.typeOid ?? 0));
    const rows = callOf("json_agg", [callOf("json_build_array", text)]);
    if (filter) (rows.FuncCall as AstNode).agg_filter = cloneAst(filter);
    const p = partialRef(template("coalesce(__rows, '[]'::json)", { __rows: rows }));
    return template(
      "(SELECT __call FROM json_array_elements(json_agg(__p)) AS __canopy_group(r), json_array_elements(__canopy_group.r) AS __canopy_input(x))",
      { __call: { FuncCall: call }, __p: p },
    );
  };
  const combine = (fc: AstNode): AstNode | null => combineByPartials(fc) ?? fromInputs(fc);

  let failed = false;
  const rewrite = (node: unknown): unknown => {
    if (failed || node === null || typeof node !== "object") return node;
    if (Array.isArray(node)) return node.map(rewrite);
    const n = node as AstNode;
    const k = keyIndex.get(exprKey(n));
    if (k !== undefined && k < groupKeyCount) return keyRef(k);
    const fc = n.FuncCall as AstNode | undefined;
    if (fc && !fc.over && (fc.agg_star === true || ctx.isAggregate(funcName(fc)))) {
      const out = combine(fc);
      if (!out) failed = true;
      return out;
    }
    if (n.ColumnRef || n.SubLink || n.A_Star) {
      failed = true;
      return n;
    }
    const out: AstNode = {};
    for (const [key, value] of Object.entries(n)) out[key] = rewrite(value);
    return out;
  };

  const coordinator: AstNode = {
    targetList: targets.map((t, i) => ({ ResTarget: { name: ctx.outputNames[i], val: rewrite(t.val) } })),
    fromClause: [rowsPlaceholder()],
    limitOption: select.limitOption ?? "LIMIT_OPTION_DEFAULT",
    op: "SETOP_NONE",
  };
  if (groupKeyCount > 0) coordinator.groupClause = keys.slice(0, groupKeyCount).map((_, i) => keyRef(i));
  if (select.havingClause) coordinator.havingClause = rewrite(select.havingClause);
  if (select.windowClause) coordinator.windowClause = rewrite(select.windowClause);
  if (select.distinctClause) coordinator.distinctClause = rewrite(select.distinctClause);
  const sortClause = (select.sortClause as AstNode[] | undefined) ?? [];
  if (sortClause.length > 0) {
    coordinator.sortClause = sortClause.map((item) => {
      const sortBy = item.SortBy as AstNode;
      const node = sortBy.node as AstNode;
      const term = columnTerm(node);
      const keep = integerConstant(node) !== null || (term && term[0] === null && ctx.outputNames.includes(term[1]));
      return { SortBy: { ...cloneAst(sortBy), node: keep ? cloneAst(node) : rewrite(node) } };
    });
  }
  if (select.limitCount) coordinator.limitCount = cloneAst(select.limitCount);
  if (select.limitOffset) coordinator.limitOffset = cloneAst(select.limitOffset);
  if (failed) return null;

  // Worker columns: the keys, then the partials.
  walk(coordinator, (node, parent, key) => {
    const replace = (index: number) => {
      if (Array.isArray(parent)) parent[key as number] = rowsColumn(index);
      else (parent as AstNode)[key] = rowsColumn(index);
    };
    if (typeof node.__key === "number") replace(node.__key);
    else if (typeof node.__partial === "number") replace(keys.length + node.__partial);
  });
  const worker: AstNode = {
    targetList: [...keys, ...partials].map((val, i) => ({ ResTarget: { name: `w${i}`, val: cloneAst(val) } })),
    fromClause: cloneAst(select.fromClause),
    limitOption: "LIMIT_OPTION_DEFAULT",
    op: "SETOP_NONE",
  };
  if (select.whereClause) worker.whereClause = cloneAst(select.whereClause);
  if (keys.length > 0) worker.groupClause = cloneAst(keys);
  const workerTypes = await ctx.describe(worker);
  if (workerTypes.length !== keys.length + partials.length) return null;
  return { worker, workerTypes, coordinator, streamable: false };
}

// ---------------------------------------------------------------------------------------------
// Shape checks

/**
 * Whether FROM holds only tables, derived tables, functions and joins, and no outer join's
 * preserved side lacks the distributed table its other side has (each shard would then repeat
 * the preserved side's unmatched rows).
 */
function shardLocalFrom(from: AstNode[], refs: readonly DistributedRef[]): boolean {
  const byLeaf = new Map(refs.map((r) => [r.rangeVar, r]));
  let ok = true;
  const visit = (item: AstNode): DistributedRef[] => {
    const leaf = fromLeaf(item);
    if (leaf) {
      const ref = byLeaf.get(leaf);
      return ref ? [ref] : [];
    }
    const join = item.JoinExpr as AstNode | undefined;
    if (!join || join.isNatural) {
      ok = false;
      return [];
    }
    const type = join.jointype as string;
    const left = visit(join.larg as AstNode);
    const right = visit(join.rarg as AstNode);
    const hashed = (side: DistributedRef[]) => side.some((r) => r.table.method === "h");
    if ((type === "JOIN_LEFT" || type === "JOIN_FULL") && hashed(right) && !hashed(left)) ok = false;
    if ((type === "JOIN_RIGHT" || type === "JOIN_FULL") && hashed(left) && !hashed(right)) ok = false;
    return [...left, ...right];
  };
  for (const item of from) visit(item);
  return ok;
}

/** Whether every window function's partition includes a distribution column. */
function windowsPartitionedByShard(select: AstNode, isDistColumn: (e: AstNode) => boolean): boolean {
  const named = new Map<string, AstNode>();
  for (const w of (select.windowClause as AstNode[] | undefined) ?? []) {
    const def = w.WindowDef as AstNode;
    named.set(def.name as string, def);
  }
  const partitionOf = (def: AstNode): AstNode[] => {
    const own = (def.partitionClause as AstNode[] | undefined) ?? [];
    if (own.length > 0 || !def.refname) return own;
    const base = named.get(def.refname as string);
    return base ? partitionOf(base) : [];
  };
  return findCalls(select, (fc) => !!fc.over).every((fc) => {
    let def = fc.over as AstNode;
    if (def.name && !def.partitionClause && named.has(def.name as string)) def = named.get(def.name as string)!;
    return partitionOf(def).some(isDistColumn);
  });
}

/** The GROUP BY item as an expression: positions and output names resolved. */
function resolveGroupItem(
  item: AstNode,
  targets: AstNode[],
  inputColumns: ReadonlySet<string>,
  star: boolean,
): AstNode | null {
  const position = integerConstant(item);
  if (position !== null) {
    if (star || position < 1 || position > targets.length) return null;
    return targets[position - 1].val as AstNode;
  }
  const term = columnTerm(item);
  if (term && term[0] === null && !inputColumns.has(term[1])) {
    const t = targets.find((x) => x.name === term[1]);
    if (t) return t.val as AstNode;
  }
  return item;
}

function distinctOnExprs(select: AstNode): AstNode[] | null {
  const d = select.distinctClause as AstNode[] | undefined;
  if (!d || isPlainDistinct(select)) return null;
  return d;
}

function isPlainDistinct(select: AstNode): boolean {
  const d = select.distinctClause as AstNode[] | undefined;
  return !!d && d.length === 1 && Object.keys(d[0]).length === 0;
}

/** Function calls in the statement's own level (not inside sublinks). */
function findCalls(select: AstNode, match: (fc: AstNode) => boolean): AstNode[] {
  const found: AstNode[] = [];
  const visit = (value: unknown) => {
    if (value === null || typeof value !== "object") return;
    if (Array.isArray(value)) return value.forEach(visit);
    const node = value as AstNode;
    if (node.SubLink) return;
    const fc = node.FuncCall as AstNode | undefined;
    if (fc && match(fc)) found.push(fc);
    for (const v of Object.values(node)) visit(v);
  };
  for (const key of ["targetList", "havingClause", "sortClause", "windowClause", "distinctClause"]) visit(select[key]);
  return found;
}

/** An aggregate's inputs that vary by row: its arguments but constants (and `*`), and its sort keys. */
function aggregateInputs(fc: AstNode): AstNode[] {
  const args = (fc.args as AstNode[] | undefined) ?? [];
  const order = ((fc.agg_order as AstNode[] | undefined) ?? []).map((item) => (item.SortBy as AstNode).node as AstNode);
  return [...args.filter((a) => !isConstant(a)), ...order].filter((e) => !containsStar(e));
}

/** Input `i` of a row an aggregate carries (see fromInputs), read back as its type and collation. */
function carriedValue(i: number, type: ColumnType): AstNode {
  const text = {
    A_Expr: {
      kind: "AEXPR_OP",
      name: [{ String: { sval: "->>" } }],
      lexpr: { ColumnRef: { fields: [{ String: { sval: "__canopy_input" } }, { String: { sval: "x" } }] } },
      rexpr: { A_Const: { ival: { ival: i } } },
    },
  };
  return withCollation({ TypeCast: { arg: text, typeName: typeNameNode(type.typeName) } }, type.collation);
}

function containsStar(e: AstNode): boolean {
  let found = false;
  walk(e, (node) => {
    if (node.A_Star) found = true;
  });
  return found;
}

function funcName(fc: AstNode): string {
  const names = (fc.funcname as AstNode[]).map((n) => (n.String as { sval: string }).sval);
  if (names.length === 2 && names[0] !== "pg_catalog") return "";
  return names[names.length - 1] ?? "";
}

function hasStar(node: AstNode): boolean {
  const ref = node.ColumnRef as { fields: AstNode[] } | undefined;
  return !!ref?.fields.some((f) => f.A_Star);
}

function integerConstant(node: AstNode): number | null {
  const c = node.A_Const as { ival?: { ival?: number } } | undefined;
  return c?.ival ? (c.ival.ival ?? 0) : null;
}

/**
 * Whether an expression is the same for every row: a constant or a parameter, or an ARRAY[…] of
 * them (possibly cast).
 */
function isConstant(node: AstNode): boolean {
  let n = node;
  while (n.TypeCast) n = (n.TypeCast as { arg: AstNode }).arg;
  const array = n.A_ArrayExpr as { elements?: AstNode[] } | undefined;
  if (array) return (array.elements ?? []).every(isConstant);
  return !!n.A_Const || !!n.ParamRef;
}

function callOf(name: string, args: AstNode[]): AstNode {
  return { FuncCall: { funcname: [{ String: { sval: name } }], args, funcformat: "COERCE_EXPLICIT_CALL" } };
}

/** Column `w<i>` of the shards' rows. */
function rowsColumn(i: number): AstNode {
  return { ColumnRef: { fields: [{ String: { sval: ROWS_ALIAS } }, { String: { sval: `w${i}` } }] } };
}

function rowsPlaceholder(): AstNode {
  return { RangeVar: { relname: ROWS_PLACEHOLDER, inh: true, relpersistence: "p", alias: { aliasname: ROWS_ALIAS } } };
}

const templates = new Map<string, AstNode>();

/** Parses a fixed expression once and substitutes nodes for its `__x` column placeholders. */
function template(sql: string, values: Record<string, AstNode>): AstNode {
  let parsed = templates.get(sql);
  if (!parsed) {
    parsed = expressionFromTemplate(sql);
    templates.set(sql, parsed);
  }
  const copy = cloneAst(parsed);
  walk(copy, (node, parent, key) => {
    const term = columnTerm(node);
    if (term && term[0] === null && term[1] in values) {
      const value = cloneAst(values[term[1]]);
      if (Array.isArray(parent)) parent[key as number] = value;
      else (parent as AstNode)[key] = value;
    }
  });
  return copy;
}

/** Whether an expression holds a subquery. */
function hasSubLink(expr: unknown): boolean {
  let found = false;
  if (expr) walk(expr, (node) => (found ||= node.SubLink !== undefined));
  return found;
}
