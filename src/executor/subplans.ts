// Recursive planning of a SELECT that cannot run whole on the shards (planner/subqueries.ts
// chooses the parts): its uncorrelated subqueries and CTEs that are not shard-local run first as
// statements of their own (router, pushdown, or recursively again), the tables of other
// co-location groups and the local tables are fetched, and their rows take their places as JSON
// parameters read by jsonRowsSubquery with the columns' types. The statement is then planned
// again: pushed down when it can be now (the rows travel to the workers with it), else by the
// fallback, which fetches only the distributed tables left in it. Rows brought to the coordinator
// count against canopy.max_intermediate_result_size as they arrive.
import { BackendCode, parseDataRow } from "../protocol/messages.js";
import { cloneAst, transitText, typeNameNode, type AstNode } from "../sql/ast.js";
import { deparseStatement } from "../sql/parse.js";
import type { MetadataSnapshot } from "../metadata/cache.js";
import type { DistributedRef } from "../planner/analyze.js";
import { localityContext } from "../planner/pushdown.js";
import { inlineCtes, planRecursive } from "../planner/subqueries.js";
import type { Session } from "../server/session.js";
import type { Invocation, InterceptedStatement } from "../commands/intercept.js";
import { calledFunctions, describeColumns, functionFacts } from "./pushdown.js";
import { literal } from "./defaults.js";
import {
  checkIntermediateSize,
  intermediateLimit,
  jsonRowsSubquery,
  parameterTypes,
  relationColumns,
  runRead,
  sameRefs,
  sendRowDescription,
  substituteShardRows,
  withDataParams,
  withJsonParams,
} from "./distributed.js";

const RECORD_OID = 2249;
const RECORD_ARRAY_OID = 2287;

/**
 * The rows of a subplan as they arrive, kept as the JSON array of arrays of their values' text
 * forms that jsonRowsSubquery reads. Past the size limit it keeps nothing and reports the error
 * when asked for the rows. Keyed, each row's first value is kept apart, as the key that routes the
 * row (MERGE's source rows to the target's shards), and the row holds the others.
 */
export class RowCollector {
  private readonly rows: string[] = [];
  private readonly keys: (string | null)[] = [];
  private failure: unknown = null;

  constructor(
    private readonly limit: { kb: number; bytes: number },
    /** Bytes the statement's other intermediate results already take. */
    private bytes: number,
    private readonly keyed = false,
  ) {}

  /** Takes the DataRow messages among result messages. */
  add(messages: readonly Buffer[]): void {
    for (const message of messages) {
      if (message[0] !== BackendCode.DataRow || this.failure) continue;
      const values = parseDataRow(message.subarray(5)).map((v) => (v === null ? null : v.toString("utf8")));
      const key = this.keyed ? values.shift()! : null;
      const row = JSON.stringify(values);
      this.bytes += row.length + 1 + (key?.length ?? 0);
      try {
        checkIntermediateSize(this.bytes, this.limit);
      } catch (e) {
        this.failure = e;
        this.rows.length = 0;
        this.keys.length = 0;
        return;
      }
      this.rows.push(row);
      if (this.keyed) this.keys.push(key);
    }
  }

  /** The rows as one JSON array; throws when they went past the limit. */
  json(): string {
    if (this.failure) throw this.failure;
    return `[${this.rows.join(",")}]`;
  }

  /** Keyed: each row's key and the JSON array of its other values; throws past the limit. */
  keyedRows(): { keys: readonly (string | null)[]; rows: readonly string[] } {
    if (this.failure) throw this.failure;
    return { keys: this.keys, rows: this.rows };
  }
}

/**
 * Runs a SELECT (`stmt`, this execution's copy) by recursive planning; false when nothing of it
 * can run first (the caller then takes the fallback).
 */
export async function runRecursive(
  session: Session,
  st: InterceptedStatement,
  stmt: AstNode,
  dist: readonly DistributedRef[],
  metadata: MetadataSnapshot,
  invocation: Invocation,
  inBlock: boolean,
): Promise<boolean> {
  if (!stmt.SelectStmt) return false;
  // Inlined CTEs are evaluated where each reference is: only when nothing in them can differ.
  const facts = await functionFacts(session, calledFunctions(stmt));
  const { stmt: work, origins } =
    facts.volatile.size === 0 ? inlineCtes(stmt) : { stmt: cloneAst(stmt), origins: new Map<AstNode, AstNode>() };
  const refs = sameRefs(work, dist);
  const ctx = localityContext({
    isAggregate: (name) => facts.aggregates.has(name),
    columnsOf: await relationColumns(session, refs.dist, refs.local),
  });
  const plan = planRecursive(work, refs.dist, refs.local, origins, ctx);
  if (!plan) return false;

  let inv = invocation;
  // The statement may keep none of the places that tell a parameter's type.
  let paramTypes = withJsonParams(
    inv.params.length > 0 ? await parameterTypes(session, st.sql, st.paramTypes) : [],
    inv,
    [],
  );
  const addData = (dataParams: readonly string[]) => {
    paramTypes = withJsonParams(paramTypes, inv, dataParams);
    inv = withDataParams(inv, dataParams);
  };
  const limit = await intermediateLimit(session);
  let bytes = 0;
  let rewritten = false;
  for (const subplan of plan.subplans) {
    const result = await runSubplan(session, subplan.select, inv, paramTypes, inBlock, limit, bytes);
    if (!result) continue;
    bytes += result.json.length;
    addData([result.json]);
    for (const site of subplan.sites) fillSite(site, result.columns, inv.params.length);
    rewritten = true;
  }
  if (plan.fetched.length > 0) {
    const fetchedDist = refs.dist.filter((r) => plan.fetched.includes(r));
    const fetchedLocal = refs.local.filter((r) => plan.fetched.includes(r));
    addData(await substituteShardRows(session, work, fetchedDist, metadata, inv, inBlock, fetchedLocal));
    rewritten = true;
  }
  if (!rewritten) return false;
  if (inv.describe) await sendRowDescription(session, st, inv);
  const next: InterceptedStatement = {
    sql: deparseStatement(work),
    stmt: work,
    paramTypes,
    distributed: {},
    origin: st.origin ?? st,
    subplan: st.subplan,
  };
  await runRead(session, next, { ...inv, describe: false }, inBlock);
  return true;
}

/** A subplan's rows (as JSON) and columns, or null when its rows cannot be read back (records). */
interface SubplanRows {
  readonly json: string;
  readonly columns: readonly { name: string; type: string; position: number; collation: readonly string[] | null }[];
}

/**
 * Runs a self-contained SELECT of the statement as a statement of its own, with the statement's
 * parameters, and returns its rows. Under EXPLAIN it is explained as a subplan, and run for its
 * rows only when analyzing.
 */
async function runSubplan(
  session: Session,
  select: AstNode,
  inv: Invocation,
  paramTypes: readonly number[],
  inBlock: boolean,
  limit: { kb: number; bytes: number },
  bytes: number,
): Promise<SubplanRows | null> {
  const st = standaloneSelect(cloneAst(select), paramTypes);
  const fields = await describeColumns(session, st.stmt.SelectStmt as AstNode, paramTypes);
  if (fields.length === 0 || fields.some((f) => f.typeOid === RECORD_OID || f.typeOid === RECORD_ARRAY_OID))
    return null;
  const columns = fields.map((f, i) => ({ name: f.name, type: f.typeName, position: i, collation: f.collation }));
  if (inv.explain) {
    const nested = inv.explain.nested();
    await runRead(session, st, standaloneInvocation(inv, { explain: nested }), inBlock);
    inv.explain.subplan(nested);
    if (!inv.explain.analyze) return { json: "[]", columns };
  }
  const collect = new RowCollector(limit, bytes);
  await runRead(session, st, standaloneInvocation(inv, { collect }), inBlock);
  return { json: collect.json(), columns };
}

/** Puts a subplan's rows (data parameter `param`) in the place of a SubLink's, CTE's or derived table's query. */
function fillSite(site: AstNode, columns: SubplanRows["columns"], param: number): void {
  const rows = (alias: AstNode) => jsonRowsSubquery(columns, param, alias).RangeSubselect as AstNode;
  const derived = site.RangeSubselect as AstNode | undefined;
  if (derived) site.RangeSubselect = rows(derived.alias as AstNode);
  else if ("ctequery" in site) site.ctequery = rows({ aliasname: "s" }).subquery;
  else site.subselect = rows({ aliasname: "s" }).subquery;
}

/** A SELECT of the client's statement run as a statement of its own, its execution the statement's. */
export function standaloneSelect(select: AstNode, paramTypes: readonly number[]): InterceptedStatement {
  const stmt = { SelectStmt: select };
  return { sql: deparseStatement(stmt), stmt, paramTypes, distributed: {}, subplan: true };
}

/** An invocation of a standalone SELECT with the client's parameters, its rows not for the client. */
export function standaloneInvocation(inv: Invocation, extra: Partial<Invocation>): Invocation {
  return { params: inv.params, paramFormats: inv.paramFormats, resultFormats: [], describe: false, ...extra };
}

/**
 * Puts in the place of each subquery in `exprs` (the items of an INSERT … VALUES) its value: they
 * run first, together as one statement of their own, `SELECT (subquery), (subquery), …` with the
 * statement's parameters and WITH clause (router, pushdown, recursive or fallback), and each value
 * comes back in a form the shards read under any settings (transitText), as a constant of its type.
 * PostgreSQL too evaluates such a subquery once per statement (an InitPlan): nothing in VALUES can
 * correlate it; and one statement reads a WITH query once however many subqueries read it.
 */
export async function evaluateSubqueries(
  session: Session,
  st: InterceptedStatement,
  exprs: unknown,
  withClause: AstNode | undefined,
  inv: Invocation,
  inBlock: boolean,
): Promise<void> {
  const sites = outermostSubLinks(exprs);
  if (sites.length === 0) return;
  const paramTypes = inv.params.length > 0 ? await parameterTypes(session, st.sql, st.paramTypes) : [];
  const limit = await intermediateLimit(session);
  const select = (vals: AstNode[]): AstNode => ({
    targetList: vals.map((val) => ({ ResTarget: { val } })),
    ...(withClause ? { withClause: cloneAst(withClause) } : {}),
    limitOption: "LIMIT_OPTION_DEFAULT",
    op: "SETOP_NONE",
  });
  const sublinks = sites.map(({ holder, key }) => holder[key] as AstNode);
  const fields = await describeColumns(session, select(sublinks.map((s) => cloneAst(s))), paramTypes);
  const collect = new RowCollector(limit, 0);
  const valueSelect = select(sublinks.map((s, i) => transitText(cloneAst(s), fields[i].typeOid)));
  await runRead(session, standaloneSelect(valueSelect, paramTypes), standaloneInvocation(inv, { collect }), inBlock);
  const [values] = JSON.parse(collect.json()) as (string | null)[][];
  sites.forEach(({ holder, key }, i) => {
    holder[key] = { TypeCast: { arg: literal(values[i]), typeName: typeNameNode(fields[i].typeName) } };
  });
}

/** Where the subqueries of an AST are, leaving out those inside others. */
function outermostSubLinks(root: unknown): { holder: Record<string | number, unknown>; key: string | number }[] {
  const found: { holder: Record<string | number, unknown>; key: string | number }[] = [];
  const visit = (value: unknown, holder: Record<string | number, unknown> | null, key: string | number) => {
    if (Array.isArray(value)) return value.forEach((v, i) => visit(v, value as unknown as Record<number, unknown>, i));
    if (value === null || typeof value !== "object") return;
    if ("SubLink" in value && holder) return void found.push({ holder, key });
    for (const [k, v] of Object.entries(value)) visit(v, value as Record<string, unknown>, k);
  };
  visit(root, null, "");
  return found;
}
