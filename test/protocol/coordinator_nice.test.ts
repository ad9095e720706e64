// canopy.coordinator_nice: the nice value the coordinator's processes run at. `local up` gives its
// coordinator -10 (every process of such a cluster shares the machine's cores); `canopy serve`
// sets what the setting says before it forks the other processes, which take it along, and keeps
// the value it was started at when the setting is not given; where the value cannot be had (no
// CAP_SYS_NICE) the coordinator says so and serves at the value it has; a value out of range is
// refused before anything starts.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { findFreePortRange } from "../../src/nodes/pgserver.js";
import { canopyBin, setFlags, startLocalCluster, type TestCluster } from "../support/cluster.js";
import { connect } from "../support/client.js";
import { until } from "../support/wait.js";

/** A process's nice value, as /proc/PID/stat's 19th field gives it (the main thread's). */
function niceOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
}

/** The processes a supervisor started. */
function childrenOf(pid: number): number[] {
  const out = spawnSync("ps", ["-o", "pid=", "--ppid", String(pid)]).stdout.toString();
  return out
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map(Number);
}

const root = process.getuid?.() === 0;
const SETPRIV = "/usr/bin/setpriv";

describe("canopy.coordinator_nice", () => {
  let cluster: TestCluster;
  const serving: ChildProcess[] = [];

  before(async () => {
    cluster = await startLocalCluster(1);
  });

  after(async () => {
    for (const child of serving) child.kill("SIGKILL");
    await cluster?.stop();
  });

  /** `canopy serve`'s arguments for a coordinator on the cluster's coordinator database. */
  const serveArgs = (port: number, settings: Record<string, string>) => [
    canopyBin,
    "serve",
    "--coordinator-db",
    `postgres://postgres@127.0.0.1:${cluster.coordinatorDbPort}/postgres`,
    "--port",
    String(port),
    ...setFlags(settings),
  ];

  /**
   * Starts `canopy serve` on the cluster's coordinator database with the given settings (through
   * `wrapper` when given); resolves with the process and what it wrote to stderr once it is ready.
   */
  async function serve(
    settings: Record<string, string>,
    wrapper: string[] = [],
  ): Promise<{ child: ChildProcess; port: number; stderr: () => string }> {
    const port = await findFreePortRange(1);
    const [command, ...rest] = [...wrapper, process.execPath, ...serveArgs(port, settings)];
    const child = spawn(command, rest, { stdio: ["ignore", "pipe", "pipe"] });
    serving.push(child);
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    await until(
      async () => stdout.includes("canopy ready") || undefined,
      30_000,
      `the coordinator to start: ${stderr}`,
    );
    return { child, port, stderr: () => stderr };
  }

  test("local up runs its coordinator at -10", { skip: !root && "lowering a nice value needs root" }, () => {
    const pid = Number(readFileSync(join(cluster.dir!, "coordinator.pid"), "utf8"));
    assert.equal(niceOf(pid), -10);
  });

  test("serve sets the value before forking: every process runs at it", async () => {
    const { child } = await serve({ "canopy.coordinator_nice": "3", "canopy.coordinator_processes": "2" });
    const children = await until(
      async () => {
        const found = childrenOf(child.pid!);
        return found.length === 2 ? found : undefined;
      },
      20_000,
      "two coordinator processes",
    );
    assert.deepEqual([child.pid!, ...children].map(niceOf), [3, 3, 3]);
    child.kill("SIGTERM");
  });

  test("not set, serve keeps the value it was started at", async () => {
    const { child, stderr } = await serve({}, ["/usr/bin/nice", "-n", "4"]);
    assert.equal(niceOf(child.pid!), 4);
    assert.doesNotMatch(stderr(), /nice value/);
    child.kill("SIGTERM");
  });

  test(
    "without CAP_SYS_NICE the coordinator says so and serves at the value it has",
    { skip: (!root || !existsSync(SETPRIV)) && "needs root and util-linux's setpriv" },
    async () => {
      const { child, port, stderr } = await serve({ "canopy.coordinator_nice": "-5" }, [
        SETPRIV,
        "--bounding-set",
        "-sys_nice",
        "--inh-caps",
        "-sys_nice",
      ]);
      assert.match(stderr(), /could not set the coordinator's nice value to -5 \(.*\); it runs at 0/);
      assert.equal(niceOf(child.pid!), 0);
      const client = await connect(`postgres://postgres@127.0.0.1:${port}/postgres`);
      try {
        assert.equal((await client.query("SELECT 1 AS one")).rows[0].one, 1);
      } finally {
        await client.end();
      }
      child.kill("SIGTERM");
    },
  );

  test("a value out of range is refused at start", () => {
    const r = spawnSync(process.execPath, serveArgs(0, { "canopy.coordinator_nice": "-21" }), { timeout: 30_000 });
    assert.notEqual(r.status, 0);
    assert.match(
      r.stderr.toString(),
      /-21 is outside the valid range for parameter "canopy\.coordinator_nice" \(-20 \.\. 19\)/,
    );
  });
});
