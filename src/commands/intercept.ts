// Runs statements that call Canopy UDFs or SHOW canopy.* settings. A UDF call is evaluated by
// Canopy (its arguments first, by the coordinator database, so casts and parameters behave as in
// PostgreSQL), then replaced in the AST by a constant of its result; the rewritten statement runs on
// the session's connection, in its transaction, and its rows go to the client.
import { BackendCode, FrontendCode, MessageWriter, parseRowDescription, write } from "../protocol/messages.js";
import { SqlError } from "../errors.js";
import {
  cloneAst,
  expressionFromTemplate,
  paramTypesFor,
  settingsNamedIn,
  typeNameNode,
  walk,
  type AstNode,
} from "../sql/ast.js";
import { deparseStatement } from "../sql/parse.js";
import { quoteLiteral } from "../sql/quote.js";
import type { Session } from "../server/session.js";
import { RemoteError } from "../nodes/gateway.js";
import { commitStatement } from "../transaction/commit.js";
import { collectRelationRefs } from "../planner/analyze.js";
import { findMemoryView, interceptedUdf, typedArguments, type UdfDefinition, type UdfResult } from "./udfs.js";
import { announceSchemaChange, runDdl } from "./ddl.js";
import { refuseDistributedBody, type FunctionBody } from "./function_bodies.js";
import {
  checkResultUnchanged,
  coordinatorDescription,
  refuseInFailedBlock,
  refuseMisreadTextIn,
  resolveTable,
  runDistributed,
  runOnCoordinator,
  runTransactionControl,
  type CoordinatorDescription,
  type DistributedState,
} from "../executor/distributed.js";
import { runExplain, type Explain } from "../executor/explain.js";
import type { RowCollector } from "../executor/subplans.js";
import { prepareRowSignals, sendSignalledRows } from "./backend_signals.js";
import { recordedView } from "../planner/views.js";
import { executePrepared, prepareStatement } from "./prepared.js";
import { runSetConstraints } from "../transaction/set_constraints.js";

/** A statement Canopy handles itself. */
export interface InterceptedStatement {
  readonly sql: string;
  readonly stmt: AstNode;
  readonly paramTypes: readonly number[];
  /** For SHOW canopy.*: the setting's name. */
  readonly show?: string;
  /** For COPY … FROM STDIN into an embedded coordinator database. */
  readonly copyFromStdin?: boolean;
  /** For COPY … FROM STDIN into a distributed or reference table. */
  readonly distributedCopy?: boolean;
  /** For statements touching distributed or reference tables: state kept across executions. */
  readonly distributed?: DistributedState;
  /**
   * For CREATE FUNCTION / PROCEDURE and DO whose bodies name distributed tables: checked first
   * (commands/function_bodies.ts), then run as DDL (`ddl`) or in the coordinator database.
   */
  readonly functionBody?: FunctionBody;
  /** For DDL propagated to the shards (commands/ddl.ts). */
  readonly ddl?: boolean;
  /**
   * For statements that may change which views read distributed tables, or which relation a name
   * reaches: the metadata reloads after them.
   */
  readonly announces?: boolean;
  /** For transaction control statements: the TransactionStmt kind. */
  readonly transaction?: string;
  /** For EXPLAIN of a statement on distributed or reference tables. */
  readonly explain?: boolean;
  /**
   * For a statement rewritten by recursive planning: the client's statement, which the statistics
   * record and whose RowDescription the client gets.
   */
  readonly origin?: InterceptedStatement;
  /** For a subplan of recursive planning: its execution is part of its outer statement's. */
  readonly subplan?: boolean;
  /** For statements calling pg_cancel_backend / pg_terminate_backend on their rows' values. */
  readonly signalsRows?: boolean;
  /** For PREPARE of a statement over distributed tables, and EXECUTE of one (commands/prepared.ts). */
  readonly sqlPrepare?: boolean;
  readonly sqlExecute?: boolean;
  /** For DEALLOCATE of a protocol statement of Canopy's, which the coordinator database does not hold: its name. */
  readonly deallocate?: string;
  /** For SET CONSTRAINTS while distributed or reference tables exist (transaction/set_constraints.ts). */
  readonly constraintsSet?: boolean;
  /**
   * Characters before the statement's text in the client's Query or Parse text (others of a
   * string, comments, spaces): its errors' positions are moved by them (absent: none).
   */
  readonly offset?: number;
  /** For a prepared statement (Parse, SQL PREPARE): its result columns when it was prepared. */
  readonly preparedResult?: PreparedResult;
}

/**
 * A prepared statement's description when it was prepared, and the coordinator database's
 * description it was last found to agree with (distributed.ts: checkResultUnchanged).
 */
export interface PreparedResult {
  readonly rows: Buffer | null;
  agreed: CoordinatorDescription;
}

export interface Invocation {
  readonly params: readonly (Buffer | null)[];
  readonly paramFormats: readonly number[];
  readonly resultFormats: readonly number[];
  /** Whether to send a RowDescription first (simple Query). */
  readonly describe: boolean;
  /** Set when EXPLAIN collects the statement's tasks instead of running them. */
  readonly explain?: Explain;
  /** Set when the rows are a subplan's, collected for its outer statement instead of sent. */
  readonly collect?: RowCollector;
  /** The parameters' types as the statement declares them (0: inferred), when it declares any. */
  readonly paramTypes?: readonly number[];
  /**
   * The session's settings that the workers are given, by lower-case name, when the statement
   * reads some with current_setting(): a distribution column compared with one routes by its value.
   */
  readonly settingValues?: ReadonlyMap<string, string>;
}

const TEXT_OID = 25;

/** Executes an intercepted statement, sending its rows and CommandComplete to the client. */
export async function runIntercepted(session: Session, st: InterceptedStatement, inv: Invocation): Promise<void> {
  session.statementStartMs = performance.now();
  if (st.show) {
    const value = await session.currentSetting(st.show);
    const out: Buffer[] = [];
    if (inv.describe) out.push(textRowDescription(st.show));
    out.push(
      new MessageWriter(BackendCode.DataRow).int16(1).int32(Buffer.byteLength(value)).raw(Buffer.from(value)).finish(),
    );
    out.push(write.commandComplete("SHOW"));
    session.sendToClient(...out);
    return;
  }
  if (st.transaction !== undefined) return runTransactionControl(session, st, inv);
  if (st.constraintsSet) return runSetConstraints(session, st, inv);
  if (st.deallocate !== undefined) return session.deallocate(st, inv);
  // A function may have set what the statement reads (`SELECT set_tenant(5)` calling set_config):
  // the workers get the settings as they are now, a custom one it names too. An EXECUTE runs the
  // statement its name holds.
  const runs = st.sqlExecute ? session.sqlPrepared.get((st.stmt.ExecuteStmt as { name: string }).name)?.query : st;
  const readsSettings = !!runs && (runs.distributed || runs.explain) && /current_setting/i.test(runs.sql);
  if (readsSettings) {
    session.remote.noteSetSettings(settingsNamedIn(runs.stmt, "current_setting").filter((n) => n.includes(".")));
    session.settingsEpoch++;
  }
  return session.runInterruptible(async () => {
    // Read as the statement began (outside a failed block), in this settings epoch: the values the
    // workers are given with it.
    const known = readsSettings ? session.remote.knownSettings() : null;
    if (known)
      inv = { ...inv, settingValues: new Map(known.names.map((n, i) => [n.toLowerCase(), known.followed[i]])) };
    if (st.explain) return runExplain(session, st, inv);
    if (st.distributed) {
      await runDistributed(session, st, inv);
      // SELECT … INTO a table under a distributed table's name (classify.ts: changesNameResolution).
      if (st.announces) await announceSchemaChange(session);
      return;
    }
    if (st.sqlPrepare) return prepareStatement(session, st, inv);
    if (st.sqlExecute) return executePrepared(session, st, inv);
    // Read by Canopy's parser, run with Canopy's functions' results (a failed block refuses them below).
    if (session.pipe!.transactionStatus !== 0x45) await refuseMisreadTextIn(session);
    if (st.functionBody) {
      refuseInFailedBlock(session);
      await refuseDistributedBody(session, st.functionBody);
      if (!st.ddl) return runOnCoordinator(session, st.sql, inv, [], st.paramTypes);
    }
    if (st.ddl) return runDdl(session, st, inv);
    const inBlock = session.pipe!.transactionStatus !== 0x49;
    try {
      await runUdfStatement(session, st, inv);
      if (!inBlock) await commitStatement(session, "some");
    } catch (e) {
      if (!inBlock) await session.remote.rollbackAll();
      throw e;
    }
  });
}

async function runUdfStatement(session: Session, st: InterceptedStatement, inv: Invocation): Promise<void> {
  const stmt = cloneAst(st.stmt);
  const signals = st.signalsRows ? prepareRowSignals(stmt, inv) : null;
  readMemoryViewsThroughUdfs(stmt);
  await refuseDistributedTables(session, stmt);
  const calls: { def: UdfDefinition; call: AstNode; parent: AstNode | unknown[]; key: string | number }[] = [];
  // Calls in FROM must stay function calls, so their replacements differ (see replaceCall).
  const inFrom = new Set<unknown>();
  walk(stmt, (node) => {
    const range = node.RangeFunction as { functions?: { List?: { items?: unknown[] } }[] } | undefined;
    for (const f of range?.functions ?? []) if (f.List?.items?.[0]) inFrom.add(f.List.items[0]);
  });
  walk(stmt, (node, parent, key) => {
    const call = node.FuncCall as AstNode | undefined;
    const def = call && interceptedUdf(call);
    if (def) calls.push({ def, call: call!, parent, key });
  });
  for (const { def, call, parent, key } of calls) {
    const args = await evaluateArguments(session, def, call, inv);
    const result = await def.run(session, args);
    replaceCall(
      stmt,
      parent,
      key,
      def,
      result,
      inFrom.has(Array.isArray(parent) ? parent[key as number] : parent[key]),
    );
  }
  if (!signals) return runRewritten(session, st, deparseStatement(stmt), stmt, inv);
  const messages: { code: number; message: Buffer }[] = [];
  await runRewritten(session, st, deparseStatement(stmt), stmt, inv, (code, message) =>
    messages.push({ code, message: Buffer.from(message) }),
  );
  await sendSignalledRows(session, signals, messages);
}

/**
 * A statement calling UDFs runs in the coordinator database, where distributed tables are empty
 * shells: refuses it when it reads one, rather than answering from the shell.
 */
async function refuseDistributedTables(session: Session, stmt: AstNode): Promise<void> {
  const metadata = await session.metadata();
  for (const ref of collectRelationRefs(stmt)) {
    const table = metadata.tablesByRelname.has(ref.relname) && (await resolveTable(session, ref));
    const view = !table && (await recordedView(session, ref.rangeVar));
    if (!table && !(view && !view.materialized)) continue;
    throw new SqlError(
      "0A000",
      "Canopy functions and views cannot be combined with distributed tables in one statement",
      {
        detail: table
          ? `The statement reads the distributed table "${ref.relname}".`
          : `The statement reads the view "${ref.relname}" over distributed tables.`,
        hint: "Query the distributed table in a statement of its own.",
      },
    );
  }
}

/** Replaces each reference to a view whose rows Canopy computes by a call of its UDF. */
function readMemoryViewsThroughUdfs(stmt: AstNode): void {
  walk(stmt, (node) => {
    const range = node.RangeVar as { schemaname?: string; relname: string; alias?: AstNode } | undefined;
    const def = range && findMemoryView(range);
    if (!def) return;
    delete node.RangeVar;
    const funcname = [{ String: { sval: "pg_catalog" } }, { String: { sval: def.name } }];
    const call = { FuncCall: { funcname, args: def.viewArguments?.(stmt, range!) } };
    node.RangeFunction = {
      functions: [{ List: { items: [call, {}] } }],
      alias: range!.alias ?? { aliasname: range!.relname },
    };
  });
}

/** Sends the description of an intercepted statement (statement) or portal (with result formats). */
export async function describeIntercepted(
  session: Session,
  st: InterceptedStatement,
  resultFormats: readonly number[] | null,
): Promise<void> {
  if (st.show || (st.transaction !== undefined && st.paramTypes.length === 0)) {
    if (resultFormats === null)
      session.sendToClient(new MessageWriter(BackendCode.ParameterDescription).int16(0).finish());
    // A transaction control statement returns no rows: PostgreSQL describes it so, whatever its state.
    session.sendToClient(st.show ? textRowDescription(st.show) : write.noData());
    return;
  }
  const { parameters, rows } = await coordinatorDescription(session, st);
  if (resultFormats === null) {
    // PostgreSQL describes the parameters before it finds the result columns changed.
    session.sendToClient(parameters);
    await checkResultUnchanged(session, st);
    return session.sendToClient(rows ?? write.noData());
  }
  // The coordinator database describes every column in text (a statement's description).
  const text = resultFormats.every((f) => f === 0);
  session.sendToClient(rows === null ? write.noData() : text ? rows : withFormats(rows, resultFormats));
}

async function evaluateArguments(
  session: Session,
  def: UdfDefinition,
  call: AstNode,
  inv: Invocation,
): Promise<(string | null)[]> {
  const args = typedArguments(def, call);
  if (!call.args) return def.parameters.map((p) => p.defaultValue ?? null);
  const targetList = args.map((val) => ({ ResTarget: { val } }));
  const select = { SelectStmt: { targetList, limitOption: "LIMIT_OPTION_DEFAULT", op: "SETOP_NONE" } };
  const sql = deparseStatement(select);
  try {
    const rows = await session.internalQuery(
      sql,
      inv.params,
      inv.paramFormats,
      paramTypesFor(select, inv.params.length),
    );
    return rows[0];
  } catch (e) {
    // Arguments are evaluated once, before the statement runs: they cannot refer to its rows.
    if (
      e instanceof RemoteError &&
      (e.fields.code === "42703" || (e.fields.code === "42P01" && /FROM-clause/.test(e.fields.message)))
    ) {
      throw new SqlError("0A000", `arguments of ${def.name}() cannot refer to columns of the query`, {
        detail: e.fields.message,
        hint: "Pass constants, parameters or self-contained subqueries.",
      });
    }
    throw e;
  }
}

/**
 * Replaces a UDF call by a constant holding its result. In FROM, where only function calls may
 * stand, a scalar becomes a one-element unnest (void, which has no array type, becomes pg_sleep(0)).
 */
function replaceCall(
  stmt: AstNode,
  parent: AstNode | unknown[],
  key: string | number,
  def: UdfDefinition,
  r: UdfResult,
  inFrom: boolean,
): void {
  let replacement: AstNode;
  if (r.kind === "scalar" && inFrom) {
    replacement = expressionFromTemplate(
      r.type === "void"
        ? "pg_catalog.pg_sleep(0)"
        : `pg_catalog.unnest(ARRAY[CAST(${quoteLiteral(r.value)} AS ${r.type})])`,
    );
  } else if (r.kind === "scalar") {
    replacement = expressionFromTemplate(`CAST(${quoteLiteral(r.type === "void" ? "" : r.value)} AS ${r.type})`);
  } else {
    const rows = r.rows.map((row) => `ROW(${row.map(quoteLiteral).join(", ")})::${r.type}`);
    replacement = expressionFromTemplate(`pg_catalog.unnest(CAST(ARRAY[${rows.join(", ")}] AS ${r.type}[]))`);
  }
  const node = (Array.isArray(parent) ? parent[key as number] : parent[key]) as AstNode;
  delete node.FuncCall;
  Object.assign(node, replacement);
  // Keep the column and range names PostgreSQL gives a function call.
  walk(stmt, (n) => {
    const target = n.ResTarget as { name?: string; val?: unknown } | undefined;
    if (target && target.val === node && !target.name) target.name = def.name;
    const range = n.RangeFunction as { functions?: unknown[][]; alias?: unknown } | undefined;
    if (range && !range.alias && JSON.stringify(range.functions).includes(JSON.stringify(node))) {
      range.alias = { aliasname: def.name };
    }
  });
}

async function runRewritten(
  session: Session,
  st: InterceptedStatement,
  sql: string,
  ast: AstNode,
  inv: Invocation,
  onMessage?: (code: number, message: Buffer) => void,
): Promise<void> {
  const paramTypes = paramTypesFor(ast, inv.params.length).map((t, i) => (t === 0 ? (st.paramTypes[i] ?? 0) : t));
  await runOnCoordinator(session, sql, inv, [], paramTypes, onMessage);
}

/** A RowDescription of one text column. */
export function textRowDescription(name: string): Buffer {
  const field = { name, tableOid: 0, columnNumber: 0, typeOid: TEXT_OID, typeSize: -1, typeModifier: -1, format: 0 };
  return write.rowDescription([field]);
}

/** Re-encodes a RowDescription with the format codes a Bind asked for. */
function withFormats(message: Buffer, formats: readonly number[]): Buffer {
  const fields = parseRowDescription(message.subarray(5));
  return write.rowDescription(
    fields.map((f, i) => ({
      ...f,
      format: formats.length === 0 ? 0 : formats.length === 1 ? formats[0] : (formats[i] ?? 0),
    })),
  );
}
