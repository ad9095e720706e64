// Parameters whose declared type (Parse's parameter types, PREPARE's) is not the distribution
// column's: PostgreSQL converts the value to the column's type, which may change it (a bpchar's
// trailing spaces go in varchar, a timestamptz shifts by the time zone in timestamp, a numeric
// rounds in an integer). Rows must go to the shard of the value stored, and lookups find them.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { clusterKinds } from "../support/cluster.js";
import { rawSessionSuite } from "../support/raw_session.js";
import {
  bindMessage,
  dataRows,
  executeMessage,
  messageTypes,
  parseMessage,
  readyStatus,
  syncMessage,
  errorText,
  type RawMessage,
} from "../support/raw.js";

const BPCHAR = 1042;
const TIMESTAMPTZ = 1184;
const INT8 = 20;
const NUMERIC = 1700;

/** An int8 in binary format (a Bind parameter). */
function int8Binary(value: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(value);
  return b;
}

for (const kind of clusterKinds()) {
  describe(`parameters declared of another type than the distribution column (${kind})`, () => {
    const session = rawSessionSuite(kind, [
      "SET TimeZone = 'UTC'",
      "CREATE TABLE typed_v (k varchar(10) PRIMARY KEY, n int)",
      "SELECT create_distributed_table('typed_v', 'k')",
      "CREATE TABLE typed_t (k timestamp PRIMARY KEY, n int)",
      "SELECT create_distributed_table('typed_t', 'k')",
      "CREATE TABLE typed_i (k int PRIMARY KEY, n int)",
      "SELECT create_distributed_table('typed_i', 'k')",
    ]);

    async function prepare(name: string, sql: string, types: number[]): Promise<void> {
      session.conn.write(Buffer.concat([parseMessage(name, sql, types), syncMessage()]));
      const answer = await session.conn.readUntil("Z");
      assert.deepEqual(messageTypes(answer), ["1", "Z"], errorText(answer));
    }

    async function run(bytes: Buffer): Promise<RawMessage[]> {
      session.conn.write(bytes);
      const answer = await session.conn.readUntil("Z");
      assert.equal(errorText(answer), "");
      return answer;
    }

    const execute = (name: string, params: string[]) =>
      run(Buffer.concat([bindMessage("", name, params), executeMessage(""), syncMessage()]));

    test("bpchar into varchar: stored without its trailing spaces, found by the value stored", async () => {
      await prepare("ins_v", "INSERT INTO typed_v VALUES ($1, $2)", [BPCHAR, 0]);
      await prepare("get_v", "SELECT n FROM typed_v WHERE k = $1", [BPCHAR]);
      const keys = Array.from({ length: 12 }, (_, i) => `k${i}`);
      for (const [i, k] of keys.entries()) await execute("ins_v", [`${k}   `, String(i)]);
      for (const [i, k] of keys.entries()) {
        assert.deepEqual(
          dataRows(await session.conn.simpleQuery(`SELECT n FROM typed_v WHERE k = '${k}'`)),
          [[String(i)]],
          k,
        );
        assert.deepEqual(dataRows(await execute("get_v", [`${k}  `])), [[String(i)]], k);
      }
    });

    test("one text parsed with and without declared types: each statement keeps its own meaning", async () => {
      // Over every shard. A bpchar's trailing spaces do not count, a varchar's do: 'k1' is below
      // 'k1  ' as varchar, equal as bpchar.
      const sql = `SELECT count(*) FROM typed_v WHERE k >= $1 COLLATE "C"`;
      await prepare("typed_first", sql, [BPCHAR]);
      assert.deepEqual(dataRows(await execute("typed_first", ["k1  "])), [["11"]]);
      await prepare("plain_then", sql, []);
      assert.deepEqual(dataRows(await execute("plain_then", ["k1  "])), [["10"]]);
      assert.deepEqual(dataRows(await execute("typed_first", ["k1  "])), [["11"]]);
    });

    test("timestamptz into timestamp: the value in the session's time zone", async () => {
      await prepare("ins_t", "INSERT INTO typed_t VALUES ($1, $2)", [TIMESTAMPTZ, 0]);
      await prepare("get_t", "SELECT n FROM typed_t WHERE k = $1", [TIMESTAMPTZ]);
      // +05 is five hours ahead of the session's UTC: 05:00+05 is stored as 00:00.
      for (let h = 5; h < 17; h++) {
        await execute("ins_t", [`2024-01-01 ${String(h).padStart(2, "0")}:00:00+05`, String(h)]);
      }
      for (let h = 5; h < 17; h++) {
        const stored = `2024-01-01 ${String(h - 5).padStart(2, "0")}:00:00`;
        assert.deepEqual(
          dataRows(await session.conn.simpleQuery(`SELECT n FROM typed_t WHERE k = '${stored}'`)),
          [[String(h)]],
          stored,
        );
        assert.deepEqual(dataRows(await execute("get_t", [`${stored}+00`])), [[String(h)]], stored);
      }
    });

    test("an int8 in binary format into an int4 column, and a numeric that rounds", async () => {
      await prepare("ins_i", "INSERT INTO typed_i VALUES ($1, 1)", [INT8]);
      for (let k = 1; k <= 12; k++)
        await run(
          Buffer.concat([bindMessage("", "ins_i", [int8Binary(BigInt(k))]), executeMessage(""), syncMessage()]),
        );
      await prepare("ins_n", "INSERT INTO typed_i VALUES ($1, 2)", [NUMERIC]);
      for (let k = 13; k <= 24; k++) await execute("ins_n", [`${k}.4`]);
      await session.conn.simpleQueries(["PREPARE sql_n(numeric) AS INSERT INTO typed_i VALUES ($1, 3)"]);
      for (let k = 25; k <= 36; k++) await session.conn.simpleQueries([`EXECUTE sql_n(${k - 1}.5)`]);
      for (let k = 1; k <= 36; k++) {
        const expected = k <= 12 ? "1" : k <= 24 ? "2" : "3";
        assert.deepEqual(
          dataRows(await session.conn.simpleQuery(`SELECT n FROM typed_i WHERE k = ${k}`)),
          [[expected]],
          String(k),
        );
      }
      const count = await session.conn.simpleQuery("SELECT count(*) FROM typed_i");
      assert.deepEqual(dataRows(count), [["36"]]);
      assert.equal(readyStatus(count), "I");
    });
  });
}
