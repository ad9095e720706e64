// Node gateway for real PostgreSQL servers, over TCP or a unix socket, with TLS as node_conninfo says.
import { existsSync, readFileSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import pg from "pg";
import type { ConnectOptions, NodeAddress, NodeClient, NodeGateway, QueryResult } from "./gateway.js";
import { RemoteError, connectionFailed } from "./gateway.js";
import { SqlError } from "../errors.js";
import { write } from "../protocol/messages.js";

const loopback = new Set(["localhost", "127.0.0.1", "::1"]);

const rawText = { getTypeParser: () => (value: string) => value };

/** Builds node-postgres options from a node address and libpq-style options. */
export function clientConfig(node: NodeAddress, options: ConnectOptions): pg.ClientConfig {
  const c = options.conninfo;
  const isSocket = node.name.startsWith("/");
  const sslmode = isSocket ? "disable" : (c.sslmode ?? "require");
  let ssl: pg.ClientConfig["ssl"] = false;
  if (sslmode === "require" || sslmode === "prefer" || sslmode === "allow") {
    ssl = { rejectUnauthorized: false };
  } else if (sslmode === "verify-ca" || sslmode === "verify-full") {
    ssl = {
      rejectUnauthorized: true,
      ca: c.sslrootcert ? readFileSync(c.sslrootcert, "utf8") : undefined,
      cert: c.sslcert ? readFileSync(c.sslcert, "utf8") : undefined,
      key: c.sslkey ? readFileSync(c.sslkey, "utf8") : undefined,
      checkServerIdentity: sslmode === "verify-ca" ? () => undefined : tls.checkServerIdentity,
    };
  } else if (sslmode !== "disable") {
    throw new SqlError("22023", `invalid sslmode value: "${sslmode}"`);
  }
  return {
    host: node.name,
    port: node.port,
    user: options.user,
    database: options.database,
    password: c.password,
    ssl,
    application_name: c.application_name ?? "canopy",
    connectionTimeoutMillis: c.connect_timeout ? Number(c.connect_timeout) * 1000 : options.connectTimeoutMs,
    keepAlive: true,
    types: rawText,
  };
}

/** Node gateway reaching real PostgreSQL servers. */
export class PostgresGateway implements NodeGateway {
  /**
   * `localSocketDir`: where servers on this machine keep their unix sockets. A node named
   * localhost (or a loopback address) whose socket is there is reached through it: no TCP, no TLS.
   */
  constructor(private readonly localSocketDir?: string) {}

  async connect(node: NodeAddress, options: ConnectOptions): Promise<NodeClient> {
    if (this.localSocketDir && loopback.has(node.name) && existsSync(`${this.localSocketDir}/.s.PGSQL.${node.port}`)) {
      node = { ...node, name: this.localSocketDir };
    }
    const client = new pg.Client(clientConfig(node, options));
    client.on("error", () => {}); // reported through the pending query instead
    try {
      await client.connect();
    } catch (e) {
      // With sslmode=prefer or allow, a server without TLS is acceptable in plaintext.
      const mode = options.conninfo.sslmode;
      if ((mode === "prefer" || mode === "allow") && /does not support SSL/i.test(String(e))) {
        return this.connect(node, { ...options, conninfo: { ...options.conninfo, sslmode: "disable" } });
      }
      throw connectionFailed(node, e);
    }
    return new PostgresClient(client, node);
  }

  async close(): Promise<void> {}
}

class PostgresClient implements NodeClient {
  private lastCommandTag = "";

  constructor(
    private readonly client: pg.Client,
    private readonly node: NodeAddress,
  ) {
    // node-postgres keeps only the first word of a command tag; the whole tag is wanted.
    const connection = (client as unknown as { connection: { on(e: string, f: (m: { text: string }) => void): void } })
      .connection;
    connection.on("commandComplete", (m) => (this.lastCommandTag = m.text));
  }

  private readonly prepared = new Map<string, string>();

  async query(sql: string, params: readonly (string | Buffer | null)[] = [], prepare = false): Promise<QueryResult> {
    let name: string | undefined;
    if (prepare) {
      name = this.prepared.get(sql);
      if (!name && this.prepared.size < 1000) {
        name = `canopy_${this.prepared.size + 1}`;
        this.prepared.set(sql, name);
      }
    }
    // node-postgres writes each protocol message separately; corking sends them in one write
    // (one TLS record and one syscall instead of four).
    const stream = (
      this.client as unknown as { connection: { stream: NodeJS.WritableStream & { cork?(): void; uncork?(): void } } }
    ).connection.stream;
    stream.cork?.();
    process.nextTick(() => stream.uncork?.());
    try {
      const r = await this.client.query({
        text: sql,
        name,
        values: params.length > 0 ? (params as unknown[]) : undefined,
        rowMode: "array",
      });
      const last = Array.isArray(r) ? r[r.length - 1] : r;
      return {
        fields: (last.fields ?? []).map((f: pg.FieldDef) => ({ name: f.name, typeOid: f.dataTypeID })),
        rows: (last.rows ?? []) as (string | null)[][],
        command: this.lastCommandTag,
      };
    } catch (e) {
      throw toRemoteError(e);
    }
  }

  copyIn(sql: string, data: readonly Buffer[]): Promise<QueryResult> {
    return this.copy(sql, data, null);
  }

  copyOut(sql: string, onData: (chunk: Buffer) => void): Promise<QueryResult> {
    return this.copy(sql, null, onData);
  }

  private copy(sql: string, data: readonly Buffer[] | null, onData: ((chunk: Buffer) => void) | null) {
    return new Promise<QueryResult>((resolve, reject) => {
      void this.client.query(
        new CopyQuery(sql, data, onData, (error, command) =>
          error ? reject(toRemoteError(error)) : resolve({ fields: [], rows: [], command }),
        ) as unknown as pg.QueryConfig,
      );
    });
  }

  get backendPid(): number | null {
    return (this.client as unknown as { processID: number | null }).processID;
  }

  cancel(): Promise<void> {
    const { processID, secretKey } = this.client as unknown as { processID: number | null; secretKey: number | null };
    if (processID === null || secretKey === null) return Promise.resolve();
    return sendCancelRequest(this.node.name, this.node.port, processID, secretKey);
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => {});
  }
}

/**
 * A COPY run through node-postgres as a custom query: it sends the data after CopyInResponse, or
 * hands over each CopyData of a COPY TO, and ends at ReadyForQuery (or at the error, after which
 * node-postgres calls nothing else).
 */
class CopyQuery {
  private command = "";
  private finished = false;

  constructor(
    readonly text: string,
    private readonly data: readonly Buffer[] | null,
    private readonly onData: ((chunk: Buffer) => void) | null,
    private readonly done: (error: unknown, command: string) => void,
  ) {}

  submit(connection: { query(text: string): void }): void {
    connection.query(this.text);
  }

  handleCopyInResponse(connection: {
    sendCopyFromChunk(c: Buffer): void;
    endCopyFrom(): void;
    sendCopyFail(m: string): void;
  }): void {
    if (!this.data) return connection.sendCopyFail("no COPY data");
    for (const chunk of this.data) connection.sendCopyFromChunk(chunk);
    connection.endCopyFrom();
  }

  handleCopyData(message: { chunk: Buffer }): void {
    this.onData?.(message.chunk);
  }

  handleCommandComplete(message: { text: string }): void {
    this.command = message.text;
  }

  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}

  handleError(error: unknown): void {
    this.finish(error);
  }

  handleReadyForQuery(): void {
    this.finish(null);
  }

  private finish(error: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.done(error, this.command);
  }
}

/** Converts a node-postgres error into a RemoteError with PostgreSQL's fields. */
export function toRemoteError(e: unknown): Error {
  const d = e as pg.DatabaseError;
  if (d && typeof d === "object" && typeof d.code === "string" && d.severity) {
    return new RemoteError({
      severity: d.severity,
      code: d.code,
      message: d.message,
      detail: d.detail,
      hint: d.hint,
      position: d.position,
      where: d.where,
      schema: d.schema,
      table: d.table,
      column: d.column,
      dataType: d.dataType,
      constraint: d.constraint,
    });
  }
  return new SqlError("08006", `connection to node lost: ${e instanceof Error ? e.message : String(e)}`);
}

/**
 * Sends a CancelRequest for a backend over a new connection, as libpq's PQcancel does (without
 * TLS: the server reads it before any negotiation); resolves once the server has closed it.
 */
export function sendCancelRequest(host: string, port: number, processId: number, secretKey: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = openSocket(host, port);
    socket.on("error", () => resolve());
    socket.on("close", () => resolve());
    socket.on("connect", () => socket.end(write.cancelRequest(processId, secretKey)));
  });
}

/** Opens a plain socket to a PostgreSQL server: a unix socket when host is a directory. */
export function openSocket(host: string, port: number): net.Socket {
  const socket = host.startsWith("/") ? net.connect({ path: `${host}/.s.PGSQL.${port}` }) : net.connect({ host, port });
  socket.setNoDelay(true);
  return socket;
}
