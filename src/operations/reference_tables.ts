// Reference tables on workers that join the cluster later: when a worker is added or activated,
// each reference table it has no placement of gets one — the shard created there from the shell's
// definition (as create_reference_table creates it), filled with the rows of an existing placement,
// given the table's foreign keys, and recorded in pg_dist_placement — all in the transaction of
// canopy_add_node / canopy_activate_node. A placement is therefore never visible empty, and shards
// of distributed tables placed on the worker later can join the reference tables there at once.
//
// Writes to the table wait meanwhile: the placement copied from is locked (EXCLUSIVE, reads go on)
// until the copy commits, and a write that waited for the lock while planned without the new
// placement is refused at its commit (transaction/commit.ts). DDL, create_reference_table and
// other copies wait for the distribution lock (DDL takes it shared), and DDL planned before the
// copy committed is refused at its commit too.
import { SqlError } from "../errors.js";
import type { Session } from "../server/session.js";
import { loadMetadata, type MetadataSnapshot, type NodeRecord, type TableRecord } from "../metadata/cache.js";
import { quoteQualified } from "../sql/quote.js";
import { lockDistribution, nodeForGroup, query } from "../commands/distribute.js";
import { readTableDefinition, shardRelname, shardStatements } from "../commands/shard_ddl.js";
import { referenceForeignKeys } from "../commands/alter_table.js";

/** Gives a worker a filled placement of every reference table it has none of. */
export async function replicateReferenceTables(session: Session, node: NodeRecord): Promise<void> {
  await lockDistribution(session);
  // As this transaction sees it: the node may have been added by it.
  const metadata = await loadMetadata(
    async (sql, params) => ({ rows: await query(session, sql, ...params) }),
    (await session.metadata()).version,
  );
  const missing = metadata.tables.filter(
    (t) => t.method === "n" && !t.shards[0].placements.some((p) => p.groupId === node.groupid),
  );
  for (const table of missing) await copyPlacement(session, metadata, table, node);
  for (const table of missing) {
    for (const sql of await referenceForeignKeys(session, table)) await run(session, node, sql);
  }
}

/** Creates the table's shard on the node, copies the rows of another placement into it and records it. */
async function copyPlacement(
  session: Session,
  metadata: MetadataSnapshot,
  table: TableRecord,
  node: NodeRecord,
): Promise<void> {
  const shard = table.shards[0];
  const source = shard.placements
    .map((p) => nodeForGroup(metadata.nodes, p.groupId))
    .find((n) => n.isactive && n.groupid !== node.groupid);
  if (!source) {
    throw new SqlError("55000", `cannot copy reference table "${table.name}" to ${node.nodename}:${node.nodeport}`, {
      detail: "No active worker holds a placement of it.",
      hint: "Activate a worker that holds the table (canopy_activate_node) first.",
    });
  }
  const shardName = quoteQualified(table.schema, shardRelname(table.relname, shard.shardId));
  // Prepared with the rest, so the lock holds until the new placement is committed and visible.
  await run(session, source, `LOCK TABLE ${shardName} IN EXCLUSIVE MODE`);
  const definition = await readTableDefinition((sql, ...p) => query(session, sql, ...p), table.relationId);
  // A worker that held the table before it was removed may still have its old shard.
  const create = [
    `CREATE SCHEMA IF NOT EXISTS ${quoteQualified(table.schema)}`,
    `DROP TABLE IF EXISTS ${shardName} CASCADE`,
    ...shardStatements(definition, shard.shardId),
  ];
  for (const sql of create) await run(session, node, sql);
  // Streamed from one to the other: a large table never sits whole in the coordinator's memory.
  await session.remote.copyBetween(source, `COPY ${shardName} TO STDOUT`, node, `COPY ${shardName} FROM STDIN`, {
    transactional: true,
    write: true,
  });
  await query(
    session,
    `INSERT INTO pg_catalog.pg_dist_placement (shardid, shardstate, shardlength, groupid) VALUES ($1::bigint, 1, 0, $2::int)`,
    String(shard.shardId),
    String(node.groupid),
  );
}

function run(session: Session, node: NodeRecord, sql: string) {
  return session.remote.run(node, sql, [], { transactional: true, write: true });
}
