// pg_backend_pid, pg_cancel_backend and pg_terminate_backend for Canopy's sessions. A session's
// process id is the one its client got in BackendKeyData (with a cluster of PostgreSQL servers, its
// coordinator-database backend's pid); cancelling or terminating it must stop what it runs on the
// workers too, which the coordinator database alone cannot do. Other pids are the coordinator
// database's own backends: the call runs there as it is.
import type { Session } from "../server/session.js";
import type { UdfResult } from "./udfs.js";
import { SqlError } from "../errors.js";
import { write } from "../protocol/messages.js";

const bool = (value: boolean): UdfResult => ({ kind: "scalar", type: "boolean", value: value ? "t" : "f" });

/** pg_backend_pid(): the process id the session announced. */
export async function backendPid(session: Session): Promise<UdfResult> {
  return { kind: "scalar", type: "integer", value: String(session.processId) };
}

/** pg_cancel_backend(pid): cancels the statement a session runs, on the workers too. */
export async function cancelBackend(session: Session, args: readonly (string | null)[]): Promise<UdfResult> {
  if (args[0] === null) return { kind: "scalar", type: "boolean", value: null };
  const target = session.coordinator.sessions.get(Number(args[0]));
  if (!target) return native(session, "SELECT pg_catalog.pg_cancel_backend($1::int)", args);
  await ensureMaySignal(session, target, "cancel");
  target.cancel();
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
  const target = session.coordinator.sessions.get(Number(args[0]));
  if (!target) return native(session, "SELECT pg_catalog.pg_terminate_backend($1::int, $2::bigint)", args);
  await ensureMaySignal(session, target, "terminate");
  target.terminateByAdministrator();
  if (timeoutMs === 0 || target === session) return bool(true);
  const deadline = Date.now() + timeoutMs;
  while (!target.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  if (!target.closed) {
    session.sendToClient(
      write.noticeResponse({
        severity: "WARNING",
        code: "01000",
        message: `backend with PID ${args[0]} did not terminate within ${timeoutMs} milliseconds`,
      }),
    );
  }
  return bool(target.closed);
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
async function ensureMaySignal(session: Session, target: Session, how: "cancel" | "terminate"): Promise<void> {
  const [row] = await session.internalQuery(
    `SELECT r.rolsuper AND NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user),
            pg_catalog.pg_has_role(current_user, r.oid, 'USAGE')
              OR pg_catalog.pg_has_role(current_user, 'pg_signal_backend', 'USAGE')
       FROM pg_catalog.pg_roles r WHERE r.rolname = $1`,
    [Buffer.from(target.user)],
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
