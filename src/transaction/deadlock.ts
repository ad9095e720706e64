// Distributed deadlock detection. Each node's PostgreSQL finds lock cycles among its own backends,
// but not a cycle that spans nodes: session 1 holds a row lock on worker A and waits on worker B
// while session 2 holds one on B and waits on A. The coordinator knows which node backends serve
// which of its sessions, so it joins the nodes' lock waits (pg_locks, pg_blocking_pids) into one
// wait-for graph between sessions, finds its cycles, and cancels the youngest transaction of each
// (SQLSTATE 40P01), whose rollback releases what the others wait for. Only waits older than the
// node's own deadlock check are counted, so a cycle within one node stays PostgreSQL's to report.
import type { NodeClient } from "../nodes/gateway.js";
import type { NodeRecord } from "../metadata/cache.js";

/** The node id standing for the coordinator database among a participant's backends. */
export const COORDINATOR_DATABASE = -1;

/** A session that may take part in a deadlock: one running a statement for a while. */
export interface Participant {
  /** The pids of the session's backends on the nodes it is connected to, as (node id, pid) pairs. */
  readonly backends: readonly (readonly [number, number])[];
  /** When the session's transaction began (the youngest is the victim). */
  readonly transactionStartedAt: number;
  /** Cancels the participant's transaction as a deadlock victim. */
  cancelAsVictim(): void;
}

/** One backend waiting for a lock on a node, and the backends it waits for. */
export interface LockWait {
  readonly pid: number;
  readonly blockingPids: readonly number[];
}

export interface DeadlockContext {
  readonly participants: readonly Participant[];
  readonly nodes: readonly NodeRecord[];
  /** Waits on the coordinator database that have lasted at least waitMs. */
  coordinatorWaits(waitMs: number): Promise<LockWait[]>;
  connect(node: NodeRecord): Promise<NodeClient>;
  log(line: string): void;
}

/** The query reading a node's lock waits that have lasted at least $1 ms. */
export const lockWaitsQuery = `
  SELECT l.pid, pg_catalog.pg_blocking_pids(l.pid)::text
    FROM pg_catalog.pg_locks l
   WHERE NOT l.granted
     AND l.waitstart < pg_catalog.clock_timestamp() - pg_catalog.make_interval(secs => $1::float8 / 1000)`;

/** Reads the rows of lockWaitsQuery. */
export function lockWaits(rows: readonly (string | null)[][]): LockWait[] {
  return rows.map(([pid, blocking]) => ({
    pid: Number(pid),
    blockingPids: (blocking ?? "{}")
      .slice(1, -1)
      .split(",")
      .filter((p) => p !== "")
      .map(Number),
  }));
}

/**
 * Finds the distributed deadlocks among the participants, from lock waits that have lasted at
 * least waitMs, and cancels a victim in each; returns how many it cancelled.
 */
export async function detectDistributedDeadlocks(ctx: DeadlockContext, waitMs: number): Promise<number> {
  if (ctx.participants.length < 2) return 0;
  const owners = new Map<string, Participant>();
  for (const p of ctx.participants) for (const [nodeId, pid] of p.backends) owners.set(`${nodeId}:${pid}`, p);
  const waitsFor = new Map<Participant, Set<Participant>>();
  const addWaits = (nodeId: number, waits: readonly LockWait[]) => {
    for (const w of waits) {
      const waiter = owners.get(`${nodeId}:${w.pid}`);
      if (!waiter) continue;
      for (const pid of w.blockingPids) {
        const holder = owners.get(`${nodeId}:${pid}`);
        if (!holder || holder === waiter) continue;
        if (!waitsFor.has(waiter)) waitsFor.set(waiter, new Set());
        waitsFor.get(waiter)!.add(holder);
      }
    }
  };
  addWaits(COORDINATOR_DATABASE, await ctx.coordinatorWaits(waitMs));
  const used = new Set<number>();
  for (const p of ctx.participants) for (const [nodeId] of p.backends) used.add(nodeId);
  await Promise.all(
    ctx.nodes
      .filter((n) => used.has(n.nodeid))
      .map(async (node) => {
        let client: NodeClient | null = null;
        try {
          client = await ctx.connect(node);
          addWaits(node.nodeid, lockWaits((await client.query(lockWaitsQuery, [String(waitMs)])).rows));
        } catch (e) {
          ctx.log(`deadlock detection: cannot read lock waits on ${node.nodename}:${node.nodeport}: ${String(e)}`);
        } finally {
          await client?.close();
        }
      }),
  );
  const victims = chooseVictims(waitsFor);
  for (const v of victims) v.cancelAsVictim();
  return victims.length;
}

/**
 * The participants to cancel so that the wait-for graph has no cycle: of each cycle found, the
 * one whose transaction began last; the cycles left without it are looked for again.
 */
export function chooseVictims(waitsFor: ReadonlyMap<Participant, ReadonlySet<Participant>>): Participant[] {
  const victims = new Set<Participant>();
  for (;;) {
    const cycle = findCycle(waitsFor, victims);
    if (!cycle) return [...victims];
    victims.add(cycle.reduce((young, p) => (p.transactionStartedAt > young.transactionStartedAt ? p : young)));
  }
}

/** A cycle of the graph avoiding the removed participants, or null (depth-first search). */
function findCycle(
  waitsFor: ReadonlyMap<Participant, ReadonlySet<Participant>>,
  removed: ReadonlySet<Participant>,
): Participant[] | null {
  const done = new Set<Participant>();
  const path: Participant[] = [];
  const onPath = new Set<Participant>();
  const visit = (p: Participant): Participant[] | null => {
    if (onPath.has(p)) return path.slice(path.indexOf(p));
    if (done.has(p) || removed.has(p)) return null;
    path.push(p);
    onPath.add(p);
    for (const next of waitsFor.get(p) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    onPath.delete(p);
    done.add(p);
    return null;
  };
  for (const p of waitsFor.keys()) {
    const cycle = visit(p);
    if (cycle) return cycle;
  }
  return null;
}
