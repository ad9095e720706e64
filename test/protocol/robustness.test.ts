// Bad and abrupt clients against the coordinator, for each cluster kind: garbage instead of a
// startup packet, oversized and unknown messages, truncated messages, clients vanishing mid-query,
// CancelRequest, and the SSLRequest / GSSENCRequest negotiation. After each, a session opened
// before the bad client (and a fresh one) must still work.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { clusterKinds, coordinatorMemory, startCluster, type TestCluster } from "../support/cluster.js";
import {
  GSSENC_REQUEST_CODE,
  PROTOCOL_3_0,
  RawConnection,
  SSL_REQUEST_CODE,
  cancelRequest,
  dataRowValues,
  firstError,
  message,
  parseErrorFields,
  queryMessage,
  requestPacket,
  startupMessage,
  parseMessage,
  bindMessage,
  executeMessage,
  syncMessage,
  type RawMessage,
} from "../support/raw.js";
import { sleep, until } from "../support/wait.js";

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Checks that the server's answer to bad input is at most one ErrorResponse with one of `codes`. */
function assertFatalError(messages: readonly RawMessage[], codes: readonly string[], required: boolean): void {
  assert.ok(
    messages.length <= 1,
    `expected at most one message before close, got ${messages.map((m) => m.type).join(",")}`,
  );
  if (messages.length === 0) {
    assert.ok(!required, "expected an ErrorResponse before the connection closed");
    return;
  }
  assert.equal(messages[0].type, "E");
  const fields = parseErrorFields(messages[0].body);
  assert.ok(codes.includes(fields.C), `unexpected SQLSTATE ${fields.C}: ${fields.M}`);
  assert.equal(fields.S, "FATAL");
  assert.ok(fields.M && fields.M.length > 0);
}

function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString("hex")}`;
}

for (const kind of clusterKinds()) {
  describe(kind, () => {
    let cluster: TestCluster;
    /** A session opened before any bad client; it must outlive all of them. */
    let survivor: pg.Client;
    /** Local clusters: a direct connection to the coordinator database, to watch its backends. */
    let direct: pg.Client | null = null;
    let survivorQueries = 0;

    before(
      async () => {
        cluster = await startCluster(kind);
        survivor = new pg.Client({ connectionString: cluster.url, application_name: "robustness_survivor" });
        survivor.on("error", () => {});
        await survivor.connect();
        if (kind === "local") {
          direct = new pg.Client({
            host: "127.0.0.1",
            port: cluster.coordinatorDbPort,
            user: "postgres",
            database: "postgres",
          });
          await direct.connect();
        }
      },
      { timeout: 180_000 },
    );

    after(async () => {
      await survivor?.end().catch(() => {});
      await direct?.end().catch(() => {});
      await cluster?.stop();
    });

    /** The survivor session and a brand-new one both still answer queries. */
    async function assertOthersWork(timeoutMs = 5000): Promise<void> {
      const n = ++survivorQueries;
      const r = await withTimeout(
        survivor.query("SELECT $1::int AS n, pg_backend_pid() AS pid", [n]),
        timeoutMs,
        "survivor query",
      );
      assert.equal(r.rows[0].n, n);
      const fresh = new pg.Client({ connectionString: cluster.url });
      try {
        await withTimeout(fresh.connect(), timeoutMs, "new connection");
        const f = await withTimeout(fresh.query("SELECT 'still serving' AS s"), timeoutMs, "new session query");
        assert.equal(f.rows[0].s, "still serving");
      } finally {
        await fresh.end().catch(() => {});
      }
    }

    /** Local clusters: the coordinator-database backends of sessions with this application_name. */
    async function backendsOf(applicationName: string): Promise<{ pid: number; state: string; query: string }[]> {
      const r = await direct!.query("SELECT pid, state, query FROM pg_stat_activity WHERE application_name = $1", [
        applicationName,
      ]);
      return r.rows;
    }

    test("garbage instead of a startup packet closes that connection only", async () => {
      const random = randomBytes(16);
      random[0] |= 0x80; // a negative length: never a valid startup packet, whatever the rest is
      const http = Buffer.from("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
      for (const garbage of [random, http]) {
        const conn = await RawConnection.connect(cluster.port);
        conn.write(garbage);
        const answer = await conn.readUntilClose(5000);
        assert.ok(conn.closed);
        assertFatalError(answer, ["08P01"], false);
      }
      await assertOthersWork();
    });

    test("unsupported protocol version is refused", async () => {
      const conn = await RawConnection.connect(cluster.port);
      conn.write(startupMessage({ user: "postgres", database: "postgres" }, 2 << 16));
      const answer = await conn.readUntilClose(5000);
      assertFatalError(answer, ["0A000"], true);
      await assertOthersWork();
    });

    test("a message announcing 1 GB is refused before its body arrives", async () => {
      const { conn } = await RawConnection.startup(cluster.port);
      const header = Buffer.alloc(5);
      header.write("Q", 0, "latin1");
      header.writeInt32BE(1073741824, 1);
      conn.write(header);
      const answer = await conn.readUntilClose(5000);
      assert.ok(conn.closed, "the server must close the connection");
      assertFatalError(answer, ["54000", "08P01"], true);
      await assertOthersWork();
    });

    test("an invalid message type gets 08P01 and a close", async () => {
      const { conn } = await RawConnection.startup(cluster.port);
      // The session works until the bad message arrives.
      const ok = await conn.simpleQuery("SELECT 7");
      assert.deepEqual(dataRowValues(ok.find((m) => m.type === "D")!.body), ["7"]);
      conn.write(message("y", Buffer.from("junk")));
      const answer = await conn.readUntilClose(5000);
      assert.ok(conn.closed);
      assertFatalError(answer, ["08P01"], true);
      await assertOthersWork();
    });

    test("a negative message length gets 08P01 and a close", async () => {
      const { conn } = await RawConnection.startup(cluster.port);
      const header = Buffer.alloc(5);
      header.write("Q", 0, "latin1");
      header.writeInt32BE(-5, 1);
      conn.write(header);
      const answer = await conn.readUntilClose(5000);
      assertFatalError(answer, ["08P01"], true);
      await assertOthersWork();
    });

    test("a truncated message followed by a disconnect leaves the server serving", async () => {
      const applicationName = uniqueName("truncated");
      const { conn } = await RawConnection.startup(cluster.port, {
        user: "postgres",
        database: "postgres",
        application_name: applicationName,
      });
      if (kind === "local") assert.equal((await backendsOf(applicationName)).length, 1);
      const partial = Buffer.alloc(10);
      partial.write("Q", 0, "latin1");
      partial.writeInt32BE(100, 1);
      partial.write("SELEC", 5, "latin1");
      conn.write(partial);
      await sleep(100);
      assert.equal(conn.unread, 0, "no answer to half a message");
      conn.destroy();
      await assertOthersWork();
      if (kind === "local") {
        // The session's coordinator-database connection is released, not leaked.
        await until(
          async () => ((await backendsOf(applicationName)).length === 0 ? true : undefined),
          5000,
          "backend to exit",
        );
      }
    });

    test("a client vanishing mid-query does not disturb other sessions", { timeout: 30_000 }, async () => {
      const applicationName = uniqueName("vanishing");
      const { conn } = await RawConnection.startup(cluster.port, {
        user: "postgres",
        database: "postgres",
        application_name: applicationName,
      });
      conn.write(queryMessage("SELECT pg_sleep(5)"));
      let pid = 0;
      if (kind === "local") {
        // The query really runs on the session's backend...
        pid = await until(
          async () =>
            (await backendsOf(applicationName)).find((b) => b.state === "active" && b.query === "SELECT pg_sleep(5)")
              ?.pid,
          3000,
          "pg_sleep to start",
        );
      } else {
        await sleep(300);
      }
      const vanishedAt = Date.now();
      conn.destroy();
      // Embedded: PGlite's single backend finishes the sleep before serving anyone else.
      await assertOthersWork(kind === "embedded" ? 10_000 : 3000);
      if (kind === "local") {
        // ...and once the client is gone the backend goes too (at the latest when pg_sleep ends).
        await until(
          async () => {
            const r = await direct!.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1", [pid]);
            return r.rows[0].n === 0 ? true : undefined;
          },
          8000,
          `backend ${pid} to exit`,
        );
        assert.ok(Date.now() - vanishedAt < 8000);
        const sleeping = await direct!.query(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(5)' AND state = 'active'",
        );
        assert.equal(sleeping.rows[0].n, 0);
      }
    });

    test(
      "CancelRequest cancels the running query",
      { skip: kind === "embedded" ? "PGlite cannot interrupt a running query" : false, timeout: 30_000 },
      async () => {
        const applicationName = uniqueName("cancel");
        const victim = new pg.Client({ connectionString: cluster.url, application_name: applicationName });
        victim.on("error", () => {});
        await victim.connect();
        try {
          const { processID, secretKey } = victim as unknown as { processID: number; secretKey: number };
          assert.ok(Number.isInteger(processID) && processID !== 0, "BackendKeyData was sent");
          let settled = false;
          const running = victim.query("SELECT pg_sleep(10)").then(
            () => {
              settled = true;
              return null;
            },
            (e: pg.DatabaseError) => {
              settled = true;
              return e;
            },
          );
          await until(
            async () =>
              (await backendsOf(applicationName)).some((b) => b.state === "active" && b.query === "SELECT pg_sleep(10)")
                ? true
                : undefined,
            3000,
            "pg_sleep to start",
          );

          // A wrong secret cancels nothing; the server just closes the cancel connection.
          const wrong = await RawConnection.connect(cluster.port);
          wrong.write(cancelRequest(processID, secretKey ^ 1));
          await wrong.waitClosed(3000);
          assert.equal(wrong.unread, 0, "CancelRequest gets no reply");
          await sleep(500);
          assert.equal(settled, false, "query cancelled with a wrong secret key");

          const sentAt = Date.now();
          const cancel = await RawConnection.connect(cluster.port);
          cancel.write(cancelRequest(processID, secretKey));
          await cancel.waitClosed(3000);
          const error = await withTimeout(running, 2000, "cancelled query");
          assert.ok(error, "the query should have failed");
          assert.equal(error.code, "57014");
          assert.match(error.message, /cancel/);
          assert.ok(Date.now() - sentAt < 2000);

          // The cancelled session carries on.
          const r = await victim.query("SELECT 'after cancel' AS s");
          assert.equal(r.rows[0].s, "after cancel");
        } finally {
          await victim.end().catch(() => {});
        }
        await assertOthersWork();
      },
    );

    test(
      "CancelRequest on a raw session ends the query with 57014 and ReadyForQuery",
      { skip: kind === "embedded" ? "PGlite cannot interrupt a running query" : false, timeout: 30_000 },
      async () => {
        const applicationName = uniqueName("rawcancel");
        const { conn, processId, secretKey } = await RawConnection.startup(cluster.port, {
          user: "postgres",
          database: "postgres",
          application_name: applicationName,
        });
        try {
          conn.write(queryMessage("SELECT pg_sleep(10)"));
          await until(
            async () => ((await backendsOf(applicationName)).some((b) => b.state === "active") ? true : undefined),
            3000,
            "pg_sleep to start",
          );
          const cancel = await RawConnection.connect(cluster.port);
          cancel.write(cancelRequest(processId, secretKey));
          const answer = await conn.readUntil("Z", 2000);
          assert.equal(firstError(answer)?.C, "57014");
          assert.equal(answer[answer.length - 1].body.toString("latin1"), "I");
          const after = await conn.simpleQuery("SELECT 'alive'");
          assert.deepEqual(dataRowValues(after.find((m) => m.type === "D")!.body), ["alive"]);
        } finally {
          conn.destroy();
        }
      },
    );

    test(
      "COPY FROM STDIN through the extended protocol: CopyIn on local, 0A000 on embedded",
      { timeout: 30_000 },
      async () => {
        const { conn } = await RawConnection.startup(cluster.port);
        const table = uniqueName("xcopy");
        conn.write(queryMessage(`CREATE TABLE ${table} (a int)`));
        await conn.readUntil("Z");
        conn.write(
          Buffer.concat([
            parseMessage("", `COPY ${table} FROM STDIN`),
            bindMessage("", ""),
            executeMessage(""),
            syncMessage(),
          ]),
        );
        if (kind === "local") {
          const messages = await conn.readUntil("G");
          assert.equal(messages.at(-1)!.type, "G");
          conn.write(Buffer.concat([message("d", Buffer.from("7\n")), message("c"), syncMessage()]));
          const done = await conn.readUntil("Z");
          assert.ok(done.some((m) => m.type === "C" && m.body.toString("utf8").startsWith("COPY 1")));
        } else {
          const messages = await conn.readUntil("Z");
          assert.equal(firstError(messages)?.C, "0A000");
        }
        conn.write(queryMessage(`DROP TABLE ${table}`));
        await conn.readUntil("Z");
        conn.socket.destroy();
        await assertOthersWork();
      },
    );

    test("Execute with a row limit suspends the portal and resumes it", async () => {
      const { conn } = await RawConnection.startup(cluster.port);
      conn.write(queryMessage("BEGIN"));
      await conn.readUntil("Z");
      conn.write(
        Buffer.concat([
          parseMessage("", "SELECT g FROM generate_series(1, 5) g"),
          bindMessage("p1", ""),
          executeMessage("p1", 2),
          syncMessage(),
        ]),
      );
      const first = await conn.readUntil("Z");
      assert.deepEqual(
        first.filter((m) => m.type === "D").map((m) => dataRowValues(m.body)[0]),
        ["1", "2"],
      );
      assert.ok(
        first.some((m) => m.type === "s"),
        "PortalSuspended after the row limit",
      );
      conn.write(Buffer.concat([executeMessage("p1", 0), syncMessage()]));
      const rest = await conn.readUntil("Z");
      assert.deepEqual(
        rest.filter((m) => m.type === "D").map((m) => dataRowValues(m.body)[0]),
        ["3", "4", "5"],
      );
      assert.ok(rest.some((m) => m.type === "C"));
      conn.write(queryMessage("COMMIT"));
      await conn.readUntil("Z");
      conn.socket.destroy();
    });

    test(
      "a client that does not read a large result holds back the backend, not our memory",
      { skip: kind === "embedded" ? "PGlite hands over whole results" : false, timeout: 30_000 },
      async () => {
        const rss = () => coordinatorMemory(cluster, "VmRSS");
        const before = rss();
        const { conn } = await RawConnection.startup(cluster.port);
        conn.socket.pause();
        // About 400 MB of rows that the client never reads.
        conn.write(queryMessage("SELECT repeat('x', 4000) FROM generate_series(1, 100000)"));
        await new Promise((resolve) => setTimeout(resolve, 3000));
        const grown = rss() - before;
        assert.ok(grown < 150 * 1024 * 1024, `coordinator grew by ${grown} bytes`);
        conn.socket.destroy();
        await assertOthersWork();
      },
    );

    test(
      "a client that does not read a large COPY TO STDOUT holds back the worker, not our memory",
      { skip: kind === "embedded" ? "PGlite hands over whole COPY output" : false, timeout: 60_000 },
      async () => {
        // About 100 MB of COPY output from 10 KB of stored rows (the values compress), written on
        // the workers: the coordinator sees the rows only when the COPY runs.
        await survivor.query("CREATE TABLE unread_copy (id int, v text)");
        await survivor.query("SELECT create_reference_table('unread_copy')");
        const r = await survivor.query(
          "SELECT shardid FROM pg_dist_shard WHERE logicalrelid = 'unread_copy'::regclass",
        );
        const shard = `unread_copy_${r.rows[0].shardid}`;
        const fill = `INSERT INTO ${shard} SELECT g, repeat('x', 5000) FROM generate_series(1, 20000) g`;
        const filled = await survivor.query("SELECT bool_and(success) AS ok FROM run_command_on_workers($1)", [fill]);
        assert.equal(filled.rows[0].ok, true);
        const before = coordinatorMemory(cluster, "VmRSS");
        const { conn } = await RawConnection.startup(cluster.port);
        conn.socket.pause();
        conn.write(queryMessage("COPY unread_copy TO STDOUT"));
        // The worker's backend ends up waiting to write to the coordinator, and stays so.
        const workers = cluster.workerPorts.map((port) => `postgres://postgres@127.0.0.1:${port}/postgres`);
        const writingWorker = async () => {
          for (const url of workers) {
            const w = new pg.Client(url);
            await w.connect();
            const waiting = await w.query(
              "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event = 'ClientWrite' AND query LIKE 'COPY%'",
            );
            await w.end();
            if (waiting.rows[0].n > 0) return url;
          }
          return undefined;
        };
        const url = await until(writingWorker, 30_000, "a worker's COPY waiting for the coordinator to read");
        await sleep(1000);
        assert.equal(await writingWorker(), url);
        const grown = coordinatorMemory(cluster, "VmRSS") - before;
        assert.ok(grown < 50 * 1024 * 1024, `coordinator grew by ${grown} bytes`);
        conn.socket.destroy();
        await assertOthersWork();
        await survivor.query("DROP TABLE unread_copy");
      },
    );

    test("GSSENCRequest is declined with 'N' and startup continues in plaintext", async () => {
      const conn = await RawConnection.connect(cluster.port);
      conn.write(requestPacket(GSSENC_REQUEST_CODE));
      const reply = await conn.readBytes(1);
      assert.equal(reply.toString("latin1"), "N");
      assert.equal(conn.unread, 0);
      await conn.completeStartup();
      const r = await conn.simpleQuery("SELECT 'plain'");
      assert.deepEqual(dataRowValues(r.find((m) => m.type === "D")!.body), ["plain"]);
      conn.destroy();
    });

    test("GSSENCRequest then SSLRequest negotiates TLS (libpq's order)", async () => {
      const conn = await RawConnection.connect(cluster.port);
      conn.write(requestPacket(GSSENC_REQUEST_CODE));
      assert.equal((await conn.readBytes(1)).toString("latin1"), "N");
      conn.write(requestPacket(SSL_REQUEST_CODE));
      assert.equal((await conn.readBytes(1)).toString("latin1"), "S");
      const secure = await conn.startTls();
      const { processId } = await secure.completeStartup();
      assert.ok(processId !== 0);
      const r = await secure.simpleQuery("SELECT 'encrypted'");
      assert.deepEqual(dataRowValues(r.find((m) => m.type === "D")!.body), ["encrypted"]);
      secure.destroy();
    });

    test("data piggybacked on an SSLRequest is refused", async () => {
      // Bytes sent before the TLS handshake must not be treated as if they had been encrypted.
      const conn = await RawConnection.connect(cluster.port);
      conn.write(
        Buffer.concat([requestPacket(SSL_REQUEST_CODE), startupMessage({ user: "postgres", database: "postgres" })]),
      );
      const answer = await conn.readUntilClose(5000);
      assert.ok(conn.closed);
      assertFatalError(answer, ["08P01"], true);
      await assertOthersWork();
    });

    test("a startup packet over several TCP segments is reassembled", async () => {
      const conn = await RawConnection.connect(cluster.port);
      const packet = startupMessage(
        { user: "postgres", database: "postgres", application_name: "slow_startup" },
        PROTOCOL_3_0,
      );
      for (const piece of [packet.subarray(0, 3), packet.subarray(3, 11), packet.subarray(11)]) {
        conn.write(piece);
        await sleep(30);
      }
      let ready = false;
      for (;;) {
        const m = await conn.readMessage(5000);
        assert.notEqual(m.type, "E", JSON.stringify(parseErrorFields(m.body)));
        if (m.type === "Z") {
          ready = true;
          break;
        }
      }
      assert.ok(ready);
      // A query split mid-header and mid-body works as well.
      const q = queryMessage("SELECT 'pieces'");
      conn.write(q.subarray(0, 2));
      await sleep(30);
      conn.write(q.subarray(2, 9));
      await sleep(30);
      conn.write(q.subarray(9));
      const r = await conn.readUntil("Z");
      assert.deepEqual(dataRowValues(r.find((m) => m.type === "D")!.body), ["pieces"]);
      conn.destroy();
    });
  });
}
