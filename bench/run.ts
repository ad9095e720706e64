// npm run bench: pass-through overhead of the coordinator, measured beside a plain PostgreSQL in the
// same run. A local cluster is started; pgbench -S -M prepared (8 clients) runs against the
// coordinator database directly and through Canopy, and the ratio is printed and saved as JSON.
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { promisify } from "node:util";
import { startLocalCluster } from "../test/support/cluster.js";

const run = promisify(execFile);
const durationSeconds = Number(process.env.CANOPY_BENCH_SECONDS ?? 15);

async function pgbenchTps(url: string, args: string[]): Promise<number> {
  const { stdout } = await run("pgbench", [...args, url], { timeout: (durationSeconds + 60) * 1000 });
  const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout);
  if (!m) throw new Error(`pgbench printed no tps:\n${stdout}`);
  if (!/number of failed transactions: 0 /.test(stdout)) throw new Error(`pgbench had failures:\n${stdout}`);
  return Number(m[1]);
}

async function main(): Promise<void> {
  const cluster = await startLocalCluster(2);
  try {
    const direct = `postgres://postgres@127.0.0.1:${cluster.coordinatorDbPort}/postgres`;
    await run("pgbench", ["-i", "-s", "10", "-q", cluster.url], { timeout: 300_000 });
    const load = ["-n", "-S", "-M", "prepared", "-c", "8", "-j", "2", "-T", String(durationSeconds)];
    const results = [];
    const single = ["-n", "-S", "-M", "prepared", "-c", "1", "-j", "1", "-T", String(durationSeconds)];
    for (const [name, args] of [
      ["pass-through pgbench -S -M prepared, 8 clients", load],
      ["pass-through pgbench -S -M prepared, 1 client", single],
    ] as const) {
      const plain = await pgbenchTps(direct, [...args]);
      const canopy = await pgbenchTps(cluster.url, [...args]);
      results.push({ workload: name, plain_tps: plain, canopy_tps: canopy, ratio: canopy / plain });
    }
    console.log("\nworkload                                          plain tps   canopy tps   ratio");
    for (const r of results) {
      console.log(
        `${r.workload.padEnd(48)} ${r.plain_tps.toFixed(0).padStart(10)} ${r.canopy_tps.toFixed(0).padStart(12)}   ${r.ratio.toFixed(2)}`,
      );
    }
    mkdirSync("bench/results", { recursive: true });
    const file = `bench/results/${new Date().toISOString().replace(/[:.]/g, "-")}.json`;
    writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), durationSeconds, results }, null, 2) + "\n");
    console.log(`\nsaved ${file}`);
  } finally {
    await cluster.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
