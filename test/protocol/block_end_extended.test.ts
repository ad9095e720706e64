// A transaction block that reached both workers, ended over the extended protocol message by
// message: Canopy answers the Syncs of statements that ran internal queries without waiting for
// the coordinator database, describes COMMIT itself, and sends the coordinator database's COMMIT
// with the client's Sync. The statuses in ReadyForQuery must still be PostgreSQL's, also when the
// COMMIT fails in the coordinator database (a deferred constraint): error, then idle, nothing kept.
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
} from "../support/raw.js";

for (const kind of clusterKinds()) {
  describe(`a block over both workers ended by a prepared COMMIT (${kind})`, () => {
    const session = rawSessionSuite(kind, [
      "CREATE TABLE kv (k int PRIMARY KEY, v int NOT NULL)",
      "SELECT create_distributed_table('kv', 'k')",
      "INSERT INTO kv SELECT g, 0 FROM generate_series(1, 20) g",
      "CREATE TABLE ledger (id int UNIQUE DEFERRABLE INITIALLY DEFERRED)",
    ]);

    before(async () => {
      session.conn.write(
        Buffer.concat([
          parseMessage("add", "UPDATE kv SET v = v + $2 WHERE k = $1", [23, 23]),
          parseMessage("commit", "COMMIT"),
          syncMessage(),
        ]),
      );
      assert.deepEqual(messageTypes(await session.conn.readUntil("Z")), ["1", "1", "Z"]);
    });

    /** Adds `amount` to every row, one prepared UPDATE per key: every shard, so both workers. */
    async function addEverywhere(amount: number): Promise<void> {
      for (let k = 1; k <= 20; k++) {
        const answer = await session.conn.executePrepared("add", [String(k), String(amount)]);
        assert.deepEqual(messageTypes(answer), ["2", "n", "C", "Z"], errorText(answer));
        assert.equal(readyStatus(answer), "T");
      }
    }

    async function sum(): Promise<string | null> {
      const answer = await session.conn.simpleQuery("SELECT sum(v) FROM kv");
      return dataRowValues(answer.find((m) => m.type === "D")!.body)[0];
    }

    test("COMMIT: described as returning no rows, then committed and idle", async () => {
      assert.equal(readyStatus(await session.conn.simpleQuery("BEGIN")), "T");
      await addEverywhere(1);
      const answer = await session.conn.executePrepared("commit");
      assert.deepEqual(messageTypes(answer), ["2", "n", "C", "Z"], errorText(answer));
      assert.equal(readyStatus(answer), "I");
      assert.equal(await sum(), "20");
      const prepared = await session.conn.simpleQuery(
        "SELECT result FROM run_command_on_workers('SELECT count(*) FROM pg_prepared_xacts')",
      );
      assert.deepEqual(
        prepared.filter((m) => m.type === "D").map((m) => dataRowValues(m.body)[0]),
        ["0", "0"],
      );
    });

    test("a COMMIT the coordinator database refuses: its error, then idle, and nothing of the block", async () => {
      assert.equal(readyStatus(await session.conn.simpleQuery("BEGIN")), "T");
      await addEverywhere(1);
      assert.equal(readyStatus(await session.conn.simpleQuery("INSERT INTO ledger VALUES (1), (1)")), "T");
      const answer = await session.conn.executePrepared("commit");
      assert.deepEqual(messageTypes(answer), ["2", "n", "E", "Z"]);
      assert.equal(parseErrorFields(answer.find((m) => m.type === "E")!.body).C, "23505");
      assert.equal(readyStatus(answer), "I");
      assert.equal(await sum(), "20", "the workers' part rolled back");
      const ledger = await session.conn.simpleQuery("SELECT count(*) FROM ledger");
      assert.equal(dataRowValues(ledger.find((m) => m.type === "D")!.body)[0], "0");
    });
  });
}
