// ALTER TABLE, RENAME and SET SCHEMA on distributed and reference tables: which forms are
// propagated, the checks that refuse what shards cannot enforce (before anything changes), and the
// rewrite of the statement's AST for each shard. Constraints the statement does not name get the
// names PostgreSQL chose on the shell (read from its catalog afterwards), suffixed per shard like
// every other constraint, so errors from shards map back to the names the client sees.
import { SqlError } from "../errors.js";
import type { Session } from "../server/session.js";
import { referenceShards, type MetadataSnapshot, type TableRecord } from "../metadata/cache.js";
import { cloneAst, expressionFromTemplate, jsonText, stringList, walk, type AstNode } from "../sql/ast.js";
import { deparseStatement, parseSql } from "../sql/parse.js";
import { arrayLiteral, quoteQualified } from "../sql/quote.js";
import { evaluateTransactionValues, isConstant, literal } from "../executor/defaults.js";
import { resolveTable } from "../executor/distributed.js";
import { relationRef } from "../executor/copy.js";
import { query } from "./distribute.js";
import { shardRelname } from "./shard_ddl.js";
import { placements, shardRangeVar, unsupportedDdl, type DdlPlan, type ShardStatement } from "./ddl.js";

interface AlterTableCmd {
  subtype: string;
  name?: string;
  def?: AstNode;
  missing_ok?: boolean;
}

interface ConstraintNode {
  contype: string;
  conname?: string;
  indexname?: string;
  keys?: unknown[];
  exclusions?: { List: { items: [{ IndexElem?: { name?: string } }, { List: { items: unknown[] } }] } }[];
  pktable?: { schemaname?: string; relname: string };
  fk_attrs?: unknown[];
  pk_attrs?: unknown[];
  fk_upd_action?: string;
  fk_del_action?: string;
}

/** A constraint of the statement and the column it is written on (for column constraints). */
interface StatementConstraint {
  readonly constraint: ConstraintNode;
  readonly column: string | null;
}

/** ALTER TABLE forms that are propagated to the shards. */
const propagated = new Set([
  "AT_AddColumn",
  "AT_DropColumn",
  "AT_AlterColumnType",
  "AT_ColumnDefault",
  "AT_SetNotNull",
  "AT_DropNotNull",
  "AT_AddConstraint",
  "AT_DropConstraint",
  "AT_ValidateConstraint",
]);

/** How refusals name the forms that are not propagated. */
const formNames: Record<string, string> = {
  AT_ChangeOwner: "ALTER TABLE … OWNER TO",
  AT_SetRelOptions: "ALTER TABLE … SET (storage parameters)",
  AT_ResetRelOptions: "ALTER TABLE … RESET (storage parameters)",
  AT_SetStatistics: "ALTER TABLE … ALTER COLUMN … SET STATISTICS",
  AT_SetStorage: "ALTER TABLE … ALTER COLUMN … SET STORAGE",
  AT_SetCompression: "ALTER TABLE … ALTER COLUMN … SET COMPRESSION",
  AT_AddIdentity: "ALTER TABLE … ADD GENERATED … AS IDENTITY",
  AT_SetIdentity: "ALTER TABLE … ALTER COLUMN … SET GENERATED, SET (a sequence option) or RESTART",
  AT_DropIdentity: "ALTER TABLE … DROP IDENTITY",
  AT_DropExpression: "ALTER TABLE … DROP EXPRESSION",
  AT_ClusterOn: "ALTER TABLE … CLUSTER ON",
  AT_DropCluster: "ALTER TABLE … SET WITHOUT CLUSTER",
  AT_SetLogged: "ALTER TABLE … SET LOGGED",
  AT_SetUnLogged: "ALTER TABLE … SET UNLOGGED",
  AT_SetTableSpace: "ALTER TABLE … SET TABLESPACE",
  AT_SetAccessMethod: "ALTER TABLE … SET ACCESS METHOD",
  AT_ReplicaIdentity: "ALTER TABLE … REPLICA IDENTITY",
  AT_EnableRowSecurity: "ALTER TABLE … ENABLE ROW LEVEL SECURITY",
  AT_DisableRowSecurity: "ALTER TABLE … DISABLE ROW LEVEL SECURITY",
  AT_ForceRowSecurity: "ALTER TABLE … FORCE ROW LEVEL SECURITY",
  AT_NoForceRowSecurity: "ALTER TABLE … NO FORCE ROW LEVEL SECURITY",
  AT_AttachPartition: "ALTER TABLE … ATTACH PARTITION",
  AT_DetachPartition: "ALTER TABLE … DETACH PARTITION",
  AT_AddInherit: "ALTER TABLE … INHERIT",
  AT_DropInherit: "ALTER TABLE … NO INHERIT",
  AT_AddOf: "ALTER TABLE … OF",
  AT_DropOf: "ALTER TABLE … NOT OF",
  AT_AlterConstraint: "ALTER TABLE … ALTER CONSTRAINT",
  AT_EnableTrig: "ALTER TABLE … ENABLE TRIGGER",
  AT_EnableAlwaysTrig: "ALTER TABLE … ENABLE ALWAYS TRIGGER",
  AT_EnableReplicaTrig: "ALTER TABLE … ENABLE REPLICA TRIGGER",
  AT_DisableTrig: "ALTER TABLE … DISABLE TRIGGER",
  AT_EnableTrigAll: "ALTER TABLE … ENABLE TRIGGER ALL",
  AT_DisableTrigAll: "ALTER TABLE … DISABLE TRIGGER ALL",
  AT_EnableTrigUser: "ALTER TABLE … ENABLE TRIGGER USER",
  AT_DisableTrigUser: "ALTER TABLE … DISABLE TRIGGER USER",
  AT_EnableRule: "ALTER TABLE … ENABLE RULE",
  AT_EnableAlwaysRule: "ALTER TABLE … ENABLE ALWAYS RULE",
  AT_EnableReplicaRule: "ALTER TABLE … ENABLE REPLICA RULE",
  AT_DisableRule: "ALTER TABLE … DISABLE RULE",
};

const keyTypes = new Set(["CONSTR_CHECK", "CONSTR_PRIMARY", "CONSTR_UNIQUE", "CONSTR_FOREIGN", "CONSTR_EXCLUSION"]);
const serialTypes = new Set(["serial", "serial2", "serial4", "serial8", "smallserial", "bigserial"]);
const uniqueDetail =
  "Distributed relations cannot have UNIQUE, EXCLUDE, or PRIMARY KEY constraints that do not include the partition column (with an equality operator if EXCLUDE).";

/** ALTER TABLE on a distributed or reference table (or a local one referencing one: refused). */
export async function planAlterTable(
  session: Session,
  stmt: AstNode,
  metadata: MetadataSnapshot,
): Promise<DdlPlan | null> {
  const alter = stmt.AlterTableStmt as {
    relation: { schemaname?: string; relname: string };
    objtype: string;
    cmds: { AlterTableCmd: AlterTableCmd }[];
  };
  if (alter.objtype !== "OBJECT_TABLE") return null;
  const cmds = alter.cmds.map((c) => c.AlterTableCmd);
  const table = await resolveTable(session, relationRef(alter.relation));
  const constraints = statementConstraints(cmds);
  const referenced = new Map<string, TableRecord | null>();
  for (const { constraint, column } of constraints) {
    if (constraint.contype !== "CONSTR_FOREIGN") continue;
    const target = await resolveTable(session, relationRef(constraint.pktable!));
    referenced.set(pktableKey(constraint.pktable!), target);
    // A table that does not exist is PostgreSQL's to report, on the shell.
    if (target === null && !(await relationExists(session, constraint.pktable!))) continue;
    await ensureForeignKeyEnforceable(session, table, target, constraint, column, metadata);
  }
  if (!table) return null;
  for (const cmd of cmds) ensurePropagated(table, cmd);
  for (const { constraint, column } of constraints) ensureKeyIncludesDistributionColumn(table, constraint, column);
  if (table.method === "n") await refuseVolatileRewrite(session, table, cmds);
  const unnamed = constraints.filter((c) => isUnnamed(c.constraint)).length;
  const named = constraints.map((c) => c.constraint.conname ?? c.constraint.indexname).filter((n): n is string => !!n);
  const before = unnamed > 0 ? await constraintDefinitions(session, table) : [];
  const ifNotExists = cmds.some((c) => c.subtype === "AT_AddColumn" && c.missing_ok);
  const existing = new Set(ifNotExists ? await columnNames(session, table) : []);
  return {
    relationId: table.relationId,
    shardStatements: async () => {
      const evaluated = await withCoordinatorValues(session, stmt, existing);
      const added: AstNode[] = [];
      if (unnamed > 0) {
        const known = new Set([...before.map((b) => b.name), ...named]);
        const fresh = (await constraintDefinitions(session, table)).filter((c) => !known.has(c.name));
        if (fresh.length !== unnamed) {
          throw new SqlError("0A000", "cannot tell which names PostgreSQL gave the statement's new constraints", {
            hint: "Name each constraint (ADD CONSTRAINT name …).",
          });
        }
        for (const c of fresh) added.push(await addConstraintCmd(session, c, referenced));
      }
      return placements(table).map((p) => ({
        groupId: p.groupId,
        sql: deparseStatement(shardAlter(evaluated, table, p, added, referenced)),
        reference: referenceShards([table]),
      }));
    },
  };
}

/**
 * The statement with what PostgreSQL computes once per statement computed once, in the
 * coordinator database, for all shards: the non-volatile default of an added column (now(),
 * CURRENT_DATE, a stable function), which fills the rows already there, is given as its value and
 * set as the column's default afterwards; now() and the other transaction-valued calls in USING
 * expressions get the coordinator transaction's values. Volatile defaults (random(),
 * clock_timestamp(), gen_random_uuid()) are evaluated row by row on the shards, as PostgreSQL
 * evaluates them row by row. `existing`: columns an ADD COLUMN IF NOT EXISTS leaves as they are.
 */
async function withCoordinatorValues(session: Session, stmt: AstNode, existing: ReadonlySet<string>): Promise<AstNode> {
  const copy = cloneAst(stmt);
  const alter = copy.AlterTableStmt as { cmds: { AlterTableCmd: AlterTableCmd }[] };
  const cmds: { AlterTableCmd: AlterTableCmd }[] = [];
  for (const entry of alter.cmds) {
    cmds.push(entry);
    const cmd = entry.AlterTableCmd;
    const column = cmd.def?.ColumnDef as
      | { colname?: string; typeName: AstNode; raw_default?: AstNode; constraints?: { Constraint: AstNode }[] }
      | undefined;
    if (cmd.subtype === "AT_AlterColumnType" && column?.raw_default) {
      await evaluateTransactionValues(session, column.raw_default);
    }
    if (cmd.subtype !== "AT_AddColumn" || !column || existing.has(column.colname!)) continue;
    const constraint = column.constraints?.find((c) => c.Constraint.contype === "CONSTR_DEFAULT")?.Constraint;
    const expr = constraint?.raw_expr as AstNode | undefined;
    if (!expr || isConstant(expr) || (await callsVolatileFunction(session, expr))) continue;
    const typed = (arg: AstNode) => ({ TypeCast: { arg, typeName: cloneAst(column.typeName) } });
    const [[value]] = await session.internalQuery(deparseStatement(valueAsTextQuery(typed(cloneAst(expr)))));
    constraint!.raw_expr = typed(literal(value));
    cmds.push({ AlterTableCmd: { subtype: "AT_ColumnDefault", name: column.colname, def: expr } });
  }
  alter.cmds = cmds;
  return copy;
}

/**
 * `SELECT` of a value's text for the shards to read back as its type, evaluated once: a
 * timestamptz's in its JSON form (see jsonText; its own text may name the zone by an abbreviation
 * the shards would read as another zone's), anything else's as cast to text.
 */
function valueAsTextQuery(value: AstNode): AstNode {
  const asText = expressionFromTemplate(
    "CASE WHEN pg_catalog.pg_typeof(s.x) OPERATOR(pg_catalog.=) 'pg_catalog.timestamptz'::pg_catalog.regtype THEN NULL ELSE s.x::pg_catalog.text END",
  ) as { CaseExpr: { args: { CaseWhen: { result: AstNode } }[] } };
  asText.CaseExpr.args[0].CaseWhen.result = jsonText(expressionFromTemplate("s.x"));
  return {
    SelectStmt: {
      targetList: [{ ResTarget: { val: asText } }],
      fromClause: [
        {
          RangeSubselect: {
            subquery: {
              SelectStmt: {
                targetList: [{ ResTarget: { name: "x", val: value } }],
                limitOption: "LIMIT_OPTION_DEFAULT",
                op: "SETOP_NONE",
              },
            },
            alias: { aliasname: "s" },
          },
        },
      ],
      limitOption: "LIMIT_OPTION_DEFAULT",
      op: "SETOP_NONE",
    },
  };
}

/**
 * Refuses a volatile default that fills a reference table's existing rows (ADD COLUMN … DEFAULT
 * random()) and a volatile USING: each placement would compute its own values.
 */
async function refuseVolatileRewrite(session: Session, table: TableRecord, cmds: readonly AlterTableCmd[]) {
  for (const cmd of cmds) {
    const column = cmd.def?.ColumnDef as { raw_default?: AstNode; constraints?: { Constraint: AstNode }[] } | undefined;
    const expr =
      cmd.subtype === "AT_AlterColumnType"
        ? column?.raw_default
        : cmd.subtype === "AT_AddColumn"
          ? (column?.constraints?.find((c) => c.Constraint.contype === "CONSTR_DEFAULT")?.Constraint.raw_expr as
              AstNode | undefined)
          : undefined;
    if (!expr || !(await callsVolatileFunction(session, expr))) continue;
    throw new SqlError(
      "0A000",
      `a volatile ${cmd.subtype === "AT_AddColumn" ? "default" : "USING expression"} on reference table "${table.relname}" is not supported`,
      {
        detail:
          "Each placement of the table would compute its own values for the rows it has, and the copies would differ.",
        hint:
          cmd.subtype === "AT_AddColumn"
            ? "Add the column without the default, fill it with UPDATE from constants, then SET DEFAULT."
            : "Change the type with a USING expression that calls no volatile function.",
      },
    );
  }
}

/** Whether an expression calls a function that is volatile (under any of its signatures). */
async function callsVolatileFunction(session: Session, expr: AstNode): Promise<boolean> {
  const names = new Set<string>();
  walk(expr, (node) => {
    const call = node.FuncCall as { funcname?: unknown } | undefined;
    if (call) names.add(stringList(call.funcname).pop()!);
  });
  if (names.size === 0) return false;
  const [[volatile]] = await query(
    session,
    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_proc WHERE proname = ANY ($1::text[]) AND provolatile = 'v')",
    arrayLiteral([...names]),
  );
  return volatile === "t";
}

async function columnNames(session: Session, table: TableRecord): Promise<string[]> {
  const rows = await query(
    session,
    "SELECT attname FROM pg_catalog.pg_attribute WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped",
    String(table.relationId),
  );
  return rows.map((r) => r[0]!);
}

/** Every constraint the statement adds, with the column it is written on. */
function statementConstraints(cmds: readonly AlterTableCmd[]): StatementConstraint[] {
  const out: StatementConstraint[] = [];
  for (const cmd of cmds) {
    const constraint = cmd.def?.Constraint as ConstraintNode | undefined;
    if (cmd.subtype === "AT_AddConstraint" && constraint) out.push({ constraint, column: null });
    const column = cmd.def?.ColumnDef as
      { colname?: string; constraints?: { Constraint: ConstraintNode }[] } | undefined;
    if (cmd.subtype === "AT_AddColumn" && column) {
      for (const c of column.constraints ?? []) out.push({ constraint: c.Constraint, column: column.colname! });
    }
  }
  return out;
}

/** A constraint PostgreSQL names itself (USING INDEX takes the index's name). */
function isUnnamed(c: ConstraintNode): boolean {
  return keyTypes.has(c.contype) && !c.conname && !c.indexname;
}

function pktableKey(rv: { schemaname?: string; relname: string }): string {
  return `${rv.schemaname ?? ""}.${rv.relname}`;
}

/** Refuses forms that are not propagated and changes to the distribution column. */
function ensurePropagated(table: TableRecord, cmd: AlterTableCmd): void {
  if (!propagated.has(cmd.subtype)) {
    const form = formNames[cmd.subtype] ?? `ALTER TABLE form ${cmd.subtype.replace(/^AT_/, "")}`;
    throw unsupportedDdl(form, "Run it on each shard with run_command_on_workers, or undistribute the table first.");
  }
  if (table.method === "h" && cmd.name === table.partitionKey) {
    if (cmd.subtype === "AT_DropColumn") {
      throw new SqlError("0A000", "cannot drop the distribution column", {
        hint: "Undistribute the table with undistribute_table() first, or distribute it by another column.",
      });
    }
    if (cmd.subtype === "AT_AlterColumnType") {
      throw new SqlError("0A000", "cannot change the type of the distribution column", {
        detail: "Rows are placed by the hash of the column's type; a new type would move them to other shards.",
        hint: "Undistribute the table with undistribute_table(), change the column, and distribute it again.",
      });
    }
  }
  const column = cmd.def?.ColumnDef as
    | { typeName?: { names?: unknown[] }; constraints?: { Constraint: ConstraintNode & { raw_expr?: unknown } }[] }
    | undefined;
  if (cmd.subtype === "AT_AddColumn" && column) {
    const type = stringList(column.typeName?.names).pop() ?? "";
    const identity = column.constraints?.some((c) => c.Constraint.contype === "CONSTR_IDENTITY");
    const defaults = column.constraints
      ?.filter((c) => c.Constraint.contype === "CONSTR_DEFAULT")
      .map((c) => c.Constraint.raw_expr);
    if (serialTypes.has(type) || identity || defaults?.some(callsNextval)) refuseSequenceDefault();
  }
  if (cmd.subtype === "AT_ColumnDefault" && cmd.def && callsNextval(cmd.def)) refuseSequenceDefault();
}

function refuseSequenceDefault(): never {
  throw unsupportedDdl(
    "a column default from a sequence (serial, identity, nextval())",
    "Fill the column in with its values in the INSERT, or use a default that is computed from the row.",
  );
}

function callsNextval(expr: unknown): boolean {
  let found = false;
  walk(expr, (node) => {
    const call = node.FuncCall as { funcname?: unknown } | undefined;
    if (call && stringList(call.funcname).pop() === "nextval") found = true;
  });
  return found;
}

/** UNIQUE, PRIMARY KEY and EXCLUDE constraints on a distributed table must include its distribution column. */
function ensureKeyIncludesDistributionColumn(table: TableRecord, c: ConstraintNode, column: string | null): void {
  if (table.method !== "h" || c.indexname) return;
  let includes = true;
  if (c.contype === "CONSTR_PRIMARY" || c.contype === "CONSTR_UNIQUE") {
    const keys = c.keys?.length ? stringList(c.keys) : [column];
    includes = keys.includes(table.partitionKey);
  } else if (c.contype === "CONSTR_EXCLUSION") {
    includes = (c.exclusions ?? []).some(
      (e) =>
        e.List.items[0].IndexElem?.name === table.partitionKey && stringList(e.List.items[1].List.items).join() === "=",
    );
  }
  if (!includes) {
    throw new SqlError("0A000", `cannot create constraint on "${table.relname}"`, {
      detail: uniqueDetail,
      hint: `Add "${table.partitionKey}" to the constraint's columns.`,
    });
  }
}

/**
 * A foreign key holds on the shards only when each shard's rows find what they reference on the
 * same node: in the co-located shard of the same index (matched on the distribution columns), or
 * in a reference table's placement.
 */
async function ensureForeignKeyEnforceable(
  session: Session,
  source: TableRecord | null,
  target: TableRecord | null,
  fk: ConstraintNode,
  column: string | null,
  metadata: MetadataSnapshot,
): Promise<void> {
  const kind = (t: TableRecord | null) =>
    t === null ? "a local table" : t.method === "n" ? "a reference table" : "a distributed table";
  const refuse = (detail?: string, hint?: string) =>
    new SqlError("0A000", `cannot create foreign key constraint from ${kind(source)} to ${kind(target)}`, {
      detail,
      hint:
        hint ??
        "Distribute the referencing table co-located with the referenced one, or make the referenced table a reference table.",
    });
  if (source === null && target === null) return;
  if (source === null || target === null) throw refuse();
  if (source.method === "n") {
    if (target.method !== "n") throw refuse(undefined, "Make the referenced table a reference table too.");
    return;
  }
  const fkColumns = fk.fk_attrs?.length ? stringList(fk.fk_attrs) : [column!];
  const position = fkColumns.indexOf(source.partitionKey!);
  if (target.method === "h") {
    if (target.colocationId !== source.colocationId) {
      throw refuse(
        `"${source.relname}" and "${target.relname}" are not co-located.`,
        `Distribute "${source.relname}" with colocate_with => '${target.relname}', or make "${target.relname}" a reference table.`,
      );
    }
    const pkColumns = fk.pk_attrs?.length ? stringList(fk.pk_attrs) : await primaryKeyColumns(session, target);
    if (position < 0 || pkColumns[position] !== target.partitionKey) {
      throw refuse(
        `The foreign key must match "${source.relname}"."${source.partitionKey}" to "${target.relname}"."${target.partitionKey}".`,
        "Include both distribution columns in the foreign key, at the same position.",
      );
    }
  } else {
    const groups = new Set(target.shards[0]?.placements.map((p) => p.groupId));
    const missing = placements(source).find((p) => !groups.has(p.groupId));
    if (missing) {
      const node = metadata.nodes.find((n) => n.groupid === missing.groupId);
      throw refuse(`Reference table "${target.relname}" has no placement on ${node?.nodename}:${node?.nodeport}.`);
    }
  }
  const moves = (action: string | undefined) =>
    action === "n" || action === "d" || (target.method === "n" && action === "c");
  // A referenced key changed on a distributed table moves its row to another shard (a delete
  // there), which the referencing rows' cascade cannot follow.
  if (position >= 0 && (moves(fk.fk_del_action) || moves(fk.fk_upd_action) || fk.fk_upd_action === "c")) {
    throw refuse(
      "SET NULL, SET DEFAULT and ON UPDATE CASCADE would change the distribution column of the referencing rows.",
      "Use NO ACTION, RESTRICT or ON DELETE CASCADE.",
    );
  }
}

async function relationExists(session: Session, rv: { schemaname?: string; relname: string }): Promise<boolean> {
  const [[oid]] = await query(
    session,
    "SELECT pg_catalog.to_regclass($1)::oid",
    quoteQualified(rv.schemaname, rv.relname),
  );
  return oid !== null;
}

async function primaryKeyColumns(session: Session, table: TableRecord): Promise<string[]> {
  const rows = await query(
    session,
    `SELECT a.attname FROM pg_catalog.pg_constraint c
       CROSS JOIN LATERAL pg_catalog.unnest(c.conkey) WITH ORDINALITY AS k(attnum, n)
       JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
      WHERE c.conrelid = $1::oid AND c.contype = 'p' ORDER BY k.n`,
    String(table.relationId),
  );
  return rows.map((r) => r[0]!);
}

/** The table's constraints of the given kinds (pg_constraint.contype), in the order they were made. */
async function constraintDefinitions(
  session: Session,
  table: TableRecord,
  kinds: readonly string[] = ["c", "p", "u", "f", "x"],
): Promise<{ name: string; definition: string }[]> {
  const rows = await query(
    session,
    `SELECT conname, pg_catalog.pg_get_constraintdef(oid) FROM pg_catalog.pg_constraint
      WHERE conrelid = $1::oid AND contype = ANY ($2::"char"[]) ORDER BY oid`,
    String(table.relationId),
    arrayLiteral(kinds),
  );
  return rows.map((r) => ({ name: r[0]!, definition: r[1]! }));
}

/**
 * The ALTER TABLE command that adds a constraint as the catalog defines it; the table a foreign
 * key references goes into `referenced`.
 */
async function addConstraintCmd(
  session: Session,
  c: { name: string; definition: string },
  referenced: Map<string, TableRecord | null>,
): Promise<AstNode> {
  const [parsed] = parseSql(`ALTER TABLE t ADD CONSTRAINT ${quoteQualified(c.name)} ${c.definition}`);
  const cmd = (parsed.stmt.AlterTableStmt as { cmds: AstNode[] }).cmds[0];
  const fk = (cmd.AlterTableCmd as { def: { Constraint: ConstraintNode } }).def.Constraint;
  if (fk.pktable && !referenced.has(pktableKey(fk.pktable))) {
    referenced.set(pktableKey(fk.pktable), await resolveTable(session, relationRef(fk.pktable)));
  }
  return cmd;
}

/**
 * The statements that give a reference table's placement on another worker the table's foreign
 * keys, which all reference reference tables (whose placements must be there first).
 */
export async function referenceForeignKeys(session: Session, table: TableRecord): Promise<string[]> {
  const referenced = new Map<string, TableRecord | null>();
  const statements: string[] = [];
  for (const c of await constraintDefinitions(session, table, ["f"])) {
    const cmd = await addConstraintCmd(session, c, referenced);
    const stmt = { AlterTableStmt: { relation: {}, cmds: [cmd], objtype: "OBJECT_TABLE" } };
    const shard = { shardId: table.shards[0].shardId, index: 0 };
    statements.push(deparseStatement(shardAlter(stmt, table, shard, [], referenced)));
  }
  return statements;
}

/**
 * The statement for one shard: the shard's name, constraint and index names suffixed with its id,
 * referenced tables replaced by the shard on the same node, and the constraints PostgreSQL named
 * (`added`) in place of the unnamed ones.
 */
function shardAlter(
  stmt: AstNode,
  table: TableRecord,
  p: { shardId: number; index: number },
  added: readonly AstNode[],
  referenced: ReadonlyMap<string, TableRecord | null>,
): AstNode {
  const copy = cloneAst(stmt);
  const alter = copy.AlterTableStmt as { relation: AstNode; cmds: { AlterTableCmd: AlterTableCmd }[] };
  alter.relation = { ...alter.relation, ...shardRangeVar(table, table.relname, p.shardId) };
  alter.cmds = alter.cmds.filter(
    (c) =>
      !(c.AlterTableCmd.subtype === "AT_AddConstraint" && isUnnamed(c.AlterTableCmd.def!.Constraint as ConstraintNode)),
  );
  alter.cmds.push(...(cloneAst(added) as { AlterTableCmd: AlterTableCmd }[]));
  for (const { AlterTableCmd: cmd } of alter.cmds) {
    if (cmd.subtype === "AT_DropConstraint" || cmd.subtype === "AT_ValidateConstraint") {
      cmd.name = shardRelname(cmd.name!, p.shardId);
    }
    const column = cmd.def?.ColumnDef as { constraints?: { Constraint: ConstraintNode }[] } | undefined;
    if (cmd.subtype === "AT_AddColumn" && column?.constraints) column.constraints = withoutUnnamed(column.constraints);
  }
  walk(alter.cmds, (node) => {
    const c = node.Constraint as ConstraintNode | undefined;
    if (!c) return;
    if (c.indexname && !c.conname) c.conname = c.indexname;
    if (c.conname) c.conname = shardRelname(c.conname, p.shardId);
    if (c.indexname) c.indexname = shardRelname(c.indexname, p.shardId);
    if (c.pktable) {
      const target = referenced.get(pktableKey(c.pktable))!;
      const shard = target.method === "n" ? target.shards[0] : target.shards[p.index];
      c.pktable = { ...c.pktable, ...shardRangeVar(target, target.relname, shard.shardId) };
    }
  });
  return copy;
}

/** Column constraints without the unnamed ones (added by name instead) and their DEFERRABLE clauses. */
function withoutUnnamed(constraints: readonly { Constraint: ConstraintNode }[]): { Constraint: ConstraintNode }[] {
  let dropping = false;
  return constraints.filter(({ Constraint: c }) => {
    if (c.contype.startsWith("CONSTR_ATTR_")) return !dropping;
    dropping = isUnnamed(c);
    return !dropping;
  });
}

/**
 * ALTER TABLE … RENAME (table, column, constraint) and ALTER INDEX … RENAME. A renamed table's
 * shards become `<newname>_<shardid>`; a renamed distribution column is renamed in the metadata.
 */
export async function planRename(
  session: Session,
  stmt: AstNode,
  indexTable: (rv: AstNode) => Promise<{ table: TableRecord; name: string } | null>,
): Promise<DdlPlan | null> {
  const rename = stmt.RenameStmt as {
    renameType: string;
    relation?: { schemaname?: string; relname: string };
    subname?: string;
    newname: string;
  };
  if (!rename.relation) return null;
  let table: TableRecord | null = null;
  let indexName = "";
  // ALTER INDEX and ALTER TABLE … RENAME TO rename whichever relation they name, as in PostgreSQL.
  let renameType = rename.renameType;
  if (renameType === "OBJECT_INDEX" || renameType === "OBJECT_TABLE") {
    const found = await indexTable(rename.relation as AstNode);
    if (found) {
      table = found.table;
      indexName = found.name;
      renameType = "OBJECT_INDEX";
    } else {
      table = await resolveTable(session, relationRef(rename.relation));
      renameType = "OBJECT_TABLE";
    }
  } else if (["OBJECT_COLUMN", "OBJECT_TABCONSTRAINT"].includes(renameType)) {
    table = await resolveTable(session, relationRef(rename.relation));
  } else {
    return null; // triggers, policies and rules belong to the shell alone
  }
  if (!table) return null;
  const renamed = table;
  const statements = (): ShardStatement[] =>
    placements(renamed).map((p) => {
      const copy = cloneAst(stmt);
      const r = copy.RenameStmt as { relation: AstNode; subname?: string; newname: string };
      r.relation = shardRangeVar(renamed, renameType === "OBJECT_INDEX" ? indexName : renamed.relname, p.shardId);
      if (renameType !== "OBJECT_COLUMN") r.newname = shardRelname(r.newname, p.shardId);
      if (renameType === "OBJECT_TABCONSTRAINT") r.subname = shardRelname(r.subname!, p.shardId);
      return { groupId: p.groupId, sql: deparseStatement(copy), reference: referenceShards([renamed]) };
    });
  const renamesKey = rename.renameType === "OBJECT_COLUMN" && rename.subname === renamed.partitionKey;
  return {
    shardStatements: async () => statements(),
    finish: renamesKey
      ? async () => {
          await query(
            session,
            "SELECT pg_catalog.canopy_rename_distribution_column($1::oid, $2)",
            String(renamed.relationId),
            rename.newname,
          );
        }
      : undefined,
  };
}

/** ALTER TABLE … SET SCHEMA: the shards move to the schema of the same name on their workers. */
export async function planSetSchema(session: Session, stmt: AstNode): Promise<DdlPlan | null> {
  const move = stmt.AlterObjectSchemaStmt as {
    objectType: string;
    relation?: { schemaname?: string; relname: string };
    newschema: string;
  };
  if (move.objectType !== "OBJECT_TABLE" || !move.relation) return null;
  const table = await resolveTable(session, relationRef(move.relation));
  if (!table) return null;
  const createSchema = `CREATE SCHEMA IF NOT EXISTS ${quoteQualified(move.newschema)}`;
  const reference = referenceShards([table]);
  return {
    shardStatements: async () => [
      ...[...new Set(placements(table).map((p) => p.groupId))].map((groupId) => ({
        groupId,
        sql: createSchema,
        reference,
      })),
      ...placements(table).map((p) => {
        const copy = cloneAst(stmt);
        (copy.AlterObjectSchemaStmt as { relation: AstNode }).relation = shardRangeVar(table, table.relname, p.shardId);
        return { groupId: p.groupId, sql: deparseStatement(copy), reference };
      }),
    ],
  };
}
