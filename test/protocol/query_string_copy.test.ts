// COPY FROM STDIN into a coordinator table inside a Query string that Canopy runs statement by
// statement (one of its statements is Canopy's: a function call, a read of a distributed table).
// The client's copy data must reach the coordinator database while the string is still being
// handled; PostgreSQL then goes on with the statements after the COPY. Before, the session hung:
// it waited for the COPY to end and read no more of the client's messages meanwhile.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { clusterKinds } from "../support/cluster.js";
import { rawSessionSuite } from "../support/raw_session.js";
import { connect } from "../support/client.js";
import { sleep } from "../support/wait.js";
import {
  RawConnection,
  dataRows,
  firstError,
  message,
  messageTypes,
  queryMessage,
  readyStatus,
  type RawMessage,
} from "../support/raw.js";

const copyData = (text: string) => message("d", Buffer.from(text));
const copyDone = () => message("c");
const copyFail = (reason: string) => message("f", Buffer.from(`${reason}\0`));

for (const kind of clusterKinds()) {
  describe(`COPY FROM STDIN in a Query string run statement by statement (${kind})`, () => {
    const session = rawSessionSuite(kind, [
      "CREATE TABLE dist (id int PRIMARY KEY)",
      "SELECT create_distributed_table('dist', 'id', shard_count => 4)",
      "INSERT INTO dist VALUES (1), (2)",
      "CREATE TABLE loc (a int, b text)",
    ]);

    /** Sends the Query, then the copy messages once CopyInResponse came; returns everything to ReadyForQuery. */
    async function copyQuery(sql: string, copy: Buffer[], timeoutMs = 10_000): Promise<RawMessage[]> {
      session.conn.write(queryMessage(sql));
      const before = await session.conn.readUntil("G");
      session.conn.write(Buffer.concat(copy));
      return [...before, ...(await session.conn.readUntil("Z", timeoutMs))];
    }

    const count = async () => dataRows(await session.conn.simpleQuery("SELECT count(*) FROM loc"))[0][0];

    test("as the last statement, after a function of Canopy's", async () => {
      const out = await copyQuery("SELECT get_shard_id_for_distribution_column('dist', 1) > 0; COPY loc FROM STDIN", [
        copyData("1\tone\n2\ttwo\n"),
        copyDone(),
      ]);
      assert.equal(firstError(out), null);
      assert.deepEqual(dataRows(out), [["t"]]);
      assert.ok(messageTypes(out).includes("C"));
      assert.equal(readyStatus(out), "I");
      assert.equal(await count(), "2");
    });

    test("between statements, after a read of a distributed table", async () => {
      const sql = "SELECT count(*) FROM dist; COPY loc FROM STDIN; SELECT count(*) FROM loc";
      if (kind === "embedded") {
        // The embedded coordinator database takes copy data only at the end of a string.
        session.conn.write(queryMessage(sql));
        const out = await session.conn.readUntil("Z");
        assert.equal(firstError(out)?.C, "0A000");
        assert.equal(readyStatus(out), "I");
        return;
      }
      const out = await copyQuery(sql, [copyData("3\tthree\n"), copyDone()]);
      assert.equal(firstError(out), null);
      assert.deepEqual(dataRows(out), [["2"], ["3"]]);
      assert.equal(readyStatus(out), "I");
    });

    test("a bad row fails the COPY with its line; nothing of it stays, the rest does not run", async () => {
      const before = await count();
      const out = await copyQuery("SELECT count(*) FROM dist; COPY loc FROM STDIN", [
        copyData("10\tten\nx\televen\n"),
        copyDone(),
      ]);
      const error = firstError(out);
      assert.equal(error?.C, "22P02");
      assert.match(error?.W ?? "", /COPY loc, line 2/);
      assert.equal(readyStatus(out), "I");
      assert.equal(await count(), before);
    });

    test("CopyFail ends the COPY with the client's reason; the session carries on", async () => {
      const before = await count();
      const out = await copyQuery("SELECT get_shard_id_for_distribution_column('dist', 2) > 0; COPY loc FROM STDIN", [
        copyData("20\ttwenty\n"),
        copyFail("changed my mind"),
      ]);
      const error = firstError(out);
      assert.equal(error?.C, "57014");
      assert.match(error?.M ?? "", /changed my mind/);
      assert.equal(readyStatus(out), "I");
      assert.equal(await count(), before);
    });

    test("in a block the client rolls back, the copied rows go with it", async () => {
      const before = await count();
      await session.conn.simpleQueries(["BEGIN"]);
      const out = await copyQuery("SELECT count(*) FROM dist; COPY loc FROM STDIN", [
        copyData("30\tthirty\n"),
        copyDone(),
      ]);
      assert.equal(firstError(out), null);
      assert.equal(readyStatus(out), "T");
      assert.equal(await count(), String(Number(before) + 1));
      await session.conn.simpleQueries(["ROLLBACK"]);
      assert.equal(await count(), before);
    });

    test("copy data of 80 MB in one message, more than a busy session lets pile up", async (t) => {
      if (kind === "embedded") return t.skip("the embedded coordinator database buffers COPY data whole");
      const before = Number(await count());
      const row = `40\t${"x".repeat(999)}\n`;
      const rows = Math.ceil((80 * 1024 * 1024) / row.length);
      const out = await copyQuery(
        "SELECT count(*) FROM dist; COPY loc FROM STDIN",
        [copyData(row.repeat(rows)), copyDone()],
        120_000,
      );
      assert.equal(firstError(out), null);
      assert.equal(await count(), String(before + rows));
      await session.conn.simpleQueries(["DELETE FROM loc WHERE a = 40"]);
    });

    for (const sql of ["COPY held FROM STDIN", "SELECT count(*) FROM dist; COPY held FROM STDIN"]) {
      test(`copy data waits in the client while the coordinator database is stalled: ${sql}`, async (t) => {
        if (kind === "embedded") return t.skip("the embedded coordinator database buffers COPY data whole");
        const db = await connect(`postgres://postgres@127.0.0.1:${session.cluster.coordinatorDbPort}/postgres`);
        const { conn } = await RawConnection.startup(session.cluster.port);
        try {
          await db.query("CREATE TABLE IF NOT EXISTS held (id int PRIMARY KEY, pad text)");
          // The COPY's first row waits for this transaction's row with the same key.
          await db.query("BEGIN");
          await db.query("INSERT INTO held VALUES (1, 'first')");
          conn.write(queryMessage(sql));
          await conn.readUntil("G");
          const chunk = copyData(Array.from({ length: 1024 }, (_, i) => `${i + 1}\t${"y".repeat(1000)}\n`).join(""));
          // Writes as fast as the coordinator reads, for two seconds.
          let sent = 0;
          const until = Date.now() + 2000;
          while (Date.now() < until && sent < 256 * 1024 * 1024) {
            sent += chunk.length;
            if (!conn.socket.write(chunk)) {
              await Promise.race([once(conn.socket, "drain"), sleep(until - Date.now())]);
            }
          }
          // What a stalled database had not read stays with the client (and the kernel's buffers).
          assert.ok(sent < 64 * 1024 * 1024, `the coordinator took ${sent} bytes from the client`);
          await db.query("COMMIT");
          conn.write(copyDone());
          const out = await conn.readUntil("Z", 60_000);
          assert.equal(firstError(out)?.C, "23505");
        } finally {
          conn.destroy();
          await db.query("ROLLBACK").catch(() => {});
          await db.query("DROP TABLE IF EXISTS held");
          await db.end();
        }
      });
    }

    test("a malformed message in the copy data ends that session only", async () => {
      const { conn } = await RawConnection.startup(session.cluster.port);
      try {
        conn.write(queryMessage("SELECT get_shard_id_for_distribution_column('dist', 1) > 0; COPY loc FROM STDIN"));
        await conn.readUntil("G");
        // A CopyData whose length field is below its own four bytes.
        conn.write(Buffer.from([0x64, 0, 0, 0, 2]));
        const out = await conn.readUntilClose();
        assert.equal(firstError(out)?.C, "08P01");
      } finally {
        conn.destroy();
      }
      assert.deepEqual(dataRows(await session.conn.simpleQuery("SELECT 1")), [["1"]]);
    });
  });
}
