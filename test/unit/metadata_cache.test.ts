// Two coordinators serving one coordinator database: a node added through one shows up in the
// other's metadata cache, which learns of the change by notification.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { Coordinator, parseDatabaseUrl } from "../../src/server/coordinator.js";
import { PostgresGateway } from "../../src/nodes/postgres.js";
import { startTempPostgres, type TempPostgres } from "../support/postgres.js";

let database: TempPostgres;
let worker: TempPostgres;
const coordinators: Coordinator[] = [];

before(async () => {
  [database, worker] = await Promise.all([startTempPostgres(), startTempPostgres()]);
  for (let i = 0; i < 2; i++) {
    const c = new Coordinator({
      database: parseDatabaseUrl(database.url),
      gateway: new PostgresGateway(),
      host: "127.0.0.1",
      port: 0,
      log: () => {},
    });
    await c.start();
    coordinators.push(c);
  }
});

after(async () => {
  for (const c of coordinators) await c.stop();
  await Promise.all([database?.stop(), worker?.stop()]);
});

test("a change through one coordinator reaches the other's cache", async () => {
  const [a, b] = coordinators;
  assert.deepEqual((await b.metadata.get()).nodes, []);
  const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${a.port}/postgres` });
  await client.connect();
  const r = await client.query("SELECT canopy_add_node('localhost', $1) AS id", [worker.port]);
  await client.end();
  const deadline = Date.now() + 5000;
  let nodes = (await b.metadata.get()).nodes;
  while (nodes.length === 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    nodes = (await b.metadata.get()).nodes;
  }
  assert.equal(nodes.length, 1);
  assert.equal(nodes[0].nodeid, Number(r.rows[0].id));
  assert.equal(nodes[0].nodeport, worker.port);
  assert.equal(nodes[0].isactive, true);
});
