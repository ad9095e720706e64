// Values that the coordinator supplies so that distributed writes behave as on one PostgreSQL:
//
// - Column defaults that are not constants (nextval() of serial and identity columns, now(),
//   random(), …) are evaluated in the coordinator database, where the sequences live, and go to
//   the shards as values. So sequence values are unique across shards, and now() is the
//   coordinator transaction's time for every shard of a statement.
// - Calls to now(), CURRENT_TIMESTAMP and the other functions whose value depends on the
//   transaction or session are evaluated once per statement in the coordinator database and
//   replaced by constants before a modification goes to the shards.
import { SqlError } from "../errors.js";
import { RemoteError } from "../nodes/gateway.js";
import {
  cloneAst,
  exprKey,
  expressionFromTemplate,
  paramTypesFor,
  settingNameOf,
  stringList,
  jsonText,
  textCast,
  transitText,
  typeNameNode,
  walk,
  type AstNode,
} from "../sql/ast.js";
import { deparseStatement } from "../sql/parse.js";
import type { Session } from "../server/session.js";
import type { Invocation } from "../commands/intercept.js";
import { followedSettings } from "./remote.js";

/** A column of a distributed or reference table's shell, as the coordinator's executors need it. */
export interface ColumnInfo {
  readonly name: string;
  /** The type as SQL, with its modifier. */
  readonly type: string;
  /** The type's qualified name, which means it without a modifier (`bpchar`, not `character(1)`). */
  readonly baseType: readonly [string, string];
  /** The column's default expression (identity columns: their nextval()), or null. */
  readonly defaultExpr: AstNode | null;
  /** The default the coordinator evaluates for rows that leave the column out (null: none needed). */
  readonly coordinatorDefault: AstNode | null;
  /** The column's identity kind: "a" (ALWAYS), "d" (BY DEFAULT) or "". */
  readonly identity: string;
  readonly generated: boolean;
  /** Whether the type is json or jsonb (or a domain over them). */
  readonly json: boolean;
  /** The column's collation (schema and name) when it is not its type's, else null. */
  readonly collation: readonly [string, string] | null;
  /** The OID of the column's type, or of a domain's base type (for transitText). */
  readonly baseTypeOid: number;
}

/** The catalog query behind `columnsFromRows`; $1 is the table's oid. */
export const COLUMNS_QUERY = `SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
       tn.nspname, t.typname, pg_catalog.pg_get_expr(d.adbin, d.adrelid), a.attidentity,
       a.attgenerated <> '',
       CASE WHEN a.attidentity <> '' THEN pg_catalog.pg_get_serial_sequence(a.attrelid::pg_catalog.regclass::text, a.attname) END,
       COALESCE(NULLIF(t.typbasetype, 0), t.oid) IN (114, 3802),
       cn.nspname, co.collname, COALESCE(NULLIF(t.typbasetype, 0), t.oid)
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
  JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace
  LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation AND a.attcollation <> t.typcollation
  LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
 WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum`;

export function columnsFromRows(rows: readonly (string | null)[][]): ColumnInfo[] {
  return rows.map(
    ([
      name,
      type,
      typeSchema,
      typeName,
      defaultExpr,
      identity,
      generated,
      sequence,
      json,
      collationSchema,
      collation,
      baseTypeOid,
    ]) => {
      let expr: AstNode | null = null;
      if (sequence) {
        expr = call("nextval", [
          {
            TypeCast: { arg: { A_Const: { sval: { sval: sequence } } }, typeName: typeNameNode("pg_catalog.regclass") },
          },
        ]);
      } else if (defaultExpr !== null && generated !== "t") {
        expr = expressionFromTemplate(defaultExpr);
      }
      return {
        name: name!,
        defaultExpr: expr,
        coordinatorDefault: expr && !isConstant(expr) ? expr : null,
        type: type!,
        baseType: [typeSchema!, typeName!],
        identity: identity ?? "",
        generated: generated === "t",
        json: json === "t",
        collation: collation ? [collationSchema!, collation] : null,
        baseTypeOid: Number(baseTypeOid),
      };
    },
  );
}

/** A constant, possibly cast: the shards' own copy of such a default gives the same value. */
export function isConstant(expr: AstNode): boolean {
  if (expr.A_Const) return true;
  const cast = expr.TypeCast as { arg: AstNode } | undefined;
  return !!cast && isConstant(cast.arg);
}

function call(name: string, args: AstNode[]): AstNode {
  return {
    FuncCall: {
      funcname: [{ String: { sval: "pg_catalog" } }, { String: { sval: name } }],
      args,
      funcformat: "COERCE_EXPLICIT_CALL",
    },
  };
}

/** PostgreSQL's refusal of a value for a GENERATED ALWAYS identity column. */
export function identityAlwaysError(column: string): SqlError {
  return new SqlError("428C9", `cannot insert a non-DEFAULT value into column "${column}"`, {
    detail: `Column "${column}" is an identity column defined as GENERATED ALWAYS.`,
    hint: "Use OVERRIDING SYSTEM VALUE to override.",
  });
}

/** Sequence functions: they work on the coordinator's sequences, which the workers do not have. */
export const sequenceFunctions = new Set(["nextval", "currval", "setval", "lastval"]);

/** Whether an expression calls a sequence function. */
export function callsSequence(expr: unknown): boolean {
  let found = false;
  walk(expr, (node) => {
    const fc = node.FuncCall as AstNode | undefined;
    if (fc && sequenceFunctions.has(stringList(fc.funcname).pop()!)) found = true;
  });
  return found;
}

/**
 * Completes the rows of an INSERT … VALUES: the columns it leaves out and the DEFAULT items of
 * columns whose defaults the coordinator evaluates get values, and so do items calling sequence
 * functions or what else only the coordinator database answers (`coordinatorItem`) — row by row,
 * in the order PostgreSQL evaluates them, each once. The distribution column's default, constant
 * or not, is evaluated too: rows are routed by its value. Returns the column list the rows now
 * follow.
 */
export async function fillDefaults(
  session: Session,
  all: readonly ColumnInfo[],
  columns: readonly string[],
  rows: AstNode[][],
  override: string | undefined,
  inv: Invocation,
  distributionColumn: string | null,
  coordinatorItem: (item: AstNode) => boolean,
): Promise<string[]> {
  const evaluatedDefault = (c: ColumnInfo | undefined) =>
    c?.coordinatorDefault ?? (c?.name === distributionColumn ? c.defaultExpr : null);
  const byName = new Map(all.map((c) => [c.name, c]));
  const given = columns.map((n) => byName.get(n));
  given.forEach((c, position) => {
    if (!c || c.identity === "") return;
    for (const row of rows) {
      if (row[position]?.SetToDefault) continue;
      // OVERRIDING USER VALUE: the identity's own value replaces the one given, ALWAYS or not.
      if (override === "OVERRIDING_USER_VALUE") row[position] = { SetToDefault: {} };
      else if (c.identity === "a" && override !== "OVERRIDING_SYSTEM_VALUE") throw identityAlwaysError(c.name);
    }
  });
  const missing = all.filter((c) => evaluatedDefault(c) && !columns.includes(c.name));
  // The value the coordinator evaluates for an item, or null when the item goes as it is.
  const evaluated = (row: AstNode[], position: number): AstNode | null => {
    const item = row[position];
    if (item?.SetToDefault) return evaluatedDefault(given[position]);
    return item && (callsSequence(item) || coordinatorItem(item)) ? item : null;
  };
  const positions = columns.map((_, p) => p).filter((p) => rows.some((row) => evaluated(row, p)));
  if (missing.length === 0 && positions.length === 0) return [...columns];
  const nullText = textCast({ A_Const: { isnull: true } });
  // The order of evaluation: one row is a target list, evaluated in the table's column order;
  // several are a VALUES list, each row's items in their order, then its defaults.
  const cellColumns = [...positions.map((p) => given[p]), ...missing];
  const order = cellColumns.map((_, i) => i);
  if (rows.length === 1) order.sort((a, b) => all.indexOf(cellColumns[a]!) - all.indexOf(cellColumns[b]!));
  const valuesLists = rows.map((row) => {
    const cells = [
      ...positions.map((p) => {
        const e = evaluated(row, p);
        if (!e) return nullText;
        return row[p].SetToDefault ? transitText(e, given[p]!.baseTypeOid) : typedTextCell(e);
      }),
      ...missing.map((c) => transitText(evaluatedDefault(c)!, c.baseTypeOid)),
    ];
    return { List: { items: order.map((i) => cells[i]) } };
  });
  const answers = await evaluateSelect(
    session,
    {
      SelectStmt: { valuesLists, limitOption: "LIMIT_OPTION_DEFAULT", op: "SETOP_NONE" },
    },
    inv,
  ).catch((e: unknown) => {
    // Only a read-only transaction refuses a write (nextval()) so: PostgreSQL refuses the INSERT
    // itself in one, before it evaluates anything.
    if (e instanceof RemoteError && e.fields.code === "25006") {
      throw new SqlError("25006", "cannot execute INSERT in a read-only transaction");
    }
    throw e;
  });
  const values = answers.map((answer) => {
    const cells: (string | null)[] = [];
    order.forEach((cell, k) => (cells[cell] = answer[k]));
    return cells;
  });
  rows.forEach((row, r) => {
    positions.forEach((p, i) => {
      if (!evaluated(row, p)) return;
      row[p] = row[p].SetToDefault ? literal(values[r][i]) : typedLiteral(values[r][i]!);
    });
    row.push(...missing.map((_, i) => literal(values[r][positions.length + i])));
  });
  return [...columns, ...missing.map((c) => c.name)];
}

/** typedTextCell's cell, parsed once. */
let typedTextTemplate: AstNode | undefined;

/**
 * A VALUES cell evaluating an item once (the subquery is a fence) into its text and its type's
 * name, as a JSON array: the shards then assign the value to its column from the item's own type,
 * as PostgreSQL would (numeric 2.5 into an integer column is 3, a timestamptz into a date column
 * is read in the session's time zone). The type is named as format_type does with no modifier:
 * pg_typeof's text names bpchar "character", which is char(1). The text is the type's output
 * form (format's %s), not its cast to text, which drops a bpchar's trailing spaces; a timestamptz
 * goes in its JSON form (see transitText); null is told from a value by the cast (a row of nulls
 * IS NULL, and is a value).
 */
function typedTextCell(item: AstNode): AstNode {
  typedTextTemplate ??= expressionFromTemplate(
    `(SELECT pg_catalog.json_build_array(pg_catalog.format_type(pg_catalog.pg_typeof(v), -1),
                CASE WHEN v IS NULL AND v::pg_catalog.text IS NULL THEN NULL
                     WHEN pg_catalog.pg_typeof(v) = 'pg_catalog.timestamptz'::pg_catalog.regtype
                       THEN pg_catalog.to_json(v) OPERATOR(pg_catalog.#>>) '{}'
                     ELSE pg_catalog.format('%s', v) END)
        FROM (SELECT NULL OFFSET 0) AS s (v))::pg_catalog.text`,
  );
  const cell = cloneAst(typedTextTemplate);
  type Select = { targetList: { ResTarget: { val: AstNode } }[]; fromClause: AstNode[] };
  const outer = ((cell.TypeCast as AstNode).arg as { SubLink: { subselect: { SelectStmt: Select } } }).SubLink;
  const from = outer.subselect.SelectStmt.fromClause[0] as { RangeSubselect: { subquery: { SelectStmt: Select } } };
  from.RangeSubselect.subquery.SelectStmt.targetList[0].ResTarget.val = item;
  return cell;
}
/** The constant a typedTextCell's answer stands for: its text, typed as the item was. */
function typedLiteral(cell: string): AstNode {
  const [type, text] = JSON.parse(cell) as [string, string | null];
  return { TypeCast: { arg: literal(text), typeName: typeNameNode(type) } };
}

/**
 * Runs a SELECT in the coordinator database with the statement's parameters (those it uses take
 * their types from the context, the others are text) and returns its rows as text.
 */
export async function evaluateSelect(session: Session, select: AstNode, inv: Invocation) {
  // The statement's declared types where it has them: its parameters read as the client said.
  const types = paramTypesFor(select, inv.params.length).map((t, i) => (t === 0 ? (inv.paramTypes?.[i] ?? 0) : t));
  return session.internalQuery(deparseStatement(select), inv.params, inv.paramFormats, types);
}

/** An untyped literal: the column it is assigned to reads it with its input function. */
export function literal(text: string | null): AstNode {
  return text === null ? { A_Const: { isnull: true } } : { A_Const: { sval: { sval: text } } };
}

/** Functions whose value is the transaction's or session's, not the node's that evaluates them. */
export const transactionFunctions = new Set(["now", "transaction_timestamp", "statement_timestamp"]);

/**
 * Functions whose answer, for constant arguments, is about the session, transaction, server or
 * catalog of the node that runs them: a worker would answer about its own (its database, backend,
 * transaction id, settings, shards). All are stable, so PostgreSQL gives one answer per
 * statement too; the coordinator database gives it for every shard.
 */
const coordinatorValueFunctions =
  /^(current_setting|current_database|current_schemas?|version|pg_backend_pid|inet_(client|server)_(addr|port)|txid_current(_snapshot)?|pg_current_xact_id|pg_current_snapshot|pg_postmaster_start_time|pg_conf_load_time|pg_my_temp_schema|has_[a-z_]+_privilege|pg_has_role|pg_get_userbyid|(obj|col|shobj)_description)$/;

/**
 * Whether this current_setting() call reads on a worker what it reads on the coordinator:
 * a setting the workers always follow, or a custom one (`app.tenant`), which they follow once set.
 * Others may be the worker server's own (port, shared_buffers, work_mem never SET), or Canopy's
 * (application_name, statement_timeout).
 */
export function readsAlikeOnWorkers(call: AstNode): boolean {
  const name = settingNameOf(call);
  if (name === undefined) return false;
  return followedSettings.includes(name) || (name.includes(".") && !name.startsWith("canopy."));
}

/** Whether a call is one whose value the coordinator database gives for the statement (transactionValueSites). */
function isValueCall(fc: AstNode): boolean {
  if (fc.over || fc.agg_star || fc.agg_filter || fc.agg_order || fc.agg_distinct || fc.func_variadic) return false;
  const names = stringList(fc.funcname);
  if (names.length > 1 && names[0] !== "pg_catalog") return false;
  const name = names[names.length - 1];
  if (transactionFunctions.has(name)) return !fc.args;
  if (!coordinatorValueFunctions.test(name) || (name === "current_setting" && readsAlikeOnWorkers(fc))) return false;
  return ((fc.args as AstNode[] | undefined) ?? []).every(isConstantValue);
}

/** Constants, casts of them, and value calls of them: what a value call's arguments may be. */
function isConstantValue(node: AstNode): boolean {
  if (node.A_Const || node.SQLValueFunction) return true;
  const cast = node.TypeCast as { arg: AstNode } | undefined;
  if (cast) return isConstantValue(cast.arg);
  const fc = node.FuncCall as AstNode | undefined;
  return !!fc && isValueCall(fc);
}

/**
 * The calls in a statement whose value is the transaction's, the session's or the coordinator's
 * (now(), CURRENT_TIMESTAMP, CURRENT_USER, current_setting('work_mem'), txid_current(),
 * current_database(), …, with constant arguments): the coordinator database evaluates each once,
 * so that every shard of a statement gets the coordinator transaction's value. Outermost calls
 * only; none in FROM, where a function stays a function.
 */
export function transactionValueSites(stmt: AstNode): AstNode[] {
  const sites: AstNode[] = [];
  const inside = new Set<unknown>();
  const enclose = (root: unknown) => walk(root, (n) => void inside.add(n));
  walk(stmt, (node) => {
    if (inside.has(node)) return;
    if ((node.RangeFunction as AstNode | undefined)?.functions) {
      enclose((node.RangeFunction as AstNode).functions);
      return;
    }
    const fc = node.FuncCall as AstNode | undefined;
    if (node.SQLValueFunction || (fc && isValueCall(fc))) {
      sites.push(node);
      enclose(node);
    }
  });
  return sites;
}

/** A copy of a statement with its transaction value sites as NULL: what remains for the shards to answer. */
export function withoutSites(stmt: AstNode): AstNode {
  const copy = cloneAst(stmt);
  for (const site of transactionValueSites(copy)) replaceSite(site, { A_Const: { isnull: true } });
  return copy;
}

/**
 * Whether a transaction value site is the transaction's start time itself: now(),
 * transaction_timestamp() or CURRENT_TIMESTAMP without a precision.
 */
export function isTransactionStartTime(site: AstNode): boolean {
  const svf = site.SQLValueFunction as { op: string } | undefined;
  if (svf) return svf.op === "SVFOP_CURRENT_TIMESTAMP";
  const name = stringList((site.FuncCall as AstNode).funcname);
  return name[name.length - 1] === "now" || name[name.length - 1] === "transaction_timestamp";
}

/**
 * The SELECT giving, per site, its value as text, its text for an array, and its type's name, in
 * the coordinator database; each site is evaluated once (a subquery), read by siteValues. A value
 * is in its JSON form (jsonText), which the shards read under any settings: a timestamptz's own
 * text may name its zone by an abbreviation that they would read as another zone's (IST in
 * Asia/Kolkata as Israel's). An array's JSON form is not its type's input, its own text is.
 */
export function transactionValuesQuery(sites: readonly AstNode[]): string {
  const column = (i: number) => expressionFromTemplate(`s.v${i}`);
  const slots = siteSlots(sites);
  sites = sites.filter((_, i) => !slots.slice(0, i).includes(slots[i]));
  const targetList = sites.flatMap((_, i) => [
    { ResTarget: { val: jsonText(column(i)) } },
    { ResTarget: { val: textCast(column(i)) } },
    { ResTarget: { val: textCast(call("pg_typeof", [column(i)])) } },
  ]);
  const values = sites.map((site, i) => ({ ResTarget: { name: `v${i}`, val: structuredClone(site) } }));
  return deparseStatement({
    SelectStmt: {
      targetList,
      fromClause: [
        {
          RangeSubselect: {
            subquery: { SelectStmt: { targetList: values, limitOption: "LIMIT_OPTION_DEFAULT", op: "SETOP_NONE" } },
            alias: { aliasname: "s" },
          },
        },
      ],
      limitOption: "LIMIT_OPTION_DEFAULT",
      op: "SETOP_NONE",
    },
  });
}

/**
 * For each site, the number of the value transactionValuesQuery gives it: sites written alike share
 * one, so that the statement keeps them alike (`GROUP BY now() - at` matching `SELECT now() - at`).
 */
export function siteSlots(sites: readonly AstNode[]): number[] {
  const seen = new Map<string, number>();
  return sites.map((site) => {
    const key = exprKey(site);
    if (!seen.has(key)) seen.set(key, seen.size);
    return seen.get(key)!;
  });
}

/** The values and type names of transactionValuesQuery's answer, value by value (siteSlots). */
export function siteValues(row: readonly (string | null)[]): { texts: (string | null)[]; types: string[] } {
  const texts: (string | null)[] = [];
  const types: string[] = [];
  for (let i = 0; i < row.length; i += 3) {
    const type = row[i + 2]!;
    texts.push(type.endsWith("]") ? row[i + 1] : row[i]);
    types.push(type);
  }
  return { texts, types };
}

/** Replaces a site by `expr`, in place. */
export function replaceSite(site: AstNode, expr: AstNode): void {
  for (const key of Object.keys(site)) delete site[key];
  Object.assign(site, expr);
}

/**
 * Replaces, in a modification about to run on the shards, every transaction value site by its
 * value, typed as the call was. One round trip for all of them; none when there are none.
 */
export async function evaluateTransactionValues(session: Session, stmt: AstNode): Promise<void> {
  const sites = transactionValueSites(stmt);
  if (sites.length === 0) return;
  const { texts, types } = siteValues((await session.internalQuery(transactionValuesQuery(sites)))[0]);
  const slots = siteSlots(sites);
  sites.forEach((site, i) =>
    replaceSite(site, { TypeCast: { arg: literal(texts[slots[i]]), typeName: typeNameNode(types[slots[i]]) } }),
  );
}
