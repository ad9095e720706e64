// Decides which tables an UPDATE or DELETE of a distributed table can read shard by shard. A
// reference to a table co-located with the target is *shard-local* when every row of it the
// statement can use has the distribution value of the target row being modified, so the shard
// group of that value holds all of them:
//
// - it is equated on the distribution column, by a condition that restricts it (a conjunct of its
//   level's WHERE or of a join it is not on the preserved side of), to a shard-local reference of
//   its own level or of an enclosing one (a join in UPDATE … FROM / DELETE … USING, or a subquery
//   correlated with `sub.dist = target.dist`);
// - or it is read by `outer.dist IN (SELECT sub.dist …)` (also as a column of a row comparison)
//   whose SELECT runs whole on each shard group: each row it yields matches only outer rows of
//   its own shard group.
//
// Reference tables are on every node and need no condition. Every other reference (other
// co-location groups, uncorrelated subqueries, CTEs, derived tables) is not shard-local: the
// executor brings its rows to the shards. This module does no I/O.
import type { AstNode } from "../sql/ast.js";
import { applicableConjuncts, columnTerm, onNullableSide, type DistributedRef } from "./analyze.js";
import { distColumnRef, runsWholeOnShards, type ShapeContext } from "./pushdown.js";

const depthMax = 1000;

/** The query levels of a statement: each one's enclosing level, and where its subqueries sit. */
interface Scopes {
  /** The enclosing level whose FROM items a level can see (null: none, or not followed). */
  readonly parent: Map<AstNode, AstNode | null>;
  /** For the SELECT of each SubLink: the SubLink and the level it is in. */
  readonly sublinks: Map<AstNode, { link: AstNode; level: AstNode }>;
}

/**
 * The references besides the target (hash-distributed, co-located with it) that each shard group
 * can read from its own shards while modifying the target's shard. Without `shape` (aggregates
 * unknown), no `IN (SELECT …)` qualifies.
 */
export function shardLocalRefs(
  stmt: AstNode,
  target: DistributedRef,
  refs: readonly DistributedRef[],
  shape: Omit<ShapeContext, "refs"> | null,
): Set<DistributedRef> {
  const scopes = scopesOf(stmt);
  const byRangeVar = new Map(refs.map((r) => [r.rangeVar, r]));
  const local = new Set<DistributedRef>([target]);
  const candidates = refs.filter(
    (r) => r !== target && r.table.method === "h" && r.table.colocationId === target.table.colocationId,
  );
  const resolve = (e: AstNode, level: AstNode) => {
    const ref = resolveColumn(e, level, scopes, byRangeVar);
    return ref && local.has(ref) ? ref : null;
  };
  let changed = true;
  while (changed) {
    changed = false;
    for (const ref of candidates) {
      if (local.has(ref)) continue;
      if (
        equatedToLocal(ref, scopes, byRangeVar, resolve) ||
        (shape !== null && readByShardLocalIn(ref, refs, scopes, shape, resolve))
      ) {
        local.add(ref);
        changed = true;
      }
    }
  }
  local.delete(target);
  return local;
}

/** Whether a condition restricting the reference equates its distribution column to a shard-local one. */
function equatedToLocal(
  ref: DistributedRef,
  scopes: Scopes,
  byRangeVar: ReadonlyMap<AstNode, DistributedRef>,
  resolve: (e: AstNode, level: AstNode) => DistributedRef | null,
): boolean {
  return applicableConjuncts(ref).some((conj) => {
    const e = conj.A_Expr as AstNode | undefined;
    if (!e || e.kind !== "AEXPR_OP" || operatorName(e) !== "=") return false;
    const [a, b] = [e.lexpr as AstNode, e.rexpr as AstNode];
    const own = (x: AstNode) => resolveColumn(x, ref.level, scopes, byRangeVar) === ref;
    return (own(a) && resolve(b, ref.level) !== null) || (own(b) && resolve(a, ref.level) !== null);
  });
}

/**
 * Whether the reference is in the SELECT of `outer.dist IN (SELECT sub.dist …)` (or a row
 * comparison with such a column) that runs whole on each shard group, `outer` being shard-local.
 */
function readByShardLocalIn(
  ref: DistributedRef,
  refs: readonly DistributedRef[],
  scopes: Scopes,
  shape: Omit<ShapeContext, "refs">,
  resolve: (e: AstNode, level: AstNode) => DistributedRef | null,
): boolean {
  const site = scopes.sublinks.get(ref.level);
  if (!site || site.link.subLinkType !== "ANY_SUBLINK" || (operatorName(site.link, "operName") ?? "=") !== "=") {
    return false;
  }
  const select = ref.level;
  const levelRefs = refs.filter((r) => r.level === select);
  if (!runsWholeOnShards(select, { ...shape, refs: levelRefs })) return false;
  const test = site.link.testexpr as AstNode;
  const tested = ((test.RowExpr as AstNode | undefined)?.args as AstNode[] | undefined) ?? [test];
  const targets = ((select.targetList as AstNode[] | undefined) ?? []).map((t) => (t.ResTarget as AstNode).val);
  if (targets.length !== tested.length) return false;
  const hashRefs = levelRefs.filter((r) => r.table.method === "h");
  return tested.some((t, i) => {
    const yielded = distColumnRef(targets[i] as AstNode, hashRefs);
    // A NULL-extended row would compare as NULL rather than false on the other shard groups.
    return yielded !== null && !onNullableSide(yielded) && resolve(t, site.level) !== null;
  });
}

/**
 * The reference whose distribution column a column reference written at `level` denotes, as
 * PostgreSQL resolves names (innermost level first), or null when that is not certain.
 */
function resolveColumn(
  e: AstNode,
  level: AstNode,
  scopes: Scopes,
  byRangeVar: ReadonlyMap<AstNode, DistributedRef>,
): DistributedRef | null {
  const term = columnTerm(e);
  if (!term) return null;
  const [qualifier, column] = term;
  const denoted = (item: FromItem | undefined) => {
    const ref = item?.rangeVar ? byRangeVar.get(item.rangeVar) : undefined;
    return ref && ref.table.method === "h" && ref.table.partitionKey === column ? ref : null;
  };
  for (let l: AstNode | null | undefined = level; l; l = scopes.parent.get(l)) {
    const items = fromItems(l);
    if (qualifier === null) {
      // Without knowing every table's columns, an unqualified name is only certain when its level
      // has one table, which has the column.
      if (items.length === 0) continue;
      return items.length === 1 ? denoted(items[0]) : null;
    }
    if (items.some((i) => i.name === null)) return null;
    const named = items.filter((i) => i.name === qualifier);
    if (named.length === 0) continue;
    return named.length === 1 ? denoted(named[0]) : null;
  }
  return null;
}

/** A FROM item of a level: the name it is visible by (null: not known) and its RangeVar if a table. */
interface FromItem {
  readonly name: string | null;
  readonly rangeVar?: AstNode;
}

/** The items a level's names resolve against: the DML target, FROM and USING items. */
function fromItems(level: AstNode): FromItem[] {
  const items: FromItem[] = [];
  const add = (rv: AstNode) =>
    items.push({
      name: (rv.alias as { aliasname?: string } | undefined)?.aliasname ?? (rv.relname as string),
      rangeVar: rv,
    });
  const visit = (item: AstNode) => {
    if (item.RangeVar) return add(item.RangeVar as AstNode);
    const join = item.JoinExpr as AstNode | undefined;
    if (join && !join.alias) {
      visit(join.larg as AstNode);
      visit(join.rarg as AstNode);
      return;
    }
    const node = Object.values(item)[0] as { alias?: { aliasname?: string } } | undefined;
    items.push({ name: node?.alias?.aliasname ?? null });
  };
  if (level.relation) add(level.relation as AstNode);
  for (const item of [...((level.fromClause as AstNode[]) ?? []), ...((level.usingClause as AstNode[]) ?? [])]) {
    visit(item);
  }
  return items;
}

/**
 * The levels of a statement (the bodies of SelectStmt, UpdateStmt, DeleteStmt, InsertStmt and of
 * set-operation operands) with their enclosing levels. The bodies of CTEs and of subqueries in
 * FROM get none: their names are not followed outward (they cannot see the level they sit in).
 */
function scopesOf(stmt: AstNode): Scopes {
  const parent = new Map<AstNode, AstNode | null>();
  const sublinks = new Map<AstNode, { link: AstNode; level: AstNode }>();
  const detached = new Set<AstNode>();
  const body = (wrapped: unknown): AstNode | undefined => {
    const w = wrapped as AstNode | undefined;
    return (w?.SelectStmt ?? w?.UpdateStmt ?? w?.DeleteStmt ?? w?.InsertStmt) as AstNode | undefined;
  };
  const visit = (value: unknown, key: string | number, level: AstNode | null, depth: number) => {
    if (depth > depthMax) return;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) visit(value[i], i, level, depth + 1);
      return;
    }
    if (value === null || typeof value !== "object") return;
    const node = value as AstNode;
    if ((key === "larg" || key === "rarg") && "op" in node) {
      parent.set(node, level);
      level = node;
    }
    const inner = body(node);
    if (inner) {
      parent.set(inner, detached.has(inner) ? null : level);
      for (const [k, v] of Object.entries(inner)) visit(v, k, inner, depth + 1);
      return;
    }
    const link = node.SubLink as AstNode | undefined;
    const select = body(link?.subselect);
    if (link && select && level) sublinks.set(select, { link, level });
    const cte = body((node.CommonTableExpr as AstNode | undefined)?.ctequery);
    if (cte) detached.add(cte);
    const derived = body((node.RangeSubselect as AstNode | undefined)?.subquery);
    if (derived) detached.add(derived);
    for (const [k, v] of Object.entries(node)) visit(v, k, level, depth + 1);
  };
  visit(stmt, 0, null, 0);
  return { parent, sublinks };
}

function operatorName(expr: AstNode, key = "name"): string | null {
  const names = (expr[key] as AstNode[] | undefined) ?? [];
  if (names.length === 0) return null;
  return (names[names.length - 1].String as { sval?: string } | undefined)?.sval ?? null;
}
