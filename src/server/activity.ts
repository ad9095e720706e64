// canopy_stat_activity: every session of this coordinator with its current (or last) statement and
// the worker connections serving it, one row per (session, worker connection); a session without
// worker connections has one row whose worker columns are NULL. Session columns are named as
// pg_stat_activity names them; `pid` is the process id the client knows (BackendKeyData).
import type { Session } from "./session.js";
import type { UdfResult } from "../commands/udfs.js";
import { statisticsPrivilege } from "../executor/stat_statements.js";

const hidden = "<insufficient privilege>";

/** The rows of canopy_stat_activity(); other users' statements show only to privileged roles. */
export async function statActivityRows(session: Session): Promise<UdfResult> {
  const { currentUser, readsAll } = await statisticsPrivilege(session);
  const rows: (string | null)[][] = [];
  for (const s of session.coordinator.sessions.values()) {
    if (!s.pipe) continue; // still authenticating
    const visible = readsAll || s.user === currentUser;
    const { state, transactionStartMs } = s.activityState;
    const client = s.clientAddress;
    const sessionColumns = [
      String(s.processId),
      s.database,
      s.user,
      s.applicationName,
      client.address,
      String(client.port),
      timestamp(s.backendStartMs),
      timestamp(transactionStartMs),
      timestamp(s.queryStartMs),
      state,
      visible ? s.query : hidden,
    ];
    const workers = s.remote.activity();
    if (workers.length === 0) rows.push([...sessionColumns, null, null, null, null, null]);
    for (const w of workers) {
      rows.push([
        ...sessionColumns,
        w.nodename,
        String(w.nodeport),
        w.pid === null ? null : String(w.pid),
        w.state,
        visible ? w.command : hidden,
      ]);
    }
  }
  return { kind: "set", type: "pg_catalog.canopy_stat_activity", rows };
}

function timestamp(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
