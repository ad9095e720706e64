// Pure analysis of a statement's references to distributed and reference tables: where each one
// sits (query level, outer-join side), and which values its distribution column is pinned to by
// equalities, IN lists and = ANY(ARRAY[…]), directly or through join conditions. The planner
// decides router or multi-shard execution from this; it does no I/O.
import type { AstNode } from "../sql/ast.js";
import { stringList, walk } from "../sql/ast.js";
import type { TableRecord } from "../metadata/cache.js";
import { oid as typeOids } from "../metadata/hash.js";

/**
 * Where a pinned value comes from: a constant of the statement, a parameter of the Bind, or a
 * setting of the session the statement reads with current_setting() (a tenant's id, say), whose
 * value the workers are given with the statement.
 */
export type ValueSource =
  | { readonly kind: "const"; readonly text: string }
  | { readonly kind: "param"; readonly number: number }
  | { readonly kind: "setting"; readonly name: string };

/** One reference to a table in the statement (a RangeVar in FROM, or a DML target). */
export interface RelationRef {
  /**
   * The RangeVar object itself (rewritten in place when planning); for a derived table seen as a
   * table (planner/subqueries.ts), its RangeSubselect.
   */
  readonly rangeVar: AstNode;
  readonly schemaname: string | undefined;
  readonly relname: string;
  /** The name columns are qualified with: the alias, or the relation name. */
  readonly refName: string;
  /** The SelectStmt/UpdateStmt/DeleteStmt/InsertStmt this reference belongs to. */
  readonly level: AstNode;
  /** Whether this is the target of INSERT/UPDATE/DELETE. */
  readonly isTarget: boolean;
  /** For references in FROM: the node holding the RangeVar (`{RangeVar: …}`), to replace it. */
  readonly holder?: AstNode;
}

/** A reference whose relation turned out to be a distributed or reference table. */
export interface DistributedRef extends RelationRef {
  readonly table: TableRecord;
}

/** Collects every relation reference in a statement, leaving out references to CTE names. */
export function collectRelationRefs(stmt: AstNode): RelationRef[] {
  const cteNames = new Set<string>();
  walk(stmt, (node) => {
    const cte = node.CommonTableExpr as { ctename?: string } | undefined;
    if (cte?.ctename) cteNames.add(cte.ctename);
  });
  const refs: RelationRef[] = [];
  const add = (rv: AstNode, level: AstNode, isTarget: boolean, holder?: AstNode) => {
    const relname = rv.relname as string;
    const schemaname = rv.schemaname as string | undefined;
    if (!schemaname && cteNames.has(relname)) return;
    const alias = (rv.alias as { aliasname?: string } | undefined)?.aliasname;
    refs.push({ rangeVar: rv, schemaname, relname, refName: alias ?? relname, level, isTarget, holder });
  };
  // Every wrapped RangeVar sits in a FROM list (or a join in one) of the nearest enclosing query
  // level; the operands of a set operation (larg/rarg) are levels of their own.
  const visit = (value: unknown, key: string | number, level: AstNode | null, depth: number) => {
    // FOR UPDATE OF names FROM items of its level, not relations.
    if (depth > 1000 || key === "lockedRels") return;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) visit(value[i], i, level, depth + 1);
      return;
    }
    if (value === null || typeof value !== "object") return;
    const node = value as AstNode;
    // Set-operation operands are bare SelectStmt bodies; a join's operands are wrapped nodes.
    if ((key === "larg" || key === "rarg") && "op" in node) level = node;
    for (const k of ["SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"]) {
      const inner = node[k] as AstNode | undefined;
      if (!inner) continue;
      if (k !== "SelectStmt" && inner.relation) add(inner.relation as AstNode, inner, true);
      for (const [ik, iv] of Object.entries(inner)) if (ik !== "relation") visit(iv, ik, inner, depth + 1);
      return;
    }
    if (node.RangeVar && level) {
      add(node.RangeVar as AstNode, level, false, node);
      return;
    }
    for (const [k, v] of Object.entries(node)) visit(v, k, level, depth + 1);
  };
  visit(stmt, 0, null, 0);
  return refs;
}

/** The node a FROM item stands for (its RangeVar, RangeSubselect or RangeFunction); null for joins. */
export function fromLeaf(item: AstNode): AstNode | null {
  return ((item.RangeVar ?? item.RangeSubselect ?? item.RangeFunction) as AstNode | undefined) ?? null;
}

/** The conjuncts of a boolean expression (AND-ed terms). */
export function conjuncts(expr: unknown): AstNode[] {
  if (!expr) return [];
  const b = (expr as AstNode).BoolExpr as { boolop: string; args: AstNode[] } | undefined;
  if (b?.boolop === "AND_EXPR") return b.args.flatMap(conjuncts);
  return [expr as AstNode];
}

/**
 * The conjuncts that restrict which rows of `ref` can contribute to the result: its level's WHERE,
 * and the ON conditions of the joins it is in, except where it is on the preserved side of an
 * outer join (there, rows contribute whether or not the condition holds).
 */
export function applicableConjuncts(ref: RelationRef): AstNode[] {
  const level = ref.level;
  const out = conjuncts(level.whereClause);
  const from = [...((level.fromClause as AstNode[]) ?? []), ...((level.usingClause as AstNode[]) ?? [])];
  const search = (item: AstNode): boolean => {
    const leaf = fromLeaf(item);
    if (leaf) return leaf === ref.rangeVar;
    const join = item.JoinExpr as { jointype: string; larg: AstNode; rarg: AstNode; quals?: AstNode } | undefined;
    if (!join) return false;
    const inLeft = search(join.larg);
    const inRight = !inLeft && search(join.rarg);
    if (!inLeft && !inRight) return false;
    const applies =
      join.jointype === "JOIN_INNER" ||
      (join.jointype === "JOIN_LEFT" && inRight) ||
      (join.jointype === "JOIN_RIGHT" && inLeft);
    if (applies) out.push(...conjuncts(join.quals));
    return true;
  };
  for (const item of from) search(item);
  return out;
}

/**
 * Whether a reference is on the nullable side of an outer join of its level: there, a WHERE
 * condition that holds for NULLs (IS NULL, COALESCE, …) also keeps rows it never matched.
 */
export function onNullableSide(ref: Pick<RelationRef, "level" | "rangeVar">): boolean {
  const from = [...((ref.level.fromClause as AstNode[]) ?? []), ...((ref.level.usingClause as AstNode[]) ?? [])];
  const search = (item: AstNode, nullable: boolean): boolean | null => {
    const leaf = fromLeaf(item);
    if (leaf) return leaf === ref.rangeVar ? nullable : null;
    const join = item.JoinExpr as { jointype: string; larg: AstNode; rarg: AstNode } | undefined;
    if (!join) return null;
    const t = join.jointype;
    return (
      search(join.larg, nullable || t === "JOIN_RIGHT" || t === "JOIN_FULL") ??
      search(join.rarg, nullable || t === "JOIN_LEFT" || t === "JOIN_FULL")
    );
  };
  for (const item of from) {
    const found = search(item, false);
    if (found !== null) return found;
  }
  return false;
}

/** A column reference as [qualifier | null, column], or null for anything else. */
export function columnTerm(node: AstNode): [string | null, string] | null {
  const ref = node.ColumnRef as { fields: AstNode[] } | undefined;
  if (!ref) return null;
  const names = ref.fields.map((f) => (f.String as { sval?: string } | undefined)?.sval);
  if (names.some((n) => n === undefined)) return null;
  if (names.length === 1) return [null, names[0]!];
  if (names.length === 2) return [names[0]!, names[1]!];
  return null;
}

/** The reference whose distribution column `e` is. */
export function distColumnRef(e: AstNode, hashRefs: readonly DistributedRef[]): DistributedRef | null {
  const term = columnTerm(e);
  if (!term) return null;
  const candidates = hashRefs.filter(
    (r) => r.table.partitionKey === term[1] && (term[0] === null || term[0] === r.refName),
  );
  return candidates.length === 1 ? candidates[0] : null;
}

/**
 * A constant or parameter as a value source: bare, or a string or parameter under one cast (read
 * as the cast's type). A number under a cast, or several casts, may change the value (`1.5::int`
 * is 2): not a value source. This is the form only: a value to route by goes through
 * keyValueSource(), which knows the column's type.
 */
export function valueSource(node: AstNode): ValueSource | null {
  let n = node;
  const cast = n.TypeCast as { arg: AstNode } | undefined;
  if (cast) n = cast.arg;
  if (n.ParamRef) return { kind: "param", number: (n.ParamRef as { number: number }).number };
  const c = n.A_Const as Record<string, { [k: string]: unknown }> | undefined;
  if (!c || c.isnull) return null;
  if (cast && !c.sval) return null;
  if (c.ival) return { kind: "const", text: String(c.ival.ival ?? 0) };
  if (c.sval) return { kind: "const", text: String(c.sval.sval ?? "") };
  if (c.fval) return { kind: "const", text: String(c.fval.fval) };
  return null;
}

/**
 * valueSource() of a value stored in or compared with `table`'s distribution column, when its text
 * is the column's value: bare, or under a cast that cannot change it in the column's type. Other
 * casts (`'abcdef'::varchar(3)` is 'abc', `'01 day'::interval` stored in text is '1 day'), and a
 * numeric constant for an integer column (`2.5` is 3), leave the value to PostgreSQL: the general
 * INSERT path evaluates it, a lookup searches every shard.
 */
export function keyValueSource(node: AstNode, table: TableRecord): ValueSource | null {
  const cast = node.TypeCast as { typeName: AstNode; arg: AstNode } | undefined;
  if (cast && !castKeepsValue(cast.typeName, table.partitionType)) return null;
  // current_setting() is text: read as the cast's type as a string constant is, or bare as text.
  const setting = settingRead(cast ? cast.arg : node);
  if (setting !== null) {
    return cast || typeKeepsValue(typeOids.text, table.partitionType) ? { kind: "setting", name: setting } : null;
  }
  // A number with a point or an exponent is a numeric: an integer column rounds it (410.0, 2.5e0).
  if ((node.A_Const as { fval?: unknown } | undefined)?.fval && integerTypes.has(table.partitionType)) return null;
  return valueSource(node);
}

/**
 * The setting `current_setting('name')` or `current_setting('name', missing_ok)` reads, in lower
 * case (setting names are case-insensitive), when `node` is such a call with constant arguments;
 * else null.
 */
function settingRead(node: AstNode): string | null {
  const call = node.FuncCall as
    { funcname?: unknown; args?: AstNode[]; agg_order?: unknown; agg_filter?: unknown; over?: unknown } | undefined;
  if (!call || call.agg_order || call.agg_filter || call.over) return null;
  const name = stringList(call.funcname);
  if (name.at(-1) !== "current_setting" || name.length > 2 || (name.length === 2 && name[0] !== "pg_catalog")) {
    return null;
  }
  const [setting, missingOk, ...more] = call.args ?? [];
  const text = (setting?.A_Const as { sval?: { sval?: string } } | undefined)?.sval?.sval;
  if (typeof text !== "string" || more.length > 0) return null;
  if (missingOk && !(missingOk.A_Const as { boolval?: unknown } | undefined)?.boolval) return null;
  return text.toLowerCase();
}

/** Built-in types by name, as a TypeName node spells them (`int` is pg_catalog.int4). */
const builtinTypes = new Map<string, number>(Object.entries(typeOids));
const integerTypes = new Set<number>([typeOids.int2, typeOids.int4, typeOids.int8]);
const unlimitedStrings = new Set<number>([typeOids.text, typeOids.varchar]);

/**
 * Whether a value cast to `typeName` is the same value in a column of type `column`: the column's
 * own type, or one converting to it unchanged (integers among integers, text and varchar), without
 * a type modifier (which may cut or round). A varchar(n) column's own cut is storedKeyText()'s.
 * With `array`, `typeName` is an array type and its elements are checked.
 */
function castKeepsValue(typeName: AstNode, column: number, array = false): boolean {
  const t = typeName as {
    names?: unknown;
    typmods?: unknown[];
    arrayBounds?: unknown[];
    setof?: boolean;
    pct_type?: boolean;
  };
  if (t.typmods?.length || t.setof || t.pct_type || (t.arrayBounds?.length ?? 0) !== (array ? 1 : 0)) return false;
  const names = stringList(t.names);
  if (names.length === 0 || names.length > 2 || (names.length === 2 && names[0] !== "pg_catalog")) return false;
  const type = builtinTypes.get(names[names.length - 1]);
  return type !== undefined && typeKeepsValue(type, column);
}

/**
 * Whether a value of type `type` is the same value in a column of type `column`, its text read
 * alike: the column's own type, integers among integers, text and varchar.
 */
export function typeKeepsValue(type: number, column: number): boolean {
  return (
    type === column ||
    (integerTypes.has(type) && integerTypes.has(column)) ||
    (unlimitedStrings.has(type) && unlimitedStrings.has(column))
  );
}

/** The last part of an operator's (possibly qualified) name in `expr[key]`, e.g. "=". */
export function operatorName(expr: AstNode, key = "name"): string | null {
  const names = (expr[key] as AstNode[] | undefined) ?? [];
  const last = names[names.length - 1]?.String as { sval?: string } | undefined;
  return last?.sval ?? null;
}

/**
 * The values each reference's distribution column is pinned to: one value (router), several
 * (IN lists: those shards), or null (not pinned: every shard). Pins through join equalities
 * follow other pinned references of the same level, or of an enclosing one that a qualified name
 * reaches (no level in between has an item of that name).
 */
export function pinnedValues(refs: readonly DistributedRef[]): Map<DistributedRef, ValueSource[] | null> {
  const pins = new Map<DistributedRef, ValueSource[] | null>();
  const hashRefs = refs.filter((r) => r.table.method === "h");
  for (const r of hashRefs) pins.set(r, null);
  /** Whether a column term written at `at`'s level denotes `ref`'s distribution column. */
  const denotes = (term: [string | null, string], ref: DistributedRef, at: DistributedRef = ref) => {
    if (term[1] !== ref.table.partitionKey) return false;
    if (term[0] === null) return at.level === ref.level && singleItem(ref.level);
    if (term[0] !== ref.refName) return false;
    if (at.level === ref.level) return true;
    const path = levelsBetween(ref.level, at.level);
    return path !== null && path.every((level) => !visibleFromItems(level).some(([name]) => name === term[0]));
  };
  let changed = true;
  while (changed) {
    changed = false;
    for (const ref of hashRefs) {
      if (pins.get(ref)?.length === 1) continue;
      for (const conj of applicableConjuncts(ref)) {
        const found = pinFromConjunct(conj, ref, denotes, hashRefs, pins);
        if (found && (pins.get(ref) === null || found.length < pins.get(ref)!.length)) {
          pins.set(ref, found);
          changed = true;
          if (found.length === 1) break;
        }
      }
    }
  }
  return pins;
}

/** Whether a level reads one relation, so that its columns need no qualification. */
function singleItem(level: AstNode): boolean {
  const from = [...((level.fromClause as AstNode[]) ?? []), ...((level.usingClause as AstNode[]) ?? [])];
  return from.length + (level.relation ? 1 : 0) === 1 && !from.some((f) => f.JoinExpr);
}

/**
 * The query levels from `outer` (left out) down to `inner` (included), or null when `inner` is
 * not written inside `outer`.
 */
function levelsBetween(outer: AstNode, inner: AstNode): AstNode[] | null {
  const path: AstNode[] = [];
  const isOperand = (key: string, v: unknown): v is AstNode =>
    (key === "larg" || key === "rarg") && v !== null && typeof v === "object" && "op" in v;
  const within = (level: AstNode, depth: number) =>
    Object.entries(level).some(([key, v]) => (isOperand(key, v) ? enter(v, depth + 1) : search(v, depth + 1)));
  const enter = (level: AstNode, depth: number): boolean => {
    path.push(level);
    if (level === inner || within(level, depth)) return true;
    path.pop();
    return false;
  };
  const search = (value: unknown, depth: number): boolean => {
    if (depth > 1000 || value === null || typeof value !== "object") return false;
    if (Array.isArray(value)) return value.some((v) => search(v, depth + 1));
    const node = value as AstNode;
    const level = (node.SelectStmt ?? node.UpdateStmt ?? node.DeleteStmt ?? node.InsertStmt) as AstNode | undefined;
    return level ? enter(level, depth) : Object.values(node).some((v) => search(v, depth + 1));
  };
  return within(outer, 0) ? path : null;
}

/** A level's FROM items visible by name, with their names (joins without an alias show their items). */
export function visibleFromItems(level: AstNode): [string, AstNode][] {
  const items: [string, AstNode][] = [];
  const visit = (item: AstNode) => {
    const join = item.JoinExpr as AstNode | undefined;
    if (join && !join.alias) {
      visit(join.larg as AstNode);
      visit(join.rarg as AstNode);
      return;
    }
    const node = Object.values(item)[0] as { alias?: { aliasname?: string }; relname?: string } | undefined;
    const name = node?.alias?.aliasname ?? node?.relname;
    if (name) items.push([name, item]);
  };
  if (level.relation) visit({ RangeVar: level.relation });
  for (const item of [...((level.fromClause as AstNode[]) ?? []), ...((level.usingClause as AstNode[]) ?? [])]) {
    visit(item);
  }
  return items;
}

function pinFromConjunct(
  conj: AstNode,
  ref: DistributedRef,
  denotes: (term: [string | null, string], ref: DistributedRef, at?: DistributedRef) => boolean,
  all: readonly DistributedRef[],
  pins: Map<DistributedRef, ValueSource[] | null>,
): ValueSource[] | null {
  const e = conj.A_Expr as { kind: string; lexpr: AstNode; rexpr: AstNode } | undefined;
  if (!e) return null;
  const op = operatorName(e as unknown as AstNode);
  if (e.kind === "AEXPR_OP" && op === "=") {
    for (const [a, b] of [
      [e.lexpr, e.rexpr],
      [e.rexpr, e.lexpr],
    ]) {
      const term = columnTerm(a);
      if (!term || !denotes(term, ref)) continue;
      const v = keyValueSource(b, ref.table);
      if (v) return [v];
      const other = columnTerm(b);
      const joined = other ? valuesKeyList(ref.level, other) : null;
      if (joined) return keyValueSources(keyListItems(joined), ref.table);
      if (other) {
        for (const o of all) {
          const p = pins.get(o);
          if (
            o !== ref &&
            p?.length === 1 &&
            o.table.colocationId === ref.table.colocationId &&
            denotes(other, o, ref)
          ) {
            return p;
          }
        }
      }
    }
    return null;
  }
  const list = keyList(conj, ref.table, (term) => denotes(term, ref), ref.level);
  return list ? keyValueSources(keyListItems(list), ref.table) : null;
}

/**
 * The lists of values `ref`'s distribution column is compared with by the conjuncts restricting
 * its rows at its own level, with each item's value source (null for one not to route by).
 */
export function keyListsOf(ref: DistributedRef): { site: KeyListSite; values: (ValueSource | null)[] }[] {
  const single = singleItem(ref.level);
  const denotes = (term: [string | null, string]) =>
    term[1] === ref.table.partitionKey && (term[0] === null ? single : term[0] === ref.refName);
  return applicableConjuncts(ref).flatMap((conj) => {
    const site = keyList(conj, ref.table, denotes, ref.level);
    if (!site) return [];
    return [{ site, values: keyListItems(site).map((i) => keyValueSource(i, ref.table)) }];
  });
}

/**
 * Where `ref`'s distribution column is compared with an array parameter by a conjunct restricting
 * its rows at its own level (`key = ANY ($n)`, `key = ANY ($n::int[])` with a cast keeping the
 * values): `holder[key]` holds the parameter, whose elements may be cut per shard.
 */
export interface KeyArrayParam {
  readonly holder: AstNode;
  readonly key: string;
  readonly number: number;
  /** Whether the statement casts the parameter (else its type is the one declared or inferred). */
  readonly cast: boolean;
}

export function keyArrayParams(ref: DistributedRef): KeyArrayParam[] {
  const single = singleItem(ref.level);
  const found: KeyArrayParam[] = [];
  for (const conj of applicableConjuncts(ref)) {
    const e = conj.A_Expr as { kind: string; lexpr: AstNode; rexpr: AstNode } | undefined;
    if (e?.kind !== "AEXPR_OP_ANY" || operatorName(conj.A_Expr as AstNode) !== "=") continue;
    const term = columnTerm(e.lexpr);
    if (!term || term[1] !== ref.table.partitionKey || (term[0] === null ? !single : term[0] !== ref.refName)) continue;
    const cast = e.rexpr.TypeCast as { arg: AstNode; typeName: AstNode } | undefined;
    if (cast && !castKeepsValue(cast.typeName, ref.table.partitionType, true)) continue;
    const holder = (cast ?? e) as unknown as AstNode;
    const key = cast ? "arg" : "rexpr";
    const param = (holder[key] as AstNode).ParamRef as { number?: number } | undefined;
    if (param?.number) found.push({ holder, key, number: param.number, cast: !!cast });
  }
  return found;
}

/**
 * The references among `others` that a conjunct restricting `ref`'s rows at its own level joins on
 * its distribution column (`ref.key = x.col`, x a FROM item of that level), with the column named:
 * each row of x can meet rows of the shard its value hashes to only (when the types hash alike).
 */
export function keyJoins(ref: DistributedRef, others: readonly RelationRef[]): Map<RelationRef, string> {
  const single = singleItem(ref.level);
  const denotes = (term: [string | null, string]) =>
    term[1] === ref.table.partitionKey && (term[0] === null ? single : term[0] === ref.refName);
  const items = visibleFromItems(ref.level);
  const joins = new Map<RelationRef, string>();
  for (const conj of applicableConjuncts(ref)) {
    const e = conj.A_Expr as { kind: string; lexpr: AstNode; rexpr: AstNode } | undefined;
    if (e?.kind !== "AEXPR_OP" || operatorName(conj.A_Expr as AstNode) !== "=") continue;
    for (const [a, b] of [
      [e.lexpr, e.rexpr],
      [e.rexpr, e.lexpr],
    ]) {
      const term = columnTerm(a);
      const other = columnTerm(b);
      if (!term || !other || other[0] === null || !denotes(term)) continue;
      const holder = items.find(([name]) => name === other[0])?.[1];
      const x = others.find((r) => r.level === ref.level && r.holder !== undefined && r.holder === holder);
      if (x && !joins.has(x)) joins.set(x, other[1]);
    }
  }
  return joins;
}

/**
 * Where a list of values compared with a distribution column sits: `holder[key]` holds its items
 * (an IN list's, an array's), or the rows of a VALUES list joined on it, whose items at `column`
 * the distribution column is compared with.
 */
export interface KeyListSite {
  readonly holder: AstNode;
  readonly key: "items" | "elements" | "valuesLists";
  readonly column?: number;
}

/** The values of a key list: its items, or a VALUES list's items at the joined column. */
export function keyListItems(site: KeyListSite): AstNode[] {
  const items = site.holder[site.key] as AstNode[];
  if (site.column === undefined) return items;
  return items.map((row) => (row.List as { items: AstNode[] }).items[site.column!]);
}

/**
 * `x.col` as a column of a VALUES list in FROM at `level` (`(VALUES …) AS x(col, …)`): the
 * distribution column compared with it at that level (WHERE, an inner join) can hold only the
 * list's values in that column, and each of the list's rows can meet rows of the shard its value
 * hashes to only.
 */
function valuesKeyList(level: AstNode, term: [string | null, string]): KeyListSite | null {
  if (term[0] === null) return null;
  const item = visibleFromItems(level).find(([name]) => name === term[0])?.[1];
  const sub = item?.RangeSubselect as { subquery?: AstNode; alias?: { colnames?: AstNode[] } } | undefined;
  const values = sub?.subquery?.SelectStmt as AstNode | undefined;
  const rows = values?.valuesLists as AstNode[] | undefined;
  if (!values || !rows || rows.length === 0 || Object.keys(values).some((k) => !valuesOnly.has(k))) return null;
  const names = (sub!.alias?.colnames ?? []).map((c) => (c.String as { sval: string }).sval);
  const width = (rows[0].List as { items: AstNode[] }).items.length;
  const column = names.length > 0 ? names.indexOf(term[1]) : Number(/^column(\d+)$/.exec(term[1])?.[1] ?? 0) - 1;
  return column >= 0 && column < width ? { holder: values, key: "valuesLists", column } : null;
}

/** The fields of a SelectStmt that is a bare VALUES list. */
const valuesOnly = new Set(["valuesLists", "limitOption", "op"]);

/**
 * The list of `column IN (…)` or `column = ANY (ARRAY[…])`, when `denotes` says the column is the
 * distribution column meant. A cast of the array casts its elements (`ARRAY['abcdef']::varchar(3)[]`
 * holds 'abc'): only one keeping the values is looked through.
 */
function keyList(
  conj: AstNode,
  table: TableRecord,
  denotes: (term: [string | null, string]) => boolean,
  level: AstNode,
): KeyListSite | null {
  const e = conj.A_Expr as { kind: string; lexpr: AstNode; rexpr: AstNode } | undefined;
  if (!e || operatorName(e as unknown as AstNode) !== "=") return null;
  if (e.kind === "AEXPR_OP") {
    // key = x.col, x a VALUES list (either way round).
    for (const [a, b] of [
      [e.lexpr, e.rexpr],
      [e.rexpr, e.lexpr],
    ]) {
      const term = columnTerm(a);
      const other = columnTerm(b);
      if (term && other && denotes(term)) return valuesKeyList(level, other);
    }
    return null;
  }
  const term = columnTerm(e.lexpr);
  if (!term || !denotes(term)) return null;
  if (e.kind === "AEXPR_IN") {
    const list = (e.rexpr as { List?: AstNode }).List;
    return list?.items ? { holder: list, key: "items" } : null;
  }
  if (e.kind !== "AEXPR_OP_ANY") return null;
  let arr = e.rexpr;
  while (arr.TypeCast) {
    const cast = arr.TypeCast as { arg: AstNode; typeName: AstNode };
    if (!castKeepsValue(cast.typeName, table.partitionType, true)) return null;
    arr = cast.arg;
  }
  const array = arr.A_ArrayExpr as AstNode | undefined;
  return array?.elements ? { holder: array, key: "elements" } : null;
}

/** keyValueSource() of each item, or null when one is not a value to route by. */
function keyValueSources(items: readonly AstNode[], table: TableRecord): ValueSource[] | null {
  const values = items.map((i) => keyValueSource(i, table));
  return values.every((v) => v !== null) ? (values as ValueSource[]) : null;
}
