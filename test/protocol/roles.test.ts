// The workers act with the privileges the coordinator session has at the time: SET ROLE and SET
// SESSION AUTHORIZATION are followed on the workers' connections (RemoteConnections'
// followedSettings), so a role cannot read shards its own privileges do not cover. A role that is
// no superuser works with distributed tables as any other (worker connections, two-phase commit)
// and reads the metadata, but not pg_dist_authinfo's passwords. Local cluster
// only: an embedded coordinator database (PGlite) cannot go back with RESET SESSION AUTHORIZATION.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { startLocalCluster, type TestCluster } from "../support/cluster.js";

let cluster: TestCluster;
let admin: pg.Client;

before(async () => {
  cluster = await startLocalCluster();
  admin = new pg.Client(cluster.url);
  await admin.connect();
  for (const sql of ["CREATE ROLE readers", "CREATE ROLE carol LOGIN IN ROLE readers"]) {
    await admin.query(sql);
    await admin.query("SELECT run_command_on_workers($1)", [sql]);
  }
  await admin.query("CREATE TABLE secrets (k int, v text)");
  await admin.query("SELECT create_distributed_table('secrets', 'k')");
  await admin.query("CREATE TABLE public_notes (k int, v text)");
  await admin.query("SELECT create_distributed_table('public_notes', 'k')");
  await admin.query("INSERT INTO secrets SELECT g, 's' FROM generate_series(1, 20) g");
  await admin.query("INSERT INTO public_notes SELECT g, 'p' FROM generate_series(1, 20) g");
  await admin.query("GRANT SELECT ON public_notes TO readers");
  await admin.query("CREATE TABLE carol_items (k int PRIMARY KEY, v text)");
  await admin.query("SELECT create_distributed_table('carol_items', 'k')");
  await admin.query("GRANT SELECT, INSERT, UPDATE ON carol_items TO carol");
});

after(async () => {
  await admin?.end();
  await cluster?.stop();
});

const denied = (e: { code?: string; message?: string }) =>
  e.code === "42501" && /permission denied for table secrets/.test(e.message ?? "");

test("SET SESSION AUTHORIZATION: the workers read as that user until RESET", async () => {
  await admin.query("SET SESSION AUTHORIZATION carol");
  await assert.rejects(admin.query("SELECT count(*) FROM secrets"), denied);
  await assert.rejects(admin.query("SELECT v FROM secrets WHERE k = 3"), denied);
  assert.equal((await admin.query("SELECT count(*)::int AS n FROM public_notes")).rows[0].n, 20);
  await admin.query("RESET SESSION AUTHORIZATION");
  assert.equal((await admin.query("SELECT count(*)::int AS n FROM secrets")).rows[0].n, 20);
});

test("a login role's SET ROLE to a role it belongs to, and back", async () => {
  const carol = new pg.Client(cluster.url.replace("postgres@", "carol@"));
  await carol.connect();
  try {
    await assert.rejects(carol.query("SELECT count(*) FROM secrets"), denied);
    await carol.query("SET ROLE readers");
    assert.equal((await carol.query("SELECT count(*)::int AS n FROM public_notes")).rows[0].n, 20);
    await assert.rejects(carol.query("UPDATE public_notes SET v = 'x' WHERE k = 1"), /permission denied/);
    await carol.query("RESET ROLE");
    assert.equal((await carol.query("SELECT current_user AS u")).rows[0].u, "carol");
  } finally {
    await carol.end();
  }
});

test("a role that is no superuser: router and multi-shard work, two-phase commit, metadata but no passwords", async () => {
  const carol = new pg.Client(cluster.url.replace("postgres@", "carol@"));
  await carol.connect();
  try {
    await carol.query("INSERT INTO carol_items SELECT g, 'a' FROM generate_series(1, 10) g");
    await carol.query("BEGIN");
    for (let k = 1; k <= 10; k++) await carol.query("UPDATE carol_items SET v = 'b' WHERE k = $1", [k]);
    await carol.query("COMMIT");
    const { rows } = await admin.query("SELECT count(*)::int AS n FROM carol_items WHERE v = 'b'");
    assert.equal(rows[0].n, 10);
    const shards = await carol.query(
      "SELECT count(*)::int AS n FROM pg_dist_shard WHERE logicalrelid = 'carol_items'::regclass",
    );
    assert.equal(shards.rows[0].n, 32);
    await assert.rejects(carol.query("SELECT * FROM pg_dist_authinfo"), (e: { code?: string }) => e.code === "42501");
  } finally {
    await carol.end();
  }
});
