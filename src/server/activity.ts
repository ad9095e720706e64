// canopy_stat_activity: every session of this coordinator, in all its processes, with its current
// (or last) statement and the worker connections serving it, one row per (session, worker
// connection); a session without worker connections has one row whose worker columns are NULL. Session columns are named as
// pg_stat_activity names them; `pid` is the process id the client knows (BackendKeyData).
import type { Session } from "./session.js";
import type { Coordinator } from "./coordinator.js";
import type { UdfResult } from "../commands/udfs.js";
import { statisticsPrivilege, type Viewer } from "../executor/stat_statements.js";

const hidden = "<insufficient privilege>";

/**
 * The rows of canopy_stat_activity(): this process's sessions, then those of the coordinator's
 * other processes; other users' statements show only to privileged roles.
 */
export async function statActivityRows(session: Session): Promise<UdfResult> {
  const viewer = await statisticsPrivilege(session);
  const rows = activityRows(session.coordinator, viewer);
  for (const theirs of await session.coordinator.siblings.ask<Row[]>("activity", viewer)) rows.push(...(theirs ?? []));
  return { kind: "set", type: "pg_catalog.canopy_stat_activity", rows };
}

/** Answers the other processes' canopy_stat_activity() with this one's sessions. */
export function answerActivity(coordinator: Coordinator): void {
  coordinator.siblings.on("activity", (viewer: Viewer) => activityRows(coordinator, viewer));
}

type Row = (string | null)[];

function activityRows(coordinator: Coordinator, { currentUser, readsAll }: Viewer): Row[] {
  const rows: Row[] = [];
  for (const s of coordinator.sessions.values()) {
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
  return rows;
}

function timestamp(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
