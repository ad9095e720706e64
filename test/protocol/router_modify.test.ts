// Prepared single-shard INSERT, UPDATE and DELETE: planned once, each execution only hashes its
// distribution value and runs the shard's statement (see modificationRouterPlan). Every execution
// must still reach the shard its own value names, carry the coordinator transaction's now(), and
// behave as PostgreSQL in and outside blocks, after errors and after DDL.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { clusterKinds, startCluster, type TestCluster } from "../support/cluster.js";

const keys = Array.from({ length: 120 }, (_, i) => i * 7919 + 1);

for (const kind of clusterKinds()) {
  describe(`prepared router modifications (${kind})`, () => {
    let cluster: TestCluster;
    let c: pg.Client;

    before(async () => {
      cluster = await startCluster(kind);
      c = new pg.Client(cluster.url);
      await c.connect();
      await c.query("CREATE TABLE events (k bigint PRIMARY KEY, v text, at timestamptz, n int DEFAULT 0)");
      await c.query("SELECT create_distributed_table('events', 'k')");
    });

    after(async () => {
      await c?.end();
      await cluster?.stop();
    });

    const insert = (k: number, v: string) =>
      c.query({
        name: "ins",
        text: "INSERT INTO events (k, v, at) VALUES ($1, $2, CURRENT_TIMESTAMP)",
        values: [k, v],
      });

    test("each row goes to its own shard; one block's rows carry the block's now()", async () => {
      await c.query("BEGIN");
      for (const k of keys) assert.equal((await insert(k, `v${k}`)).rowCount, 1);
      const [{ now }] = (await c.query("SELECT now()::text AS now")).rows;
      await c.query("COMMIT");
      const counts = await c.query(
        "SELECT count(*)::int AS n, count(DISTINCT at)::int AS times, min(at)::text AS at FROM events",
      );
      assert.deepEqual(counts.rows[0], { n: keys.length, times: 1, at: now });
      // A router SELECT finds each row only on the shard its key hashes to.
      for (const k of keys) {
        const r = await c.query({ name: "get", text: "SELECT v FROM events WHERE k = $1", values: [k] });
        assert.deepEqual(r.rows, [{ v: `v${k}` }], `key ${k}`);
      }
    });

    test("blocks in a row: each row carries its own block's now(), whatever DateStyle and TimeZone say", async () => {
      // From the second block on, the block's start time is asked for ahead (Session.blockTimestamp);
      // a rolled-back block and a statement between blocks must not lend theirs to the next.
      const seen: string[] = [];
      for (let round = 0; round < 6; round++) {
        const k = 2_000_000 + round;
        await c.query("BEGIN");
        await c.query({ name: "get", text: "SELECT v FROM events WHERE k = $1", values: [keys[round]] });
        await c.query(round % 2 ? "SET LOCAL DateStyle = 'SQL, DMY'" : "SET LOCAL DateStyle = 'German'");
        await c.query(round % 2 ? "SET LOCAL TimeZone = 'Asia/Kolkata'" : "SET LOCAL TimeZone = 'America/St_Johns'");
        assert.equal((await insert(k, `block${round}`)).rowCount, 1);
        const [{ now }] = (await c.query("SELECT (extract(epoch FROM now()) * 1000000)::bigint::text AS now")).rows;
        if (round === 3) {
          await c.query("ROLLBACK");
        } else {
          await c.query("COMMIT");
          const [{ at }] = (
            await c.query("SELECT (extract(epoch FROM at) * 1000000)::bigint::text AS at FROM events WHERE k = $1", [k])
          ).rows;
          assert.equal(at, now, `block ${round}`);
        }
        assert.ok(!seen.includes(now), `block ${round} has a start time of its own`);
        seen.push(now);
        if (round === 4) await c.query({ name: "get", text: "SELECT v FROM events WHERE k = $1", values: [k] });
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      assert.equal((await c.query("SELECT count(*)::int AS n FROM events WHERE k >= 2000000")).rows[0].n, 5);
      await c.query("DELETE FROM events WHERE k >= 2000000");
    });

    test("UPDATE and DELETE … RETURNING, outside a block", async () => {
      for (const k of keys.slice(0, 30)) {
        const r = await c.query({
          name: "upd",
          text: "UPDATE events SET n = n + $2, at = now() WHERE k = $1",
          values: [k, 5],
        });
        assert.equal(r.command, "UPDATE");
        assert.equal(r.rowCount, 1);
        // Each statement's own now(): apart by more than the clock's resolution (PGlite's is coarse).
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      const missing = await c.query({
        name: "upd",
        text: "UPDATE events SET n = n + $2, at = now() WHERE k = $1",
        values: [-1, 5],
      });
      assert.equal(missing.rowCount, 0);
      const sum = await c.query("SELECT sum(n)::int AS s, count(DISTINCT at)::int AS times FROM events WHERE n > 0");
      assert.deepEqual(sum.rows[0], { s: 150, times: 30 });
      const deleted = await c.query({
        name: "del",
        text: "DELETE FROM events WHERE k = $1 RETURNING k, v",
        values: [keys[0]],
      });
      assert.deepEqual(deleted.rows, [{ k: String(keys[0]), v: `v${keys[0]}` }]);
    });

    test("an error keeps the statement usable: duplicate key twice, then a new row", async () => {
      for (let i = 0; i < 2; i++) {
        await assert.rejects(insert(keys[1], "again"), (e: pg.DatabaseError) => {
          assert.equal(e.code, "23505");
          assert.equal(e.constraint, "events_pkey");
          return true;
        });
      }
      assert.equal((await insert(999_999_937, "new")).rowCount, 1);
    });

    test("a block writing several shards rolls back whole, and commits whole", async () => {
      await c.query("BEGIN");
      for (const k of [1_000_001, 1_000_002, 1_000_003, 1_000_004]) await insert(k, "rolled back");
      await c.query("ROLLBACK");
      assert.equal((await c.query("SELECT count(*)::int AS n FROM events WHERE v = 'rolled back'")).rows[0].n, 0);
      await c.query("BEGIN");
      for (const k of [2_000_001, 2_000_002, 2_000_003, 2_000_004]) await insert(k, "kept");
      await c.query("COMMIT");
      assert.equal((await c.query("SELECT count(*)::int AS n FROM events WHERE v = 'kept'")).rows[0].n, 4);
    });

    test("two sessions committing in two phases over the same rows take turns", async () => {
      // Two keys on different workers, so that each transaction prepares on both.
      const nodeOf = async (k: number) =>
        (
          await c.query(
            `SELECT n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
              WHERE p.shardid = get_shard_id_for_distribution_column('events', $1)`,
            [k],
          )
        ).rows[0].nodeport;
      const first = keys[2];
      let second = keys[3];
      for (const k of keys.slice(3)) {
        if ((await nodeOf(k)) !== (await nodeOf(first))) {
          second = k;
          break;
        }
      }
      assert.notEqual(await nodeOf(second), await nodeOf(first));
      const before = await c.query("SELECT k, n FROM events WHERE k = ANY($1) ORDER BY k", [[first, second]]);
      const rounds = 25;
      await Promise.all(
        [0, 1].map(async () => {
          const s = new pg.Client(cluster.url);
          await s.connect();
          try {
            for (let i = 0; i < rounds; i++) {
              await s.query("BEGIN");
              for (const k of [first, second]) {
                await s.query({ name: "bump", text: "UPDATE events SET n = n + 1 WHERE k = $1", values: [k] });
              }
              await s.query("COMMIT");
            }
          } finally {
            await s.end();
          }
        }),
      );
      const afterRows = await c.query("SELECT k, n FROM events WHERE k = ANY($1) ORDER BY k", [[first, second]]);
      assert.deepEqual(
        afterRows.rows.map((r) => r.n),
        before.rows.map((r) => r.n + 2 * rounds),
      );
    });

    test("after ALTER TABLE the prepared statements are planned again", async () => {
      await c.query("ALTER TABLE events ADD COLUMN note text DEFAULT 'x'");
      assert.equal((await insert(3_000_001, "after ddl")).rowCount, 1);
      const r = await c.query({ name: "get", text: "SELECT v FROM events WHERE k = $1", values: [3_000_001] });
      assert.deepEqual(r.rows, [{ v: "after ddl" }]);
      assert.equal(
        (await c.query("SELECT note FROM events WHERE k = 3000001")).rows[0].note,
        "x",
        "the new column's constant default applies on the shard",
      );
    });
  });
}
