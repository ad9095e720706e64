// The node gateway: the one interface through which Canopy reaches a node (the coordinator database
// or a worker), with two implementations — real PostgreSQL over TCP or a unix socket, and PGlite in
// this process. Everything above it is the same code for both.
import type { ErrorFields } from "../protocol/messages.js";
import { SqlError } from "../errors.js";

/** A node as pg_dist_node names it. */
export interface NodeAddress {
  readonly name: string;
  readonly port: number;
}

/** Who connects to a node and with which extra libpq-style options (from node_conninfo, authinfo). */
export interface ConnectOptions {
  readonly user: string;
  readonly database: string;
  readonly conninfo: Readonly<Record<string, string>>;
  readonly connectTimeoutMs: number;
}

/** A query result with every value in text format. */
export interface QueryResult {
  readonly rows: (string | null)[][];
  readonly command: string;
  /** The rows as the node sent them (DataRow messages), when the client kept them. */
  readonly dataRows?: readonly Buffer[];
}

/**
 * COPY … FROM STDIN data made while the COPY runs (another connection's COPY … TO STDOUT): it is
 * handed over in whole rows through `write`, and the producer waits for what write returns (the
 * node is behind) before going on, so that the data in memory stays bounded. The producer's
 * failure ends the COPY with CopyFail; once the node has ended the COPY (it refused a row), the
 * rest of the data is dropped.
 */
export type CopyProducer = (write: (chunk: Buffer) => void | Promise<void>) => Promise<unknown>;

/**
 * Takes a result's DataRow messages as they arrive instead of the result keeping them; the node's
 * connection waits for a promise it returns (the client reads slowly) before reading on. A client
 * may still keep the rows in the result (an embedded node's do), where `dataRows` holds them.
 */
export type RowSink = (dataRow: Buffer) => void | Promise<void>;

/** A connection to a node that runs SQL and returns text rows. */
export interface NodeClient {
  /**
   * Runs SQL; string parameters are sent in text format, Buffers in binary. `prepare` keeps the
   * statement prepared on the connection for the next run of the same text. `begin` (a BEGIN
   * command) opens a transaction block just before the statement, in the same round trip.
   * `resultFormats` are the Bind's result format codes: with a binary one, the rows are kept as
   * the node sent them (`dataRows`), never decoded as text.
   */
  query(
    sql: string,
    params?: readonly (string | Buffer | null)[],
    prepare?: boolean,
    begin?: string,
    rows?: RowSink,
    resultFormats?: readonly number[],
  ): Promise<QueryResult>;
  /** Deallocates the statements `query` kept prepared (after DDL their result shapes may be stale). */
  forgetPrepared?(): Promise<void>;
  /** Runs COPY … FROM STDIN with the given data (whole rows, in the statement's format). */
  copyIn(sql: string, data: readonly Buffer[] | CopyProducer): Promise<QueryResult>;
  /**
   * Runs COPY … TO STDOUT, handing over the data as it arrives. While a promise onData returned
   * is pending (it must not reject), no more is read from the node: the node waits too.
   */
  copyOut(sql: string, onData: (chunk: Buffer) => void | Promise<void>): Promise<QueryResult>;
  /**
   * Asks the node to cancel the statement running on this connection, if any: the statement
   * fails with 57014. The request may arrive late and hit a later statement, so a connection
   * something was cancelled on should not be trusted with more work outside its transaction.
   */
  cancel(): Promise<void>;
  /** The node's process id serving this connection (pg_locks.pid), when the node has processes. */
  readonly backendPid: number | null;
  close(): Promise<void>;
  /** The pid of the node's backend serving this connection (none for an embedded node). */
  readonly processId?: number | null;
}

/**
 * A byte-level link to a node speaking the frontend/backend protocol after startup: bytes written
 * go to the node as they are, bytes received come back in chunks as the node sends them.
 */
export interface RawLink {
  write(bytes: Buffer): void;
  onData(listener: (chunk: Buffer) => void): void;
  onClose(listener: (error?: Error) => void): void;
  /** Stops reading from the node until resume (backpressure from a slow client). */
  pause(): void;
  resume(): void;
  /** Asks the node to cancel what this link is running. */
  cancel(): Promise<void>;
  close(): void;
  /**
   * While the node is behind in reading what was written to it (more than a few MB wait): resolves
   * once it has caught up, so that the writer can stop reading its own source meanwhile.
   */
  backlogged?(): Promise<void> | undefined;
}

/** Reaches nodes; the coordinator has one gateway for all of them. */
export interface NodeGateway {
  /**
   * Whether a node serves each connection with a process of its own (a real server): connections
   * then run in parallel and count against its max_connections. PGlite has one backend per node.
   */
  readonly parallel: boolean;
  connect(node: NodeAddress, options: ConnectOptions): Promise<NodeClient>;
  close(): Promise<void>;
}

/** An error a node reported, carried with all its ErrorResponse fields. */
export class RemoteError extends Error {
  constructor(readonly fields: ErrorFields) {
    super(fields.message);
  }
}

/**
 * The error for a node that cannot be reached, naming it as Citus does; 53300 when the node
 * refused the connection because its max_connections is reached (worth trying again).
 */
export function connectionFailed(node: NodeAddress, cause: unknown): SqlError {
  const code = (cause as { code?: string })?.code;
  const why =
    code === "ECONNREFUSED"
      ? "Connection refused"
      : code === "ENOTFOUND" || code === "EAI_AGAIN"
        ? `could not translate host name "${node.name}" to address`
        : cause instanceof Error
          ? cause.message
          : String(cause);
  return new SqlError(
    code === "53300" ? "53300" : "08001",
    `connection to the remote node ${node.name}:${node.port} failed with the following error: ${why}`,
  );
}

/** Parses a libpq key=value connection string (values may be single-quoted with \\ escapes). */
export function parseConninfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /\s*([A-Za-z_]+)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(\S+))/gy;
  let m: RegExpExecArray | null;
  let last = 0;
  while ((m = re.exec(text)) !== null) {
    out[m[1]] = m[2] !== undefined ? m[2].replace(/\\(.)/g, "$1") : m[3];
    last = re.lastIndex;
  }
  if (text.slice(last).trim() !== "") throw new SqlError("22023", `invalid connection string: ${JSON.stringify(text)}`);
  return out;
}

/** The libpq parameters canopy.node_conninfo and pg_dist_authinfo may set. */
export const allowedConninfoKeys = new Set([
  "application_name",
  "connect_timeout",
  "keepalives",
  "keepalives_count",
  "keepalives_idle",
  "keepalives_interval",
  "password",
  "sslcert",
  "sslcompression",
  "sslcrl",
  "sslkey",
  "sslmode",
  "sslrootcert",
  "tcp_user_timeout",
]);
