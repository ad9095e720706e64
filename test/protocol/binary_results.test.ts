// Binary result formats over distributed and reference tables, as drivers ask for them (pgx and
// Npgsql for every column of a type they know, pgjdbc once a statement is prepared on the server):
// a router SELECT, a modification's RETURNING rows (router, multi-shard, INSERT … SELECT) and the
// other paths answer with the bytes a plain PostgreSQL sends for the same statement on the same
// data. Rows of built-in types go from the workers to the client as the workers sent them, through
// the router (an enum's binary form is its label, so its columns do too); RETURNING columns of
// the user's composite types in binary, whose forms name node-local OIDs, are refused (0A000)
// rather than sent in another node's terms.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { clusterKinds, startCluster, type TestCluster } from "../support/cluster.js";
import { hasPostgres, startTempPostgres, type TempPostgres } from "../support/postgres.js";
import {
  RawConnection,
  bindMessage,
  dataRowBuffers,
  describeMessage,
  executeMessage,
  parseErrorFields,
  parseMessage,
  rowDescriptionFields,
  syncMessage,
} from "../support/raw.js";

const SCHEMA = [
  "CREATE TYPE mood AS ENUM ('calm', 'busy')",
  "CREATE TYPE pair AS (a int, b text)",
  `CREATE TABLE items (
     id bigserial, tenant int NOT NULL, small int2, price numeric(10, 2), ratio float8, weight float4,
     name text, code varchar(8), flag bool, born date, seen timestamp, at timestamptz,
     span interval, uid uuid, doc jsonb, raw json, blob bytea, nums int[], tags text[], addr inet,
     feeling mood, twin pair, PRIMARY KEY (tenant, id))`,
  "CREATE TABLE kinds (code int PRIMARY KEY, label text)",
];
const DISTRIBUTE = [
  "SELECT create_distributed_table('items', 'tenant', shard_count => 4)",
  "SELECT create_reference_table('kinds')",
];
const DATA = [
  `INSERT INTO items (tenant, small, price, ratio, weight, name, code, flag, born, seen, at, span, uid, doc, raw,
                      blob, nums, tags, addr, feeling, twin)
   SELECT g % 5, g, g * 1.25, g / 3.0, g / 7.0, 'name ' || g, 'c' || g, g % 2 = 0, DATE '2020-01-01' + g,
          TIMESTAMP '2021-06-01 10:00' + g * interval '1 hour', TIMESTAMPTZ '2021-06-01 10:00+02' + g * interval '1 day',
          g * interval '1 minute 3 seconds', ('00000000-0000-0000-0000-' || lpad(g::text, 12, '0'))::uuid,
          jsonb_build_object('g', g, 'list', jsonb_build_array(g, 'x')), json_build_object('g', g),
          decode(lpad(to_hex(g), 4, '0'), 'hex'), ARRAY[g, g + 1], ARRAY['t' || g, NULL], ('10.0.0.' || g)::inet,
          CASE WHEN g % 2 = 0 THEN 'calm' ELSE 'busy' END::mood, ROW(g, 'twin ' || g)::pair
     FROM generate_series(1, 40) g`,
  "INSERT INTO kinds VALUES (1, 'one'), (2, 'two')",
];

const ALL_COLUMNS =
  "tenant, small, price, ratio, weight, name, code, flag, born, seen, at, span, uid, doc, raw, blob, nums, tags, addr";

/** A statement run through the extended protocol with the given result formats. */
interface Case {
  readonly sql: string;
  readonly params?: readonly string[];
  /** Result format codes (default: every column binary). */
  readonly formats?: readonly number[];
  /** Whether the rows come in a total order (otherwise compared as a multiset). */
  readonly ordered?: boolean;
}

const CASES: readonly Case[] = [
  { sql: "SET TimeZone = 'America/New_York'" },
  // Router reads.
  { sql: `SELECT ${ALL_COLUMNS} FROM items WHERE tenant = $1 ORDER BY id`, params: ["3"], ordered: true },
  { sql: `SELECT ${ALL_COLUMNS} FROM items WHERE tenant = 2 AND small = $1`, params: ["7"] },
  {
    sql: "SELECT name, price, at FROM items WHERE tenant = $1 ORDER BY id",
    params: ["1"],
    formats: [0, 1, 0],
    ordered: true,
  },
  { sql: "SELECT i.name, k.label FROM items i JOIN kinds k ON k.code = i.small WHERE i.tenant = $1", params: ["1"] },
  { sql: "SELECT code, label FROM kinds ORDER BY code", ordered: true },
  // Multi-shard reads: streamed from the shards, pushed down and combined, aggregated, with the
  // user's enum (converted on the coordinator).
  { sql: `SELECT ${ALL_COLUMNS} FROM items WHERE small < $1`, params: ["30"] },
  { sql: "SELECT name, feeling, at FROM items WHERE small > 20", formats: [1, 0, 1] },
  { sql: `SELECT ${ALL_COLUMNS} FROM items ORDER BY tenant, small`, ordered: true },
  {
    sql: "SELECT tenant, count(*), sum(price), avg(price), max(at), array_agg(small ORDER BY small) FROM items GROUP BY tenant",
  },
  { sql: "SELECT feeling, count(*) FROM items GROUP BY feeling" },
  { sql: "SELECT name, feeling FROM items WHERE tenant = $1 ORDER BY id", params: ["4"], ordered: true },
  // A composite's binary form names its fields' types: converted by the coordinator database.
  { sql: "SELECT small, twin FROM items WHERE tenant = $1 ORDER BY small", params: ["2"], ordered: true },
  { sql: "SELECT small, twin FROM items WHERE small < 9" },
  // An enum's is its label: returned from the shards as it is.
  { sql: "UPDATE items SET small = small WHERE tenant = 3 RETURNING small, feeling" },
  // RETURNING: one shard (a serial the coordinator draws), several, INSERT … SELECT, reference tables.
  {
    sql: `INSERT INTO items (tenant, small, price, name, at, doc, nums) VALUES ($1, 1000, 9.99, 'new', '2024-02-29 12:00:00.123456+01', '{"n": 1}', '{1}')
          RETURNING id, tenant, small, price, name, doc, nums`,
    params: ["2"],
  },
  {
    sql: "INSERT INTO items (tenant, small, name) VALUES (1, 1001, 'a'), (2, 1002, 'b'), (3, 1003, 'c') RETURNING tenant, small, name, id",
  },
  {
    sql: "UPDATE items SET price = price * 2, span = span + interval '1 day' WHERE small % 3 = 0 RETURNING tenant, small, price, span",
  },
  {
    sql: "UPDATE items SET ratio = -ratio WHERE tenant = $1 AND small < 10 RETURNING small, ratio, weight",
    params: ["4"],
  },
  { sql: "DELETE FROM items WHERE small > 35 AND small < 1000 RETURNING tenant, small, name, blob, tags, addr" },
  {
    sql: "INSERT INTO items (tenant, small, name) SELECT tenant + 1, small + 2000, name || '+' FROM items WHERE small < 4 RETURNING tenant, small, name",
  },
  { sql: "INSERT INTO kinds VALUES (3, 'three') RETURNING code, label", formats: [1, 0] },
  // An UPDATE of the distribution column: rows move to other shards, returned as asked for.
  { sql: "UPDATE items SET tenant = tenant + 10 WHERE small IN (5, 6, 7) RETURNING tenant, small, name, at, feeling" },
  { sql: "UPDATE items SET tenant = tenant - 10 WHERE tenant >= 10 RETURNING small, tenant", formats: [0, 1] },
  { sql: "UPDATE kinds SET label = upper(label) RETURNING code, label" },
  // Inside a block, the writes read back through the same connections.
  { sql: "BEGIN" },
  { sql: "UPDATE items SET flag = NOT flag WHERE tenant = $1 RETURNING small, flag", params: ["0"] },
  { sql: "SELECT small, flag FROM items WHERE tenant = $1 ORDER BY small", params: ["0"], ordered: true },
  { sql: "COMMIT" },
  { sql: `SELECT ${ALL_COLUMNS} FROM items ORDER BY tenant, small`, ordered: true },
];

/** What a server answered: columns, rows (hex of each value) and command tag, or the error's SQLSTATE. */
interface Answer {
  fields: { name: string; typeOid: number; format: number }[];
  rows: string[];
  tag: string;
  error: string | null;
  /** The NOTICEs of canopy.log_remote_commands. */
  notices: string[];
}

async function run(conn: RawConnection, c: Case): Promise<Answer> {
  const formats = c.formats ?? [1];
  conn.write(
    Buffer.concat([
      parseMessage("", c.sql),
      bindMessage("", "", c.params ?? [], formats),
      describeMessage("P", ""),
      executeMessage(""),
      syncMessage(),
    ]),
  );
  const messages = await conn.readUntil("Z");
  const answer: Answer = { fields: [], rows: [], tag: "", error: null, notices: [] };
  for (const m of messages) {
    // The user's types have an OID of each server's own.
    if (m.type === "T")
      answer.fields = rowDescriptionFields(m.body).map((f) => ({ ...f, typeOid: f.typeOid >= 16384 ? -1 : f.typeOid }));
    else if (m.type === "D")
      answer.rows.push(
        dataRowBuffers(m.body)
          .map((v) => (v === null ? "NULL" : v.toString("hex")))
          .join("|"),
      );
    else if (m.type === "C") answer.tag = m.body.toString("utf8", 0, m.body.length - 1);
    else if (m.type === "E") answer.error = parseErrorFields(m.body).C;
    else if (m.type === "N") answer.notices.push(parseErrorFields(m.body).M);
  }
  if (!c.ordered) answer.rows.sort();
  return answer;
}

async function load(url: string, distribute: boolean): Promise<void> {
  const c = new pg.Client(url);
  await c.connect();
  try {
    for (const sql of SCHEMA) await c.query(sql);
    if (distribute) for (const sql of DISTRIBUTE) await c.query(sql);
    for (const sql of DATA) await c.query(sql);
  } finally {
    await c.end();
  }
}

describe("binary results from distributed tables", { skip: !hasPostgres() && "PostgreSQL is not installed" }, () => {
  let plain: TempPostgres;
  let expected: Answer[];

  before(async () => {
    plain = await startTempPostgres();
    await load(plain.url, false);
    const { conn } = await RawConnection.startup(plain.port);
    try {
      expected = [];
      for (const c of CASES) expected.push(await run(conn, c));
    } finally {
      conn.destroy();
    }
    for (const [i, e] of expected.entries()) assert.equal(e.error, null, `plain PostgreSQL: ${CASES[i].sql}`);
  });
  after(async () => plain?.stop());

  for (const kind of clusterKinds()) {
    describe(kind, () => {
      let cluster: TestCluster;
      before(async () => {
        cluster = await startCluster(kind);
        await load(cluster.url, true);
      });
      after(async () => cluster?.stop());

      test("every answer's bytes are plain PostgreSQL's", async () => {
        const { conn } = await RawConnection.startup(cluster.port);
        try {
          for (const [i, c] of CASES.entries()) {
            const got = await run(conn, c);
            assert.deepEqual(
              { ...got, notices: [] },
              { ...expected[i], notices: [] },
              `${c.sql} (${c.params?.join(", ") ?? ""})`,
            );
          }
        } finally {
          conn.destroy();
        }
      });

      test("a router statement's binary rows come from its one shard, as the worker sent them", async () => {
        const { conn } = await RawConnection.startup(cluster.port);
        try {
          await run(conn, { sql: "SET canopy.log_remote_commands = on" });
          const read = await run(conn, { sql: "SELECT name, at FROM items WHERE tenant = $1", params: ["2"] });
          assert.equal(read.error, null);
          assert.ok(read.rows.length > 0);
          const issued = read.notices.filter((n) => /items_\d+/.test(n));
          // Before, binary results skipped the router: every shard was read, its rows converted
          // by the coordinator database.
          assert.equal(issued.length, 1, issued.join("\n"));
          assert.match(issued[0], /WHERE\s+tenant = (\$1|2)/);
          const write = await run(conn, {
            sql: "INSERT INTO items (tenant, small, name) VALUES ($1, 3000, 'routed') RETURNING id, small",
            params: ["3"],
          });
          assert.equal(write.error, null);
          assert.equal(write.tag, "INSERT 0 1");
          assert.deepEqual(
            write.fields.map((f) => f.format),
            [1, 1],
          );
          assert.equal(write.rows[0].split("|")[1], "0bb8"); // 3000 as int2
        } finally {
          conn.destroy();
        }
      });

      test("binary RETURNING of the user's composite types is refused with 0A000", async () => {
        const { conn } = await RawConnection.startup(cluster.port);
        try {
          const composite = await run(conn, { sql: "UPDATE items SET small = small WHERE tenant = 1 RETURNING twin" });
          assert.equal(composite.error, "0A000");
          // With that column in text, it runs.
          const mixed = await run(conn, {
            sql: "UPDATE items SET small = small WHERE tenant = 1 RETURNING small, twin",
            formats: [1, 0],
          });
          assert.equal(mixed.error, null);
          assert.deepEqual(
            mixed.fields.map((f) => f.format),
            [1, 0],
          );
          assert.ok(mixed.rows.length > 0);
          for (const row of mixed.rows) {
            const [small, twin] = row.split("|");
            assert.match(small, /^[0-9a-f]{4}$/);
            assert.ok(twin === "NULL" || /^\(\d+,"twin \d+"\)$/.test(Buffer.from(twin, "hex").toString()), twin);
          }
        } finally {
          conn.destroy();
        }
      });
    });
  }
});
