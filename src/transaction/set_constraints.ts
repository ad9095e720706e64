// SET CONSTRAINTS in a transaction block, where distributed or reference tables exist. The
// coordinator database checks it and applies it to its own constraints; the shards' copies of the
// constraints are checked by the workers, so each worker transaction of the block follows it too:
// the open ones at once (IMMEDIATE then checks what was deferred there, as PostgreSQL does), the
// ones opened later in the block right after their BEGIN. ALL goes as it is; named constraints
// are found as PostgreSQL finds them (in the schema given, else in the first schema on the search
// path holding a constraint of that name) and become their shards' copies on each worker.
// ROLLBACK TO a savepoint undoes what was set after it; the end of the block, all of it.
import type { Session } from "../server/session.js";
import type { Invocation } from "../commands/intercept.js";
import type { AstNode } from "../sql/ast.js";
import { arrayLiteral, quoteQualified } from "../sql/quote.js";
import { shardRelname } from "../commands/shard_ddl.js";
import { emit, runOnCoordinator } from "../executor/distributed.js";
import { withTableNames } from "./commit.js";

/** One SET CONSTRAINTS of the block, as the workers take it. */
export interface ConstraintsMode {
  readonly mode: "DEFERRED" | "IMMEDIATE";
  /** Per worker group, the qualified names of the shard constraints it names; null for ALL. */
  readonly names: ReadonlyMap<number, readonly string[]> | null;
}

/** The statement a worker group's transaction runs for a mode, or null when it names none of its constraints. */
export function constraintsCommand(m: ConstraintsMode, groupId: number): string | null {
  if (!m.names) return `SET CONSTRAINTS ALL ${m.mode}`;
  const names = m.names.get(groupId);
  return names?.length ? `SET CONSTRAINTS ${names.join(", ")} ${m.mode}` : null;
}

type Entry = ConstraintsMode | { readonly savepoint: string };

/**
 * The block's SET CONSTRAINTS in their order, with the savepoints set among them. Savepoints are
 * followed only while a mode is kept (Session.concernsDistributed): one not found was set before
 * the first mode, so rolling back to it undoes them all.
 */
export class BlockConstraintModes {
  private entries: Entry[] = [];

  /** Whether the block has set any. */
  get active(): boolean {
    return this.entries.length > 0;
  }

  add(mode: ConstraintsMode): void {
    this.entries.push(mode);
  }

  /** The statements a worker group's transaction opened now runs after its BEGIN, in order. */
  commandsFor(groupId: number): string[] {
    const out: string[] = [];
    for (const e of this.entries) {
      const sql = "mode" in e ? constraintsCommand(e, groupId) : null;
      if (sql) out.push(sql);
    }
    return out;
  }

  /** Follows the client's SAVEPOINT, RELEASE and ROLLBACK TO (which the coordinator database accepted). */
  savepoint(kind: "set" | "release" | "rollback", name: string): void {
    if (!this.active) return;
    let at = -1;
    for (let i = this.entries.length - 1; i >= 0 && at < 0; i--) {
      const e = this.entries[i];
      if ("savepoint" in e && e.savepoint === name) at = i;
    }
    if (kind === "set") this.entries.push({ savepoint: name });
    else if (kind === "rollback") this.entries.length = at < 0 ? 0 : at + 1;
    // RELEASE drops the savepoint and the ones set after it; what was set stays.
    else this.entries = this.entries.filter((e, i) => "mode" in e || (at >= 0 && i < at));
  }

  clear(): void {
    this.entries = [];
  }
}

/** Runs the client's SET CONSTRAINTS (intercepted when distributed or reference tables exist). */
export async function runSetConstraints(session: Session, st: InterceptedLike, inv: Invocation): Promise<void> {
  // Outside a block PostgreSQL only warns; its answer goes to the client as it is.
  if (session.pipe!.transactionStatus !== 0x54) return runOnCoordinator(session, st.sql, inv, [], st.paramTypes);
  // The coordinator database's answer (and its notices) waits for the workers': an IMMEDIATE
  // that finds a violation there fails the statement.
  const answer: Buffer[] = [];
  await runOnCoordinator(session, st.sql, inv, [], st.paramTypes, (_, message) => {
    answer.push(Buffer.from(message));
  });
  const set = st.stmt.ConstraintsSetStmt as { constraints?: AstNode[]; deferred?: boolean };
  const names = set.constraints ? await shardConstraintNames(session, set.constraints) : null;
  try {
    await session.remote.setConstraints({ mode: set.deferred ? "DEFERRED" : "IMMEDIATE", names });
  } catch (e) {
    throw await withTableNames(session, e);
  }
  emit(session, inv, ...answer);
}

interface InterceptedLike {
  readonly sql: string;
  readonly stmt: AstNode;
  readonly paramTypes: readonly number[];
}

/**
 * The shard constraints the named constraints stand for, per worker group: for each name, the
 * constraints PostgreSQL's SET CONSTRAINTS finds, those of distributed and reference tables
 * becoming their shards' copies (`<name>_<shardid>`, in the table's schema) where the shards are.
 */
async function shardConstraintNames(session: Session, constraints: readonly AstNode[]): Promise<Map<number, string[]>> {
  const wanted = constraints.map((c) => c.RangeVar as { schemaname?: string; relname: string });
  // Each constraint of the name with its schema's place on the search path (null: not on it).
  const rows = await session.internalQuery(
    `SELECT w.i, c.conrelid, n.nspname, c.conname, s.position
       FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS w (schema, name, i)
       JOIN pg_catalog.pg_constraint c ON c.conname = w.name
       JOIN pg_catalog.pg_namespace n ON n.oid = c.connamespace
       LEFT JOIN unnest(pg_catalog.current_schemas(true)) WITH ORDINALITY AS s (nspname, position)
         ON s.nspname = n.nspname
      WHERE w.schema IS NULL OR n.nspname = w.schema`,
    [
      Buffer.from(arrayLiteral(wanted.map((w) => w.schemaname ?? null))),
      Buffer.from(arrayLiteral(wanted.map((w) => w.relname))),
    ],
    [],
    [],
    "read",
  );
  const metadata = await session.metadata();
  const byGroup = new Map<number, string[]>();
  for (const [index, w] of wanted.entries()) {
    const found = rows.filter((r) => Number(r[0]) === index + 1);
    // Unqualified: the first schema on the search path holding one.
    const first = w.schemaname ? null : Math.min(...found.filter((r) => r[4] !== null).map((r) => Number(r[4])));
    for (const [, conrelid, schema, conname, position] of found) {
      if (first !== null && Number(position) !== first) continue;
      const table = metadata.tablesById.get(Number(conrelid));
      if (!table) continue;
      for (const shard of table.shards) {
        const name = quoteQualified(schema!, shardRelname(conname!, shard.shardId));
        for (const p of shard.placements) {
          const list = byGroup.get(p.groupId) ?? [];
          if (!list.includes(name)) list.push(name);
          byGroup.set(p.groupId, list);
        }
      }
    }
  }
  return byGroup;
}
