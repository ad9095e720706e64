// COPY round trips, differential: the same COPY FROM STDIN data (text, csv with the options people
// use, binary) goes through psql into a distributed and a reference table on Canopy and into the
// same tables on one plain PostgreSQL; what COPY TO STDOUT and SELECT give back, and the errors of
// bad data (SQLSTATE, message, the line named in CONTEXT), must be the same. A failed COPY leaves
// nothing behind.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { startLocalCluster, type TestCluster } from "../support/cluster.js";
import { startTempPostgres, type TempPostgres } from "../support/postgres.js";
import { RawConnection, firstError, message, queryMessage } from "../support/raw.js";

function psql(
  url: string,
  commands: string[],
  input: string | Buffer = "",
): Promise<{ out: string; err: string; code: number }> {
  return new Promise((resolve) => {
    const args = ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url];
    for (const c of commands) args.push("-c", c);
    const child = execFile(
      "psql",
      args,
      { maxBuffer: 256 * 1024 * 1024, env: { ...process.env, PGTZ: "UTC" } },
      (e, out, err) => resolve({ out, err, code: e ? ((e as { code?: number }).code ?? 1) : 0 }),
    );
    child.stdin!.end(input);
  });
}

const schema = [
  `CREATE TABLE events (id bigint, tenant int NOT NULL, payload jsonb, amount numeric(12,2), at timestamptz,
     tags text[], note text, PRIMARY KEY (tenant, id))`,
  "CREATE TABLE kinds (code text PRIMARY KEY, label text)",
  "CREATE TABLE serials (tenant int NOT NULL, id bigserial, amount numeric)",
  // A generated column, and a default the coordinator computes whose value is a NULL string.
  `CREATE TABLE gens (a int, b text, g int GENERATED ALWAYS AS (a * 2) STORED,
     r text DEFAULT (random() * 0)::int::text)`,
  // Column names a header line must escape or quote.
  `CREATE TABLE names (a int, "b\\c" int, "d	e" int, "f""g" int, "h,i" int)`,
  `CREATE TABLE dot ("\\." int, x int)`,
  "CREATE TABLE tkeys (k text, v text)",
  // Coordinator tables with a distributed table's name, in another schema.
  "CREATE SCHEMA shadow",
  "CREATE TABLE shadow.events (id int, note text)",
];
const distribute = [
  "SELECT create_distributed_table('events', 'tenant', shard_count => 8)",
  "SELECT create_reference_table('kinds')",
  "SELECT create_distributed_table('serials', 'tenant', shard_count => 8)",
  "SELECT create_distributed_table('gens', 'a', shard_count => 8)",
  "SELECT create_distributed_table('names', 'a', shard_count => 8)",
  "SELECT create_distributed_table('dot', 'x', shard_count => 8)",
  "SELECT create_distributed_table('tkeys', 'k', shard_count => 8)",
];

/** Rows with the awkward values: NULLs, escapes, quotes, delimiters, newlines, unicode. */
function textRows(from: number, count: number): string {
  const lines: string[] = [];
  for (let i = from; i < from + count; i++) {
    const note = ["plain", "tab\\there", "new\\nline", "back\\\\slash", "ünïcødé ✓", "\\N", 'quote"and,comma', ""][
      i % 8
    ];
    const payload = i % 5 === 0 ? "\\N" : `{"k": ${i}, "s": "v${i % 7}"}`;
    const amount = i % 6 === 0 ? "\\N" : (i * 1.25).toFixed(2);
    const at = `2024-0${(i % 9) + 1}-1${i % 10} 0${i % 10}:30:00+00`;
    const tags = i % 4 === 0 ? "{}" : `{a${i % 3},"b c"}`;
    lines.push([i, (i * 7919) % 101, payload, amount, at, tags, note].join("\t"));
  }
  return lines.join("\n") + "\n";
}

describe("COPY round trips (local cluster beside plain PostgreSQL)", () => {
  let cluster: TestCluster;
  let plain: TempPostgres;

  before(async () => {
    [cluster, plain] = await Promise.all([startLocalCluster(2), startTempPostgres()]);
    for (const s of schema) {
      for (const url of [cluster.url, plain.url]) assert.equal((await psql(url, [s])).code, 0);
    }
    for (const s of distribute) assert.equal((await psql(cluster.url, [s])).err, "");
  });

  after(async () => {
    await Promise.all([cluster?.stop(), plain?.stop()]);
  });

  /** Runs the same psql commands on both; their outputs and errors must be the same. */
  async function both(commands: string[], input: string | Buffer = "", sort = false): Promise<string> {
    const [a, b] = await Promise.all([psql(cluster.url, commands, input), psql(plain.url, commands, input)]);
    const norm = (s: string) => (sort ? s.split("\n").sort().join("\n") : s);
    assert.equal(a.err, b.err, `errors of ${commands.join("; ")}`);
    assert.equal(norm(a.out), norm(b.out), `output of ${commands.join("; ")}`);
    return a.out + a.err;
  }

  const contents = () =>
    both([
      "COPY (SELECT * FROM events ORDER BY tenant, id) TO STDOUT",
      "SELECT count(*), sum(amount), count(payload), count(DISTINCT note) FROM events",
      "COPY (SELECT * FROM kinds ORDER BY code) TO STDOUT",
    ]);

  test("text format, large enough to be sent to the workers in several batches", async () => {
    await both(["COPY events FROM STDIN"], textRows(1, 40000));
    assert.match(await contents(), /\n 40000 \|/);
  });

  test("csv with HEADER, a column list, another delimiter and quote, quoted newlines", async () => {
    const csv =
      "note;id;tenant\n" +
      "'multi\nline';50001;3\n" +
      "'semi;colon';50002;4\n" +
      "'it''s';50003;5\n" +
      ";50004;6\n" +
      "'';50005;7\n";
    await both(
      ["COPY events (note, id, tenant) FROM STDIN WITH (FORMAT csv, HEADER true, DELIMITER ';', QUOTE '''')"],
      csv,
    );
    await both(["COPY kinds FROM STDIN (FORMAT csv)"], 'a,Alpha\nb,"Be, ta"\nc,\n"d",""\n');
    await contents();
  });

  test("COPY TO STDOUT: table, columns, csv header, query, reference table", async () => {
    await both(["COPY events TO STDOUT"], "", true);
    await both(["COPY events (tenant, note) TO STDOUT (FORMAT csv, HEADER)"], "", true);
    await both([
      "COPY (SELECT tenant, count(*), sum(amount) FROM events GROUP BY tenant ORDER BY tenant) TO STDOUT (FORMAT csv)",
    ]);
    await both(["COPY kinds TO STDOUT (FORMAT csv, FORCE_QUOTE *)"], "", true);
  });

  test("binary: Canopy's binary output loads back into both and gives the same rows", async () => {
    const binary = await new Promise<Buffer>((resolve, reject) =>
      execFile(
        "psql",
        [
          "-X",
          "-q",
          "-d",
          cluster.url,
          "-c",
          "COPY (SELECT id + 100000, tenant, payload, amount, at, tags, note FROM events WHERE id <= 2000) TO STDOUT (FORMAT binary)",
        ],
        { encoding: "buffer", maxBuffer: 64 * 1024 * 1024 },
        (e, out) => (e ? reject(e) : resolve(out)),
      ),
    );
    assert.ok(binary.length > 1000);
    await both(["COPY events FROM STDIN (FORMAT binary)"], binary);
    // A reference table: the same binary batch goes to every placement.
    const kinds = await new Promise<Buffer>((resolve, reject) =>
      execFile(
        "psql",
        ["-X", "-q", "-d", cluster.url, "-c", "COPY (SELECT code || '2', label FROM kinds) TO STDOUT (FORMAT binary)"],
        { encoding: "buffer" },
        (e, out) => (e ? reject(e) : resolve(out)),
      ),
    );
    await both(["COPY kinds FROM STDIN (FORMAT binary)"], kinds);
    await contents();
  });

  test("into a table with a distributed table's name in another schema: by schema, through search_path", async () => {
    await both(["COPY shadow.events FROM STDIN"], "1\tone\n2\t\\N\n");
    await both(["SET search_path = shadow, public", "COPY events FROM STDIN (FORMAT csv)"], "3,three\n");
    await both(["SET search_path = shadow, public", "COPY events FROM STDIN"], "4\tfour\nx\tfive\n");
    await both(["COPY nosuch.events FROM STDIN"], "1\n");
    await both(["COPY (SELECT * FROM shadow.events ORDER BY id) TO STDOUT", "SELECT count(*) FROM events"]);
  });

  test("bad rows: the same error and line on both, and nothing of the COPY stays", async () => {
    const good = textRows(60001, 300);
    const cases = [
      good + "60400\t5\t\\N\tnot-a-number\t\\N\t{}\tx\n",
      good + "60400\t5\n",
      good + "60400\t5\t\\N\t1\t\\N\t{}\tx\textra\n",
      good + good.split("\n")[7] + "\n",
      good + "60400\tfive\t\\N\t1\t\\N\t{}\tx\n",
    ];
    for (const input of cases) {
      const out = await both(["COPY events FROM STDIN"], input);
      assert.match(out, /^ERROR: .*\nCONTEXT:  COPY events, line 30[01]\b/s);
      await contents();
    }
  });

  test("lines ending unlike the first, and rows with too few or too many fields: the same errors", async () => {
    const good = textRows(70001, 3);
    const cases: [string, string][] = [
      ["COPY events FROM STDIN", good.replace(/\n/g, "\r\n") + "70010\t5\t\\N\t1\t\\N\t{}\tx\n"],
      ["COPY events FROM STDIN", good + "70010\t5\t\\N\t1\t\\N\t{}\tx\r\n"],
      ["COPY events FROM STDIN", good.replace(/\n/g, "\r") + "70010\t5\t\\N\t1\t\\N\t{}\tx\r\n"],
      ["COPY events FROM STDIN (FORMAT csv)", "70011,5,,1,,{},x\r\n70012,5,,1,,{},y\n"],
      // serials.id's default is the coordinator's to evaluate: its value is appended to each row.
      ["COPY serials (tenant, amount) FROM STDIN", "1\t2\n24\n"],
      ["COPY serials (tenant, amount) FROM STDIN", "23\t1\textra\n"],
      ["COPY serials (tenant, amount) FROM STDIN (FORMAT csv)", `25,${"9".repeat(150)},extra\n`],
    ];
    for (const [copy, input] of cases) {
      const out = await both([copy], input);
      assert.match(out, /^ERROR: .*\nCONTEXT:  COPY (events|serials), line \d+\b/s);
      await contents();
      await both(["SELECT count(*) FROM serials"]);
    }
  });

  test("data ending without a newline: after a carriage return, after a backslash", async () => {
    // Lines ending with CR alone, the last one too (it could have begun a CRLF).
    await both(["COPY tkeys FROM STDIN"], "cr1\ta\rcr2\tb\rcr1\tc\r");
    await both(["COPY tkeys FROM STDIN (FORMAT csv)"], "cr3,a\rcr4,b\r");
    // A last line ending in an escaping backslash (the backslash is dropped), and in an escaped one.
    await both(["COPY tkeys FROM STDIN"], "bs1\ta\nbs2\tb\\");
    await both(["COPY tkeys FROM STDIN"], "bs3\ta\nbs4\tb\\\\");
    await both(["SELECT k, v, length(v) FROM tkeys WHERE k LIKE 'cr%' OR k LIKE 'bs%' ORDER BY k, v"]);
  });

  test("a bad row after several batches were sent: its line is named, nothing stays", async () => {
    const out = await both(
      ["COPY events FROM STDIN"],
      textRows(100001, 200000) + "300001\t5\t\\N\tnot-a-number\t\\N\t{}\tx\n",
    );
    assert.match(out, /^ERROR: .*\nCONTEXT:  COPY events, line 200001\b/s);
    await contents();
  });

  test("rows cut across CopyData messages anywhere, keys quoted, escaped or spaced, CRLF, long rows", async () => {
    const inputs = (base: number): [string, string][] => [
      [
        "COPY events (id, tenant, note) FROM STDIN (FORMAT csv)",
        `${base + 1},"11",quoted key\n${base + 2}, 12 ,spaces around the key\n` +
          `${base + 3},13,"a ""quoted"" note, with a comma\nand a newline"\n${base + 4},14,\n`,
      ],
      [
        "COPY events (id, tenant, note) FROM STDIN (DELIMITER '|', NULL 'none')",
        `${base + 5}|15|tab\\there\n${base + 6}|\\061\\066|escaped key\n${base + 7}|18|none\n${base + 8}|19|back\\\\slash\n` +
          `${base + 11}|22|${"long row ".repeat(100)}\n`,
      ],
      [
        "COPY events (id, tenant, note) FROM STDIN (FORMAT csv)",
        `${base + 9},20,crlf\r\n${base + 10},21,"crlf\r\ninside quotes"\r\n`,
      ],
    ];
    // Whole, then one byte per message: every row, field, escape and CRLF is cut somewhere.
    for (const [base, pieceBytes] of [
      [90000, Infinity],
      [91000, 1],
    ]) {
      for (const [sql, data] of inputs(base)) {
        for (const port of [cluster.port, plain.port]) {
          const { conn } = await RawConnection.startup(port);
          conn.write(queryMessage(sql));
          await conn.readUntil("G");
          const bytes = Buffer.from(data);
          for (let at = 0; at < bytes.length; at += pieceBytes)
            conn.write(message("d", bytes.subarray(at, at + pieceBytes)));
          conn.write(message("c"));
          const answer = await conn.readUntil("Z", 60_000);
          assert.equal(firstError(answer), null, `${sql} on port ${port}`);
          conn.socket.destroy();
        }
      }
    }
    assert.match(await contents(), /crlf\\r\\ninside quotes/);
  });

  test("CopyFail from the client after rows were sent: 57014 on both, nothing kept", async () => {
    const before = await contents();
    for (const port of [cluster.port, plain.port]) {
      const { conn } = await RawConnection.startup(port);
      conn.write(queryMessage("COPY events FROM STDIN"));
      await conn.readUntil("G");
      // More than one batch, so some rows have already reached the workers.
      conn.write(message("d", Buffer.from(textRows(80001, 200000))));
      conn.write(message("f", Buffer.from("client gave up\0")));
      const answer = await conn.readUntil("Z", 60_000);
      assert.equal(firstError(answer)?.C, "57014");
      conn.socket.destroy();
    }
    assert.equal(await contents(), before);
  });

  test("generated columns left out without a column list; a computed default spelled like the NULL string", async () => {
    await both(["COPY gens FROM STDIN"], "1\tx\t7\n2\t\\N\t\\N\n");
    // r's default is '0', which NULL '0' would read as NULL unless written otherwise.
    await both(["COPY gens (a, b) FROM STDIN (NULL '0')"], "3\ty\n4\t0\n");
    await both(["COPY gens TO STDOUT"], "", true);
    await both(["COPY gens TO STDOUT (FORMAT csv, HEADER)"], "", true);
    await both(["SELECT a, b, g, r, r IS NULL AS r_null FROM gens ORDER BY a"]);
  });

  test("csv FORCE_NOT_NULL on the distribution column: an empty key is an empty string", async () => {
    await both(["COPY tkeys FROM STDIN (FORMAT csv, FORCE_NOT_NULL (k))"], ',a\n"",b\nx,\n');
    await both(["SELECT k, v, k IS NULL AS k_null, v IS NULL AS v_null FROM tkeys ORDER BY k, v"]);
    await both(["SELECT v FROM tkeys WHERE k = '' ORDER BY v"]);
  });

  test("header lines of COPY TO escape and quote column names as PostgreSQL does", async () => {
    await both(["INSERT INTO names VALUES (1, 2, 3, 4, 5)", "INSERT INTO dot VALUES (1, 2)"]);
    await both(["COPY names TO STDOUT (HEADER)"]);
    await both(["COPY names TO STDOUT (FORMAT csv, HEADER)"]);
    await both(["COPY names TO STDOUT (FORMAT csv, HEADER, ESCAPE '\\')"]);
    await both(["COPY names TO STDOUT (FORMAT csv, HEADER, DELIMITER '|')"]);
    await both(['COPY dot ("\\.") TO STDOUT (FORMAT csv, HEADER)']);
  });

  test("options and columns refused before any data, as PostgreSQL refuses them", async () => {
    // The first line of the error: the SQLSTATE's message (PostgreSQL also points at the option).
    const error = (s: string) => s.split("\n").find((l) => l.startsWith("ERROR:")) ?? `no error: ${s}`;
    const statements = [
      "COPY gens FROM STDIN (FORMAT 'CSV')",
      "COPY gens FROM STDIN (FORMAT csv, HEADER 'yes')",
      "COPY gens FROM STDIN (FORMAT csv, HEADER 2)",
      "COPY gens FROM STDIN (FORMAT binary, HEADER)",
      "COPY gens FROM STDIN (BOGUS 1)",
      "COPY gens FROM STDIN (FORMAT csv, QUOTE ',')",
      "COPY gens FROM STDIN (QUOTE '\"')",
      "COPY gens FROM STDIN (ENCODING 'nope')",
      "COPY gens (a, g) FROM STDIN",
      "COPY gens (a, nope) FROM STDIN",
      "COPY gens FROM STDIN (FREEZE)",
      "COPY gens TO STDOUT (FORMAT csv, HEADER match)",
    ];
    for (const statement of statements) {
      const [a, b] = await Promise.all([psql(cluster.url, [statement]), psql(plain.url, [statement])]);
      assert.equal(error(a.err), error(b.err), statement);
      assert.notEqual(b.code, 0, `plain PostgreSQL accepted ${statement}`);
    }
    await both(["SELECT count(*) FROM gens"]);
  });

  test("inside a transaction block: rolled back with the block, kept with COMMIT", async () => {
    await both(["BEGIN", "COPY events FROM STDIN", "ROLLBACK"], textRows(70001, 500));
    await contents();
    await both(["BEGIN", "COPY events FROM STDIN", "COMMIT"], textRows(70001, 500));
    await contents();
  });
});
