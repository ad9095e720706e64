// node-postgres clients in tests: one for a piece of a test's work, closed afterwards whatever
// happens, or one for the tests of a describe with their cluster; the outcome of a query that may
// fail.
import { before, after } from "node:test";
import pg from "pg";
import { startCluster, type TestCluster } from "./cluster.js";
import { RawConnection, cancelRequest } from "./raw.js";

/** A connected client whose connection errors surface through its queries. */
export async function connect(url: string): Promise<pg.Client> {
  const c = new pg.Client(url);
  c.on("error", () => {});
  await c.connect();
  return c;
}

/** Connects to `url`, runs `f` with the client and closes it (errors of the connection are f's). */
export async function withClient<T>(url: string, f: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = await connect(url);
  try {
    return await f(c);
  } finally {
    await c.end().catch(() => {});
  }
}

/** The error a query ends with (null if it succeeds), and how long it took. */
export async function outcome(p: Promise<unknown>): Promise<{ error: pg.DatabaseError | null; ms: number }> {
  const start = Date.now();
  try {
    await p;
    return { error: null, ms: Date.now() - start };
  } catch (e) {
    return { error: e as pg.DatabaseError, ms: Date.now() - start };
  }
}

/**
 * The commands sent to the workers that name `shards` (canopy.log_remote_commands' notices) while
 * `run` runs on the client.
 */
export async function remoteCommands(c: pg.Client, shards: RegExp, run: () => Promise<unknown>): Promise<string[]> {
  const notices: string[] = [];
  const listen = (n: { message?: string }) => notices.push(n.message ?? "");
  c.on("notice", listen);
  await c.query("SET canopy.log_remote_commands = on");
  try {
    await run();
  } finally {
    await c.query("RESET canopy.log_remote_commands");
    c.off("notice", listen);
  }
  return notices.filter((n) => shards.test(n));
}

/** Sends a raw CancelRequest for a node-postgres client's session, as libpq's PQcancel does. */
export async function sendCancel(port: number, client: pg.Client): Promise<void> {
  const { processID, secretKey } = client as unknown as { processID: number; secretKey: number };
  const conn = await RawConnection.connect(port);
  conn.write(cancelRequest(processID, secretKey));
  await conn.waitClosed(3000);
}

/** A cluster and a node-postgres client on it, for the tests of one describe (see clientSuite). */
export interface ClientSuite {
  cluster: TestCluster;
  c: pg.Client;
}

/**
 * Within a describe: before its tests, starts a cluster of `kind`, connects a client and runs each
 * of `setup` with it; after them, closes both.
 */
export function clientSuite(kind: "local" | "embedded", setup: readonly string[] = []): ClientSuite {
  const suite = {} as ClientSuite;
  before(async () => {
    suite.cluster = await startCluster(kind);
    suite.c = await connect(suite.cluster.url);
    for (const sql of setup) await suite.c.query(sql);
  });
  after(async () => {
    await suite.c?.end();
    await suite.cluster?.stop();
  });
  return suite;
}
