// Parse and Bind of statements on distributed tables are checked as PostgreSQL checks them, with
// its errors at the same messages: a Parse naming an unknown column or leaving a parameter's type
// undetermined fails at Parse; a Bind whose parameter or format counts do not fit the statement
// fails at Bind (08P01), a format code other than 0 and 1 with 22023; in a failed block, Parse,
// Bind and the Describe of a statement with rows fail with 25P02. The expected messages are
// PostgreSQL 15's. Canopy's own describing of a statement leaves the client's unnamed statement
// on the coordinator database as it was.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { clusterKinds, startCluster, type TestCluster } from "../support/cluster.js";
import {
  RawConnection,
  bindMessage,
  bindMessageWithFormats,
  dataRows,
  describeMessage,
  errorText,
  executeMessage,
  firstError,
  messageTypes,
  parseMessage,
  readyStatus,
  syncMessage,
} from "../support/raw.js";

const INT4 = 23;
const TEXT = 25;
const BOOL = 16;

for (const kind of clusterKinds()) {
  describe(`Parse and Bind checks (${kind})`, () => {
    let cluster: TestCluster;
    let conn: RawConnection;

    before(async () => {
      cluster = await startCluster(kind);
      ({ conn } = await RawConnection.startup(cluster.port));
      await conn.simpleQueries([
        "CREATE TABLE checks_dist (k int PRIMARY KEY, v int, t text)",
        "SELECT create_distributed_table('checks_dist', 'k')",
        "INSERT INTO checks_dist VALUES (1, 10, 'a'), (2, 20, 'b')",
      ]);
    });

    after(async () => {
      conn?.socket.destroy();
      await cluster?.stop();
    });

    async function send(...messages: Buffer[]) {
      conn.write(Buffer.concat([...messages, syncMessage()]));
      return conn.readUntil("Z");
    }

    async function expectError(messages: Buffer[], types: string[], code: string, text: string) {
      const answer = await send(...messages);
      assert.deepEqual(messageTypes(answer), types, errorText(answer));
      assert.equal(firstError(answer)?.C, code, errorText(answer));
      assert.equal(firstError(answer)?.M, text);
    }

    const byKey = "SELECT v FROM checks_dist WHERE k = $1";

    test("a Parse PostgreSQL refuses fails at Parse, and prepares nothing", async () => {
      await expectError(
        [parseMessage("bad1", "SELECT nope FROM checks_dist WHERE k = $1")],
        ["E", "Z"],
        "42703",
        'column "nope" does not exist',
      );
      await expectError(
        [parseMessage("bad1", "SELECT v FROM checks_dist WHERE k = $2")],
        ["E", "Z"],
        "42P18",
        "could not determine data type of parameter $1",
      );
      await expectError(
        [parseMessage("bad1", byKey, [BOOL])],
        ["E", "Z"],
        "42883",
        "operator does not exist: integer = boolean",
      );
      await expectError(
        [bindMessage("", "bad1", ["1"]), executeMessage("")],
        ["E", "Z"],
        "26000",
        'prepared statement "bad1" does not exist',
      );
    });

    test("a Bind whose counts do not fit the statement fails at Bind", async () => {
      const parsed = await send(parseMessage("c1", byKey), parseMessage("c2", byKey, [INT4, TEXT]));
      assert.deepEqual(messageTypes(parsed), ["1", "1", "Z"], errorText(parsed));
      await expectError(
        [bindMessageWithFormats("", "c1", [], [], []), executeMessage("")],
        ["E", "Z"],
        "08P01",
        'bind message supplies 0 parameters, but prepared statement "c1" requires 1',
      );
      await expectError(
        [bindMessageWithFormats("", "c1", [], ["1", "2"], []), executeMessage("")],
        ["E", "Z"],
        "08P01",
        'bind message supplies 2 parameters, but prepared statement "c1" requires 1',
      );
      // Declared types count, used or not.
      await expectError(
        [bindMessageWithFormats("", "c2", [], ["1"], []), executeMessage("")],
        ["E", "Z"],
        "08P01",
        'bind message supplies 1 parameters, but prepared statement "c2" requires 2',
      );
      await expectError(
        [bindMessageWithFormats("", "c1", [0, 0], ["1"], []), executeMessage("")],
        ["E", "Z"],
        "08P01",
        "bind message has 2 parameter formats but 1 parameters",
      );
      await expectError(
        [bindMessageWithFormats("", "c1", [2], ["1"], []), executeMessage("")],
        ["E", "Z"],
        "22023",
        "unsupported format code: 2",
      );
      await expectError(
        [bindMessageWithFormats("", "c1", [], ["1"], [0, 0, 0]), executeMessage("")],
        ["E", "Z"],
        "08P01",
        "bind message has 3 result formats but query has 1 columns",
      );
      // An unknown result format code fails when rows are sent, after the BindComplete.
      await expectError(
        [bindMessageWithFormats("", "c1", [], ["1"], [5]), executeMessage("")],
        ["2", "E", "Z"],
        "22023",
        "unsupported format code: 5",
      );
      // The same statement bound as it should be still runs.
      const answer = await send(bindMessageWithFormats("", "c1", [0], ["2"], [0]), executeMessage(""));
      assert.deepEqual(dataRows(answer), [["20"]], errorText(answer));
    });

    test("a statement without rows takes any number of result formats", async () => {
      const answer = await send(
        parseMessage("", "UPDATE checks_dist SET v = v + $2 WHERE k = $1"),
        bindMessageWithFormats("", "", [], ["1", "0"], [0, 0]),
        executeMessage(""),
      );
      assert.deepEqual(messageTypes(answer), ["1", "2", "C", "Z"], errorText(answer));
    });

    test("in a failed block, Parse, Bind and the Describe of a statement with rows fail with 25P02", async () => {
      const aborted = "current transaction is aborted, commands ignored until end of transaction block";
      assert.deepEqual(messageTypes(await send(parseMessage("f1", byKey))), ["1", "Z"]);
      await conn.simpleQuery("BEGIN");
      assert.equal(firstError(await conn.simpleQuery("SELECT 1 / 0"))?.C, "22012");
      await expectError([parseMessage("f2", byKey)], ["E", "Z"], "25P02", aborted);
      await expectError([bindMessage("", "f1", ["1"]), executeMessage("")], ["E", "Z"], "25P02", aborted);
      await expectError([describeMessage("S", "f1")], ["E", "Z"], "25P02", aborted);
      const rollback = await conn.simpleQuery("ROLLBACK");
      assert.equal(readyStatus(rollback), "I", errorText(rollback));
      const answer = await send(bindMessage("", "f1", ["1"]), executeMessage(""));
      assert.deepEqual(dataRows(answer), [["10"]], errorText(answer));
    });

    test("describing a statement of Canopy's leaves the client's unnamed statement alone", async () => {
      const answer = await send(
        parseMessage("", "SELECT 'local' AS x"),
        parseMessage("d1", "SELECT t FROM checks_dist WHERE k = $1 AND v > $2"),
        describeMessage("S", "d1"),
        bindMessage("", ""),
        executeMessage(""),
      );
      assert.deepEqual(messageTypes(answer), ["1", "1", "t", "T", "2", "D", "C", "Z"], errorText(answer));
      assert.deepEqual(dataRows(answer), [["local"]]);
    });
  });
}
