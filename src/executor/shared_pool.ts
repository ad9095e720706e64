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
//
// A coordinator of several processes (server/siblings.ts) keeps one such pool in its supervisor
// (connectionSlotBroker); each process reaches it through a BrokeredConnectionPool, which asks for a
// slot whenever it opens a connection (a connection costs far more than the question).
import type { Worker } from "node:cluster";
import { SqlError } from "../errors.js";
import type { ProcessDirectory, Siblings, SupervisorService } from "../server/siblings.js";

/** The slots as a session's connections use them, in one process or brokered among several. */
export interface ConnectionSlots {
  /** Non-zero when a session (of any process) waits for a slot: the hot paths test this first. */
  readonly waiting: number;
  hasWaiters(node: string): boolean;
  tryTake(node: string, limit: number): boolean | Promise<boolean>;
  take(node: string, wait: SlotWait, holder: SlotHolder): Promise<void>;
  release(node: string): void;
  abandonWaits(holder: SlotHolder, error: Error): void;
}

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

export class SharedConnectionPool implements ConnectionSlots {
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

/**
 * The supervisor's pool for all processes of a coordinator. For each waiter, a process holding the
 * node's slots gives up an idle connection on request ("give-up-idle"), and each process learns
 * which nodes have waiters ("pool-waiting") so that its sessions give up theirs on their own too.
 */
export function connectionSlotBroker(directory: ProcessDirectory): SupervisorService {
  /** Slots each process holds, by node: given back when the process is gone. */
  const held = new Map<Worker, Map<string, number>>();
  const heldOn = (w: Worker, node: string) => held.get(w)?.get(node) ?? 0;
  /** Asks the processes holding the node's slots, most first, until one gives up an idle connection. */
  const giveUpOne = async (node: string) => {
    const holders = [...directory.processes()].filter((w) => heldOn(w, node) > 0);
    holders.sort((a, b) => heldOn(b, node) - heldOn(a, node));
    for (const w of holders) if ((await directory.ask(w, "give-up-idle", node)) === true) return;
  };
  const processes: SlotHolder = {
    giveUpIdle(node) {
      void giveUpOne(node);
      return true;
    },
  };
  const pool = new SharedConnectionPool(() => [processes]);
  /** The waits under way, by process and request number: a process may abandon one. */
  const requests = new Map<Worker, Map<number, SlotHolder>>();
  const announced = new Set<string>();
  const hold = (w: Worker, node: string, delta: number) => {
    const byNode = held.get(w) ?? new Map<string, number>();
    held.set(w, byNode);
    byNode.set(node, (byNode.get(node) ?? 0) + delta);
  };
  /** Tells the processes when a node's waiters begin or end. */
  const announce = (node: string) => {
    const waiting = pool.hasWaiters(node);
    if (waiting === announced.has(node)) return;
    if (waiting) announced.add(node);
    else announced.delete(node);
    for (const w of directory.processes()) directory.tell(w, "pool-waiting", { node, waiting });
  };
  return {
    calls: {
      "slot-try": (from, { node, limit }: { node: string; limit: number }) => {
        const taken = pool.tryTake(node, limit);
        if (taken) hold(from, node, 1);
        return taken;
      },
      "slot-take": (from, { request, node, limit, timeoutMs }: SlotRequest) => {
        // Its own holder, so that only this request is failed when abandoned.
        const waiter: SlotHolder = { giveUpIdle: () => false };
        const mine = requests.get(from) ?? new Map<number, SlotHolder>();
        requests.set(from, mine.set(request, waiter));
        const granted = pool.take(node, { limit, timeoutMs }, waiter).then(
          () => {
            hold(from, node, 1);
            return true;
          },
          () => false,
        );
        announce(node);
        return granted.finally(() => {
          mine.delete(request);
          announce(node);
        });
      },
      "slot-abandon": (from, request: number) => {
        const waiter = requests.get(from)?.get(request);
        if (waiter) pool.abandonWaits(waiter, new Error("abandoned"));
      },
      "slot-release": (from, node: string) => {
        hold(from, node, -1);
        pool.release(node);
        announce(node);
      },
    },
    gone(worker) {
      for (const waiter of requests.get(worker)?.values() ?? []) pool.abandonWaits(waiter, new Error("gone"));
      requests.delete(worker);
      for (const [node, n] of held.get(worker) ?? []) {
        for (let i = 0; i < n; i++) pool.release(node);
        announce(node);
      }
      held.delete(worker);
    },
  };
}

interface SlotRequest {
  readonly request: number;
  readonly node: string;
  readonly limit: number;
  readonly timeoutMs: number;
}

/** A process's side of the supervisor's pool (connectionSlotBroker). */
export class BrokeredConnectionPool implements ConnectionSlots {
  /** The nodes that sessions of any process wait for (as the supervisor announced). */
  private readonly waitedFor = new Set<string>();
  private readonly waits = new Map<number, { readonly holder: SlotHolder; fail(error: Error): void }>();
  private nextRequest = 1;

  constructor(
    private readonly siblings: Siblings,
    holders: () => Iterable<SlotHolder>,
  ) {
    siblings.on("pool-waiting", ({ node, waiting }: { node: string; waiting: boolean }) => {
      if (waiting) this.waitedFor.add(node);
      else this.waitedFor.delete(node);
    });
    siblings.on("give-up-idle", (node: string) => {
      for (const holder of holders()) if (holder.giveUpIdle(node)) return true;
      return false;
    });
  }

  get waiting(): number {
    return this.waitedFor.size;
  }

  hasWaiters(node: string): boolean {
    return this.waitedFor.has(node);
  }

  tryTake(node: string, limit: number): Promise<boolean> {
    return this.siblings.call<boolean>("slot-try", { node, limit });
  }

  take(node: string, wait: SlotWait, holder: SlotHolder): Promise<void> {
    const request = this.nextRequest++;
    return new Promise((resolve, reject) => {
      this.waits.set(request, {
        holder,
        fail: (error) => {
          this.waits.delete(request);
          this.siblings.post("slot-abandon", request);
          reject(error);
        },
      });
      const asked: SlotRequest = { request, node, limit: wait.limit, timeoutMs: wait.timeoutMs };
      void this.siblings.call<boolean>("slot-take", asked).then((granted) => {
        if (!this.waits.delete(request)) {
          // Abandoned meanwhile: a slot granted all the same goes back.
          if (granted) this.release(node);
        } else if (granted) resolve();
        else reject(slotTimeout(node, wait));
      });
    });
  }

  release(node: string): void {
    this.siblings.post("slot-release", node);
  }

  abandonWaits(holder: SlotHolder, error: Error): void {
    for (const w of [...this.waits.values()]) if (w.holder === holder) w.fail(error);
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
