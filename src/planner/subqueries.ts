// How the subqueries and common table expressions of a statement relate to the shard groups of the
// query levels around them. This module does no I/O: columns and aggregates come through the
// context.
//
// A reference to a table co-located with some *seeds* (the distributed tables of the outer query,
// or the target of an UPDATE/DELETE) is *shard-local* when every row of it the statement can use
// has the distribution value of the seed rows it meets, so the shard group of that value holds all
// of them:
//
// - it is equated on the distribution column, by a condition that restricts it (a conjunct of its
//   level's WHERE or of a join it is not on the preserved side of), to a shard-local reference of
//   its own level or of an enclosing one (a join, or a subquery correlated with
//   `sub.dist = outer.dist`; then any shape of the subquery is evaluated per outer row alike);
// - or it is read by `outer.dist IN (SELECT sub.dist …)` (also as a column of a row comparison)
//   whose SELECT runs whole on each shard group: each row it yields matches only outer rows of its
//   own shard group;
// - or it is in a derived table (subquery in FROM) that runs whole on each shard group, which is
//   then seen as a table whose distribution column is the one it yields (withDerivedRefs), and
//   that table is shard-local.
//
// Reference tables are on every node and need no condition. A statement whose references are all
// shard-local runs whole on each shard group. CTEs are inlined as derived tables first
// (inlineCtes), as PostgreSQL inlines them. What is not shard-local is planned recursively
// (planRecursive): an uncorrelated subquery or CTE runs first as a statement of its own, tables of
// other co-location groups and local tables are fetched, and their rows take their place.
import { SqlError } from "../errors.js";
import type { AstNode } from "../sql/ast.js";
import { cloneAst, stringList, walk } from "../sql/ast.js";
import {
  applicableConjuncts,
  columnTerm,
  conjuncts,
  distColumnRef,
  fromLeaf,
  onNullableSide,
  operatorName,
  type DistributedRef,
  type RelationRef,
} from "./analyze.js";

const depthMax = 1000;

/** What analyzing subqueries needs to know beyond the statement. */
export interface SubqueryContext {
  /** Whether a function name (lower case, unqualified) names an aggregate. */
  isAggregate(name: string): boolean;
  /** The column names of the table a RangeVar of the statement names, or null when not known. */
  columnsOf(rangeVar: AstNode): readonly string[] | null;
}

/** With the test of one query level's shape (planner/pushdown.ts). */
export interface LocalityContext extends SubqueryContext {
  /**
   * Whether the level, apart from its subqueries, runs whole on each shard group (the rows of all
   * shard groups together being its result), given the references at it, derived tables included.
   */
  runsWhole(select: AstNode, levelRefs: readonly DistributedRef[]): boolean;
}

// ---------------------------------------------------------------------------------------------
// Query levels and names

/** The query levels of a statement and how the names written in each one resolve. */
interface Levels {
  /** Every level (SelectStmt, set-operation operand, UPDATE/DELETE/INSERT body), outermost first. */
  readonly all: readonly AstNode[];
  /** The level whose FROM items a level's names see next, as PostgreSQL resolves them (null: none). */
  readonly parent: ReadonlyMap<AstNode, AstNode | null>;
  /** The level a level is written in (null for the statement itself). */
  readonly container: ReadonlyMap<AstNode, AstNode | null>;
  /** For the SELECT of each SubLink: the SubLink and the level it is in. */
  readonly sublinks: ReadonlyMap<AstNode, { link: AstNode; level: AstNode }>;
  /** For the body of each derived table: its FROM item (`{RangeSubselect}`) and the level holding it. */
  readonly derived: ReadonlyMap<AstNode, { holder: AstNode; level: AstNode }>;
  /** For the body of each CTE: its CommonTableExpr and the level whose WITH defines it. */
  readonly ctes: ReadonlyMap<AstNode, { cte: AstNode; level: AstNode }>;
  /** The column references written in each level (not in its subqueries), with the clause holding them. */
  readonly columnRefs: ReadonlyMap<AstNode, { fields: AstNode[]; clause: string }[]>;
}

function body(wrapped: unknown): AstNode | undefined {
  const w = wrapped as AstNode | undefined;
  return (w?.SelectStmt ?? w?.UpdateStmt ?? w?.DeleteStmt ?? w?.InsertStmt) as AstNode | undefined;
}

function levelsOf(stmt: AstNode): Levels {
  const all: AstNode[] = [];
  const parent = new Map<AstNode, AstNode | null>();
  const container = new Map<AstNode, AstNode | null>();
  const sublinks = new Map<AstNode, { link: AstNode; level: AstNode }>();
  const derived = new Map<AstNode, { holder: AstNode; level: AstNode }>();
  const ctes = new Map<AstNode, { cte: AstNode; level: AstNode }>();
  const columnRefs = new Map<AstNode, { fields: AstNode[]; clause: string }[]>();
  const enter = (level: AstNode, scope: AstNode | null, within: AstNode | null, depth: number) => {
    parent.set(level, scope);
    container.set(level, within);
    columnRefs.set(level, []);
    all.push(level);
    for (const [key, value] of Object.entries(level)) {
      // Set-operation operands are bare bodies; they see what the set operation sees.
      if ((key === "larg" || key === "rarg") && value && typeof value === "object" && "op" in value) {
        enter(value as AstNode, level, level, depth + 1);
      } else {
        visit(value, level, key, depth + 1);
      }
    }
  };
  const visit = (value: unknown, level: AstNode | null, clause: string, depth: number): void => {
    if (depth > depthMax) throw new SqlError("54001", "statement is too deeply nested");
    if (Array.isArray(value)) {
      for (const v of value) visit(v, level, clause, depth + 1);
      return;
    }
    if (value === null || typeof value !== "object") return;
    const node = value as AstNode;
    const link = node.SubLink as AstNode | undefined;
    const subquery = (node.RangeSubselect as AstNode | undefined)?.subquery;
    const cte = node.CommonTableExpr as AstNode | undefined;
    const inner = body(link?.subselect ?? subquery ?? cte?.ctequery ?? node);
    if (inner && level) {
      if (link) {
        visit(link.testexpr, level, clause, depth + 1);
        sublinks.set(inner, { link, level });
        return enter(inner, level, level, depth + 1);
      }
      if (subquery) {
        derived.set(inner, { holder: node, level });
        // Only a LATERAL subquery sees the FROM items beside it.
        const lateral = (node.RangeSubselect as AstNode).lateral === true;
        return enter(inner, lateral ? level : (parent.get(level) ?? null), level, depth + 1);
      }
      if (cte) {
        ctes.set(inner, { cte, level });
        return enter(inner, parent.get(level) ?? null, level, depth + 1);
      }
    }
    if (inner) return enter(inner, level, level, depth + 1);
    if (node.ColumnRef && level) {
      columnRefs.get(level)!.push({ fields: (node.ColumnRef as { fields: AstNode[] }).fields, clause });
    }
    for (const v of Object.values(node)) visit(v, level, clause, depth + 1);
  };
  visit(stmt, null, "", 0);
  return { all, parent, container, sublinks, derived, ctes, columnRefs };
}

/** A FROM item of a level: the name it is visible by, the node it stands for, its columns (null: unknown). */
interface FromItem {
  readonly name: string | null;
  readonly leaf: AstNode | null;
  readonly columns: readonly string[] | null;
  /** Whether it is a join merging columns (USING, NATURAL), which `*` lists once. */
  readonly merging?: boolean;
}

/** An output column of a SELECT: its name and, where it is one, the expression computing it. */
interface OutputColumn {
  readonly name: string;
  readonly expr: AstNode | null;
}

/** The statement's levels with the names they see, computed once per level. */
class Scope {
  readonly levels: Levels;
  private readonly items = new Map<AstNode, FromItem[]>();
  private readonly outputs = new Map<AstNode, OutputColumn[] | null>();

  constructor(
    stmt: AstNode,
    private readonly ctx: SubqueryContext,
  ) {
    this.levels = levelsOf(stmt);
  }

  /** The items a level's names resolve against: the DML target, FROM and USING items. */
  fromItems(level: AstNode): FromItem[] {
    let items = this.items.get(level);
    if (items) return items;
    const out: FromItem[] = [];
    const visit = (item: AstNode) => {
      const join = item.JoinExpr as AstNode | undefined;
      if (join && !join.alias) {
        if (join.usingClause || join.isNatural) out.push({ name: null, leaf: null, columns: [], merging: true });
        visit(join.larg as AstNode);
        visit(join.rarg as AstNode);
        return;
      }
      const alias = (Object.values(item)[0] as { alias?: AstNode } | undefined)?.alias;
      const leaf = fromLeaf(item);
      out.push({ name: this.itemName(item, alias), leaf, columns: this.itemColumns(item, alias) });
    };
    if (level.relation) {
      const rv = level.relation as AstNode;
      out.push({
        name: this.itemName({ RangeVar: rv }, rv.alias as AstNode),
        leaf: rv,
        columns: this.ctx.columnsOf(rv),
      });
    }
    for (const item of [...((level.fromClause as AstNode[]) ?? []), ...((level.usingClause as AstNode[]) ?? [])]) {
      visit(item);
    }
    items = out;
    this.items.set(level, items);
    return items;
  }

  private itemName(item: AstNode, alias: AstNode | undefined): string | null {
    const aliasname = alias?.aliasname as string | undefined;
    if (aliasname) return aliasname;
    if (item.RangeVar) return (item.RangeVar as AstNode).relname as string;
    const functions = (item.RangeFunction as AstNode | undefined)?.functions as AstNode[] | undefined;
    if (functions?.length === 1) {
      const call = ((functions[0].List as { items: AstNode[] }).items[0]?.FuncCall as AstNode | undefined) ?? null;
      if (call) return stringList(call.funcname).pop() ?? null;
    }
    return null;
  }

  private itemColumns(item: AstNode, alias: AstNode | undefined): readonly string[] | null {
    let base: readonly string[] | null = null;
    if (item.RangeVar) base = this.ctx.columnsOf(item.RangeVar as AstNode);
    const subquery = body((item.RangeSubselect as AstNode | undefined)?.subquery);
    if (subquery) base = this.outputColumns(subquery)?.map((c) => c.name) ?? null;
    if (!base) return null;
    const renamed = stringList(alias?.colnames);
    return base.map((name, i) => renamed[i] ?? name);
  }

  /** The output columns of a SELECT, as PostgreSQL names them, or null when that is not certain. */
  outputColumns(select: AstNode): OutputColumn[] | null {
    if (this.outputs.has(select)) return this.outputs.get(select)!;
    this.outputs.set(select, null);
    const columns = this.computeOutputColumns(select);
    this.outputs.set(select, columns);
    return columns;
  }

  private computeOutputColumns(select: AstNode): OutputColumn[] | null {
    if (select.op && select.op !== "SETOP_NONE") {
      return this.outputColumns(select.larg as AstNode)?.map((c) => ({ name: c.name, expr: null })) ?? null;
    }
    const values = select.valuesLists as { List: { items: unknown[] } }[] | undefined;
    if (values) return values[0].List.items.map((_, i) => ({ name: `column${i + 1}`, expr: null }));
    const out: OutputColumn[] = [];
    for (const t of (select.targetList as AstNode[] | undefined) ?? []) {
      const target = t.ResTarget as AstNode;
      const val = target.val as AstNode;
      const fields = (val.ColumnRef as { fields: AstNode[] } | undefined)?.fields;
      if (fields && fields[fields.length - 1].A_Star) {
        const star = this.expandStar(select, fields.length === 2 ? stringList([fields[0]])[0] : null);
        if (!star || fields.length > 2) return null;
        out.push(...star);
        continue;
      }
      const name = (target.name as string | undefined) ?? this.figureName(val);
      if (name === null) return null;
      out.push({ name, expr: val });
    }
    return out;
  }

  /** The columns `*` (or `q.*`) stands for in a SELECT's target list. */
  private expandStar(select: AstNode, qualifier: string | null): OutputColumn[] | null {
    const items = this.fromItems(select).filter((i) => qualifier === null || i.name === qualifier);
    if (items.length === 0 || items.some((i) => i.merging || i.columns === null || i.name === null)) return null;
    return items.flatMap((i) =>
      i.columns!.map((c) => ({
        name: c,
        expr: { ColumnRef: { fields: [{ String: { sval: i.name } }, { String: { sval: c } }] } },
      })),
    );
  }

  /** The name PostgreSQL gives an unnamed output expression (FigureColname), or null when unsure. */
  private figureName(val: AstNode): string | null {
    return this.figure(val)?.name ?? null;
  }

  /** FigureColnameInternal: a name and how strongly the expression suggests it (0: "?column?"). */
  private figure(val: AstNode): { name: string; strength: number } | null {
    const kind = Object.keys(val)[0];
    const node = val[kind] as AstNode;
    const strong = (name: string | undefined) => (name ? { name, strength: 2 } : null);
    const none = { name: "?column?", strength: 0 };
    switch (kind) {
      case "ColumnRef":
        return strong(stringList((node.fields as AstNode[]).filter((f) => f.String)).pop());
      case "FuncCall":
        return strong(stringList(node.funcname).pop());
      case "TypeCast": {
        const inner = this.figure(node.arg as AstNode);
        if (!inner || inner.strength > 1) return inner;
        return { name: stringList((node.typeName as AstNode).names).pop() ?? "?column?", strength: 1 };
      }
      case "CollateClause":
        return this.figure(node.arg as AstNode);
      case "A_Indirection": {
        const field = stringList((node.indirection as AstNode[]).filter((i) => i.String)).pop();
        return field ? strong(field) : this.figure(node.arg as AstNode);
      }
      case "CaseExpr": {
        const result = node.defresult ? this.figure(node.defresult as AstNode) : none;
        if (!result || result.strength > 1) return result;
        return { name: "case", strength: 1 };
      }
      case "SubLink": {
        const type = node.subLinkType;
        if (type === "EXISTS_SUBLINK") return strong("exists");
        if (type === "ARRAY_SUBLINK") return strong("array");
        if (type !== "EXPR_SUBLINK") return none;
        const select = body(node.subselect);
        const first = select ? this.outputColumns(select)?.[0] : undefined;
        return first ? strong(first.name) : null;
      }
      case "A_Expr":
        return node.kind === "AEXPR_NULLIF" ? strong("nullif") : none;
      case "A_ArrayExpr":
        return strong("array");
      case "RowExpr":
        return strong("row");
      case "CoalesceExpr":
        return strong("coalesce");
      case "GroupingFunc":
        return strong("grouping");
      case "MinMaxExpr":
        return strong(node.op === "IS_GREATEST" ? "greatest" : "least");
      case "SQLValueFunction":
        return strong(
          String(node.op)
            .replace(/^SVFOP_/, "")
            .replace(/_N$/, "")
            .toLowerCase(),
        );
      case "A_Const":
      case "BoolExpr":
      case "NullTest":
      case "BooleanTest":
      case "ParamRef":
        return none;
      default:
        return null;
    }
  }

  /**
   * The reference whose distribution column a column reference written at `level` denotes, as
   * PostgreSQL resolves names (innermost level first), or null when that is not certain.
   */
  resolve(e: AstNode, level: AstNode, byLeaf: ReadonlyMap<AstNode, DistributedRef>): DistributedRef | null {
    const term = columnTerm(e);
    if (!term) return null;
    const [qualifier, column] = term;
    const denoted = (item: FromItem) => {
      const ref = item.leaf ? byLeaf.get(item.leaf) : undefined;
      return ref && ref.table.method === "h" && ref.table.partitionKey === column ? ref : null;
    };
    for (let l: AstNode | null | undefined = level; l; l = this.levels.parent.get(l)) {
      const items = this.fromItems(l).filter((i) => !i.merging);
      let found: FromItem[];
      if (qualifier !== null) {
        if (items.some((i) => i.name === null)) return null;
        found = items.filter((i) => i.name === qualifier);
      } else if (items.every((i) => i.columns !== null)) {
        found = items.filter((i) => i.columns!.includes(column));
      } else {
        // Without every item's columns, an unqualified name is only certain when its level has
        // one item, whose distribution column it names.
        return items.length === 1 ? denoted(items[0]) : null;
      }
      if (found.length === 0) continue;
      return found.length === 1 ? denoted(found[0]) : null;
    }
    return null;
  }

  /** Whether `level` is `outer` or written inside it. */
  within(level: AstNode, outer: AstNode): boolean {
    for (let l: AstNode | null | undefined = level; l; l = this.levels.container.get(l)) if (l === outer) return true;
    return false;
  }

  /**
   * Whether a level with everything in it names nothing outside itself (no column of an enclosing
   * level, no CTE defined outside it), so that it runs alike as a statement of its own.
   */
  selfContained(level: AstNode): boolean {
    const outerCtes = new Set<string>();
    for (const [cteBody, site] of this.levels.ctes) {
      if (!this.within(site.level, level) || cteBody === level) {
        outerCtes.add((site.cte.ctename as string) ?? "");
      }
    }
    for (const inner of this.levels.all) {
      if (!this.within(inner, level)) continue;
      for (const item of this.fromItems(inner)) {
        const rv = item.leaf && !(item.leaf as AstNode).schemaname ? (item.leaf as AstNode) : null;
        if (rv && typeof rv.relname === "string" && outerCtes.has(rv.relname)) return false;
      }
      for (const ref of this.levels.columnRefs.get(inner) ?? []) {
        if (!this.resolvesWithin(ref.fields, ref.clause, inner, level)) return false;
      }
    }
    return true;
  }

  /** Whether the column reference written at `inner` resolves at a level within `outer`. */
  private resolvesWithin(fields: AstNode[], clause: string, inner: AstNode, outer: AstNode): boolean {
    const names = fields.map((f) => (f.String as { sval?: string } | undefined)?.sval ?? (f.A_Star ? "*" : null));
    if (names.length === 1 && names[0] === "*") return true;
    if (names.length > 2 || names.some((n) => n === null)) return false;
    // ORDER BY, GROUP BY and DISTINCT ON also see the level's output names.
    const outputVisible = clause === "sortClause" || clause === "groupClause" || clause === "distinctClause";
    for (let l: AstNode | null | undefined = inner; l && this.within(l, outer); l = this.levels.parent.get(l)) {
      const items = this.fromItems(l).filter((i) => !i.merging);
      if (names.length === 2) {
        if (items.some((i) => i.name === names[0])) return true;
        if (items.some((i) => i.name === null)) return false;
        continue;
      }
      const name = names[0]!;
      if (items.some((i) => i.name === name || i.columns?.includes(name))) return true;
      if (l === inner && outputVisible && this.outputColumns(l)?.some((c) => c.name === name)) return true;
      if (items.some((i) => i.columns === null)) return false;
    }
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Derived tables and shard-local references

/**
 * The references with each derived table that runs whole on each shard group (not LATERAL, named)
 * seen as a table of its tables' co-location group, distributed by the first distribution column
 * it yields (none: its partitionKey is null). Its `rangeVar` is its RangeSubselect.
 */
export function withDerivedRefs(
  stmt: AstNode,
  refs: readonly DistributedRef[],
  ctx: LocalityContext,
): DistributedRef[] {
  const scope = new Scope(stmt, ctx);
  const out = [...refs];
  // Innermost first: a derived table may hold derived tables.
  for (const level of [...scope.levels.all].reverse()) {
    const site = scope.levels.derived.get(level);
    if (!site) continue;
    const node = site.holder.RangeSubselect as AstNode;
    const alias = node.alias as AstNode | undefined;
    const aliasname = alias?.aliasname as string | undefined;
    if (!aliasname || node.lateral) continue;
    const levelRefs = out.filter((r) => r.level === level);
    const hash = levelRefs.filter((r) => r.table.method === "h");
    if (hash.length === 0 || !ctx.runsWhole(level, levelRefs)) continue;
    const columns = scope.outputColumns(level);
    if (!columns) continue;
    const renamed = stringList(alias?.colnames);
    const key = columns.findIndex((c) => {
      const ref = c.expr ? distColumnRef(c.expr, hash) : null;
      return ref !== null && !onNullableSide(ref);
    });
    out.push({
      rangeVar: node,
      schemaname: undefined,
      relname: aliasname,
      refName: aliasname,
      level: site.level,
      isTarget: false,
      holder: site.holder,
      table: { ...hash[0].table, partitionKey: key < 0 ? null : (renamed[key] ?? columns[key].name) },
    });
  }
  return out;
}

/**
 * The references (derived tables included, see withDerivedRefs) shard-local with respect to the
 * seeds, the seeds among them.
 */
export function shardLocalRefs(
  stmt: AstNode,
  seeds: readonly DistributedRef[],
  refs: readonly DistributedRef[],
  ctx: LocalityContext,
): Set<DistributedRef> {
  const scope = new Scope(stmt, ctx);
  const byLeaf = new Map(refs.map((r) => [r.rangeVar, r]));
  const local = new Set<DistributedRef>(seeds);
  if (seeds.length === 0) return local;
  const colocation = seeds[0].table.colocationId;
  const colocated = (r: DistributedRef) => r.table.method === "h" && r.table.colocationId === colocation;
  const candidates = refs.filter((r) => colocated(r) && !local.has(r));
  const derived: [DistributedRef, DistributedRef[]][] = [];
  for (const [level, site] of scope.levels.derived) {
    const ref = byLeaf.get(site.holder.RangeSubselect as AstNode);
    if (ref) derived.push([ref, refs.filter((r) => r.level === level && colocated(r))]);
  }
  const resolve = (e: AstNode, level: AstNode) => {
    const ref = scope.resolve(e, level, byLeaf);
    return ref && local.has(ref) ? ref : null;
  };
  const add = (r: DistributedRef) => {
    if (local.has(r) || !colocated(r)) return false;
    local.add(r);
    return true;
  };
  let changed = true;
  while (changed) {
    changed = false;
    // A derived table's rows are its tables' rows: when one side is shard-local, so is the other.
    for (const [ref, inner] of derived) {
      if (local.has(ref) || inner.some((r) => local.has(r))) {
        for (const r of [ref, ...inner]) changed = add(r) || changed;
      }
    }
    for (const ref of candidates) {
      if (local.has(ref)) continue;
      if (equatedToLocal(ref, scope, byLeaf, resolve) || readByShardLocalIn(ref, refs, scope, ctx, resolve)) {
        changed = add(ref) || changed;
      }
    }
  }
  return local;
}

/** Whether a condition restricting the reference equates its distribution column to a shard-local one. */
function equatedToLocal(
  ref: DistributedRef,
  scope: Scope,
  byLeaf: ReadonlyMap<AstNode, DistributedRef>,
  resolve: (e: AstNode, level: AstNode) => DistributedRef | null,
): boolean {
  return applicableConjuncts(ref).some((conj) => {
    const e = conj.A_Expr as AstNode | undefined;
    if (!e || e.kind !== "AEXPR_OP" || operatorName(e) !== "=") return false;
    const [a, b] = [e.lexpr as AstNode, e.rexpr as AstNode];
    const own = (x: AstNode) => scope.resolve(x, ref.level, byLeaf) === ref;
    return (own(a) && resolve(b, ref.level) !== null) || (own(b) && resolve(a, ref.level) !== null);
  });
}

/**
 * Whether the reference is in the SELECT of `outer.dist IN (SELECT sub.dist …)` (or a row
 * comparison with such a column) that runs whole on each shard group, `outer` being shard-local.
 * Neither column may be NULL-extended by an outer join: `NULL IN (…)` is NULL or false depending
 * on whether the shard group's rows are empty, where the whole table's may not be.
 */
function readByShardLocalIn(
  ref: DistributedRef,
  refs: readonly DistributedRef[],
  scope: Scope,
  ctx: LocalityContext,
  resolve: (e: AstNode, level: AstNode) => DistributedRef | null,
): boolean {
  const site = scope.levels.sublinks.get(ref.level);
  if (!site || site.link.subLinkType !== "ANY_SUBLINK" || (operatorName(site.link, "operName") ?? "=") !== "=") {
    return false;
  }
  const select = ref.level;
  const levelRefs = refs.filter((r) => r.level === select);
  if (!ctx.runsWhole(select, levelRefs)) return false;
  const test = site.link.testexpr as AstNode;
  const tested = ((test.RowExpr as AstNode | undefined)?.args as AstNode[] | undefined) ?? [test];
  const targets = ((select.targetList as AstNode[] | undefined) ?? []).map((t) => (t.ResTarget as AstNode).val);
  if (targets.length !== tested.length) return false;
  const hashRefs = levelRefs.filter((r) => r.table.method === "h");
  return tested.some((t, i) => {
    const yielded = distColumnRef(targets[i] as AstNode, hashRefs);
    const outer = resolve(t, site.level);
    return yielded !== null && !onNullableSide(yielded) && outer !== null && !onNullableSide(outer);
  });
}

/**
 * The hash-distributed references of one level in groups that each run together on a shard
 * group: co-located and equated on their distribution columns (WHERE, ON, USING).
 */
export function joinedGroups(select: AstNode, hashRefs: readonly DistributedRef[]): DistributedRef[][] {
  const parent = new Map<DistributedRef, DistributedRef>(hashRefs.map((r) => [r, r]));
  const find = (r: DistributedRef): DistributedRef => (parent.get(r) === r ? r : find(parent.get(r)!));
  const union = (a: DistributedRef, b: DistributedRef) => {
    if (a.table.colocationId === b.table.colocationId) parent.set(find(a), find(b));
  };
  const quals: AstNode[] = [...conjuncts(select.whereClause)];
  const visit = (item: AstNode): DistributedRef[] => {
    const leaf = fromLeaf(item);
    if (leaf) return hashRefs.filter((r) => r.rangeVar === leaf);
    const join = item.JoinExpr as AstNode | undefined;
    if (!join) return [];
    const left = visit(join.larg as AstNode);
    const right = visit(join.rarg as AstNode);
    quals.push(...conjuncts(join.quals));
    for (const name of stringList(join.usingClause)) {
      const l = left.find((r) => r.table.partitionKey === name);
      const r = right.find((x) => x.table.partitionKey === name);
      if (l && r) union(l, r);
    }
    return [...left, ...right];
  };
  for (const item of (select.fromClause as AstNode[] | undefined) ?? []) visit(item);
  for (const q of quals) {
    const e = q.A_Expr as AstNode | undefined;
    if (!e || e.kind !== "AEXPR_OP" || operatorName(e) !== "=") continue;
    const a = distColumnRef(e.lexpr as AstNode, hashRefs);
    const b = distColumnRef(e.rexpr as AstNode, hashRefs);
    if (a && b) union(a, b);
  }
  const groups = new Map<DistributedRef, DistributedRef[]>();
  for (const r of hashRefs) groups.set(find(r), [...(groups.get(find(r)) ?? []), r]);
  return [...groups.values()];
}

/** The names a level's FROM items give their columns (null when one of them is not known). */
export function levelInputColumns(stmt: AstNode, level: AstNode, ctx: SubqueryContext): Set<string> | null {
  const names = new Set<string>();
  for (const item of new Scope(stmt, ctx).fromItems(level)) {
    if (item.columns === null) return null;
    for (const c of item.columns) names.add(c);
  }
  return names;
}

// ---------------------------------------------------------------------------------------------
// CTEs

/**
 * The statement (a copy) with the CTEs of each non-recursive WITH whose queries are all SELECTs
 * written in place of their references as derived tables, as PostgreSQL inlines them, and for each
 * derived table made so, the CommonTableExpr it comes from. The caller makes sure it cannot change
 * the answer (no volatile functions, no locking clause): a CTE referenced twice is computed twice.
 */
export function inlineCtes(stmt: AstNode): { stmt: AstNode; origins: Map<AstNode, AstNode> } {
  const copy = cloneAst(stmt);
  const origins = new Map<AstNode, AstNode>();
  // A name in scope: the CTE to inline, or null for a CTE left as it is (it hides outer ones).
  type Scope = ReadonlyMap<string, AstNode | null>;
  const visit = (value: unknown, scope: Scope, depth: number): void => {
    if (depth > depthMax) throw new SqlError("54001", "statement is too deeply nested");
    if (Array.isArray(value)) {
      for (const v of value) visit(v, scope, depth + 1);
      return;
    }
    if (value === null || typeof value !== "object") return;
    const node = value as AstNode;
    const rv = node.RangeVar as AstNode | undefined;
    if (rv) {
      const cte = rv.schemaname ? null : scope.get(rv.relname as string);
      if (cte) {
        delete node.RangeVar;
        node.RangeSubselect = { subquery: cloneAst(cte.ctequery), alias: cteAlias(rv, cte) };
        origins.set(node.RangeSubselect as AstNode, cte);
      }
      return;
    }
    const withClause = node.withClause as AstNode | undefined;
    if (!withClause) {
      for (const v of Object.values(node)) visit(v, scope, depth + 1);
      return;
    }
    const inner = new Map(scope);
    const ctes = ((withClause.ctes as AstNode[]) ?? []).map((c) => c.CommonTableExpr as AstNode);
    if (!withClause.recursive && ctes.every((c) => (c.ctequery as AstNode).SelectStmt)) {
      // Each CTE sees the ones before it.
      for (const c of ctes) {
        visit(c.ctequery, inner, depth + 1);
        inner.set(c.ctename as string, c);
      }
      delete node.withClause;
    } else {
      for (const c of ctes) inner.set(c.ctename as string, null);
      visit(withClause, inner, depth + 1);
    }
    for (const [key, v] of Object.entries(node)) if (key !== "withClause") visit(v, inner, depth + 1);
  };
  visit(copy, new Map(), 0);
  return { stmt: copy, origins };
}

/** The alias of a CTE inlined for a reference: the reference's name, its column names over the CTE's. */
function cteAlias(rv: AstNode, cte: AstNode): AstNode {
  const alias = rv.alias as AstNode | undefined;
  const own = (alias?.colnames as AstNode[] | undefined) ?? [];
  const names = (cte.aliascolnames as AstNode[] | undefined) ?? [];
  const colnames = [...own, ...names.slice(own.length)];
  return {
    aliasname: (alias?.aliasname as string | undefined) ?? (rv.relname as string),
    ...(colnames.length > 0 ? { colnames: cloneAst(colnames) } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Recursive planning

/** What runs before a SELECT that cannot run whole on the shards as it is. */
export interface RecursivePlan {
  /**
   * Self-contained SELECTs to run first, each with the places its rows take: SubLinks, derived
   * tables' FROM items (all those inlined from one CTE), CommonTableExprs.
   */
  readonly subplans: readonly { readonly select: AstNode; readonly sites: readonly AstNode[] }[];
  /** References whose rows are fetched in their place: tables of other co-location groups, local tables. */
  readonly fetched: readonly RelationRef[];
}

/**
 * Chooses what runs first (see the module comment). The outer query keeps the largest group of
 * its distributed tables that runs together on shard groups (preferring one not NULL-extended by
 * an outer join); the other tables of its FROM and the local tables are fetched; each outermost
 * subquery or CTE that reads a table not shard-local with that group and names nothing outside
 * itself becomes a subplan. When that leaves nothing to do (the outer query itself cannot run on
 * the shards), every outermost self-contained subquery reading distributed tables does. Returns
 * null when nothing can be planned first.
 */
export function planRecursive(
  stmt: AstNode,
  refs: readonly DistributedRef[],
  local: readonly RelationRef[],
  origins: ReadonlyMap<AstNode, AstNode>,
  ctx: LocalityContext,
): RecursivePlan | null {
  // A data-modifying WITH runs where it is written, on the coordinator.
  if (local.some((r) => r.isTarget)) return null;
  const top = stmt.SelectStmt as AstNode;
  const scope = new Scope(stmt, ctx);
  const all = withDerivedRefs(stmt, refs, ctx);
  const topRefs = all.filter((r) => r.table.method === "h" && r.level === top);
  const groups = joinedGroups(top, topRefs);
  const preserved = (g: DistributedRef[]) => (g.some((r) => !onNullableSide(r)) ? 1 : 0);
  groups.sort((a, b) => preserved(b) - preserved(a) || b.length - a.length);
  const anchor = groups[0] ?? [];
  const shardLocal = shardLocalRefs(stmt, anchor, all, ctx);
  const hashRefs = refs.filter((r) => r.table.method === "h");

  const subplans: { select: AstNode; sites: AstNode[] }[] = [];
  const chosen: AstNode[] = [];
  const underChosen = (level: AstNode) => chosen.some((c) => scope.within(level, c));
  const choose = (blocked: (level: AstNode) => boolean) => {
    for (const level of scope.levels.all) {
      if (level === top || underChosen(level) || !blocked(level)) continue;
      const sites = subplanSites(level, scope, origins, underChosen);
      if (sites.length === 0 || !scope.selfContained(level)) continue;
      chosen.push(...sites.map((s) => s.level));
      subplans.push({ select: subplanQuery(level, sites[0].site), sites: sites.map((s) => s.site) });
    }
  };
  choose((level) => hashRefs.some((r) => scope.within(r.level, level) && !shardLocal.has(r)));
  // LIMIT and OFFSET are applied by the coordinator, whose database has only the tables' shells:
  // a subquery there reading distributed or reference tables runs first, whatever its locality.
  const limits = [top.limitCount, top.limitOffset].filter((e) => e !== undefined);
  const inLimit = (level: AstNode) => {
    const site = scope.levels.sublinks.get(level);
    let found = false;
    if (site?.level === top) walk(limits, (node) => (found ||= node.SubLink === site.link));
    return found;
  };
  if (limits.length > 0) choose((level) => inLimit(level) && refs.some((r) => scope.within(r.level, level)));
  const fetched: RelationRef[] = [
    ...topRefs.filter((r) => !anchor.includes(r) && refs.includes(r)),
    ...local.filter((r) => !underChosen(r.level)),
  ];
  if (subplans.length === 0 && fetched.length === 0) {
    choose((level) => hashRefs.some((r) => scope.within(r.level, level)));
  }
  return subplans.length === 0 && fetched.length === 0 ? null : { subplans, fetched };
}

/**
 * The SELECT a subplan runs for a level: for EXISTS only whether there is a row, for a scalar
 * subquery at most the two rows that tell one from several, as PostgreSQL stops reading there.
 */
function subplanQuery(level: AstNode, site: AstNode): AstNode {
  const limit = site.subLinkType === "EXISTS_SUBLINK" ? 1 : site.subLinkType === "EXPR_SUBLINK" ? 2 : null;
  if (limit === null) return level;
  return {
    targetList: [{ ResTarget: { val: { ColumnRef: { fields: [{ A_Star: {} }] } } } }],
    fromClause: [{ RangeSubselect: { subquery: { SelectStmt: level }, alias: { aliasname: "s" } } }],
    limitCount: { A_Const: { ival: { ival: limit } } },
    limitOption: "LIMIT_OPTION_COUNT",
    op: "SETOP_NONE",
  };
}

/**
 * The places a subplan of `level` fills, each with the level it replaces: its SubLink, its CTE (not
 * of a recursive WITH), or its derived table's FROM item with every other one inlined from the
 * same CTE.
 */
function subplanSites(
  level: AstNode,
  scope: Scope,
  origins: ReadonlyMap<AstNode, AstNode>,
  underChosen: (level: AstNode) => boolean,
): { site: AstNode; level: AstNode }[] {
  const link = scope.levels.sublinks.get(level)?.link;
  if (link) return [{ site: link, level }];
  const cte = scope.levels.ctes.get(level);
  if (cte) {
    const withClause = cte.level.withClause as AstNode | undefined;
    return withClause?.recursive ? [] : [{ site: cte.cte, level }];
  }
  const derived = scope.levels.derived.get(level);
  if (!derived) return [];
  const origin = origins.get(derived.holder.RangeSubselect as AstNode);
  if (!origin) return [{ site: derived.holder, level }];
  const sites: { site: AstNode; level: AstNode }[] = [];
  for (const [other, site] of scope.levels.derived) {
    if (other === level || (origins.get(site.holder.RangeSubselect as AstNode) === origin && !underChosen(other))) {
      sites.push({ site: site.holder, level: other });
    }
  }
  return sites;
}
