// How a session's remote transactions end. One phase when at most one participant wrote: the
// worker commits, then the coordinator database. Otherwise two phases:
//   1. every written node PREPAREs TRANSACTION gid (read-only ones just commit), the gid naming
//      this cluster and the coordinator database's transaction id (txid_current());
//   2. the decision record goes into pg_dist_transaction in that transaction, and the transaction
//      commits: that commit is the decision (record and commit leave in one write);
//   3. COMMIT PREPARED everywhere. What fails from here on is finished by recovery.
// Recovery (recovery.ts) asks the coordinator database what became of the transaction a gid names,
// so a crash at any point leaves every node wholly committed or wholly rolled back.
import type { Session } from "../server/session.js";
import { FrontendCode, write } from "../protocol/messages.js";
import { RemoteError } from "../nodes/gateway.js";
import { SqlError } from "../errors.js";
import { quoteLiteral } from "../sql/quote.js";
import { mapShardNamesFromCatalog, settleAll } from "../executor/distributed.js";

/** What is known about writes in the coordinator database's own transaction. */
export type CoordinatorWrites = "none" | "some" | "unknown";

/** The prefix of the gids this cluster's coordinators prepare under. */
export function gidPrefix(clusterId: string): string {
  return `canopy_${clusterId}_`;
}

/**
 * Ends the remote transactions a statement outside a transaction block opened. In one phase the
 * coordinator database's implicit transaction commits at the next Sync as usual; in two phases it
 * commits here, between PREPARE and COMMIT PREPARED.
 */
export async function commitStatement(session: Session, coordinatorWrites: CoordinatorWrites): Promise<void> {
  await commitRemote(session, coordinatorWrites, async () => {
    const error = await session.internalRaw(FrontendCode.Sync, write.sync());
    if (error) throw new RemoteError(error);
  });
}

/**
 * Commits a transaction block that reached workers. `commitCoordinator` runs the client's COMMIT
 * in the coordinator database and throws if it did not commit.
 */
export async function commitBlock(session: Session, commitCoordinator: () => Promise<void>): Promise<void> {
  await commitRemote(session, "unknown", commitCoordinator, true);
}

/** Runs the commit protocol, which no cancel, timeout or deadlock victim choice interrupts. */
function commitRemote(
  session: Session,
  coordinatorWrites: CoordinatorWrites,
  commitCoordinator: () => Promise<void>,
  coordinatorCommitsHere = false,
): Promise<void> {
  return session.interrupts.uninterruptible(() =>
    commitProtocol(session, coordinatorWrites, commitCoordinator, coordinatorCommitsHere),
  );
}

async function commitProtocol(
  session: Session,
  coordinatorWrites: CoordinatorWrites,
  commitCoordinator: () => Promise<void>,
  coordinatorCommitsHere: boolean,
): Promise<void> {
  const remote = session.remote;
  const open = remote.openTransactions();
  const written = open.filter((t) => t.wrote);
  const referenceWrites = new Map(remote.referenceWrites);
  let twoPhase = written.length > 1 || (referenceWrites.size > 0 && written.length > 0);
  // Whether the session's next block likely writes several nodes (Session.blockStartAnswer). Not
  // counting the coordinator's writes: an id asked for ahead would make every later check say so.
  remote.noteCommitWroteSeveral(twoPhase);
  // Known from the block's start-time query when nothing went to the coordinator database since;
  // that query may also have given the transaction an id ahead of this protocol.
  const wrote = coordinatorWrites === "unknown" ? await session.coordinatorWroteInBlock() : null;
  const writes = wrote === null ? coordinatorWrites : wrote ? "some" : "none";
  if (!twoPhase && written.length === 1 && writes !== "none") {
    twoPhase =
      writes === "some" ||
      (await session.internalQuery("SELECT pg_catalog.txid_current_if_assigned() IS NOT NULL"))[0][0] === "t";
  }
  remote.referenceWrites.clear();
  const xid = await remote.takeDecisionXid();
  if (!twoPhase) {
    await commitOnePhase(session, open);
    if (coordinatorCommitsHere) await commitCoordinator();
    return;
  }
  if (referenceWrites.size > 0) await ensureEveryPlacementWritten(session, referenceWrites);
  const groups = [...new Set(written.map((t) => t.groupId))];
  const recordDecision = (flush = true) =>
    session.internalQuery(
      "SELECT pg_catalog.canopy_record_decision($1::int[])",
      [Buffer.from(`{${groups.join(",")}}`)],
      [],
      [],
      "may write",
      flush,
      /* keep */ true,
    );
  // The record goes into the coordinator transaction before its commit. With the transaction's id
  // known ahead it leaves with the commit; without, it names the gid, and goes first.
  const record = xid === null ? recordDecision() : null;
  const gid = record === null ? gidPrefix(session.coordinator.clusterId) + xid : (await record)[0][0]!;
  const prepared: number[] = [];
  try {
    await settleAll(
      open.map(async (t) => {
        if (!t.wrote) return remote.end(t.nodeId, "COMMIT");
        await remote.end(t.nodeId, `PREPARE TRANSACTION ${quoteLiteral(gid)}`, true);
        prepared.push(t.nodeId);
      }),
    );
  } catch (e) {
    await finishPrepared(session, prepared, gid, "ROLLBACK");
    throw await withTableNames(session, e);
  }
  crashPoint("after-prepare");
  try {
    // A failed record fails the transaction, so its commit too; its error is the one to report.
    // The commit's Sync, sent at once, brings the record's answer with its own.
    await settleAll<unknown>([record ?? recordDecision(false), commitCoordinator()]);
  } catch (e) {
    // The coordinator database answered: its transaction, and so the decision, rolled back. Any
    // other failure leaves the outcome to recovery, which asks the coordinator database.
    if (e instanceof RemoteError || e instanceof SqlError) await finishPrepared(session, prepared, gid, "ROLLBACK");
    else session.remote.leavePreparedToRecovery(prepared);
    throw e;
  }
  crashPoint("after-decision");
  await finishPrepared(session, prepared, gid, "COMMIT");
}

/**
 * Refuses to commit writes to reference tables that missed a placement: one added after the
 * statements were planned (canopy_add_node copying the tables to a new worker). The placements are
 * read as committed now, not in the transaction's snapshot: the copy held a lock on a placement
 * that every such write waited for, so it had committed before the write went on. An embedded
 * coordinator database is held by this session until its transaction ends, so nothing else
 * commits there meanwhile and its own connection reads it.
 */
async function ensureEveryPlacementWritten(
  session: Session,
  writes: ReadonlyMap<number, ReadonlySet<number>>,
): Promise<void> {
  const pairs = [...writes].flatMap(([shardId, groups]) => [...groups].map((g) => [String(shardId), String(g)]));
  const params = [`{${pairs.map((p) => p[0]).join(",")}}`, `{${pairs.map((p) => p[1]).join(",")}}`];
  const sql = `SELECT p.shardid FROM pg_catalog.pg_dist_placement p
      WHERE p.shardid = ANY ($1::bigint[]) AND p.shardstate = 1
        AND NOT EXISTS (SELECT 1 FROM unnest($1::bigint[], $2::int[]) AS w(shardid, groupid)
                         WHERE w.shardid = p.shardid AND w.groupid = p.groupid)
      LIMIT 1`;
  const rows =
    session.coordinator.database.kind === "pglite"
      ? await session.internalQuery(
          sql,
          params.map((p) => Buffer.from(p)),
        )
      : (await session.coordinator.adminQuery(sql, params)).rows;
  if (rows.length === 0) return;
  await session.remote.rollbackAll();
  throw new SqlError("40001", "could not serialize access due to a concurrent copy of a reference table", {
    detail: `Shard ${rows[0][0]} got a placement on another worker while the transaction wrote it.`,
    hint: "Run the transaction again.",
  });
}

async function commitOnePhase(session: Session, open: readonly { nodeId: number; wrote: boolean }[]): Promise<void> {
  // The written node (at most one) commits last, so that a failure there still rolls back the rest.
  const ordered = [...open].sort((a, b) => Number(a.wrote) - Number(b.wrote));
  let failure: unknown = null;
  for (const t of ordered) {
    if (failure === null) {
      try {
        await session.remote.end(t.nodeId, "COMMIT");
      } catch (e) {
        failure = e;
      }
    } else {
      await session.remote.end(t.nodeId, "ROLLBACK").catch(() => {});
    }
  }
  if (failure !== null) throw await withTableNames(session, failure);
}

/**
 * A worker's error naming shards (a deferred constraint's at commit), named by their tables as the
 * client knows them.
 */
export async function withTableNames(session: Session, e: unknown): Promise<unknown> {
  try {
    return await mapShardNamesFromCatalog(session, e, (await session.metadata()).tables);
  } catch {
    return e;
  }
}

/**
 * COMMIT or ROLLBACK PREPARED on each node. Failures are not the client's: the decision stands,
 * and recovery finishes what is left prepared.
 */
async function finishPrepared(
  session: Session,
  nodeIds: readonly number[],
  gid: string,
  how: "COMMIT" | "ROLLBACK",
): Promise<void> {
  const sql = `${how} PREPARED ${quoteLiteral(gid)}`;
  if (faultInjection === "during-commit-prepared" && how === "COMMIT") {
    await session.remote.runOutside(nodeIds[0], sql);
    crashPoint("during-commit-prepared");
  }
  await Promise.all(nodeIds.map((id) => finishOn(session, id, sql)));
}

/**
 * Runs COMMIT or ROLLBACK PREPARED on one node. A recovery pass may finish the transaction at the
 * same moment: once it has, the gid is gone (42704) and the work is done; while it is at it, the
 * gid is busy (55000), and the session waits for it, up to canopy.prepared_busy_wait_timeout (as
 * read for the PREPAREs, which refresh the executor's settings), so that its client hears of the
 * commit only once the data is visible there. Past that, recovery finishes it, as it would after
 * any other failure here.
 */
async function finishOn(session: Session, nodeId: number, sql: string): Promise<void> {
  let deadline: number | null = null;
  for (let delayMs = 1; ; delayMs = Math.min(delayMs * 2, 100)) {
    try {
      return await session.remote.runOutside(nodeId, sql);
    } catch (e) {
      const code = e instanceof RemoteError ? e.fields.code : undefined;
      if (code === "42704") return;
      if (code === "55000") deadline ??= Date.now() + session.lastExecutorSettings.preparedBusyWaitMs;
      if (code !== "55000" || Date.now() + delayMs > deadline!) {
        const why = e instanceof Error ? e.message : String(e);
        return session.coordinator.log(`${sql} on node ${nodeId} failed (${why}); recovery will finish it`);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
}

/**
 * The crash tests' fault injection point (CANOPY_FAULT_INJECTION), read once: the environment is
 * read through a call into the runtime, on every commit otherwise.
 */
const faultInjection = process.env.CANOPY_FAULT_INJECTION;

/** Fault injection for the crash tests: with faultInjection naming this point, the process dies here as if killed. */
function crashPoint(name: string): void {
  if (faultInjection === name) process.kill(process.pid, "SIGKILL");
}
