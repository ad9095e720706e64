// What stops a session's statement before it ends: the client's CancelRequest, pg_cancel_backend,
// statement_timeout, or the distributed deadlock detector choosing the session as a victim. The
// work of a distributed statement runs on the workers, so stopping it means cancelling what runs on
// the session's worker connections (and its coordinator-database connection); the client then gets
// the error that names why, as PostgreSQL's would. The commit protocol is not interrupted: a request
// arriving while it runs is dropped, as PostgreSQL ignores a cancel during COMMIT.
import { SqlError } from "../errors.js";

const enum State {
  /** No statement of Canopy's runs: a request is the coordinator database's to handle. */
  Idle,
  Running,
  /** The commit protocol runs (PREPARE … COMMIT PREPARED): nothing stops it half-way. */
  Committing,
}

/** The errors PostgreSQL gives for each reason a statement stops. */
export const interruption = {
  userRequest: () => new SqlError("57014", "canceling statement due to user request"),
  statementTimeout: () => new SqlError("57014", "canceling statement due to statement timeout"),
  deadlock: () => new SqlError("40P01", "canceling the transaction since it was involved in a distributed deadlock"),
  terminate: () => new SqlError("57P01", "terminating connection due to administrator command"),
};

/** Whether an error is the one a distributed deadlock victim gets. */
export function isDeadlockVictim(e: unknown): boolean {
  return e instanceof SqlError && e.code === "40P01";
}

export class StatementInterrupts {
  private state = State.Idle;
  private timer: NodeJS.Timeout | null = null;
  /** Why the running statement is being stopped, once a request came. */
  private reason: SqlError | null = null;
  private readonly afterCommit: (() => void)[] = [];
  /** When the running statement began (Date.now()), for the deadlock detector. */
  startedAt = 0;

  /** `stop` cancels whatever the session's statement runs at the moment. */
  constructor(private readonly stop: () => void) {}

  /** Whether a statement of Canopy's runs. */
  get running(): boolean {
    return this.state !== State.Idle;
  }

  get committing(): boolean {
    return this.state === State.Committing;
  }

  /** Marks the start of a statement that may be interrupted; after timeoutMs (> 0) it times out. */
  begin(timeoutMs: number): void {
    this.state = State.Running;
    this.reason = null;
    this.startedAt = Date.now();
    if (timeoutMs > 0) this.timer = setTimeout(() => this.request(interruption.statementTimeout()), timeoutMs);
  }

  /** Marks the end of the statement begun last. */
  end(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.state = State.Idle;
    this.reason = null;
  }

  /**
   * Asks the running statement to stop for `reason`; returns false when no statement of Canopy's
   * runs (the request is then the coordinator database's to handle). During the commit protocol the
   * request is dropped.
   */
  request(reason: SqlError): boolean {
    if (this.state === State.Idle) return false;
    if (this.state === State.Committing || this.reason) return true;
    this.reason = reason;
    this.stop();
    return true;
  }

  /** Throws the interruption's error if the running statement was asked to stop. */
  check(): void {
    if (this.reason) throw this.reason;
  }

  /** The error to report for a statement that failed: the interruption's, when one came. */
  errorFor(e: unknown): unknown {
    return this.reason ?? e;
  }

  /**
   * Runs the commit protocol, which nothing interrupts once it has begun; a statement asked to stop
   * before does not begin it.
   */
  async uninterruptible<T>(commit: () => Promise<T>): Promise<T> {
    this.check();
    const previous = this.state;
    this.state = State.Committing;
    try {
      return await commit();
    } finally {
      this.state = previous;
      for (const f of this.afterCommit.splice(0)) f();
    }
  }

  /** Runs `f` now, or when the commit protocol running now has ended. */
  whenNotCommitting(f: () => void): void {
    if (this.state === State.Committing) this.afterCommit.push(f);
    else f();
  }
}
