// SQL regression tests: each test/regress/sql/NAME.sql runs through real psql against a cluster and
// its output must equal test/regress/expected/NAME.out (or an alternative NAME_N.out). Unstable
// values — the cluster's port numbers — are replaced by fixed-width names first.
// CANOPY_REGRESS_ACCEPT=1 writes the actual output as the expected one.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync, existsSync, mkdirSync, openSync, closeSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clusterKinds, startCluster, type TestCluster } from "../support/cluster.js";

const root = new URL("../../../test/regress/", import.meta.url).pathname;
const sqlDir = join(root, "sql");
const expectedDir = join(root, "expected");
const resultsDir = join(root, "results");

/** Runs a file through psql with stdout and stderr on one descriptor, so errors stay in order. */
function runPsql(url: string, file: string): Promise<string> {
  const outFile = join(tmpdir(), `canopy-regress-${process.pid}-${file}.out`);
  const fd = openSync(outFile, "w");
  return new Promise((resolve, reject) => {
    const child = spawn("psql", ["-X", "-a", "-q", "-v", "VERBOSITY=default", "-d", url, "-f", file], {
      cwd: sqlDir,
      env: { ...process.env, PGOPTIONS: "", PAGER: "", PGTZ: "UTC", LC_ALL: "C.UTF-8" },
      stdio: ["ignore", fd, fd],
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.on("error", reject);
    child.on("close", () => {
      clearTimeout(timer);
      closeSync(fd);
      const out = readFileSync(outFile, "utf8");
      rmSync(outFile, { force: true });
      resolve(out);
    });
  });
}

/**
 * Replaces the cluster's ports by names of the same width, and psql's file prefix; drops the
 * LOCATION lines of verbose errors (source lines of the server, which differ between versions).
 */
function normalize(output: string, cluster: TestCluster, file: string): string {
  let out = output.split(`psql:${file}:`).join("psql:");
  out = out.replace(/^LOCATION: {2}.*\n/gm, "");
  const ports = [cluster.port, ...cluster.workerPorts];
  ports.forEach((port, i) => {
    const name = (i === 0 ? "COORD" : `WPRT${i}`).padEnd(String(port).length, "_");
    out = out.replace(new RegExp(`\\b${port}\\b`, "g"), name);
  });
  return out;
}

const files = readdirSync(sqlDir)
  .filter((f) => f.endsWith(".sql"))
  .sort();

for (const kind of clusterKinds()) {
  describe(`regress (${kind})`, () => {
    let cluster: TestCluster;
    before(async () => {
      cluster = await startCluster(kind);
    });
    after(async () => {
      await cluster?.stop();
    });
    for (const file of files) {
      const name = file.replace(/\.sql$/, "");
      test(name, async () => {
        const actual = normalize(await runPsql(cluster.url, file), cluster, file);
        const candidates = readdirSync(expectedDir).filter(
          (f) => f === `${name}.out` || (f.startsWith(`${name}_`) && f.endsWith(".out")),
        );
        if (candidates.some((f) => readFileSync(join(expectedDir, f), "utf8") === actual)) return;
        mkdirSync(resultsDir, { recursive: true });
        writeFileSync(join(resultsDir, `${name}.${kind}.out`), actual);
        if (process.env.CANOPY_REGRESS_ACCEPT === "1" && !existsSync(join(expectedDir, `${name}.out`))) {
          writeFileSync(join(expectedDir, `${name}.out`), actual);
          return;
        }
        assert.fail(
          `output of ${file} differs from expected; see test/regress/results/${name}.${kind}.out\n` +
            `diff test/regress/expected/${name}.out test/regress/results/${name}.${kind}.out`,
        );
      });
    }
  });
}
