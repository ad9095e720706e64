// Recovery of prepared transactions: what a crash or a lost connection left prepared on the
// workers is committed or rolled back as the coordinator database decided. A gid carries the id of
// the coordinator-database transaction that recorded the decision, so its fate is that
// transaction's: committed → COMMIT PREPARED, aborted (or never committed) → ROLLBACK PREPARED,
// still in progress → left alone for now. pg_dist_transaction answers for transactions too old
// for txid_status; its records are deleted once nothing is prepared under them.
import type { NodeClient } from "../nodes/gateway.js";
import type { NodeRecord } from "../metadata/cache.js";
import { arrayLiteral, quoteLiteral } from "../sql/quote.js";
import { gidPrefix } from "./commit.js";

export interface RecoveryContext {
  readonly clusterId: string;
  readonly nodes: readonly NodeRecord[];
  /** Runs SQL in the coordinator database, outside any client's transaction. */
  coordinatorQuery(sql: string, params: readonly (string | null)[]): Promise<(string | null)[][]>;
  connect(node: NodeRecord): Promise<NodeClient>;
  log(line: string): void;
}

/** Finishes every prepared transaction whose outcome is decided; returns how many it finished. */
export async function recoverPreparedTransactions(ctx: RecoveryContext): Promise<number> {
  // Records first: a record read here was committed before the prepared list is read, so a gid
  // recorded but no longer prepared is finished and its record can go.
  const records = new Set(
    (await ctx.coordinatorQuery("SELECT groupid, gid FROM pg_catalog.pg_dist_transaction", [])).map(
      ([g, gid]) => `${g}:${gid}`,
    ),
  );
  const prefix = gidPrefix(ctx.clusterId);
  const groups = new Map<number, NodeRecord>();
  for (const n of ctx.nodes)
    if (n.noderole === "primary" && n.isactive && !groups.has(n.groupid)) groups.set(n.groupid, n);
  let finished = 0;
  for (const [groupId, node] of groups) {
    let client: NodeClient;
    try {
      client = await ctx.connect(node);
    } catch (e) {
      ctx.log(`recovery: cannot reach ${node.nodename}:${node.nodeport}: ${(e as Error).message}`);
      continue;
    }
    try {
      const prepared = (
        await client.query(
          `SELECT gid FROM pg_catalog.pg_prepared_xacts
            WHERE pg_catalog.starts_with(gid, $1) AND database = pg_catalog.current_database()`,
          [prefix],
        )
      ).rows.map((r) => r[0]!);
      const xids = prepared.map((gid) => gid.slice(prefix.length));
      const status = new Map(
        (
          await ctx.coordinatorQuery(
            `SELECT x, pg_catalog.txid_status(x::bigint) FROM pg_catalog.unnest($1::text[]) AS x
              WHERE x ~ '^[0-9]+$'`,
            [arrayLiteral(xids)],
          )
        ).map(([x, s]) => [x!, s]),
      );
      const stillPrepared = new Set<string>();
      for (const gid of prepared) {
        const s = status.get(gid.slice(prefix.length));
        if (s === undefined || s === "in progress") {
          stillPrepared.add(gid);
          continue;
        }
        const commit = s === "committed" || (s === null && records.has(`${groupId}:${gid}`));
        try {
          await client.query(`${commit ? "COMMIT" : "ROLLBACK"} PREPARED ${quoteLiteral(gid)}`);
          finished++;
        } catch (e) {
          // Another coordinator (or the session itself) may have finished it meanwhile.
          if ((e as { fields?: { code?: string } }).fields?.code !== "42704") {
            stillPrepared.add(gid);
            ctx.log(`recovery: ${gid} on ${node.nodename}:${node.nodeport}: ${(e as Error).message}`);
          }
        }
      }
      const done = [...records]
        .filter((r) => r.startsWith(`${groupId}:`))
        .map((r) => r.slice(String(groupId).length + 1))
        .filter((gid) => !stillPrepared.has(gid));
      if (done.length > 0) {
        await ctx.coordinatorQuery(
          "DELETE FROM pg_catalog.pg_dist_transaction WHERE groupid = $1::int AND gid = ANY($2::text[])",
          [String(groupId), arrayLiteral(done)],
        );
      }
    } finally {
      await client.close();
    }
  }
  // Records of groups no longer in the cluster can never be finished.
  await ctx.coordinatorQuery(
    `DELETE FROM pg_catalog.pg_dist_transaction t
      WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_node n WHERE n.groupid = t.groupid)`,
    [],
  );
  return finished;
}
