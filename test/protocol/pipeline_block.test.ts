// Extended-protocol statements up to a Sync are one implicit transaction in PostgreSQL: a JDBC
// batch or a pipeline commits whole at its Sync or not at all, and shares one now(). Canopy opens a
// block of its own when a statement on distributed tables is not alone before the Sync
// (Session.pipelineBlock), and ends it at the Sync. Sent as raw messages: drivers such as
// node-postgres put a Sync after every statement.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { clusterKinds, startCluster, type TestCluster } from "../support/cluster.js";
import {
  RawConnection,
  bindMessage,
  executeMessage,
  firstError,
  parseErrorFields,
  parseMessage,
  syncMessage,
  type RawMessage,
} from "../support/raw.js";
import { sleep } from "../support/wait.js";

const insert = "INSERT INTO batch_items (k, at) VALUES ($1::int, now())";

for (const kind of clusterKinds()) {
  describe(`pipelined statements as one transaction (${kind})`, () => {
    let cluster: TestCluster;
    let c: pg.Client;
    let raw: RawConnection;

    before(async () => {
      cluster = await startCluster(kind);
      c = new pg.Client(cluster.url);
      await c.connect();
      await c.query("CREATE TABLE batch_items (k int PRIMARY KEY, at timestamptz)");
      await c.query("SELECT create_distributed_table('batch_items', 'k')");
      raw = (await RawConnection.startup(Number(new URL(cluster.url).port))).conn;
    });

    after(async () => {
      raw?.socket.destroy();
      await c?.end();
      await cluster?.stop();
    });

    /** Parse once, then Bind/Execute per key, then Sync, in one write; the answers up to ReadyForQuery. */
    async function batch(keys: readonly string[]): Promise<RawMessage[]> {
      const out = [parseMessage("", insert)];
      for (const k of keys) out.push(bindMessage("", "", [k]), executeMessage(""));
      out.push(syncMessage());
      raw.write(Buffer.concat(out));
      return raw.readUntil("Z", 10_000);
    }

    const count = async (where = "true") =>
      Number((await c.query(`SELECT count(*) AS n FROM batch_items WHERE ${where}`)).rows[0].n);
    const status = (messages: readonly RawMessage[]) => String.fromCharCode(messages[messages.length - 1].body[0]);

    test("a batch commits whole at its Sync, with one now()", async () => {
      const answers = await batch(["1", "2", "3", "4", "5", "6", "7", "8"]);
      assert.equal(firstError(answers), null);
      assert.equal(answers.filter((m) => m.type === "C").length, 8);
      assert.equal(status(answers), "I");
      assert.equal(await count(), 8);
      assert.equal((await c.query("SELECT count(DISTINCT at)::int AS n FROM batch_items")).rows[0].n, 1);
    });

    test("an error anywhere in the batch leaves nothing of it, on any worker", async () => {
      const answers = await batch(["11", "12", "13", "14", "15", "16", "3", "17"]);
      assert.equal(firstError(answers)?.C, "23505");
      assert.equal(status(answers), "I");
      assert.equal(await count("k > 10"), 0);
      // The connection goes on: the next batch commits.
      assert.equal(firstError(await batch(["21", "22"])), null);
      assert.equal(await count("k > 20"), 2);
    });

    test("a Sync that comes later: nothing is visible to others before it, everything after it", async () => {
      raw.write(Buffer.concat([parseMessage("", insert), bindMessage("", "", ["31"]), executeMessage("")]));
      raw.write(Buffer.concat([bindMessage("", "", ["32"]), executeMessage("")]));
      await sleep(300);
      // An embedded coordinator database's one backend is the open block's until it ends: another
      // session would wait for it.
      if (kind === "local") assert.equal(await count("k > 30"), 0);
      raw.write(syncMessage());
      const answers = await raw.readUntil("Z", 10_000);
      assert.equal(firstError(answers), null);
      assert.equal(status(answers), "I");
      assert.equal(await count("k > 30"), 2);
    });

    test("a statement alone before its Sync commits at once, as before", async () => {
      assert.equal(firstError(await batch(["41"])), null);
      assert.equal(await count("k = 41"), 1);
    });

    /** Each statement Parsed, Bound with its values and Executed, then one Sync; the answers. */
    async function pipeline(...statements: [string, string[]][]): Promise<RawMessage[]> {
      const out: Buffer[] = [];
      for (const [sql, values] of statements) {
        out.push(parseMessage("", sql), bindMessage("", "", values), executeMessage(""));
      }
      raw.write(Buffer.concat([...out, syncMessage()]));
      return raw.readUntil("Z", 10_000);
    }

    test("an error in a statement the coordinator database runs fails the block: one ErrorResponse, nothing kept", async () => {
      await c.query("CREATE TABLE batch_local (n int)");
      const answers = await pipeline(
        [insert, ["71"]],
        ["INSERT INTO batch_local VALUES ($1::int)", ["71"]],
        ["SELECT 1/0", []],
      );
      assert.deepEqual(
        answers.filter((m) => m.type === "E").map((m) => parseErrorFields(m.body).C),
        ["22012"],
      );
      assert.equal(status(answers), "I");
      assert.equal(await count("k = 71"), 0);
      assert.equal(Number((await c.query("SELECT count(*) AS n FROM batch_local")).rows[0].n), 0);
    });

    test("transaction control beside statements outside BEGIN … COMMIT: refused, nothing kept, the session usable", async () => {
      // PostgreSQL: SAVEPOINT outside a block fails the batch; BEGIN would leave a block open
      // after the Sync; the statements after COMMIT are a transaction of their own.
      for (const statements of [
        [
          [insert, ["51"]],
          [insert, ["52"]],
          ["SAVEPOINT a", []],
        ],
        [
          [insert, ["53"]],
          [insert, ["54"]],
          ["BEGIN", []],
        ],
        [
          [insert, ["55"]],
          [insert, ["56"]],
          ["ROLLBACK", []],
        ],
      ] as [string, string[]][][]) {
        const answers = await pipeline(...statements);
        assert.equal(firstError(answers)?.C, "0A000");
        assert.equal(status(answers), "I");
      }
      const answers = await pipeline(
        ["BEGIN", []],
        [insert, ["57"]],
        ["COMMIT", []],
        [insert, ["58"]],
        [insert, ["59"]],
      );
      assert.equal(firstError(answers)?.C, "0A000");
      assert.equal(status(answers), "I");
      assert.deepEqual(
        (await c.query("SELECT k FROM batch_items WHERE k > 50 ORDER BY k")).rows.map((r) => r.k),
        [57],
      );
      // The connection goes on, and two blocks in one pipeline commit each.
      assert.equal(firstError(await batch(["60", "61"])), null);
      assert.equal(await count("k >= 60"), 2);
      const blocks = await pipeline(
        ["BEGIN", []],
        [insert, ["62"]],
        ["COMMIT", []],
        ["BEGIN", []],
        [insert, ["63"]],
        ["COMMIT", []],
      );
      assert.equal(firstError(blocks), null);
      assert.equal(status(blocks), "I");
      assert.equal(await count("k >= 62"), 2);
    });
  });
}
