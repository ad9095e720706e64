// Small helpers over libpg-query ASTs: a bounded walk, name extraction, and node construction by
// parsing fixed templates (values enter templates only through the quoting helper).
import { SqlError } from "../errors.js";
import { parseSql } from "./parse.js";

export type AstNode = Record<string, unknown>;

const depthMax = 1000;
const TEXT_OID = 25;

/**
 * Visits every object in an AST depth-first, parents before children. `visit` receives the node,
 * its parent container and the key under which it sits, so it can replace it.
 */
export function walk(
  root: unknown,
  visit: (node: AstNode, parent: AstNode | unknown[], key: string | number) => void,
): void {
  const step = (value: unknown, parent: AstNode | unknown[], key: string | number, depth: number) => {
    if (depth > depthMax) throw new SqlError("54001", "statement is too deeply nested");
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) step(value[i], value, i, depth + 1);
    } else if (value !== null && typeof value === "object") {
      visit(value as AstNode, parent, key);
      const current = Array.isArray(parent) ? parent[key as number] : (parent as AstNode)[key];
      for (const [k, v] of Object.entries(current as AstNode)) {
        if (v !== null && typeof v === "object") step(v, current as AstNode, k, depth + 1);
      }
    }
  };
  step(root, [root], 0, 0);
}

/** The string values of a list of String nodes (function names, qualified names). */
export function stringList(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  return list.map((n) => (n as { String?: { sval?: string } }).String?.sval ?? "");
}

/**
 * A deep copy of an AST. ASTs are plain JSON values, copied here member by member (about ten times
 * faster than structuredClone, which statements with long IN lists feel); anything else inside is
 * left to structuredClone.
 */
export function cloneAst<T>(node: T): T {
  return copyPlain(node, 0) as T;
}

function copyPlain(value: unknown, depth: number): unknown {
  if (value === null || typeof value !== "object") return value;
  if (depth > depthMax) throw new SqlError("54001", "statement is too deeply nested");
  if (Array.isArray(value)) {
    const copy = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) copy[i] = copyPlain(value[i], depth + 1);
    return copy;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return structuredClone(value);
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) copy[key] = copyPlain((value as Record<string, unknown>)[key], depth + 1);
  return copy;
}

/** Parses `SELECT <expression>` and returns the expression's AST node. */
export function expressionFromTemplate(sql: string): AstNode {
  const [s] = parseSql(`SELECT ${sql}`);
  const select = s.stmt.SelectStmt as { targetList: { ResTarget: { val: AstNode } }[] };
  return select.targetList[0].ResTarget.val;
}

const typeNames = new Map<string, AstNode>();

/** The TypeName node for a type written in SQL, e.g. `pg_catalog.int4` or `noderole` (parsed once per text). */
export function typeNameNode(type: string): AstNode {
  let node = typeNames.get(type);
  if (!node) {
    node = (expressionFromTemplate(`NULL::${type}`) as { TypeCast: { typeName: AstNode } }).TypeCast.typeName;
    if (typeNames.size >= 10_000) typeNames.clear();
    typeNames.set(type, node);
  }
  return cloneAst(node);
}

/** The parameter numbers ($n) an AST refers to. */
export function paramNumbers(root: unknown): Set<number> {
  const numbers = new Set<number>();
  walk(root, (node) => {
    const p = node.ParamRef as { number?: number } | undefined;
    if (p?.number) numbers.add(p.number);
  });
  return numbers;
}

/** Parameter types for Parse: unknown (inferred) where used, text where a parameter is unused. */
export function paramTypesFor(ast: unknown, count: number): number[] {
  const used = paramNumbers(ast);
  const types: number[] = [];
  for (let i = 1; i <= count; i++) types.push(used.has(i) ? 0 : TEXT_OID);
  return types;
}

/** `expr::text`. */
export function textCast(expr: AstNode): AstNode {
  return { TypeCast: { arg: expr, typeName: typeNameNode("text") } };
}

const BPCHAR_OID = 1042;
const TIMESTAMPTZ_OID = 1184;

/**
 * A value's text to be read back as its type (`baseType`: its type's OID, a domain's base type's),
 * in another session or on another node with the same settings: `expr::text`, except for
 * - bpchar: its output form, `textin(bpcharout(expr))`, as the cast to text drops trailing spaces
 *   that a bpchar without a length keeps;
 * - timestamptz: its JSON form, `to_json(expr) #>> '{}'`, ISO 8601 with a numeric offset whatever
 *   the DateStyle: the other styles name the zone by an abbreviation, which input reads from a
 *   table of its own (CST in Asia/Shanghai would be read as US Central time).
 */
export function transitText(expr: AstNode, baseType: number): AstNode {
  if (baseType === BPCHAR_OID) return catalogCall("textin", catalogCall("bpcharout", expr));
  if (baseType === TIMESTAMPTZ_OID) return jsonText(expr);
  return textCast(expr);
}

/**
 * `to_json(expr) #>> '{}'`: a date or time value in ISO 8601 (a timestamptz with a numeric offset)
 * whatever the DateStyle, which its type's input reads under any settings; a name as it is.
 */
export function jsonText(expr: AstNode): AstNode {
  return {
    A_Expr: {
      kind: "AEXPR_OP",
      name: [{ String: { sval: "pg_catalog" } }, { String: { sval: "#>>" } }],
      lexpr: catalogCall("to_json", expr),
      rexpr: { TypeCast: { arg: { A_Const: { sval: { sval: "{}" } } }, typeName: typeNameNode("text[]") } },
    },
  };
}

function catalogCall(name: string, arg: AstNode): AstNode {
  return {
    FuncCall: {
      funcname: [{ String: { sval: "pg_catalog" } }, { String: { sval: name } }],
      args: [arg],
      funcformat: "COERCE_EXPLICIT_CALL",
    },
  };
}

/** `expr COLLATE collation` (collation as schema and name), or the expression itself when null. */
export function withCollation(expr: AstNode, collation: readonly string[] | null): AstNode {
  if (!collation) return expr;
  return { CollateClause: { arg: expr, collname: collation.map((sval) => ({ String: { sval } })) } };
}

/** The value of a constant node (A_Const) as text, or undefined if the node is not a constant. */
export function constantText(node: unknown): string | null | undefined {
  const c = (node as { A_Const?: Record<string, unknown> }).A_Const;
  if (!c) return undefined;
  if (c.isnull) return null;
  const v =
    (c.sval as { sval?: string })?.sval ??
    (c.ival as { ival?: number })?.ival ??
    (c.fval as { fval?: string })?.fval ??
    (c.boolval as { boolval?: boolean })?.boolval ??
    (c.bsval as { bsval?: string })?.bsval;
  if (c.ival && v === undefined) return "0";
  if (c.boolval && v === undefined) return "false";
  return v === undefined ? undefined : String(v);
}

/**
 * The settings named by the calls of a function taking a setting's name first (current_setting,
 * set_config) under `root`, as constants: lower case, as the catalog names them.
 */
export function settingsNamedIn(root: unknown, fn: "current_setting" | "set_config"): string[] {
  const names: string[] = [];
  walk(root, (node) => {
    const call = node.FuncCall as AstNode | undefined;
    const name = call && settingNameOf(call);
    if (name && stringList(call.funcname).at(-1) === fn) names.push(name);
  });
  return names;
}

/** The setting a call (FuncCall) names by a constant first argument, in lower case; undefined for another. */
export function settingNameOf(call: AstNode): string | undefined {
  const name = constantText((call.args as AstNode[] | undefined)?.[0] ?? {});
  return typeof name === "string" ? name.toLowerCase() : undefined;
}

/** A key identifying an expression regardless of where it was written. */
export function exprKey(node: unknown): string {
  return JSON.stringify(node, (k, v: unknown) => (k === "location" ? undefined : v));
}
