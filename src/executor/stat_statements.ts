// canopy_stat_statements: how often each statement on distributed or reference tables ran, by which
// executor and for which distribution value, as the seeds' view shows it. The entries live in the
// memory of the coordinator's process that ran the statements (canopy.stat_statements_max each),
// and the view adds up those of all processes (siblings.ts). In a process: a map by key, and a
// list in least-recently-called order, so that a call and canopy.stat_statements_max's eviction of
// the oldest both take O(1). (A Map's own insertion order would not do: V8 leaves deleted entries
// in place until it rehashes, and finding the first live one after many evictions skips them
// all.) The executors record each execution with recordStatement.
//
// An entry is keyed as Citus keys it: user, database, queryid, executor and partition key. The
// queryid is libpg-query's fingerprint of the statement (constants ignored), so it is the same
// for every run, user and database, as pg_stat_statements' queryid is; the query text is the
// statement normalized as pg_stat_statements shows it (constants replaced by $n).
import { fingerprintSync, normalizeSync } from "libpg-query";
import type { Session } from "../server/session.js";
import type { Coordinator } from "../server/coordinator.js";
import type { InterceptedStatement } from "../commands/intercept.js";
import type { UdfResult } from "../commands/udfs.js";
import type { AstNode } from "../sql/ast.js";
import { arrayLiteral } from "../sql/quote.js";

/**
 * How a statement ran: `adaptive` for everything the distributed executor plans (router,
 * multi-shard, pushdown, modifications, the fallback), `insert-select` for INSERT … SELECT into a
 * distributed table, `copy` for COPY into or out of one.
 */
export type ExecutorName = "adaptive" | "insert-select" | "copy";

/** What one statement text contributes to its entries' keys, computed once per parsed statement. */
export interface StatementIdentity {
  readonly queryId: string;
  readonly query: string;
  readonly user: string;
  readonly database: string;
  readonly key: string;
}

export interface StatementEntry {
  readonly queryId: string;
  readonly user: string;
  readonly database: string;
  readonly query: string;
  readonly executor: ExecutorName;
  readonly partitionKey: string | null;
  calls: number;
  totalTimeMs: number;
  /** performance.now() of the last call. */
  lastCallMs: number;
}

/** An entry in the call-order list. */
interface Slot {
  readonly key: string;
  readonly entry: StatementEntry;
  older: Slot | null;
  newer: Slot | null;
}

/** The entries of one coordinator, bounded by canopy.stat_statements_max. */
export class StatementStatistics {
  private readonly slots = new Map<string, Slot>();
  /** The least and the most recently called entries. */
  private oldest: Slot | null = null;
  private newest: Slot | null = null;

  constructor(
    private readonly max: number,
    readonly tracking: boolean,
  ) {}

  /** Counts one call; the entry becomes the most recently called, the least recent may go. */
  record(
    identity: StatementIdentity,
    executor: ExecutorName,
    partitionKey: string | null,
    durationMs: number,
    nowMs: number,
  ): void {
    // NULL and '' are different partition keys.
    const key =
      partitionKey === null ? `${identity.key}\0${executor}` : `${identity.key}\0${executor}\0${partitionKey}`;
    let slot = this.slots.get(key);
    if (slot) {
      this.unlink(slot);
    } else {
      if (this.slots.size >= this.max) this.drop(this.oldest!);
      const { queryId, query, user, database } = identity;
      const entry = { queryId, query, user, database, executor, partitionKey, calls: 0, totalTimeMs: 0, lastCallMs: 0 };
      slot = { key, entry, older: null, newer: null };
      this.slots.set(key, slot);
    }
    slot.entry.calls++;
    slot.entry.totalTimeMs += durationMs;
    slot.entry.lastCallMs = nowMs;
    slot.older = this.newest;
    slot.newer = null;
    if (this.newest) this.newest.newer = slot;
    else this.oldest = slot;
    this.newest = slot;
  }

  /** Drops the entries not called since `cutoffMs` (they are the first in call order). */
  purge(cutoffMs: number): void {
    while (this.oldest && this.oldest.entry.lastCallMs < cutoffMs) this.drop(this.oldest);
  }

  reset(): void {
    this.slots.clear();
    this.oldest = this.newest = null;
  }

  /** The entries, least recently called first. */
  list(): StatementEntry[] {
    const out: StatementEntry[] = [];
    for (let slot = this.oldest; slot; slot = slot.newer) out.push(slot.entry);
    return out;
  }

  private drop(slot: Slot): void {
    this.unlink(slot);
    this.slots.delete(slot.key);
  }

  private unlink(slot: Slot): void {
    if (slot.older) slot.older.newer = slot.newer;
    else this.oldest = slot.newer;
    if (slot.newer) slot.newer.older = slot.older;
    else this.newest = slot.older;
  }
}

const identities = new WeakMap<AstNode, StatementIdentity>();

/** Gives a statement the identity of another: a parameterized statement its client text's (statement_shapes.ts). */
export function shareIdentity(session: Session, from: InterceptedStatement, to: InterceptedStatement): void {
  identities.set(to.stmt, identityOf(session, from));
}

/** The statement's identity for this session, normalized once per parsed statement. */
function identityOf(session: Session, st: InterceptedStatement): StatementIdentity {
  let identity = identities.get(st.stmt);
  if (!identity) {
    let query = st.sql;
    let queryId = "0";
    try {
      query = normalizeSync(st.sql);
      queryId = BigInt.asIntN(64, BigInt(`0x${fingerprintSync(st.sql)}`)).toString();
    } catch {
      // The text parsed when it was classified; keep it as it is if libpg-query still refuses it.
    }
    const { user, database } = session;
    identity = { queryId, query, user, database, key: `${queryId}\0${user}\0${database}` };
    identities.set(st.stmt, identity);
  }
  return identity;
}

/**
 * Records one successful execution of a statement on distributed or reference tables, timed from
 * the start of the session's current statement. `partitionKey` is the distribution value of a
 * statement that reached one shard by it, null otherwise.
 */
export function recordStatement(
  session: Session,
  st: InterceptedStatement,
  executor: ExecutorName,
  partitionKey: string | null,
): void {
  const stats = session.coordinator.statStatements;
  if (!stats.tracking) return;
  const now = performance.now();
  stats.record(identityOf(session, st), executor, partitionKey, now - session.statementStartMs, now);
}

/** The role reading statistics, and whether it may see every user's statements. */
export interface Viewer {
  readonly currentUser: string;
  readonly readsAll: boolean;
}

/**
 * Who reads statistics: superusers and members of pg_read_all_stats see every user's statements,
 * as with pg_stat_statements and pg_stat_activity.
 */
export async function statisticsPrivilege(session: Session): Promise<Viewer> {
  const [[currentUser, readsAll]] = await session.internalQuery(
    `SELECT current_user::text, (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)
              OR pg_catalog.pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER')`,
  );
  return { currentUser: currentUser!, readsAll: readsAll === "t" };
}

/** The rows of canopy_stat_statements(): users and databases as their oids. */
export async function statStatementsRows(session: Session): Promise<UdfResult> {
  const viewer = await statisticsPrivilege(session);
  const entries = await coordinatorEntries(session.coordinator, viewer);
  const [[roles, databases]] = await session.internalQuery(
    `SELECT (SELECT coalesce(json_object_agg(rolname, oid), '{}') FROM pg_catalog.pg_roles WHERE rolname = ANY($1::text[]))::text,
            (SELECT coalesce(json_object_agg(datname, oid), '{}') FROM pg_catalog.pg_database WHERE datname = ANY($2::text[]))::text`,
    [
      Buffer.from(arrayLiteral([...new Set(entries.map((e) => e.user))])),
      Buffer.from(arrayLiteral([...new Set(entries.map((e) => e.database))])),
    ],
  );
  const roleOids = JSON.parse(roles!) as Record<string, number>;
  const databaseOids = JSON.parse(databases!) as Record<string, number>;
  return {
    kind: "set",
    type: "pg_catalog.canopy_stat_statements",
    rows: entries.map((e) => [
      e.queryId,
      oidText(roleOids[e.user]),
      oidText(databaseOids[e.database]),
      e.query,
      e.executor,
      e.partitionKey,
      String(e.calls),
      String(e.totalTimeMs),
      String(e.totalTimeMs / e.calls),
    ]),
  };
}

/**
 * The entries of every process of the coordinator: an entry several processes have (the same
 * statement, user, executor and partition key) adds up their calls and times.
 */
async function coordinatorEntries(coordinator: Coordinator, viewer: Viewer): Promise<StatementEntry[]> {
  const lists = [visibleEntries(coordinator, viewer)];
  const theirs = await coordinator.siblings.ask<StatementEntry[] | null>("stat-statements", viewer);
  for (const list of theirs) if (list !== null) lists.push(list);
  if (lists.length === 1) return lists[0];
  const merged = new Map<string, StatementEntry>();
  for (const e of lists.flat()) {
    const key = JSON.stringify([e.queryId, e.user, e.database, e.executor, e.partitionKey]);
    const seen = merged.get(key);
    if (seen) {
      seen.calls += e.calls;
      seen.totalTimeMs += e.totalTimeMs;
    } else {
      merged.set(key, { ...e });
    }
  }
  return [...merged.values()];
}

/** This process's entries that the viewer may see: its own, or every user's if privileged. */
function visibleEntries(coordinator: Coordinator, { currentUser, readsAll }: Viewer): StatementEntry[] {
  const all = coordinator.statStatements.list();
  return readsAll ? all : all.filter((e) => e.user === currentUser);
}

/** Answers the other processes' canopy_stat_statements() and their resets. */
export function answerStatStatements(coordinator: Coordinator): void {
  coordinator.siblings.on("stat-statements", (viewer: Viewer) => visibleEntries(coordinator, viewer));
  coordinator.siblings.on("stat-statements-reset", () => coordinator.statStatements.reset());
}

function oidText(oid: number | undefined): string | null {
  return oid === undefined ? null : String(oid);
}

/** canopy_stat_statements_reset(): forgets every entry of this coordinator, in all its processes. */
export async function resetStatStatements(session: Session): Promise<UdfResult> {
  session.coordinator.statStatements.reset();
  await session.coordinator.siblings.ask("stat-statements-reset");
  return { kind: "scalar", type: "void", value: null };
}
