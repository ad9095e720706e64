// SQL-level PREPARE and EXECUTE of statements over distributed tables. The PREPARE also runs in the
// coordinator database, over the shells: there PostgreSQL checks the statement, infers its
// parameter types, lists it in pg_prepared_statements, and DEALLOCATE or DISCARD remove it. Canopy
// keeps the statement (planned and pruned as the extended protocol's are); EXECUTE evaluates its
// arguments in the coordinator database, each cast to its parameter's type as PostgreSQL casts
// them, and runs the kept statement with the values. The same query first checks that the name
// still holds the statement Canopy kept: one deallocated, or prepared again over other tables, is
// the coordinator database's to execute.
import { SqlError } from "../errors.js";
import type { AstNode } from "../sql/ast.js";
import { transitText, typeNameNode, walk } from "../sql/ast.js";
import { deparseStatement } from "../sql/parse.js";
import type { Session } from "../server/session.js";
import type { Invocation, InterceptedStatement } from "./intercept.js";
import {
  checkResultUnchanged,
  coordinatorDescription,
  preparedResult,
  runDistributed,
  runOnCoordinator,
} from "../executor/distributed.js";

/** A statement the client prepared over distributed tables. */
export interface SqlPrepared {
  /** The PREPARE as pg_prepared_statements shows it: the name still holds this statement. */
  readonly statement: string;
  /** Its parameters' types, as type names for the arguments' casts. */
  readonly typeNames: readonly string[];
  /** Its parameters' types' OIDs, a domain's base type's (for transitText). */
  readonly baseTypes: readonly number[];
  readonly query: InterceptedStatement;
}

/** Past this many kept statements, those the coordinator database no longer has are forgotten. */
const keptMax = 1000;

/** PREPARE name [(types)] AS statement, over distributed tables. */
export async function prepareStatement(session: Session, st: InterceptedStatement, inv: Invocation): Promise<void> {
  const prepare = st.stmt.PrepareStmt as { name: string; query: AstNode };
  await runOnCoordinator(session, st.sql, inv, [], st.paramTypes);
  if (session.sqlPrepared.size >= keptMax) await forgetDeallocated(session);
  // The names by format_type(…, -1): a regtype's text names bpchar "character", which is char(1).
  const [[statement, oids, names, baseTypes]] = await session.internalQuery(
    `SELECT statement, pg_catalog.to_json(parameter_types::oid[])::text,
            pg_catalog.array_to_json(ARRAY(SELECT pg_catalog.format_type(t, -1)
              FROM pg_catalog.unnest(parameter_types) WITH ORDINALITY u(t, i) ORDER BY i))::text,
            pg_catalog.array_to_json(ARRAY(SELECT COALESCE(NULLIF(ty.typbasetype, 0), ty.oid)
              FROM pg_catalog.unnest(parameter_types) WITH ORDINALITY u(t, i)
              JOIN pg_catalog.pg_type ty ON ty.oid = u.t ORDER BY i))::text
       FROM pg_catalog.pg_prepared_statements WHERE name = $1`,
    [Buffer.from(prepare.name)],
  );
  const paramTypes = (JSON.parse(oids!) as number[]).map(Number);
  const query: InterceptedStatement = {
    sql: deparseStatement(prepare.query),
    stmt: prepare.query,
    paramTypes,
    distributed: {},
  };
  session.sqlPrepared.set(prepare.name, {
    statement: statement!,
    typeNames: JSON.parse(names!) as string[],
    baseTypes: (JSON.parse(baseTypes!) as string[]).map(Number),
    query: { ...query, preparedResult: preparedResult(await coordinatorDescription(session, query)) },
  });
  session.sqlPreparedEpoch++;
}

/** EXECUTE name [(arguments)] of a statement prepared over distributed tables. */
export async function executePrepared(session: Session, st: InterceptedStatement, inv: Invocation): Promise<void> {
  const execute = st.stmt.ExecuteStmt as { name: string; params?: AstNode[] };
  const kept = session.sqlPrepared.get(execute.name);
  const args = execute.params ?? [];
  if (kept && args.length !== kept.typeNames.length) {
    throw new SqlError("42601", `wrong number of parameters for prepared statement "${execute.name}"`, {
      detail: `Expected ${kept.typeNames.length} parameters but got ${args.length}.`,
    });
  }
  if (args.some((a) => hasSubquery(a))) throw new SqlError("0A000", "cannot use subquery in EXECUTE parameter");
  const rows = kept
    ? await session.internalQuery(argumentsQuery(execute.name, args, kept), inv.params, inv.paramFormats)
    : [];
  if (rows.length === 0 || rows[0][0] !== kept!.statement) {
    session.sqlPrepared.delete(execute.name);
    session.sqlPreparedEpoch++;
    return runOnCoordinator(session, st.sql, inv, [], st.paramTypes);
  }
  await checkResultUnchanged(session, kept!.query);
  const values = rows[0].slice(1).map((v) => (v === null ? null : Buffer.from(v, "utf8")));
  return runDistributed(session, kept!.query, { ...inv, params: values, paramFormats: [] });
}

/**
 * `SELECT (SELECT statement FROM pg_prepared_statements WHERE name = …), v.* FROM (VALUES
 * (CAST(CAST(arg AS type) AS text), …)) v` (bpchar and timestamptz in the forms of transitText):
 * the statement the name holds now (NULL when none), and the arguments as the parameters' values.
 * In VALUES, as in EXECUTE, an argument may not name columns or use aggregate and window functions.
 */
function argumentsQuery(name: string, args: readonly AstNode[], kept: SqlPrepared): string {
  const column = (name: string) => ({ ColumnRef: { fields: [{ String: { sval: name } }] } });
  const cast = (arg: AstNode, type: string) => ({ TypeCast: { arg, typeName: typeNameNode(type) } });
  const select = (fields: AstNode): AstNode => ({ limitOption: "LIMIT_OPTION_DEFAULT", op: "SETOP_NONE", ...fields });
  const statement = select({
    targetList: [{ ResTarget: { val: column("statement") } }],
    fromClause: [{ RangeVar: { schemaname: "pg_catalog", relname: "pg_prepared_statements", inh: true } }],
    whereClause: {
      A_Expr: {
        kind: "AEXPR_OP",
        name: [{ String: { sval: "=" } }],
        lexpr: column("name"),
        rexpr: { A_Const: { sval: { sval: name } } },
      },
    },
  });
  const values = args.map((a, i) => transitText(cast(a, kept.typeNames[i]), kept.baseTypes[i]));
  return deparseStatement({
    SelectStmt: select({
      targetList: [
        { ResTarget: { val: { SubLink: { subLinkType: "EXPR_SUBLINK", subselect: { SelectStmt: statement } } } } },
        ...(values.length > 0
          ? [{ ResTarget: { val: { ColumnRef: { fields: [{ String: { sval: "v" } }, { A_Star: {} }] } } } }]
          : []),
      ],
      ...(values.length > 0
        ? {
            fromClause: [
              {
                RangeSubselect: {
                  subquery: { SelectStmt: select({ valuesLists: [{ List: { items: values } }] }) },
                  alias: { aliasname: "v" },
                },
              },
            ],
          }
        : {}),
    }),
  });
}

function hasSubquery(expr: AstNode): boolean {
  let found = false;
  walk(expr, (node) => {
    if (node.SubLink) found = true;
  });
  return found;
}

/** Forgets kept statements whose names the coordinator database no longer has. */
async function forgetDeallocated(session: Session): Promise<void> {
  const names = new Set(
    (await session.internalQuery("SELECT name FROM pg_catalog.pg_prepared_statements")).map((r) => r[0]),
  );
  for (const name of session.sqlPrepared.keys()) if (!names.has(name)) session.sqlPrepared.delete(name);
  session.sqlPreparedEpoch++;
}
