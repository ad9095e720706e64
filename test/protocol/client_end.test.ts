// A client that sends its last statements and closes its side of the connection at once (FIN,
// without waiting for answers): PostgreSQL runs what it read before the end of input, and so
// does Canopy, then ends the session.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { clusterKinds, startCluster, type TestCluster } from "../support/cluster.js";
import { RawConnection, dataRows, queryMessage, terminateMessage } from "../support/raw.js";

for (const kind of clusterKinds()) {
  describe(`statements sent just before the client closes its side (${kind})`, () => {
    let cluster: TestCluster;
    let other: RawConnection;

    before(async () => {
      cluster = await startCluster(kind);
      ({ conn: other } = await RawConnection.startup(cluster.port));
      await other.simpleQueries([
        "CREATE TABLE ending_dist (k int PRIMARY KEY)",
        "SELECT create_distributed_table('ending_dist', 'k')",
        "CREATE TABLE ending_local (k int PRIMARY KEY)",
      ]);
    });

    after(async () => {
      other?.socket.destroy();
      await cluster?.stop();
    });

    async function count(table: string): Promise<string | null> {
      return dataRows(await other.simpleQuery(`SELECT count(*) FROM ${table}`))[0][0];
    }

    for (const terminate of [true, false]) {
      test(`queued statements run and commit (${terminate ? "with" : "without"} Terminate)`, async () => {
        const before = [await count("ending_dist"), await count("ending_local")].map(Number);
        const { conn } = await RawConnection.startup(cluster.port);
        const base = terminate ? 100 : 200;
        conn.write(
          Buffer.concat([
            queryMessage(`INSERT INTO ending_dist VALUES (${base + 1})`),
            queryMessage(`INSERT INTO ending_local VALUES (${base + 1})`),
            queryMessage(`INSERT INTO ending_dist SELECT g FROM generate_series(${base + 2}, ${base + 9}) g`),
            ...(terminate ? [terminateMessage()] : []),
          ]),
        );
        conn.socket.end();
        let after: number[] = [];
        for (let i = 0; i < 100; i++) {
          after = [await count("ending_dist"), await count("ending_local")].map(Number);
          if (after[0] === before[0] + 9 && after[1] === before[1] + 1) break;
          await new Promise((r) => setTimeout(r, 50));
        }
        assert.deepEqual(after, [before[0] + 9, before[1] + 1]);
        conn.socket.destroy();
      });
    }
  });
}
