// The real PostgreSQL parser (libpg-query) and deparser (pgsql-deparser), behind two functions that
// report errors the way PostgreSQL does (SQLSTATE 42601 with a cursor position).
import { loadModule, parsePlPgSQLSync, parseSync, scanSync } from "libpg-query";
import { Deparser, deparseSync } from "pgsql-deparser";
import { SqlError } from "../errors.js";
import { quoteIdent, quoteLiteral, quoteQualified } from "./quote.js";

/** A parsed statement: its AST node (one-key object like `{ SelectStmt: … }`) and its text span. */
export interface ParsedStatement {
  readonly stmt: Record<string, unknown>;
  readonly location: number;
  readonly length: number | undefined;
}

let ready: Promise<void> | null = null;

/** Loads the parser's WebAssembly module once; call before the first parse. */
export function loadParser(): Promise<void> {
  ready ??= loadModule();
  return ready;
}

/** Parses SQL text into statements, throwing a 42601 SqlError on a syntax error. */
export function parseSql(sql: string): ParsedStatement[] {
  let result: { stmts?: { stmt: Record<string, unknown>; stmt_location?: number; stmt_len?: number }[] };
  try {
    result = parseSync(sql) as typeof result;
  } catch (e) {
    const err = e as { message: string; sqlDetails?: { cursorPosition?: number } };
    const position = err.sqlDetails?.cursorPosition;
    throw new SqlError("42601", err.message, {
      // The parser reports the position in characters already, as PostgreSQL does.
      position: position !== undefined ? String(position + 1) : undefined,
    });
  }
  const offset = characterOffset(sql);
  return (result.stmts ?? []).map((s) => {
    const location = offset(s.stmt_location ?? 0);
    const length = s.stmt_len === undefined ? undefined : offset((s.stmt_location ?? 0) + s.stmt_len) - location;
    return { stmt: s.stmt, location, length };
  });
}

/**
 * The parser counts positions in bytes of UTF-8; JavaScript strings count UTF-16 code units: maps
 * the one to the other (the same number when the text is ASCII).
 */
function characterOffset(sql: string): (byteOffset: number) => number {
  if (Buffer.byteLength(sql) === sql.length) return (n) => n;
  const bytes = Buffer.from(sql, "utf8");
  // Statements come in order: each offset is counted on from the one before.
  let byte = 0;
  let char = 0;
  return (n) => {
    if (n < byte) [byte, char] = [0, 0];
    char += bytes.subarray(byte, n).toString("utf8").length;
    byte = n;
    return char;
  };
}

/** Deparses one statement AST node back into SQL text. */
// pgsql-deparser writes FETCH FIRST … WITH TIES as a plain LIMIT, which drops the ties; the
// statement is written without its limit and the FETCH clause is added from the deparsed values.
type StatementVisitor = (this: DeparserLike, node: Record<string, unknown>, context: unknown) => string;
interface DeparserLike {
  visit(node: unknown, context: unknown): string;
}
const deparserPrototype = Deparser.prototype as unknown as {
  SelectStmt: StatementVisitor;
  InsertStmt: StatementVisitor;
};
const plainSelect = deparserPrototype.SelectStmt;
// pgsql-deparser also keeps the context of UPDATE's SET list inside subqueries there, where it
// writes `SELECT x AS y` as `SELECT y = x`: a SELECT's targets are never assignments.
deparserPrototype.SelectStmt = function (node, outer) {
  const context = (outer as { update?: boolean }).update
    ? Object.assign(Object.create(Object.getPrototypeOf(outer) as object) as object, outer, { update: false })
    : outer;
  if (node.limitOption !== "LIMIT_OPTION_WITH_TIES" || !node.limitCount) return plainSelect.call(this, node, context);
  const { limitCount, limitOffset, ...rest } = node;
  const offset = limitOffset ? ` OFFSET (${this.visit(limitOffset, context)}) ROWS` : "";
  return `${plainSelect.call(this, rest, context)}${offset} FETCH FIRST (${this.visit(limitCount, context)}) ROWS WITH TIES`;
};

// pgsql-deparser writes ON CONFLICT ON CONSTRAINT's name as it is, unquoted: the name goes in quoted.
const plainInsert = deparserPrototype.InsertStmt;
deparserPrototype.InsertStmt = function (node, context) {
  const onConflict = node.onConflictClause as { infer?: { conname?: string } } | undefined;
  const conname = onConflict?.infer?.conname;
  if (!conname) return plainInsert.call(this, node, context);
  const infer = { ...onConflict!.infer, conname: quoteIdent(conname) };
  return plainInsert.call(this, { ...node, onConflictClause: { ...onConflict, infer } }, context);
};

// pgsql-deparser writes subscripts and field selections after an ARRAY[…] constructor, a constant
// or a CASE without the parentheses PostgreSQL's grammar needs there: the argument of an
// indirection is always parenthesized, which every argument allows.
(Deparser.prototype as unknown as Record<string, NodeVisitor>).A_Indirection = function (node, context) {
  const parts = (node.indirection as Record<string, unknown>[]).map((sub) => {
    if (sub.A_Star) return ".*";
    const field = sub.String as { sval: string } | undefined;
    return field ? `.${quoteIdent(field.sval)}` : this.visit(sub, context);
  });
  return `(${this.visit(node.arg, context)})${parts.join("")}`;
};

// pgsql-deparser writes the string values of SET (also in ALTER ROLE / DATABASE / FUNCTION … SET)
// between quotes without doubling the quotes inside them, and search_path's as bare words: every
// string value is written by quoteLiteral, in the place the deparser gives a stand-in value.
const plainSet = (Deparser.prototype as unknown as Record<string, NodeVisitor>).VariableSetStmt;
const standIn = "canopy_set_value";
(Deparser.prototype as unknown as Record<string, NodeVisitor>).VariableSetStmt = function (node, context) {
  const args = node.args as Record<string, unknown>[] | undefined;
  if (node.kind !== "VAR_SET_VALUE" || !args?.length) return plainSet.call(this, node, context);
  const values = args.map((a) => {
    const text = (a.A_Const as { sval?: { sval: string } } | undefined)?.sval;
    return text ? quoteLiteral(text.sval) : this.visit(a, context);
  });
  const text = plainSet.call(this, { ...node, args: [{ A_Const: { sval: { sval: standIn } } }] }, context);
  return text.replace(new RegExp(`'?${standIn}'?`), () => values.join(", "));
};

// pgsql-deparser writes a type's qualified name given as a list of names as a comma-separated list
// ("s, t") in ALTER TYPE / DOMAIN … OWNER TO, ALTER DOMAIN … RENAME CONSTRAINT and GRANT … ON TYPE
// / DOMAIN: the names are given to it as a TypeName.
type NodeVisitor = (this: DeparserLike, node: Record<string, unknown>, context: unknown) => string;
const typeKinds = new Set(["OBJECT_TYPE", "OBJECT_DOMAIN", "OBJECT_DOMCONSTRAINT"]);
const asTypeName = (o: unknown) => {
  const list = (o as { List?: { items: unknown[] } } | undefined)?.List;
  return list ? { TypeName: { names: list.items, typemod: -1 } } : o;
};
const typeNamePatches: Record<string, (node: Record<string, unknown>) => Record<string, unknown>> = {
  AlterOwnerStmt: (n) => (typeKinds.has(n.objectType as string) ? { ...n, object: asTypeName(n.object) } : n),
  RenameStmt: (n) => (typeKinds.has(n.renameType as string) ? { ...n, object: asTypeName(n.object) } : n),
  GrantStmt: (n) =>
    typeKinds.has(n.objtype as string) ? { ...n, objects: (n.objects as unknown[] | undefined)?.map(asTypeName) } : n,
};
const visitors = Deparser.prototype as unknown as Record<string, NodeVisitor>;
for (const [kind, patch] of Object.entries(typeNamePatches)) {
  const plain = visitors[kind];
  visitors[kind] = function (node, context) {
    return plain.call(this, patch(node), context);
  };
}

// It writes a collation's qualified name the same way in ALTER COLLATION … RENAME / OWNER TO / SET
// SCHEMA: the name is written by quoteQualified, in the place the deparser gives a stand-in name.
const collationStandIn = "canopy_collation_name";
for (const [kind, field] of [
  ["RenameStmt", "renameType"],
  ["AlterOwnerStmt", "objectType"],
  ["AlterObjectSchemaStmt", "objectType"],
] as const) {
  const plain = visitors[kind];
  visitors[kind] = function (node, context) {
    const list = (node.object as { List?: { items: unknown[] } } | undefined)?.List;
    if (node[field] !== "OBJECT_COLLATION" || !list) return plain.call(this, node, context);
    const text = plain.call(
      this,
      { ...node, object: { List: { items: [{ String: { sval: collationStandIn } }] } } },
      context,
    );
    const names = list.items.map((item) => (item as { String: { sval: string } }).String.sval);
    return text.replace(collationStandIn, () => quoteQualified(...names));
  };
}

export function deparseStatement(stmt: Record<string, unknown>): string {
  return deparseSync({ version: 180004, stmts: [{ stmt }] } as never);
}

/** Deparses one node that is not a statement (a TypeName, an expression) into SQL text. */
export function deparseNode(node: Record<string, unknown>): string {
  return deparseSync(node as never);
}

/** Returns the SQL text of one statement of a multi-statement string. */
export function statementText(sql: string, s: ParsedStatement): string {
  return (s.length === undefined ? sql.slice(s.location) : sql.slice(s.location, s.location + s.length)).trim();
}

/**
 * Where statementText's text starts in the string, in characters: what an error position counted
 * in that text is to be moved by, as PostgreSQL counts positions from the start of the string.
 */
export function statementOffset(sql: string, s: ParsedStatement): number {
  let at = s.location;
  while (at < sql.length && /\s/.test(sql[at])) at++;
  return at;
}

/** How PL/pgSQL parses an expression of a function body (libpg-query's parseMode). */
const plpgsqlStatement = 0;
const plpgsqlExpression = 2;

/**
 * The SQL statements and expressions of a PL/pgSQL function's body, parsed: `createSql` is the text
 * of a CREATE FUNCTION / PROCEDURE statement (its signature matters to PL/pgSQL). Null when PL/pgSQL
 * rejects the body, which PostgreSQL then reports itself; a part that does not parse is left out
 * for the same reason.
 */
export function plpgsqlStatements(createSql: string): ParsedStatement[] | null {
  let result: { plpgsql_funcs?: unknown[] };
  try {
    result = parsePlPgSQLSync(createSql) as typeof result;
  } catch {
    return null;
  }
  const statements: ParsedStatement[] = [];
  const visit = (value: unknown, depth: number): void => {
    if (depth > 1000 || value === null || typeof value !== "object") return;
    if (Array.isArray(value)) return value.forEach((v) => visit(v, depth + 1));
    const expr = (value as { PLpgSQL_expr?: { query?: string; parseMode?: number } }).PLpgSQL_expr;
    if (expr?.query !== undefined) {
      try {
        statements.push(...parseSql(plpgsqlQuery(expr.query, expr.parseMode ?? plpgsqlStatement)));
      } catch {
        // not SQL PostgreSQL would accept either
      }
    }
    for (const v of Object.values(value)) visit(v, depth + 1);
  };
  visit(result.plpgsql_funcs, 0);
  return statements;
}

/**
 * A PL/pgSQL expression as the statement PostgreSQL reads it as: the target list of a SELECT (as
 * PL/pgSQL itself prefixes it); an assignment (`target := expression`, the other modes) is its
 * expression after the first := or = outside brackets.
 */
function plpgsqlQuery(query: string, mode: number): string {
  if (mode === plpgsqlStatement) return query;
  if (mode === plpgsqlExpression) return `SELECT ${query}`;
  let depth = 0;
  for (const token of scanSync(query).tokens) {
    if (token.text === "[") depth++;
    else if (token.text === "]") depth--;
    else if (depth === 0 && (token.text === ":=" || token.text === "=")) {
      return `SELECT ${Buffer.from(query, "utf8").subarray(token.end).toString("utf8")}`; // offsets in bytes
    }
  }
  return `SELECT ${query}`;
}
