// The coordinator's cached copy of the metadata. It is loaded from the coordinator database on
// first use and dropped whenever any coordinator announces a change (see METADATA_CHANNEL), so the
// next use loads it again; between changes, planning reads it without I/O.
import { parseSql } from "../sql/parse.js";
import type { AstNode } from "../sql/ast.js";

/** A worker or coordinator as pg_dist_node records it. */
export interface NodeRecord {
  readonly nodeid: number;
  readonly groupid: number;
  readonly nodename: string;
  readonly nodeport: number;
  readonly isactive: boolean;
  readonly noderole: string;
  readonly shouldhaveshards: boolean;
}

/** One placement of a shard: the worker group holding a copy. */
export interface PlacementRecord {
  readonly placementId: number;
  readonly groupId: number;
}

/** A shard of a table with its hash range (reference tables: no range). */
export interface ShardRecord {
  readonly shardId: number;
  readonly index: number;
  readonly min: number | null;
  readonly max: number | null;
  readonly placements: readonly PlacementRecord[];
}

/** A distributed or reference table as pg_dist_partition records it. */
export interface TableRecord {
  readonly relationId: number;
  /** The qualified name as the relation's regclass prints it. */
  readonly name: string;
  readonly schema: string;
  readonly relname: string;
  readonly method: "h" | "n";
  /** Distribution column name (hash-distributed tables). */
  readonly partitionKey: string | null;
  /** Type OID of the distribution column. */
  readonly partitionType: number;
  /** Its type modifier (pg_attribute.atttypmod; -1 for none): varchar(n) keeps n + 4. */
  readonly partitionTypmod: number;
  readonly colocationId: number;
  /** Shards in hash-range order. */
  readonly shards: readonly ShardRecord[];
}

/** The shards of the reference tables among the tables (a write to them commits in two phases). */
export function referenceShards(tables: readonly TableRecord[]): number[] {
  return tables.filter((t) => t.method === "n").flatMap((t) => t.shards.map((s) => s.shardId));
}

/**
 * A view (or materialized view) of the coordinator database reading a distributed or reference
 * table, directly or through other plain views. Canopy expands a plain view into its query
 * (planner/views.ts); a materialized view cannot be refreshed from the shells.
 */
export interface ViewRecord {
  readonly relationId: number;
  readonly schema: string;
  readonly relname: string;
  readonly materialized: boolean;
  /** The view's column names, in order. */
  readonly columns: readonly string[];
  /**
   * A plain view's query (pg_get_viewdef with every name outside pg_catalog qualified), or null
   * when the parser cannot read it.
   */
  readonly query: AstNode | null;
  readonly ownerId: number;
  /** Whether the relations it reads are checked with the reader's privileges, not the owner's. */
  readonly securityInvoker: boolean;
  /** The relations its query names. */
  readonly reads: readonly number[];
}

/** One consistent view of the metadata. */
export interface MetadataSnapshot {
  readonly version: number;
  readonly nodes: readonly NodeRecord[];
  readonly tables: readonly TableRecord[];
  readonly tablesById: ReadonlyMap<number, TableRecord>;
  /** Tables by unqualified relation name (several schemas may share one). */
  readonly tablesByRelname: ReadonlyMap<string, readonly TableRecord[]>;
  /** Views over distributed or reference tables by unqualified name. */
  readonly viewsByRelname: ReadonlyMap<string, readonly ViewRecord[]>;
  readonly viewsById: ReadonlyMap<number, ViewRecord>;
  /** Finds relation names of distributed and reference tables and their views in SQL text (a cheap prefilter). */
  readonly mentionsTable: RegExp | null;
}

type Query = (sql: string, params: readonly (string | null)[]) => Promise<{ rows: (string | null)[][] }>;

export class MetadataCache {
  private snapshot: MetadataSnapshot | null = null;
  private loading: Promise<MetadataSnapshot> | null = null;
  private version = 0;

  constructor(private readonly query: Query) {}

  /** Forgets the cached metadata; called when a change is announced. */
  invalidate(): void {
    this.version++;
    this.snapshot = null;
    this.loading = null;
  }

  /** The current metadata, loading it if a change made the cached copy stale. */
  async get(): Promise<MetadataSnapshot> {
    if (this.snapshot) return this.snapshot;
    if (!this.loading) {
      const version = this.version;
      this.loading = this.load(version).then((s) => {
        if (this.version === version) this.snapshot = s;
        return s;
      });
    }
    return this.loading;
  }

  private async load(version: number): Promise<MetadataSnapshot> {
    return loadMetadata(this.query, version);
  }
}

/** Reads the metadata through `query` (the admin connection, or a session inside its transaction). */
export async function loadMetadata(query: Query, version: number): Promise<MetadataSnapshot> {
  const nodes = await query(
    `SELECT nodeid, groupid, nodename, nodeport, isactive, noderole, shouldhaveshards
       FROM pg_catalog.pg_dist_node ORDER BY nodeid`,
    [],
  );
  const tables = await query(
    `SELECT p.logicalrelid::oid, p.logicalrelid::text, n.nspname, c.relname, p.partmethod, p.partkey,
            p.colocationid, coalesce(a.atttypid, 0), coalesce(a.atttypmod, -1)
       FROM pg_catalog.pg_dist_partition p
       JOIN pg_catalog.pg_class c ON c.oid = p.logicalrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = p.logicalrelid AND a.attname = p.partkey
      ORDER BY 1`,
    [],
  );
  const shards = await query(
    `SELECT s.logicalrelid::oid, s.shardid, s.shardminvalue, s.shardmaxvalue,
            coalesce(string_agg(pl.placementid || ':' || pl.groupid, ',' ORDER BY pl.placementid), '')
       FROM pg_catalog.pg_dist_shard s
       LEFT JOIN pg_catalog.pg_dist_placement pl ON pl.shardid = s.shardid AND pl.shardstate = 1
      GROUP BY 1, 2, 3, 4
      ORDER BY 1, s.shardminvalue::bigint NULLS FIRST, 2`,
    [],
  );
  const shardsByTable = new Map<number, ShardRecord[]>();
  for (const r of shards.rows) {
    const relationId = Number(r[0]);
    let list = shardsByTable.get(relationId);
    if (!list) shardsByTable.set(relationId, (list = []));
    list.push({
      shardId: Number(r[1]),
      index: list.length,
      min: r[2] === null ? null : Number(r[2]),
      max: r[3] === null ? null : Number(r[3]),
      placements: r[4]!
        .split(",")
        .filter((x) => x !== "")
        .map((x) => {
          const [placementId, groupId] = x.split(":");
          return { placementId: Number(placementId), groupId: Number(groupId) };
        }),
    });
  }
  const tableRecords: TableRecord[] = tables.rows.map((r) => ({
    relationId: Number(r[0]),
    name: r[1]!,
    schema: r[2]!,
    relname: r[3]!,
    method: r[4] as "h" | "n",
    partitionKey: r[5],
    colocationId: Number(r[6]),
    partitionType: Number(r[7]),
    partitionTypmod: Number(r[8]),
    shards: shardsByTable.get(Number(r[0])) ?? [],
  }));
  const views = await loadViews(query);
  const byRelname = byName(tableRecords);
  const viewsByRelname = byName(views);
  const names = [...new Set([...byRelname.keys(), ...viewsByRelname.keys()])].map((n) =>
    n.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"),
  );
  return {
    version,
    nodes: nodes.rows.map((r) => ({
      nodeid: Number(r[0]),
      groupid: Number(r[1]),
      nodename: r[2]!,
      nodeport: Number(r[3]),
      isactive: r[4] === "t",
      noderole: r[5]!,
      shouldhaveshards: r[6] === "t",
    })),
    tables: tableRecords,
    tablesById: new Map(tableRecords.map((t) => [t.relationId, t])),
    tablesByRelname: byRelname,
    viewsByRelname,
    viewsById: new Map(views.map((v) => [v.relationId, v])),
    mentionsTable: names.length > 0 ? new RegExp(names.join("|"), "i") : null,
  };
}

function byName<T extends { relname: string }>(records: readonly T[]): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const r of records) map.set(r.relname, [...(map.get(r.relname) ?? []), r]);
  return map;
}

/**
 * The views and materialized views reading distributed or reference tables: a view's _RETURN rule
 * depends on the relations its query names, so the closure over pg_depend through plain views
 * finds them all (a view over a materialized view reads its stored rows, not the tables).
 */
async function loadViews(query: Query): Promise<ViewRecord[]> {
  const rows = await query(
    `WITH RECURSIVE readers(oid) AS (
       SELECT r.ev_class FROM pg_catalog.pg_depend d
         JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid
        WHERE d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
          AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
          AND d.refobjid IN (SELECT logicalrelid FROM pg_catalog.pg_dist_partition)
       UNION
       SELECT r.ev_class FROM readers x
         JOIN pg_catalog.pg_class c ON c.oid = x.oid AND c.relkind = 'v'
         JOIN pg_catalog.pg_depend d ON d.refobjid = x.oid
          AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
          AND d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
         JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid)
     SELECT c.oid, n.nspname, c.relname, c.relkind,
            pg_catalog.to_json(ARRAY(SELECT a.attname FROM pg_catalog.pg_attribute a
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum)),
            CASE c.relkind WHEN 'v' THEN pg_catalog.canopy_view_definition(c.oid) END,
            c.relowner,
            coalesce((SELECT o.option_value IN ('true', 'on', 'yes', '1')
                        FROM pg_catalog.pg_options_to_table(c.reloptions) o
                       WHERE o.option_name = 'security_invoker'), false),
            pg_catalog.to_json(ARRAY(SELECT DISTINCT d.refobjid FROM pg_catalog.pg_rewrite r
              JOIN pg_catalog.pg_depend d ON d.objid = r.oid
               AND d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
               AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
             WHERE r.ev_class = c.oid AND d.refobjid <> c.oid))
       FROM readers x
       JOIN pg_catalog.pg_class c ON c.oid = x.oid AND c.relkind IN ('v', 'm')
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
      ORDER BY 1`,
    [],
  );
  return rows.rows.map((r) => ({
    relationId: Number(r[0]),
    schema: r[1]!,
    relname: r[2]!,
    materialized: r[3] === "m",
    columns: JSON.parse(r[4]!) as string[],
    query: r[5] === null ? null : viewQuery(r[5]!),
    ownerId: Number(r[6]),
    securityInvoker: r[7] === "t",
    reads: (JSON.parse(r[8]!) as number[]).map(Number),
  }));
}

/** A view's query as an AST; null when the parser cannot read what the server printed. */
function viewQuery(definition: string): AstNode | null {
  try {
    const [statement] = parseSql(definition);
    return statement?.stmt ?? null;
  } catch {
    return null;
  }
}
