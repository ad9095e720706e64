// Execute with a row limit on portals Canopy intercepts: rows in batches with PortalSuspended
// between, never twice, as PostgreSQL answers (cursor-style fetching: JDBC setFetchSize,
// node-postgres Cursor, postgres.js cursor). Each raw sequence goes to a Canopy cluster and to a
// plain PostgreSQL holding the same rows; the answers must match message for message.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import postgres from "postgres";
import { startLocalCluster, type TestCluster } from "../support/cluster.js";
import { startTempPostgres, type TempPostgres } from "../support/postgres.js";
import {
  RawConnection,
  bindMessage,
  dataRowBuffers,
  executeMessage,
  parseErrorFields,
  parseMessage,
  queryMessage,
  syncMessage,
  type RawMessage,
} from "../support/raw.js";

const setup = [
  "CREATE TABLE orders (tenant_id int, id int, amount int)",
  "INSERT INTO orders SELECT i % 4, i, i FROM generate_series(1, 20) i",
];

/** A message as compared: its type, and its values, tag or SQLSTATE and message. */
function summary(m: RawMessage): string {
  if (m.type === "D") return `D(${dataRowBuffers(m.body).map((v) => v?.toString() ?? "null")})`;
  if (m.type === "C") return `C(${m.body.toString("utf8", 0, m.body.length - 1)})`;
  if (m.type === "E") {
    const f = parseErrorFields(m.body);
    return `E(${f.C} ${f.M})`;
  }
  return m.type;
}

describe("Execute with a row limit on intercepted portals", () => {
  let cluster: TestCluster;
  let plain: TempPostgres;
  let canopyRaw: RawConnection;
  let plainRaw: RawConnection;

  before(async () => {
    [cluster, plain] = await Promise.all([startLocalCluster(), startTempPostgres()]);
    for (const url of [cluster.url, plain.url]) {
      const c = new pg.Client(url);
      await c.connect();
      await c.query(setup[0]);
      if (url === cluster.url) await c.query("SELECT create_distributed_table('orders', 'tenant_id')");
      await c.query(setup[1]);
      await c.end();
    }
    canopyRaw = (await RawConnection.startup(cluster.port)).conn;
    plainRaw = (await RawConnection.startup(plain.port)).conn;
  });

  after(async () => {
    canopyRaw?.socket.destroy();
    plainRaw?.socket.destroy();
    await cluster?.stop();
    await plain?.stop();
  });

  /** Sends the messages to both servers; returns the answers up to ReadyForQuery, after checking they match. */
  async function both(messages: Buffer[]): Promise<string[]> {
    const answers: string[][] = [];
    for (const conn of [canopyRaw, plainRaw]) {
      conn.write(Buffer.concat(messages));
      answers.push((await conn.readUntil("Z", 20_000)).map(summary));
    }
    assert.deepEqual(answers[0], answers[1]);
    return answers[0];
  }

  test("a multi-shard SELECT in batches, fetched past its end, and its portal gone after the Sync", async () => {
    const answer = await both([
      parseMessage("", "SELECT id FROM orders ORDER BY id"),
      bindMessage("", ""),
      ...Array.from({ length: 4 }, () => executeMessage("", 6)),
      executeMessage("", 6),
      syncMessage(),
    ]);
    assert.deepEqual(
      answer.filter((m) => !m.startsWith("D")),
      ["1", "2", "s", "s", "s", "C(SELECT 2)", "C(SELECT 0)", "Z"],
    );
    assert.deepEqual(
      answer.filter((m) => m.startsWith("D")),
      Array.from({ length: 20 }, (_, i) => `D(${i + 1})`),
    );
    const again = await both([executeMessage("", 6), syncMessage()]);
    assert.match(again[0], /^E\(34000 /);
  });

  test("a router SELECT in batches, without a limit for the rest", async () => {
    const answer = await both([
      parseMessage("", "SELECT id, amount FROM orders WHERE tenant_id = $1 ORDER BY id"),
      bindMessage("", "", ["1"]),
      executeMessage("", 2),
      executeMessage("", 0),
      executeMessage("", 2),
      syncMessage(),
    ]);
    assert.deepEqual(answer, [
      "1",
      "2",
      "D(1,1)",
      "D(5,5)",
      "s",
      "D(9,9)",
      "D(13,13)",
      "D(17,17)",
      "C(SELECT 3)",
      "C(SELECT 0)",
      "Z",
    ]);
  });

  test("a named portal in a transaction, fetched in batches between other statements", async () => {
    await both([queryMessage("BEGIN")]);
    const first = await both([
      parseMessage("s1", "SELECT id FROM orders WHERE id > $1 ORDER BY id"),
      bindMessage("p1", "s1", ["12"]),
      executeMessage("p1", 3),
      syncMessage(),
    ]);
    assert.deepEqual(first, ["1", "2", "D(13)", "D(14)", "D(15)", "s", "Z"]);
    const between = await both([
      parseMessage("", "SELECT count(*) FROM orders WHERE tenant_id = 0"),
      bindMessage("", ""),
      executeMessage("", 0),
      executeMessage("p1", 3),
      syncMessage(),
    ]);
    assert.deepEqual(between, ["1", "2", "D(5)", "C(SELECT 1)", "D(16)", "D(17)", "D(18)", "s", "Z"]);
    const rest = await both([executeMessage("p1", 3), executeMessage("p1", 3), syncMessage()]);
    assert.deepEqual(rest, ["D(19)", "D(20)", "C(SELECT 2)", "C(SELECT 0)", "Z"]);
    await both([queryMessage("COMMIT")]);
    const after = await both([executeMessage("p1", 3), syncMessage()]);
    assert.match(after[0], /^E\(34000 /);
  });

  test("UPDATE … RETURNING runs whole at the first Execute and its rows come one by one", async () => {
    const answer = await both([
      parseMessage("", "UPDATE orders SET amount = amount + 100 WHERE tenant_id = 2 AND id < 10 RETURNING id"),
      bindMessage("", ""),
      executeMessage("", 1),
      executeMessage("", 1),
      executeMessage("", 1),
      executeMessage("", 1),
      syncMessage(),
    ]);
    // Rows of one shard, in the order of its heap: both servers have the same.
    assert.deepEqual(answer, ["1", "2", "D(2)", "s", "D(6)", "s", "C(UPDATE 0)", "C(UPDATE 0)", "Z"]);
    const sums = await both([queryMessage("SELECT sum(amount) FROM orders WHERE tenant_id = 2")]);
    assert.deepEqual(sums.slice(1, 2), ["D(250)"]);
    // One without rows runs once: a second Execute is refused.
    const plainUpdate = await both([
      parseMessage("", "UPDATE orders SET amount = amount WHERE tenant_id = 3"),
      bindMessage("", ""),
      executeMessage("", 1),
      executeMessage("", 1),
      syncMessage(),
    ]);
    assert.deepEqual(plainUpdate, ["1", "2", "C(UPDATE 5)", 'E(55000 portal "" cannot be run)', "Z"]);
  });

  test("rows left for later Executes are bounded by canopy.max_intermediate_result_size", async () => {
    const run = async (maxRows: number) => {
      canopyRaw.write(
        Buffer.concat([
          parseMessage("", "SELECT id, repeat('x', 500) FROM orders WHERE tenant_id = $1"),
          bindMessage("", "", ["1"]),
          executeMessage("", maxRows),
          syncMessage(),
        ]),
      );
      return (await canopyRaw.readUntil("Z", 20_000)).map(summary);
    };
    canopyRaw.write(queryMessage("SET canopy.max_intermediate_result_size = 1"));
    await canopyRaw.readUntil("Z");
    try {
      const limited = await run(2);
      assert.match(limited[2], /^E\(54000 the rows kept for a portal exceed canopy.max_intermediate_result_size/);
      // Without a row limit nothing is kept: the rows go out as they come.
      assert.equal((await run(0)).filter((m) => m.startsWith("D")).length, 5);
    } finally {
      canopyRaw.write(queryMessage("RESET canopy.max_intermediate_result_size"));
      await canopyRaw.readUntil("Z");
    }
  });

  test("postgres.js cursor(7) gets batches of 7, each row once", async () => {
    for (const url of [cluster.url, plain.url]) {
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        const batches: number[][] = [];
        for await (const rows of sql`SELECT id FROM orders ORDER BY id`.cursor(7)) batches.push(rows.map((r) => r.id));
        assert.deepEqual(
          batches.map((b) => b.length),
          [7, 7, 6],
        );
        assert.deepEqual(
          batches.flat(),
          Array.from({ length: 20 }, (_, i) => i + 1),
        );
      } finally {
        await sql.end();
      }
    }
  });
});
