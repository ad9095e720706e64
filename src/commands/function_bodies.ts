// Functions, procedures and DO blocks run inside the coordinator database, where distributed and
// reference tables are empty shells: a body that names one would read no rows, and its writes
// would be refused by the shell's guard (metadata/schema.ts) or, before it, lost. Bodies in SQL and
// PL/pgSQL are read when the function is created (or the DO block runs) and refused when a name
// in them resolves to a distributed or reference table. EXECUTE of a string cannot be read. An
// IMMUTABLE function whose body names no relation at all is created on the workers too
// (propagatedFunction), so that statements on the shards may call it.
import { SqlError } from "../errors.js";
import type { Session } from "../server/session.js";
import type { MetadataSnapshot, TableRecord, ViewRecord } from "../metadata/cache.js";
import { recordedView } from "../planner/views.js";
import { stringList, typeNameNode, walk, type AstNode } from "../sql/ast.js";
import { deparseStatement, parseSql, plpgsqlStatements, type ParsedStatement } from "../sql/parse.js";
import { arrayLiteral } from "../sql/quote.js";
import { resolveTable } from "../executor/distributed.js";
import { relationRef } from "../executor/copy.js";
import { query } from "./distribute.js";

/** The relation names in a body that may be distributed tables, and how the body resolves them. */
export interface FunctionBody {
  readonly what: "function" | "procedure" | "DO block";
  readonly names: readonly { schemaname?: string; relname: string }[];
  /** The function's own `SET search_path`; null when the caller's applies. */
  readonly searchPath: readonly string[] | null;
}

interface DefElem {
  defname: string;
  arg?: AstNode;
}

/**
 * The names of distributed and reference tables (by name only) that the body of a CREATE FUNCTION
 * / PROCEDURE or DO statement refers to; null when there are none or its language is not SQL or
 * PL/pgSQL. `sql` is the statement's text.
 */
export function functionBody(stmt: AstNode, sql: string, metadata: MetadataSnapshot): FunctionBody | null {
  const create = stmt.CreateFunctionStmt as { is_procedure?: boolean; options?: AstNode[]; sql_body?: AstNode };
  const run = stmt.DoStmt as { args?: AstNode[] } | undefined;
  if (!create && !run) return null;
  const options = ((create ? create.options : run!.args) ?? []).map((o) => o.DefElem as DefElem);
  const statements = bodyStatements(stmt, sql, options)?.statements;
  if (!statements) return null;
  const names = relationNames(statements).filter(
    (n) => metadata.tablesByRelname.has(n.relname) || metadata.viewsByRelname.has(n.relname),
  );
  if (names.length === 0) return null;
  return {
    what: !create ? "DO block" : create.is_procedure ? "procedure" : "function",
    names,
    searchPath: ownSearchPath(options),
  };
}

/**
 * Refuses a body that refers to a distributed or reference table, resolving its names as the
 * function would when called now: through its own search_path, or else the session's.
 */
export async function refuseDistributedBody(session: Session, body: FunctionBody): Promise<void> {
  for (const name of body.names) {
    const kind = await resolveBodyName(session, name, body.searchPath);
    if (!kind) continue;
    const subject = body.what === "DO block" ? "DO blocks" : `${body.what}s`;
    throw new SqlError(
      "0A000",
      `${subject} reading or writing distributed tables are not supported: ${body.what} body refers to ${kind} "${name.relname}"`,
      {
        detail: `The ${body.what} would run inside the coordinator database, where distributed and reference tables are empty shells.`,
        hint: "Run the statements from the client.",
      },
    );
  }
}

/**
 * The statements of a CREATE FUNCTION / PROCEDURE's or DO block's body and its language's name;
 * null when the language is not SQL or PL/pgSQL, or the body cannot be read.
 */
function bodyStatements(
  stmt: AstNode,
  sql: string,
  options: readonly DefElem[],
): { statements: readonly unknown[]; language: string; text: string } | null {
  const create = stmt.CreateFunctionStmt as { sql_body?: AstNode } | undefined;
  const option = (name: string) => options.filter((o) => o.defname === name).pop()?.arg;
  const language = ((option("language")?.String as { sval: string } | undefined)?.sval ?? "plpgsql").toLowerCase();
  if (create?.sql_body) return { statements: [create.sql_body], language: "sql", text: "" };
  if (language !== "sql" && language !== "plpgsql") return null;
  const as = option("as");
  const body =
    (as?.String as { sval: string } | undefined)?.sval ?? stringList((as?.List as { items?: unknown[] })?.items)[0];
  if (body === undefined) return null;
  const parsed = language === "sql" ? parseOrNull(body) : plpgsqlStatements(create ? sql : inlineFunction(body));
  return parsed ? { statements: parsed.map((p) => p.stmt), language, text: body } : null;
}

/**
 * Whether CREATE FUNCTION may make a function Canopy creates on the workers as well (objects.ts),
 * so that statements over distributed tables calling it run on the shards: IMMUTABLE (its answer
 * depends on its arguments alone, as PostgreSQL's contract for it says), in SQL or PL/pgSQL, with
 * a body that names no relation and runs no dynamic SQL. Its body's statements then, else null
 * (it runs in the coordinator database); what the body calls is checked when it runs (ddl.ts).
 */
export function propagatedFunction(stmt: AstNode, sql: string): readonly unknown[] | null {
  const create = stmt.CreateFunctionStmt as { is_procedure?: boolean; options?: AstNode[] } | undefined;
  if (!create || create.is_procedure) return null;
  const options = (create.options ?? []).map((o) => o.DefElem as DefElem);
  const volatility = options.filter((o) => o.defname === "volatility").pop()?.arg?.String as { sval: string };
  if (volatility?.sval !== "immutable") return null;
  const body = bodyStatements(stmt, sql, options);
  if (!body || (body.language === "plpgsql" && /\bexecute\b/i.test(body.text))) return null;
  return relationNames(body.statements).length === 0 ? body.statements : null;
}

function parseOrNull(sql: string): ParsedStatement[] | null {
  try {
    return parseSql(sql);
  } catch {
    return null; // PostgreSQL reports the syntax error when the function is created
  }
}

/** A DO block's PL/pgSQL code as the function PL/pgSQL compiles it into (no arguments, void). */
function inlineFunction(body: string): string {
  const defElem = (defname: string, arg: AstNode) => ({ DefElem: { defname, arg, defaction: "DEFELEM_UNSPEC" } });
  return deparseStatement({
    CreateFunctionStmt: {
      funcname: [{ String: { sval: "inline_code_block" } }],
      returnType: typeNameNode("void"),
      options: [
        defElem("as", { List: { items: [{ String: { sval: body } }] } }),
        defElem("language", { String: { sval: "plpgsql" } }),
      ],
    },
  });
}

/** Every relation name in statements, but for unqualified names of their CTEs. */
function relationNames(statements: readonly unknown[]): { schemaname?: string; relname: string }[] {
  const ctes = new Set<string>();
  const names: { schemaname?: string; relname: string }[] = [];
  walk(statements, (node) => {
    const cte = node.CommonTableExpr as { ctename?: string } | undefined;
    if (cte?.ctename) ctes.add(cte.ctename);
    if (typeof node.relname === "string") {
      names.push({ schemaname: node.schemaname as string | undefined, relname: node.relname });
    }
  });
  return names.filter((n) => n.schemaname || !ctes.has(n.relname));
}

/** The schemas of a function's `SET search_path = …` clause, if it has one. */
function ownSearchPath(options: readonly DefElem[]): string[] | null {
  const set = options
    .filter((o) => o.defname === "set")
    .map((o) => o.arg!.VariableSetStmt as { kind: string; name: string; args?: AstNode[] })
    .filter((s) => s.name.toLowerCase() === "search_path")
    .pop();
  if (set?.kind !== "VAR_SET_VALUE") return null;
  return (set.args ?? []).map((a) => ((a.A_Const as { sval?: { sval: string } }).sval?.sval ?? "").trim());
}

/** What a name in a body resolves to, as an error names it ("distributed table", "view …"), or null. */
async function resolveBodyName(
  session: Session,
  name: { schemaname?: string; relname: string },
  searchPath: readonly string[] | null,
): Promise<string | null> {
  const metadata = await session.metadata();
  const describe = (table: TableRecord | null, view: ViewRecord | null) =>
    table
      ? `${table.method === "n" ? "reference" : "distributed"} table`
      : view
        ? "view over distributed tables"
        : null;
  if (name.schemaname) {
    return describe(
      metadata.tablesByRelname.get(name.relname)?.find((t) => t.schema === name.schemaname) ?? null,
      metadata.viewsByRelname.get(name.relname)?.find((v) => v.schema === name.schemaname) ?? null,
    );
  }
  if (searchPath === null) {
    const ref = relationRef(name);
    return describe(await resolveTable(session, ref), await recordedView(session, ref.rangeVar));
  }
  // As PostgreSQL searches: the session's temporary schema and pg_catalog first unless listed.
  const path = [...["pg_temp", "pg_catalog"].filter((s) => !searchPath.includes(s)), ...searchPath];
  const rows = await query(
    session,
    `SELECT c.oid FROM pg_catalog.unnest($1::text[]) WITH ORDINALITY AS p(name, position)
       JOIN pg_catalog.pg_class c ON c.relname = $2 AND c.relnamespace = CASE p.name
            WHEN 'pg_temp' THEN pg_catalog.pg_my_temp_schema()
            ELSE (SELECT n.oid FROM pg_catalog.pg_namespace n
                   WHERE n.nspname = CASE p.name WHEN '$user' THEN CURRENT_USER ELSE p.name END) END
      ORDER BY p.position LIMIT 1`,
    arrayLiteral(path),
    name.relname,
  );
  const oid = rows.length > 0 ? Number(rows[0][0]) : NaN;
  return describe(metadata.tablesById.get(oid) ?? null, metadata.viewsById.get(oid) ?? null);
}
