// Authentication is relayed to the coordinator database: scram-sha-256, md5 and trust behave as
// its pg_hba.conf says, and a wrong password is refused with 28P01.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import postgres from "postgres";
import { startTempPostgres, type TempPostgres } from "../support/postgres.js";
import { canopyBin } from "../support/cluster.js";
import { findFreePort } from "../../src/nodes/pgserver.js";

let server: TempPostgres;
let coordinator: ChildProcess;
let port: number;

before(async () => {
  server = await startTempPostgres();
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query("SET password_encryption = 'scram-sha-256'");
  await admin.query("CREATE ROLE alice LOGIN PASSWORD 'alice-secret'");
  await admin.query("SET password_encryption = 'md5'");
  await admin.query("CREATE ROLE bob LOGIN PASSWORD 'bob-secret'");
  const hba = join(server.dataDir, "pg_hba.conf");
  writeFileSync(
    hba,
    "host all alice 127.0.0.1/32 scram-sha-256\nhost all bob 127.0.0.1/32 md5\n" + readFileSync(hba, "utf8"),
  );
  await admin.query("SELECT pg_reload_conf()");
  await admin.end();
  port = await findFreePort();
  coordinator = spawn(process.execPath, [canopyBin, "serve", "--coordinator-db", server.url, "--port", String(port)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  await new Promise<void>((resolve, reject) => {
    let out = "";
    coordinator.stdout!.on("data", (c: Buffer) => {
      out += c;
      if (out.includes("canopy ready")) resolve();
    });
    coordinator.stderr!.on("data", (c: Buffer) => (out += c));
    coordinator.once("exit", () => reject(new Error(out)));
  });
});

after(async () => {
  coordinator?.kill("SIGTERM");
  await server?.stop();
});

const url = (user: string, password?: string) =>
  `postgres://${user}${password ? ":" + password : ""}@127.0.0.1:${port}/postgres`;

test("scram-sha-256 through the coordinator: right password in, wrong one out", async () => {
  const ok = new pg.Client({ connectionString: url("alice", "alice-secret") });
  await ok.connect();
  const r = await ok.query("SELECT current_user AS u");
  assert.equal(r.rows[0].u, "alice");
  await ok.end();
  const bad = new pg.Client({ connectionString: url("alice", "wrong") });
  await assert.rejects(bad.connect(), (e: { code?: string }) => e.code === "28P01");
});

test("md5 through the coordinator with postgres.js", async () => {
  const sql = postgres(url("bob", "bob-secret"), { max: 1, onnotice: () => {} });
  const [row] = await sql`SELECT current_user AS u, ${41}::int + 1 AS n`;
  assert.equal(row.u, "bob");
  assert.equal(row.n, 42);
  await sql.end();
  const wrong = postgres(url("bob", "nope"), { max: 1, onnotice: () => {} });
  await assert.rejects(wrong`SELECT 1`, (e: { code?: string }) => e.code === "28P01");
  await wrong.end();
});

test("an unknown database is reported by the coordinator database", async () => {
  const c = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/no_such_db` });
  await assert.rejects(c.connect(), (e: { code?: string }) => e.code === "3D000");
});
