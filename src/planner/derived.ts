// Equalities pushed into derived tables, as PostgreSQL's planner pushes quals into subqueries in
// FROM. A view reference expands into a derived table (views.ts), and the router pins only a
// table's own distribution column from the conjuncts of its level: `SELECT * FROM v WHERE k = 5`
// over `SELECT … FROM t` would reach every shard. Copying `k = 5` into the derived table's WHERE,
// on the column as its query writes it (`t.k = 5`, or `k = 5`: the same scope resolves it the same
// way, and the router pins an unqualified column of a level's only FROM item), pins `t` where it
// sits. The outer conjunct stays; a copy is pushed only where it keeps exactly the rows the outer
// one keeps (see pushable), so the answer is the same.
import { cloneAst, exprKey, stringList, walk, type AstNode } from "../sql/ast.js";
import { columnTerm, conjuncts, onNullableSide, operatorName, valueSource, visibleFromItems } from "./analyze.js";

/** What the catalog says of the functions a statement calls, by (unqualified) name. */
export interface CalledFunctionKinds {
  isAggregate(name: string): boolean;
  returnsSet(name: string): boolean;
}

/** Whether a statement has a derived table (a subquery in FROM) a conjunct could be pushed into. */
export function hasDerivedTable(stmt: AstNode): boolean {
  let found = false;
  walk(stmt, (node) => {
    if (node.RangeSubselect) found = true;
  });
  return found;
}

/**
 * Pushes, at every query level (outer levels first, so a view over a view and a derived table in
 * a derived table are reached), each WHERE conjunct `col = value`, `col IN (values)` or
 * `col = ANY(values)` on a derived table's output column into that derived table; whether any was.
 */
export function pushIntoDerivedTables(stmt: AstNode, functions: CalledFunctionKinds): boolean {
  let pushed = false;
  walk(stmt, (node, _parent, key) => {
    const operand = (key === "larg" || key === "rarg") && "op" in node;
    const level = (node.SelectStmt as AstNode | undefined) ?? (operand ? node : undefined);
    if (!level) return;
    for (const conj of conjuncts(level.whereClause)) {
      if (pushConjunct(level, conj, functions)) pushed = true;
    }
  });
  return pushed;
}

function pushConjunct(level: AstNode, conj: AstNode, functions: CalledFunctionKinds): boolean {
  const expr = conj.A_Expr as AstNode | undefined;
  const side = expr ? columnSide(expr) : null;
  if (!expr || !side) return false;
  const term = columnTerm(expr[side] as AstNode)!;
  const derived = derivedTableOf(level, term[0]);
  if (!derived) return false;
  const sub = (derived.subquery as AstNode).SelectStmt as AstNode;
  const column = outputColumn(derived, term[1]);
  if (!column || !pushable(sub, column, functions)) return false;
  const copy = cloneAst(conj);
  (copy.A_Expr as AstNode)[side] = cloneAst(column.target);
  return addConjunct(sub, copy);
}

/** Which operand of an equality with values is the column: `lexpr`, `rexpr`, or null for none. */
function columnSide(e: AstNode): "lexpr" | "rexpr" | null {
  if (operatorName(e) !== "=") return null;
  const left = e.lexpr as AstNode;
  const right = e.rexpr as AstNode;
  if (e.kind === "AEXPR_OP") {
    if (columnTerm(left) && valueSource(right)) return "lexpr";
    return columnTerm(right) && valueSource(left) ? "rexpr" : null;
  }
  if (!columnTerm(left)) return null;
  if (e.kind === "AEXPR_IN") return allValues((right.List as { items?: AstNode[] } | undefined)?.items);
  if (e.kind !== "AEXPR_OP_ANY") return null;
  if (valueSource(right)) return "lexpr";
  let arr = right;
  while (arr.TypeCast) arr = (arr.TypeCast as { arg: AstNode }).arg;
  return allValues((arr.A_ArrayExpr as { elements?: AstNode[] } | undefined)?.elements);
}

function allValues(items: AstNode[] | undefined): "lexpr" | null {
  return items && items.length > 0 && items.every((i) => valueSource(i) !== null) ? "lexpr" : null;
}

/**
 * The derived table (RangeSubselect) a column of `level` qualified by `qualifier` names: one of
 * that name, or the level's only FROM item when unqualified; not LATERAL, not on the nullable side
 * of an outer join (there the outer conjunct also rejects the rows it extends with NULLs).
 */
function derivedTableOf(level: AstNode, qualifier: string | null): AstNode | null {
  const from = (level.fromClause as AstNode[] | undefined) ?? [];
  const items =
    qualifier === null
      ? from.length === 1
        ? [from[0]]
        : []
      : visibleFromItems(level)
          .filter(([name]) => name === qualifier)
          .map(([, item]) => item);
  const rs = items.length === 1 ? (items[0].RangeSubselect as AstNode | undefined) : undefined;
  if (!rs || rs.lateral || !(rs.subquery as AstNode | undefined)?.SelectStmt) return null;
  return onNullableSide({ level, rangeVar: rs }) ? null : rs;
}

/** An output column of a derived table: its position and the plain column reference it is. */
interface OutputColumn {
  readonly index: number;
  readonly target: AstNode;
}

/** The output column `name` of a derived table (renamed by its alias's column names), when a plain column. */
function outputColumn(rs: AstNode, name: string): OutputColumn | null {
  const sub = (rs.subquery as AstNode).SelectStmt as AstNode;
  const renames = stringList((rs.alias as AstNode | undefined)?.colnames);
  const targets = ((sub.targetList as AstNode[] | undefined) ?? []).map((t) => t.ResTarget as AstNode);
  // A star's columns, and so the positions after it, are the catalog's; longer names are not read.
  if (targets.some((t) => (t.val as AstNode).ColumnRef && !columnTerm(t.val as AstNode))) return null;
  const names = targets.map(
    (t, i) => renames[i] ?? (t.name as string | undefined) ?? columnTerm(t.val as AstNode)?.[1],
  );
  const matches = names.flatMap((n, i) => (n === name ? [i] : []));
  if (matches.length !== 1) return null;
  const target = targets[matches[0]].val as AstNode;
  const term = columnTerm(target);
  if (!term) return null;
  if (term[0] !== null && !visibleFromItems(sub).some(([n]) => n === term[0])) return null;
  return { index: matches[0], target };
}

/**
 * Whether a conjunct on the column keeps the same rows inside the subquery as outside: a plain
 * SELECT (no set operation, VALUES, LIMIT/OFFSET/FETCH, DISTINCT ON, window function or
 * set-returning function in its target list), grouped by the column (no grouping sets) if it
 * groups or aggregates at all.
 */
function pushable(sub: AstNode, column: OutputColumn, functions: CalledFunctionKinds): boolean {
  if ((sub.op ?? "SETOP_NONE") !== "SETOP_NONE" || sub.valuesLists || sub.limitCount || sub.limitOffset) return false;
  if (((sub.distinctClause as AstNode[] | undefined) ?? []).some((d) => Object.keys(d).length > 0)) return false;
  if (((sub.windowClause as unknown[] | undefined) ?? []).length > 0) return false;
  let windowed = false;
  let aggregated = !!sub.havingClause;
  // PostgreSQL allows neither aggregates nor window functions of a level in its FROM or WHERE:
  // those of derived tables in FROM and of its CTEs are theirs.
  walk({ ...sub, withClause: undefined, fromClause: undefined, whereClause: undefined }, (node) => {
    const fc = node.FuncCall as AstNode | undefined;
    if (!fc) return;
    if (fc.over) windowed = true;
    const name = stringList(fc.funcname).pop()!;
    if (fc.agg_star || fc.agg_distinct || fc.agg_filter || fc.agg_order || functions.isAggregate(name)) {
      aggregated = true;
    }
  });
  if (windowed) return false;
  let setReturning = false;
  walk(sub.targetList, (node) => {
    const fc = node.FuncCall as AstNode | undefined;
    if (fc && functions.returnsSet(stringList(fc.funcname).pop()!)) setReturning = true;
  });
  if (setReturning) return false;
  const groups = (sub.groupClause as AstNode[] | undefined) ?? [];
  if (groups.length === 0) return !aggregated;
  return groupedBy(groups, column);
}

/** Whether GROUP BY (without grouping sets) has the column: the same reference or its position. */
function groupedBy(groups: readonly AstNode[], column: OutputColumn): boolean {
  let sets = false;
  walk(groups, (node) => {
    if (node.GroupingSet) sets = true;
  });
  if (sets) return false;
  const term = JSON.stringify(columnTerm(column.target));
  return groups.some((g) => {
    const position = (g.A_Const as { ival?: { ival?: number } } | undefined)?.ival?.ival;
    return position === column.index + 1 || JSON.stringify(columnTerm(g)) === term;
  });
}

/** ANDs a conjunct to the subquery's WHERE unless an equal one is there (pushed before); whether added. */
function addConjunct(sub: AstNode, conj: AstNode): boolean {
  const text = exprKey(conj);
  if (conjuncts(sub.whereClause).some((c) => exprKey(c) === text)) return false;
  const where = sub.whereClause as AstNode | undefined;
  const and = where?.BoolExpr as { boolop: string; args: AstNode[] } | undefined;
  if (!where) sub.whereClause = conj;
  else if (and?.boolop === "AND_EXPR") and.args.push(conj);
  else sub.whereClause = { BoolExpr: { boolop: "AND_EXPR", args: [where, conj] } };
  return true;
}
