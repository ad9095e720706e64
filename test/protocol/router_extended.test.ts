// A prepared router query over the extended protocol, message by message: Canopy answers its
// Describe and Sync without the coordinator database, so the transaction status it reports in
// ReadyForQuery must still be PostgreSQL's — idle, in a block, and in a failed block.
import { test, describe, before } from "node:test";
import assert from "node:assert/strict";
import { clusterKinds } from "../support/cluster.js";
import { rawSessionSuite } from "../support/raw_session.js";
import {
  dataRowValues,
  parseErrorFields,
  parseMessage,
  syncMessage,
  messageTypes,
  readyStatus,
  errorText,
  type RawMessage,
} from "../support/raw.js";

for (const kind of clusterKinds()) {
  describe(`prepared router query, message by message (${kind})`, () => {
    const session = rawSessionSuite(kind, [
      "CREATE TABLE kv (k int PRIMARY KEY, v text)",
      "SELECT create_distributed_table('kv', 'k')",
      "INSERT INTO kv VALUES (1, 'one'), (2, 'two'), (3, 'three')",
    ]);

    before(async () => {
      session.conn.write(Buffer.concat([parseMessage("get", "SELECT v FROM kv WHERE k = $1", [23]), syncMessage()]));
      assert.deepEqual(messageTypes(await session.conn.readUntil("Z")), ["1", "Z"]);
    });

    /** Runs the prepared statement for key k; returns the messages up to ReadyForQuery. */
    const get = (k: number): Promise<RawMessage[]> => session.conn.executePrepared("get", [String(k)]);

    test("outside a block: rows, then ReadyForQuery idle, every time", async () => {
      for (const k of [1, 2, 3, 1]) {
        const answer = await get(k);
        assert.deepEqual(messageTypes(answer), ["2", "T", "D", "C", "Z"], errorText(answer));
        assert.equal(dataRowValues(answer.find((m) => m.type === "D")!.body)[0], ["one", "two", "three"][k - 1]);
        assert.equal(readyStatus(answer), "I");
      }
    });

    test("in a block: status T; after an error: 25P02 and status E; after ROLLBACK: idle again", async () => {
      assert.equal(readyStatus(await session.conn.simpleQuery("BEGIN")), "T");
      let answer = await get(2);
      assert.equal(readyStatus(answer), "T");
      assert.equal(dataRowValues(answer.find((m) => m.type === "D")!.body)[0], "two");
      answer = await session.conn.simpleQuery("SELECT 1/0");
      assert.equal(readyStatus(answer), "E");
      answer = await get(3);
      assert.equal(parseErrorFields(answer.find((m) => m.type === "E")!.body).C, "25P02", errorText(answer));
      assert.equal(readyStatus(answer), "E");
      assert.equal(readyStatus(await session.conn.simpleQuery("ROLLBACK")), "I");
      answer = await get(3);
      assert.equal(readyStatus(answer), "I");
      assert.equal(dataRowValues(answer.find((m) => m.type === "D")!.body)[0], "three");
    });
  });
}
