// Node gateway for real PostgreSQL servers, over TCP or a unix socket, with TLS as node_conninfo says.
import { existsSync, readFileSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import pg from "pg";
import type { Duplex } from "node:stream";
import type { ConnectOptions, NodeAddress, NodeClient, NodeGateway } from "./gateway.js";
import { WireClient } from "./wire.js";
import { connectionFailed } from "./gateway.js";
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
  readonly parallel = true;

  /**
   * `localSocketDir`: where servers on this machine keep their unix sockets. A node named
   * localhost (or a loopback address) whose socket is there is reached through it: no TCP, no TLS.
   */
  constructor(private readonly localSocketDir?: string) {}

  async connect(node: NodeAddress, options: ConnectOptions): Promise<NodeClient> {
    let target = node;
    if (this.localSocketDir && loopback.has(node.name) && existsSync(`${this.localSocketDir}/.s.PGSQL.${node.port}`)) {
      target = { ...node, name: this.localSocketDir };
    }
    const client = new pg.Client(clientConfig(target, options));
    client.on("error", () => {}); // reported through the pending query instead
    try {
      await client.connect();
    } catch (e) {
      // With sslmode=prefer or allow, a server without TLS is acceptable in plaintext.
      const mode = options.conninfo.sslmode;
      if ((mode === "prefer" || mode === "allow") && /does not support SSL/i.test(String(e))) {
        return this.connect(node, { ...options, conninfo: { ...options.conninfo, sslmode: "disable" } });
      }
      // Named as pg_dist_node names it, not by the socket it was reached through.
      throw connectionFailed(node, e);
    }
    return takeOver(client, target);
  }

  async close(): Promise<void> {}
}

/**
 * Takes a connected node-postgres client's socket over: node-postgres did TLS, startup and
 * authentication (trust, password, md5, SCRAM); the protocol from ReadyForQuery on is the wire
 * client's, which pipelines requests.
 */
function takeOver(client: pg.Client, node: NodeAddress): WireClient {
  const internals = client as unknown as {
    connection: { stream: Duplex };
    processID: number | null;
    secretKey: number | null;
  };
  const socket = internals.connection.stream;
  for (const event of ["data", "end", "close", "error"]) socket.removeAllListeners(event);
  const { processID, secretKey } = internals;
  const cancel = () =>
    processID === null || secretKey === null
      ? Promise.resolve()
      : sendCancelRequest(node.name, node.port, processID, secretKey);
  return new WireClient(socket, processID, cancel);
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
