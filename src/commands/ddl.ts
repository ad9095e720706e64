// DDL on distributed and reference tables: the statement runs on the shell table in the coordinator
// database and, rewritten per shard (shard_ddl.ts names: `<name>_<shardid>` for tables, constraints
// and indexes), on every placement, inside the session's distributed transaction, so that the shell
// and all shards change together or not at all (two-phase commit when several nodes are written).
// CREATE / DROP INDEX CONCURRENTLY cannot run in a transaction: they run on the shell and the shards
// one after the other, and a failure leaves what PostgreSQL leaves (an INVALID index), which a
// repeated DROP INDEX CONCURRENTLY IF EXISTS removes everywhere.
// Afterwards the metadata version moves on in every coordinator (a notification within the
// transaction), so no cached columns, descriptions or plans outlive the table's old shape.
import { SqlError } from "../errors.js";
import { BackendCode, FrontendCode, write } from "../protocol/messages.js";
import { RemoteError } from "../nodes/gateway.js";
import type { Session } from "../server/session.js";
import { referenceShards, type MetadataSnapshot, type TableRecord } from "../metadata/cache.js";
import { METADATA_CHANNEL } from "../metadata/schema.js";
import { cloneAst, stringList, walk, type AstNode } from "../sql/ast.js";
import { deparseNode, deparseStatement } from "../sql/parse.js";
import { arrayLiteral, quoteQualified } from "../sql/quote.js";
import { commitStatement } from "../transaction/commit.js";
import {
  isWorkerError,
  mapShardNames,
  mapShardNamesFromCatalog,
  refuseInFailedBlock,
  resolveTable,
  runOnCoordinator,
  settleAll,
} from "../executor/distributed.js";
import { relationRef } from "../executor/copy.js";
import {
  lockDistribution,
  nodeForGroup,
  nondeterministicKeyRefusal,
  nondeterministicUniqueKey,
  query,
  refuseNondeterministicUniqueKeys,
} from "./distribute.js";
import { shardRelname } from "./shard_ddl.js";
import { refuseRefresh } from "../planner/views.js";
import { planAlterTable, planRename, planSetSchema } from "./alter_table.js";
import {
  activeWorkers,
  ensureDependencies,
  ensureFunction,
  forgetDroppedObjects,
  holdRecordedObjects,
  recordedObjectStatements,
} from "./objects.js";
import { isRoleStatement, planRoleDdl } from "./roles.js";
import { propagatedFunction } from "./function_bodies.js";
import { calledFunctions, functionFacts } from "../executor/pushdown.js";
import type { Invocation, InterceptedStatement } from "./intercept.js";

/** One statement for one worker group. */
export interface ShardStatement {
  readonly groupId: number;
  readonly sql: string;
  /** The reference tables' shards whose placements it writes (which always commit in two phases). */
  readonly reference: readonly number[];
}

/** How a DDL statement reaches the shards of the distributed and reference tables it names. */
export interface DdlPlan {
  /** The workers' statements, built once the shell changed (when names PostgreSQL chose are known). */
  readonly shardStatements: () => Promise<ShardStatement[]>;
  /** Metadata changes after the workers' part. */
  readonly finish?: () => Promise<void>;
  /** The table whose types, functions and extensions the workers need before its shards change. */
  readonly relationId?: number;
  /**
   * CREATE / DROP INDEX CONCURRENTLY, REINDEX CONCURRENTLY or SCHEMA: no transaction, the shell and
   * each shard on its own (`shellLast` for DROP); `failure` says what a shard's failure leaves.
   */
  readonly concurrent?: { readonly shellLast: boolean; readonly failure: () => { detail: string; hint: string } };
  /** What the coordinator database runs in place of the client's text (a password's verifier for its clear text). */
  readonly shellSql?: string;
}

/** A RangeVar for a shard (or a table's object suffixed with the shard id) in the table's schema. */
export function shardRangeVar(table: TableRecord, name: string, shardId: number): AstNode {
  return { schemaname: table.schema, relname: shardRelname(name, shardId), inh: true, relpersistence: "p" };
}

/** Every placement of every shard of a table, with the shard and its index. */
export function placements(table: TableRecord): { shardId: number; index: number; groupId: number }[] {
  return table.shards.flatMap((s) =>
    s.placements.map((p) => ({ shardId: s.shardId, index: s.index, groupId: p.groupId })),
  );
}

/** Runs a DDL statement that names distributed or reference tables (or may: DROP INDEX, DROP SCHEMA). */
export async function runDdl(session: Session, st: InterceptedStatement, inv: Invocation): Promise<void> {
  refuseInFailedBlock(session);
  const metadata = await session.metadata();
  const plan = await planDdl(session, st.stmt, st.sql, metadata);
  if (!plan) {
    // CONCURRENTLY must be the first statement of its implicit transaction, after the lookups.
    if (runsOutsideTransaction(st.stmt) && session.pipe!.transactionStatus === 0x49)
      await endImplicitTransaction(session);
    const answer: Buffer[] = [];
    await runOnCoordinator(session, st.sql, inv, [], st.paramTypes, (_, message) => answer.push(Buffer.from(message)));
    await refuseLostDistributionColumn(session, st.stmt);
    if (st.announces) await announceSchemaChange(session);
    return session.sendToClient(...answer);
  }
  const tag = plan.concurrent
    ? await runConcurrently(session, st.stmt, st.sql, plan, metadata)
    : await runInTransaction(session, st.stmt, plan.shellSql ?? st.sql, plan, metadata);
  session.sendToClient(tag);
}

/**
 * Refuses a DROP … CASCADE that took a distribution column with it (dropping the collation or type
 * it depends on), as dropping the column itself is refused: checked in the shell after it ran,
 * before anything commits or reaches the shards.
 */
async function refuseLostDistributionColumn(session: Session, stmt: AstNode): Promise<void> {
  if ((stmt.DropStmt as { behavior?: string } | undefined)?.behavior !== "DROP_CASCADE") return;
  const lost = await query(
    session,
    `SELECT p.logicalrelid::pg_catalog.regclass::text, p.partkey FROM pg_catalog.pg_dist_partition p
      WHERE p.partmethod = 'h' AND EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = p.logicalrelid)
        AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                         WHERE a.attrelid = p.logicalrelid AND a.attname = p.partkey AND NOT a.attisdropped)`,
  );
  if (lost.length === 0) return;
  throw new SqlError("0A000", "cannot drop the distribution column", {
    detail: `The statement would drop column "${lost[0][1]}" of "${lost[0][0]}", by which the table is distributed.`,
    hint: "Undistribute the table with undistribute_table() first, or drop the object without CASCADE.",
  });
}

/** Statements PostgreSQL runs only outside a transaction block. */
function runsOutsideTransaction(stmt: AstNode): boolean {
  const reindex = stmt.ReindexStmt as { kind: string; params?: AstNode[] } | undefined;
  if (reindex) {
    const ofOneTable = reindex.kind === "REINDEX_OBJECT_TABLE" || reindex.kind === "REINDEX_OBJECT_INDEX";
    return !ofOneTable || reindexesConcurrently(reindex);
  }
  return !!((stmt.IndexStmt ?? stmt.DropStmt) as { concurrent?: boolean } | undefined)?.concurrent;
}

/** The plan of a statement about roles, tables, or else of one about objects recorded for the workers. */
async function planDdl(
  session: Session,
  stmt: AstNode,
  sql: string,
  metadata: MetadataSnapshot,
): Promise<DdlPlan | null> {
  if (isRoleStatement(stmt)) return planRoleDdl(session, stmt, metadata);
  return (
    (await planTableDdl(session, stmt, metadata)) ??
    (await planRecordedObject(session, stmt, metadata)) ??
    planCreateFunction(session, stmt, sql)
  );
}

/**
 * CREATE FUNCTION of a function the workers get too (propagatedFunction), once the coordinator
 * database has it; a CREATE OR REPLACE of one they have is planRecordedObject's. Only a role that
 * may record objects for the workers (pg_dist_object) has them created there; for others the
 * function stays the coordinator database's, as before, and statements calling it are answered
 * there.
 */
async function planCreateFunction(session: Session, stmt: AstNode, sql: string): Promise<DdlPlan | null> {
  const create = stmt.CreateFunctionStmt as
    { funcname: AstNode[]; parameters?: { FunctionParameter: { mode: string; argType: AstNode } }[] } | undefined;
  const body = create ? propagatedFunction(stmt, sql) : null;
  if (!create || !body) return null;
  const [[mayRecord]] = await query(
    session,
    "SELECT pg_catalog.has_table_privilege('pg_catalog.pg_dist_object', 'INSERT')",
  );
  if (mayRecord !== "t") return null;
  // What the body calls and casts to must be on the workers already: PostgreSQL's or recorded
  // (an IMMUTABLE function calling a STABLE one of the user's stays the coordinator's).
  if (!(await functionFacts(session, calledFunctions(body))).shardable) return null;
  const types = new Set<string>();
  walk(body, (node) => {
    const cast = node.TypeCast as { typeName: { names: unknown } } | undefined;
    if (cast) types.add(stringList(cast.typeName.names).pop()!);
  });
  if (types.size > 0) {
    const [[foreign]] = await query(
      session,
      `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_type t WHERE t.typname = ANY ($1::text[])
                         AND t.typnamespace <> 'pg_catalog'::pg_catalog.regnamespace)`,
      arrayLiteral([...types]),
    );
    if (foreign === "t") return null;
  }
  const args = (create.parameters ?? [])
    .map((p) => p.FunctionParameter)
    .filter((p) => p.mode !== "FUNC_PARAM_OUT" && p.mode !== "FUNC_PARAM_TABLE")
    .map((p) => deparseNode({ TypeName: p.argType }));
  return {
    shardStatements: async () => [],
    finish: async () => {
      const [[oid]] = await query(
        session,
        "SELECT pg_catalog.to_regprocedure($1)::oid",
        `${quoteQualified(...stringList(create.funcname))}(${args.join(", ")})`,
      );
      if (oid !== null) await ensureFunction(session, oid);
    },
  };
}

async function planTableDdl(session: Session, stmt: AstNode, metadata: MetadataSnapshot): Promise<DdlPlan | null> {
  if (stmt.RefreshMatViewStmt)
    return refuseRefresh(session, (stmt.RefreshMatViewStmt as { relation: AstNode }).relation);
  if (stmt.AlterTableStmt) return planAlterTable(session, stmt, metadata);
  if ((stmt.RenameStmt as { renameType?: string } | undefined)?.renameType === "OBJECT_SCHEMA") {
    return planRenameSchema(session, stmt, metadata);
  }
  if (stmt.RenameStmt) return planRename(session, stmt, (rv) => indexOf(session, metadata, rangeVarParts(rv)));
  if (stmt.ReindexStmt) return planReindex(session, stmt, metadata);
  if (stmt.AlterObjectSchemaStmt) return planSetSchema(session, stmt);
  if (stmt.IndexStmt) return planCreateIndex(session, stmt);
  if (stmt.GrantStmt) return planGrant(session, stmt, metadata);
  if (stmt.TruncateStmt) return planOverListedTables(session, stmt, "TruncateStmt", "relations");
  const drop = stmt.DropStmt as { removeType: string } | undefined;
  if (drop?.removeType === "OBJECT_TABLE") return planDropTables(session, stmt);
  if (drop?.removeType === "OBJECT_INDEX") return planDropIndexes(session, stmt, metadata);
  if (drop?.removeType === "OBJECT_SCHEMA") return planDropSchemas(session, stmt, metadata);
  return null;
}

/** The shell first, then the shards, all in the session's (distributed) transaction. */
async function runInTransaction(
  session: Session,
  stmt: AstNode,
  sql: string,
  plan: DdlPlan,
  metadata: MetadataSnapshot,
) {
  const inBlock = session.pipe!.transactionStatus !== 0x49;
  try {
    // Not while a new worker gets its copies of the reference tables from the shells' definitions.
    await lockDistribution(session, true);
    const tag = await runOnShell(session, sql);
    await refuseLostDistributionColumn(session, stmt);
    if (plan.relationId !== undefined && (stmt.IndexStmt || stmt.AlterTableStmt)) {
      await refuseNondeterministicUniqueKeys(session, plan.relationId);
    }
    if (plan.relationId !== undefined) await ensureDependencies(session, plan.relationId);
    await runOnWorkers(session, metadata, await plan.shardStatements(), true);
    await plan.finish?.();
    await announceSchemaChange(session);
    if (!inBlock) await commitStatement(session, "some");
    return tag;
  } catch (e) {
    if (!inBlock) await session.remote.rollbackAll();
    const mapped = await mapShardNamesFromCatalog(session, e, metadata.tables);
    throw isWorkerError(e) ? withRoleHint(mapped) : mapped;
  }
}

/**
 * CREATE INDEX CONCURRENTLY and REINDEX: the shell, then each shard; DROP INDEX CONCURRENTLY: each
 * shard, then the shell, so that a failure leaves the shell's index for a repeated DROP to find.
 * Each step commits on its own, as in PostgreSQL.
 */
async function runConcurrently(
  session: Session,
  stmt: AstNode,
  sql: string,
  plan: DdlPlan,
  metadata: MetadataSnapshot,
) {
  const concurrent = plan.concurrent!;
  if (session.pipe!.transactionStatus !== 0x49) {
    // PostgreSQL's own refusal, before any shard is touched.
    return runOnShell(session, sql);
  }
  // The lookups so far ran in an implicit transaction; CONCURRENTLY must come first in its own.
  await endImplicitTransaction(session);
  let tag: Buffer | null = null;
  if (!concurrent.shellLast) tag = await runOnShell(session, sql);
  // A unique index refused once the shell has it: the shell's goes again, as nothing else has it.
  const refused = stmt.IndexStmt && plan.relationId !== undefined;
  const found = refused ? await nondeterministicUniqueKey(session, plan.relationId!) : null;
  if (found) {
    await runOnShell(session, `DROP INDEX ${quoteQualified(found.schema, found.index)}`);
    await endImplicitTransaction(session);
    throw nondeterministicKeyRefusal(found);
  }
  // What the shell's new index needs on the workers (its expressions' functions, its operator
  // classes' extensions), committed before the shards build theirs.
  if (plan.relationId !== undefined) {
    await ensureDependencies(session, plan.relationId);
    await commitStatement(session, "some");
  }
  try {
    await runOnWorkers(session, metadata, await plan.shardStatements(), false);
  } catch (e) {
    const mapped = mapShardNames(e, metadata.tables);
    if (!(mapped instanceof RemoteError)) throw mapped;
    throw new RemoteError({ ...mapped.fields, ...concurrent.failure() });
  }
  if (concurrent.shellLast) tag = await runOnShell(session, sql);
  await announceSchemaChange(session);
  return tag!;
}

/** What a failed CREATE / DROP INDEX CONCURRENTLY leaves, and how to clean it up. */
function indexFailure(indexName: string, shellLast: boolean): { detail: string; hint: string } {
  return {
    detail: `The statement failed on a shard and cannot be undone: the index may be left INVALID there${
      shellLast ? "" : ", and the coordinator and other shards keep it"
    }.`,
    hint: `DROP INDEX CONCURRENTLY IF EXISTS ${indexName} removes it everywhere.`,
  };
}

/** Runs the statement on the shell and returns its CommandComplete, sent once the shards followed. */
async function runOnShell(session: Session, sql: string): Promise<Buffer> {
  let tag: Buffer | null = null;
  const results = [
    session.internalRaw(FrontendCode.Parse, write.parse("", sql, [])),
    session.internalRaw(FrontendCode.Bind, write.bind("", "", [], [], [])),
    session.internalRaw(FrontendCode.Execute, write.execute("", 0), (code, message) => {
      if (code === BackendCode.CommandComplete) tag = Buffer.from(message);
    }),
  ];
  await session.flushAndAwait(results);
  return tag!;
}

async function endImplicitTransaction(session: Session): Promise<void> {
  const error = await session.internalRaw(FrontendCode.Sync, write.sync());
  if (error) throw new RemoteError(error);
}

/** Runs statements on their groups' nodes: nodes in parallel, each node's statements in order. */
async function runOnWorkers(
  session: Session,
  metadata: MetadataSnapshot,
  statements: readonly ShardStatement[],
  transactional: boolean,
): Promise<void> {
  const byGroup = new Map<number, ShardStatement[]>();
  for (const s of statements) byGroup.set(s.groupId, [...(byGroup.get(s.groupId) ?? []), s]);
  await settleAll(
    [...byGroup].map(async ([groupId, list]) => {
      const node = nodeForGroup(metadata.nodes, groupId);
      for (const s of list) {
        await session.remote.run(node, s.sql, [], { transactional, write: transactional, reference: s.reference });
      }
    }),
  );
}

/**
 * Moves the metadata version on in every coordinator when the transaction commits (and in this
 * session at once), so cached columns, descriptions and plans are rebuilt for the new shape.
 */
export async function announceSchemaChange(session: Session): Promise<void> {
  await query(session, "SELECT pg_catalog.pg_notify($1, 'ddl')", METADATA_CHANNEL);
  session.noteMetadataChange();
}

/**
 * Roles made through Canopy exist on every worker (roles.ts): one a worker lacks (and the
 * coordinator database has) was made in the coordinator database directly.
 */
function withRoleHint(e: unknown): unknown {
  if (!(e instanceof RemoteError) || e.fields.code !== "42704" || !/^role /.test(e.fields.message)) return e;
  return new RemoteError({
    ...e.fields,
    hint: "The role was not created through Canopy: create it on each worker (run_command_on_workers) and run the statement again.",
  });
}

/** Statements grouped per worker group: one statement per group over all its shards. */
function perGroup(
  tables: readonly TableRecord[],
  build: (shardRangeVars: AstNode[]) => AstNode,
  name: (table: TableRecord) => string = (t) => t.relname,
): ShardStatement[] {
  const byGroup = new Map<number, { vars: AstNode[]; reference: number[] }>();
  for (const table of tables) {
    for (const p of placements(table)) {
      const entry = byGroup.get(p.groupId) ?? { vars: [], reference: [] };
      entry.vars.push(shardRangeVar(table, name(table), p.shardId));
      entry.reference.push(...referenceShards([table]));
      byGroup.set(p.groupId, entry);
    }
  }
  return [...byGroup].map(([groupId, { vars, reference }]) => ({
    groupId,
    sql: deparseStatement(build(vars)),
    reference,
  }));
}

/** The tables of a list of names (`a.b` or `b`, as DROP lists them), as search_path resolves them. */
async function resolveNames(session: Session, objects: unknown[] | undefined): Promise<TableRecord[]> {
  const tables: TableRecord[] = [];
  for (const o of objects ?? []) {
    const parts = stringList((o as { List?: { items: unknown[] } }).List?.items);
    const table = await resolveTable(
      session,
      relationRef({
        schemaname: parts.length > 1 ? parts[parts.length - 2] : undefined,
        relname: parts[parts.length - 1],
      }),
    );
    if (table) tables.push(table);
  }
  return tables;
}

/** DROP TABLE: the shards of all named tables go in one statement per node (FKs among them allow it). */
async function planDropTables(session: Session, stmt: AstNode): Promise<DdlPlan | null> {
  const drop = stmt.DropStmt as { objects?: unknown[]; behavior: string };
  const tables = await resolveNames(session, drop.objects);
  if (tables.length === 0) return null;
  return {
    shardStatements: async () => perGroup(tables, (vars) => dropStmt("OBJECT_TABLE", vars, drop.behavior, false)),
    finish: () => forgetTables(session, tables),
  };
}

/**
 * DROP SCHEMA: the schema goes on every worker too (IF EXISTS), with the shards and objects in it;
 * the workers got it for shards, recorded objects or privileges, which may be gone already.
 */
async function planDropSchemas(session: Session, stmt: AstNode, metadata: MetadataSnapshot): Promise<DdlPlan | null> {
  const drop = stmt.DropStmt as { objects?: { String: { sval: string } }[]; behavior: string };
  const schemas = (drop.objects ?? []).map((o) => o.String.sval);
  const tables = metadata.tables.filter((t) => schemas.includes(t.schema));
  if (tables.length === 0 && activeWorkers(metadata).length === 0) return null;
  const sql = deparseStatement({ DropStmt: { ...drop, missing_ok: true } });
  return {
    shardStatements: async () => onSchemaWorkers(metadata, tables, [sql]),
    finish: async () => {
      await forgetTables(session, tables);
      await forgetDroppedObjects(session);
    },
  };
}

/**
 * ALTER SCHEMA … RENAME of a schema holding shards or objects recorded for the workers, or whose
 * privileges the workers got: renamed on the workers too, where it is created first if missing so
 * that every worker ends with the new name.
 */
async function planRenameSchema(session: Session, stmt: AstNode, metadata: MetadataSnapshot): Promise<DdlPlan | null> {
  const schema = (stmt.RenameStmt as { subname: string }).subname;
  const tables = metadata.tables.filter((t) => t.schema === schema);
  if (
    tables.length === 0 &&
    !(await holdRecordedObjects(session, [schema])) &&
    !(await hasPrivileges(session, schema))
  ) {
    return null;
  }
  const statements = [`CREATE SCHEMA IF NOT EXISTS ${quoteQualified(schema)}`, deparseStatement(stmt)];
  return { shardStatements: async () => onSchemaWorkers(metadata, tables, statements) };
}

/** Whether a schema's privileges were changed, which GRANT … ON SCHEMA propagated to the workers. */
async function hasPrivileges(session: Session, schema: string): Promise<boolean> {
  const rows = await query(
    session,
    "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1 AND nspacl IS NOT NULL",
    schema,
  );
  return rows.length > 0;
}

/** Statements for every worker that may hold a schema: the active ones and those with the tables' placements. */
function onSchemaWorkers(
  metadata: MetadataSnapshot,
  tables: readonly TableRecord[],
  statements: readonly string[],
): ShardStatement[] {
  const groups = new Set(activeWorkers(metadata).map((n) => n.groupid));
  for (const t of tables) for (const p of placements(t)) groups.add(p.groupId);
  const reference = referenceShards(tables);
  return [...groups].flatMap((groupId) => statements.map((sql) => ({ groupId, sql, reference })));
}

/**
 * REINDEX TABLE / INDEX of a distributed or reference table, and REINDEX SCHEMA of a schema holding
 * some: each shard's table or index is reindexed. CONCURRENTLY and SCHEMA run outside a transaction,
 * the coordinator first and then each shard, as PostgreSQL runs them one table after the other.
 */
async function planReindex(session: Session, stmt: AstNode, metadata: MetadataSnapshot): Promise<DdlPlan | null> {
  const reindex = stmt.ReindexStmt as { kind: string; relation?: AstNode; name?: string; params?: AstNode[] };
  const targets: { table: TableRecord; name: string; kind: string }[] = [];
  if (reindex.kind === "REINDEX_OBJECT_TABLE") {
    const table = await resolveTable(session, relationRef(reindex.relation as { relname: string }));
    if (table) targets.push({ table, name: table.relname, kind: reindex.kind });
  } else if (reindex.kind === "REINDEX_OBJECT_INDEX") {
    const index = await indexOf(session, metadata, rangeVarParts(reindex.relation!));
    if (index) targets.push({ table: index.table, name: index.name, kind: reindex.kind });
  } else if (reindex.kind === "REINDEX_OBJECT_SCHEMA") {
    for (const table of metadata.tables.filter((t) => t.schema === reindex.name)) {
      targets.push({ table, name: table.relname, kind: "REINDEX_OBJECT_TABLE" });
    }
  }
  if (targets.length === 0) return null;
  const statements = targets.flatMap(({ table, name, kind }) =>
    placements(table).map((p) => ({
      groupId: p.groupId,
      sql: deparseStatement({
        ReindexStmt: { ...reindex, kind, name: undefined, relation: shardRangeVar(table, name, p.shardId) },
      }),
      reference: referenceShards([table]),
    })),
  );
  const outside = reindexesConcurrently(reindex) || reindex.kind === "REINDEX_OBJECT_SCHEMA";
  return {
    shardStatements: async () => statements,
    concurrent: outside
      ? {
          shellLast: false,
          failure: () => ({
            detail: "The statement failed on a shard; the coordinator and the shards before it were reindexed.",
            hint: "Run the REINDEX again once the cause is fixed. REINDEX CONCURRENTLY may leave an invalid index ending in _ccnew on the shard's worker: drop it there (run_command_on_workers).",
          }),
        }
      : undefined,
  };
}

/** Whether REINDEX has the CONCURRENTLY option on (as PostgreSQL reads a boolean option). */
function reindexesConcurrently(reindex: { params?: AstNode[] }): boolean {
  return (reindex.params ?? []).some((p) => {
    const option = p.DefElem as { defname: string; arg?: { String?: { sval: string }; Integer?: { ival?: number } } };
    if (option.defname !== "concurrently") return false;
    if (option.arg?.Integer) return (option.arg.Integer.ival ?? 0) !== 0;
    return !["false", "off", "0"].includes(option.arg?.String?.sval.toLowerCase() ?? "true");
  });
}

/** Statements about types, functions and extensions the workers got for the shards (objects.ts): on every worker. */
async function planRecordedObject(
  session: Session,
  stmt: AstNode,
  metadata: MetadataSnapshot,
): Promise<DdlPlan | null> {
  const statements = await recordedObjectStatements(session, stmt);
  if (statements === null) return null;
  return {
    shardStatements: async () => {
      const list = await statements();
      return activeWorkers(metadata).flatMap((n) => list.map((sql) => ({ groupId: n.groupid, sql, reference: [] })));
    },
    finish: stmt.DropStmt ? () => forgetDroppedObjects(session) : undefined,
  };
}

/** Removes dropped tables from the metadata. */
async function forgetTables(session: Session, tables: readonly TableRecord[]): Promise<void> {
  const ids = arrayLiteral(tables.map((t) => String(t.relationId)));
  // As the metadata's owner: the tables' owners may drop them.
  await query(session, "SELECT pg_catalog.canopy_forget_dropped_tables($1::oid[])", ids);
}

/** The names of a table's indexes (constraint indexes too). */
async function indexNames(session: Session, relationId: number): Promise<string[]> {
  const rows = await query(
    session,
    `SELECT c.relname FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
      WHERE i.indrelid = $1::oid`,
    String(relationId),
  );
  return rows.map((r) => r[0]!);
}

/**
 * CREATE INDEX: on each shard under `<index>_<shardid>`, where `<index>` is the shell's index name
 * (PostgreSQL's choice when the statement names none, read from the catalog after the shell).
 */
async function planCreateIndex(session: Session, stmt: AstNode): Promise<DdlPlan | null> {
  const index = stmt.IndexStmt as {
    relation: { schemaname?: string; relname: string };
    idxname?: string;
    unique?: boolean;
    concurrent?: boolean;
    if_not_exists?: boolean;
    indexParams: { IndexElem: { name?: string } }[];
  };
  const table = await resolveTable(session, relationRef(index.relation));
  if (!table) return null;
  if (index.unique && table.method === "h" && !index.indexParams.some((p) => p.IndexElem.name === table.partitionKey)) {
    throw new SqlError("0A000", `cannot create constraint on "${table.relname}"`, {
      detail:
        "Distributed relations cannot have UNIQUE, EXCLUDE, or PRIMARY KEY constraints that do not include the partition column (with an equality operator if EXCLUDE).",
      hint: `Add "${table.partitionKey}" to the index's columns.`,
    });
  }
  const before = index.idxname ? [] : await indexNames(session, table.relationId);
  // IF NOT EXISTS skips a name any relation of the schema has (another table's index too).
  const skipped =
    !!index.if_not_exists &&
    !!index.idxname &&
    (
      await query(session, "SELECT pg_catalog.to_regclass($1) IS NOT NULL", quoteQualified(table.schema, index.idxname))
    )[0][0] === "t";
  let name = index.idxname ?? "";
  const shardStatements = async () => {
    if (skipped) return [];
    if (!index.idxname) {
      const created = (await indexNames(session, table.relationId)).filter((n) => !before.includes(n));
      if (created.length !== 1) return []; // IF NOT EXISTS found it there already
      name = created[0];
    }
    return placements(table).map((p) => {
      const copy = cloneAst(stmt);
      const c = copy.IndexStmt as { relation: AstNode; idxname?: string };
      c.relation = shardRangeVar(table, table.relname, p.shardId);
      c.idxname = shardRelname(name, p.shardId);
      return { groupId: p.groupId, sql: deparseStatement(copy), reference: referenceShards([table]) };
    });
  };
  return {
    shardStatements,
    relationId: table.relationId,
    concurrent: index.concurrent ? { shellLast: false, failure: () => indexFailure(name, false) } : undefined,
  };
}

/** The distributed or reference table an index (named by its qualified name's parts) belongs to. */
async function indexOf(
  session: Session,
  metadata: MetadataSnapshot,
  parts: readonly string[],
): Promise<{ table: TableRecord; name: string; qualified: string } | null> {
  const qualified = quoteQualified(...parts);
  const rows = await query(
    session,
    `SELECT i.indrelid, c.relname FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
      WHERE i.indexrelid = pg_catalog.to_regclass($1)`,
    qualified,
  );
  const table = rows.length > 0 ? metadata.tablesById.get(Number(rows[0][0])) : undefined;
  return table ? { table, name: rows[0][1]!, qualified } : null;
}

function rangeVarParts(rv: AstNode): string[] {
  return [rv.schemaname as string | undefined, rv.relname as string].filter((p): p is string => !!p);
}

/** DROP INDEX: indexes of distributed and reference tables are dropped on every shard (IF EXISTS). */
async function planDropIndexes(session: Session, stmt: AstNode, metadata: MetadataSnapshot): Promise<DdlPlan | null> {
  const drop = stmt.DropStmt as { objects?: { List?: { items: unknown[] } }[]; concurrent?: boolean; behavior: string };
  // PostgreSQL refuses these before dropping anything: the shell alone answers.
  if (drop.concurrent && ((drop.objects?.length ?? 0) > 1 || drop.behavior === "DROP_CASCADE")) return null;
  const found: { table: TableRecord; name: string; qualified: string }[] = [];
  for (const o of drop.objects ?? []) {
    const index = await indexOf(session, metadata, stringList(o.List?.items));
    if (index) found.push(index);
  }
  if (found.length === 0) return null;
  const statements = drop.concurrent
    ? // CONCURRENTLY takes one index per statement.
      found.flatMap(({ table, name }) =>
        placements(table).map((p) => ({
          groupId: p.groupId,
          sql: deparseStatement(dropStmt("OBJECT_INDEX", [shardRangeVar(table, name, p.shardId)], drop.behavior, true)),
          reference: referenceShards([table]),
        })),
      )
    : found.flatMap(({ table, name }) =>
        perGroup(
          [table],
          (vars) => dropStmt("OBJECT_INDEX", vars, drop.behavior, false),
          () => name,
        ),
      );
  return {
    shardStatements: async () => statements,
    concurrent: drop.concurrent
      ? { shellLast: true, failure: () => indexFailure(found[0].qualified, true) }
      : undefined,
  };
}

/** DROP TABLE / DROP INDEX IF EXISTS of shards (or shards' indexes). */
function dropStmt(removeType: string, vars: readonly AstNode[], behavior: string, concurrent: boolean): AstNode {
  return {
    DropStmt: {
      objects: vars.map((v) => ({ List: { items: [v.schemaname, v.relname].map((s) => ({ String: { sval: s } })) } })),
      removeType,
      behavior,
      missing_ok: true,
      concurrent,
    },
  };
}

/**
 * GRANT / REVOKE on tables and on ALL TABLES IN SCHEMA: the distributed and reference tables they
 * cover, as for TRUNCATE (roles must exist on the workers).
 */
async function planGrant(session: Session, stmt: AstNode, metadata: MetadataSnapshot): Promise<DdlPlan | null> {
  const grant = stmt.GrantStmt as { targtype: string; objtype: string; objects?: AstNode[] };
  if (grant.objtype === "OBJECT_SCHEMA") {
    // The same statement on every worker (the schemas created there if missing), so that shards
    // placed in them later find the privileges; workers added later get them from the ACL (roles.ts).
    const schemas = (grant.objects ?? []).map((o) => (o.String as { sval: string }).sval);
    const tables = metadata.tables.filter((t) => schemas.includes(t.schema));
    if (tables.length === 0 && activeWorkers(metadata).length === 0) return null;
    const statements = [
      ...schemas.map((s) => `CREATE SCHEMA IF NOT EXISTS ${quoteQualified(s)}`),
      deparseStatement(stmt),
    ];
    return { shardStatements: async () => onSchemaWorkers(metadata, tables, statements) };
  }
  if (grant.objtype !== "OBJECT_TABLE") return null;
  if (grant.targtype === "ACL_TARGET_OBJECT") return planOverListedTables(session, stmt, "GrantStmt", "objects");
  if (grant.targtype !== "ACL_TARGET_ALL_IN_SCHEMA") return null;
  const schemas = (grant.objects ?? []).map((o) => (o.String as { sval: string }).sval);
  const tables = metadata.tables.filter((t) => schemas.includes(t.schema));
  return tables.length > 0 ? overShards(stmt, "GrantStmt", "objects", tables) : null;
}

/**
 * GRANT / REVOKE on listed tables and TRUNCATE: on each node, the same statement over the shards
 * there (TRUNCATE … CASCADE follows the shards' foreign keys there too).
 */
async function planOverListedTables(
  session: Session,
  stmt: AstNode,
  kind: "GrantStmt" | "TruncateStmt",
  key: "objects" | "relations",
): Promise<DdlPlan | null> {
  const tables: TableRecord[] = [];
  for (const o of ((stmt[kind] as Record<string, unknown>)[key] ?? []) as { RangeVar?: { relname: string } }[]) {
    const table = o.RangeVar ? await resolveTable(session, relationRef(o.RangeVar)) : null;
    if (table) tables.push(table);
  }
  return tables.length > 0 ? overShards(stmt, kind, key, tables) : null;
}

/** The statement over the shards of the tables, one statement per node. */
function overShards(
  stmt: AstNode,
  kind: "GrantStmt" | "TruncateStmt",
  key: "objects" | "relations",
  tables: readonly TableRecord[],
): DdlPlan {
  return {
    shardStatements: async () =>
      perGroup(tables, (vars) => {
        const copy = cloneAst(stmt);
        const node = copy[kind] as Record<string, unknown>;
        node[key] = vars.map((v) => ({ RangeVar: v }));
        if (kind === "GrantStmt") node.targtype = "ACL_TARGET_OBJECT";
        return copy;
      }),
  };
}

/** A refusal of a DDL form Canopy does not propagate, raised before anything changes. */
export function unsupportedDdl(what: string, hint: string): SqlError {
  return new SqlError("0A000", `${what} is not supported on distributed or reference tables`, { hint });
}
