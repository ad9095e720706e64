// Decides, per statement text, whether the session forwards it to the coordinator database as it
// is or Canopy must handle it. Results are cached per session by text; the fast path is a keyword
// test that spares parsing for statements that cannot concern Canopy.
import { parseSql, statementOffset, statementText } from "../sql/parse.js";
import { stringList, walk, constantText, type AstNode } from "../sql/ast.js";
import { isCanopySetting, ensureSettingExists, checkSessionSet } from "../settings.js";
import { toErrorFields } from "../errors.js";
import type { ErrorFields } from "../protocol/messages.js";
import { findMemoryView, interceptedUdf, rowSignalUdf } from "../commands/udfs.js";
import type { InterceptedStatement } from "../commands/intercept.js";
import type { MetadataSnapshot } from "../metadata/cache.js";
import { collectRelationRefs } from "../planner/analyze.js";
import { SqlError } from "../errors.js";
import { isPlannable } from "../executor/distributed.js";
import { namedObjects } from "../commands/objects.js";
import { functionBody, propagatedFunction } from "../commands/function_bodies.js";
import { writeThroughView } from "../planner/views.js";
import { isRoleStatement } from "../commands/roles.js";

export type Classification =
  | { readonly kind: "forward" }
  | { readonly kind: "error"; readonly error: ErrorFields }
  | {
      readonly kind: "intercept";
      readonly statements: readonly ClassifiedStatement[];
    };

/**
 * One statement of a classified text: its text, where that starts in the whole (error positions
 * are counted from there), and how Canopy handles it (null: forwarded).
 */
export interface ClassifiedStatement {
  readonly text: string;
  readonly offset: number;
  readonly intercepted: InterceptedStatement | null;
}

const FORWARD: Classification = { kind: "forward" };
// pg_backend_pid() needs Canopy only in embedded mode, where sessions share one backend; with
// PostgreSQL servers a session's pid is its coordinator-database backend's.
const mayConcernCanopy =
  /canopy|master_|run_command_on_workers|distribut|create_reference_table|recover_prepared|_backend\(/i;
const mayConcernEmbedded =
  /canopy|master_|run_command_on_workers|distribut|create_reference_table|recover_prepared|copy|_backend\(|backend_pid|client_encoding|\bnames\b/i;

/**
 * Classifies the SQL text of a Query or Parse message. `embedded` marks a PGlite coordinator
 * database, which cannot take COPY FROM STDIN through its protocol: Canopy feeds it instead.
 */
export function classifyStatement(sql: string, embedded = false): Classification {
  if (!(embedded ? mayConcernEmbedded : mayConcernCanopy).test(sql)) return FORWARD;
  let parsed;
  try {
    parsed = parseSql(sql);
  } catch {
    return FORWARD; // the coordinator database reports its own syntax error
  }
  try {
    let anyIntercepted = false;
    const statements = parsed.map((p) => {
      const offset = statementOffset(sql, p);
      const intercepted = placed(interceptionOf(p.stmt, statementText(sql, p), embedded), offset);
      anyIntercepted ||= intercepted !== null;
      return { text: statementText(sql, p), offset, intercepted };
    });
    return anyIntercepted ? { kind: "intercept", statements } : FORWARD;
  } catch (e) {
    return { kind: "error", error: toErrorFields(e) };
  }
}

/**
 * An embedded coordinator database (PGlite) converts no text to other encodings (its rows stop
 * coming): a client_encoding other than UTF-8's (SET client_encoding, SET NAMES) is refused. Names
 * are read as PostgreSQL reads them, case and punctuation aside.
 */
function refuseEmbeddedEncoding(value: string | null): void {
  const name = value?.toLowerCase().replace(/[^a-z0-9]/g, "");
  if (name && ["utf8", "unicode", "sqlascii", "default"].includes(name)) return;
  const what = value === null ? "a client_encoding computed as the statement runs" : `client_encoding ${value}`;
  throw new SqlError("0A000", `${what} is not supported by an embedded cluster`, {
    hint: "Use UTF8, or a local cluster (canopy local up), whose coordinator database converts.",
  });
}

/** An intercepted statement with where its text starts in the client's (InterceptedStatement.offset). */
function placed(st: InterceptedStatement | null, offset: number): InterceptedStatement | null {
  return st === null || offset === 0 ? st : { ...st, offset };
}

/** Checks one statement and returns how Canopy handles it, or null to forward it. */
function interceptionOf(stmt: AstNode, sql: string, embedded: boolean): InterceptedStatement | null {
  const copy = stmt.CopyStmt as { is_from?: boolean; filename?: string; is_program?: boolean } | undefined;
  if (copy) {
    return embedded && copy.is_from && !copy.filename && !copy.is_program
      ? { sql, stmt, paramTypes: [], copyFromStdin: true }
      : null;
  }
  const set = stmt.VariableSetStmt as { kind?: string; name?: string; args?: unknown[] } | undefined;
  if (set?.name && isCanopySetting(set.name)) {
    if (set.kind === "VAR_SET_VALUE") {
      const values = (set.args ?? []).map((a) => constantText(a) ?? "");
      checkSessionSet(set.name, values.join(", "));
    } else {
      ensureSettingExists(set.name);
      checkSessionSet(set.name, ensureSettingExists(set.name).defaultValue);
    }
    return null;
  }
  if (embedded && set?.name?.toLowerCase() === "client_encoding" && set.kind === "VAR_SET_VALUE") {
    refuseEmbeddedEncoding(constantText(set.args?.[0]) ?? null);
  }
  if (embedded) {
    // set_config('client_encoding', …): a value known only as it runs is refused too.
    walk(stmt, (node) => {
      const call = node.FuncCall as { funcname?: unknown[]; args?: unknown[] } | undefined;
      const name = call && stringList(call.funcname).at(-1)?.toLowerCase();
      if (name === "set_config" && constantText(call!.args?.[0])?.toLowerCase() === "client_encoding") {
        refuseEmbeddedEncoding(constantText(call!.args?.[1]) ?? null);
      }
    });
  }
  const show = stmt.VariableShowStmt as { name?: string } | undefined;
  if (show?.name && isCanopySetting(show.name)) {
    ensureSettingExists(show.name);
    return { sql, stmt, paramTypes: [], show: show.name.toLowerCase() };
  }
  let calls = 0;
  let signalsRows = false;
  walk(stmt, (node) => {
    const call = node.FuncCall as AstNode | undefined;
    if (call && interceptedUdf(call)) calls++;
    if (call && rowSignalUdf(call)) signalsRows = true;
    const range = node.RangeVar as { schemaname?: string; relname?: string } | undefined;
    if (range && findMemoryView(range)) calls++;
  });
  if (calls > 0) ensureEvaluatedOnce(stmt);
  if (signalsRows) return { sql, stmt, paramTypes: [], signalsRows };
  return calls > 0 ? { sql, stmt, paramTypes: [] } : null;
}

/** Statements that run their query once, now: Canopy can put its UDFs' values in it. */
const runOnce = new Set([
  "SelectStmt",
  "InsertStmt",
  "UpdateStmt",
  "DeleteStmt",
  "MergeStmt",
  "ExplainStmt",
  "DeclareCursorStmt",
  "CopyStmt",
  "CallStmt",
  "CreateTableAsStmt",
]);

/**
 * Refuses a statement that keeps a call of Canopy's UDFs or a read of its computed views for later
 * (a view, a materialized view, a rule, a prepared statement, a default, a SQL-standard function
 * body): Canopy evaluates them before the statement runs, so the stored query would keep the values
 * of its creation.
 */
function ensureEvaluatedOnce(stmt: AstNode): void {
  const kind = Object.keys(stmt)[0];
  const matview = (stmt.CreateTableAsStmt as { objtype?: string } | undefined)?.objtype === "OBJECT_MATVIEW";
  if (runOnce.has(kind) && !matview) return;
  throw new SqlError(
    "0A000",
    "Canopy's functions and views cannot be stored in views, rules, defaults or prepared statements",
    {
      detail:
        "Canopy computes their values when a statement runs; a stored query would keep the values of its creation.",
      hint: "Query them in statements of their own.",
    },
  );
}

/** Whether a statement writes: a modification, or a query with one in a WITH clause. */
function modifiesData(query: AstNode | undefined): boolean {
  let writes = false;
  walk(query, (node) => {
    writes ||= !!(node.InsertStmt || node.UpdateStmt || node.DeleteStmt || node.MergeStmt);
  });
  return writes;
}

/** Statement kinds that pass through even when they name distributed tables (they act on the shell). */
const shellStatements = new Set(["VacuumStmt", "CommentStmt", "LockStmt"]);

/**
 * Classifies SQL that mentions distributed or reference tables (or ends a transaction while
 * remote transactions are open): statements referring to them go to the distributed executor.
 */
export function classifyDistributed(
  sql: string,
  metadata: MetadataSnapshot,
  preparedNames: ReadonlySet<string> = new Set(),
): Classification {
  let parsed;
  try {
    parsed = parseSql(sql);
  } catch {
    return FORWARD;
  }
  try {
    let any = false;
    // Views over distributed tables created by earlier statements of the string (run by then).
    const created = new Set<string>();
    // Likewise statements PREPAREd over distributed tables.
    const prepared = new Set(preparedNames);
    const statements = parsed.map((p) => {
      const text = statementText(sql, p);
      const offset = statementOffset(sql, p);
      const intercepted = placed(distributedInterception(p.stmt, text, metadata, created, prepared), offset);
      const view = (p.stmt.ViewStmt as { view: { relname: string } } | undefined)?.view;
      if (view && intercepted) created.add(view.relname);
      if (intercepted?.sqlPrepare) prepared.add((p.stmt.PrepareStmt as { name: string }).name);
      any ||= intercepted !== null;
      return { text, offset, intercepted };
    });
    return any ? { kind: "intercept", statements } : FORWARD;
  } catch (e) {
    return { kind: "error", error: toErrorFields(e) };
  }
}

/** SQL names of the other statements EXPLAIN accepts. */
const explainedNames: Record<string, string> = {
  CreateTableAsStmt: "CREATE TABLE AS",
  DeclareCursorStmt: "DECLARE CURSOR",
  MergeStmt: "MERGE",
};

function distributedInterception(
  stmt: AstNode,
  sql: string,
  metadata: MetadataSnapshot,
  createdViews: ReadonlySet<string>,
  prepared: ReadonlySet<string>,
): InterceptedStatement | null {
  const tx = stmt.TransactionStmt as { kind?: string } | undefined;
  if (tx) return { sql, stmt, paramTypes: [], transaction: tx.kind ?? "" };
  if (stmt.ConstraintsSetStmt)
    return metadata.tables.length > 0 ? { sql, stmt, paramTypes: [], constraintsSet: true } : null;
  // EXECUTE of a statement PREPAREd over distributed tables (commands/prepared.ts).
  const execute = stmt.ExecuteStmt as { name: string } | undefined;
  if (execute) return prepared.has(execute.name) ? { sql, stmt, paramTypes: [], sqlExecute: true } : null;
  const explained = (stmt.ExplainStmt as { query: AstNode } | undefined)?.query.ExecuteStmt as { name: string };
  if (explained && prepared.has(explained.name)) {
    throw new SqlError("0A000", "EXPLAIN EXECUTE of a statement over distributed tables is not supported", {
      hint: "Explain the prepared statement's query with its values.",
    });
  }
  const stored = (stmt.CreateTableAsStmt as { query: AstNode } | undefined)?.query.ExecuteStmt as { name: string };
  if (stored && prepared.has(stored.name)) {
    throw new SqlError("0A000", "CREATE TABLE AS EXECUTE of a statement over distributed tables is not supported", {
      hint: "Write CREATE TABLE … AS with the prepared statement's query.",
    });
  }
  const kind = Object.keys(stmt)[0];
  if (shellStatements.has(kind)) return null;
  const body = functionBody(stmt, sql, metadata);
  if (body) return { sql, stmt, paramTypes: [], functionBody: body, ddl: mayConcernShardObjects(stmt, metadata) };
  // Coordinators cache the tables' columns and defaults: a DROP that may take a default with it
  // (DROP SEQUENCE, … CASCADE) announces a change of the metadata, as DDL on the tables does.
  const dropsDefaults = dropMayRemoveDefaults(stmt) && metadata.tables.length > 0;
  // Sessions keep which table a statement's names reached: a relation made, renamed, moved or
  // dropped under such a name may change that, and the change is announced as the metadata's is.
  const shadows = changesNameResolution(stmt, metadata);
  const announced: InterceptedStatement = { sql, stmt, paramTypes: [], ddl: true, announces: true };
  if (dropsDefaults || mayConcernShardObjects(stmt, metadata) || propagatedFunction(stmt, sql) !== null) {
    return { sql, stmt, paramTypes: [], ddl: true, announces: dropsDefaults || shadows };
  }
  // A new table's own name may be a distributed table's in another schema: only what it refers to counts.
  const create = stmt.CreateStmt as AstNode | undefined;
  const names = touchedNames(create ? { CreateStmt: { ...create, relation: {} } } : stmt);
  const touchesTable = names.some((n) => metadata.tablesByRelname.has(n));
  const touchesView = names.some((n) => metadata.viewsByRelname.has(n) || createdViews.has(n));
  if (!touchesTable && !touchesView) return shadows ? announced : null;
  const merge = stmt.MergeStmt as { relation: { relname: string } } | undefined;
  if (merge && metadata.viewsByRelname.has(merge.relation.relname)) throw writeThroughView(merge.relation.relname);
  if (isPlannable(stmt)) return { sql, stmt, paramTypes: [], distributed: {}, announces: shadows || undefined };
  const explain = stmt.ExplainStmt as { query: AstNode } | undefined;
  if (explain) {
    if (isPlannable(explain.query)) return { sql, stmt, paramTypes: [], explain: true };
    const inner = Object.keys(explain.query)[0];
    const name = explainedNames[inner] ?? inner.replace(/Stmt$/, "");
    throw new SqlError("0A000", `EXPLAIN of ${name} on distributed or reference tables is not supported`, {
      hint: "Explain the SELECT, INSERT, UPDATE or DELETE itself.",
    });
  }
  // Views over distributed tables are recorded in the metadata: changing one reloads it.
  if (ddlStatements.has(kind) || stmt.ViewStmt || stmt.RefreshMatViewStmt) {
    return { sql, stmt, paramTypes: [], ddl: true, announces: touchesView || !!stmt.ViewStmt || shadows };
  }
  const copy = stmt.CopyStmt as { is_from?: boolean; filename?: string; is_program?: boolean } | undefined;
  if (copy) {
    if (copy.filename || copy.is_program) {
      throw new SqlError("0A000", "COPY between a distributed table and a server file or program is not supported", {
        hint: "Use COPY … FROM STDIN or TO STDOUT (psql's \\copy).",
      });
    }
    if (!copy.is_from && modifiesData((stmt.CopyStmt as { query?: AstNode }).query)) {
      throw new SqlError(
        "0A000",
        "COPY (INSERT, UPDATE, DELETE or MERGE …) TO over distributed or reference tables is not supported",
        { hint: "Run the statement with RETURNING on its own." },
      );
    }
    return copy.is_from
      ? { sql, stmt, paramTypes: [], distributedCopy: true }
      : { sql, stmt, paramTypes: [], distributed: {} };
  }
  if (stmt.DeclareCursorStmt) return { sql, stmt, paramTypes: [], distributed: {} };
  const prepare = stmt.PrepareStmt as { query: AstNode } | undefined;
  if (prepare && isPlannable(prepare.query)) return { sql, stmt, paramTypes: [], sqlPrepare: true };
  const ctas = stmt.CreateTableAsStmt as { objtype: string; into: { skipData?: boolean } } | undefined;
  if (ctas?.objtype === "OBJECT_MATVIEW") {
    throw new SqlError("0A000", "CREATE MATERIALIZED VIEW over distributed or reference tables is not supported", {
      detail: "REFRESH MATERIALIZED VIEW would read the coordinator's empty shells.",
      hint: "Use a view, or CREATE TABLE … AS and fill the table again when needed.",
    });
  }
  // As SELECT … INTO: the rows come from the shards; WITH NO DATA needs only the shells' columns.
  if (ctas?.into.skipData) return shadows ? announced : null;
  if (ctas) return { sql, stmt, paramTypes: [], distributed: {}, announces: shadows || undefined };
  // LIKE a view copies its columns, which the coordinator's view has.
  if (stmt.CreateStmt && !touchesTable) return shadows ? announced : null;
  if (stmt.CreateStmt) {
    throw new SqlError(
      "0A000",
      "CREATE TABLE referring to a distributed or reference table (REFERENCES, LIKE, INHERITS, PARTITION OF) is not supported",
      { hint: "Create the table on its own, distribute it (co-located), then add foreign keys with ALTER TABLE." },
    );
  }
  if (!touchesTable) {
    throw new SqlError("0A000", `${kind.replace(/Stmt$/, "")} over a view of distributed tables is not supported`, {
      hint: "Read the view in a SELECT of its own.",
    });
  }
  throw new SqlError("0A000", `${kind.replace(/Stmt$/, "")} on a distributed or reference table is not supported yet`, {
    hint: "Undistribute the table with undistribute_table(), change it, and distribute it again.",
  });
}

/** DDL statements propagated to the shards of the tables they name (commands/ddl.ts). */
const ddlStatements = new Set([
  "AlterTableStmt",
  "IndexStmt",
  "RenameStmt",
  "AlterObjectSchemaStmt",
  "GrantStmt",
  "DropStmt",
  "TruncateStmt",
  "ReindexStmt",
]);

/**
 * Statements that may concern distributed tables without naming them: DROP / ALTER / REINDEX
 * INDEX, statements on schemas, GRANT … ALL TABLES IN SCHEMA, changes to types, functions and
 * extensions the workers got for the shards, CREATE FUNCTION … IMMUTABLE (which the workers may
 * get, propagatedFunction), statements on roles (which every worker has), and DROPs that may take
 * a column default with them.
 */
const shardObjectStatement =
  /\b(drop|alter)\s+(index|schema|type|domain|collation|function|procedure|routine|extension)\b|\balter\s+table\s+(if\s+exists\s+)?[^;]*\brename\s+to\b|\bdrop\s+sequence\b|\bcascade\b|\bor\s+replace\s+(function|procedure)\b|\bcreate\s+function\b[\s\S]*\bimmutable\b|\b(grant|revoke|reindex)\b|\b(create|alter|drop)\s+(role|user|group)\b|\bowned\s+by\b/i;

/**
 * Whether SQL text may concern distributed or reference tables: it names one, or it may drop or
 * rename one's index or drop its schema (resolved when it runs).
 */
export function mayConcernDistributed(sql: string, metadata: MetadataSnapshot): boolean {
  return !!metadata.mentionsTable?.test(sql) || shardObjectStatement.test(sql);
}

/** A DROP of sequences, or one with CASCADE: column defaults may go with it. */
function dropMayRemoveDefaults(stmt: AstNode): boolean {
  const drop = stmt.DropStmt as { removeType?: string; behavior?: string } | undefined;
  return !!drop && (drop.removeType === "OBJECT_SEQUENCE" || drop.behavior === "DROP_CASCADE");
}

function mayConcernShardObjects(stmt: AstNode, metadata: MetadataSnapshot): boolean {
  const drop = stmt.DropStmt as { removeType?: string } | undefined;
  const rename = stmt.RenameStmt as { renameType?: string; subname?: string } | undefined;
  const reindex = stmt.ReindexStmt as { kind: string; name?: string } | undefined;
  const grant = stmt.GrantStmt as { targtype: string; objtype: string; objects?: AstNode[] } | undefined;
  const inSchemas = (schemas: readonly string[]) => metadata.tables.some((t) => schemas.includes(t.schema));
  // ALTER TABLE … RENAME TO may name an index (and ALTER INDEX a table).
  if (
    drop?.removeType === "OBJECT_INDEX" ||
    rename?.renameType === "OBJECT_INDEX" ||
    rename?.renameType === "OBJECT_TABLE"
  ) {
    return metadata.tables.length > 0;
  }
  if (reindex?.kind === "REINDEX_OBJECT_INDEX") return metadata.tables.length > 0;
  if (reindex?.kind === "REINDEX_OBJECT_SCHEMA") return inSchemas([reindex.name!]);
  if (grant?.targtype === "ACL_TARGET_ALL_IN_SCHEMA" && grant.objtype === "OBJECT_TABLE") {
    return inSchemas(stringList(grant.objects));
  }
  // A schema's privileges matter on the workers wherever its tables' shards or its objects are.
  if (grant?.objtype === "OBJECT_SCHEMA") return true;
  // Roles exist on every worker (commands/roles.ts).
  if (isRoleStatement(stmt)) return true;
  // Schemas, types, collations, functions and extensions may hold or be objects recorded for the workers
  // (checked when run).
  if (drop?.removeType === "OBJECT_SCHEMA" || rename?.renameType === "OBJECT_SCHEMA") return true;
  return namedObjects(stmt) !== null;
}

/** Relation kinds a FROM clause may name. */
const selectableKinds = new Set([
  "OBJECT_TABLE",
  "OBJECT_VIEW",
  "OBJECT_MATVIEW",
  "OBJECT_FOREIGN_TABLE",
  "OBJECT_SEQUENCE",
]);

/**
 * Whether a statement makes, renames, moves or drops a relation under the name of a distributed or
 * reference table or of a view over them (so that the name may now reach another relation through
 * search_path), or may do so unseen (IMPORT FOREIGN SCHEMA, RENAME or DROP of a schema).
 */
function changesNameResolution(stmt: AstNode, metadata: MetadataSnapshot): boolean {
  if (metadata.tables.length === 0) return false;
  type Rel = { relname?: string } | undefined;
  const made =
    (stmt.CreateStmt as { relation: Rel } | undefined)?.relation ??
    (stmt.CreateTableAsStmt as { into: { rel: Rel } } | undefined)?.into.rel ??
    (stmt.SelectStmt as { intoClause?: { rel: Rel } } | undefined)?.intoClause?.rel ??
    (stmt.ViewStmt as { view: Rel } | undefined)?.view ??
    (stmt.CreateSeqStmt as { sequence: Rel } | undefined)?.sequence ??
    (stmt.CreateForeignTableStmt as { base: { relation: Rel } } | undefined)?.base.relation ??
    (stmt.AlterObjectSchemaStmt as { relation?: Rel } | undefined)?.relation;
  const rename = stmt.RenameStmt as { renameType: string; relation?: Rel; newname: string } | undefined;
  const drop = stmt.DropStmt as { removeType: string; objects?: { List?: { items: unknown[] } }[] } | undefined;
  const names = [made?.relname];
  if (rename && selectableKinds.has(rename.renameType)) names.push(rename.relation?.relname, rename.newname);
  if (drop && selectableKinds.has(drop.removeType)) {
    for (const o of drop.objects ?? []) names.push(stringList(o.List?.items).pop());
  }
  // A schema renamed or dropped moves its relations into or out of search_path.
  const schemaChange = rename?.renameType === "OBJECT_SCHEMA" || drop?.removeType === "OBJECT_SCHEMA";
  if (stmt.ImportForeignSchemaStmt || schemaChange) return true;
  return names.some((n) => n !== undefined && (metadata.tablesByRelname.has(n) || metadata.viewsByRelname.has(n)));
}

/** Relation names a statement refers to: its RangeVars and the names a DROP TABLE lists. */
function touchedNames(stmt: AstNode): string[] {
  const names = collectRelationRefs(stmt).map((r) => r.relname);
  // Any relation named anywhere (MERGE targets, DDL, …), wrapped in a RangeVar or not.
  walk(stmt, (node) => {
    if (typeof node.relname === "string") names.push(node.relname);
  });
  const drop = stmt.DropStmt as { removeType?: string; objects?: { List?: { items: unknown[] } }[] } | undefined;
  if (drop && ["OBJECT_TABLE", "OBJECT_VIEW", "OBJECT_MATVIEW"].includes(drop.removeType!)) {
    for (const o of drop.objects ?? []) {
      const parts = stringList(o.List?.items);
      if (parts.length > 0) names.push(parts[parts.length - 1]);
    }
  }
  return names;
}
