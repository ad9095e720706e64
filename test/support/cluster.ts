// Test clusters started through the canopy command itself, as a user would: a local cluster of real
// PostgreSQL servers (`canopy local up`) and the embedded cluster (`canopy dev`).
import { spawn, execFile } from "node:child_process";
import { mkdtemp, rm, chmod, readFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { findFreePortRange } from "../../src/nodes/pgserver.js";

const run = promisify(execFile);
export const canopyBin = fileURLToPath(new URL("../../src/cli/canopy.js", import.meta.url));

export interface TestCluster {
  readonly kind: "local" | "embedded";
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  readonly url: string;
  readonly port: number;
  readonly workerPorts: readonly number[];
  /** For local clusters: the coordinator database's port. */
  readonly coordinatorDbPort?: number;
  readonly dir?: string;
  /** For embedded clusters: the `canopy dev` process. */
  readonly pid?: number;
  stop(): Promise<void>;
  /**
   * Local clusters: kills the coordinator process (SIGKILL) if it runs, and starts it again
   * through `canopy local up` with extra environment variables (fault injection).
   */
  restartCoordinator?(env?: Record<string, string>): Promise<void>;
}

/** Starts `canopy local up` in a fresh temp directory on free ports, with canopy.* settings. */
export async function startLocalCluster(workers = 2, settings: Record<string, string> = {}): Promise<TestCluster> {
  const dir = await mkdtemp(join(tmpdir(), "canopy-local-"));
  await chmod(dir, 0o755);
  const port = await findFreePortRange(workers + 2);
  try {
    await run(
      process.execPath,
      [
        canopyBin,
        "local",
        "up",
        dir,
        "--port",
        String(port),
        "--workers",
        String(workers),
        "--fsync",
        "off",
        ...setFlags(settings),
      ],
      {
        timeout: 120_000,
      },
    );
  } catch (e) {
    await run(process.execPath, [canopyBin, "local", "down", dir]).catch(() => {});
    throw e;
  }
  return {
    kind: "local",
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    coordinatorDbPort: port + 1,
    workerPorts: Array.from({ length: workers }, (_, i) => port + 2 + i),
    dir,
    async restartCoordinator(env: Record<string, string> = {}) {
      const pidFile = join(dir, "coordinator.pid");
      try {
        const pid = Number(await readFile(pidFile, "utf8"));
        process.kill(pid, "SIGKILL");
        for (let i = 0; i < 100; i++) {
          process.kill(pid, 0);
          await new Promise((r) => setTimeout(r, 50));
        }
      } catch {
        // not running (any more)
      }
      await run(
        process.execPath,
        [canopyBin, "local", "up", dir, "--port", String(port), "--workers", String(workers), "--fsync", "off"],
        { timeout: 120_000, env: { ...process.env, ...env } },
      );
    },
    async stop() {
      await run(process.execPath, [canopyBin, "local", "down", dir], { timeout: 60_000 }).catch(() => {});
      await reportCrashes(dir);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Before a local cluster's directory goes: the end of its coordinator's log, on stderr, when a
 * coordinator process died or logged a session's unexpected error (the tests that kill one on
 * purpose report theirs too). Otherwise a crash in a test run leaves nothing to look at.
 */
async function reportCrashes(dir: string): Promise<void> {
  const log = await readFile(join(dir, "coordinator.log"), "utf8").catch(() => "");
  if (!/exited \(|^session \d+: |^\s+at |Error:/m.test(log)) return;
  const tail = log.split("\n").slice(-80).join("\n");
  process.stderr.write(`--- the end of the coordinator log of ${dir} ---\n${tail}\n--- end ---\n`);
}

/** Starts `canopy dev --memory` as a child process on a free port, with canopy.* settings. */
export async function startEmbeddedCluster(workers = 2, settings: Record<string, string> = {}): Promise<TestCluster> {
  const port = await findFreePortRange(workers + 1);
  const child = spawn(
    process.execPath,
    [canopyBin, "dev", "--memory", "--port", String(port), "--workers", String(workers), ...setFlags(settings)],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`canopy dev did not start: ${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("canopy ready:")) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (c: Buffer) => (output += c.toString()));
    child.once("exit", (code) => reject(new Error(`canopy dev exited with ${code}: ${output}`)));
  });
  return {
    kind: "embedded",
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    workerPorts: Array.from({ length: workers }, (_, i) => port + 1 + i),
    pid: child.pid,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
    },
  };
}

/**
 * A local cluster's coordinator's memory in bytes, from /proc: resident now (VmRSS) or at its peak
 * so far (VmHWM), of its supervisor and coordinator processes together.
 */
export function coordinatorMemory(cluster: TestCluster, field: "VmRSS" | "VmHWM"): number {
  const supervisor = readFileSync(join(cluster.dir!, "coordinator.pid"), "utf8").trim();
  const children = readFileSync(`/proc/${supervisor}/task/${supervisor}/children`, "utf8").split(" ");
  let bytes = 0;
  for (const pid of [supervisor, ...children.filter((p) => p !== "")]) {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    bytes += Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)![1]) * 1024;
  }
  return bytes;
}

/** canopy.* settings as the canopy command's --set flags. */
export function setFlags(settings: Record<string, string>): string[] {
  return Object.entries(settings).flatMap(([name, value]) => ["--set", `${name}=${value}`]);
}

/** Which clusters a test file runs against: both unless CANOPY_TEST_CLUSTERS narrows it. */
export function clusterKinds(): ("local" | "embedded")[] {
  const only = process.env.CANOPY_TEST_CLUSTERS;
  return only ? (only.split(",") as ("local" | "embedded")[]) : ["local", "embedded"];
}

/** Starts a cluster of the given kind. */
export function startCluster(kind: "local" | "embedded"): Promise<TestCluster> {
  return kind === "local" ? startLocalCluster() : startEmbeddedCluster();
}
