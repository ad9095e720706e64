// The processes of one coordinator. Node runs a process's JavaScript on one thread, so a
// coordinator serving a cluster of PostgreSQL servers runs canopy.coordinator_processes processes
// (one per core but one by default, leaving a core to the coordinator database) to use the cores.
// With several, a supervising process owns the listening sockets (node:cluster hands each accepted
// connection to the processes in turn), starts the processes and starts again one that dies. The
// processes share no memory: what one must know of the others — their sessions
// (canopy_stat_activity, cancel requests, deadlock detection), their statement statistics, a
// metadata change in progress — it asks them through the supervisor, which relays the question to
// every other process and returns their answers. The supervisor also keeps what the processes count
// together (SupervisorService): their client connections (canopy.max_client_connections) and their
// connections to each worker node (canopy.max_shared_pool_size).
//
// Everything asked this way is off the hot path: a statement never waits for another process.
import cluster, { type Worker } from "node:cluster";

/** Messages between a process and the supervisor. */
type Envelope =
  /** A process asks every other one (through the supervisor); each answers with `answer`. */
  | { t: "ask"; id: number; op: string; arg: unknown }
  | { t: "answer"; id: number; value: unknown }
  /** The supervisor's reply to an `ask` (the answers of the other ready processes) or a `call`. */
  | { t: "answers"; id: number; values: unknown[] }
  /** A process tells every other one (or the supervisor tells a process) something; no answer. */
  | { t: "tell"; op: string; arg: unknown }
  /** A process asks the supervisor itself (a SupervisorService); `post` expects no answer. */
  | { t: "call"; id: number; op: string; arg: unknown }
  | { t: "post"; op: string; arg: unknown }
  /** A process is set to serve and waits for `listen` (all processes begin to listen together). */
  | { t: "prepared" }
  | { t: "ready"; url: string };

/** What the supervisor tells a prepared process when it may listen. */
const LISTEN = "listen";

/**
 * Something the supervisor keeps for all processes together: answers their calls and posts (by
 * op), forgets what a process held when it is gone.
 */
export interface SupervisorService {
  readonly calls: Record<string, (from: Worker, arg: never) => unknown>;
  gone?(worker: Worker): void;
}

/** How a supervisor service reaches the processes. */
export interface ProcessDirectory {
  /** The processes started (they answer questions and serve clients, or are about to). */
  processes(): Iterable<Worker>;
  /** Tells a process `op` (its Siblings handler for it runs). */
  tell(worker: Worker, op: string, arg: unknown): void;
  /** Asks a process `op`: its handler's answer, null if it gave none. */
  ask(worker: Worker, op: string, arg: unknown): Promise<unknown>;
}

/** An answer not given within this time is left out (a process busy for that long is stuck). */
const ANSWER_TIMEOUT_MS = 10_000;

/** The pause before a process that failed to start again is started once more. */
const RESTART_PAUSE_MS = 1000;

type Handler = (arg: never) => unknown;

/** This process's view of the coordinator's other processes. */
export class Siblings {
  private readonly handlers = new Map<string, Handler>();
  private readonly pending = new Map<number, (values: unknown[]) => void>();
  private nextId = 1;

  /** `index` numbers this process from 0 among `count`; a coordinator alone is `new Siblings(0, 1)`. */
  constructor(
    readonly index: number,
    readonly count: number,
  ) {
    if (count > 1) process.on("message", (m: Envelope) => this.receive(m));
  }

  /** This process, as started by superviseProcesses, or the only one. */
  static ofThisProcess(): Siblings {
    if (!cluster.isWorker) return new Siblings(0, 1);
    return new Siblings(Number(process.env.CANOPY_PROCESS_INDEX), Number(process.env.CANOPY_PROCESS_COUNT));
  }

  /** Answers `op` when another process asks (or tells) it. */
  on<A>(op: string, handler: (arg: A) => unknown): void {
    this.handlers.set(op, handler as Handler);
  }

  /** The answers of every other process to `op`; none when this process is alone. */
  ask<T>(op: string, arg: unknown = null): Promise<T[]> {
    if (this.count === 1) return Promise.resolve([]);
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve as (values: unknown[]) => void);
      this.send({ t: "ask", id, op, arg });
    });
  }

  /** Tells every other process `op`, without waiting. */
  tell(op: string, arg: unknown = null): void {
    if (this.count > 1) this.send({ t: "tell", op, arg });
  }

  /** Asks the supervisor (a SupervisorService's call). */
  call<T>(op: string, arg: unknown = null): Promise<T> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, ([value]) => resolve(value as T));
      this.send({ t: "call", id, op, arg });
    });
  }

  /** Tells the supervisor (a SupervisorService's call), without waiting. */
  post(op: string, arg: unknown = null): void {
    this.send({ t: "post", op, arg });
  }

  /**
   * Tells the supervisor this process is set to serve; resolves when it may listen: at once when
   * the others serve already (a process started again), else once every process is prepared, so
   * that the first clients spread over all of them.
   */
  prepared(): Promise<void> {
    if (this.count === 1) return Promise.resolve();
    return new Promise((resolve) => {
      this.on(LISTEN, resolve);
      this.send({ t: "prepared" });
    });
  }

  /** Tells the supervisor this process serves clients. */
  ready(url: string): void {
    if (this.count > 1) this.send({ t: "ready", url });
  }

  private send(m: Envelope): void {
    // The channel is gone only when the supervisor is: this process exits then (superviseProcesses).
    if (process.connected) process.send!(m);
  }

  private receive(m: Envelope): void {
    if (m.t === "answers") {
      const resolve = this.pending.get(m.id);
      this.pending.delete(m.id);
      resolve?.(m.values);
    } else if (m.t === "ask") {
      void Promise.resolve()
        .then(() => this.handlers.get(m.op)?.(m.arg as never))
        .then(
          (value) => this.send({ t: "answer", id: m.id, value: value ?? null }),
          () => this.send({ t: "answer", id: m.id, value: null }),
        );
    } else if (m.t === "tell") {
      this.handlers.get(m.op)?.(m.arg as never);
    }
  }
}

/** An `ask` the supervisor relays (or asks itself): the answers still awaited. */
interface Relay {
  /** The asking process, and its id of the question; or what takes the supervisor's own answers. */
  readonly from: Worker | ((values: unknown[]) => void);
  readonly askId: number;
  readonly values: unknown[];
  readonly awaiting: Set<Worker>;
  readonly timer: NodeJS.Timeout;
}

/**
 * Runs the supervisor: starts `count` coordinator processes (this program again, under
 * node:cluster) — the first alone, since it installs the metadata schema, then the others — and
 * returns the URL clients use once all serve. Relays their questions, counts their client
 * connections, starts again a process that dies, and stops them all on SIGINT or SIGTERM.
 */
export function superviseProcesses(
  count: number,
  log: (line: string) => void,
  services: (directory: ProcessDirectory) => SupervisorService[],
): Promise<string> {
  const processes = new Map<number, Worker>();
  const prepared = new Set<Worker>();
  const ready = new Set<Worker>();
  const relays = new Map<number, Relay>();
  let nextRelay = 1;
  /** Relays `ask` to the processes; the answers go to `from`. */
  const relay = (from: Relay["from"], askId: number, to: Worker[], op: string, arg: unknown) => {
    const id = nextRelay++;
    const timer = setTimeout(() => finish(id), ANSWER_TIMEOUT_MS);
    relays.set(id, { from, askId, values: [], awaiting: new Set(to), timer });
    for (const w of to) w.send({ t: "ask", id, op, arg });
  };
  const provided = services({
    processes: () => prepared,
    tell: (worker, op, arg) => {
      if (worker.isConnected()) worker.send({ t: "tell", op, arg });
    },
    ask: (worker, op, arg) =>
      new Promise((resolve) => {
        if (!worker.isConnected()) return resolve(null);
        relay(([value]) => resolve(value ?? null), 0, [worker], op, arg);
      }),
  });
  const calls = new Map(provided.flatMap((service) => Object.entries(service.calls)));
  let stopping = false;
  /** Whether every process has served once: from then on, one that dies is started again. */
  let serving = false;
  let started: ((url: string) => void) | null = null;
  let failedToStart: ((e: Error) => void) | null = null;

  const finish = (id: number) => {
    const done = relays.get(id)!;
    relays.delete(id);
    clearTimeout(done.timer);
    if (typeof done.from === "function") done.from(done.values);
    else if (done.from.isConnected()) done.from.send({ t: "answers", id: done.askId, values: done.values });
  };
  const answered = (worker: Worker, id: number, value: unknown) => {
    const waiting = relays.get(id);
    if (!waiting || !waiting.awaiting.delete(worker)) return;
    waiting.values.push(value);
    if (waiting.awaiting.size === 0) finish(id);
  };
  const receive = (worker: Worker, m: Envelope) => {
    // Every process that answers questions: it may cache metadata before it listens.
    const others = [...prepared].filter((w) => w !== worker && w.isConnected());
    switch (m.t) {
      case "ask": {
        if (others.length === 0) {
          worker.send({ t: "answers", id: m.id, values: [] });
          return;
        }
        relay(worker, m.id, others, m.op, m.arg);
        return;
      }
      case "answer":
        return answered(worker, m.id, m.value);
      case "tell":
        for (const w of others) w.send(m);
        return;
      case "call":
        void Promise.resolve()
          .then(() => calls.get(m.op)?.(worker, m.arg as never))
          .then(
            (value: unknown) => value ?? null,
            (e: Error) => {
              log(`supervisor: ${m.op} failed: ${e.message}`);
              return null;
            },
          )
          .then((value) => worker.isConnected() && worker.send({ t: "answers", id: m.id, values: [value] }));
        return;
      case "post":
        calls.get(m.op)?.(worker, m.arg as never);
        return;
      case "prepared":
        prepared.add(worker);
        // The first installs the metadata schema alone; then the others start.
        if (processes.size < count) for (let i = 1; i < count; i++) start(i);
        if (ready.size > 0) worker.send({ t: "tell", op: LISTEN, arg: null });
        else if (prepared.size === count) for (const w of prepared) w.send({ t: "tell", op: LISTEN, arg: null });
        return;
      case "ready":
        ready.add(worker);
        if (ready.size === count) {
          serving = true;
          started?.(m.url);
        }
        return;
    }
  };
  const start = (index: number) => {
    const worker = cluster.fork({ CANOPY_PROCESS_INDEX: String(index), CANOPY_PROCESS_COUNT: String(count) });
    processes.set(index, worker);
    worker.on("message", (m: Envelope) => receive(worker, m));
    // A message sent as the process exits fails on its closed channel: its exit is handled below;
    // unheard, the error would end the supervisor and every process with it.
    worker.on("error", (e: Error) => log(`coordinator process ${index}: ${e.message}`));
    worker.on("exit", (code, signal) => {
      prepared.delete(worker);
      const wasReady = ready.delete(worker);
      for (const service of provided) service.gone?.(worker);
      for (const [id, waiting] of relays) {
        if (waiting.from === worker) {
          relays.delete(id);
          clearTimeout(waiting.timer);
        } else if (waiting.awaiting.delete(worker) && waiting.awaiting.size === 0) finish(id);
      }
      if (stopping) {
        processes.delete(index);
        if (processes.size === 0) process.exit(0);
        return;
      }
      const how = signal ?? code;
      if (!serving) {
        failedToStart?.(new Error(`coordinator process ${index} exited (${how}) while starting`));
        stopAll();
        return;
      }
      // One that failed to start again (the coordinator database restarting?) is retried later.
      log(`coordinator process ${index} exited (${how}); starting it again`);
      if (wasReady) start(index);
      else setTimeout(() => !stopping && start(index), RESTART_PAUSE_MS);
    });
  };
  const stopAll = () => {
    stopping = true;
    // One waiting to be started again is not there to stop.
    for (const [index, w] of processes) if (w.isDead()) processes.delete(index);
    if (processes.size === 0) process.exit(1);
    for (const w of processes.values()) w.process.kill("SIGTERM");
  };
  process.once("SIGINT", stopAll);
  process.once("SIGTERM", stopAll);
  return new Promise((resolve, reject) => {
    started = resolve;
    failedToStart = reject;
    start(0);
  });
}

/** In a coordinator process: exits at once when the supervisor is gone (as if killed with it). */
export function exitWithSupervisor(): void {
  if (cluster.isWorker) process.on("disconnect", () => process.exit(1));
}

/** canopy.max_client_connections over all processes: the supervisor counts their sessions. */
export function clientConnectionCount(): SupervisorService {
  const connections = new Map<Worker, number>();
  return {
    calls: {
      admit: (from, limit: number) => {
        let total = 0;
        for (const n of connections.values()) total += n;
        if (total >= limit) return false;
        connections.set(from, (connections.get(from) ?? 0) + 1);
        return true;
      },
      leave: (from) => void connections.set(from, (connections.get(from) ?? 1) - 1),
    },
    gone: (worker) => void connections.delete(worker),
  };
}
