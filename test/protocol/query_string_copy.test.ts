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
  bindMessage,
  dataRows,
  executeMessage,
  parseMessage,
  syncMessage,
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
/** A COPY statement through the extended protocol, with the Sync a client sends after its Execute. */
const extendedCopy = (sql: string) =>
  Buffer.concat([parseMessage("", sql), bindMessage("", ""), executeMessage(""), syncMessage()]);

for (const kind of clusterKinds()) {
  describe(`COPY FROM STDIN in a Query string run statement by statement (${kind})`, () => {
    const session = rawSessionSuite(kind, [
      "CREATE TABLE dist (id int PRIMARY KEY)",
      "SELECT create_distributed_table('dist', 'id', shard_count => 4)",
      "INSERT INTO dist VALUES (1), (2)",
      "CREATE TABLE loc (a int, b text)",
      // A local table with a distributed table's name, in another schema.
      "CREATE SCHEMA other",
      "CREATE TABLE other.dist (id int PRIMARY KEY, note text)",
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

    const shadowRows = async () =>
      dataRows(await session.conn.simpleQuery("SELECT id, note FROM other.dist ORDER BY id"));
    const distCount = async () => dataRows(await session.conn.simpleQuery("SELECT count(*) FROM public.dist"))[0][0];

    // Before, a COPY FROM naming a distributed table's name was taken for one into that table
    // whatever the name reached, and failed with XX000 "COPY target is not a distributed table":
    // pgbench -i with another schema first in search_path could not load its tables.
    test("into a local table that has a distributed table's name, by its schema", async () => {
      const out = await copyQuery("COPY other.dist FROM STDIN", [copyData("1\tone\n2\ttwo\n"), copyDone()]);
      assert.equal(firstError(out), null);
      assert.ok(out.some((m) => m.type === "C" && m.body.toString().startsWith("COPY 2")));
      assert.deepEqual(await shadowRows(), [
        ["1", "one"],
        ["2", "two"],
      ]);
      assert.equal(await distCount(), "2");
    });

    test("into a local table that has a distributed table's name, through search_path", async () => {
      await session.conn.simpleQueries(["SET search_path = other, public"]);
      try {
        const out = await copyQuery("COPY dist (id) FROM STDIN", [copyData("3\n"), copyDone()]);
        assert.equal(firstError(out), null);
        // A bad row: PostgreSQL's error and line; none of the COPY's rows stays.
        const bad = await copyQuery("COPY dist FROM STDIN", [copyData("4\tfour\nx\tfive\n"), copyDone()]);
        assert.equal(firstError(bad)?.C, "22P02");
        assert.match(firstError(bad)?.W ?? "", /COPY dist, line 2, column id: "x"/);
        assert.equal(readyStatus(bad), "I");
      } finally {
        await session.conn.simpleQueries(["RESET search_path"]);
      }
      assert.deepEqual(await shadowRows(), [
        ["1", "one"],
        ["2", "two"],
        ["3", null],
      ]);
      // With the distributed table first again, the COPY goes to its shards.
      const out = await copyQuery("COPY dist FROM STDIN", [copyData("5\n"), copyDone()]);
      assert.equal(firstError(out), null);
      assert.equal(await distCount(), "3");
    });

    test("naming a schema that does not exist: PostgreSQL's error", async () => {
      session.conn.write(queryMessage("COPY nosuch.dist FROM STDIN"));
      const out = await session.conn.readUntil("Z");
      assert.equal(firstError(out)?.C, "3F000");
      assert.equal(readyStatus(out), "I");
      // A missing table in a schema that exists: 42P01, as PostgreSQL's.
      session.conn.write(queryMessage("COPY public.nosuch FROM STDIN"));
      const missing = await session.conn.readUntil("Z");
      assert.equal(firstError(missing)?.C, "42P01");
      assert.match(firstError(missing)?.M ?? "", /nosuch/);
      // With a column list too, and a listed column the table lacks: before any data, as PostgreSQL.
      session.conn.write(queryMessage("COPY public.nosuch (a, b) FROM STDIN"));
      const listed = await session.conn.readUntil("Z");
      assert.equal(firstError(listed)?.C, "42P01");
      assert.ok(!listed.some((m) => m.type === "G"), "no CopyInResponse");
      session.conn.write(queryMessage("COPY other.dist (id, nosuch) FROM STDIN"));
      const column = await session.conn.readUntil("Z");
      assert.equal(firstError(column)?.C, "42703");
      assert.equal(firstError(column)?.M, 'column "nosuch" of relation "dist" does not exist');
      assert.ok(!column.some((m) => m.type === "G"), "no CopyInResponse");
      assert.equal(readyStatus(column), "I");
    });

    test("into a local table with a distributed table's name, through the extended protocol", async () => {
      session.conn.write(extendedCopy("COPY other.dist FROM STDIN"));
      const start = await session.conn.readUntil(kind === "embedded" ? "Z" : "G");
      if (kind === "embedded") {
        assert.equal(firstError(start)?.C, "0A000");
        return;
      }
      assert.deepEqual(messageTypes(start), ["1", "2", "G"]);
      // The Sync sent with the Execute came during the COPY, which ignores it; this one ends it.
      session.conn.write(Buffer.concat([copyData("6\tsix\n"), copyDone(), syncMessage()]));
      const out = await session.conn.readUntil("Z");
      assert.equal(firstError(out), null);
      assert.deepEqual(messageTypes(out), ["C", "Z"]);
      assert.deepEqual((await shadowRows()).at(-1), ["6", "six"]);
      // A failing one: the error comes once, the session goes on.
      session.conn.write(extendedCopy("COPY other.dist FROM STDIN"));
      await session.conn.readUntil("G");
      session.conn.write(Buffer.concat([copyData("6\tagain\n"), copyDone(), syncMessage()]));
      const failed = await session.conn.readUntil("Z");
      assert.equal(firstError(failed)?.C, "23505");
      assert.deepEqual(messageTypes(failed), ["E", "Z"]);
      assert.equal(readyStatus(failed), "I");
      assert.deepEqual(dataRows(await session.conn.simpleQuery("SELECT 1")), [["1"]]);
    });

    // Before, the Sync a client sends with the Execute (libpq does), which PostgreSQL ignores in
    // copy-in mode, stayed awaited: the next statement of Canopy's in the session never ran.
    test("an extended-protocol COPY into a coordinator table, then a statement of Canopy's", async (t) => {
      if (kind === "embedded") return t.skip("the embedded cluster takes COPY FROM STDIN from a simple Query only");
      const before = Number(await count());
      session.conn.write(extendedCopy("COPY loc FROM STDIN"));
      assert.deepEqual(messageTypes(await session.conn.readUntil("G")), ["1", "2", "G"]);
      session.conn.write(Buffer.concat([copyData("50\tfifty\n"), copyDone(), syncMessage()]));
      assert.deepEqual(messageTypes(await session.conn.readUntil("Z")), ["C", "Z"]);
      assert.deepEqual(dataRows(await session.conn.simpleQuery("SELECT count(*) FROM dist")), [["3"]]);
      // All of it in one write, the data not waiting for the CopyInResponse.
      const rest = [copyData("51\tfifty-one\n"), copyDone(), syncMessage()];
      session.conn.write(Buffer.concat([extendedCopy("COPY loc FROM STDIN"), ...rest]));
      assert.deepEqual(messageTypes(await session.conn.readUntil("Z")), ["1", "2", "G", "C", "Z"]);
      assert.deepEqual(dataRows(await session.conn.simpleQuery("SELECT count(*) FROM dist")), [["3"]]);
      assert.equal(await count(), String(before + 2));
      await session.conn.simpleQueries(["DELETE FROM loc WHERE a IN (50, 51)"]);
    });

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
