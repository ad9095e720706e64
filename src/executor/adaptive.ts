// The adaptive executor's run of one node's share of a read, as the seed describes it: the share
// is cut into parts (its shards), queued, and run over up to canopy.max_adaptive_executor_pool_size
// connections to the node. The run starts on the session's usual connection (and the idle ones it
// keeps for the node); while parts stay queued, it opens more every
// canopy.executor_slow_start_interval ms, 1 then 2, 4 … at a time (all it may at once when the
// interval is 0), so short parts share one connection and long ones get parallelism.
import type { QueryResult } from "../nodes/gateway.js";
import type { NodeRecord } from "../metadata/cache.js";
import type { Task } from "./explain.js";

type Params = readonly (string | Buffer | null)[];

/** A node's share of a read, in parts that can run in batches of consecutive parts. */
export interface SplitRead {
  /** How many parts (shards) the share has. */
  readonly parts: number;
  /** The statement reading parts [from, to). */
  task(from: number, to: number): { sql: string; params: Params };
}

/** A read's share on one node. */
export interface NodeShare {
  readonly node: NodeRecord;
  readonly read: SplitRead;
}

/** Each share as one task, as EXPLAIN shows them. */
export function wholeTasks(shares: readonly NodeShare[]): Task[] {
  return shares.map(({ node, read }) => ({ node, ...read.task(0, read.parts) }));
}

/** A connection the run holds: it runs statements until given back. */
export interface Lane {
  run(sql: string, params: Params): Promise<QueryResult>;
  done(): void;
}

/** Where a run gets its connections to the node. */
export interface Lanes {
  /** The session's usual connection to the node (opened, waiting for a slot, if need be). */
  home(): Promise<Lane>;
  /** An idle connection the session keeps for the node, if it has one. */
  cached(): Lane | null;
  /** A new connection, or null when none can be had now. Never rejects. */
  open(): Promise<Lane | null>;
}

export interface PoolLimits {
  readonly poolSize: number;
  readonly slowStartMs: number;
}

/**
 * Runs the parts over the node's connections; returns their results in part order. A failed part
 * stops the run from taking more; the error comes once every running part has ended.
 */
export async function runSplit(read: SplitRead, lanes: Lanes, limits: PoolLimits): Promise<QueryResult[]> {
  const results: { from: number; result: QueryResult }[] = [];
  let next = 0;
  let failure: { error: unknown } | null = null;
  /** Lanes working or being opened. */
  let used = 0;
  /** How many lanes the run may get: fewer than the pool size once no more can be opened. */
  let possible = limits.poolSize;
  const running = new Set<Promise<void>>();

  // Each lane takes its share of what is left, as if every lane the run may get were working.
  const take = (): [number, number] | null => {
    if (failure !== null || next >= read.parts) return null;
    const from = next;
    next += Math.ceil((read.parts - next) / possible);
    return [from, next];
  };
  const drain = async (lane: Lane) => {
    try {
      for (let range = take(); range !== null; range = take()) {
        const { sql, params } = read.task(range[0], range[1]);
        try {
          results.push({ from: range[0], result: await lane.run(sql, params) });
        } catch (error) {
          failure ??= { error };
        }
      }
    } finally {
      lane.done();
    }
  };
  const start = (work: () => Promise<void>) => {
    used++;
    const done: Promise<void> = work().finally(() => running.delete(done));
    running.add(done);
  };
  /** How many more lanes could take parts now. */
  const wanted = () => Math.min(possible - used, read.parts - next);
  const openLanes = (count: number) => {
    for (let i = 0; i < count; i++) {
      start(async () => {
        const lane = await lanes.open();
        if (lane !== null) return drain(lane);
        used--;
        possible = Math.max(used, 1);
      });
    }
  };

  start(async () => {
    try {
      await drain(await lanes.home());
    } catch (error) {
      failure ??= { error };
    }
  });
  while (wanted() > 0) {
    const lane = lanes.cached();
    if (lane === null) break;
    start(() => drain(lane));
  }
  let timer: NodeJS.Timeout | null = null;
  if (limits.slowStartMs === 0) {
    openLanes(wanted());
  } else {
    let burst = 1;
    timer = setInterval(() => {
      const count = Math.min(burst, wanted());
      if (count <= 0) return;
      openLanes(count);
      burst *= 2;
    }, limits.slowStartMs);
  }
  try {
    while (running.size > 0) await Promise.all(running);
  } finally {
    if (timer) clearInterval(timer);
  }
  if (failure !== null) throw (failure as { error: unknown }).error;
  return results.sort((a, b) => a.from - b.from).map((r) => r.result);
}
