// When a transaction block commits in two phases. A block that wrote one worker and nothing in the
// coordinator database commits in one; one that also wrote a coordinator table commits in two,
// even when the coordinator's transaction id was asked for ahead (a session whose last block wrote
// several nodes asks for it with the block's start time, so that its commit needs no extra round
// trip). Also: the gid names the coordinator transaction that records the decision, and a
// transaction chained by COMMIT AND CHAIN gets its own start time. Which commands reach the
// workers shows in canopy.log_remote_commands' notices. Local cluster only: the embedded cluster's
// coordinator database is one backend that the blocks hold.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { startLocalCluster, type TestCluster } from "../support/cluster.js";

let cluster: TestCluster;
let client: pg.Client;
const notices: string[] = [];
/** Keys of the distributed table, one stored on each worker. */
let keys: [number, number];

before(async () => {
  cluster = await startLocalCluster();
  client = new pg.Client(cluster.url);
  await client.connect();
  client.on("notice", (n) => notices.push(n.message ?? ""));
  await client.query("CREATE TABLE events (id int, at timestamptz, note text)");
  await client.query("SELECT create_distributed_table('events', 'id', shard_count => 4)");
  await client.query("CREATE TABLE audit (id int, at timestamptz)");
  const nodeOf = async (k: number) =>
    (
      await client.query(
        "SELECT nodeport FROM canopy_shards WHERE shardid = get_shard_id_for_distribution_column('events', $1)",
        [k],
      )
    ).rows[0].nodeport;
  let other = 2;
  while ((await nodeOf(other)) === (await nodeOf(1))) other++;
  keys = [1, other];
  await client.query("SET canopy.log_remote_commands = on");
});

after(async () => {
  await client?.end();
  await cluster?.stop();
});

/** Runs statements through the extended protocol (named statements), as drivers and pgbench -M prepared do. */
async function extended(...statements: [string, unknown[]][]): Promise<void> {
  for (const [text, values] of statements) {
    await client.query({ name: `s ${text}`, text, values });
  }
}

const insert = "INSERT INTO events VALUES ($1, now(), $2)";
/** A first statement that does not need the block's start time, as in pgbench's TPC-B-like script. */
const touch = "UPDATE events SET note = note WHERE id = $1";
const audit = "INSERT INTO audit VALUES ($1, now())";
const selectOne = "SELECT count(*) FROM events WHERE id = $1";
const isolation = "SELECT current_setting('transaction_isolation') AS level FROM events WHERE id = $1 LIMIT 1";

/** Runs a block; returns whether it prepared transactions. */
async function block(...statements: [string, unknown[]][]): Promise<boolean> {
  notices.length = 0;
  await extended(["BEGIN", []], ...statements, ["COMMIT", []]);
  return notices.some((n) => n.startsWith("issuing PREPARE TRANSACTION"));
}

test("after a two-phase block, one writing one worker only takes one phase", async () => {
  // Planning a statement the first time may read the coordinator database (which then counts as
  // perhaps written): the statements are prepared first, as pgbench -M prepared does.
  await block(
    [touch, [keys[0]]],
    [insert, [keys[0], "warm-up"]],
    [audit, [0]],
    [selectOne, [keys[0]]],
    [isolation, [1]],
  );
  assert.equal(await block([insert, [keys[0], "a"]], [insert, [keys[1], "b"]]), true);
  // The start time and the transaction id are asked for together, when the block first reaches a worker.
  assert.equal(await block([touch, [keys[0]]], [insert, [keys[0], "c"]]), false);
  assert.equal(await block([insert, [keys[1], "d"]], [insert, [keys[0], "e"]]), true);
  assert.equal(await block([insert, [keys[1], "f"]], [selectOne, [keys[0]]]), false);
});

test("a block that also wrote the coordinator database takes two phases, its transaction id asked ahead or not", async () => {
  assert.equal(await block([insert, [keys[0], "g"]], [insert, [keys[1], "h"]]), true);
  assert.equal(await block([touch, [keys[0]]], [insert, [keys[0], "i"]], [audit, [1]]), true);
  assert.equal(await block([insert, [keys[0], "j"]], [audit, [2]]), true);
  assert.equal(await block([audit, [3]], [insert, [keys[1], "k"]]), true);
  // The coordinator's write through a simple-protocol statement.
  assert.equal(await block([insert, [keys[0], "l"]], [insert, [keys[1], "l"]]), true);
  notices.length = 0;
  await extended(["BEGIN", []], [touch, [keys[0]]], [insert, [keys[0], "m"]]);
  await client.query("INSERT INTO audit VALUES (4, now())");
  await extended(["COMMIT", []]);
  assert.ok(notices.some((n) => n.startsWith("issuing PREPARE TRANSACTION")));
});

test("a simple-protocol BEGIN, and SET TRANSACTION after BEGIN, behave alike", async () => {
  assert.equal(await block([insert, [keys[0], "n"]], [insert, [keys[1], "n"]]), true);
  notices.length = 0;
  await client.query("BEGIN");
  // Nothing asked of the coordinator database at BEGIN: the transaction has no snapshot yet.
  await client.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
  await extended([touch, [keys[0]]], [insert, [keys[0], "o"]]);
  const level = await client.query({ name: `s ${isolation}`, text: isolation, values: [keys[0]] });
  assert.equal(level.rows[0].level, "repeatable read");
  await client.query("COMMIT");
  assert.ok(!notices.some((n) => n.startsWith("issuing PREPARE TRANSACTION")));
});

test("the prepared transactions are named by the coordinator transaction that records the decision", async () => {
  const gidXid = () => {
    const prepare = notices.find((n) => n.startsWith("issuing PREPARE TRANSACTION"));
    return /canopy_\d+_(\d+)'/.exec(prepare ?? "")?.[1];
  };
  const xminOf = async (id: number) =>
    (await client.query("SELECT xmin::text AS x FROM audit WHERE id = $1", [id])).rows[0].x as string;
  // The id asked for with the start time, the last block having written two workers.
  assert.equal(await block([insert, [keys[0], "p"]], [insert, [keys[1], "p"]]), true);
  assert.equal(await block([touch, [keys[0]]], [insert, [keys[1], "q"]], [audit, [5]]), true);
  assert.equal(gidXid(), await xminOf(5));
  // One asked for in a transaction that COMMIT AND CHAIN ended does not serve the next one.
  assert.equal(await block([insert, [keys[0], "r"]], [insert, [keys[1], "r"]]), true);
  await extended(["BEGIN", []], [touch, [keys[0]]]);
  await client.query("COMMIT AND CHAIN");
  notices.length = 0;
  await extended([insert, [keys[0], "s"]], [insert, [keys[1], "s"]], [audit, [6]], ["COMMIT", []]);
  assert.equal(gidXid(), await xminOf(6));
  // And the chained transaction's now() is its own, on the workers as in the coordinator database.
  const worker = await client.query("SELECT DISTINCT at FROM events WHERE note = 's'");
  const coordinator = await client.query("SELECT at FROM audit WHERE id = 6");
  assert.deepEqual(
    worker.rows.map((r) => r.at),
    [coordinator.rows[0].at],
  );
});

test("every row of every block is there once, with its block's one start time", async () => {
  await client.query("RESET canopy.log_remote_commands");
  const { rows } = await client.query(
    "SELECT note, count(*)::int AS n FROM events WHERE note <> 'warm-up' GROUP BY note ORDER BY note",
  );
  assert.deepEqual(
    rows.map((r) => `${r.note}${r.n}`),
    ["a1", "b1", "c1", "d1", "e1", "f1", "g1", "h1", "i1", "j1", "k1", "l2", "m1", "n2", "o1", "p2", "q1", "r2", "s2"],
  );
  const distinct = await client.query("SELECT count(DISTINCT at)::int AS n FROM events WHERE note IN ('a', 'b')");
  assert.equal(distinct.rows[0].n, 1);
  const worker = await client.query("SELECT at FROM events WHERE note = 'j'");
  const coordinator = await client.query("SELECT at FROM audit WHERE id = 2");
  assert.deepEqual(worker.rows[0].at, coordinator.rows[0].at);
  assert.equal((await client.query("SELECT count(*)::int AS n FROM audit WHERE id > 0")).rows[0].n, 6);
});

test("a block made read-only after it wrote two workers and the coordinator commits, as in PostgreSQL", async () => {
  // The decision record cannot be written in a read-only transaction: its commit alone decides.
  await client.query("BEGIN");
  await extended([insert, [keys[0], "ro"]], [insert, [keys[1], "ro"]], [audit, [7]]);
  await client.query("SET TRANSACTION READ ONLY");
  await client.query("COMMIT");
  const { rows } = await client.query("SELECT count(*)::int AS n FROM events WHERE note = 'ro'");
  assert.equal(rows[0].n, 2);
  assert.equal((await client.query("SELECT count(*)::int AS n FROM audit WHERE id = 7")).rows[0].n, 1);
  const prepared = await client.query(
    "SELECT count(*)::int AS n FROM run_command_on_workers('SELECT count(*) FROM pg_prepared_xacts') WHERE result <> '0'",
  );
  assert.equal(prepared.rows[0].n, 0);
});

test("SET TRANSACTION READ ONLY after a worker's transaction began refuses later writes there too", async () => {
  const write = (note: string) => client.query("INSERT INTO events VALUES ($1, now(), $2)", [keys[0], note]);
  const readOnly = (e: { code?: string }) => e.code === "25006";
  await client.query("BEGIN");
  await write("rw");
  await client.query("SET TRANSACTION READ ONLY");
  await assert.rejects(write("rw"), readOnly);
  await client.query("ROLLBACK");
  // Set in a savepoint, the mode is undone by ROLLBACK TO on the worker as in the coordinator.
  await client.query("BEGIN");
  await write("rw");
  await client.query("SAVEPOINT s");
  await client.query("SET LOCAL transaction_read_only = on");
  await assert.rejects(write("rw"), readOnly);
  await client.query("ROLLBACK TO SAVEPOINT s");
  await write("rw");
  await client.query("COMMIT");
  const { rows } = await client.query("SELECT count(*)::int AS n FROM events WHERE note = 'rw'");
  assert.equal(rows[0].n, 2);
});

test("a deferred constraint's error at COMMIT names the client's table and constraint, in one phase and two", async () => {
  await client.query(
    "CREATE TABLE deferred_u (k int, u int, CONSTRAINT deferred_u_k_u UNIQUE (k, u) DEFERRABLE INITIALLY DEFERRED)",
  );
  await client.query("SELECT create_distributed_table('deferred_u', 'k', colocate_with => 'events')");
  for (const rows of [
    [
      [keys[0], 1],
      [keys[0], 1],
    ],
    [
      [keys[0], 1],
      [keys[0], 1],
      [keys[1], 1],
    ],
  ]) {
    await client.query("BEGIN");
    for (const [k, u] of rows) await client.query("INSERT INTO deferred_u VALUES ($1, $2)", [k, u]);
    await assert.rejects(
      client.query("COMMIT"),
      (e: { code?: string; table?: string; constraint?: string; message: string }) => {
        assert.equal(e.code, "23505");
        assert.equal(e.table, "deferred_u");
        assert.equal(e.constraint, "deferred_u_k_u");
        assert.match(e.message, /"deferred_u_k_u"$/);
        return true;
      },
    );
  }
});
