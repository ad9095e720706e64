// How the bench measures one workload against one server: pgbench throughput, the median time of
// a statement, COPY through psql, and throughput with many idle connections held open meanwhile.
import { execFile, spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { promisify } from "node:util";
import pg from "pg";

export const run = promisify(execFile);

/** Runs pgbench for its `-T` seconds; returns its tps, failing on any failed transaction. */
export async function pgbenchTps(url: string, args: string[], seconds: number): Promise<number> {
  const timeout = seconds + 120;
  const { stdout } = await run("pgbench", [...args, url], { timeout: timeout * 1000 }).catch((e) => {
    const { killed, stdout, stderr } = e as { killed?: boolean; stdout?: string; stderr?: string };
    if (killed) throw new Error(`pgbench ${args.join(" ")} did not finish within ${timeout} s`);
    throw new Error(`pgbench ${args.join(" ")} failed:\n${stderr || stdout}`);
  });
  const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout);
  if (!m) throw new Error(`pgbench printed no tps:\n${stdout}`);
  if (!/number of failed transactions: 0 /.test(stdout)) throw new Error(`pgbench had failures:\n${stdout}`);
  return Number(m[1]);
}

/** Runs statements in turn on a connection of their own. */
export async function sql(url: string, statements: string[]): Promise<void> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    for (const s of statements) await client.query(s);
  } finally {
    await client.end();
  }
}

/** The median time of a statement over several runs, after one warm-up run. */
export async function medianMs(url: string, statement: string, runs = 5): Promise<number> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    await client.query(statement);
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const start = process.hrtime.bigint();
      await client.query(statement);
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    return median(times);
  } finally {
    await client.end();
  }
}

export function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
}

/** Runs psql with a file on its stdin; returns the wall-clock milliseconds. */
function psqlWithInput(url: string, command: string, inputFile: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const fd = openSync(inputFile, "r");
    const start = process.hrtime.bigint();
    const child = spawn("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", command], {
      stdio: [fd, "ignore", "pipe"],
    });
    let err = "";
    child.stderr!.on("data", (c: Buffer) => (err += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      closeSync(fd);
      if (code !== 0) reject(new Error(`psql failed: ${err}`));
      else resolve(Number(process.hrtime.bigint() - start) / 1e6);
    });
  });
}

/** The median time of COPY … FROM STDIN of a file into an emptied table, over three runs. */
export async function copyMs(url: string, table: string, file: string): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    await sql(url, [`TRUNCATE ${table}`]);
    times.push(await psqlWithInput(url, `COPY ${table} FROM STDIN`, file));
  }
  return median(times);
}

/** How many idle connections are opened at once: enough to be quick, few enough not to swamp a server. */
const OPEN_BATCH = 50;

/**
 * Opens `idle` connections that stay idle while `busy` runs, then asks each of them for
 * `SELECT 1`: any connection that failed to open, reported an error meanwhile or does not
 * answer fails the measurement.
 */
export async function withIdleConnections<T>(url: string, idle: number, busy: () => Promise<T>): Promise<T> {
  const clients: pg.Client[] = [];
  const errors: Error[] = [];
  try {
    while (clients.length < idle) {
      const opened = clients.length;
      const batch = Array.from({ length: Math.min(OPEN_BATCH, idle - opened) }, () => {
        const client = new pg.Client(url);
        client.on("error", (e) => errors.push(e));
        clients.push(client);
        return client;
      });
      await Promise.all(batch.map((c) => c.connect())).catch((e: Error) => {
        throw new Error(`opening ${idle} idle connections failed after ${opened}: ${e.message}`);
      });
    }
    const result = await busy();
    if (errors.length > 0) throw new Error(`an idle connection failed meanwhile: ${errors[0].message}`);
    const answers = await Promise.all(clients.map((c) => c.query("SELECT 1 AS one"))).catch((e: Error) => {
      throw new Error(`an idle connection did not answer SELECT 1: ${e.message}`);
    });
    const wrong = answers.filter((r) => r.rows[0]?.one !== 1).length;
    if (wrong > 0) throw new Error(`${wrong} idle connections answered SELECT 1 wrongly`);
    return result;
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
  }
}
