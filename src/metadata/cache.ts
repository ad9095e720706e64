// The coordinator's cached copy of the metadata. It is loaded from the coordinator database on
// first use and dropped whenever any coordinator announces a change (see METADATA_CHANNEL), so the
// next use loads it again; between changes, planning reads it without I/O.

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

/** A distributed or reference table as pg_dist_partition records it. */
export interface TableRecord {
  readonly relationId: number;
  readonly name: string;
  readonly method: "h" | "n";
  readonly partitionKey: string | null;
  readonly colocationId: number;
}

/** One consistent view of the metadata. */
export interface MetadataSnapshot {
  readonly version: number;
  readonly nodes: readonly NodeRecord[];
  readonly tables: readonly TableRecord[];
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
    const nodes = await this.query(
      `SELECT nodeid, groupid, nodename, nodeport, isactive, noderole, shouldhaveshards
         FROM pg_catalog.pg_dist_node ORDER BY nodeid`,
      [],
    );
    const tables = await this.query(
      `SELECT logicalrelid::oid, logicalrelid::text, partmethod, partkey, colocationid
         FROM pg_catalog.pg_dist_partition ORDER BY 1`,
      [],
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
      tables: tables.rows.map((r) => ({
        relationId: Number(r[0]),
        name: r[1]!,
        method: r[2] as "h" | "n",
        partitionKey: r[3],
        colocationId: Number(r[4]),
      })),
    };
  }
}
