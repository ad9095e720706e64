// A list of parameters compared with the distribution column (`tenant IN ($1, $2, …)`, as ORMs
// write a lookup of many keys) is cut per shard by the values bound: each shard's statement gets
// only the parameters whose values hash to it, as a list of constants already was; an array
// parameter (`tenant = ANY ($1)`) becomes an array constant of each shard's elements. Before, every
// shard received (and parsed) every parameter: 10,000 of them took 414 ms against plain
// PostgreSQL's 28 ms. The answers are compared with PostgreSQL's in the differential tests
// (33_bound_key_lists.sql); this shows what the workers are sent (canopy.log_remote_commands).
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { clusterKinds } from "../support/cluster.js";
import { clientSuite, remoteCommands } from "../support/client.js";

for (const kind of clusterKinds()) {
  describe(`lists of parameters cut per shard (${kind})`, () => {
    const suite = clientSuite(kind, [
      "CREATE TABLE orders (tenant int, id int, total int, PRIMARY KEY (tenant, id))",
      "SELECT create_distributed_table('orders', 'tenant', shard_count => 8)",
      "INSERT INTO orders SELECT t, i, t * 100 + i FROM generate_series(1, 40) t, generate_series(1, 3) i",
    ]);

    /** The statements sent to the workers' shards of `orders` while `run` runs. */
    const issued = (run: () => Promise<unknown>) => remoteCommands(suite.c, /orders_\d+/, run);

    const tenants = Array.from({ length: 20 }, (_, i) => i + 1);
    /** Values of no tenant, making an array long enough to be cut (ARRAY_CUT_MIN_ELEMENTS). */
    const many = Array.from({ length: 300 }, (_, i) => 1000 + i);
    const list = tenants.map((_, i) => `$${i + 1}`).join(", ");
    /** The parameters in the statements sent (`$n`, each once per place it is written). */
    const paramsIn = (statements: readonly string[]) =>
      statements.reduce((n, s) => n + (s.match(/\$\d+/g) ?? []).length, 0);

    test("a multi-shard SELECT sends each shard the parameters of its values only", async () => {
      let rows: { tenant: number; n: number }[] = [];
      const sent = await issued(async () => {
        rows = (
          await suite.c.query(
            `SELECT tenant, count(*)::int AS n FROM orders WHERE tenant IN (${list}) GROUP BY tenant ORDER BY tenant`,
            tenants,
          )
        ).rows;
      });
      assert.deepEqual(
        rows,
        tenants.map((t) => ({ tenant: t, n: 3 })),
      );
      assert.ok(sent.length > 0);
      // Each value is in one shard's list: 20 parameters in all, not 20 for each of the 8 shards.
      assert.equal(paramsIn(sent), tenants.length, sent.join("\n"));
    });

    test("an array parameter (= ANY ($1)) becomes each shard's own elements", async () => {
      let rows: { tenant: number; n: number }[] = [];
      const sent = await issued(async () => {
        rows = (
          await suite.c.query(
            "SELECT tenant, count(*)::int AS n FROM orders WHERE tenant = ANY ($1) GROUP BY tenant ORDER BY tenant",
            [[...tenants, null, ...many]],
          )
        ).rows;
      });
      assert.deepEqual(
        rows,
        tenants.map((t) => ({ tenant: t, n: 3 })),
      );
      // No shard gets the parameter: each gets an array constant of its elements, all of them
      // once (the NULL, equal to nothing, left out).
      assert.equal(paramsIn(sent), 0, sent.join("\n"));
      const elements = sent
        .flatMap((s) => [...s.matchAll(/'\{([^']*)\}'/g)])
        .reduce((n, m) => n + (m[1] === "" ? 0 : m[1].split(",").length), 0);
      assert.equal(elements, tenants.length + many.length, sent.join("\n"));
      const updated = await issued(async () => {
        const result = await suite.c.query("UPDATE orders SET total = total WHERE tenant = ANY ($1::int[])", [
          [7, 8, ...many],
        ]);
        assert.equal(result.rowCount, 6);
      });
      assert.equal(paramsIn(updated), 0, updated.join("\n"));
    });

    test("a short array parameter goes whole, to the shards its elements go to only", async () => {
      const sent = await issued(async () => {
        const result = await suite.c.query("SELECT count(*)::int AS n FROM orders WHERE tenant = ANY ($1)", [[3, 4]]);
        assert.equal(result.rows[0].n, 6);
      });
      // One branch per shard reached (at most 2 of the 8), each with the parameter.
      assert.ok(paramsIn(sent) >= 1 && paramsIn(sent) <= 2, sent.join("\n"));
      const none = await issued(async () => {
        const result = await suite.c.query("SELECT tenant FROM orders WHERE tenant = ANY ($1)", [[]]);
        assert.equal(result.rows.length, 0);
      });
      assert.equal(paramsIn(none), 1, none.join("\n"));
    });

    test("an UPDATE and a DELETE are cut as well; a value not hashed keeps the list whole", async () => {
      const sent = await issued(async () => {
        const updated = await suite.c.query(`UPDATE orders SET total = total + 1 WHERE tenant IN (${list})`, tenants);
        assert.equal(updated.rowCount, 60);
      });
      assert.equal(paramsIn(sent.filter((s) => /UPDATE/.test(s))), tenants.length, sent.join("\n"));
      const deleted = await issued(async () => {
        const result = await suite.c.query("DELETE FROM orders WHERE tenant IN ($1, $2) AND id = $3", [1, 2, 3]);
        assert.equal(result.rowCount, 2);
      });
      // $3 is written once in each shard's statement; the list's two values are one per shard.
      const deletes = deleted.filter((s) => /DELETE/.test(s));
      assert.equal(paramsIn(deletes), 2 + deletes.length, deleted.join("\n"));
      // A NULL among the values: the list is not routed by, it stays whole on each of the 8 shards.
      const whole = await issued(async () => {
        const result = await suite.c.query("SELECT count(*)::int AS n FROM orders WHERE tenant IN ($1, $2, $3)", [
          4,
          null,
          5,
        ]);
        assert.equal(result.rows[0].n, 6);
      });
      assert.equal(paramsIn(whole), 3 * 8, whole.join("\n"));
    });

    test("an array parameter whose elements go to one shard runs there as a single key does", async () => {
      // Tenants sharing tenant 3's shard, found by the coordinator's own hashing.
      const shard = async (t: number) =>
        (await suite.c.query("SELECT get_shard_id_for_distribution_column('orders', $1) AS s", [String(t)])).rows[0].s;
      const home = await shard(3);
      let mate = 4;
      while ((await shard(mate)) !== home) mate++;
      await suite.c.query("SELECT canopy_stat_statements_reset()");
      const statement =
        "SELECT tenant, count(*)::int AS n FROM orders WHERE tenant = ANY ($1) GROUP BY tenant ORDER BY 1";
      for (const keys of [[3], [3, mate, null], [3, 5]]) {
        const expected = [...new Set([3, mate, 5])].filter((t) => keys.includes(t)).sort((a, b) => a - b);
        const sent = await issued(async () => {
          const result = await suite.c.query(statement, [keys]);
          assert.deepEqual(
            result.rows,
            expected.map((tenant) => ({ tenant, n: 3 })),
          );
        });
        if (keys.includes(5)) continue;
        // The client's statement on the one shard, its parameter as bound, nothing to gather.
        assert.equal(sent.length, 1, sent.join("\n"));
        assert.match(sent[0], new RegExp(`orders_${home}\\b[^]*= ANY \\(\\$1\\)[^]*GROUP BY[^]*ORDER BY`), sent[0]);
      }
      // As a router statement it is counted by its one key; with two keys, or shards, by none.
      const counted = await suite.c.query(
        "SELECT partition_key, calls::int FROM canopy_stat_statements WHERE query LIKE '%tenant = ANY%' ORDER BY 1 NULLS LAST",
      );
      assert.deepEqual(counted.rows, [
        { partition_key: "3", calls: 1 },
        { partition_key: null, calls: 2 },
      ]);
    });
  });
}
