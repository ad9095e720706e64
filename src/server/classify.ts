// Decides, per statement text, whether the session forwards it to the coordinator database as it
// is or Canopy must handle it. Results are cached per session by text; the fast path is a keyword
// test that spares parsing for statements that cannot concern Canopy.
import { parseSql, statementText } from "../sql/parse.js";
import { stringList, walk, constantText, type AstNode } from "../sql/ast.js";
import { isCanopySetting, ensureSettingExists, checkSessionSet } from "../settings.js";
import { toErrorFields } from "../errors.js";
import type { ErrorFields } from "../protocol/messages.js";
import { findUdf } from "../commands/udfs.js";
import type { InterceptedStatement } from "../commands/intercept.js";

export type Classification =
  | { readonly kind: "forward" }
  | { readonly kind: "error"; readonly error: ErrorFields }
  | {
      readonly kind: "intercept";
      readonly statements: readonly { text: string; intercepted: InterceptedStatement | null }[];
    };

const FORWARD: Classification = { kind: "forward" };
const mayConcernCanopy = /canopy|master_|run_command_on_workers/i;
const mayConcernEmbedded = /canopy|master_|run_command_on_workers|copy/i;

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
      const intercepted = interceptionOf(p.stmt, statementText(sql, p), embedded);
      anyIntercepted ||= intercepted !== null;
      return { text: statementText(sql, p), intercepted };
    });
    return anyIntercepted ? { kind: "intercept", statements } : FORWARD;
  } catch (e) {
    return { kind: "error", error: toErrorFields(e) };
  }
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
  const show = stmt.VariableShowStmt as { name?: string } | undefined;
  if (show?.name && isCanopySetting(show.name)) {
    ensureSettingExists(show.name);
    return { sql, stmt, paramTypes: [], show: show.name.toLowerCase() };
  }
  let calls = 0;
  walk(stmt, (node) => {
    const call = node.FuncCall as { funcname?: unknown } | undefined;
    if (call && findUdf(stringList(call.funcname))) calls++;
  });
  return calls > 0 ? { sql, stmt, paramTypes: [] } : null;
}
