// Test helper that starts throwaway local PostgreSQL servers in temp directories
// (self-signed TLS, fsync off) and tears them down again.

import { readFileSync, rmSync } from "node:fs";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  findFreePort,
  findPostgresBinDir,
  generateSelfSignedCertificate,
  initServer,
  startServer,
  stopServer,
} from "../../src/nodes/pgserver.js";

/** A running temporary PostgreSQL server. */
export interface TempPostgres {
  port: number;
  socketDir: string;
  dataDir: string;
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  url: string;
  /** Stops the server (immediate mode) and removes its directory; safe to call twice. */
  stop(): Promise<void>;
}

// Servers still alive when the process exits (e.g. a test forgot stop() or crashed)
// get an immediate-shutdown signal and their directories removed, synchronously.
const live = new Map<string, string>(); // baseDir -> dataDir
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const [baseDir, dataDir] of live) {
      try {
        const pid = Number.parseInt(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0] ?? "", 10);
        if (pid > 0) process.kill(pid, "SIGQUIT"); // SIGQUIT = immediate shutdown
      } catch {
        // not running
      }
      try {
        rmSync(baseDir, { recursive: true, force: true });
      } catch {
        // best effort
      }
    }
  });
}

/** Reports whether PostgreSQL server binaries are installed on this machine. */
export function hasPostgres(): boolean {
  try {
    findPostgresBinDir();
    return true;
  } catch {
    return false;
  }
}

/** Creates, configures and starts a temporary PostgreSQL server under os.tmpdir(). */
export async function startTempPostgres(opts: { fsync?: boolean } = {}): Promise<TempPostgres> {
  const baseDir = await mkdtemp(join(tmpdir(), "canopy-pg-"));
  await chmod(baseDir, 0o755); // the postgres OS user must be able to traverse it
  const dataDir = join(baseDir, "data");
  const socketDir = join(baseDir, "sock");
  installExitHook();
  live.set(baseDir, dataDir);

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    try {
      await stopServer(dataDir, "immediate");
    } finally {
      live.delete(baseDir);
      await rm(baseDir, { recursive: true, force: true });
    }
  };

  try {
    const { certFile, keyFile } = await generateSelfSignedCertificate(join(baseDir, "certs"));
    // The port may be taken between findFreePort() and the server binding it; retry with a new one.
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await findFreePort();
      await initServer({ dataDir, port, socketDir, certFile, keyFile, fsync: opts.fsync ?? false });
      try {
        await startServer(dataDir);
        return { port, socketDir, dataDir, url: `postgres://postgres@127.0.0.1:${port}/postgres`, stop };
      } catch (err) {
        lastError = err;
        if (!/already in use|could not bind|could not create any TCP\/IP sockets/i.test(String(err))) break;
      }
    }
    throw lastError;
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
