// Protocol-level statements and portals of Canopy's own (statements on distributed tables), as
// PostgreSQL keeps them: a named statement is not replaced by another Parse (42P05) until it is
// closed or DEALLOCATE ALL / DISCARD ALL drops it, and a portal ends with its transaction (34000
// afterwards), also one left suspended, and a named one is not bound again while it lives (42P03);
// DEALLOCATE of one by name drops it.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { clusterKinds, startCluster, type TestCluster } from "../support/cluster.js";
import {
  RawConnection,
  bindMessage,
  dataRows,
  errorText,
  executeMessage,
  firstError,
  message,
  messageTypes,
  parseMessage,
  readyStatus,
  syncMessage,
} from "../support/raw.js";

for (const kind of clusterKinds()) {
  describe(`statement names and portal lifetimes (${kind})`, () => {
    let cluster: TestCluster;
    let conn: RawConnection;

    before(async () => {
      cluster = await startCluster(kind);
      ({ conn } = await RawConnection.startup(cluster.port));
      await conn.simpleQueries([
        "CREATE TABLE names_dist (k int PRIMARY KEY, v int)",
        "SELECT create_distributed_table('names_dist', 'k')",
        "INSERT INTO names_dist SELECT g, g * 10 FROM generate_series(1, 5) g",
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

    test("a second Parse of a statement's name is refused; the first statement stays", async () => {
      let answer = await send(parseMessage("s1", "SELECT v FROM names_dist WHERE k = 1"));
      assert.deepEqual(messageTypes(answer), ["1", "Z"], errorText(answer));
      answer = await send(parseMessage("s1", "SELECT v FROM names_dist WHERE k = 2"));
      assert.equal(firstError(answer)?.C, "42P05", errorText(answer));
      assert.match(firstError(answer)!.M, /prepared statement "s1" already exists/);
      // Also when the new text is one the coordinator database would run.
      answer = await send(parseMessage("s1", "SELECT 1"));
      assert.equal(firstError(answer)?.C, "42P05", errorText(answer));
      answer = await send(bindMessage("", "s1"), executeMessage(""));
      assert.deepEqual(dataRows(answer), [["10"]], errorText(answer));
      // Closed, the name can be used again.
      answer = await send(
        message("C", Buffer.from("Ss1\0")),
        parseMessage("s1", "SELECT v FROM names_dist WHERE k = 3"),
      );
      assert.deepEqual(messageTypes(answer), ["3", "1", "Z"], errorText(answer));
      answer = await send(bindMessage("", "s1"), executeMessage(""));
      assert.deepEqual(dataRows(answer), [["30"]], errorText(answer));
    });

    test("DEALLOCATE ALL and DISCARD ALL drop them, so that their names can be prepared again", async () => {
      for (const drop of ["DEALLOCATE ALL", "DISCARD ALL"]) {
        let answer = await send(parseMessage("s2", "SELECT v FROM names_dist WHERE k = 4"));
        assert.deepEqual(messageTypes(answer), ["1", "Z"], errorText(answer));
        await conn.simpleQuery(drop);
        answer = await send(parseMessage("s2", "SELECT v FROM names_dist WHERE k = 5"));
        assert.deepEqual(messageTypes(answer), ["1", "Z"], `${drop}: ${errorText(answer)}`);
        answer = await send(bindMessage("", "s2"), executeMessage(""));
        assert.deepEqual(dataRows(answer), [["50"]], errorText(answer));
        await conn.simpleQuery(drop);
      }
    });

    test("after DEALLOCATE ALL, DISCARD ALL or a DEALLOCATE of one by name, Canopy prepares its own statements of a commit again", async () => {
      // A block writing both workers commits in two phases: the block's start time and the commit
      // decision are statements Canopy keeps prepared on the coordinator database's connection.
      await conn.simpleQueries([
        "CREATE TABLE names_wide (k int PRIMARY KEY, v int, t timestamptz)",
        "SELECT create_distributed_table('names_wide', 'k')",
        "INSERT INTO names_wide SELECT g, 0 FROM generate_series(1, 40) g",
      ]);
      const block = async (label: string) => {
        for (const sql of ["BEGIN", "UPDATE names_wide SET v = v + 1, t = now()", "COMMIT"]) {
          const answer = await conn.simpleQuery(sql);
          assert.equal(firstError(answer), null, `${label}: ${sql}: ${errorText(answer)}`);
        }
      };
      await block("first");
      for (const drop of ["DEALLOCATE ALL", "DISCARD ALL"]) {
        await conn.simpleQuery(drop);
        await block(`after ${drop}`);
      }
      // Also one of them deallocated by its name.
      const kept = await conn.simpleQuery(
        // (An embedded coordinator database lists it under its session's prefix.)
        "SELECT quote_ident(name) FROM pg_prepared_statements WHERE name LIKE '%canopy\\_kept\\_%' ORDER BY name LIMIT 1",
      );
      const [[name]] = dataRows(kept);
      assert.match(name ?? "", /canopy_kept_\d+"?$/, errorText(kept));
      await conn.simpleQuery(`DEALLOCATE ${name}`);
      await block(`after DEALLOCATE ${name}`);
      const answer = await conn.simpleQuery("SELECT sum(v), count(DISTINCT t) FROM names_wide");
      assert.deepEqual(dataRows(answer), [["160", "1"]], errorText(answer));
    });

    test("DEALLOCATE of one by name drops it, in a block too, as drivers deallocate what they prepared", async () => {
      assert.deepEqual(messageTypes(await send(parseMessage("d1", "SELECT v FROM names_dist WHERE k = 1"))), [
        "1",
        "Z",
      ]);
      assert.deepEqual(messageTypes(await send(parseMessage("D2", "SELECT v FROM names_dist WHERE k = 2"))), [
        "1",
        "Z",
      ]);
      await conn.simpleQuery("BEGIN");
      let answer = await conn.simpleQuery("DEALLOCATE d1");
      assert.deepEqual(messageTypes(answer), ["C", "Z"], errorText(answer));
      assert.equal(readyStatus(answer), "T");
      answer = await conn.simpleQuery('DEALLOCATE PREPARE "D2"');
      assert.deepEqual(messageTypes(answer), ["C", "Z"], errorText(answer));
      answer = await conn.simpleQuery("DEALLOCATE d1");
      assert.equal(firstError(answer)?.C, "26000", errorText(answer));
      await conn.simpleQuery("ROLLBACK");
      answer = await send(bindMessage("", "d1"), executeMessage(""));
      assert.equal(firstError(answer)?.C, "26000", errorText(answer));
      // In a failed block it is refused, and stays.
      await send(parseMessage("d3", "SELECT v FROM names_dist WHERE k = 3"));
      await conn.simpleQuery("BEGIN");
      await conn.simpleQuery("SELECT 1 / 0");
      answer = await conn.simpleQuery("DEALLOCATE d3");
      assert.equal(firstError(answer)?.C, "25P02", errorText(answer));
      await conn.simpleQuery("ROLLBACK");
      answer = await send(bindMessage("", "d3"), executeMessage(""));
      assert.deepEqual(dataRows(answer), [["30"]], errorText(answer));
    });

    test("a parameter reference in a simple Query: 42P02, as PostgreSQL parses it", async () => {
      for (const sql of ["SELECT v FROM names_dist WHERE k = $1", "SELECT count(*) FROM names_dist WHERE v > $1"]) {
        const answer = await conn.simpleQuery(sql);
        assert.equal(firstError(answer)?.C, "42P02", errorText(answer));
        assert.equal(firstError(answer)?.M, "there is no parameter $1");
      }
    });

    test("a portal ends with its transaction, a suspended one too", async () => {
      await send(parseMessage("s3", "SELECT k FROM names_dist ORDER BY k"));
      // Outside a block the Sync ends the portal's transaction.
      let answer = await send(bindMessage("p", "s3"));
      assert.deepEqual(messageTypes(answer), ["2", "Z"], errorText(answer));
      answer = await send(executeMessage("p"));
      assert.equal(firstError(answer)?.C, "34000", errorText(answer));
      // In a block it lives on, suspended, until COMMIT.
      await conn.simpleQuery("BEGIN");
      answer = await send(bindMessage("p", "s3"), executeMessage("p", 2));
      assert.deepEqual(dataRows(answer), [["1"], ["2"]], errorText(answer));
      assert.equal(readyStatus(answer), "T");
      answer = await send(executeMessage("p", 2));
      assert.deepEqual(dataRows(answer), [["3"], ["4"]], errorText(answer));
      // A named portal that exists is not bound again (42P03), which fails the block.
      answer = await send(bindMessage("p", "s3"));
      assert.equal(firstError(answer)?.C, "42P03", errorText(answer));
      assert.equal(readyStatus(answer), "E");
      await conn.simpleQuery("ROLLBACK");
      answer = await send(executeMessage("p", 2));
      assert.equal(firstError(answer)?.C, "34000", errorText(answer));
    });
  });
}
