// An error's position (psql's caret) is counted from the start of the client's text, as
// PostgreSQL counts it: also when the statement Canopy ran is one of several in a query string,
// or follows a comment. Each text goes to a Canopy cluster and to a plain PostgreSQL holding the
// same tables; the errors must match in SQLSTATE, message and position.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { clusterKinds, startCluster, type TestCluster } from "../support/cluster.js";
import { startTempPostgres, type TempPostgres } from "../support/postgres.js";

const setup = [
  "CREATE TABLE orders (tenant_id int, id int, note text)",
  "CREATE TABLE notes (id int, body text)",
  "INSERT INTO orders SELECT i % 4, i, 'n' || i FROM generate_series(1, 20) i",
];

/** The plain side's stand-in: distributing changes nothing a statement's error depends on. */
const plainStandIn =
  "CREATE FUNCTION create_distributed_table(regclass, text) RETURNS void LANGUAGE sql AS 'SELECT NULL'";

/** Simple-protocol texts, each failing in a statement Canopy runs or forwards on its own. */
const simpleTexts = [
  // A comment before the statement Canopy runs.
  "/* report */   SELECT nosuch FROM orders",
  "-- line comment\n  SELECT tenant_id FROM orders WHERE nosuch = 1",
  // A distributed statement after a local one, and the other way round.
  "SELECT 1; UPDATE orders SET nosuch = 1 WHERE tenant_id = 1",
  "SELECT count(*) FROM orders; SELECT nosuch FROM notes",
  "SELECT count(*) FROM orders;\n\n  SELECT id FROM notes WHERE body = 1",
  // A literal the column's type refuses, after two statements and characters of two bytes.
  "SELECT 'été'; SELECT 'ça' FROM notes; SELECT id FROM orders WHERE tenant_id = 'x'",
  // A distributed statement whose text is read again after the string's first statement
  // distributed its table.
  "SELECT create_distributed_table('notes', 'id'); SELECT nosuch FROM notes",
];

describe("error positions in the client's text", () => {
  let plain: TempPostgres;
  let plainClient: pg.Client;

  before(async () => {
    plain = await startTempPostgres();
    plainClient = new pg.Client(plain.url);
    await plainClient.connect();
    for (const sql of [...setup, plainStandIn]) await plainClient.query(sql);
  });

  after(async () => {
    await plainClient?.end();
    await plain?.stop();
  });

  /** The error a text gives, as compared: SQLSTATE, message, position. */
  async function failure(client: pg.Client, text: string, values?: unknown[]): Promise<string> {
    try {
      await client.query(text, values);
    } catch (e) {
      const err = e as { code?: string; message: string; position?: string };
      return `${err.code} ${err.message} at ${err.position}`;
    }
    assert.fail(`no error for ${JSON.stringify(text)}`);
  }

  for (const kind of clusterKinds()) {
    describe(`${kind} cluster`, () => {
      let cluster: TestCluster;
      let client: pg.Client;

      before(async () => {
        cluster = await startCluster(kind);
        client = new pg.Client(cluster.url);
        await client.connect();
        for (const sql of setup) await client.query(sql);
        await client.query("SELECT create_distributed_table('orders', 'tenant_id')");
      });

      after(async () => {
        await client?.end();
        await cluster?.stop();
      });

      /** The texts whose errors differ, with both errors (every text is tried). */
      async function mismatches(texts: readonly string[], values?: unknown[]): Promise<string[]> {
        const found: string[] = [];
        for (const text of texts) {
          const [canopy, theirs] = [await failure(client, text, values), await failure(plainClient, text, values)];
          assert.doesNotMatch(theirs, /at undefined$/, text);
          if (canopy !== theirs) found.push(`${JSON.stringify(text)}: ${canopy}, PostgreSQL: ${theirs}`);
        }
        return found;
      }

      test("simple Query: comments and other statements before the failing one", async () => {
        assert.deepEqual(await mismatches(simpleTexts), []);
      });

      test("Parse of a statement after a comment, through the extended protocol", async () => {
        const texts = [
          "/* from the app */ SELECT nosuch FROM orders WHERE tenant_id = $1",
          "\n\n   SELECT id FROM orders WHERE tenant_id = $1 AND nosuch = 2",
        ];
        assert.deepEqual(await mismatches(texts, [1]), []);
      });
    });
  }
});
