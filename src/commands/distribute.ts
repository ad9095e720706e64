// create_distributed_table, create_reference_table, undistribute_table and
// get_shard_id_for_distribution_column. Metadata is written on the calling session's connection (so
// it is part of its transaction) and shards are created through the session's worker connections
// in remote transactions that end with the session's statement or transaction block.
import { SqlError } from "../errors.js";
import type { Session } from "../server/session.js";
import type { UdfResult } from "./udfs.js";
import type { NodeRecord, TableRecord } from "../metadata/cache.js";
import { hashValue, hashableTypes, oid as typeOids, shardRanges, shardIndexForHash } from "../metadata/hash.js";
import { canonicalValue } from "../executor/canonical.js";
import { arrayLiteral, quoteIdent, quoteQualified } from "../sql/quote.js";
import { deparseStatement } from "../sql/parse.js";
import { readTableDefinition, shardRelname, shardStatements } from "./shard_ddl.js";
import { ensureDependencies } from "./objects.js";
import { jsonRowsSubquery } from "../executor/distributed.js";
import { HIDE_SHELL_GUARDS, SHELL_GUARD_TRIGGER, shellGuardSql } from "../metadata/schema.js";

const VOID: UdfResult = { kind: "scalar", type: "void", value: null };
const maxShardCount = 64000;

/** Runs SQL on the session's coordinator-database connection with text parameters. */
export async function query(session: Session, sql: string, ...params: (string | null)[]): Promise<(string | null)[][]> {
  return session.internalQuery(
    sql,
    params.map((p) => (p === null ? null : Buffer.from(p, "utf8"))),
  );
}

interface Relation {
  oid: number;
  schema: string;
  relname: string;
  /** The name as messages write it (between quotes): schema-qualified when not on search_path. */
  display: string;
}

/** Resolves a table name as regclass does, and checks that it is an ordinary, permanent table. */
async function resolveTable(session: Session, name: string | null): Promise<Relation> {
  if (name === null) throw new SqlError("22004", "table name cannot be NULL");
  const [row] = await query(
    session,
    `SELECT c.oid, n.nspname, c.relname, c.relkind, c.relpersistence,
            CASE WHEN pg_catalog.pg_table_is_visible(c.oid) THEN c.relname ELSE n.nspname || '.' || c.relname END
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.oid = $1::regclass`,
    name,
  );
  const [oid, schema, relname, kind, persistence, display] = row;
  if (kind === "p") {
    throw new SqlError("0A000", `distributing partitioned table "${display}" is not supported`);
  }
  if (kind !== "r") throw new SqlError("42809", `"${display}" is not a table`);
  if (persistence === "t") throw new SqlError("0A000", `cannot distribute a temporary table`);
  return { oid: Number(oid), schema: schema!, relname: relname!, display: display! };
}

async function ensureNotDistributed(session: Session, rel: Relation): Promise<void> {
  const rows = await query(
    session,
    "SELECT partmethod FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1::oid",
    String(rel.oid),
  );
  if (rows.length > 0) {
    const what = rows[0][0] === "n" ? "a reference table" : "already distributed";
    throw new SqlError("42P16", `table "${rel.display}" is ${what}`);
  }
}

/**
 * What the shards would not carry over: row-level security and its policies, triggers, rules, and
 * a place in a local partitioned table, whose rows would then go to the shell. Each is refused as
 * it would be added after distribution, rather than dropped from the table's behaviour.
 */
async function ensureNothingShardsLeaveOut(session: Session, rel: Relation): Promise<void> {
  const [[partition, security, trigger, rule]] = await query(
    session,
    `SELECT c.relispartition,
            c.relrowsecurity OR EXISTS (SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid),
            (SELECT t.tgname FROM pg_catalog.pg_trigger t
              WHERE t.tgrelid = c.oid AND NOT t.tgisinternal AND t.tgname <> $2 ORDER BY t.tgname LIMIT 1),
            (SELECT r.rulename FROM pg_catalog.pg_rewrite r
              WHERE r.ev_class = c.oid AND r.rulename <> '_RETURN' ORDER BY r.rulename LIMIT 1)
       FROM pg_catalog.pg_class c WHERE c.oid = $1::oid`,
    String(rel.oid),
    SHELL_GUARD_TRIGGER,
  );
  const refuse = (what: string, hint: string) =>
    new SqlError("0A000", `cannot distribute "${rel.display}": ${what} is not supported`, { hint });
  if (partition === "t") {
    throw refuse("a partition of a partitioned table", "Detach the partition first, or keep the table local.");
  }
  if (security === "t") {
    throw refuse("row-level security", "Disable row-level security and drop the table's policies first.");
  }
  if (trigger !== null) throw refuse(`trigger "${trigger}"`, "Drop the trigger first.");
  if (rule !== null) throw refuse(`rule "${rule}"`, "Drop the rule first.");
}

/**
 * Refuses a unique index or exclusion constraint that compares the distribution column under a
 * nondeterministic collation: values equal under it ('a' and 'A' case-insensitively) hash to
 * different shards, where no shard sees both. `column`: the distribution column (a table being
 * distributed has none recorded yet).
 */
export async function refuseNondeterministicUniqueKeys(
  session: Session,
  relationId: number,
  column: string | null = null,
): Promise<void> {
  const found = await nondeterministicUniqueKey(session, relationId, column);
  if (found) throw nondeterministicKeyRefusal(found);
}

/** The refusal of an index nondeterministicUniqueKey found. */
export function nondeterministicKeyRefusal(found: { index: string; collation: string }): SqlError {
  return new SqlError(
    "0A000",
    `a unique index or exclusion constraint comparing the distribution column under nondeterministic collation "${found.collation}" is not supported`,
    {
      detail: `Index "${found.index}": rows equal under the collation would be placed on different shards, where no shard sees both.`,
      hint: "Compare the distribution column under its own (deterministic) collation.",
    },
  );
}

/** The first index refuseNondeterministicUniqueKeys refuses: its schema, name and collation. */
export async function nondeterministicUniqueKey(
  session: Session,
  relationId: number,
  column: string | null = null,
): Promise<{ schema: string; index: string; collation: string } | null> {
  const rows = await query(
    session,
    `SELECT n.nspname, c.relname, co.collname
       FROM pg_catalog.pg_index i
       JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid
        AND a.attname = coalesce($2, (SELECT partkey FROM pg_catalog.pg_dist_partition WHERE logicalrelid = i.indrelid))
       CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(i.indkey::pg_catalog.int2[]), pg_catalog.unnest(i.indcollation::pg_catalog.oid[])) AS k (attnum, coll)
       JOIN pg_catalog.pg_collation co ON co.oid = k.coll
      WHERE i.indrelid = $1::oid AND (i.indisunique OR i.indisexclusion) AND k.attnum = a.attnum
        AND NOT co.collisdeterministic
      LIMIT 1`,
    String(relationId),
    column,
  );
  return rows.length === 0 ? null : { schema: rows[0][0]!, index: rows[0][1]!, collation: rows[0][2]! };
}

/** Foreign keys need enforcement across shards, which comes with DDL propagation. */
async function ensureNoForeignKeys(session: Session, rel: Relation): Promise<void> {
  const rows = await query(
    session,
    `SELECT conname FROM pg_catalog.pg_constraint WHERE contype = 'f' AND (conrelid = $1::oid OR confrelid = $1::oid)`,
    String(rel.oid),
  );
  if (rows.length > 0) {
    throw new SqlError("0A000", `cannot distribute "${rel.display}": foreign key "${rows[0][0]}" is not supported`, {
      hint: "Drop the foreign key, distribute the table, then check the relationship in the application.",
    });
  }
}

/** Active primary workers that may hold shards, in node order. */
async function shardWorkers(session: Session): Promise<{ groupid: number; nodename: string; nodeport: number }[]> {
  const rows = await query(
    session,
    `SELECT groupid, nodename, nodeport FROM pg_catalog.pg_dist_node
      WHERE isactive AND noderole = 'primary' AND shouldhaveshards AND groupid <> 0 ORDER BY nodeid`,
  );
  if (rows.length === 0) {
    throw new SqlError("55000", "couldn't find any worker nodes", {
      hint: "Add worker nodes with canopy_add_node().",
    });
  }
  return rows.map((r) => ({ groupid: Number(r[0]), nodename: r[1]!, nodeport: Number(r[2]) }));
}

interface PlannedShard {
  shardId: number;
  min: number | null;
  max: number | null;
  groupIds: number[];
}

/** Types whose modifier rounds a value (numeric(p,s), timestamp(p), …): not routed by the value written. */
const roundingTypes = new Set<number>([
  typeOids.numeric,
  typeOids.time,
  typeOids.timetz,
  typeOids.timestamp,
  typeOids.timestamptz,
]);

/** create_distributed_table(table_name, distribution_column, distribution_type, colocate_with, shard_count). */
export async function createDistributedTable(session: Session, args: readonly (string | null)[]): Promise<UdfResult> {
  const [tableName, column, method, colocateWith, shardCountArg] = args;
  await lockDistribution(session);
  const rel = await resolveTable(session, tableName);
  if (column === null) throw new SqlError("22004", "distribution column cannot be NULL");
  if (method !== "hash") {
    throw new SqlError("0A000", `distribution type "${method}" is not supported`, {
      hint: "Use distribution_type => 'hash', or create_reference_table().",
    });
  }
  await ensureNotDistributed(session, rel);
  await ensureNothingShardsLeaveOut(session, rel);
  const attrs = await query(
    session,
    `SELECT a.atttypid, pg_catalog.format_type(a.atttypid, NULL), t.typbasetype, co.collname,
            co.collisdeterministic, pg_catalog.format_type(a.atttypid, a.atttypmod), a.atttypmod
       FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
      WHERE a.attrelid = $1::oid AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped`,
    String(rel.oid),
    column,
  );
  if (attrs.length === 0) {
    throw new SqlError("42703", `column "${column}" of relation "${rel.display}" does not exist`);
  }
  const columnType = Number(attrs[0][0]);
  if (!hashableTypes.has(columnType)) {
    throw new SqlError("0A000", `cannot distribute by column "${column}" of type ${attrs[0][1]}`, {
      detail: "Canopy routes rows by the PostgreSQL hash function of the distribution column's type.",
      hint: "Distribute by an integer, bigint, text, varchar, uuid, date or timestamp column.",
    });
  }
  if (roundingTypes.has(columnType) && Number(attrs[0][6]) >= 0) {
    // Rows are routed by the value written, which the column rounds before storing it.
    throw new SqlError("0A000", `cannot distribute by column "${column}" of type ${attrs[0][5]}`, {
      detail: "The column rounds values to its precision; rows would be routed by the value before rounding.",
      hint: `Distribute by a column of type ${attrs[0][1]} without a precision, or by another column.`,
    });
  }
  if (attrs[0][4] === "f") {
    // Values equal under the collation ('a' and 'A' case-insensitively) would hash to different shards.
    throw new SqlError(
      "0A000",
      `cannot distribute by column "${column}" with nondeterministic collation "${attrs[0][3]}"`,
      {
        detail:
          "Rows are routed by the hash of the value's bytes, which values equal under the collation do not share.",
        hint: "Distribute by a column with a deterministic collation.",
      },
    );
  }
  await ensureUniqueConstraintsIncludeColumn(session, rel, column);
  await refuseNondeterministicUniqueKeys(session, rel.oid, column);
  await ensureNoForeignKeys(session, rel);

  let shardCount = shardCountArg === null ? Number(await session.currentSetting("canopy.shard_count")) : 0;
  if (shardCountArg !== null) {
    shardCount = Number(shardCountArg);
    if (!Number.isInteger(shardCount) || shardCount < 1 || shardCount > maxShardCount) {
      throw new SqlError(
        "22023",
        `${shardCountArg} is outside the valid range for parameter "shard_count" (1 .. ${maxShardCount})`,
      );
    }
  }
  const colocation = (colocateWith ?? "default").trim();
  let colocationId: number | null = null;
  let colocatedPlacements: number[][] | null = null;
  if (colocation.toLowerCase() === "default") {
    const rows = await query(
      session,
      `SELECT c.colocationid FROM pg_catalog.pg_dist_colocation c
        WHERE c.shardcount = $1::int AND c.distributioncolumntype = $2::oid AND c.replicationfactor = 1
          AND EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.colocationid = c.colocationid)
        ORDER BY c.colocationid LIMIT 1`,
      String(shardCount),
      String(columnType),
    );
    if (rows.length > 0) colocationId = Number(rows[0][0]);
  } else if (colocation.toLowerCase() !== "none") {
    const other = await resolveTable(session, colocation);
    const rows = await query(
      session,
      `SELECT p.colocationid, p.partmethod, a.atttypid, pg_catalog.format_type(a.atttypid, NULL),
              (SELECT count(*) FROM pg_catalog.pg_dist_shard s WHERE s.logicalrelid = p.logicalrelid)
         FROM pg_catalog.pg_dist_partition p
         LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = p.logicalrelid AND a.attname = p.partkey
        WHERE p.logicalrelid = $1::oid`,
      String(other.oid),
    );
    if (rows.length === 0 || rows[0][1] !== "h") {
      throw new SqlError("55000", `cannot colocate with "${other.display}": it is not a hash-distributed table`);
    }
    if (Number(rows[0][2]) !== columnType) {
      throw new SqlError("55000", `cannot colocate tables ${other.display} and ${rel.display}`, {
        detail: `Distribution column types don't match for ${other.display} and ${rel.display}.`,
      });
    }
    const otherCount = Number(rows[0][4]);
    if (shardCountArg !== null && otherCount !== shardCount) {
      throw new SqlError("22023", `cannot colocate tables ${other.display} and ${rel.display}`, {
        detail: `Shard counts don't match: ${other.display} has ${otherCount} shards, ${shardCount} were asked for.`,
      });
    }
    shardCount = otherCount;
    colocationId = Number(rows[0][0]);
  }
  if (colocationId !== null) {
    const rows = await query(
      session,
      `SELECT s.shardminvalue, s.shardmaxvalue,
              (SELECT string_agg(pl.groupid::text, ',' ORDER BY pl.placementid) FROM pg_catalog.pg_dist_placement pl
                WHERE pl.shardid = s.shardid)
         FROM pg_catalog.pg_dist_shard s
        WHERE s.logicalrelid = (SELECT logicalrelid FROM pg_catalog.pg_dist_partition
                                 WHERE colocationid = $1::int ORDER BY logicalrelid LIMIT 1)
        ORDER BY s.shardminvalue::bigint`,
      String(colocationId),
    );
    colocatedPlacements = rows.map((r) => (r[2] ?? "").split(",").filter(Boolean).map(Number));
  }
  const workers = await shardWorkers(session);
  if (colocationId === null) {
    const [row] = await query(
      session,
      `INSERT INTO pg_catalog.pg_dist_colocation (colocationid, shardcount, replicationfactor, distributioncolumntype)
       VALUES (nextval('pg_catalog.pg_dist_colocationid_seq'), $1::int, 1, $2::oid) RETURNING colocationid`,
      String(shardCount),
      String(columnType),
    );
    colocationId = Number(row[0]);
  }
  const ids = await allocateShardIds(session, shardCount);
  const shards: PlannedShard[] = shardRanges(shardCount).map((range, i) => ({
    shardId: ids[i],
    min: range.min,
    max: range.max,
    groupIds: colocatedPlacements ? colocatedPlacements[i] : [workers[i % workers.length].groupid],
  }));
  await createShards(session, rel, shards, workers);
  await recordTable(session, rel, "h", column, colocationId, shards);
  await moveRowsIntoShards(session, rel, shards, workers, { column, type: columnType, count: shardCount });
  await guardShell(session, rel);
  session.noteMetadataChange();
  return VOID;
}

/** create_reference_table(table_name): one shard with a placement on every worker. */
export async function createReferenceTable(session: Session, args: readonly (string | null)[]): Promise<UdfResult> {
  await lockDistribution(session);
  const rel = await resolveTable(session, args[0]);
  await ensureNotDistributed(session, rel);
  await ensureNothingShardsLeaveOut(session, rel);
  await ensureNoForeignKeys(session, rel);
  const workers = await shardWorkers(session);
  let [colocation] = await query(
    session,
    `SELECT colocationid FROM pg_catalog.pg_dist_colocation
      WHERE shardcount = 1 AND distributioncolumntype = 0 ORDER BY colocationid LIMIT 1`,
  );
  if (!colocation) {
    [colocation] = await query(
      session,
      `INSERT INTO pg_catalog.pg_dist_colocation (colocationid, shardcount, replicationfactor, distributioncolumntype)
       VALUES (nextval('pg_catalog.pg_dist_colocationid_seq'), 1, -1, 0) RETURNING colocationid`,
    );
  }
  const [shardId] = await allocateShardIds(session, 1);
  const shards: PlannedShard[] = [{ shardId, min: null, max: null, groupIds: workers.map((w) => w.groupid) }];
  await createShards(session, rel, shards, workers);
  await recordTable(session, rel, "n", null, Number(colocation[0]), shards);
  await moveRowsIntoShards(session, rel, shards, workers, null);
  await guardShell(session, rel);
  session.noteMetadataChange();
  return VOID;
}

/** undistribute_table(table_name): the rows come back into the coordinator's table, the shards go. */
export async function undistributeTable(session: Session, args: readonly (string | null)[]): Promise<UdfResult> {
  await lockDistribution(session);
  const rel = await resolveTable(session, args[0]);
  const metadata = await session.metadata();
  const table = metadata.tablesById.get(rel.oid);
  if (!table) throw new SqlError("42P16", `table "${rel.display}" is not distributed`);
  const target = quoteQualified(rel.schema, rel.relname);
  // The table becomes an ordinary one again, which takes the rows back.
  await query(session, `DROP TRIGGER IF EXISTS ${quoteQualified(SHELL_GUARD_TRIGGER)} ON ${target}`);
  const rows = await storedRows(session, rel.oid);
  const insert = rows.insert(rel.schema, rel.relname);
  for (const shard of table.shards) {
    const node = nodeForGroup(metadata.nodes, shard.placements[0]?.groupId);
    const shardTable = quoteQualified(table.schema, shardRelname(table.relname, shard.shardId));
    await inBatches(
      async (sql) => (await session.remote.run(node, sql, [], { transactional: true, write: false })).rows,
      `SELECT pg_catalog.to_json(${rows.textArray})::text FROM ${shardTable} t`,
      async (batch) => void (await query(session, insert, `[${batch.map((r) => r[0]).join(",")}]`)),
    );
  }
  await dropShards(session, table, metadata.nodes);
  await query(session, "DELETE FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1::oid", String(rel.oid));
  session.noteMetadataChange();
  return VOID;
}

/** get_shard_id_for_distribution_column(table_name, distribution_value). */
export async function getShardIdForDistributionColumn(
  session: Session,
  args: readonly (string | null)[],
): Promise<UdfResult> {
  const rel = await resolveTable(session, args[0]);
  const metadata = await session.metadata();
  const table = metadata.tablesById.get(rel.oid);
  if (!table) throw new SqlError("42P16", `table "${rel.display}" is not distributed`);
  if (table.method === "n") return { kind: "scalar", type: "bigint", value: String(table.shards[0].shardId) };
  if (args[1] === null) throw new SqlError("22004", "distribution value cannot be NULL");
  // Any input spelling of the column's type works, read as this session reads it.
  const text = await canonicalValue(session, table.partitionType, args[1]);
  const index = shardIndexForHash(hashValue(table.partitionType, text)!, table.shards.length);
  return { kind: "scalar", type: "bigint", value: String(table.shards[index].shardId) };
}

/** DROP TABLE of a distributed table: its shards and metadata go first, in the same transaction. */
export async function dropShards(session: Session, table: TableRecord, nodes: readonly NodeRecord[]): Promise<void> {
  for (const shard of table.shards) {
    for (const placement of shard.placements) {
      await session.remote.run(
        nodeForGroup(nodes, placement.groupId),
        `DROP TABLE IF EXISTS ${quoteQualified(table.schema, shardRelname(table.relname, shard.shardId))}`,
        [],
        { transactional: true, write: true },
      );
    }
  }
  await query(
    session,
    `DELETE FROM pg_catalog.pg_dist_placement WHERE shardid IN
       (SELECT shardid FROM pg_catalog.pg_dist_shard WHERE logicalrelid = $1::oid)`,
    String(table.relationId),
  );
  await query(session, "DELETE FROM pg_catalog.pg_dist_shard WHERE logicalrelid = $1::oid", String(table.relationId));
  await query(
    session,
    "DELETE FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1::oid",
    String(table.relationId),
  );
  session.noteMetadataChange();
}

export function nodeForGroup(nodes: readonly NodeRecord[], groupId: number | undefined): NodeRecord {
  const node = nodes.find((n) => n.groupid === groupId && n.noderole === "primary");
  if (!node) throw new SqlError("55000", `no active primary node for group ${groupId}`);
  return node;
}

/**
 * Serializes distribution changes across sessions and coordinators until the transaction ends;
 * `shared` for DDL, which may run side by side but not while placements are made.
 */
export async function lockDistribution(session: Session, shared = false): Promise<void> {
  await query(session, `SELECT pg_catalog.pg_advisory_xact_lock${shared ? "_shared" : ""}(7301, 2)`);
}

async function ensureUniqueConstraintsIncludeColumn(session: Session, rel: Relation, column: string): Promise<void> {
  const rows = await query(
    session,
    `SELECT ci.relname FROM pg_catalog.pg_index i
       JOIN pg_catalog.pg_class ci ON ci.oid = i.indexrelid
      WHERE i.indrelid = $1::oid AND (i.indisunique OR i.indisexclusion)
        AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                         WHERE a.attrelid = i.indrelid AND a.attname = $2 AND a.attnum = ANY (i.indkey))`,
    String(rel.oid),
    column,
  );
  if (rows.length > 0) {
    throw new SqlError("0A000", `cannot create constraint on "${rel.display}"`, {
      detail:
        "Distributed relations cannot have UNIQUE, EXCLUDE, or PRIMARY KEY constraints that do not include the partition column (with an equality operator if EXCLUDE).",
      hint: `Add "${column}" to the constraint "${rows[0][0]}", or distribute by one of its columns.`,
    });
  }
}

async function allocateShardIds(session: Session, count: number): Promise<number[]> {
  const rows = await query(
    session,
    "SELECT nextval('pg_catalog.pg_dist_shardid_seq') FROM pg_catalog.generate_series(1, $1::int)",
    String(count),
  );
  return rows.map((r) => Number(r[0]));
}

async function createShards(
  session: Session,
  rel: Relation,
  shards: readonly PlannedShard[],
  workers: readonly { groupid: number; nodename: string; nodeport: number }[],
): Promise<void> {
  await ensureDependencies(session, rel.oid);
  const definition = await readTableDefinition((sql, ...p) => query(session, sql, ...p), rel.oid);
  const metadata = await session.metadata();
  const byGroup = new Map<number, string[]>();
  for (const shard of shards) {
    for (const group of shard.groupIds) {
      const list = byGroup.get(group) ?? [`CREATE SCHEMA IF NOT EXISTS ${quoteQualified(rel.schema)}`];
      list.push(...shardStatements(definition, shard.shardId));
      byGroup.set(group, list);
    }
  }
  await Promise.all(
    [...byGroup].map(async ([group, statements]) => {
      const node = metadata.nodes.find((n) => n.groupid === group) ?? workerRecord(workers, group);
      for (const sql of statements) await session.remote.run(node, sql, [], { transactional: true, write: true });
    }),
  );
}

function workerRecord(workers: readonly { groupid: number; nodename: string; nodeport: number }[], group: number) {
  const w = workers.find((x) => x.groupid === group)!;
  return {
    nodeid: -group,
    groupid: group,
    nodename: w.nodename,
    nodeport: w.nodeport,
    isactive: true,
    noderole: "primary",
    shouldhaveshards: true,
  };
}

async function recordTable(
  session: Session,
  rel: Relation,
  method: "h" | "n",
  column: string | null,
  colocationId: number,
  shards: readonly PlannedShard[],
): Promise<void> {
  await query(
    session,
    `INSERT INTO pg_catalog.pg_dist_partition (logicalrelid, partmethod, partkey, colocationid, repmodel)
     VALUES ($1::oid, $2, $3, $4::int, $5)`,
    String(rel.oid),
    method,
    column,
    String(colocationId),
    method === "n" ? "t" : "s",
  );
  await query(
    session,
    `INSERT INTO pg_catalog.pg_dist_shard (logicalrelid, shardid, shardstorage, shardminvalue, shardmaxvalue)
     SELECT $1::oid, s.id, 't', s.lo, s.hi
       FROM unnest($2::bigint[], $3::text[], $4::text[]) AS s(id, lo, hi)`,
    String(rel.oid),
    arrayLiteral(shards.map((s) => String(s.shardId))),
    arrayLiteral(shards.map((s) => (s.min === null ? null : String(s.min)))),
    arrayLiteral(shards.map((s) => (s.max === null ? null : String(s.max)))),
  );
  const placements = shards.flatMap((s) => s.groupIds.map((g) => [String(s.shardId), String(g)]));
  await query(
    session,
    `INSERT INTO pg_catalog.pg_dist_placement (shardid, shardstate, shardlength, groupid)
     SELECT p.shardid, 1, 0, p.groupid FROM unnest($1::bigint[], $2::int[]) AS p(shardid, groupid)`,
    arrayLiteral(placements.map((p) => p[0])),
    arrayLiteral(placements.map((p) => p[1])),
  );
}

/** Moves the rows of the coordinator's table into the new shards and empties the table. */
async function moveRowsIntoShards(
  session: Session,
  rel: Relation,
  shards: readonly PlannedShard[],
  workers: readonly { groupid: number; nodename: string; nodeport: number }[],
  distribution: { column: string; type: number; count: number } | null,
): Promise<void> {
  const source = quoteQualified(rel.schema, rel.relname);
  const [[count]] = await query(session, `SELECT count(*) FROM ONLY ${source}`);
  if (count === "0") return;
  const stored = await storedRows(session, rel.oid);
  const metadata = await session.metadata();
  const inserts = shards.map((shard) => stored.insert(rel.schema, shardRelname(rel.relname, shard.shardId)));
  await inBatches(
    (sql) => query(session, sql),
    distribution
      ? `SELECT t.${quoteQualified(distribution.column)}::text, pg_catalog.to_json(${stored.textArray})::text FROM ONLY ${source} t`
      : `SELECT NULL, pg_catalog.to_json(${stored.textArray})::text FROM ONLY ${source} t`,
    async (rows) => {
      const perShard: string[][] = shards.map(() => []);
      for (const [key, json] of rows) {
        let index = 0;
        if (distribution) {
          if (key === null) {
            throw new SqlError(
              "22004",
              `cannot distribute "${rel.display}": a row has NULL in "${distribution.column}"`,
            );
          }
          index = shardIndexForHash(hashValue(distribution.type, key)!, distribution.count);
        }
        perShard[index].push(json!);
      }
      for (let i = 0; i < shards.length; i++) {
        if (perShard[i].length === 0) continue;
        for (const group of shards[i].groupIds) {
          const node = metadata.nodes.find((n) => n.groupid === group) ?? workerRecord(workers, group);
          await session.remote.run(node, inserts[i], [`[${perShard[i].join(",")}]`], {
            transactional: true,
            write: true,
          });
        }
      }
    },
  );
  await query(session, `DELETE FROM ONLY ${source}`);
}

/** How many rows move at a time between the coordinator database and the workers. */
const ROW_BATCH = 10_000;

/**
 * Runs a query through a cursor, in the transaction `run` runs SQL in, and hands its rows over in
 * batches of ROW_BATCH: a table moving between the coordinator database and the workers is never
 * held whole in the coordinator's memory.
 */
async function inBatches(
  run: (sql: string) => Promise<(string | null)[][]>,
  sql: string,
  onBatch: (rows: (string | null)[][]) => Promise<void>,
): Promise<void> {
  const cursor = quoteIdent("canopy_moved_rows");
  // WITH HOLD: the coordinator database runs a UDF's statements in an implicit transaction, where
  // only a holdable cursor may be declared; it is closed before the transaction ends (an error
  // rolls it back with the rest).
  await run(`DECLARE ${cursor} NO SCROLL CURSOR WITH HOLD FOR ${sql}`);
  for (;;) {
    const rows = await run(`FETCH ${ROW_BATCH} FROM ${cursor}`);
    if (rows.length === 0) break;
    await onBatch(rows);
  }
  await run(`CLOSE ${cursor}`);
}

/**
 * How rows of a table travel while it is distributed or undistributed: as JSON arrays of the text
 * forms of its stored columns (`textArray`, over the row alias `t`), read back by the columns' types
 * (`insert`, its rows in parameter $1). Text forms keep every value as it was (a JSON null in a
 * json column stays one, unlike a row as a JSON object); generated columns are computed again, and
 * identity values are kept.
 */
async function storedRows(
  session: Session,
  relationId: number,
): Promise<{ textArray: string; insert: (schema: string, relname: string) => string }> {
  const columns = (await session.tableColumns(relationId)).filter((c) => !c.generated);
  const texts = columns.map((c) => `t.${quoteIdent(c.name)}::text`).join(", ");
  return {
    textArray: `ARRAY[${texts}]::text[]`,
    insert: (schema, relname) => {
      const rows = jsonRowsSubquery(
        columns.map((c, position) => ({ ...c, position })),
        1,
        { aliasname: "r" },
      );
      const column = (name: string) => ({
        ColumnRef: { fields: [{ String: { sval: "r" } }, { String: { sval: name } }] },
      });
      return deparseStatement({
        InsertStmt: {
          relation: { schemaname: schema, relname, inh: true, relpersistence: "p" },
          cols: columns.map((c) => ({ ResTarget: { name: c.name } })),
          selectStmt: {
            SelectStmt: {
              targetList: columns.map((c) => ({ ResTarget: { val: column(c.name) } })),
              fromClause: [rows],
              limitOption: "LIMIT_OPTION_DEFAULT",
              op: "SETOP_NONE",
            },
          },
          override: "OVERRIDING_SYSTEM_VALUE",
        },
      });
    },
  };
}

/**
 * Refuses writes to the now empty shell from statements that run inside the coordinator database
 * (see canopy_shell_guard in metadata/schema.ts); created once the rows have moved out.
 */
async function guardShell(session: Session, rel: Relation): Promise<void> {
  await query(session, shellGuardSql(quoteQualified(rel.schema, rel.relname)));
  await query(session, HIDE_SHELL_GUARDS);
}
