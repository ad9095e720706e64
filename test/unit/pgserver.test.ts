// Tests for src/nodes/pgserver.ts: starts a real temporary PostgreSQL server and
// checks its configuration (logical WAL, prepared transactions, TLS) and port helpers.

import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, stat, chmod } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import {
  CHRT,
  findFreePort,
  findFreePortRange,
  generateSelfSignedCertificate,
  initServer,
  isServerRunning,
  startServer,
  stopServer,
} from "../../src/nodes/pgserver.js";
import { hasPostgres, startTempPostgres, type TempPostgres } from "../support/postgres.js";

const skip = hasPostgres() ? false : "PostgreSQL server binaries not installed";

async function query<T extends pg.QueryResultRow>(config: pg.ClientConfig, sql: string): Promise<T[]> {
  const client = new pg.Client(config);
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen({ host: "127.0.0.1", port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

describe("pgserver: temporary server", { skip }, () => {
  let server: TempPostgres;

  before(async () => {
    server = await startTempPostgres();
  });

  after(async () => {
    await server?.stop();
  });

  it("is running and reachable via url", async () => {
    assert.equal(await isServerRunning(server.dataDir), true);
    const rows = await query<{ one: number }>({ connectionString: server.url }, "SELECT 1 AS one");
    assert.equal(rows[0]?.one, 1);
  });

  it("has wal_level=logical, prepared transactions and ssl on", async () => {
    const client = new pg.Client({ connectionString: server.url });
    await client.connect();
    try {
      const wal = await client.query<{ wal_level: string }>("SHOW wal_level");
      assert.equal(wal.rows[0]?.wal_level, "logical");
      const mpt = await client.query<{ max_prepared_transactions: string }>("SHOW max_prepared_transactions");
      assert.ok(Number(mpt.rows[0]?.max_prepared_transactions) > 0);
      const ssl = await client.query<{ ssl: string }>("SHOW ssl");
      assert.equal(ssl.rows[0]?.ssl, "on");
      const maxConn = await client.query<{ max_connections: string }>("SHOW max_connections");
      assert.equal(Number(maxConn.rows[0]?.max_connections), 300);
      const fsync = await client.query<{ fsync: string }>("SHOW fsync");
      assert.equal(fsync.rows[0]?.fsync, "off");
    } finally {
      await client.end();
    }
  });

  const chrt = existsSync(CHRT) ? false : "util-linux's chrt not installed";
  it("runs the server and its backends under SCHED_BATCH", { skip: chrt }, async () => {
    // The scheduling policy is field 41 of /proc/<pid>/stat, counted from the pid (SCHED_BATCH = 3).
    const policy = async (pid: number) => {
      const stat = await readFile(`/proc/${pid}/stat`, "utf8");
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[38]);
    };
    const postmaster = Number((await readFile(join(server.dataDir, "postmaster.pid"), "utf8")).split("\n")[0]);
    assert.equal(await policy(postmaster), 3);
    // And a backend, forked for a connection after the server started.
    const client = new pg.Client({ connectionString: server.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
      assert.equal(await policy(rows[0].pid), 3);
    } finally {
      await client.end();
    }
  });

  it("accepts SSL connections", async () => {
    const rows = await query<{ ssl: boolean }>(
      {
        host: "127.0.0.1",
        port: server.port,
        user: "postgres",
        database: "postgres",
        ssl: { rejectUnauthorized: false },
      },
      "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    );
    assert.equal(rows[0]?.ssl, true);
  });

  it("accepts unix-socket connections in socketDir", async () => {
    const rows = await query<{ port: string }>(
      { host: server.socketDir, port: server.port, user: "postgres", database: "postgres" },
      "SHOW port",
    );
    assert.equal(Number(rows[0]?.port), server.port);
  });

  it("stops, reports not running, and tolerates repeated stops", async () => {
    await stopServer(server.dataDir, "fast");
    assert.equal(await isServerRunning(server.dataDir), false);
    await stopServer(server.dataDir, "fast");
    await stopServer(server.dataDir, "immediate");
    // initServer on an existing cluster must not re-run initdb, and the server must restart.
    const { certFile, keyFile } = await generateSelfSignedCertificate(join(server.dataDir, "..", "certs"));
    await initServer({
      dataDir: server.dataDir,
      port: server.port,
      socketDir: server.socketDir,
      certFile,
      keyFile,
      fsync: false,
      extraConf: { application_name: "canopy test" },
    });
    await startServer(server.dataDir);
    const rows = await query<{ application_name: string }>(
      { connectionString: server.url },
      "SELECT current_setting('application_name') AS application_name",
    );
    // The client sets no application_name, so the server default from extraConf shows through.
    assert.equal(rows[0]?.application_name, "canopy test");
  });
});

describe("pgserver: certificates", { skip }, () => {
  it("generates a self-signed localhost certificate with a 0600 key, once", async () => {
    const dir = await mkdtemp(join(tmpdir(), "canopy-cert-"));
    try {
      const { certFile, keyFile } = await generateSelfSignedCertificate(join(dir, "nested"));
      assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
      const cert = new X509Certificate(await readFile(certFile));
      assert.match(cert.subject, /CN=localhost/);
      assert.match(cert.subjectAltName ?? "", /DNS:localhost/);
      assert.match(cert.subjectAltName ?? "", /IP Address:127\.0\.0\.1/);
      assert.ok(new Date(cert.validTo).getTime() - Date.now() > 9 * 365 * 24 * 3600 * 1000);
      const before = (await stat(certFile)).mtimeMs;
      await generateSelfSignedCertificate(join(dir, "nested"));
      assert.equal((await stat(certFile)).mtimeMs, before);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("pgserver: untraversable paths", { skip: skip || (process.getuid?.() === 0 ? false : "needs root") }, () => {
  it("initServer rejects a data dir the postgres user cannot reach", async () => {
    const dir = await mkdtemp(join(tmpdir(), "canopy-private-"));
    try {
      await chmod(dir, 0o700);
      const { certFile, keyFile } = await generateSelfSignedCertificate(join(dir, "certs"));
      await assert.rejects(
        initServer({
          dataDir: join(dir, "data"),
          port: await findFreePort(),
          socketDir: join(dir, "sock"),
          certFile,
          keyFile,
        }),
        /not traversable/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("pgserver: ports", () => {
  it("findFreePort returns a bindable port", async () => {
    const port = await findFreePort();
    assert.ok(port > 0 && port < 65536);
    assert.equal(await canListen(port), true);
  });

  it("findFreePortRange returns a base whose whole range is free", async () => {
    const count = 8;
    const base = await findFreePortRange(count);
    assert.ok(base >= 10000 && base + count - 1 < 32768);
    for (let p = base; p < base + count; p++) {
      assert.equal(await canListen(p), true, `port ${p} should be free`);
    }
  });
});
