// Node management UDFs: adding, removing, disabling and activating workers, listing the active ones,
// checking connections and running a command on every worker. Metadata is read and written on the
// calling session's connection, so the changes are part of its transaction; refusals happen before
// anything is written.
import { SqlError } from "../errors.js";
import { parseConninfo, type NodeClient } from "../nodes/gateway.js";
import type { Session } from "../server/session.js";
import type { Coordinator } from "../server/coordinator.js";
import type { UdfResult } from "../commands/udfs.js";
import { createRecordedObjects } from "../commands/objects.js";
import { prepareRoles } from "../commands/roles.js";
import { replicateReferenceTables } from "./reference_tables.js";

const minimumServerVersion = 150000;

async function query(session: Session, sql: string, ...params: (string | null)[]): Promise<(string | null)[][]> {
  return session.internalQuery(
    sql,
    params.map((p) => (p === null ? null : Buffer.from(p, "utf8"))),
  );
}

/** Opens a connection to a node as the session's user, with node_conninfo and pg_dist_authinfo applied. */
export async function connectToNode(session: Session, name: string, port: number): Promise<NodeClient> {
  const [conninfo, timeoutMs] = await session.currentSettings([
    "canopy.node_conninfo",
    "canopy.node_connection_timeout",
  ]);
  return connectAsSession(session, { nodename: name, nodeport: port }, conninfo, Number(timeoutMs), true);
}

/**
 * Opens a connection to a node as the session's user with the given canopy.node_conninfo and
 * canopy.node_connection_timeout; `patient`: a node refusing connections (max_connections
 * reached) is tried again until the timeout.
 */
export function connectAsSession(
  session: Session,
  node: { nodename: string; nodeport: number },
  nodeConninfo: string,
  timeoutMs: number,
  patient: boolean,
): Promise<NodeClient> {
  return connectWith(
    session.coordinator,
    { name: node.nodename, port: node.nodeport },
    { user: session.user, database: session.database },
    parseConninfo(nodeConninfo),
    timeoutMs,
    // pg_dist_authinfo holds passwords: only the coordinator database's own user reads it (an
    // embedded one has no other user to read it as).
    async (sql, params) =>
      session.coordinator.database.kind === "pglite"
        ? session.internalQuery(
            sql,
            params.map((p) => Buffer.from(p, "utf8")),
          )
        : (await session.coordinator.adminQuery(sql, params)).rows,
    patient ? () => session.interrupts.check() : null,
  );
}

/**
 * Opens a connection to a node as the coordinator database's own user (background work), named
 * `canopy coordinator` in the node's pg_stat_activity unless node_conninfo names it.
 */
export async function connectAsCoordinator(coordinator: Coordinator, name: string, port: number): Promise<NodeClient> {
  const db = coordinator.database;
  return connectWith(
    coordinator,
    { name, port },
    { user: db.user, database: db.database },
    { application_name: "canopy coordinator", ...parseConninfo(coordinator.settings["canopy.node_conninfo"]) },
    Number(coordinator.settings["canopy.node_connection_timeout"]),
    async (sql, params) => (await coordinator.adminQuery(sql, params)).rows,
    () => {},
  );
}

/**
 * Connects with pg_dist_authinfo applied. With `whileRefused` (which throws to give up), a node
 * refusing connections because its max_connections is reached is tried again, backing off, until
 * `connectTimeoutMs` has passed.
 */
async function connectWith(
  coordinator: Coordinator,
  node: { name: string; port: number },
  who: { user: string; database: string },
  conninfo: Record<string, string>,
  connectTimeoutMs: number,
  query: (sql: string, params: string[]) => Promise<(string | null)[][]>,
  whileRefused: (() => void) | null,
): Promise<NodeClient> {
  const auth = await query(
    `SELECT a.authinfo FROM pg_catalog.pg_dist_authinfo a
       LEFT JOIN pg_catalog.pg_dist_node n ON n.nodeid = a.nodeid
      WHERE a.rolename = $3 AND (a.nodeid = 0 OR (n.nodename = $1 AND n.nodeport = $2::int))
      ORDER BY a.nodeid DESC LIMIT 1`,
    [node.name, String(node.port), who.user],
  );
  if (auth.length > 0 && auth[0][0]) Object.assign(conninfo, parseConninfo(auth[0][0]));
  const deadline = Date.now() + connectTimeoutMs;
  for (let delayMs = 10; ; delayMs = Math.min(delayMs * 2, 1000)) {
    try {
      return await coordinator.gateway.connect(node, { ...who, conninfo, connectTimeoutMs });
    } catch (e) {
      const leftMs = deadline - Date.now();
      if (whileRefused === null || !(e instanceof SqlError && e.code === "53300")) throw e;
      if (leftMs <= 0) {
        throw new SqlError("53300", e.message, {
          detail: `The node refused connections for canopy.node_connection_timeout (${connectTimeoutMs} ms).`,
          hint: "Raise max_connections on the node, or lower canopy.max_shared_pool_size.",
        });
      }
      whileRefused();
      await new Promise((resolve) => setTimeout(resolve, Math.min(delayMs, leftMs)));
    }
  }
}

/**
 * Serializes node management across sessions and coordinators until the transaction ends, and
 * announces the change of the node metadata it is about to make.
 */
async function lockNodeMetadata(session: Session): Promise<void> {
  await query(session, "SELECT pg_catalog.pg_advisory_xact_lock(7301, 1)");
  session.noteMetadataChange();
}

function nodeArgument(args: readonly (string | null)[]): { name: string; port: number } {
  const [name, portText] = args;
  if (name === null || name === "") throw new SqlError("22004", "node name cannot be NULL or empty");
  if (portText === null) throw new SqlError("22004", "node port cannot be NULL");
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new SqlError("22023", `invalid port number ${portText}`, { hint: "A port is between 1 and 65535." });
  }
  return { name, port };
}

async function findNode(
  session: Session,
  name: string,
  port: number,
): Promise<{ nodeid: string; groupid: string; noderole: string }> {
  const rows = await query(
    session,
    "SELECT nodeid, groupid, noderole FROM pg_catalog.pg_dist_node WHERE nodename = $1 AND nodeport = $2::int",
    name,
    String(port),
  );
  if (rows.length === 0) throw new SqlError("42704", `node at "${name}:${port}" does not exist`);
  return { nodeid: rows[0][0]!, groupid: rows[0][1]!, noderole: rows[0][2]! };
}

/** Connects to a node and checks that it runs a supported PostgreSQL. */
async function ensureNodeIsReachable(session: Session, name: string, port: number): Promise<void> {
  const client = await connectToNode(session, name, port);
  try {
    const r = await client.query("SELECT pg_catalog.current_setting('server_version_num')::int");
    const version = Number(r.rows[0][0]);
    if (version < minimumServerVersion) {
      throw new SqlError("0A000", `node ${name}:${port} runs PostgreSQL ${version}; Canopy needs 15 or later`);
    }
  } finally {
    await client.close();
  }
}

/** canopy_add_node: registers a reachable worker and returns its node id. */
export async function addNode(session: Session, args: readonly (string | null)[]): Promise<UdfResult> {
  const { name, port } = nodeArgument(args);
  const groupid = args[2] ?? "-1";
  const role = args[3] ?? "primary";
  const cluster = args[4] ?? "default";
  await lockNodeMetadata(session);
  const existing = await query(
    session,
    "SELECT nodeid FROM pg_catalog.pg_dist_node WHERE nodename = $1 AND nodeport = $2::int",
    name,
    String(port),
  );
  if (existing.length > 0) {
    throw new SqlError("42710", `node at "${name}:${port}" already exists`, {
      detail: `It was added with node id ${existing[0][0]}.`,
    });
  }
  await ensureNodeIsReachable(session, name, port);
  const rows = await query(
    session,
    `INSERT INTO pg_catalog.pg_dist_node (nodename, nodeport, groupid, noderole, nodecluster)
     VALUES ($1, $2::int, CASE WHEN $3::int = -1 THEN nextval('pg_catalog.pg_dist_groupid_seq')::int ELSE $3::int END,
             $4::pg_catalog.noderole, $5::name)
     RETURNING nodeid, groupid`,
    name,
    String(port),
    groupid,
    role,
    cluster,
  );
  if (role === "primary") await prepareWorker(session, { nodeid: rows[0][0]!, groupid: rows[0][1]! }, name, port);
  return { kind: "scalar", type: "integer", value: rows[0][0] };
}

/**
 * Gives a worker joining the cluster what its shards will need: the roles and the schemas'
 * privileges, the types, functions and extensions recorded for the workers, and a placement of
 * every reference table, so that shards of distributed tables placed there can join them.
 */
async function prepareWorker(
  session: Session,
  ids: { nodeid: string; groupid: string },
  nodename: string,
  nodeport: number,
): Promise<void> {
  const node = {
    nodeid: Number(ids.nodeid),
    groupid: Number(ids.groupid),
    nodename,
    nodeport,
    isactive: true,
    noderole: "primary",
    shouldhaveshards: true,
  };
  await prepareRoles(session, node);
  await createRecordedObjects(session, node);
  await replicateReferenceTables(session, node);
}

/** canopy_remove_node: unregisters a worker unless it holds the only placement of a shard. */
export async function removeNode(session: Session, args: readonly (string | null)[]): Promise<UdfResult> {
  const { name, port } = nodeArgument(args);
  await lockNodeMetadata(session);
  const node = await findNode(session, name, port);
  const onlyPlacement = await query(
    session,
    `SELECT p.shardid FROM pg_catalog.pg_dist_placement p
      WHERE p.groupid = $1::int
        AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_placement o
                         WHERE o.shardid = p.shardid AND o.groupid <> p.groupid AND o.shardstate = 1)
      ORDER BY p.shardid LIMIT 1`,
    node.groupid,
  );
  if (onlyPlacement.length > 0) {
    throw new SqlError(
      "55000",
      `cannot remove or disable the node ${name}:${port} because it contains the only shard placement for shard ${onlyPlacement[0][0]}`,
      { hint: "Move the shards off the node with canopy_move_shard_placement, or drop the distributed tables first." },
    );
  }
  const others = await query(
    session,
    "SELECT count(*) FROM pg_catalog.pg_dist_node WHERE groupid = $1::int",
    node.groupid,
  );
  if (others[0][0] === "1")
    await query(session, "DELETE FROM pg_catalog.pg_dist_placement WHERE groupid = $1::int", node.groupid);
  await query(session, "DELETE FROM pg_catalog.pg_dist_authinfo WHERE nodeid = $1::int", node.nodeid);
  await query(session, "DELETE FROM pg_catalog.pg_dist_node WHERE nodeid = $1::int", node.nodeid);
  return { kind: "scalar", type: "void", value: "" };
}

/** canopy_disable_node: marks a worker inactive; queries stop using it. */
export async function disableNode(session: Session, args: readonly (string | null)[]): Promise<UdfResult> {
  const { name, port } = nodeArgument(args);
  await lockNodeMetadata(session);
  const node = await findNode(session, name, port);
  await query(session, "UPDATE pg_catalog.pg_dist_node SET isactive = false WHERE nodeid = $1::int", node.nodeid);
  return { kind: "scalar", type: "void", value: "" };
}

/**
 * canopy_activate_node: marks a reachable worker active again, gives it what was created for the
 * workers while it was inactive (recorded objects, reference tables) and returns its node id.
 */
export async function activateNode(session: Session, args: readonly (string | null)[]): Promise<UdfResult> {
  const { name, port } = nodeArgument(args);
  await lockNodeMetadata(session);
  const node = await findNode(session, name, port);
  await ensureNodeIsReachable(session, name, port);
  await query(session, "UPDATE pg_catalog.pg_dist_node SET isactive = true WHERE nodeid = $1::int", node.nodeid);
  if (node.noderole === "primary") await prepareWorker(session, node, name, port);
  return { kind: "scalar", type: "integer", value: node.nodeid };
}

async function activeWorkers(session: Session): Promise<{ name: string; port: number }[]> {
  const rows = await query(
    session,
    `SELECT nodename, nodeport FROM pg_catalog.pg_dist_node
      WHERE isactive AND noderole = 'primary' AND groupid <> 0 ORDER BY nodeid`,
  );
  return rows.map((r) => ({ name: r[0]!, port: Number(r[1]) }));
}

/** master_get_active_worker_nodes: the active primary workers. */
export async function activeWorkerNodes(session: Session): Promise<UdfResult> {
  const workers = await activeWorkers(session);
  return { kind: "set", type: "pg_catalog.canopy_worker_node", rows: workers.map((w) => [w.name, String(w.port)]) };
}

/** Runs a command on one node and reduces its result to one value, as run_command_on_workers reports it. */
async function runOnNode(session: Session, name: string, port: number, command: string): Promise<(string | null)[]> {
  let client: NodeClient | null = null;
  try {
    client = await connectToNode(session, name, port);
    const r = await client.query(command);
    // A statement that returned no rows counts as a query when its tag says SELECT.
    if (r.rows.length === 0 && !r.command.startsWith("SELECT")) return [name, String(port), "t", r.command];
    if (r.rows.length !== 1) return [name, String(port), "f", "expected a single row in query result"];
    if (r.rows[0].length !== 1) return [name, String(port), "f", "expected a single column in query result"];
    return [name, String(port), "t", r.rows[0][0]];
  } catch (e) {
    return [name, String(port), "f", e instanceof Error ? e.message : String(e)];
  } finally {
    await client?.close();
  }
}

/** run_command_on_workers: runs a command on every active worker, in parallel unless told not to. */
export async function runCommandOnWorkers(session: Session, args: readonly (string | null)[]): Promise<UdfResult> {
  const [command, parallel] = args;
  if (command === null) throw new SqlError("22004", "command cannot be NULL");
  const workers = await activeWorkers(session);
  const rows: (string | null)[][] = [];
  if (parallel === "false") {
    for (const w of workers) rows.push(await runOnNode(session, w.name, w.port, command));
  } else {
    // Settings are read from the session connection first; it serves one request at a time.
    const clients = [];
    for (const w of workers) clients.push(runOnNode(session, w.name, w.port, command));
    rows.push(...(await Promise.all(clients)));
  }
  return { kind: "set", type: "pg_catalog.canopy_command_result", rows };
}

/** canopy_check_connection_to_node: whether the coordinator can connect to a node. */
export async function checkConnectionToNode(session: Session, args: readonly (string | null)[]): Promise<UdfResult> {
  const { name, port } = nodeArgument(args);
  try {
    const client = await connectToNode(session, name, port);
    await client.query("SELECT 1");
    await client.close();
    return { kind: "scalar", type: "boolean", value: "true" };
  } catch (e) {
    if (e instanceof SqlError && e.code !== "08001") throw e;
    return { kind: "scalar", type: "boolean", value: "false" };
  }
}
