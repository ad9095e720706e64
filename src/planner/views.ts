// Views over distributed and reference tables. The coordinator database's view reads the empty
// shells, so before planning, each reference to such a view becomes a derived table of the view's
// query, named by the reference's alias (or the view's name) with the view's column names, as
// PostgreSQL's rewriter expands it; views over views expand in turn. The planner then sees only
// tables. Equalities on a derived table's columns (of a view, or written so) are then pushed into
// it (derived.ts), so the router pins the tables it reads. Writing through such a view is refused:
// the shells would take the rows.
//
// Privileges: PostgreSQL checks a view with the reader's privileges and the relations its query
// reads with the view owner's (the reader's for security_invoker views). After the expansion the
// workers and the coordinator database check the reader's privileges on those relations, so every
// expansion also checks, at each execution, the reader's SELECT privilege on the view and the
// owner's on what it reads: a statement runs only when PostgreSQL would allow it (and may be
// refused where the owner's privileges alone would have sufficed).
import { SqlError } from "../errors.js";
import { cloneAst, type AstNode } from "../sql/ast.js";
import { arrayLiteral, quoteQualified } from "../sql/quote.js";
import type { MetadataSnapshot, ViewRecord } from "../metadata/cache.js";
import type { Session } from "../server/session.js";
import type { InterceptedStatement } from "../commands/intercept.js";
import { deparseStatement } from "../sql/parse.js";
import { calledFunctions, functionFacts } from "../executor/pushdown.js";
import { hasDerivedTable, pushIntoDerivedTables } from "./derived.js";

const depthMax = 1000;

/** A privilege PostgreSQL would check: SELECT on `relation` for `role` (0: the current user). */
interface PrivilegeCheck {
  readonly role: number;
  readonly relation: number;
}

/** A statement's expansion, kept while the metadata and search_path stay the same. */
export interface ViewExpansion {
  readonly key: string;
  /**
   * The statement with its views expanded, planned in place of the client's (with its own state,
   * so its plans are kept too); null when it reads none.
   */
  readonly statement: InterceptedStatement | null;
  readonly checks: readonly PrivilegeCheck[];
}

/**
 * The statement with its references to views over distributed tables expanded and equalities
 * pushed into its derived tables, or null when it has neither; refuses writes through such views
 * and reads PostgreSQL would not allow.
 */
export async function expandViews(
  session: Session,
  st: InterceptedStatement,
  metadata: MetadataSnapshot,
): Promise<InterceptedStatement | null> {
  const state = st.distributed!;
  const key = `${metadata.version}:${session.searchPathEpoch}`;
  if (state.views?.key !== key) state.views = await expansion(session, st, metadata, key);
  if (state.views.statement === null) return null;
  await checkPrivileges(session, state.views.checks);
  return state.views.statement;
}

/** Refuses a write (COPY FROM) whose target is a view over distributed tables. */
export async function refuseWriteThroughView(session: Session, rv: AstNode): Promise<void> {
  const view = await recordedView(session, rv);
  if (view && !view.materialized) throw writeThroughView(view.relname);
}

/** Refuses REFRESH of a materialized view over distributed tables (it would read the shells). */
export async function refuseRefresh(session: Session, rv: AstNode): Promise<null> {
  const view = await recordedView(session, rv);
  if (!view?.materialized) return null;
  throw new SqlError(
    "0A000",
    `REFRESH of materialized view "${view.relname}" over distributed tables is not supported`,
    {
      detail: "The coordinator database would read its empty shells.",
      hint: "Drop the materialized view and use a view, or a table filled with INSERT … SELECT.",
    },
  );
}

/** The recorded view (or materialized view) a name resolves to, or null. */
export async function recordedView(session: Session, rv: AstNode): Promise<ViewRecord | null> {
  const metadata = await session.metadata();
  if (!metadata.viewsByRelname.has(rv.relname as string)) return null;
  const [view] = await resolveViews(session, [rv], metadata);
  return view;
}

async function expansion(
  session: Session,
  st: InterceptedStatement,
  metadata: MetadataSnapshot,
  key: string,
): Promise<ViewExpansion> {
  const stmt = cloneAst(st.stmt);
  const none = { key, statement: null, checks: [] };
  const reads: { holder: AstNode; rv: AstNode }[] = [];
  const targets: AstNode[] = [];
  visitRelations(
    stmt,
    (holder, rv) => {
      if (metadata.viewsByRelname.has(rv.relname as string)) reads.push({ holder, rv });
    },
    (rv) => {
      if (metadata.viewsByRelname.has(rv.relname as string)) targets.push(rv);
    },
  );
  const views =
    reads.length + targets.length === 0
      ? []
      : await resolveViews(session, [...targets, ...reads.map((r) => r.rv)], metadata);
  const target = views.slice(0, targets.length).find((v) => v && !v.materialized);
  if (target) throw writeThroughView(target.relname);
  const checks: PrivilegeCheck[] = [];
  let expanded = false;
  reads.forEach(({ holder, rv }, i) => {
    const view = views[targets.length + i];
    if (!view || view.materialized) return;
    expandView(holder, rv, view, 0, checks, metadata);
    expanded = true;
  });
  const pushed = await pushEqualities(session, stmt);
  if (!expanded && !pushed) return none;
  const statement: InterceptedStatement = {
    sql: deparseStatement(stmt),
    stmt,
    paramTypes: st.paramTypes,
    distributed: { views: none },
    origin: st.origin ?? st,
    subplan: st.subplan,
  };
  return { key, statement, checks };
}

/** Pushes equalities on derived tables' columns into them (planner/derived.ts); whether any was. */
async function pushEqualities(session: Session, stmt: AstNode): Promise<boolean> {
  if (!hasDerivedTable(stmt)) return false;
  const facts = await functionFacts(session, calledFunctions(stmt));
  return pushIntoDerivedTables(stmt, {
    isAggregate: (name) => facts.aggregates.has(name),
    returnsSet: (name) => facts.setReturning.has(name),
  });
}

/** The recorded views the names resolve to (as search_path resolves them), or null for each other name. */
async function resolveViews(
  session: Session,
  rvs: readonly AstNode[],
  metadata: MetadataSnapshot,
): Promise<(ViewRecord | null)[]> {
  const names = rvs.map((rv) => quoteQualified(rv.schemaname as string | undefined, rv.relname as string));
  const rows = await session.internalQuery(
    `SELECT pg_catalog.to_regclass(u.name)::oid FROM pg_catalog.unnest($1::text[]) WITH ORDINALITY AS u(name, i)
      ORDER BY u.i`,
    [Buffer.from(arrayLiteral(names))],
  );
  return rows.map((r) => (r[0] === null ? null : (metadata.viewsById.get(Number(r[0])) ?? null)));
}

/**
 * Replaces a reference (`holder` wraps the RangeVar `rv`) by the view's query, whose references to
 * other recorded views (qualified by canopy_view_definition) expand in turn, and notes the
 * privileges PostgreSQL would check: the view's for `role`, what it reads for its owner.
 */
function expandView(
  holder: AstNode,
  rv: AstNode,
  view: ViewRecord,
  role: number,
  checks: PrivilegeCheck[],
  metadata: MetadataSnapshot,
): void {
  if (!view.query) {
    throw new SqlError("0A000", `the query of view "${view.relname}" cannot be planned by Canopy`, {
      detail: "The parser does not read the definition the coordinator database prints for it.",
      hint: "Query the distributed tables directly.",
    });
  }
  checks.push({ role, relation: view.relationId });
  const bodyRole = view.securityInvoker ? role : view.ownerId;
  if (bodyRole !== 0) for (const relation of view.reads) checks.push({ role: bodyRole, relation });
  const subquery = cloneAst(view.query);
  visitRelations(subquery, (innerHolder, inner) => {
    const nested = inner.schemaname
      ? metadata.viewsByRelname.get(inner.relname as string)?.find((v) => v.schema === inner.schemaname)
      : undefined;
    if (nested && !nested.materialized) expandView(innerHolder, inner, nested, bodyRole, checks, metadata);
  });
  delete holder.RangeVar;
  holder.RangeSubselect = { subquery, alias: viewAlias(rv, view) };
}

/** The reference's alias, with its column names over the view's, as the rewriter names the view's columns. */
function viewAlias(rv: AstNode, view: ViewRecord): AstNode {
  const alias = rv.alias as { aliasname?: string; colnames?: AstNode[] } | undefined;
  const own = alias?.colnames ?? [];
  const colnames = [...cloneAst(own), ...view.columns.slice(own.length).map((sval) => ({ String: { sval } }))];
  return { aliasname: alias?.aliasname ?? view.relname, ...(colnames.length > 0 ? { colnames } : {}) };
}

/**
 * Calls `read` for each FROM item naming a relation (not a CTE in scope: each CTE of a WITH is seen
 * by the ones after it, and by all of them when RECURSIVE) and `target` for each INSERT, UPDATE,
 * DELETE or MERGE target. A TABLESAMPLE's relation stays a relation (PostgreSQL refuses views there).
 */
function visitRelations(
  root: AstNode,
  read: (holder: AstNode, rv: AstNode) => void,
  target: (rv: AstNode) => void = () => {},
): void {
  const step = (value: unknown, scope: ReadonlySet<string>, depth: number): void => {
    if (depth > depthMax) throw new SqlError("54001", "statement is too deeply nested");
    if (Array.isArray(value)) {
      for (const v of value) step(v, scope, depth + 1);
      return;
    }
    if (value === null || typeof value !== "object") return;
    const node = value as AstNode;
    const rv = node.RangeVar as AstNode | undefined;
    if (rv) {
      if (rv.schemaname || !scope.has(rv.relname as string)) read(node, rv);
      return;
    }
    if (node.RangeTableSample) return;
    for (const kind of ["InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"]) {
      const relation = (node[kind] as AstNode | undefined)?.relation as AstNode | undefined;
      if (relation) target(relation);
    }
    const withClause = node.withClause as { recursive?: boolean; ctes?: AstNode[] } | undefined;
    let inner = scope;
    if (withClause) {
      const ctes = (withClause.ctes ?? []).map((c) => c.CommonTableExpr as { ctename: string; ctequery: AstNode });
      if (withClause.recursive) {
        inner = new Set([...scope, ...ctes.map((c) => c.ctename)]);
        for (const c of ctes) step(c.ctequery, inner, depth + 1);
      } else {
        for (const c of ctes) {
          step(c.ctequery, inner, depth + 1);
          inner = new Set([...inner, c.ctename]);
        }
      }
    }
    for (const [k, v] of Object.entries(node)) if (k !== "withClause") step(v, inner, depth + 1);
  };
  step(root, new Set(), 0);
}

/** Refuses the statement unless the roles hold the privileges PostgreSQL would check. */
async function checkPrivileges(session: Session, checks: readonly PrivilegeCheck[]): Promise<void> {
  if (checks.length === 0) return;
  const rows = await session.internalQuery(
    `SELECT c.relname, c.relkind FROM ROWS FROM (pg_catalog.unnest($1::oid[]), pg_catalog.unnest($2::oid[])) AS x(role, rel)
       JOIN pg_catalog.pg_class c ON c.oid = x.rel
      WHERE NOT CASE WHEN x.role = 0 THEN pg_catalog.has_table_privilege(x.rel, 'SELECT')
                     ELSE pg_catalog.has_table_privilege(x.role, x.rel, 'SELECT') END
      LIMIT 1`,
    [
      Buffer.from(arrayLiteral(checks.map((c) => String(c.role)))),
      Buffer.from(arrayLiteral(checks.map((c) => String(c.relation)))),
    ],
  );
  if (rows.length === 0) return;
  const kind = relationKinds[rows[0][1]!] ?? "table";
  throw new SqlError("42501", `permission denied for ${kind} ${rows[0][0]}`);
}

const relationKinds: Record<string, string> = {
  v: "view",
  m: "materialized view",
  S: "sequence",
  f: "foreign table",
};

export function writeThroughView(relname: string): SqlError {
  return new SqlError("0A000", `writing through view "${relname}" over distributed tables is not supported`, {
    hint: "Write to the distributed or reference table the view reads.",
  });
}
