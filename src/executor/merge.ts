// MERGE over distributed tables. Into a table of the coordinator database it takes the fallback:
// the rows of the distributed tables it reads are fetched and PostgreSQL runs the MERGE. Into a
// distributed table it runs shard by shard when every shard can decide alone, as in Citus: the
// source is a table co-located with the target, joined on both distribution columns, no action
// changes the target's distribution column, and an INSERT takes it from the source's. A source row
// then meets, on its own shard, every target row it can match, and a row it inserts belongs there.
import { SqlError } from "../errors.js";
import type { AstNode } from "../sql/ast.js";
import { cloneAst, stringList } from "../sql/ast.js";
import { deparseStatement } from "../sql/parse.js";
import { callsSequence, evaluateTransactionValues } from "./defaults.js";
import { nodeForGroup } from "../commands/distribute.js";
import { placementsOf, renameToShard, renumberParams, runModifyTasks } from "./distributed.js";
import { collectRelationRefs, type DistributedRef } from "../planner/analyze.js";
import type { Task } from "./explain.js";
import type { MetadataSnapshot } from "../metadata/cache.js";
import type { Session } from "../server/session.js";
import type { InterceptedStatement, Invocation } from "../commands/intercept.js";

interface WhenClause {
  matchKind: string;
  commandType: string;
  targetList?: { ResTarget: { name: string } }[];
  values?: AstNode[];
}

/** Runs a MERGE into a distributed table on each shard, or refuses it (0A000) naming why it cannot. */
export async function mergeIntoDistributed(
  session: Session,
  st: InterceptedStatement,
  stmt: AstNode,
  dist: readonly DistributedRef[],
  target: DistributedRef,
  hasLocal: boolean,
  metadata: MetadataSnapshot,
  inv: Invocation,
  inBlock: boolean,
): Promise<void> {
  const merge = stmt.MergeStmt as { sourceRelation: AstNode; joinCondition: AstNode; mergeWhenClauses: AstNode[] };
  const source = dist.find((r) => r.rangeVar === (merge.sourceRelation.RangeVar as AstNode | undefined));
  const table = target.table;
  const refuse = (why: string) =>
    new SqlError("0A000", `MERGE into distributed table "${target.relname}" is not supported: ${why}`, {
      hint: "Merge from a table co-located with the target, joined on both distribution columns, or run the MERGE's actions as INSERT … ON CONFLICT, UPDATE and DELETE.",
    });
  if (table.method !== "h") throw refuse("the target is a reference table");
  if (!source || source.table.method !== "h" || source.table.colocationId !== table.colocationId) {
    throw refuse("the source is not a table co-located with it");
  }
  if (hasLocal || dist.length > 2) throw refuse("the statement reads other tables");
  const key = table.partitionKey!;
  const sourceKey = source.table.partitionKey!;
  if (!conjuncts(merge.joinCondition).some((c) => joinsKeys(c, target, key, source, sourceKey))) {
    throw refuse(`its join condition does not equate ${target.refName}.${key} with ${source.refName}.${sourceKey}`);
  }
  const coordinatorDefaults = (await session.tableColumns(table.relationId)).filter((c) => c.coordinatorDefault);
  for (const node of merge.mergeWhenClauses) {
    const when = node.MergeWhenClause as WhenClause;
    const names = (when.targetList ?? []).map((t) => t.ResTarget.name);
    if (when.commandType === "CMD_UPDATE" && names.includes(key)) {
      throw refuse("an UPDATE action changes the distribution column");
    }
    if (when.commandType !== "CMD_INSERT") continue;
    const value = when.values?.[names.indexOf(key)];
    if (!value || !isColumn(value, source, sourceKey)) {
      throw refuse(`an INSERT action does not take ${key} from ${source.refName}.${sourceKey}`);
    }
    const defaulted = coordinatorDefaults.find((c) => !names.includes(c.name));
    if (defaulted)
      throw refuse(`an INSERT action leaves out "${defaulted.name}", whose default the coordinator evaluates`);
  }
  if (callsSequence(stmt)) {
    throw refuse("it calls a sequence function, whose sequence lives on the coordinator");
  }
  await evaluateTransactionValues(session, stmt);
  const originals = collectRelationRefs(stmt);
  const tasks: Task[] = [];
  table.shards.forEach((shard, index) => {
    const copy = cloneAst(stmt);
    collectRelationRefs(copy).forEach((ref, i) => {
      const d = dist.find((r) => r.rangeVar === originals[i].rangeVar)!;
      renameToShard({ ...ref, table: d.table }, d.table.shards[index].shardId);
    });
    const params = renumberParams(copy, inv);
    const sql = deparseStatement(copy);
    for (const group of placementsOf(table, index))
      tasks.push({ node: nodeForGroup(metadata.nodes, group), sql, params });
  });
  await runModifyTasks(session, st, tasks, inv, inBlock, "MERGE", [], null);
}

function conjuncts(expr: AstNode): AstNode[] {
  const and = expr.BoolExpr as { boolop: string; args: AstNode[] } | undefined;
  return and?.boolop === "AND_EXPR" ? and.args.flatMap(conjuncts) : [expr];
}

function joinsKeys(
  expr: AstNode,
  target: DistributedRef,
  key: string,
  source: DistributedRef,
  sourceKey: string,
): boolean {
  const eq = expr.A_Expr as { kind: string; name: AstNode[]; lexpr: AstNode; rexpr: AstNode } | undefined;
  if (eq?.kind !== "AEXPR_OP" || stringList(eq.name).join(".") !== "=") return false;
  const pair = (a: AstNode, b: AstNode) => isColumn(a, target, key, true) && isColumn(b, source, sourceKey, true);
  return pair(eq.lexpr, eq.rexpr) || pair(eq.rexpr, eq.lexpr);
}

/**
 * Whether an expression is the reference's column: qualified by its name, or (where only the
 * source's columns are visible, in an INSERT action's values) unqualified.
 */
function isColumn(expr: AstNode, ref: DistributedRef, column: string, qualified = false): boolean {
  const fields = stringList((expr.ColumnRef as { fields?: unknown } | undefined)?.fields);
  if (fields.length === 2) return fields[0] === ref.refName && fields[1] === column;
  return !qualified && fields.length === 1 && fields[0] === column;
}
