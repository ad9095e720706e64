// A distribution column compared with a setting the session reads through current_setting() (a
// tenant's id set per session, as row-level security setups do) routes to the one shard of the
// setting's value as the statement runs, instead of every shard: SELECTs, joins of co-located
// tables, IN lists, UPDATE, DELETE and INSERT, the value set by SET, SET LOCAL or set_config(). A
// setting that is not set, or whose value is not of the column's type, fails as PostgreSQL does.
// Their answers are also compared with PostgreSQL's in the differential tests (26_session_settings.sql).
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { clusterKinds } from "../support/cluster.js";
import { clientSuite } from "../support/client.js";

for (const kind of clusterKinds()) {
  describe(`routing by a setting's value (${kind})`, () => {
    const suite = clientSuite(kind, [
      "CREATE TABLE orders (tenant int, id int, total int, PRIMARY KEY (tenant, id))",
      "SELECT create_distributed_table('orders', 'tenant', shard_count => 8)",
      "CREATE TABLE lines (tenant int, order_id int, qty int)",
      "SELECT create_distributed_table('lines', 'tenant', colocate_with => 'orders')",
      "CREATE TABLE members (login text PRIMARY KEY, tenant int)",
      "SELECT create_distributed_table('members', 'login', shard_count => 4)",
      "INSERT INTO orders SELECT t, i, t * 100 + i FROM generate_series(1, 8) t, generate_series(1, 3) i",
      "INSERT INTO lines SELECT tenant, id, 1 FROM orders",
      "INSERT INTO members VALUES ('ann', 1), ('bob', 2)",
    ]);

    /** The number of tasks EXPLAIN shows for a statement. */
    async function tasks(sql: string): Promise<number> {
      const plan = (await suite.c.query(`EXPLAIN (COSTS OFF) ${sql}`)).rows.map((r) => r["QUERY PLAN"] as string);
      const line = plan.find((l) => /Task Count: \d+/.test(l));
      assert.ok(line, plan.join("\n"));
      return Number(/Task Count: (\d+)/.exec(line)![1]);
    }

    test("reads and writes by the setting reach one shard, of the value it has as each runs", async () => {
      await suite.c.query("SET app.tenant = '3'");
      const byTenant = "SELECT id, total FROM orders WHERE tenant = current_setting('app.tenant')::int ORDER BY id";
      assert.equal(await tasks(byTenant), 1);
      assert.deepEqual(
        (await suite.c.query(byTenant)).rows.map((r) => r.total),
        [301, 302, 303],
      );
      const joined = `SELECT o.id, sum(l.qty)::int AS qty FROM orders o JOIN lines l
                        ON l.tenant = o.tenant AND l.order_id = o.id
                       WHERE o.tenant = current_setting('app.tenant')::int GROUP BY o.id ORDER BY o.id`;
      assert.equal(await tasks(joined), 1);
      assert.equal((await suite.c.query(joined)).rows.length, 3);
      assert.equal(await tasks("SELECT count(*) FROM orders WHERE tenant IN (current_setting('app.tenant')::int)"), 1);
      assert.equal(await tasks("UPDATE orders SET total = total WHERE tenant = current_setting('app.tenant')::int"), 1);
      assert.equal(await tasks("DELETE FROM orders WHERE current_setting('app.tenant')::int = tenant AND id < 0"), 1);
      // set_config() in a statement of its own, and SET LOCAL in a block, change where the next goes.
      await suite.c.query("SELECT set_config('app.tenant', '5', false)");
      assert.deepEqual(
        (await suite.c.query(byTenant)).rows.map((r) => r.total),
        [501, 502, 503],
      );
      await suite.c.query("BEGIN");
      await suite.c.query("SET LOCAL app.tenant = '7'");
      const updated = await suite.c.query(
        "UPDATE orders SET total = total + 1000 WHERE tenant = current_setting('app.tenant')::int RETURNING tenant",
      );
      assert.deepEqual(new Set(updated.rows.map((r) => r.tenant)), new Set([7]));
      await suite.c.query(
        "INSERT INTO orders VALUES (current_setting('app.tenant')::int, 4, 0), (current_setting('app.tenant')::int, 5, 0)",
      );
      await suite.c.query("COMMIT");
      const counts = await suite.c.query(
        "SELECT tenant, count(*)::int AS n FROM orders WHERE tenant IN (5, 7) GROUP BY 1 ORDER BY 1",
      );
      assert.deepEqual(counts.rows, [
        { tenant: 5, n: 3 },
        { tenant: 7, n: 5 },
      ]);
      assert.deepEqual(
        (await suite.c.query(byTenant)).rows.map((r) => r.total),
        [501, 502, 503],
      );
    });

    test("a prepared statement, planned once, goes at each execution to the shard of the setting's value then", async () => {
      const prepared = {
        name: "by_tenant",
        text: "SELECT total FROM orders WHERE tenant = current_setting('app.tenant')::int AND id = 1",
      };
      const insert = {
        name: "add_order",
        text: "INSERT INTO orders VALUES (current_setting('app.tenant')::int, $1, 0)",
      };
      // The shards each execution's commands name, as canopy.log_remote_commands reports them.
      const notices: string[] = [];
      const note = (n: { message?: string }) => notices.push(n.message ?? "");
      const shardsNamed = () => new Set(notices.flatMap((m) => m.match(/\borders_\d+/g) ?? []));
      suite.c.on("notice", note);
      await suite.c.query("SET canopy.log_remote_commands = on");
      try {
        for (const [i, tenant] of [2, 4, 2].entries()) {
          await suite.c.query(`SET app.tenant = '${tenant}'`);
          notices.length = 0;
          assert.deepEqual((await suite.c.query(prepared)).rows, [{ total: tenant * 100 + 1 }]);
          assert.equal(shardsNamed().size, 1, notices.join("\n"));
          notices.length = 0;
          await suite.c.query({ ...insert, values: [10 + i] });
          assert.equal(shardsNamed().size, 1, notices.join("\n"));
        }
      } finally {
        await suite.c.query("RESET canopy.log_remote_commands");
        suite.c.off("notice", note);
      }
      const added = await suite.c.query("SELECT tenant, id FROM orders WHERE id >= 10 ORDER BY id");
      assert.deepEqual(added.rows, [
        { tenant: 2, id: 10 },
        { tenant: 4, id: 11 },
        { tenant: 2, id: 12 },
      ]);
    });

    test("a text column compared with the bare setting routes by its text", async () => {
      await suite.c.query("SET app.login = 'bob'");
      const sql = "SELECT tenant FROM members WHERE login = current_setting('app.login')";
      assert.equal(await tasks(sql), 1);
      assert.deepEqual((await suite.c.query(sql)).rows, [{ tenant: 2 }]);
    });

    test("a setting not set, or not of the column's type, fails as in PostgreSQL", async () => {
      await assert.rejects(
        suite.c.query("SELECT count(*) FROM orders WHERE tenant = current_setting('app.nobody')::int"),
        {
          code: "42704",
          message: 'unrecognized configuration parameter "app.nobody"',
        },
      );
      const missing = await suite.c.query(
        "SELECT count(*)::int AS n FROM orders WHERE tenant = current_setting('app.nobody', true)::int",
      );
      assert.deepEqual(missing.rows, [{ n: 0 }]);
      await suite.c.query("SET app.tenant = 'three'");
      await assert.rejects(
        suite.c.query("SELECT count(*) FROM orders WHERE tenant = current_setting('app.tenant')::int"),
        {
          code: "22P02",
        },
      );
      await suite.c.query("RESET app.tenant");
    });
  });
}
