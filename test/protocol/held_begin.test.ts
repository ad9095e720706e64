// A client's BEGIN that Canopy answers itself and sends to the coordinator database with the
// block's next message there (BackendPipe.holdBegin): a BEGIN sent as a Query, and a prepared
// statement seen to be a BEGIN once. The block must be PostgreSQL's all the same: atomic, its
// modes settable after BEGIN, its start no later than the hold's limit (10 ms) after the BEGIN,
// and a statement name prepared again as something else must not be answered as a BEGIN.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { startLocalCluster, type TestCluster } from "../support/cluster.js";
import {
  RawConnection,
  bindMessage,
  dataRows,
  describeMessage,
  executeMessage,
  messageTypes,
  parseMessage,
  readyStatus,
  syncMessage,
  errorText,
  type RawMessage,
} from "../support/raw.js";

describe("a BEGIN answered by Canopy and sent with the block's next statement", () => {
  let cluster: TestCluster;
  let conn: RawConnection;
  let other: RawConnection;

  before(async () => {
    cluster = await startLocalCluster(2);
    ({ conn } = await RawConnection.startup(cluster.port));
    ({ conn: other } = await RawConnection.startup(cluster.port));
    await conn.simpleQueries([
      "CREATE TABLE held_dist (k int PRIMARY KEY, v int)",
      "SELECT create_distributed_table('held_dist', 'k')",
      "CREATE TABLE held_local (k int PRIMARY KEY, v int)",
    ]);
  });

  after(async () => {
    conn?.socket.destroy();
    other?.socket.destroy();
    await cluster?.stop();
  });

  async function prepare(name: string, sql: string): Promise<void> {
    conn.write(Buffer.concat([parseMessage(name, sql), syncMessage()]));
    const answer = await conn.readUntil("Z");
    assert.deepEqual(messageTypes(answer), ["1", "Z"], errorText(answer));
  }

  /** Runs a prepared BEGIN as pgbench -M prepared does (Bind, Describe, Execute, Sync). */
  async function begin(name: string): Promise<void> {
    const answer = await conn.executePrepared(name);
    assert.deepEqual(messageTypes(answer), ["2", "n", "C", "Z"], errorText(answer));
    assert.equal(readyStatus(answer), "T");
  }

  /**
   * Prepares `name` as a BEGIN and runs it once (so that it is seen to open a block), then sends
   * its Bind and Execute with `sql` as an unnamed statement, before one Sync; returns the answers.
   */
  async function beginBatchedWith(name: string, sql: string): Promise<RawMessage[]> {
    await prepare(name, "BEGIN");
    await begin(name);
    await conn.simpleQuery("ROLLBACK");
    conn.write(
      Buffer.concat([
        bindMessage("", name),
        executeMessage(""),
        parseMessage("", sql),
        bindMessage("", ""),
        executeMessage(""),
        syncMessage(),
      ]),
    );
    return conn.readUntil("Z");
  }

  async function count(table: string): Promise<string | null> {
    return dataRows(await other.simpleQuery(`SELECT count(*) FROM ${table}`))[0][0];
  }

  test("a prepared BEGIN, the second time held: the block is atomic over workers and the coordinator", async () => {
    await prepare("b", "BEGIN");
    for (const [end, expected] of [
      ["ROLLBACK", "0"],
      ["ROLLBACK", "0"],
      ["COMMIT", "20"],
    ] as const) {
      await begin("b");
      for (let k = 1; k <= 10; k++) {
        const answer = await conn.simpleQuery(
          `INSERT INTO held_dist VALUES (${k}, 1); INSERT INTO held_local VALUES (${k}, 1)`,
        );
        assert.equal(readyStatus(answer), "T", errorText(answer));
      }
      // Not visible to another session before the end of the block.
      assert.equal(await count("held_dist"), "0");
      assert.equal(await count("held_local"), "0");
      assert.equal(readyStatus(await conn.simpleQuery(end)), "I");
      const total = String(Number(await count("held_dist")) + Number(await count("held_local")));
      assert.equal(total, expected);
    }
    await conn.simpleQueries(["TRUNCATE held_dist", "TRUNCATE held_local"]);
  });

  test("the block's now() is the BEGIN's, not that of a statement sent long after it", async () => {
    await prepare("b2", "BEGIN");
    await begin("b2");
    await conn.simpleQuery("ROLLBACK");
    for (const run of [() => begin("b2"), () => conn.simpleQuery("BEGIN")]) {
      const before = dataRows(await conn.simpleQuery("SELECT pg_catalog.clock_timestamp()::text"))[0][0];
      await run();
      await new Promise((r) => setTimeout(r, 300));
      const answer = await conn.simpleQuery(
        `SELECT extract(epoch FROM now() - '${before}'::timestamptz) * 1000, state
           FROM pg_stat_activity WHERE pid = pg_backend_pid()`,
      );
      const [elapsedMs, state] = dataRows(answer)[0];
      assert.ok(Number(elapsedMs) < 150, `now() is ${elapsedMs} ms after the client's BEGIN`);
      assert.equal(state, "active");
      assert.equal(readyStatus(await conn.simpleQuery("ROLLBACK")), "I");
    }
  });

  test("a held BEGIN reaches the coordinator database on its own: idle in transaction, and its timeout", async () => {
    const { conn: idle } = await RawConnection.startup(cluster.port);
    try {
      const pid = dataRows(await idle.simpleQuery("SELECT pg_backend_pid()"))[0][0];
      await idle.simpleQuery("SET idle_in_transaction_session_timeout = '500ms'");
      assert.equal(readyStatus(await idle.simpleQuery("BEGIN")), "T");
      await new Promise((r) => setTimeout(r, 200));
      const state = dataRows(await other.simpleQuery(`SELECT state FROM pg_stat_activity WHERE pid = ${pid}`));
      assert.deepEqual(state, [["idle in transaction"]]);
      // PostgreSQL ends the session once the block has been idle past the timeout.
      await idle.waitClosed(5000);
    } finally {
      idle.socket.destroy();
    }
  });

  test("modes set after a BEGIN sent as a Query: SET TRANSACTION still comes before any snapshot", async () => {
    assert.equal(readyStatus(await conn.simpleQuery("BEGIN")), "T");
    const set = await conn.simpleQuery("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
    assert.equal(readyStatus(set), "T", errorText(set));
    await conn.simpleQuery("SELECT count(*) FROM held_dist");
    assert.deepEqual(dataRows(await conn.simpleQuery("SHOW transaction_isolation")), [["repeatable read"]]);
    assert.equal(readyStatus(await conn.simpleQuery("COMMIT")), "I");
    assert.equal(readyStatus(await conn.simpleQuery("START TRANSACTION")), "T");
    assert.equal(readyStatus(await conn.simpleQuery("COMMIT")), "I");
  });

  test("a statement name prepared again, or deallocated and prepared in SQL, is no BEGIN any more", async () => {
    await prepare("again", "BEGIN");
    await begin("again");
    await conn.simpleQuery("ROLLBACK");
    await begin("again");
    await conn.simpleQuery("ROLLBACK");
    // Close and Parse under the same name.
    conn.write(
      Buffer.concat([Buffer.from("C\0\0\0\x0bSagain\0", "latin1"), parseMessage("again", "SELECT 1"), syncMessage()]),
    );
    assert.deepEqual(messageTypes(await conn.readUntil("Z")), ["3", "1", "Z"]);
    let answer = await conn.executePrepared("again");
    assert.deepEqual(dataRows(answer), [["1"]], errorText(answer));
    assert.equal(readyStatus(answer), "I");
    // DEALLOCATE in SQL, then PREPARE in SQL.
    await prepare("viasql", "BEGIN");
    await begin("viasql");
    await conn.simpleQuery("ROLLBACK");
    await begin("viasql");
    await conn.simpleQuery("ROLLBACK");
    await conn.simpleQueries(["DEALLOCATE viasql", "PREPARE viasql AS SELECT 2"]);
    answer = await conn.executePrepared("viasql");
    assert.deepEqual(dataRows(answer), [["2"]], errorText(answer));
    assert.equal(readyStatus(answer), "I");
    // A Bind of a BEGIN followed by another statement before the Sync is not held either.
    answer = await beginBatchedWith("b3", "SELECT pg_catalog.txid_current_if_assigned() IS NULL");
    assert.deepEqual(messageTypes(answer), ["2", "C", "1", "2", "D", "C", "Z"], errorText(answer));
    assert.equal(readyStatus(answer), "T");
    assert.equal(readyStatus(await conn.simpleQuery("ROLLBACK")), "I");
  });

  test("a BEGIN batched with a statement Canopy refuses, and one described twice: PostgreSQL's answers", async () => {
    let answer = await beginBatchedWith("b4", "SELECT count(*) FROM held_dist; SELECT 1");
    assert.deepEqual(messageTypes(answer), ["2", "C", "E", "Z"]);
    assert.equal(readyStatus(answer), "E");
    // The next batch is the client's again: its ROLLBACK runs.
    conn.write(Buffer.concat([parseMessage("", "ROLLBACK"), bindMessage("", ""), executeMessage(""), syncMessage()]));
    answer = await conn.readUntil("Z");
    assert.deepEqual(messageTypes(answer), ["1", "2", "C", "Z"], errorText(answer));
    assert.equal(readyStatus(answer), "I");
    // Held (once seen again after the Parse above), with two Describes of the portal: two NoData.
    await begin("b4");
    await conn.simpleQuery("ROLLBACK");
    conn.write(
      Buffer.concat([
        bindMessage("", "b4"),
        describeMessage("P", ""),
        describeMessage("P", ""),
        executeMessage(""),
        syncMessage(),
      ]),
    );
    answer = await conn.readUntil("Z");
    assert.deepEqual(messageTypes(answer), ["2", "n", "n", "C", "Z"], errorText(answer));
    assert.equal(readyStatus(answer), "T");
    assert.equal(readyStatus(await conn.simpleQuery("ROLLBACK")), "I");
  });
});
