// Turns a statement's numeric and string constants into parameters where that cannot change what
// it means: in the WHERE clause of a SELECT, UPDATE or DELETE, the assignments of an UPDATE and the
// rows of an INSERT … VALUES, outside subqueries and type modifiers. Each number's parameter is
// declared with the type PostgreSQL gives the constant (int4, int8 or numeric), so operators and
// functions resolve as for the constant; a string's is left to be inferred, as the type of a string
// constant is (unknown, then the type its context asks for). Strings given to functions stay
// constants (but lower's and upper's): a function may read its argument as a name
// (current_setting('app.tenant'), which Canopy routes by, nextval('seq')), or an index may be on
// the call with that constant. Elsewhere a constant may have to match another expression (GROUP BY
// x + 1 and the select list's x + 1), name a column by position (ORDER BY 1) or be a type modifier
// (numeric(10, 2)); those stay constants.
// Statements of the same text but for these values then share one prepared statement
// (server/statement_shapes.ts).
import { SqlError } from "../errors.js";
import { cloneAst, type AstNode } from "../sql/ast.js";
import { literalType, stringValue, type TextLiteral, type NumericType } from "../sql/literals.js";

/**
 * A parameter standing for a literal of the text: its index there, its type (0 for a string's, to
 * be inferred), a minus sign folded in.
 */
export interface LiteralParam {
  readonly literal: number;
  readonly type: NumericType | 0;
  readonly negated: boolean;
}

export interface ParameterizedStatement {
  /** The statement with $1, $2, … for the literals of `params`, in their order. */
  readonly stmt: AstNode;
  readonly params: readonly LiteralParam[];
}

const depthMax = 1000;

/**
 * The statement with those of the text's literals that may be parameters replaced by them (but
 * those of `constants`), or null when none may. `stmt` is the parsed statement of `sql` (its
 * locations count bytes of the whole text); it is not changed.
 */
export function parameterizeLiterals(
  sql: string,
  stmt: AstNode,
  literals: readonly TextLiteral[],
  constants: ReadonlySet<number> = new Set(),
): ParameterizedStatement | null {
  if (hasParamRef(stmt, 0)) return null;
  const copy = cloneAst(stmt);
  const sites: ConstantSite[] = [];
  for (const region of regionsOf(copy)) collectConstants(region.parent, region.key, 0, false, sites);
  if (sites.length === 0) return null;
  const charOf = characterOffsets(sql);
  const byStart = new Map(literals.map((l, i) => [l.start, i]));
  const chosen = new Map<number, { site: ConstantSite; negated: boolean }>();
  for (const site of sites) {
    const at = charOf(site.location);
    const found = literalAt(sql, at, byStart, literals);
    if (found === null || chosen.has(found.literal) || constants.has(found.literal)) continue;
    const literal = literals[found.literal];
    if (
      !(literal.quoted
        ? site.constant.sval?.sval === stringValue(literal.text)
        : sameValue(site.constant, literal.text, found.negated))
    )
      continue;
    chosen.set(found.literal, { site, negated: found.negated });
  }
  if (chosen.size === 0) return null;
  const params: LiteralParam[] = [];
  for (const literal of [...chosen.keys()].sort((a, b) => a - b)) {
    const { site, negated } = chosen.get(literal)!;
    const type = literals[literal].quoted ? 0 : literalType(literals[literal].text, negated);
    params.push({ literal, type, negated });
    const container = site.parent as Record<string | number, unknown>;
    container[site.key] = { ParamRef: { number: params.length, location: site.location } };
  }
  return { stmt: copy, params };
}

/** An A_Const of a number, where it sits (to be replaced) and its parser location. */
interface ConstantSite {
  readonly parent: AstNode | unknown[];
  readonly key: string | number;
  readonly constant: { ival?: { ival?: number }; fval?: { fval?: string }; sval?: { sval?: string } };
  readonly location: number;
}

/** The parts of a statement whose constants may be parameters, as (container, key) pairs. */
function regionsOf(stmt: AstNode): { parent: AstNode | unknown[]; key: string | number }[] {
  const select = stmt.SelectStmt as AstNode | undefined;
  if (select) {
    const plain = select.op === "SETOP_NONE" && !select.valuesLists && !select.intoClause;
    return plain ? [{ parent: select, key: "whereClause" }] : [];
  }
  const update = stmt.UpdateStmt as AstNode | undefined;
  if (update) {
    const targets = (update.targetList ?? []) as { ResTarget?: AstNode }[];
    return [
      { parent: update, key: "whereClause" },
      ...targets.filter((t) => t.ResTarget).map((t) => ({ parent: t.ResTarget!, key: "val" })),
    ];
  }
  const remove = stmt.DeleteStmt as AstNode | undefined;
  if (remove) return [{ parent: remove, key: "whereClause" }];
  const insert = stmt.InsertStmt as AstNode | undefined;
  const values = (insert?.selectStmt as { SelectStmt?: AstNode } | undefined)?.SelectStmt?.valuesLists;
  return Array.isArray(values) ? values.map((_, i) => ({ parent: values, key: i })) : [];
}

/**
 * Collects the numeric and string A_Consts under parent[key], not looking into subqueries or type
 * names; strings not among a function call's arguments, nor cast to a type with modifiers (`inCall`).
 */
function collectConstants(
  parent: AstNode | unknown[],
  key: string | number,
  depth: number,
  inCall: boolean,
  out: ConstantSite[],
): void {
  if (depth > depthMax) throw new SqlError("54001", "statement is too deeply nested");
  const value = (parent as Record<string | number, unknown>)[key];
  if (value === null || typeof value !== "object") return;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) collectConstants(value, i, depth + 1, inCall, out);
    return;
  }
  const node = value as AstNode;
  const constant = node.A_Const as (ConstantSite["constant"] & { location?: number }) | undefined;
  if (constant) {
    if ((constant.ival || constant.fval || (constant.sval && !inCall)) && constant.location !== undefined) {
      out.push({ parent, key, constant, location: constant.location });
    }
    return;
  }
  if (node.SubLink || node.TypeName) return;
  // A string cast to a type with modifiers is read with them (interval '1' day is a day; '1' read
  // as an interval, then cut to days, is none).
  const cast = node.TypeCast as { typeName?: { typmods?: unknown[] } } | undefined;
  const call = inCall || opaqueCall(node) || (cast?.typeName?.typmods?.length ?? 0) > 0;
  for (const k of Object.keys(node)) {
    if (k === "typeName" || k === "typmods") continue;
    collectConstants(node, k, depth + 1, call, out);
  }
}

/**
 * Functions whose string arguments are values only, whatever they are: the case mappings that
 * case-insensitive lookups compare with (Django's `UPPER(col) = UPPER('x')`, `lower(email) =
 * lower('…')`), of pg_catalog or unqualified.
 */
const valueFunctions = new Set(["lower", "upper"]);

/** Whether a node is a function call whose string arguments stay constants (see the file's head). */
function opaqueCall(node: AstNode): boolean {
  const call = node.FuncCall as { funcname?: { String?: { sval?: string } }[] } | undefined;
  if (!call) return false;
  const names = (call.funcname ?? []).map((n) => n.String?.sval ?? "");
  const name = names.at(-1) ?? "";
  return !(valueFunctions.has(name) && (names.length === 1 || names[0] === "pg_catalog"));
}

/**
 * The literal a constant at character `at` is: the one starting there, or for a negative constant
 * (located at its minus sign) the one after the sign and nothing but spaces.
 */
function literalAt(
  sql: string,
  at: number,
  byStart: ReadonlyMap<number, number>,
  literals: readonly TextLiteral[],
): { literal: number; negated: boolean } | null {
  const direct = byStart.get(at);
  if (direct !== undefined) return { literal: direct, negated: false };
  if (sql[at] !== "-") return null;
  const next = literals.findIndex((l) => l.start > at);
  if (next < 0 || sql.slice(at + 1, literals[next].start).trim() !== "") return null;
  return { literal: next, negated: true };
}

/** Whether the constant is the literal's value (with the minus sign when negated). */
function sameValue(constant: ConstantSite["constant"], text: string, negated: boolean): boolean {
  const signed = negated ? `-${text}` : text;
  if (constant.ival) return literalType(text, negated) === 23 && (constant.ival.ival ?? 0) === Number(signed);
  return constant.fval?.fval === signed && literalType(text, negated) !== 23;
}

function hasParamRef(value: unknown, depth: number): boolean {
  if (depth > depthMax) throw new SqlError("54001", "statement is too deeply nested");
  if (value === null || typeof value !== "object") return false;
  if (Array.isArray(value)) return value.some((v) => hasParamRef(v, depth + 1));
  const node = value as AstNode;
  if (node.ParamRef) return true;
  for (const k of Object.keys(node)) if (hasParamRef(node[k], depth + 1)) return true;
  return false;
}

/** Maps the parser's byte offsets to the text's character offsets (the same for ASCII text). */
function characterOffsets(sql: string): (byteOffset: number) => number {
  if (Buffer.byteLength(sql) === sql.length) return (n) => n;
  const chars: number[] = [];
  for (let i = 0; i < sql.length; i++) {
    const code = sql.charCodeAt(i);
    const width = code < 0x80 ? 1 : code < 0x800 ? 2 : code >= 0xd800 && code < 0xdc00 ? 4 : 3;
    for (let b = 0; b < width; b++) chars.push(i);
    if (width === 4) i++;
  }
  return (n) => (n < chars.length ? chars[n] : sql.length);
}
