// Roles are created through the coordinator only: CREATE / ALTER / DROP ROLE and memberships reach
// every worker (commands/roles.ts), and a worker added later gets the roles and the schemas'
// privileges. The workers act with the privileges the coordinator session has at the time: SET
// ROLE and SET SESSION AUTHORIZATION are followed on the workers' connections (RemoteConnections'
// followedSettings), so a role cannot read shards its own privileges do not cover. A role that is
// no superuser works with distributed tables as any other (worker connections, two-phase commit)
// and reads the metadata, but not pg_dist_authinfo's passwords. Local cluster only: an embedded
// coordinator database (PGlite) cannot go back with RESET SESSION AUTHORIZATION (the embedded
// cluster's role propagation is in test/regress/sql/roles.sql).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { startLocalCluster, type TestCluster } from "../support/cluster.js";

let cluster: TestCluster;
let admin: pg.Client;
/** The worker removed before any role was made, added back by the last test. */
const laterPort = () => cluster.workerPorts[1];

before(async () => {
  cluster = await startLocalCluster(2);
  admin = new pg.Client(cluster.url);
  await admin.connect();
  await admin.query("SELECT canopy_remove_node('localhost', $1)", [laterPort()]);
  await admin.query("CREATE ROLE readers");
  await admin.query("CREATE ROLE carol LOGIN PASSWORD 'carol-secret' IN ROLE readers");
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

/** Runs statements through the coordinator, one after the other. */
async function run(...statements: string[]): Promise<void> {
  for (const sql of statements) await admin.query(sql);
}

/** A query's single value on every active worker, through run_command_on_workers. */
async function onWorkers(sql: string): Promise<string[]> {
  const { rows } = await admin.query("SELECT success, result FROM run_command_on_workers($1)", [sql]);
  for (const r of rows) assert.equal(r.success, true, r.result);
  return rows.map((r) => r.result);
}

/** A query's single value on the coordinator database. */
async function onCoordinator(sql: string, params: unknown[] = []): Promise<string> {
  const { rows } = await admin.query(sql, params);
  return String(Object.values(rows[0])[0]);
}

const authid = (role: string) =>
  `SELECT concat_ws(' ', rolcanlogin, rolcreatedb, rolconnlimit, rolvaliduntil, rolpassword)
     FROM pg_authid WHERE rolname = '${role}'`;

async function connectAs(user: string): Promise<pg.Client> {
  const c = new pg.Client(cluster.url.replace("postgres@", `${user}@`));
  await c.connect();
  return c;
}

test("CREATE ROLE: attributes and the coordinator's password verifier on every worker", async () => {
  await admin.query(
    "CREATE ROLE erin LOGIN CREATEDB PASSWORD 'erin-secret' VALID UNTIL '2099-01-01 00:00:00+00' CONNECTION LIMIT 5",
  );
  const coordinator = await onCoordinator(authid("erin"));
  assert.match(coordinator, /^t t 5 .*2099.* SCRAM-SHA-256\$4096:/);
  assert.deepEqual(await onWorkers(authid("erin")), [coordinator]);
  // The verifier Canopy computed is the one PostgreSQL checks: a login with the password works.
  const erin = new pg.Client(cluster.url.replace("postgres@", "erin:erin-secret@"));
  await erin.connect();
  await erin.end();
});

test("the clear-text password reaches no worker: the commands sent carry its verifier", async () => {
  const notices: string[] = [];
  const log = (n: { message?: string }) => notices.push(n.message ?? "");
  admin.on("notice", log);
  try {
    await admin.query("SET canopy.log_remote_commands = on");
    await admin.query("CREATE ROLE ivy LOGIN PASSWORD 'ivy-clear-text'");
    await admin.query("ALTER ROLE ivy PASSWORD 'ivy-other-text'");
    await admin.query("RESET canopy.log_remote_commands");
  } finally {
    admin.off("notice", log);
  }
  const sent = notices.filter((n) => /^issuing (CREATE|ALTER) ROLE ivy/.test(n));
  // CREATE and ALTER on each active worker.
  assert.equal(sent.length, 2 * (await onWorkers("SELECT 1")).length, notices.join("\n"));
  for (const n of sent) assert.match(n, /PASSWORD 'SCRAM-SHA-256\$4096:/);
  assert.ok(!notices.some((n) => n.includes("clear-text") || n.includes("other-text")));
  assert.deepEqual(await onWorkers(authid("ivy")), [await onCoordinator(authid("ivy"))]);
  await admin.query("DROP ROLE ivy");
});

test("a password with quotes that looks like a verifier is clear text, hashed alike everywhere", async () => {
  await admin.query("CREATE ROLE jade LOGIN PASSWORD 'SCRAM-SHA-256$1:a''b$c:d'' SUPERUSER --'");
  const coordinator = await onCoordinator(authid("jade"));
  assert.match(coordinator, /^t f -1 SCRAM-SHA-256\$4096:/);
  assert.deepEqual(await onWorkers(authid("jade")), [coordinator]);
  assert.deepEqual(await onWorkers("SELECT rolsuper::text FROM pg_roles WHERE rolname = 'jade'"), ["false"]);
  await admin.query("DROP ROLE jade");
});

test("a role with CREATEROLE, no superuser, manages roles on the workers with its own privileges", async () => {
  await admin.query("CREATE ROLE mgr LOGIN CREATEROLE");
  const mgr = await connectAs("mgr");
  try {
    await mgr.query("CREATE ROLE made_by_mgr LOGIN PASSWORD 'made-secret'");
    await mgr.query("ALTER ROLE made_by_mgr CONNECTION LIMIT 2");
    assert.deepEqual(await onWorkers(authid("made_by_mgr")), [await onCoordinator(authid("made_by_mgr"))]);
    // What the coordinator database refuses reaches no worker.
    await assert.rejects(
      mgr.query("CREATE ROLE would_be_super SUPERUSER"),
      (e: { code?: string }) => e.code === "42501",
    );
    assert.deepEqual(await onWorkers("SELECT count(*) FROM pg_roles WHERE rolname = 'would_be_super'"), ["0"]);
    await mgr.query("DROP ROLE made_by_mgr");
    assert.deepEqual(await onWorkers("SELECT count(*) FROM pg_roles WHERE rolname = 'made_by_mgr'"), ["0"]);
  } finally {
    await mgr.end();
  }
});

test("ALTER ROLE RENAME and PASSWORD, then that role's distributed query", async () => {
  await admin.query("ALTER ROLE erin RENAME TO frank");
  await admin.query("ALTER ROLE frank PASSWORD 'frank-secret' NOCREATEDB");
  await admin.query("GRANT SELECT ON public_notes TO frank");
  const coordinator = await onCoordinator(authid("frank"));
  assert.match(coordinator, /^t f 5 /);
  assert.deepEqual(await onWorkers(authid("frank")), [coordinator]);
  assert.deepEqual(await onWorkers("SELECT count(*) FROM pg_roles WHERE rolname = 'erin'"), ["0"]);
  const frank = await connectAs("frank");
  try {
    assert.equal((await frank.query("SELECT count(*)::int AS n FROM public_notes")).rows[0].n, 20);
    assert.equal((await frank.query("SELECT v FROM public_notes WHERE k = 7")).rows[0].v, "p");
  } finally {
    await frank.end();
  }
});

test("DROP ROLE removes it on the workers; a failed DROP leaves it everywhere", async () => {
  // frank holds a privilege on public_notes: refused on the coordinator, nothing changes.
  await assert.rejects(admin.query("DROP ROLE frank"), (e: { code?: string }) => e.code === "2BP01");
  assert.deepEqual(await onWorkers("SELECT count(*) FROM pg_roles WHERE rolname = 'frank'"), ["1"]);
  await admin.query("REVOKE ALL ON public_notes FROM frank");
  await admin.query("DROP ROLE frank");
  assert.deepEqual(await onWorkers("SELECT count(*) FROM pg_roles WHERE rolname = 'frank'"), ["0"]);
  await admin.query("DROP ROLE IF EXISTS frank");
});

test("CREATE ROLE in a block that rolls back leaves no role on the workers", async () => {
  await admin.query("BEGIN");
  await admin.query("CREATE ROLE ghost");
  await admin.query("ROLLBACK");
  assert.deepEqual(await onWorkers("SELECT count(*) FROM pg_roles WHERE rolname = 'ghost'"), ["0"]);
});

test("GRANT role membership, then SET ROLE on the workers; REVOKE takes it back", async () => {
  // NOINHERIT: gina has readers' privileges only after SET ROLE.
  await admin.query("CREATE USER gina NOINHERIT");
  await admin.query("GRANT readers TO gina WITH ADMIN OPTION");
  assert.deepEqual(
    await onWorkers(
      "SELECT admin_option FROM pg_auth_members WHERE member = 'gina'::regrole AND roleid = 'readers'::regrole",
    ),
    ["t"],
  );
  const gina = await connectAs("gina");
  try {
    await assert.rejects(gina.query("SELECT count(*) FROM public_notes"), /permission denied/);
    await gina.query("SET ROLE readers");
    assert.equal((await gina.query("SELECT count(*)::int AS n FROM public_notes")).rows[0].n, 20);
    await gina.query("RESET ROLE");
  } finally {
    await gina.end();
  }
  await admin.query("REVOKE readers FROM gina");
  assert.deepEqual(await onWorkers("SELECT count(*) FROM pg_auth_members WHERE member = 'gina'::regrole"), ["0"]);
});

test("a role made on a worker by hand before: CREATE ROLE takes it over with the coordinator's attributes", async () => {
  await admin.query("SELECT run_command_on_workers('CREATE ROLE hank CREATEDB')");
  await admin.query("CREATE ROLE hank LOGIN PASSWORD 'hank-secret' IN ROLE readers");
  const coordinator = await onCoordinator(authid("hank"));
  assert.deepEqual(await onWorkers(authid("hank")), [coordinator]);
  assert.deepEqual(await onWorkers("SELECT pg_has_role('hank', 'readers', 'MEMBER')::text"), ["true"]);
});

test("REASSIGN OWNED and DROP OWNED reach the shards, so that DROP ROLE can follow", async () => {
  // kim owns a distributed table's shell, and a table on the workers.
  await run(
    "CREATE ROLE kim LOGIN",
    "GRANT CREATE ON SCHEMA public TO kim",
    "SET ROLE kim",
    "CREATE TABLE kims (k int)",
    "RESET ROLE",
    "SELECT create_distributed_table('kims', 'k')",
  );
  await onWorkers("SET ROLE kim; CREATE TABLE kim_on_workers (k int)");
  await admin.query("GRANT SELECT ON public_notes TO kim");
  const ownedByKim = "SELECT count(*) FROM pg_class WHERE relowner = 'kim'::regrole";
  assert.notDeepEqual(await onWorkers(ownedByKim), ["0"]);
  // The shells would go behind the metadata's back.
  await assert.rejects(admin.query("DROP OWNED BY kim"), (e: { code?: string }) => e.code === "0A000");
  await admin.query("REASSIGN OWNED BY kim TO postgres");
  assert.deepEqual(await onWorkers(ownedByKim), ["0"]);
  await admin.query("DROP OWNED BY kim");
  await admin.query("DROP ROLE kim");
  assert.deepEqual(await onWorkers("SELECT count(*) FROM pg_roles WHERE rolname = 'kim'"), ["0"]);
  assert.equal(await onCoordinator("SELECT count(*)::int FROM kims"), "0");
  await admin.query("DROP TABLE kims");
  await onWorkers("DROP TABLE kim_on_workers");
});

test("DROP SCHEMA of a schema whose shards are gone drops it on the workers", async () => {
  await run(
    "CREATE SCHEMA emptied",
    "CREATE TABLE emptied.items (k int)",
    "SELECT create_distributed_table('emptied.items', 'k')",
    "DROP TABLE emptied.items",
  );
  assert.deepEqual(await onWorkers("SELECT count(*) FROM pg_namespace WHERE nspname = 'emptied'"), ["1"]);
  await admin.query("DROP SCHEMA emptied");
  assert.deepEqual(await onWorkers("SELECT count(*) FROM pg_namespace WHERE nspname = 'emptied'"), ["0"]);
});

test("a worker added later gets the roles, their passwords and memberships, and the schema grants", async () => {
  await run(
    "CREATE SCHEMA granted",
    "GRANT USAGE ON SCHEMA granted TO carol",
    "GRANT CREATE ON SCHEMA granted TO readers WITH GRANT OPTION",
    'ALTER ROLE hank SET search_path = granted, "$user", public',
    "ALTER ROLE hank IN DATABASE postgres SET work_mem = '3MB'",
  );
  await admin.query("SELECT canopy_add_node('localhost', $1)", [laterPort()]);
  const worker = new pg.Client(`postgres://postgres@127.0.0.1:${laterPort()}/postgres`);
  await worker.connect();
  try {
    for (const role of ["carol", "hank"]) {
      const { rows } = await worker.query(authid(role));
      assert.equal(String(Object.values(rows[0])[0]), await onCoordinator(authid(role)));
    }
    const settings =
      "SELECT setdatabase <> 0 AS db, setconfig FROM pg_db_role_setting WHERE setrole = 'hank'::regrole ORDER BY 1";
    const copied = (await worker.query(settings)).rows;
    assert.deepEqual(copied, (await admin.query(settings)).rows);
    assert.equal(copied.length, 2);
    const member = await worker.query("SELECT pg_has_role('carol', 'readers', 'MEMBER') AS m");
    assert.equal(member.rows[0].m, true);
    const acl = await worker.query(
      `SELECT has_schema_privilege('carol', 'granted', 'USAGE') AS u, has_schema_privilege('carol', 'granted', 'CREATE') AS c,
              has_schema_privilege('readers', 'granted', 'CREATE WITH GRANT OPTION') AS g`,
    );
    assert.deepEqual(acl.rows[0], { u: true, c: true, g: true });
  } finally {
    await worker.end();
  }
  // The new worker takes shards: carol reads them there.
  await admin.query("CREATE TABLE granted.spread (k int, v text)");
  await admin.query("SELECT create_distributed_table('granted.spread', 'k')");
  await admin.query("INSERT INTO granted.spread SELECT g, 'x' FROM generate_series(1, 50) g");
  await admin.query("GRANT SELECT ON granted.spread TO carol");
  const carol = await connectAs("carol");
  try {
    assert.equal((await carol.query("SELECT count(*)::int AS n FROM granted.spread")).rows[0].n, 50);
  } finally {
    await carol.end();
  }
});
