// `canopy local up` on a port another cluster's coordinator serves: it must fail, and leave that
// cluster alone. Its readiness check used to reach the other coordinator, report success and add
// this cluster's workers to the other cluster's metadata.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { canopyBin, startEmbeddedCluster, type TestCluster } from "../support/cluster.js";

const run = promisify(execFile);

/** Runs `canopy local up DIR ...args`; its exit code and stderr. */
async function localUp(dir: string, args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    await run(process.execPath, [canopyBin, "local", "up", dir, ...args], { timeout: 120_000 });
    return { code: 0, stderr: "" };
  } catch (e) {
    const failure = e as { code: number; stderr: string };
    return { code: failure.code, stderr: failure.stderr };
  }
}

describe("canopy local up on a port another coordinator serves", () => {
  let other: TestCluster;
  let dir: string;

  /** The other cluster's nodes, which local up must leave as they are. */
  async function otherNodes(): Promise<string[]> {
    const client = new pg.Client(other.url);
    await client.connect();
    try {
      const r = await client.query("SELECT nodeport::text FROM pg_dist_node ORDER BY nodeport");
      return r.rows.map((row: { nodeport: string }) => row.nodeport);
    } finally {
      await client.end();
    }
  }

  before(async () => {
    other = await startEmbeddedCluster(1);
  });

  after(async () => {
    await run(process.execPath, [canopyBin, "local", "down", dir]).catch(() => {});
    await rm(dir, { recursive: true, force: true });
    await other.stop();
  });

  test("a new cluster on a port in use is refused before anything is made", async () => {
    dir = await mkdtemp(join(tmpdir(), "canopy-local-up-"));
    await chmod(dir, 0o755);
    const nodes = await otherNodes();
    const { code, stderr } = await localUp(dir, ["--port", String(other.port), "--workers", "1", "--fsync", "off"]);
    assert.equal(code, 1);
    assert.match(stderr, new RegExp(`port ${other.port} on 127\\.0\\.0\\.1 is already in use`));
    assert.equal(existsSync(join(dir, "cluster.json")), false);
    assert.deepEqual(await otherNodes(), nodes);
  });

  test("a coordinator answering for another cluster is not taken for the directory's own", async () => {
    // A coordinator.pid naming a live process that is not this cluster's coordinator (a pid used
    // again): no coordinator is started, and the one on the port is the other cluster's.
    await run(process.execPath, [canopyBin, "local", "down", dir]).catch(() => {});
    await rm(dir, { recursive: true, force: true });
    dir = await mkdtemp(join(tmpdir(), "canopy-local-up-"));
    await chmod(dir, 0o755);
    await writeFile(join(dir, "cluster.json"), JSON.stringify({ port: other.port, workers: 1 }));
    await writeFile(join(dir, "coordinator.pid"), String(other.pid));
    const nodes = await otherNodes();
    const { code, stderr } = await localUp(dir, ["--fsync", "off"]);
    // local down must not stop the other cluster's process.
    await rm(join(dir, "coordinator.pid"));
    assert.equal(code, 1);
    assert.match(
      stderr,
      new RegExp(`port ${other.port} on 127\\.0\\.0\\.1 is served by another cluster's coordinator`),
    );
    assert.deepEqual(await otherNodes(), nodes);
  });
});
