// When Canopy's answers reach the client. As PostgreSQL does, what a statement sends is held while
// the client's messages are being handled and leaves when the session waits for the client: a
// router query's BindComplete, RowDescription, rows and ReadyForQuery in one write (one wakeup of
// the client, one syscall), and nothing held back from a client that waits after a Flush or a
// ReadyForQuery (a later statement of its pipeline may wait for a lock the client must release).
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { startLocalCluster, type TestCluster } from "../support/cluster.js";
import { RawConnection, bindMessage, executeMessage, message, parseMessage, syncMessage } from "../support/raw.js";

describe("client output", () => {
  let cluster: TestCluster;
  let raw: RawConnection;

  before(async () => {
    cluster = await startLocalCluster();
    const c = new pg.Client(cluster.url);
    await c.connect();
    await c.query("CREATE TABLE accounts (id int PRIMARY KEY, balance int)");
    await c.query("SELECT create_distributed_table('accounts', 'id')");
    await c.query("INSERT INTO accounts SELECT i, i * 10 FROM generate_series(1, 1000) i");
    await c.query("CREATE TABLE pipeline_local (k int)");
    await c.end();
    raw = (await RawConnection.startup(cluster.port)).conn;
    raw.write(Buffer.concat([parseMessage("router", "SELECT balance FROM accounts WHERE id = $1"), syncMessage()]));
    await raw.readUntil("Z");
  });

  after(async () => {
    raw?.destroy();
    await cluster?.stop();
  });

  test("a router query's whole answer arrives in one piece", async () => {
    let pieces = 0;
    const count = () => pieces++;
    raw.socket.on("data", count);
    try {
      // The first queries open the connections to the workers (which asks the coordinator database).
      for (let id = 1; id <= 40; id++) {
        pieces = 0;
        const answer = await raw.executePrepared("router", [String(id)]);
        assert.deepEqual(
          answer.map((m) => m.type),
          ["2", "T", "D", "C", "Z"],
        );
        if (id > 20) assert.equal(pieces, 1, `query ${id}: the answer came in ${pieces} pieces`);
      }
    } finally {
      raw.socket.off("data", count);
    }
  });

  test("a client that sends Flush and waits gets the answers so far", async () => {
    raw.write(Buffer.concat([bindMessage("", "router", ["7"]), executeMessage(""), message("H")]));
    const answer = await raw.readUntil("C", 10_000);
    assert.deepEqual(
      answer.map((m) => m.type),
      ["2", "D", "C"],
    );
    raw.write(syncMessage());
    assert.deepEqual(
      (await raw.readUntil("Z")).map((m) => m.type),
      ["Z"],
    );
  });

  test("answers up to a ReadyForQuery leave while a later statement of the pipeline waits for a lock", async () => {
    const holder = new pg.Client(cluster.url);
    await holder.connect();
    await holder.query("BEGIN");
    await holder.query("UPDATE accounts SET balance = balance WHERE id = 1");
    try {
      raw.write(
        Buffer.concat([
          bindMessage("", "router", ["2"]),
          executeMessage(""),
          syncMessage(),
          parseMessage("", "SELECT 41 + 1"),
          bindMessage("", ""),
          executeMessage(""),
          syncMessage(),
          parseMessage("", "UPDATE accounts SET balance = balance + 1 WHERE id = 1"),
          bindMessage("", ""),
          executeMessage(""),
          syncMessage(),
        ]),
      );
      // The router SELECT's answer (Canopy's own ReadyForQuery) and the coordinator database's.
      assert.deepEqual(
        (await raw.readUntil("Z", 5000)).map((m) => m.type),
        ["2", "D", "C", "Z"],
      );
      assert.deepEqual(
        (await raw.readUntil("Z", 5000)).map((m) => m.type),
        ["1", "2", "D", "C", "Z"],
      );
    } finally {
      await holder.query("ROLLBACK");
      await holder.end();
    }
    assert.deepEqual(
      (await raw.readUntil("Z", 10_000)).map((m) => m.type),
      ["1", "2", "C", "Z"],
    );
  });

  test("a statement Canopy cannot parse does not end the client's pipelined statements early", async () => {
    // A fresh session: its settings are read while the statement is classified.
    const fresh = (await RawConnection.startup(cluster.port)).conn;
    try {
      fresh.write(
        Buffer.concat([
          parseMessage("", "INSERT INTO pipeline_local VALUES (1)"),
          bindMessage("", ""),
          executeMessage(""),
          parseMessage("", "SELEC balance FROM accounts WHERE 'pending' = 'x'"),
          bindMessage("", ""),
          executeMessage(""),
          syncMessage(),
        ]),
      );
      const answer = await fresh.readUntil("Z", 10_000);
      assert.deepEqual(
        answer.map((m) => m.type),
        ["1", "2", "C", "E", "Z"],
      );
    } finally {
      fresh.destroy();
    }
    const c = new pg.Client(cluster.url);
    await c.connect();
    // As in PostgreSQL, the syntax error rolled back the INSERT before it in the pipeline.
    assert.equal((await c.query("SELECT count(*)::int AS n FROM pipeline_local")).rows[0].n, 0);
    await c.end();
  });

  test("a multi-shard answer larger than the socket's buffer arrives whole", async () => {
    raw.write(
      Buffer.concat([
        parseMessage("", "SELECT id, repeat('x', 200) FROM accounts ORDER BY id"),
        bindMessage("", ""),
        executeMessage(""),
        syncMessage(),
      ]),
    );
    const answer = await raw.readUntil("Z", 20_000);
    assert.equal(answer.filter((m) => m.type === "D").length, 1000);
    assert.equal(answer.at(-2)?.type, "C");
  });
});
