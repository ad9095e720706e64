// Sizes of distributed and reference tables, measured on the workers where their rows are:
// canopy_total_relation_size, canopy_relation_size and canopy_table_size sum PostgreSQL's size
// function over a table's shards, and the views canopy_shards (shard_size) and canopy_tables
// (table_size) show live sizes (pg_dist_placement.shardlength is never kept up to date). A
// reference table counts one placement, its first (the one reads use): every placement holds the
// same rows, and the seeds' system counts one too. Each worker gets one statement for all the
// placements it holds, all workers at once, on the session's connections: inside a block the
// sizes include the block's own writes.
import { SqlError } from "../errors.js";
import type { NodeRecord, TableRecord } from "../metadata/cache.js";
import type { Session } from "../server/session.js";
import { expressionFromTemplate, walk, type AstNode } from "../sql/ast.js";
import { arrayLiteral, quoteLiteral, quoteQualified } from "../sql/quote.js";
import { groupBy, settleAll } from "../executor/distributed.js";
import { nodeForGroup } from "./distribute.js";
import { shardRelname } from "./shard_ddl.js";
import type { UdfResult } from "./udfs.js";

/** The PostgreSQL function measuring one shard. */
export type SizeFunction = "pg_total_relation_size" | "pg_relation_size" | "pg_table_size";

/** A shard's placement on one node. */
interface Placement {
  readonly node: NodeRecord;
  readonly schema: string;
  readonly relname: string;
  readonly shardId: number;
}

/** Measures placements with a size function: one statement per node, all nodes at once. */
async function measure(session: Session, placements: readonly Placement[], fn: SizeFunction): Promise<bigint[]> {
  const inBlock = session.pipe!.transactionStatus !== 0x49;
  const sizes: bigint[] = [];
  const indexes = placements.map((_, i) => i);
  await settleAll(
    groupBy(indexes, (i) => String(placements[i].node.nodeid)).map(async (onNode) => {
      const names = onNode.map((i) =>
        quoteQualified(placements[i].schema, shardRelname(placements[i].relname, placements[i].shardId)),
      );
      const result = await session.remote.run(
        placements[onNode[0]].node,
        `SELECT ${quoteQualified("pg_catalog", fn)}(r)
           FROM pg_catalog.unnest($1::pg_catalog.regclass[]) WITH ORDINALITY AS u(r, i) ORDER BY i`,
        [arrayLiteral(names)],
        { transactional: inBlock, write: false },
      );
      result.rows.forEach((row, j) => (sizes[onNode[j]] = BigInt(row[0]!)));
    }),
  );
  return sizes;
}

/** The placements a table's size counts: each shard's first. */
function countedPlacements(table: TableRecord, nodes: readonly NodeRecord[]): Placement[] {
  return table.shards.map((shard) => ({
    node: nodeForGroup(nodes, shard.placements[0]?.groupId),
    schema: table.schema,
    relname: table.relname,
    shardId: shard.shardId,
  }));
}

/** Whether include_sizes is true: the default's text, or a boolean argument as PostgreSQL prints it. */
const includesSizes = (value: string | null): boolean => value === "true" || value === "t";

const sum = (values: readonly bigint[]): bigint => values.reduce((a, b) => a + b, 0n);

/**
 * canopy_total_relation_size, canopy_relation_size, canopy_table_size: the table's size as the
 * size function measures it, summed over its shards (strict: NULL for NULL).
 */
export function relationSize(fn: SizeFunction) {
  return async (session: Session, args: readonly (string | null)[]): Promise<UdfResult> => {
    if (args[0] === null) return { kind: "scalar", type: "bigint", value: null };
    const [row] = await session.internalQuery(
      "SELECT c.oid, c.relname FROM pg_catalog.pg_class c WHERE c.oid = $1::pg_catalog.regclass",
      [Buffer.from(args[0])],
    );
    if (!row) throw new SqlError("42P01", `relation with OID ${args[0]} does not exist`);
    const metadata = await session.metadata();
    const table = metadata.tablesById.get(Number(row[0]));
    if (!table) {
      throw new SqlError(
        "42P16",
        `cannot calculate the size because relation ${quoteLiteral(row[1])} is not distributed`,
      );
    }
    const sizes = await measure(session, countedPlacements(table, metadata.nodes), fn);
    return { kind: "scalar", type: "bigint", value: String(sum(sizes)) };
  };
}

/** canopy_shards(include_sizes): a row per placement, with its size on its node when asked for. */
export async function shardRows(session: Session, args: readonly (string | null)[]): Promise<UdfResult> {
  const rows = await session.internalQuery(
    `SELECT s.logicalrelid::pg_catalog.oid, s.shardid,
            pg_catalog.format('%s_%s', s.logicalrelid::pg_catalog.text, s.shardid),
            CASE p.partmethod WHEN 'h' THEN 'distributed' WHEN 'n' THEN 'reference' ELSE 'local' END,
            p.colocationid, n.nodename, n.nodeport, n.nodeid, ns.nspname, c.relname
       FROM pg_catalog.pg_dist_shard s
       JOIN pg_catalog.pg_dist_partition p ON p.logicalrelid = s.logicalrelid
       JOIN pg_catalog.pg_class c ON c.oid = s.logicalrelid
       JOIN pg_catalog.pg_namespace ns ON ns.oid = c.relnamespace
       JOIN pg_catalog.pg_dist_placement pl ON pl.shardid = s.shardid
       JOIN pg_catalog.pg_dist_node n ON n.groupid = pl.groupid AND n.noderole = 'primary'
      ORDER BY s.logicalrelid::pg_catalog.text, s.shardid, n.nodename, n.nodeport`,
  );
  let sizes: (bigint | null)[] = rows.map(() => null);
  if (includesSizes(args[0])) {
    const nodes = (await session.metadata()).nodes;
    const placements = rows.map((r) => ({
      node: nodeWithId(nodes, Number(r[7])),
      schema: r[8]!,
      relname: r[9]!,
      shardId: Number(r[1]),
    }));
    sizes = await measure(session, placements, "pg_total_relation_size");
  }
  return {
    kind: "set",
    type: "pg_catalog.canopy_shards",
    rows: rows.map((r, i) => [...r.slice(0, 7), sizes[i] === null ? null : String(sizes[i])]),
  };
}

function nodeWithId(nodes: readonly NodeRecord[], nodeId: number): NodeRecord {
  const node = nodes.find((n) => n.nodeid === nodeId);
  if (!node) throw new SqlError("55000", `node ${nodeId} is not in the metadata`);
  return node;
}

/** canopy_tables(include_sizes): a row per distributed or reference table, sized when asked for. */
export async function tableRows(session: Session, args: readonly (string | null)[]): Promise<UdfResult> {
  const rows = await session.internalQuery(
    `SELECT p.logicalrelid::pg_catalog.oid,
            CASE p.partmethod WHEN 'h' THEN 'distributed' WHEN 'n' THEN 'reference' ELSE 'local' END,
            coalesce(p.partkey, '<none>'),
            p.colocationid,
            (SELECT count(*) FROM pg_catalog.pg_dist_shard s WHERE s.logicalrelid = p.logicalrelid),
            c.relowner::pg_catalog.regrole::pg_catalog.name,
            coalesce(am.amname, 'heap')
       FROM pg_catalog.pg_dist_partition p
       JOIN pg_catalog.pg_class c ON c.oid = p.logicalrelid
       LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
      ORDER BY p.logicalrelid::pg_catalog.text`,
  );
  let pretty: (string | null)[] = rows.map(() => null);
  if (includesSizes(args[0])) {
    const metadata = await session.metadata();
    const tables = rows.map((r) => {
      const table = metadata.tablesById.get(Number(r[0]));
      if (!table) throw new SqlError("55000", `table ${r[0]} is not in the metadata`);
      return table;
    });
    const placements = tables.map((t) => countedPlacements(t, metadata.nodes));
    const sizes = await measure(session, placements.flat(), "pg_total_relation_size");
    let next = 0;
    const totals = placements.map((p) => sum(sizes.slice(next, (next += p.length))));
    const formatted = await session.internalQuery(
      `SELECT pg_catalog.pg_size_pretty(s)
         FROM pg_catalog.unnest($1::pg_catalog.int8[]) WITH ORDINALITY AS u(s, i) ORDER BY i`,
      [Buffer.from(arrayLiteral(totals.map(String)))],
    );
    pretty = formatted.map((r) => r[0]);
  }
  return {
    kind: "set",
    type: "pg_catalog.canopy_tables",
    rows: rows.map((r, i) => [...r.slice(0, 4), pretty[i], ...r.slice(4)]),
  };
}

/**
 * The arguments with which a statement reads canopy_shards or canopy_tables: sizes only when the
 * statement may use the size column, so that finding where shards are asks no worker (and works
 * while one is down). Any doubt (`*`, a whole-row reference, NATURAL joins, renamed columns, the
 * column's name anywhere) counts as use.
 */
export function sizeArguments(column: string) {
  return (stmt: AstNode, range: { relname?: string; alias?: AstNode }): AstNode[] => {
    const names = new Set([range.relname, range.alias?.aliasname as string | undefined]);
    let uses = range.alias?.colnames !== undefined;
    walk(stmt, (node) => {
      const fields = (node.ColumnRef as { fields?: AstNode[] } | undefined)?.fields;
      const first = (fields?.[0]?.String as { sval?: string } | undefined)?.sval;
      const whole = fields?.length === 1 && first !== undefined && names.has(first);
      const named = (node.String as { sval?: string } | undefined)?.sval === column;
      if (node.A_Star || (node.JoinExpr as { isNatural?: boolean } | undefined)?.isNatural || whole || named) {
        uses = true;
      }
    });
    return [expressionFromTemplate(uses ? "true" : "false")];
  };
}
