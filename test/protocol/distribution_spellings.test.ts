// Distribution values spelled in any form their type reads — date/time literals PostgreSQL parses
// by DateStyle and TimeZone, Date parameters of node-postgres and postgres.js, integers and
// numerics with spaces — are routed to the shard their value hashes to: each row is found again by
// its key through the router, and every answer equals a plain PostgreSQL's.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import postgres from "postgres";
import { startLocalCluster, type TestCluster } from "../support/cluster.js";
import { startTempPostgres, type TempPostgres } from "../support/postgres.js";

const TABLES = [
  "CREATE TABLE tz (k timestamptz PRIMARY KEY, n int)",
  "CREATE TABLE d (k date, n int)",
  "CREATE TABLE ts (k timestamp, n int)",
  "CREATE TABLE num (k numeric, n int)",
  "CREATE TABLE i (k int, n int)",
  "CREATE TABLE f (k float8, n int)",
];

const day = (d: number) => new Date(Date.UTC(2020, 0, d, 6, 30));

/** Statements run in one session, in order, with the settings they change. */
const LITERALS = [
  "SET TimeZone = 'UTC'",
  "SET DateStyle = 'ISO, MDY'",
  "INSERT INTO tz VALUES ('2020-01-01 00:00+00', 1)",
  "INSERT INTO tz VALUES (timestamptz '2020-01-02 00:00+00', 2)",
  "INSERT INTO tz VALUES ('2020-01-03', 3)",
  "INSERT INTO tz VALUES ('2020-01-04T00:00:00Z', 4)",
  "INSERT INTO tz VALUES ('Jan 5 2020', 5)",
  "INSERT INTO tz VALUES ('epoch', 6)",
  "INSERT INTO tz VALUES ('2020-01-06 12:00 Europe/Paris', 7)",
  "INSERT INTO tz VALUES ('2020-01-07T01:02:03.456789Z', 8), ('20200108', 9), ('2020-01-01 00:00+00', 10) " +
    "ON CONFLICT (k) DO UPDATE SET n = tz.n + excluded.n",
  "INSERT INTO d VALUES ('Jan 5, 2020', 1), ('20200101', 2), ('1/2/2020', 3), ('2020-01-06T00:00', 4)",
  "INSERT INTO d VALUES ('today', 5), ('infinity', 6), ('0044-03-15 BC', 7)",
  "INSERT INTO ts VALUES ('Jan 1 2020 10:00', 1), ('2020-01-01T10:00:01', 2), ('2020-01-01 10:00:02+05', 3)",
  "INSERT INTO num VALUES (' 1.50 ', 1), ('1e3', 2), ('  -0.000 ', 3)",
  "INSERT INTO i VALUES (' 7 ', 1), ('+8', 2)",
  "SET extra_float_digits = 0",
  "INSERT INTO f VALUES (' 0.1 ', 1), ('1e-320 ', 2), (' -Infinity', 3), (' 0.30000000000000004', 4)",
  "INSERT INTO ts VALUES (' -infinity', 5), ('Mar 15 0044 12:00 BC', 6), ('10000-01-01 00:00', 7)",
  "SET TimeZone = 'America/New_York'",
  "SET DateStyle = 'SQL, DMY'",
  "INSERT INTO tz VALUES ('2020-01-09 00:00', 11), ('10/01/2020', 12), ('infinity', 13)",
  "INSERT INTO tz VALUES (timestamptz '15/03/2020 12:00', 14)",
  "INSERT INTO d VALUES ('1/2/2020', 8), ('Feb 3 2020', 9)",
  "INSERT INTO ts VALUES ('02/01/2020 10:00', 4)",
  // Converted from another type (in this session's zone), not read as a date.
  "INSERT INTO d VALUES ('2020-01-11 23:00-06'::timestamptz, 14)",
  "INSERT INTO tz VALUES ('2020-01-02 00:00+00', 15) ON CONFLICT (k) DO UPDATE SET n = tz.n + excluded.n",
];

/** Reads every row back by its key, in different spellings, and counts; answers as JSON text. */
const READS = [
  "SELECT k::text, n FROM tz ORDER BY k",
  "SELECT k::text, n FROM d ORDER BY k",
  "SELECT k::text, n FROM ts ORDER BY k",
  "SELECT k::text, n FROM num ORDER BY k",
  "SELECT k::text, n FROM i ORDER BY k",
  "SELECT k::text, n FROM f ORDER BY k",
  "SELECT n FROM f WHERE k = 0.1",
  "SELECT n FROM f WHERE k = 0.30000000000000004",
  "SELECT n FROM f WHERE k = '-Infinity'",
  "SELECT n FROM ts WHERE k = '0044-03-15 12:00:00 BC'",
  "SELECT n FROM ts WHERE k = '10000-01-01 00:00:00'",
  "SELECT n FROM tz WHERE k = '2020-01-01 00:00:00+00'",
  "SELECT n FROM tz WHERE k = '2020-01-03 00:00:00+00'",
  "SELECT n FROM tz WHERE k = '2020-01-05 00:00:00+00'",
  "SELECT n FROM tz WHERE k = '1970-01-01 00:00:00+00'",
  "SELECT n FROM tz WHERE k = '2020-01-06 11:00:00+00'",
  "SELECT n FROM tz WHERE k = '2020-01-07 01:02:03.456789+00'",
  "SELECT n FROM tz WHERE k = '2020-01-09 05:00:00+00'",
  "SELECT n FROM tz WHERE k = '2020-01-10 05:00:00+00'",
  "SELECT n FROM tz WHERE k = 'infinity'",
  "SELECT n FROM tz WHERE k = 'Jan 9 2020 00:00 America/New_York'",
  "SELECT n FROM d WHERE k = '2020-01-02'",
  "SELECT n FROM d WHERE k = '2020-02-01'",
  "SELECT n FROM d WHERE k = '2020-01-05'",
  "SELECT n FROM d WHERE k = '2020-02-03'",
  "SELECT n FROM ts WHERE k = '2020-01-01 10:00:02'",
  "SELECT n FROM ts WHERE k = '2020-01-02 10:00:00'",
  "SELECT n FROM num WHERE k = 1.5",
  "SELECT n FROM num WHERE k = 0",
  "SELECT n FROM i WHERE k = 7",
  "SELECT count(*), sum(n) FROM tz",
];

/** Runs the whole scenario against one server; returns every answer (rows or SQLSTATE) as text. */
async function scenario(url: string, distribute: boolean): Promise<string[]> {
  const out: string[] = [];
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const run = async (text: string, values?: unknown[], name?: string) => {
    try {
      const r = await client.query({ text, values, name, rowMode: "array" });
      out.push(`${text} ${JSON.stringify(values ?? [])}: ${JSON.stringify(r.rows)}`);
    } catch (e) {
      out.push(`${text}: ERROR ${(e as { code?: string }).code} ${(e as Error).message}`);
    }
  };
  try {
    for (const t of TABLES) await client.query(t);
    if (distribute) {
      for (const t of ["tz", "d", "ts", "num", "i", "f"])
        await client.query(`SELECT create_distributed_table('${t}', 'k')`);
    }
    for (const s of LITERALS) await run(s);
    // node-postgres writes a Date as local time with its offset, postgres.js as UTC with Z.
    await run("INSERT INTO tz VALUES ($1, $2)", [day(20), 20]);
    await run("INSERT INTO tz VALUES ($1, $2), ($3, $4)", [day(21), 21, day(1), 100]);
    await run("INSERT INTO tz VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET n = excluded.n", [day(20), 22], "upsert");
    await run("INSERT INTO tz VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET n = excluded.n", [day(23), 23], "upsert");
    await sql`SET TimeZone = 'Asia/Kolkata'`;
    await sql`INSERT INTO tz VALUES (${day(24)}, 24)`;
    await sql`INSERT INTO tz VALUES (${day(25)}, 25), (${day(26)}, 26)`;
    await sql`INSERT INTO d VALUES (${"Mar 4 2020"}, 10)`;
    await sql`SET DateStyle = 'SQL, DMY'`;
    const copy = await sql`COPY d FROM STDIN`.writable();
    await new Promise((resolve, reject) =>
      copy.end("05/03/2020\t11\nMar 6 2020\t12\n 20200307 \t13\n", () => resolve(null)).on("error", reject),
    );
    if (distribute) {
      const [same] = await sql`SELECT get_shard_id_for_distribution_column('tz', '2020-01-01 00:00+00')
        = get_shard_id_for_distribution_column('tz', 'Jan 1 2020 00:00 UTC') AS same`;
      assert.equal(same.same, true, "get_shard_id_for_distribution_column reads any spelling");
      // A value of the column's own type, as a parameter declared so (extended protocol).
      const [typed] = await sql.unsafe(
        `SELECT get_shard_id_for_distribution_column('i', $1::int) = get_shard_id_for_distribution_column('i', '7')
            AND get_shard_id_for_distribution_column('tz', $2::timestamptz)
              = get_shard_id_for_distribution_column('tz', '2020-01-01 00:00+00') AS same`,
        [7, "2020-01-01 00:00+00"],
      );
      assert.equal(typed.same, true, "get_shard_id_for_distribution_column takes a value of any type");
    }
    for (const r of READS) await run(r);
    for (const d of [20, 21, 23, 24, 25, 26, 27]) {
      await run("SELECT n FROM tz WHERE k = $1", [day(d)]);
      await run("SELECT n FROM tz WHERE k = $1", [day(d)], "get");
      out.push(`postgres.js ${d}: ${JSON.stringify(await sql`SELECT n FROM tz WHERE k = ${day(d)}`)}`);
    }
    await run("SELECT n FROM tz WHERE k = $1", ["Jan 5 2020 00:00 UTC"], "get");
    await run("SELECT n FROM tz WHERE k = $1", ["not a time"], "get");
    await run("SELECT n FROM d WHERE k = $1", ["Mar 4 2020"]);
    await run("SELECT n FROM d WHERE k = $1::timestamptz", ["2020-01-11 23:00-06"], "getd");
    await run("SELECT n FROM d WHERE k = $1", ["2020-01-12"], "getd2");
    await run("SELECT n FROM i WHERE k = $1", [" 7 "], "geti");
    await run("SELECT n FROM i WHERE k = 7.0");
    await run("UPDATE tz SET n = n + 1 WHERE k = $1", [day(20)], "bump");
    await run("DELETE FROM tz WHERE k = $1", [day(21)], "drop");
    await run("INSERT INTO tz VALUES ('not a time', 1)");
    // Values Canopy reads back from the nodes, printed in this session's DateStyle, are routed too.
    await run("INSERT INTO tz SELECT k + interval '100 days', n + 1000 FROM tz WHERE k < '2020-02-01'");
    await run("UPDATE tz SET k = k + interval '1 hour' WHERE n = 3");
    await run("INSERT INTO d SELECT k + 200, n + 1000 FROM d WHERE k < '2021-01-01' AND k > '2000-01-01'");
    await run("SELECT k::text, n FROM tz ORDER BY k");
    await run("SELECT n FROM tz WHERE k = '2020-01-03 01:00:00+00'");
    await run("SELECT n FROM tz WHERE k = '2020-04-10 00:00:00+00'");
  } finally {
    await sql.end();
    await client.end();
  }
  return out;
}

describe("distribution values in every spelling their type reads", () => {
  let cluster: TestCluster;
  let plain: TempPostgres;

  before(async () => {
    [cluster, plain] = await Promise.all([startLocalCluster(), startTempPostgres()]);
  });

  after(async () => {
    await cluster?.stop();
    await plain?.stop();
  });

  test("rows are found by their key and answers equal PostgreSQL's", async () => {
    const expected = await scenario(plain.url, false);
    const got = await scenario(cluster.url, true);
    assert.deepEqual(got, expected);
  });
});
