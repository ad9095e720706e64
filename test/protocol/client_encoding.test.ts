// The client's encoding. Canopy reads statements and sends the rows of distributed tables in
// UTF-8: under another client_encoding (LATIN1 here) it refuses statements on distributed tables
// (0A000) rather than store or send misread text, while the coordinator's own tables go on as in
// PostgreSQL, which converts. A text that is not UTF-8 from a UTF-8 client is refused as
// PostgreSQL refuses it (22021), not read with replacement characters. Each session goes to a
// Canopy cluster and, where the answers must match, to a plain PostgreSQL with the same tables.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { clusterKinds, startCluster, type TestCluster } from "../support/cluster.js";
import { startTempPostgres, type TempPostgres } from "../support/postgres.js";
import {
  RawConnection,
  dataRowBuffers,
  message,
  parseErrorFields,
  syncMessage,
  type RawMessage,
} from "../support/raw.js";

const setup = ["CREATE TABLE items (id int, name text)", "CREATE TABLE notes (id int, body text)"];

/** A simple Query whose text is written in LATIN1 (every character below U+0100). */
function latin1Query(sql: string): Buffer {
  return message("Q", Buffer.from(`${sql}\0`, "latin1"));
}

/** A simple Query of raw bytes. */
function bytesQuery(...parts: (string | Buffer)[]): Buffer {
  return message(
    "Q",
    Buffer.concat([...parts.map((p) => (typeof p === "string" ? Buffer.from(p) : p)), Buffer.from([0])]),
  );
}

/** The answer as compared: message types, with each error's SQLSTATE and message, and each row's bytes in hex. */
function summary(messages: readonly RawMessage[]): string[] {
  return messages.map((m) => {
    if (m.type === "E") {
      const f = parseErrorFields(m.body);
      return `E(${f.C} ${f.M})`;
    }
    if (m.type === "D") return `D(${dataRowBuffers(m.body).map((v) => v?.toString("hex") ?? "null")})`;
    if (m.type === "C") return `C(${m.body.toString("utf8", 0, m.body.length - 1)})`;
    return m.type;
  });
}

async function send(conn: RawConnection, bytes: Buffer): Promise<string[]> {
  conn.write(bytes);
  return summary(await conn.readUntil("Z", 20_000));
}

/** An embedded cluster refuses other encodings (PGlite converts none): the LATIN1 cases are a local cluster's. */
const embeddedSkip = "an embedded cluster refuses client_encodings other than UTF-8's";

describe("client_encoding", () => {
  let plain: TempPostgres;

  before(async () => {
    plain = await startTempPostgres();
    const c = new pg.Client(plain.url);
    await c.connect();
    for (const sql of setup) await c.query(sql);
    await c.end();
  });

  after(async () => {
    await plain?.stop();
  });

  for (const kind of clusterKinds()) {
    describe(`${kind} cluster`, () => {
      let cluster: TestCluster;
      let client: pg.Client;
      const sessions: RawConnection[] = [];

      /**
       * A raw session with the given client_encoding, SET after startup (an embedded cluster's
       * sessions share one backend, which does not take the startup packet's settings).
       */
      async function session(port: number, encoding: string): Promise<RawConnection> {
        const { conn } = await RawConnection.startup(port);
        sessions.push(conn);
        const answer = await send(conn, bytesQuery(`SET client_encoding = '${encoding}'`));
        assert.ok(answer.includes("C(SET)"), answer.join(" "));
        return conn;
      }

      before(async () => {
        cluster = await startCluster(kind);
        client = new pg.Client(cluster.url);
        await client.connect();
        for (const sql of setup) await client.query(sql);
        await client.query("SELECT create_distributed_table('items', 'id')");
      });

      after(async () => {
        for (const s of sessions) s.destroy();
        await client?.end();
        await cluster?.stop();
      });

      test(
        "under LATIN1, statements on distributed tables are refused and nothing is written",
        { skip: kind === "embedded" && embeddedSkip },
        async () => {
          const latin1 = await session(cluster.port, "LATIN1");
          const refusal = "E(0A000 client_encoding LATIN1 is not supported with distributed tables)";
          assert.deepEqual(await send(latin1, latin1Query("INSERT INTO items VALUES (1, 'été')")), [refusal, "Z"]);
          assert.deepEqual(await send(latin1, latin1Query("SELECT count(*) FROM items")), [refusal, "Z"]);
          assert.deepEqual(await send(latin1, latin1Query("ALTER TABLE items ADD COLUMN note text DEFAULT 'é'")), [
            refusal,
            "Z",
          ]);
          assert.deepEqual(await send(latin1, latin1Query("COPY items FROM STDIN")), [refusal, "Z"]);
          // Through the extended protocol too, at Execute.
          const parse = message("P", Buffer.from("\0INSERT INTO items VALUES (2, 'ça')\0\0\0", "latin1"));
          const bind = message("B", Buffer.from([0, 0, 0, 0, 0, 0, 0, 0]));
          const execute = message("E", Buffer.from([0, 0, 0, 0, 0]));
          assert.deepEqual(await send(latin1, Buffer.concat([parse, bind, execute, syncMessage()])), [
            "1",
            "2",
            refusal,
            "Z",
          ]);
          assert.equal((await client.query("SELECT count(*)::int AS n FROM items")).rows[0].n, 0);
          // The column was not added anywhere.
          const columns = await client.query("SELECT * FROM items LIMIT 0");
          assert.deepEqual(
            columns.fields.map((f) => f.name),
            ["id", "name"],
          );
        },
      );

      test(
        "under LATIN1, the coordinator's own tables convert as in PostgreSQL",
        { skip: kind === "embedded" && embeddedSkip },
        async () => {
          const answers: string[][] = [];
          for (const port of [cluster.port, plain.port]) {
            const latin1 = await session(port, "LATIN1");
            answers.push([
              ...(await send(latin1, latin1Query("INSERT INTO notes VALUES (1, 'été')"))),
              ...(await send(latin1, latin1Query("SELECT body, length(body) FROM notes WHERE body = 'été'"))),
              ...(await send(latin1, latin1Query("DELETE FROM notes"))),
              // The coordinator database's catalog, a distributed table's name in a literal.
              ...(await send(latin1, latin1Query("SELECT relname, 'é' FROM pg_class WHERE relname = 'items'"))),
            ]);
          }
          assert.deepEqual(answers[0], answers[1]);
          // LATIN1's bytes for "été", three characters.
          assert.ok(answers[0].includes(`D(e974e9,${Buffer.from("3").toString("hex")})`), answers[0].join(" "));
        },
      );

      test(
        "a block that reached workers commits after SET client_encoding, and UTF8 again serves",
        { skip: kind === "embedded" && embeddedSkip },
        async () => {
          const conn = await session(cluster.port, "UTF8");
          for (const sql of ["BEGIN", "INSERT INTO items VALUES (3, 'x')", "SET client_encoding = 'LATIN1'"]) {
            assert.doesNotMatch((await send(conn, bytesQuery(sql))).join(" "), /E\(/, sql);
          }
          assert.deepEqual(await send(conn, bytesQuery("COMMIT")), ["C(COMMIT)", "Z"]);
          assert.deepEqual(await send(conn, latin1Query("INSERT INTO items VALUES (4, 'été')")), [
            "E(0A000 client_encoding LATIN1 is not supported with distributed tables)",
            "Z",
          ]);
          const reset = await send(conn, bytesQuery("RESET client_encoding"));
          assert.ok(reset.includes("C(RESET)"), reset.join(" "));
          assert.deepEqual(await send(conn, bytesQuery("INSERT INTO items VALUES (4, 'été')")), ["C(INSERT 0 1)", "Z"]);
          const rows = await client.query("SELECT id, name FROM items ORDER BY id");
          assert.deepEqual(rows.rows, [
            { id: 3, name: "x" },
            { id: 4, name: "été" },
          ]);
          await client.query("DELETE FROM items");
        },
      );

      test(
        "an embedded cluster refuses another client_encoding, and the session goes on",
        {
          skip: kind !== "embedded" && "an embedded cluster's",
        },
        async () => {
          const { conn } = await RawConnection.startup(cluster.port);
          sessions.push(conn);
          for (const [sql, value] of [
            ["SET client_encoding = 'LATIN1'", "LATIN1"],
            ["SET NAMES 'win1252'", "win1252"],
            ["SET LOCAL client_encoding TO euc_jp", "euc_jp"],
            ["SELECT set_config('client_encoding', 'LATIN1', false)", "LATIN1"],
            [
              "SELECT set_config('client_encoding', current_setting('server_encoding') || 'x', false)",
              "a client_encoding computed as the statement runs",
            ],
          ]) {
            const what = value.includes(" ") ? value : `client_encoding ${value}`;
            assert.deepEqual(await send(conn, bytesQuery(sql)), [
              `E(0A000 ${what} is not supported by an embedded cluster)`,
              "Z",
            ]);
          }
          for (const sql of [
            "SET client_encoding = 'utf-8'",
            "SET NAMES 'SQL_ASCII'",
            "SELECT set_config('client_encoding', 'UTF8', false)",
            "RESET client_encoding",
          ]) {
            assert.doesNotMatch((await send(conn, bytesQuery(sql))).join(" "), /E\(/, sql);
          }
          assert.deepEqual(await send(conn, bytesQuery("SELECT 'été'")), [
            "T",
            `D(${Buffer.from("été").toString("hex")})`,
            "C(SELECT 1)",
            "Z",
          ]);
        },
      );

      test("a text that is not UTF-8 from a UTF8 or SQL_ASCII client gets PostgreSQL's 22021", async () => {
        const e9 = Buffer.from([0xe9]);
        const texts = [
          bytesQuery("INSERT INTO items VALUES (5, '", e9, "t", e9, "')"),
          bytesQuery("SELECT count(*) FROM items WHERE name = '", e9, "'"),
          message(
            "P",
            Buffer.concat([Buffer.from("\0SELECT id FROM items WHERE name = '"), e9, Buffer.from("'\0\0\0")]),
          ),
        ];
        for (const encoding of ["UTF8", "SQL_ASCII"]) {
          const answers: string[][] = [];
          for (const port of [cluster.port, plain.port]) {
            const conn = await session(port, encoding);
            const answer: string[] = [];
            for (const text of texts) {
              answer.push(...(await send(conn, text[0] === 0x50 ? Buffer.concat([text, syncMessage()]) : text)));
            }
            answers.push(answer);
          }
          assert.deepEqual(answers[0], answers[1], encoding);
          assert.equal(answers[0].filter((a) => a.startsWith("E(22021 invalid byte sequence")).length, 3, encoding);
        }
        assert.equal((await client.query("SELECT count(*)::int AS n FROM items")).rows[0].n, 0);
      });

      test("UTF-8 text, U+FFFD among it, reaches distributed tables from UTF8 and SQL_ASCII clients", async () => {
        for (const encoding of ["UTF8", "SQL_ASCII"]) {
          const conn = await session(cluster.port, encoding);
          assert.deepEqual(await send(conn, bytesQuery("INSERT INTO items VALUES (6, 'été \uFFFD')")), [
            "C(INSERT 0 1)",
            "Z",
          ]);
          const answer = await send(conn, bytesQuery("SELECT name FROM items WHERE id = 6"));
          assert.ok(answer.includes(`D(${Buffer.from("été \uFFFD").toString("hex")})`), answer.join(" "));
          await client.query("DELETE FROM items");
        }
      });
    });
  }
});
