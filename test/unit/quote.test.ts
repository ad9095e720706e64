// The quoting helper is checked against PostgreSQL's own quote_ident and quote_literal.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { quoteIdent, quoteLiteral } from "../../src/sql/quote.js";
import { startTempPostgres, type TempPostgres } from "../support/postgres.js";

let server: TempPostgres;
let client: pg.Client;

before(async () => {
  server = await startTempPostgres();
  client = new pg.Client({ connectionString: server.url });
  await client.connect();
});

after(async () => {
  await client.end();
  await server.stop();
});

const samples = [
  "abc",
  "ABC",
  "a b",
  'with"quote',
  "select",
  "user",
  "table",
  "_x1$",
  "1abc",
  "ünïcode",
  "it's",
  "back\\slash",
  "",
  "mixed'\"\\all",
  "int",
  "name",
  "text",
];

test("quoteIdent agrees with quote_ident", async () => {
  for (const s of samples.filter((x) => x !== "")) {
    const r = await client.query("SELECT quote_ident($1) AS q", [s]);
    assert.equal(quoteIdent(s), r.rows[0].q, `identifier ${JSON.stringify(s)}`);
  }
});

test("quoteLiteral agrees with quote_literal and round-trips through the server", async () => {
  for (const s of samples) {
    const r = await client.query("SELECT quote_literal($1) AS q", [s]);
    assert.equal(quoteLiteral(s), r.rows[0].q, `literal ${JSON.stringify(s)}`);
    const back = await client.query(`SELECT ${quoteLiteral(s)}::text AS v`);
    assert.equal(back.rows[0].v, s);
  }
  assert.equal(quoteLiteral(null), "NULL");
  assert.throws(() => quoteLiteral("a\0b"));
});
