// The coordinator-wide cap on connections to each worker node (canopy.max_shared_pool_size). Every
// worker connection of every session holds a slot of its node from before it connects until it
// has closed (the node's backend is gone), so the node never serves more of them than the cap.
//
// A session that needs its first connection to a node and finds the slots taken does not fail: it
// asks another session to give up a connection idle outside a transaction (its slot then passes
// on), and waits in line, first come first served, for a slot, up to a time limit. Sessions give
// up such idle connections on their own whenever someone waits for their node. Extra connections
// for parallelism never wait: they are opened only while a slot is free and nobody waits.
// The coordinator's background connections (2PC recovery, deadlock detection) hold no slot: they
// are short and one per node at a time, and must not wait behind clients.
import { SqlError } from "../errors.js";

/** A session's worker connections, as the shared pool sees them. */
export interface SlotHolder {
  /** Closes one of its connections to the node that is idle outside a transaction; false if none. */
  giveUpIdle(node: string): boolean;
}

interface Waiter {
  readonly holder: SlotHolder;
  /** The cap in force when the session began to wait (canopy.max_shared_pool_size resolved). */
  readonly limit: number;
  readonly grant: () => void;
  readonly fail: (error: Error) => void;
}

interface NodeSlots {
  /** Slots held: connections open, opening or closing. */
  used: number;
  readonly waiters: Waiter[];
}

/** How long a session waits for a slot, and the setting that says so. */
export interface SlotWait {
  readonly limit: number;
  readonly timeoutMs: number;
}

export class SharedConnectionPool {
  private readonly nodes = new Map<string, NodeSlots>();
  /** Waits queued on all nodes: the sessions' hot paths test this before anything else. */
  waiting = 0;

  /** `holders` lists every session's connections (the coordinator's live sessions). */
  constructor(private readonly holders: () => Iterable<SlotHolder>) {}

  /** Whether a session waits for a slot of the node. */
  hasWaiters(node: string): boolean {
    return this.waiting > 0 && (this.nodes.get(node)?.waiters.length ?? 0) > 0;
  }

  /** Takes a slot if one is free under `limit` and nobody waits for one (extra connections). */
  tryTake(node: string, limit: number): boolean {
    const slots = this.slotsOf(node);
    if (slots.waiters.length > 0 || slots.used >= limit) return false;
    slots.used++;
    return true;
  }

  /**
   * Takes a slot: at once if one is free; otherwise after another session gave up an idle
   * connection or a slot came back, in order of arrival. Fails with 53300 after `wait.timeoutMs`,
   * or when the waiting session stops waiting (abandonWaits).
   */
  take(node: string, wait: SlotWait, holder: SlotHolder): Promise<void> {
    if (this.tryTake(node, wait.limit)) return Promise.resolve();
    const slots = this.slotsOf(node);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.dropWaiter(slots, waiter);
        this.grantWaiting(slots);
        reject(slotTimeout(node, wait));
      }, wait.timeoutMs);
      const settle = () => {
        clearTimeout(timer);
        this.dropWaiter(slots, waiter);
      };
      const waiter: Waiter = {
        holder,
        limit: wait.limit,
        grant: () => {
          settle();
          resolve();
        },
        fail: (error) => {
          settle();
          reject(error);
        },
      };
      slots.waiters.push(waiter);
      this.waiting++;
      // One idle connection given up per waiter: its slot comes back to the first in line.
      for (const other of this.holders()) if (other !== holder && other.giveUpIdle(node)) break;
    });
  }

  /** Gives a slot back (its connection has closed): to the first waiter, if the cap allows. */
  release(node: string): void {
    const slots = this.slotsOf(node);
    slots.used--;
    this.grantWaiting(slots);
  }

  /** Fails the waits of a session that stopped (cancelled, timed out, closed). */
  abandonWaits(holder: SlotHolder, error: Error): void {
    if (this.waiting === 0) return;
    for (const slots of this.nodes.values()) {
      for (const w of slots.waiters.filter((x) => x.holder === holder)) w.fail(error);
    }
  }

  private grantWaiting(slots: NodeSlots): void {
    while (slots.waiters.length > 0 && slots.used < slots.waiters[0].limit) {
      slots.used++;
      slots.waiters[0].grant();
    }
  }

  private dropWaiter(slots: NodeSlots, waiter: Waiter): void {
    const at = slots.waiters.indexOf(waiter);
    if (at < 0) return;
    slots.waiters.splice(at, 1);
    this.waiting--;
  }

  private slotsOf(node: string): NodeSlots {
    let slots = this.nodes.get(node);
    if (!slots) {
      slots = { used: 0, waiters: [] };
      this.nodes.set(node, slots);
    }
    return slots;
  }
}

function slotTimeout(node: string, wait: SlotWait): SqlError {
  return new SqlError(
    "53300",
    `could not get a connection to worker node ${node}: all ${wait.limit} connections canopy.max_shared_pool_size allows are in use`,
    {
      detail: `Waited canopy.node_connection_timeout (${wait.timeoutMs} ms) for one to be released.`,
      hint: "Raise canopy.max_shared_pool_size, or run fewer concurrent sessions or long transactions.",
    },
  );
}
