// Simple-protocol statements that recur with other numbers (psql, psycopg2, ORMs writing values into
// the text) run as one parameterized statement of their shape once it was seen
// canopy.parameterize_after times (server/statement_shapes.ts): the workers get the statement with
// parameters, as a prepared statement's. The answers are compared with PostgreSQL's in the
// differential tests, which run every statement so from its first sighting; this shows what the
// workers are sent, and the shape's life in blocks, errors and settings.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { clusterKinds } from "../support/cluster.js";
import { clientSuite, remoteCommands, withClient } from "../support/client.js";

for (const kind of clusterKinds()) {
  describe(`simple-protocol statements kept by shape (${kind})`, () => {
    const suite = clientSuite(kind, [
      "CREATE TABLE accounts (tenant int, id int, balance numeric, PRIMARY KEY (tenant, id))",
      "SELECT create_distributed_table('accounts', 'tenant', shard_count => 8)",
      "INSERT INTO accounts SELECT t, i, t * 100 + i FROM generate_series(1, 20) t, generate_series(1, 3) i",
      "CREATE TABLE people (name text PRIMARY KEY, nick text)",
      "SELECT create_distributed_table('people', 'name', shard_count => 8)",
      "INSERT INTO people VALUES ('ann', 'A'), ('bob', 'B'), ('o''neil', 'O'), ('zoë', 'Z'), ('', 'nobody')",
    ]);

    /** The statements sent to the workers' shards of `accounts` while `run` runs, on one line each. */
    const issued = async (run: () => Promise<unknown>) =>
      (await remoteCommands(suite.c, /accounts_\d+/, run)).map((s) => s.replace(/\s+/g, " "));
    /** A parameter as the workers get it: cast to its declared type. */
    const param = (n: number, type = "int") => `CAST($${n} AS ${type})`;

    const balance = async (tenant: number, id: number) =>
      (await suite.c.query(`SELECT balance FROM accounts WHERE tenant = ${tenant} AND id = ${id}`)).rows[0]?.balance;

    test("from the second text of a shape, the shards get the statement with parameters", async () => {
      const values: string[] = [];
      const sent = await issued(async () => {
        for (const tenant of [1, 2, 3, 4]) values.push(await balance(tenant, 2));
      });
      assert.deepEqual(values, ["102", "202", "302", "402"]);
      assert.equal(sent.length, 4, sent.join("\n"));
      assert.match(sent[0], /tenant = 1/);
      for (const s of sent.slice(1)) assert.ok(s.includes(`tenant = ${param(1)} AND id = ${param(2)}`), s);
      // One statement of canopy_stat_statements, whichever form ran.
      const stats = await suite.c.query(
        "SELECT sum(calls)::int AS calls, count(DISTINCT query)::int AS texts FROM canopy_stat_statements WHERE query LIKE 'SELECT balance FROM accounts WHERE tenant = $1 AND id = $2'",
      );
      assert.deepEqual(stats.rows[0], { calls: 4, texts: 1 });
    });

    test("canopy.parameterize_after = -1 runs the texts as they are; 0 from the first", async () => {
      await suite.c.query("SET canopy.parameterize_after = -1");
      const literal = await issued(async () => {
        for (const id of [1, 2, 3])
          await suite.c.query(`UPDATE accounts SET balance = balance WHERE tenant = 5 AND id = ${id}`);
      });
      assert.equal(literal.filter((s) => /\$1/.test(s)).length, 0, literal.join("\n"));
      assert.equal(literal.length, 3);
      await suite.c.query("SET canopy.parameterize_after = 0");
      const first = await issued(() => suite.c.query("DELETE FROM accounts WHERE tenant = 6 AND id = 99"));
      assert.ok(first.join("\n").includes(`tenant = ${param(1)} AND id = ${param(2)}`), first.join("\n"));
      await suite.c.query("RESET canopy.parameterize_after");
    });

    test(
      "canopy.parameterize_after given at connection (PGOPTIONS) is the session's",
      {
        skip: kind === "embedded" && "an embedded cluster's sessions take no settings from the startup packet",
      },
      async () => {
        const c = new pg.Client({ connectionString: suite.cluster.url, options: "-c canopy.parameterize_after=-1" });
        await c.connect();
        try {
          assert.deepEqual((await c.query("SHOW canopy.parameterize_after")).rows, [
            { "canopy.parameterize_after": "-1" },
          ]);
          const sent = await remoteCommands(c, /accounts_\d+/, async () => {
            for (const id of [1, 2, 3]) await c.query(`SELECT balance FROM accounts WHERE tenant = 7 AND id = ${id}`);
          });
          assert.equal(sent.length, 3, sent.join("\n"));
          for (const s of sent) assert.doesNotMatch(s, /\$1/);
        } finally {
          await c.end();
        }
      },
    );

    test("negative, large and decimal numbers keep their types; a type change runs the text", async () => {
      const shape = (n: string) => `SELECT count(*)::int AS n FROM accounts WHERE tenant = 7 AND balance > ${n}`;
      const count = async (n: string) => (await suite.c.query(shape(n))).rows[0].n;
      const counts: [string, number][] = [
        ["1", 3],
        ["-1", 3],
        ["- 2", 3],
        ["701", 2],
        ["701.5", 2],
        ["702.50", 1],
        ["-9223372036854775808", 3],
        ["3000000000", 0],
        ["700", 3],
      ];
      const sent = await issued(async () => {
        for (const [n, expected] of counts) assert.equal(await count(n), expected, n);
      });
      // The shape `balance > n` is kept at its second text, 701, with n an int4. The decimals and
      // the int8 past int4's range run as written; 700 runs with the parameter.
      const texts = sent.join("\n");
      for (const n of ["701.5", "702.50", "3000000000"]) assert.ok(texts.includes(`balance > ${n}`), n);
      assert.equal(texts.split(`balance > ${param(2)}`).length - 1, 2, texts);
      assert.equal(texts.split(`balance > ${param(2, "bigint")}`).length - 1, 1, texts);
      // A numeric too large for numeric fails as PostgreSQL fails it: with the literal's position.
      await assert.rejects(suite.c.query(shape("1e1000000")), (e: pg.DatabaseError) => {
        assert.equal(e.code, "22003");
        assert.equal(e.position, String(shape("1e1000000").indexOf("1e1000000") + 1));
        return true;
      });
    });

    test("in a block: kept and run inside it, rolled back with it; its errors fail the block", async (t) => {
      // A failed assertion inside a block leaves none open for the next tests.
      t.after(() => suite.c.query("ROLLBACK").catch(() => {}));
      await suite.c.query("BEGIN");
      const sent = await issued(async () => {
        for (const id of [1, 2, 3]) {
          await suite.c.query(`UPDATE accounts SET balance = balance + 1000 WHERE tenant = 8 AND id = ${id}`);
        }
      });
      // Kept at the second text, inside the block (under a savepoint of the coordinator database's).
      const updates = sent.filter((u) => u.includes("UPDATE"));
      assert.equal(updates.filter((u) => u.includes(`id = ${param(3)}`)).length, 2, updates.join("\n"));
      assert.equal(await balance(8, 3), "1803");
      await suite.c.query("ROLLBACK");
      assert.equal(await balance(8, 3), "803");
      await suite.c.query("BEGIN");
      await suite.c.query("SAVEPOINT s");
      for (const id of [1, 2]) {
        await suite.c.query(`UPDATE accounts SET balance = balance - 1 WHERE tenant = 9 AND id = ${id}`);
      }
      await suite.c.query("ROLLBACK TO SAVEPOINT s");
      await suite.c.query("UPDATE accounts SET balance = balance - 1 WHERE tenant = 9 AND id = 3");
      await assert.rejects(
        suite.c.query("UPDATE accounts SET balance = balance / 0 WHERE tenant = 9 AND id = 1"),
        (e: pg.DatabaseError) => e.code === "22012",
      );
      await assert.rejects(
        suite.c.query("UPDATE accounts SET balance = balance - 1 WHERE tenant = 9 AND id = 2"),
        (e: pg.DatabaseError) => e.code === "25P02",
      );
      await suite.c.query("ROLLBACK");
      assert.deepEqual((await suite.c.query("SELECT id, balance FROM accounts WHERE tenant = 9 ORDER BY id")).rows, [
        { id: 1, balance: "901" },
        { id: 2, balance: "902" },
        { id: 3, balance: "903" },
      ]);
      await suite.c.query("BEGIN");
      for (const id of [1, 2, 3]) {
        await suite.c.query(`UPDATE accounts SET balance = balance + 5 WHERE tenant = 10 AND id = ${id}`);
      }
      await suite.c.query("COMMIT");
      assert.equal(await balance(10, 3), "1008");
    });

    test("a statement forwarded as it is (VACUUM) does not follow Canopy's own queries in a pipeline", async () => {
      // After a canopy.* SET, the next statement would read the settings first: not for these.
      for (const vacuum of ["VACUUM ANALYZE accounts", "VACUUM (ANALYZE, PARALLEL 2) accounts"]) {
        await suite.c.query("SET canopy.parameterize_after = 1");
        await suite.c.query(vacuum);
      }
      await suite.c.query("RESET canopy.parameterize_after");
      // A new session has not read them yet.
      await withClient(suite.cluster.url, (c) => c.query("VACUUM ANALYZE accounts"));
    });

    test("string literals become parameters as numbers do; a function's string argument stays a constant", async () => {
      const quoted = (v: string) => `'${v.replaceAll("'", "''")}'`;
      const nick = async (condition: string) =>
        (await suite.c.query(`SELECT nick FROM people WHERE ${condition}`)).rows.map((r) => r.nick).join();
      const nicks: string[] = [];
      const sent = await remoteCommands(suite.c, /people_\d+/, async () => {
        for (const name of ["ann", "o'neil", "zoë", "", "nobody"]) nicks.push(await nick(`name = ${quoted(name)}`));
      });
      assert.deepEqual(nicks, ["A", "O", "Z", "nobody", ""]);
      // Each to the one shard of its name, from the second on as the shape's statement.
      assert.equal(sent.length, 5, sent.join("\n"));
      assert.match(sent[0], /name = 'ann'/);
      for (const s of sent.slice(1)) assert.match(s, /name = \$1\b/);
      // A string a function is given is the text's own each time (it may be a name, or indexed),
      // but lower's and upper's.
      const calls = await remoteCommands(suite.c, /people_\d+/, async () => {
        for (const name of ["a", "b", "a"]) nicks.push(await nick(`name = concat(${quoted(name)}, 'nn')`));
      });
      assert.deepEqual(nicks.slice(5), ["A", "", "A"]);
      // (Not routed by a call's result: every shard gets each text.)
      assert.ok(calls.length >= 3, calls.join("\n"));
      for (const s of calls) assert.match(s, /concat\('(a|b)', 'nn'\)/i);
      const cased = await remoteCommands(suite.c, /people_\d+/, async () => {
        for (const name of ["ANN", "BOB"]) nicks.push(await nick(`lower(name) = lower(${quoted(name)})`));
      });
      assert.deepEqual(nicks.slice(8), ["A", "B"]);
      assert.ok(cased.slice(-1)[0].includes("lower($1)"), cased.join("\n"));
      // Written values too: an INSERT's and an UPDATE's strings.
      const written = await remoteCommands(suite.c, /people_\d+/, async () => {
        for (const [name, value] of [
          ["cy", "C"],
          ["dee", "D"],
        ]) {
          await suite.c.query(`INSERT INTO people VALUES (${quoted(name)}, ${quoted(value)})`);
          await suite.c.query(`UPDATE people SET nick = ${quoted(value + "!")} WHERE name = ${quoted(name)}`);
        }
      });
      assert.equal(written.filter((s) => s.includes("$1") && s.includes("$2")).length, 2, written.join("\n"));
      const rows = await suite.c.query("SELECT name, nick FROM people WHERE name IN ('cy', 'dee') ORDER BY name");
      assert.deepEqual(rows.rows, [
        { name: "cy", nick: "C!" },
        { name: "dee", nick: "D!" },
      ]);
    });

    test("a string read as an interval stays a constant: a column's fields read it as PostgreSQL does", async () => {
      await suite.c.query("CREATE TABLE spans (id int, d interval day, t interval)");
      await suite.c.query("SELECT create_distributed_table('spans', 'id')");
      await suite.c.query("SET canopy.parameterize_after = 0");
      try {
        for (const [id, value] of [
          [1, "1"],
          [2, "3"],
        ]) {
          await suite.c.query(`INSERT INTO spans VALUES (${id}, '${value}', '${value}')`);
          await suite.c.query(`UPDATE spans SET d = '${value}' WHERE id = ${id} AND t = '${value}'`);
        }
        const rows = await suite.c.query("SELECT id, d::text, t::text FROM spans ORDER BY id");
        assert.deepEqual(rows.rows, [
          { id: 1, d: "1 day", t: "00:00:01" },
          { id: 2, d: "3 days", t: "00:00:03" },
        ]);
      } finally {
        await suite.c.query("RESET canopy.parameterize_after");
      }
    });

    test("a shape whose other constants change runs its texts as they are", async () => {
      const rows = async (extra: number, tenant: number) =>
        (await suite.c.query(`SELECT id + ${extra} AS x FROM accounts WHERE tenant = ${tenant} ORDER BY id`)).rows.map(
          (r) => r.x,
        );
      assert.deepEqual(await rows(10, 11), [11, 12, 13]);
      assert.deepEqual(await rows(10, 12), [11, 12, 13]);
      assert.deepEqual(await rows(20, 13), [21, 22, 23]);
      const sent = await issued(() => rows(30, 14));
      assert.match(sent.join("\n"), /id \+ 30/);
      assert.match(sent.join("\n"), /tenant = 14/);
    });
  });
}
