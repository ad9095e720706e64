// A session's connections to the workers. Each session keeps one connection per node so that,
// inside a transaction block, every statement reaches a node through the same connection and sees
// the block's earlier writes. A block opens a remote transaction on a node the first time the
// node is used and ends it when the client commits or rolls back. Outside a block, a statement
// that writes on several nodes wraps its work in a remote transaction per node. How they commit
// (one or two phases) is decided in transaction/commit.ts.
import type { NodeClient, QueryResult } from "../nodes/gateway.js";
import { connectToNode } from "../operations/node_management.js";
import type { NodeRecord } from "../metadata/cache.js";
import type { Session } from "../server/session.js";
import { RemoteError } from "../nodes/gateway.js";
import { SqlError } from "../errors.js";
import { arrayLiteral, quoteIdent } from "../sql/quote.js";
import { settleAll } from "./distributed.js";
import { write } from "../protocol/messages.js";

interface RemoteNode {
  client: NodeClient;
  node: NodeRecord;
  /** Numbers the session's connections, as canopy.log_remote_commands names them. */
  connectionId: number;
  /** The command last issued on the connection, and whether it is still running. */
  command: string | null;
  /** Commands sent and not yet answered. */
  running: number;
  /** The node's group (pg_dist_transaction records prepared transactions by group). */
  groupId: number;
  /** Whether a remote transaction is open on this connection. */
  inTransaction: boolean;
  /** Whether this transaction wrote on the node. */
  wrote: boolean;
  /** Whether the connection broke; it is replaced at next use outside a transaction. */
  broken: boolean;
  /** The session's settings epoch last applied to this connection. */
  settingsEpoch: number;
  /** Savepoints set in this remote transaction, oldest first. */
  savepoints: string[];
  /** The metadata version the connection's prepared statements were planned under. */
  preparedVersion: number | null;
}

/**
 * How a statement uses a node: `transactional` opens a remote transaction first when none is open
 * (in a block, or for a statement writing on several nodes); `write` records that the node was
 * written, `reference` which reference tables' shards were.
 */
export interface RunOptions {
  readonly transactional: boolean;
  readonly write: boolean;
  readonly reference?: readonly number[];
}

/**
 * Session settings workers follow: how values are read and printed, where unqualified functions,
 * operators and types are found (the schemas of objects recorded for the workers exist there),
 * and how long a statement waits for a lock (the waits happen on the workers).
 */
const followedSettings = [
  "search_path",
  "TimeZone",
  "DateStyle",
  "IntervalStyle",
  "extra_float_digits",
  "bytea_output",
  "lock_timeout",
];

/** The session's settings as read at one settings epoch. */
interface SessionSettings {
  readonly epoch: number;
  /** Values of followedSettings, in order. */
  readonly followed: readonly string[];
  /** statement_timeout in ms (0: none); Canopy enforces it over the whole distributed statement. */
  readonly statementTimeoutMs: number;
}

export class RemoteConnections {
  private readonly nodes = new Map<number, RemoteNode>();
  private readonly connecting = new Map<number, Promise<RemoteNode>>();
  /**
   * The reference tables' shards the open remote transactions wrote, with the groups written (such
   * a write always commits in two phases, and only if it reached every placement).
   */
  readonly referenceWrites = new Map<number, Set<number>>();
  /** How remote transactions begin, while the session's transaction modes are the defaults. */
  private defaultBegin: { epoch: number; sql: string } | null = null;
  private connectionsOpened = 0;
  private settings: SessionSettings | null = null;
  /**
   * The coordinator transaction's id, asked for as soon as two-phase commit became certain, so
   * that its decision record is ready to write beside the PREPAREs (see transaction/commit.ts).
   */
  private decisionXid: Promise<string | null> | null = null;
  /** When the first of the open remote transactions began (Date.now()). */
  transactionStartedAt = 0;
  /**
   * Set when the remote transactions were rolled back whole inside the client's block (a deadlock
   * victim): the block can then only end, not go back to a savepoint.
   */
  private abandoned = false;

  constructor(private readonly session: Session) {}

  /** Whether any remote transaction is open (the client's COMMIT or ROLLBACK must reach it). */
  hasOpenTransactions(): boolean {
    if (this.abandoned) return true;
    for (const n of this.nodes.values()) if (n.inTransaction) return true;
    return false;
  }

  /**
   * Runs SQL on a node (see RunOptions). `prepareVersion` keeps the statement prepared on the
   * connection, for the metadata version it was planned under: statements prepared under another
   * version are deallocated first, since DDL may have changed what they return.
   */
  async run(
    node: NodeRecord,
    sql: string,
    params: readonly (string | Buffer | null)[],
    opts: RunOptions & { prepareVersion?: number },
  ): Promise<QueryResult> {
    const { remote, setup } = await this.ready(node, opts);
    const prepare = opts.prepareVersion !== undefined;
    if (prepare && remote.preparedVersion !== opts.prepareVersion) {
      setup.push(this.issue(remote, "DEALLOCATE ALL", async () => remote.client.forgetPrepared?.()));
      remote.preparedVersion = opts.prepareVersion!;
    }
    return afterSetup(setup, this.send(remote, sql, params, prepare));
  }

  /** Runs COPY … FROM STDIN on a node with the given data, as `run` runs SQL. */
  async copyIn(node: NodeRecord, sql: string, data: readonly Buffer[], opts: RunOptions): Promise<QueryResult> {
    const { remote, setup } = await this.ready(node, opts);
    return afterSetup(
      setup,
      this.issue(remote, sql, () => remote.client.copyIn(sql, data)),
    );
  }

  /** Runs COPY … TO STDOUT on a node, handing over its data as it arrives. */
  async copyOut(node: NodeRecord, sql: string, onData: (chunk: Buffer) => void, opts: RunOptions) {
    const { remote, setup } = await this.ready(node, opts);
    return afterSetup(
      setup,
      this.issue(remote, sql, () => remote.client.copyOut(sql, onData)),
    );
  }

  /** The session's settings, read from its coordinator-database connection once per settings epoch. */
  async sessionSettings(): Promise<SessionSettings> {
    const epoch = this.session.settingsEpoch;
    if (this.settings?.epoch === epoch) return this.settings;
    const rows = await this.session.internalQuery(
      `SELECT pg_catalog.current_setting(s),
              (SELECT setting FROM pg_catalog.pg_settings WHERE name = 'statement_timeout')
         FROM pg_catalog.unnest($1::text[]) AS s`,
      [Buffer.from(arrayLiteral(followedSettings))],
    );
    this.settings = { epoch, followed: rows.map((r) => r[0] ?? ""), statementTimeoutMs: Number(rows[0][1]) };
    return this.settings;
  }

  /**
   * The node's connection with the session's settings applied and, if asked, a transaction open.
   * The commands that do so are sent but not awaited (`setup`): the statement that follows goes
   * in the same write, and its caller waits for both (see afterSetup).
   */
  private async ready(node: NodeRecord, opts: RunOptions): Promise<{ remote: RemoteNode; setup: Promise<unknown>[] }> {
    // A statement asked to stop starts nothing more.
    this.session.interrupts.check();
    const remote = await this.connection(node);
    this.session.interrupts.check();
    const setup: Promise<unknown>[] = [];
    if (remote.settingsEpoch !== this.session.settingsEpoch) {
      const settings = await this.sessionSettings();
      setup.push(
        this.send(remote, "SELECT pg_catalog.set_config(s, v, false) FROM unnest($1::text[], $2::text[]) AS x(s, v)", [
          arrayLiteral(followedSettings),
          arrayLiteral(settings.followed),
        ]),
      );
      remote.settingsEpoch = settings.epoch;
    }
    if (opts.transactional && !remote.inTransaction) {
      if (!this.hasOpenTransactions()) this.transactionStartedAt = Date.now();
      setup.push(this.send(remote, await this.beginStatement(), []));
      remote.inTransaction = true;
      remote.savepoints = [];
    }
    // A write outside a remote transaction commits on its own: nothing is left for the commit protocol.
    if (opts.write && remote.inTransaction) {
      remote.wrote = true;
      for (const shardId of opts.reference ?? []) {
        const groups = this.referenceWrites.get(shardId) ?? new Set();
        this.referenceWrites.set(shardId, groups.add(remote.groupId));
      }
      if (this.decisionXid === null && this.commitsInTwoPhases()) {
        // Asked now, the answer travels while the node works.
        this.decisionXid = this.session.internalQuery("SELECT pg_catalog.txid_current()").then(
          ([[xid]]) => xid,
          () => null,
        );
      }
    }
    return { remote, setup };
  }

  /**
   * BEGIN with the coordinator transaction's isolation level, read-only and deferrable modes, so
   * that each node runs its part as the client asked. Read once while they are the defaults.
   */
  private async beginStatement(): Promise<string> {
    const epoch = this.session.transactionModeEpoch;
    if (this.defaultBegin?.epoch === epoch) return this.defaultBegin.sql;
    const [[isolation, readOnly, deferrable]] = await this.session.internalQuery(
      `SELECT pg_catalog.current_setting('transaction_isolation'), pg_catalog.current_setting('transaction_read_only'),
              pg_catalog.current_setting('transaction_deferrable')`,
    );
    const modes = [`ISOLATION LEVEL ${isolation!.toUpperCase()}`];
    if (readOnly === "on") modes.push("READ ONLY");
    if (deferrable === "on") modes.push("DEFERRABLE");
    if (!/^(read committed|read uncommitted)$/.test(isolation!) || readOnly === "on") return `BEGIN ${modes.join(" ")}`;
    this.defaultBegin = { epoch, sql: "BEGIN" };
    return "BEGIN";
  }

  /**
   * Follows the client's SAVEPOINT, RELEASE and ROLLBACK TO on every open remote transaction. A
   * remote transaction begun after the savepoint was set holds only later work: rolling back to
   * the savepoint rolls it back whole, and releasing the savepoint leaves it as it is.
   */
  async savepoint(kind: "set" | "release" | "rollback", name: string): Promise<void> {
    if (this.abandoned) {
      throw new SqlError("25P02", "current transaction is aborted, commands ignored until end of transaction block", {
        detail: "The transaction was canceled as a distributed deadlock victim; it can only be rolled back.",
      });
    }
    const quoted = quoteIdent(name);
    await settleAll(
      [...this.nodes.values()]
        .filter((n) => n.inTransaction)
        .map(async (remote) => {
          const at = remote.savepoints.lastIndexOf(name);
          if (kind === "set") {
            await this.send(remote, `SAVEPOINT ${quoted}`, []);
            remote.savepoints.push(name);
          } else if (at < 0) {
            if (kind === "rollback") {
              remote.inTransaction = false;
              remote.wrote = false;
              await this.send(remote, "ROLLBACK", []);
            }
          } else if (kind === "release") {
            await this.send(remote, `RELEASE SAVEPOINT ${quoted}`, []);
            remote.savepoints.length = at;
          } else {
            await this.send(remote, `ROLLBACK TO SAVEPOINT ${quoted}`, []);
            remote.savepoints.length = at + 1;
          }
        }),
    );
  }

  /** The session's worker connections as canopy_stat_activity shows them. */
  activity(): { nodename: string; nodeport: number; pid: number | null; state: string; command: string | null }[] {
    return [...this.nodes.values()].map((n) => ({
      nodename: n.node.nodename,
      nodeport: n.node.nodeport,
      pid: n.client.backendPid,
      state: n.running > 0 ? "active" : n.inTransaction ? "idle in transaction" : "idle",
      command: n.command,
    }));
  }

  /** Whether the open remote transactions will commit in two phases, whatever happens next. */
  private commitsInTwoPhases(): boolean {
    let written = 0;
    for (const n of this.nodes.values()) if (n.inTransaction && n.wrote) written++;
    return written > 1 || (written > 0 && this.referenceWrites.size > 0);
  }

  /** The coordinator transaction id asked for ahead of the commit (null: not asked, or failed); forgets it. */
  takeDecisionXid(): Promise<string | null> {
    const xid = this.decisionXid ?? Promise.resolve(null);
    this.decisionXid = null;
    return xid;
  }

  /** The open remote transactions, for the commit protocol. */
  openTransactions(): { nodeId: number; groupId: number; wrote: boolean }[] {
    const open: { nodeId: number; groupId: number; wrote: boolean }[] = [];
    for (const [nodeId, n] of this.nodes)
      if (n.inTransaction) open.push({ nodeId, groupId: n.groupId, wrote: n.wrote });
    return open;
  }

  /** Ends the remote transaction on a node with `sql` (COMMIT, ROLLBACK, PREPARE TRANSACTION …). */
  async end(nodeId: number, sql: string): Promise<void> {
    const remote = this.nodes.get(nodeId)!;
    remote.inTransaction = false;
    remote.wrote = false;
    await this.send(remote, sql, []);
  }

  /** Runs SQL on a node's connection outside any transaction (COMMIT PREPARED …). */
  async runOutside(nodeId: number, sql: string): Promise<void> {
    const remote = this.nodes.get(nodeId);
    if (!remote || remote.broken) throw new Error("connection lost");
    await this.send(remote, sql, []);
  }

  /**
   * Rolls back every remote transaction at once, inside the client's block, so that their locks
   * are released now (a deadlock victim); the block stays open until the client ends it.
   */
  async abandonTransaction(): Promise<void> {
    await this.rollbackAll();
    this.abandoned = true;
  }

  /** Rolls back every open remote transaction. */
  async rollbackAll(): Promise<void> {
    this.referenceWrites.clear();
    this.decisionXid = null;
    this.abandoned = false;
    const open = [...this.nodes.values()].filter((n) => n.inTransaction);
    await Promise.all(
      open.map(async (remote) => {
        remote.inTransaction = false;
        remote.wrote = false;
        await this.send(remote, "ROLLBACK", []).catch(() => {
          remote.broken = true;
        });
      }),
    );
  }

  /**
   * Cancels the statements running on the session's connections. Those connections are marked
   * broken: a cancel request arriving late could hit their next statement, so they are replaced
   * once their transaction ends.
   */
  cancelRunning(): void {
    for (const remote of this.nodes.values()) {
      if (remote.running === 0) continue;
      remote.broken = true;
      void remote.client.cancel();
    }
  }

  /** The node processes serving this session's connections, by node id (for deadlock detection). */
  backendPids(): Map<number, number> {
    const pids = new Map<number, number>();
    for (const [nodeId, remote] of this.nodes)
      if (remote.client.backendPid !== null) pids.set(nodeId, remote.client.backendPid);
    return pids;
  }

  /** Closes every connection (the session ended). */
  async closeAll(): Promise<void> {
    const all = [...this.nodes.values()];
    this.nodes.clear();
    await Promise.all(all.map((n) => n.client.close()));
  }

  private send(remote: RemoteNode, sql: string, params: readonly (string | Buffer | null)[], prepare = false) {
    return this.issue(remote, sql, () => remote.client.query(sql, params, prepare));
  }

  /**
   * Sends a command (reported to the client first when canopy.log_remote_commands is on); marks
   * errors as the worker's, and the connection broken when it was not a worker's error.
   */
  private async issue<T>(remote: RemoteNode, sql: string, f: () => Promise<T>): Promise<T> {
    const logging = this.session.logRemoteCommands();
    if (logging === true || (logging !== false && (await logging))) {
      const { nodename, nodeport } = remote.node;
      this.session.sendToClient(
        write.noticeResponse({
          severity: "NOTICE",
          code: "00000",
          message: `issuing ${sql}`,
          detail: `on server ${this.session.user}@${nodename}:${nodeport} connectionId: ${remote.connectionId}`,
        }),
      );
    }
    remote.command = sql;
    remote.running++;
    try {
      return await f();
    } catch (e) {
      if (!(e instanceof RemoteError)) remote.broken = true;
      else (e as RemoteError & { fromWorker?: boolean }).fromWorker = true;
      throw e;
    } finally {
      remote.running--;
    }
  }

  private async connection(node: NodeRecord): Promise<RemoteNode> {
    const existing = this.nodes.get(node.nodeid);
    if (existing && !(existing.broken && !existing.inTransaction)) return existing;
    if (existing) {
      this.nodes.delete(node.nodeid);
      void existing.client.close();
    }
    let pending = this.connecting.get(node.nodeid);
    if (!pending) {
      // Numbered as they are asked for, so that parallel connections get the same numbers each run.
      const connectionId = ++this.connectionsOpened;
      pending = connectToNode(this.session, node.nodename, node.nodeport).then((client) => ({
        client,
        node,
        connectionId,
        command: null,
        running: 0,
        groupId: node.groupid,
        inTransaction: false,
        wrote: false,
        broken: false,
        settingsEpoch: -1,
        savepoints: [],
        preparedVersion: null,
      }));
      this.connecting.set(node.nodeid, pending);
      pending
        .then((r) => this.nodes.set(node.nodeid, r))
        .catch(() => {})
        .finally(() => this.connecting.delete(node.nodeid));
    }
    return pending;
  }
}

/**
 * A statement's result once the commands sent before it on the same connection (settings, BEGIN)
 * have succeeded too; their failure is the statement's. Both are awaited, so neither rejection
 * goes unobserved.
 */
async function afterSetup<T>(setup: readonly Promise<unknown>[], statement: Promise<T>): Promise<T> {
  if (setup.length === 0) return statement;
  const [before, result] = await Promise.allSettled([Promise.all(setup), statement]);
  if (before.status === "rejected") throw before.reason;
  if (result.status === "rejected") throw result.reason;
  return result.value;
}
