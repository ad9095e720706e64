// A block that wrote one worker and, through COPY, a coordinator table commits in two phases, so
// that a coordinator COMMIT that fails (here a deferred unique constraint) leaves the worker's row
// out too: the commit must not take the coordinator database for unwritten (commit.ts). On the
// embedded cluster that COPY reaches PGlite past the session's pipe. Both cluster kinds.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { clusterKinds, startCluster, type TestCluster } from "../support/cluster.js";

for (const kind of clusterKinds()) {
  describe(`COPY into a coordinator table inside a block (${kind} cluster)`, () => {
    let cluster: TestCluster;
    const psql = (script: string) =>
      spawnSync("psql", ["-X", "-q", "-At", "-f", "-", cluster.url], { input: script, encoding: "utf8" });

    before(async () => {
      cluster = await startCluster(kind);
      const r = psql(`CREATE TABLE events (id int, at timestamptz, note text);
SELECT create_distributed_table('events', 'id');
CREATE TABLE audit (id int UNIQUE DEFERRABLE INITIALLY DEFERRED);
INSERT INTO audit VALUES (1);`);
      assert.equal(r.status, 0, r.stderr);
    });

    after(async () => {
      await cluster?.stop();
    });

    test("a COMMIT that the coordinator database refuses leaves the worker's row out too", () => {
      const r = psql(`BEGIN;
INSERT INTO events VALUES (7, now(), 'copied');
COPY audit (id) FROM STDIN;
1
\\.
COMMIT;
SELECT count(*) FROM events;
SELECT count(*) FROM audit;`);
      assert.match(r.stderr, /duplicate key value violates unique constraint/);
      assert.deepEqual(r.stdout.trim().split("\n"), ["0", "1"], r.stderr);
    });
  });
}
