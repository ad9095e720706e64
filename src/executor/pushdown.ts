// Runs SELECTs planned by planner/pushdown.ts: each shard group runs the worker statement; the
// rows are either the answer (sent on as they are) or travel to the coordinator database, which
// runs the combining statement over them. CTEs are inlined for planning, as PostgreSQL inlines
// them, since a statement pushed down calls no volatile function.
import { BackendCode, FrontendCode, write } from "../protocol/messages.js";
import { SqlError } from "../errors.js";
import type { MetadataSnapshot, TableRecord } from "../metadata/cache.js";
import { cloneAst, exprKey, paramNumbers, paramTypesFor, stringList, walk, type AstNode } from "../sql/ast.js";
import { deparseStatement, parseSql } from "../sql/parse.js";
import { arrayLiteral } from "../sql/quote.js";
import { nodeForGroup } from "../commands/distribute.js";
import { collectRelationRefs, onNullableSide, pinnedValues, type DistributedRef } from "../planner/analyze.js";
import { planPushdown, ROWS_PLACEHOLDER, type ColumnType, type PushdownPlan } from "../planner/pushdown.js";
import { inlineCtes } from "../planner/subqueries.js";
import type { Session } from "../server/session.js";
import { wholeTasks } from "./adaptive.js";
import { readsAlikeOnWorkers } from "./defaults.js";
import type { Invocation, InterceptedStatement } from "../commands/intercept.js";
import {
  compactParams,
  describeStatement,
  checkIntermediateSize,
  intermediateLimit,
  joinJsonArrays,
  jsonRowsQuery,
  jsonRowsSubquery,
  isParameterRows,
  paramValues,
  prunedIndexes,
  relationColumns,
  renameToShard,
  sameRefs,
  sendRowDescription,
  sendRows,
  shardKeyLists,
  hasBoundKeyLists,
  prunedByArrayParams,
  cloneForShard,
  type ShardKeyList,
  tableKey,
  unionAll,
  emit,
  ClientRows,
  workerResultFormats,
} from "./distributed.js";
import type { QueryResult } from "../nodes/gateway.js";

const JSON_OID = 114;
const RECORD_OID = 2249;

/** A statement's pushdown plan (or the finding that it has none), per metadata and search_path. */
export interface PushdownEntry {
  readonly key: string;
  readonly plan: PushdownPlan | null;
  /** Worker SQL per shard set. */
  readonly tasks: Map<string, { sql: string; params: number[] }>;
  /** The worker statement's lists of constants to cut per shard, found at its first task. */
  keyLists?: ShardKeyList[];
  /** The worker statement's references to distributed and reference tables. */
  keyRefs?: DistributedRef[];
  /**
   * Whether a list of the worker statement has items given at execution (parameters, settings):
   * then each execution cuts it by their values, and its worker SQL is not kept.
   */
  boundLists?: boolean;
}

/** Runs the statement (`stmt`, this execution's copy, `dist` its references) through a pushdown plan; false when it has none. */
export async function runPushdown(
  session: Session,
  st: InterceptedStatement,
  stmt: AstNode,
  dist: readonly DistributedRef[],
  metadata: MetadataSnapshot,
  inv: Invocation,
  inBlock: boolean,
): Promise<boolean> {
  const state = st.distributed!;
  const key = `${metadata.version}:${session.searchPathEpoch}`;
  if (state.pushdown?.key !== key) state.pushdown = await buildEntry(session, st, dist, key);
  const entry = state.pushdown;
  const plan = entry.plan;
  if (!plan) return false;

  // The shard groups the result's rows can come from: those of every table of the outer query
  // whose rows each result row has (not NULL-extended by an outer join); the tables of
  // subqueries restrict only the rows they are compared with.
  const pins = pinnedValues(dist);
  const hashRefs = dist.filter((r) => r.table.method === "h");
  const anchor = hashRefs[0].table;
  let indexes = anchor.shards.map((_, i) => i);
  for (const r of hashRefs) {
    if (r.level !== stmt.SelectStmt || onNullableSide(r)) continue;
    const own = new Set(prunedByArrayParams(r, prunedIndexes(r, pins.get(r) ?? null, inv), inv));
    indexes = indexes.filter((i) => own.has(i));
  }
  const byGroup = new Map<number, number[]>();
  for (const i of indexes) {
    const group = anchor.shards[i].placements[0]?.groupId;
    if (group === undefined) throw new SqlError("55000", `shard ${anchor.shards[i].shardId} has no placement`);
    byGroup.set(group, [...(byGroup.get(group) ?? []), i]);
  }
  const tables = new Map(dist.map((r) => [tableKey(r.rangeVar), r.table]));
  // Binary rows stream from the workers when their forms are the coordinator's.
  const resultFormats = plan.streamable ? await workerResultFormats(session, st, inv) : null;
  const stream = plan.streamable && resultFormats !== null;

  // Each node's share runs as one statement, or in parts of consecutive shards (see adaptive.ts).
  entry.keyRefs ??= collectRelationRefs({ SelectStmt: plan.worker }).flatMap((ref) => {
    const table = tables.get(tableKey(ref.rangeVar));
    return table ? [{ ...ref, table }] : [];
  });
  entry.boundLists ??= hasBoundKeyLists(entry.keyRefs);
  const cut = entry.boundLists ? shardKeyLists(entry.keyRefs, inv) : null;
  const boundLists = cut?.some((l) => l.bound) ? cut : null;
  // Worker SQL cut by this execution's values is kept for this execution only.
  const built = boundLists ? new Map<string, { sql: string; params: number[] }>() : entry.tasks;
  const taskFor = (shardIndexes: readonly number[]) => {
    const taskKey = `${stream ? "s" : "j"}:${shardIndexes.join(",")}`;
    let task = built.get(taskKey);
    if (!task) {
      const lists = boundLists ?? (entry.keyLists ??= shardKeyLists(entry.keyRefs!));
      const ast = workerStatement(plan, tables, lists, shardIndexes, stream, plan.workerTypes.length);
      const params = compactParams(ast, st.paramTypes);
      task = { sql: deparseStatement(ast), params };
      if (built.size > 256) built.clear();
      built.set(taskKey, task);
    }
    return { sql: task.sql, params: paramValues(task.params, inv) };
  };
  const shares = [...byGroup].map(([group, shardIndexes]) => ({
    node: nodeForGroup(metadata.nodes, group),
    read: { parts: shardIndexes.length, task: (from: number, to: number) => taskFor(shardIndexes.slice(from, to)) },
  }));
  const tasks = wholeTasks(shares);
  const opts = { transactional: inBlock, write: false };
  const dataParam = inv.params.length + 1;
  if (inv.explain) {
    if (stream) {
      await inv.explain.top(session, tasks, opts);
      return true;
    }
    await inv.explain.rows(session, dataParam, tasks, opts);
  }
  if (stream) {
    // The rows go on to the client as they come (unless collected for an outer statement).
    if (inv.describe) await sendRowDescription(session, st, inv);
    const streamed = inv.collect ? null : new ClientRows(session);
    let results: QueryResult[];
    try {
      results = (await session.remote.runReads(shares, inBlock, streamed?.sink, resultFormats!)).flat();
    } finally {
      streamed?.check();
    }
    sendRows(session, results, inv);
    const count = results.reduce((n, r) => n + (r.dataRows?.length ?? r.rows.length), streamed?.count ?? 0);
    emit(session, inv, write.commandComplete(`SELECT ${count}`));
    return true;
  }
  // EXPLAIN without ANALYZE plans the combine step over no rows.
  const results = inv.explain && !inv.explain.analyze ? [] : (await session.remote.runReads(shares, inBlock)).flat();

  const json = joinJsonArrays(results.map((r) => r.rows[0][0]!));
  checkIntermediateSize(json.length, await intermediateLimit(session));

  const coordinator = cloneAst(plan.coordinator);
  walk(coordinator, (node, parent, k) => {
    const rv = node.RangeVar as AstNode | undefined;
    if (rv?.relname === ROWS_PLACEHOLDER) {
      (parent as unknown[])[k as number] = jsonRowsSubquery(
        plan.workerTypes.map((t, i) => ({ name: `w${i}`, type: t.typeName, collation: t.collation, position: i })),
        dataParam,
        rv.alias as AstNode,
      );
    }
  });
  const used = compactParams(coordinator);
  const values = used.map((n) => (n === dataParam ? Buffer.from(json, "utf8") : inv.params[n - 1]));
  const formats = used.map((n) =>
    n === dataParam ? 0 : inv.paramFormats.length === 1 ? inv.paramFormats[0] : (inv.paramFormats[n - 1] ?? 0),
  );
  const types = used.map((n) => (n === dataParam ? JSON_OID : (st.paramTypes[n - 1] ?? 0)));
  if (inv.explain) {
    await inv.explain.coordinator(session, { SelectStmt: coordinator }, { params: values, formats, types });
    return true;
  }
  if (inv.describe) await sendRowDescription(session, st, inv);
  const forward = (code: number, message: Buffer) => {
    if (code === BackendCode.DataRow || code === BackendCode.CommandComplete) emit(session, inv, message);
  };
  // Asked to stop while the workers answered: the combining does not begin (see runOnCoordinator).
  session.interrupts.check();
  await session.flushAndAwait([
    session.internalRaw(FrontendCode.Parse, write.parse("", deparseStatement({ SelectStmt: coordinator }), types)),
    session.internalRaw(FrontendCode.Bind, write.bind("", "", values, formats, inv.resultFormats)),
    session.internalRaw(FrontendCode.Execute, write.execute("", 0), forward),
  ]);
  return true;
}

/**
 * The statement for one node: the worker SELECT over each of its shard groups (its lists of
 * constants cut to the group's, see cloneForShard), as a UNION ALL;
 * to travel to the coordinator, the rows are folded into one JSON array of text arrays.
 */
function workerStatement(
  plan: PushdownPlan,
  tables: ReadonlyMap<string, TableRecord>,
  lists: readonly ShardKeyList[],
  shardIndexes: readonly number[],
  stream: boolean,
  width: number,
): AstNode {
  const branches = shardIndexes.map((index) => {
    const select = cloneForShard(plan.worker, lists, index);
    for (const ref of collectRelationRefs({ SelectStmt: select })) {
      const table = tables.get(tableKey(ref.rangeVar));
      if (table) renameToShard({ ...ref, table }, table.shards[table.method === "n" ? 0 : index].shardId);
    }
    return select;
  });
  const shared = shareParameterRows(branches);
  const types = plan.workerTypes.map((t) => t.typeOid);
  const stmt = stream ? { SelectStmt: unionAll(branches) } : jsonRowsQuery(branches, width, types);
  if (shared) (stmt.SelectStmt as AstNode).withClause = shared;
  return stmt;
}

/**
 * Rows that travel as a JSON parameter (jsonRowsSubquery) are read once per node: every shard's
 * branch reading them would parse the whole parameter again. Replaces them in the branches by
 * references to CTEs, and returns the WITH clause defining these (null: nothing to share).
 */
function shareParameterRows(branches: readonly AstNode[]): AstNode | null {
  if (branches.length < 2) return null;
  const ctes = new Map<string, { name: string; query: AstNode }>();
  const shared = (query: AstNode, alias?: AstNode) => {
    const key = exprKey(query);
    if (!ctes.has(key)) ctes.set(key, { name: `canopy_shared_rows_${ctes.size + 1}`, query });
    return { relname: ctes.get(key)!.name, inh: true, relpersistence: "p", ...(alias ? { alias } : {}) };
  };
  for (const branch of branches) {
    walk(branch, (node) => {
      const derived = node.RangeSubselect as AstNode | undefined;
      const query = (derived?.subquery as AstNode | undefined)?.SelectStmt as AstNode | undefined;
      if (query && isParameterRows(query)) {
        delete node.RangeSubselect;
        node.RangeVar = shared(query, derived!.alias as AstNode);
      }
      const link = node.SubLink as AstNode | undefined;
      const select = (link?.subselect as AstNode | undefined)?.SelectStmt as AstNode | undefined;
      if (select && isParameterRows(select)) {
        link!.subselect = {
          SelectStmt: {
            targetList: [{ ResTarget: { val: { ColumnRef: { fields: [{ A_Star: {} }] } } } }],
            fromClause: [{ RangeVar: shared(select) }],
            limitOption: "LIMIT_OPTION_DEFAULT",
            op: "SETOP_NONE",
          },
        };
      }
    });
  }
  if (ctes.size === 0) return null;
  return {
    ctes: [...ctes.values()].map((c) => ({
      CommonTableExpr: { ctename: c.name, ctematerialized: "CTEMaterializeDefault", ctequery: { SelectStmt: c.query } },
    })),
  };
}

async function buildEntry(
  session: Session,
  st: InterceptedStatement,
  dist: readonly DistributedRef[],
  key: string,
): Promise<PushdownEntry> {
  const none: PushdownEntry = { key, plan: null, tasks: new Map() };
  const select = st.stmt.SelectStmt as AstNode | undefined;
  if (!select) return none;
  const aggregates = await shardSafety(session, st.stmt);
  if (!aggregates) return none;
  const original = await describeStatement(session, st.sql, st.paramTypes);
  if (!original) return none;
  // Planning works on a copy whose references are this execution's (the plan keeps no ref objects).
  const copy = inlineCtes(st.stmt).stmt;
  const { dist: copyRefs, local } = sameRefs(copy, dist);
  if (local.length > 0) return none;
  const plan = await planPushdown(copy.SelectStmt as AstNode, {
    refs: copyRefs,
    isAggregate: (name) => aggregates.has(name),
    columnsOf: await relationColumns(session, copyRefs),
    outputNames: original.map((f) => f.name),
    describe: (s) => describeColumns(session, s, st.paramTypes),
  });
  if (!plan) return none;
  // Anonymous records cannot be read back from their text form on the coordinator.
  if (!plan.streamable && plan.workerTypes.some((t) => t.typeOid === RECORD_OID)) return none;
  return { key, plan, tasks: new Map() };
}

/** A result column: its name and type. */
export interface NamedColumnType extends ColumnType {
  readonly name: string;
}

/**
 * The result columns of a SELECT as the coordinator database (with the empty shells) describes
 * them: types with their modifiers, and collations, which PostgreSQL derives from the expressions
 * (pg_collation_for over no rows: the SELECT runs under LIMIT 0, with NULL parameters).
 */
export async function describeColumns(
  session: Session,
  select: AstNode,
  paramTypes: readonly number[],
): Promise<NamedColumnType[]> {
  // Parameters the SELECT does not use (e.g. only a LIMIT's) get a type, which nothing infers here.
  const count = Math.max(paramTypes.length, ...paramNumbers(select));
  const types = paramTypesFor(select, count).map((t, i) => (t === 0 ? (paramTypes[i] ?? 0) : t));
  const fields = (await describeStatement(session, deparseStatement({ SelectStmt: select }), types)) ?? [];
  if (fields.length === 0) return [];
  const names = await session.internalQuery(
    `SELECT pg_catalog.format_type(u.o, u.m), t.typcollation <> 0
       FROM ROWS FROM (pg_catalog.unnest($1::oid[]), pg_catalog.unnest($2::int4[])) WITH ORDINALITY AS u(o, m, i)
       LEFT JOIN pg_catalog.pg_type t ON t.oid = u.o ORDER BY u.i`,
    [
      Buffer.from(`{${fields.map((f) => f.typeOid).join(",")}}`),
      Buffer.from(`{${fields.map((f) => f.typeModifier).join(",")}}`),
    ],
  );
  const collatable = names.flatMap((row, i) => (row[1] === "t" ? [i] : []));
  const collations = new Map<number, string[]>();
  if (collatable.length > 0) {
    const probe = deparseStatement(collationProbe(select, fields.length, collatable));
    const rows = await session.internalQuery(
      probe,
      types.map(() => null),
      [],
      types,
    );
    for (const [i, schema, name] of rows) {
      if (!(schema === "pg_catalog" && name === "default")) collations.set(Number(i), [schema!, name!]);
    }
  }
  return fields.map((f, i) => ({
    name: f.name,
    typeOid: f.typeOid,
    typeModifier: f.typeModifier,
    typeName: names[i][0]!,
    collation: collations.get(i) ?? null,
  }));
}

/**
 * `SELECT v.i, n.nspname, c.collname FROM (SELECT) one LEFT JOIN (SELECT * FROM (<select>) s(c0, …)
 * LIMIT 0) w ON true, LATERAL (VALUES (i, pg_collation_for(w.ci)), …) v(i, name) JOIN pg_collation c
 * ON c.oid = v.name::regcollation JOIN pg_namespace n ON …`: one row per column asked about.
 */
function collationProbe(select: AstNode, width: number, columns: readonly number[]): AstNode {
  const probe = cloneAst(collationProbeTemplate());
  const columnNames = Array.from({ length: width }, (_, i) => ({ String: { sval: `c${i}` } }));
  // The template's derived tables are found first and filled after: the SELECT put in place may
  // hold derived tables of the same names.
  const derived = new Map<string, AstNode>();
  walk(probe, (node) => {
    const sub = node.RangeSubselect as AstNode | undefined;
    const alias = sub?.alias as { aliasname?: string } | undefined;
    if (alias?.aliasname) derived.set(alias.aliasname, sub!);
  });
  const rows = derived.get("s")!;
  rows.subquery = { SelectStmt: cloneAst(select) };
  (rows.alias as AstNode).colnames = columnNames;
  const values = (derived.get("v")!.subquery as AstNode).SelectStmt as { valuesLists: unknown[] };
  values.valuesLists = columns.map((i) => ({
    List: {
      items: [
        { A_Const: { ival: { ival: i } } },
        {
          FuncCall: {
            funcname: [{ String: { sval: "pg_catalog" } }, { String: { sval: "pg_collation_for" } }],
            args: [{ ColumnRef: { fields: [{ String: { sval: "w" } }, { String: { sval: `c${i}` } }] } }],
            funcformat: "COERCE_EXPLICIT_CALL",
          },
        },
      ],
    },
  }));
  return probe;
}

let collationProbeAst: AstNode | undefined;

function collationProbeTemplate(): AstNode {
  collationProbeAst ??= parseSql(
    `SELECT v.i, n.nspname, c.collname
       FROM (SELECT) AS one
       LEFT JOIN (SELECT * FROM (SELECT) AS s LIMIT 0) AS w ON true
       CROSS JOIN LATERAL (VALUES (0, NULL)) AS v(i, name)
       JOIN pg_catalog.pg_collation c ON c.oid = v.name::pg_catalog.regcollation
       JOIN pg_catalog.pg_namespace n ON n.oid = c.collnamespace
      ORDER BY v.i`,
  )[0].stmt;
  return collationProbeAst;
}

/** Stable functions whose value depends on the node or session they run in. */
const nodeDependent =
  /^(now|transaction_timestamp|statement_timestamp|current_.*|session_.*|inet_.*|txid_.*|has_.*|to_reg.*|version|pg_(?!typeof$).*)$/;
const builtinCollations = new Set(["C", "POSIX", "default", "ucs_basic"]);

/**
 * Whether every function, type and collation the statement names exists alike on the workers
 * (built in, and not volatile or node-dependent). Returns the names of aggregate functions it
 * calls, or null when it must not run on the shards.
 */
export async function shardSafety(session: Session, stmt: AstNode): Promise<ReadonlySet<string> | null> {
  const functions = new Set<string>();
  const types = new Set<string>();
  let unsafe = false;
  walk(stmt, (node) => {
    if (node.SQLValueFunction) unsafe = true;
    const fc = node.FuncCall as AstNode | undefined;
    if (fc) {
      const names = stringList(fc.funcname);
      const name = names[names.length - 1];
      // A setting the workers follow reads there as here (`tenant = current_setting('app.tenant')::int`).
      if (name !== "current_setting" || !readsAlikeOnWorkers(fc)) {
        functions.add(name);
      }
    }
    if (Array.isArray(node.names) && "typemod" in node) {
      const names = stringList(node.names);
      if (names.length > 1 && names[0] !== "pg_catalog") unsafe = true;
      const name = names[names.length - 1];
      if (name.startsWith("reg")) unsafe = true;
      types.add(name);
    }
    const collate = node.CollateClause as AstNode | undefined;
    if (collate) {
      const names = stringList(collate.collname);
      if (!builtinCollations.has(names[names.length - 1]) || (names.length > 1 && names[0] !== "pg_catalog")) {
        unsafe = true;
      }
    }
  });
  if (unsafe || [...functions].some((f) => nodeDependent.test(f))) return null;
  const facts = await functionFacts(session, functions);
  if (!facts.shardable || facts.volatile.size > 0) return null;
  if (types.size > 0) {
    const rows = await session.internalQuery(
      `SELECT 1 FROM pg_catalog.pg_type t WHERE t.typname = ANY($1::text[])
          AND t.typnamespace <> 'pg_catalog'::pg_catalog.regnamespace`,
      [Buffer.from(arrayLiteral([...types]))],
    );
    if (rows.length > 0) return null;
  }
  return facts.aggregates;
}

/** What the catalog says of functions called by (unqualified) name, every overload of a name counted. */
export interface FunctionFacts {
  readonly aggregates: ReadonlySet<string>;
  readonly volatile: ReadonlySet<string>;
  /** Names with an overload returning a set. */
  readonly setReturning: ReadonlySet<string>;
  /**
   * Whether every name exists and names only functions of pg_catalog, or only IMMUTABLE functions
   * the workers have (propagatedFunction): the shards compute them as the coordinator would.
   */
  readonly shardable: boolean;
  /**
   * Names the workers may lack a function of: missing, or with an overload that is neither
   * PostgreSQL's own nor recorded in pg_dist_object (created on the workers, objects.ts).
   */
  readonly workerless: ReadonlySet<string>;
}

/** Looks up the functions of these names in the coordinator database's catalog. */
export async function functionFacts(session: Session, names: ReadonlySet<string>): Promise<FunctionFacts> {
  const aggregates = new Set<string>();
  const volatile = new Set<string>();
  const setReturning = new Set<string>();
  const workerless = new Set(names);
  if (names.size === 0) return { aggregates, volatile, setReturning, shardable: true, workerless };
  const rows = await session.internalQuery(
    `SELECT p.proname, pg_catalog.bool_or(p.prokind = 'a'), pg_catalog.bool_or(p.provolatile = 'v'),
            pg_catalog.bool_and(p.pronamespace = 'pg_catalog'::pg_catalog.regnamespace),
            pg_catalog.bool_and(p.pronamespace IN ('pg_catalog'::pg_catalog.regnamespace,
                                                   'information_schema'::pg_catalog.regnamespace)
                                OR EXISTS (SELECT 1 FROM pg_catalog.pg_dist_object r
                                            WHERE r.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                                              AND r.objid = p.oid)),
            pg_catalog.bool_or(p.proretset), pg_catalog.bool_and(p.provolatile = 'i')
       FROM pg_catalog.pg_proc p WHERE p.proname = ANY($1::text[]) GROUP BY p.proname`,
    [Buffer.from(arrayLiteral([...names]))],
  );
  for (const r of rows) {
    if (r[1] === "t") aggregates.add(r[0]!);
    if (r[2] === "t") volatile.add(r[0]!);
    if (r[4] === "t") workerless.delete(r[0]!);
    if (r[5] === "t") setReturning.add(r[0]!);
  }
  const shardable = rows.length === names.size && rows.every((r) => r[3] === "t" || (r[4] === "t" && r[6] === "t"));
  return { aggregates, volatile, setReturning, shardable, workerless };
}

/** The names of the functions an AST calls (unqualified). */
export function calledFunctions(root: unknown): Set<string> {
  const names = new Set<string>();
  walk(root, (node) => {
    const fc = node.FuncCall as AstNode | undefined;
    if (fc) names.add(stringList(fc.funcname).pop()!);
  });
  return names;
}

/** Casts (and function-style casts) that look an object up by name or oid in the node's catalog. */
const lookupTypes = /^reg(class|proc|procedure|type|oper|operator|namespace|role|collation|config|dictionary)$/;
/**
 * Functions whose answer is about the catalog or sequences of the node they run in, or about the
 * backend, transaction or server there (a worker's pid, xid, port, database, temporary schema),
 * or set the session's settings (set_config, which must set the coordinator session's).
 */
const catalogFunctions =
  /^(to_reg.*|has_.*_privilege|pg_has_role|pg_.*_is_visible|pg_(total_)?relation_size|pg_table_size|pg_indexes_size|pg_relation_file(node|path)|pg_get_.*|obj_description|col_description|nextval|currval|setval|lastval|pg_backend_pid|inet_(client|server)_(addr|port)|pg_my_temp_schema|pg_is_other_temp_schema|txid_current(_if_assigned|_snapshot)?|pg_current_xact_id(_if_assigned)?|pg_current_snapshot|pg_postmaster_start_time|pg_conf_load_time|current_database|set_config)$/;

/**
 * What in a statement only the coordinator database answers rightly: calls of functions the
 * workers lack, of sequence functions, and lookups in the catalog (to_regclass, has_*_privilege,
 * casts to regclass …), which a worker would answer about its own objects, its shards. Each
 * as a message names it ("plus1()", "::regclass"), in the order met.
 */
export async function coordinatorOnly(session: Session, stmt: AstNode): Promise<string[]> {
  const { found, functions } = coordinatorOnlyCandidates(stmt);
  for (const name of (await functionFacts(session, functions)).workerless) found.push(`${name}()`);
  return found;
}

/** Whether an AST mentions any of what coordinatorOnly found (in its names). */
export function mentionsAny(root: unknown, found: readonly string[]): boolean {
  if (found.length === 0) return false;
  const candidates = coordinatorOnlyCandidates(root);
  return [...candidates.found, ...[...candidates.functions].map((f) => `${f}()`)].some((n) => found.includes(n));
}

/**
 * The catalog lookups and sequence calls of an AST (named as coordinatorOnly names them), and the
 * other functions it calls, which only the catalog tells apart.
 */
function coordinatorOnlyCandidates(root: unknown): { found: string[]; functions: Set<string> } {
  const found: string[] = [];
  const functions = new Set<string>();
  walk(root, (node) => {
    const fc = node.FuncCall as AstNode | undefined;
    if (fc) {
      const name = stringList(fc.funcname).pop()!;
      if (catalogFunctions.test(name) || lookupTypes.test(name)) found.push(`${name}()`);
      else if (name === "current_setting" && !readsAlikeOnWorkers(fc)) {
        found.push(`${name}()`);
      } else functions.add(name);
    }
    const cast = node.TypeCast as { typeName?: AstNode } | undefined;
    const type = cast?.typeName ? stringList(cast.typeName.names).pop()! : "";
    if (lookupTypes.test(type)) found.push(`::${type}`);
  });
  return { found, functions };
}
