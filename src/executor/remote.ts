// A session's connections to the workers. Each session keeps one connection per node so that,
// inside a transaction block, every statement reaches a node through the same connection and sees
// the block's earlier writes. A block opens a remote transaction on a node the first time the
// node is used and ends it when the client commits or rolls back. Outside a block, a statement
// that writes on several nodes wraps its work in a remote transaction per node and commits them
// together at its end (one phase; two-phase commit comes with distributed transactions).
import type { NodeClient, QueryResult } from "../nodes/gateway.js";
import { connectToNode } from "../operations/node_management.js";
import type { NodeRecord } from "../metadata/cache.js";
import type { Session } from "../server/session.js";
import { RemoteError } from "../nodes/gateway.js";
import { arrayLiteral } from "../sql/quote.js";

interface RemoteNode {
  client: NodeClient;
  /** Whether a remote transaction is open on this connection. */
  inTransaction: boolean;
  /** Whether this transaction wrote on the node. */
  wrote: boolean;
  /** Whether the connection broke; it is replaced at next use outside a transaction. */
  broken: boolean;
  /** The session's settings epoch last applied to this connection. */
  settingsEpoch: number;
}

/** Session settings that change how values are read and printed; workers follow the session. */
const formattingSettings = ["TimeZone", "DateStyle", "IntervalStyle", "extra_float_digits", "bytea_output"];

export class RemoteConnections {
  private readonly nodes = new Map<number, RemoteNode>();
  private readonly connecting = new Map<number, Promise<RemoteNode>>();

  constructor(private readonly session: Session) {}

  /** Whether any remote transaction is open (the client's COMMIT or ROLLBACK must reach it). */
  hasOpenTransactions(): boolean {
    for (const n of this.nodes.values()) if (n.inTransaction) return true;
    return false;
  }

  /**
   * Runs SQL on a node. `transactional` opens a remote transaction first when none is open (in a
   * block, or for a statement writing on several nodes); `write` records that the node was written.
   */
  async run(
    node: NodeRecord,
    sql: string,
    params: readonly (string | Buffer | null)[],
    opts: { transactional: boolean; write: boolean; prepare?: boolean },
  ): Promise<QueryResult> {
    const remote = await this.connection(node);
    if (remote.settingsEpoch !== this.session.settingsEpoch) {
      const values = await this.session.internalQuery(
        "SELECT pg_catalog.current_setting(s) FROM pg_catalog.unnest($1::text[]) AS s",
        [Buffer.from(`{${formattingSettings.join(",")}}`)],
      );
      await this.send(
        remote,
        "SELECT pg_catalog.set_config(s, v, false) FROM unnest($1::text[], $2::text[]) AS x(s, v)",
        [`{${formattingSettings.join(",")}}`, arrayLiteral(values.map((v) => v[0] ?? ""))],
      );
      remote.settingsEpoch = this.session.settingsEpoch;
    }
    if (opts.transactional && !remote.inTransaction) {
      await this.send(remote, "BEGIN", []);
      remote.inTransaction = true;
    }
    if (opts.write) remote.wrote = true;
    return this.send(remote, sql, params, opts.prepare);
  }

  /** Commits every open remote transaction; on failure rolls back the rest and throws. */
  async commitAll(): Promise<void> {
    const open = [...this.nodes.values()].filter((n) => n.inTransaction);
    let failure: unknown = null;
    for (const remote of open) {
      if (failure === null) {
        try {
          await this.send(remote, "COMMIT", []);
        } catch (e) {
          failure = e;
        }
      } else {
        await this.send(remote, "ROLLBACK", []).catch(() => {});
      }
      remote.inTransaction = false;
      remote.wrote = false;
    }
    if (failure !== null) throw failure;
  }

  /** Rolls back every open remote transaction. */
  async rollbackAll(): Promise<void> {
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

  /** Closes every connection (the session ended). */
  async closeAll(): Promise<void> {
    const all = [...this.nodes.values()];
    this.nodes.clear();
    await Promise.all(all.map((n) => n.client.close()));
  }

  private async send(remote: RemoteNode, sql: string, params: readonly (string | Buffer | null)[], prepare = false) {
    try {
      return await remote.client.query(sql, params, prepare);
    } catch (e) {
      if (!(e instanceof RemoteError)) remote.broken = true;
      else (e as RemoteError & { fromWorker?: boolean }).fromWorker = true;
      throw e;
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
      pending = connectToNode(this.session, node.nodename, node.nodeport).then((client) => ({
        client,
        inTransaction: false,
        wrote: false,
        broken: false,
        settingsEpoch: -1,
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
