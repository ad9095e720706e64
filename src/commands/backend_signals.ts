// pg_backend_pid, pg_cancel_backend and pg_terminate_backend for Canopy's sessions. A session's
// process id is the one its client got in BackendKeyData (with a cluster of PostgreSQL servers, its
// coordinator-database backend's pid); cancelling or terminating it must stop what it runs on the
// workers too, which the coordinator database alone cannot do. Other pids are the coordinator
// database's own backends: the call runs there as it is. Called on the values of a query's rows
// (`SELECT pg_cancel_backend(pid) FROM canopy_stat_activity WHERE …`), the query runs first with
// the calls' arguments in extra columns, and each row's process is signalled as by a direct call.
import type { Session } from "../server/session.js";
import type { Coordinator } from "../server/coordinator.js";
import { rowSignalUdf, typedArguments, type UdfDefinition, type UdfResult } from "./udfs.js";
import type { Invocation } from "./intercept.js";
import { SqlError } from "../errors.js";
import { BackendCode, parseDataRow, parseRowDescription, write } from "../protocol/messages.js";
import { constantText, typeNameNode, walk, type AstNode } from "../sql/ast.js";

const bool = (value: boolean): UdfResult => ({ kind: "scalar", type: "boolean", value: value ? "t" : "f" });

/** pg_backend_pid(): the process id the session announced. */
export async function backendPid(session: Session): Promise<UdfResult> {
  return { kind: "scalar", type: "integer", value: String(session.processId) };
}

/** pg_cancel_backend(pid): cancels the statement a session runs, on the workers too. */
export async function cancelBackend(session: Session, args: readonly (string | null)[]): Promise<UdfResult> {
  if (args[0] === null) return { kind: "scalar", type: "boolean", value: null };
  const target = await findSession(session, Number(args[0]));
  if (!target) return native(session, "SELECT pg_catalog.pg_cancel_backend($1::int)", args);
  await ensureMaySignal(session, target.user, "cancel");
  await target.signal("cancel");
  return bool(true);
}

/**
 * pg_terminate_backend(pid, timeout): ends a session after stopping its work on the workers; with
 * a timeout, waits up to that many milliseconds for it to end.
 */
export async function terminateBackend(session: Session, args: readonly (string | null)[]): Promise<UdfResult> {
  if (args[0] === null || args[1] === null) return { kind: "scalar", type: "boolean", value: null };
  const timeoutMs = Number(args[1]);
  if (timeoutMs < 0) throw new SqlError("22023", '"timeout" must not be negative');
  const target = await findSession(session, Number(args[0]));
  if (!target) return native(session, "SELECT pg_catalog.pg_terminate_backend($1::int, $2::bigint)", args);
  await ensureMaySignal(session, target.user, "terminate");
  await target.signal("terminate");
  if (timeoutMs === 0 || target.isCaller) return bool(true);
  const closed = await target.ended(Date.now() + timeoutMs);
  if (!closed) {
    session.sendToClient(
      write.noticeResponse({
        severity: "WARNING",
        code: "01000",
        message: `backend with PID ${args[0]} did not terminate within ${timeoutMs} milliseconds`,
      }),
    );
  }
  return bool(closed);
}

/** A session to signal, in this process or another of the coordinator's. */
interface SignalTarget {
  readonly user: string;
  readonly isCaller: boolean;
  signal(how: Signal): Promise<void>;
  /** Whether the session has ended by the deadline (Date.now()), waiting for it until then. */
  ended(deadline: number): Promise<boolean>;
}

type Signal = "cancel" | "terminate";

/** The coordinator's session with the process id, or null if none has it. */
async function findSession(session: Session, processId: number): Promise<SignalTarget | null> {
  const local = session.coordinator.sessions.get(processId);
  if (local) {
    return {
      user: local.user,
      isCaller: local === session,
      signal: async (how) => signalSession(local, how),
      ended: (deadline) => sessionEnded(local, deadline),
    };
  }
  const siblings = session.coordinator.siblings;
  const [user] = (await siblings.ask<string | null>("session-user", processId)).filter((u) => u !== null);
  if (user === undefined) return null;
  return {
    user,
    isCaller: false,
    signal: async (how) => {
      await siblings.ask("signal", { processId, how });
    },
    // Its process waits; in turns shorter than the supervisor's patience for an answer.
    ended: async (deadline) => {
      for (;;) {
        const turn = Math.min(deadline, Date.now() + ENDED_TURN_MS);
        const answers = await siblings.ask<boolean | null>("session-ended", { processId, deadline: turn });
        if (!answers.includes(false)) return true;
        if (turn >= deadline) return false;
      }
    },
  };
}

/** How long one turn of waiting for another process's session to end lasts. */
const ENDED_TURN_MS = 5000;

async function sessionEnded(session: Session, deadline: number): Promise<boolean> {
  while (!session.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return session.closed;
}

function signalSession(target: Session, how: Signal): void {
  if (how === "cancel") target.cancel();
  else target.terminateByAdministrator();
}

/** Answers the other processes' questions about this one's sessions, and their signals to them. */
export function answerSignals(coordinator: Coordinator): void {
  const { siblings, sessions } = coordinator;
  siblings.on("session-user", (processId: number) => sessions.get(processId)?.user ?? null);
  siblings.on("session-ended", ({ processId, deadline }: { processId: number; deadline: number }) => {
    const session = sessions.get(processId);
    return session ? sessionEnded(session, deadline) : null;
  });
  siblings.on("signal", ({ processId, how }: { processId: number; how: Signal }) => {
    const target = sessions.get(processId);
    if (target) signalSession(target, how);
  });
  siblings.on("cancel-request", ({ processId, secretKey }: { processId: number; secretKey: number }) =>
    sessions.get(processId)?.cancelRequest(secretKey),
  );
}

/** Runs the PostgreSQL function on the coordinator database, for a pid that is not a session's. */
async function native(session: Session, sql: string, args: readonly (string | null)[]): Promise<UdfResult> {
  const [[value]] = await session.internalQuery(
    sql,
    args.map((a) => (a === null ? null : Buffer.from(a))),
  );
  return { kind: "scalar", type: "boolean", value };
}

/** PostgreSQL's rule: superusers' sessions only by superusers, others by their role's members or pg_signal_backend's. */
async function ensureMaySignal(session: Session, targetUser: string, how: Signal): Promise<void> {
  const [row] = await session.internalQuery(
    `SELECT r.rolsuper AND NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user),
            pg_catalog.pg_has_role(current_user, r.oid, 'USAGE')
              OR pg_catalog.pg_has_role(current_user, 'pg_signal_backend', 'USAGE')
       FROM pg_catalog.pg_roles r WHERE r.rolname = $1`,
    [Buffer.from(targetUser)],
  );
  const [superuserTarget, allowed] = row ?? [];
  if (superuserTarget === "t") {
    throw new SqlError(
      "42501",
      how === "cancel"
        ? "must be a superuser to cancel superuser query"
        : "must be a superuser to terminate superuser process",
    );
  }
  if (allowed !== "t") {
    throw new SqlError(
      "42501",
      how === "cancel"
        ? "must be a member of the role whose query is being canceled or member of pg_signal_backend"
        : "must be a member of the role whose process is being terminated or member of pg_signal_backend",
    );
  }
}

/** The columns of a SELECT that signal the processes its rows name (see prepareRowSignals). */
export interface RowSignals {
  /** Per signalling column: its position, the function, and the position of its arguments' columns. */
  readonly columns: readonly { position: number; def: UdfDefinition; argumentsAt: number }[];
  /** How many columns the client sees; the arguments' columns come after them. */
  readonly visible: number;
}

/**
 * Prepares a SELECT that calls pg_cancel_backend / pg_terminate_backend on values of its rows: each
 * such column becomes NULL::boolean under its name and the calls' arguments are selected as extra
 * columns, for sendSignalledRows to signal each row's process and put the results in. The calls are
 * refused anywhere else than as columns of a plain SELECT list, where a row's result could decide
 * which rows there are or how they are ordered.
 */
export function prepareRowSignals(stmt: AstNode, inv: Invocation): RowSignals {
  const select = stmt.SelectStmt as
    { op?: string; targetList?: { ResTarget: { name?: string; val: AstNode } }[]; sortClause?: AstNode[] } | undefined;
  const refuse = (detail: string) =>
    new SqlError("0A000", "pg_cancel_backend() and pg_terminate_backend() of a query's rows are not supported here", {
      detail,
      hint: "Call them as columns of a plain SELECT list, or select the process ids first and signal each (psql: SELECT format('SELECT pg_cancel_backend(%s)', pid) FROM … \\gexec).",
    });
  if (
    !select ||
    select.op !== "SETOP_NONE" ||
    ["distinctClause", "groupClause", "havingClause"].some((k) => k in select)
  ) {
    throw refuse("Only a SELECT without set operations, DISTINCT, GROUP BY and HAVING can call them on its rows.");
  }
  if (inv.resultFormats.some((f) => f === 1)) throw refuse("The query's results were asked for in binary.");
  const targets = select.targetList ?? [];
  const visible = targets.length;
  const columns: { position: number; def: UdfDefinition; argumentsAt: number }[] = [];
  targets.slice(0, visible).forEach((target, position) => {
    const call = target.ResTarget.val.FuncCall as AstNode | undefined;
    const def = call && rowSignalUdf(call);
    if (!def) return;
    columns.push({ position, def, argumentsAt: targets.length });
    targets.push(...typedArguments(def, call!).map((val) => ({ ResTarget: { val } })));
    target.ResTarget = {
      name: target.ResTarget.name ?? def.name,
      val: { TypeCast: { arg: { A_Const: { isnull: true } }, typeName: typeNameNode("boolean") } },
    };
  });
  let elsewhere = false;
  walk(stmt, (node) => {
    if (node.FuncCall && rowSignalUdf(node.FuncCall as AstNode)) elsewhere = true;
  });
  if (elsewhere) throw refuse("They are called inside another expression or clause.");
  const names = new Set(columns.map((c) => targets[c.position].ResTarget.name));
  for (const sort of select.sortClause ?? []) {
    const key = (sort.SortBy as { node: AstNode }).node;
    const position = Number(constantText(key));
    const fields = (key.ColumnRef as { fields: { String?: { sval: string } }[] } | undefined)?.fields;
    const name = fields?.length === 1 ? fields[0].String?.sval : undefined;
    if (columns.some((c) => c.position === position - 1) || (name !== undefined && names.has(name))) {
      throw refuse("The rows are ordered by the calls' results.");
    }
  }
  return { columns, visible };
}

/**
 * Sends the rows of a statement prepared by prepareRowSignals: for each row, every signalling
 * column's process is signalled as a direct call would signal it, and the call's result takes the
 * column's place; the arguments' columns are left out.
 */
export async function sendSignalledRows(
  session: Session,
  signals: RowSignals,
  messages: readonly { code: number; message: Buffer }[],
): Promise<void> {
  for (const { code, message } of messages) {
    if (code === BackendCode.RowDescription) {
      session.sendToClient(write.rowDescription(parseRowDescription(message.subarray(5)).slice(0, signals.visible)));
    } else if (code === BackendCode.DataRow) {
      const values = parseDataRow(message.subarray(5));
      for (const { position, def, argumentsAt } of signals.columns) {
        const args = def.parameters.map((_, i) => values[argumentsAt + i]?.toString("utf8") ?? null);
        const result = await def.run(session, args);
        values[position] = result.kind === "scalar" && result.value !== null ? Buffer.from(result.value) : null;
      }
      session.sendToClient(write.dataRow(values.slice(0, signals.visible)));
    } else {
      session.sendToClient(message);
    }
  }
}
