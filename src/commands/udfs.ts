// The registry of Canopy's UDFs: their parameters, result shapes and implementations. The SQL
// stubs in metadata/schema.ts carry the same signatures for the catalog.
import type { Session } from "../server/session.js";
import * as nodes from "../operations/node_management.js";
import * as distribute from "./distribute.js";
import { memoryViews } from "../metadata/schema.js";
import { resetStatStatements, statStatementsRows } from "../executor/stat_statements.js";
import { statActivityRows } from "../server/activity.js";
import * as signals from "./backend_signals.js";
import { relationSize, shardRows, sizeArguments, tableRows } from "./relation_size.js";
import { expressionFromTemplate, stringList, typeNameNode, walk, type AstNode } from "../sql/ast.js";
import { quoteLiteral } from "../sql/quote.js";
import { SqlError } from "../errors.js";

/** What a UDF returns: one value of a type, or a set of rows of a composite type. */
export type UdfResult =
  | { readonly kind: "scalar"; readonly type: string; readonly value: string | null }
  | { readonly kind: "set"; readonly type: string; readonly rows: readonly (readonly (string | null)[])[] };

export interface UdfParameter {
  readonly name: string;
  readonly type: string;
  readonly defaultValue?: string | null;
}

export interface UdfDefinition {
  readonly name: string;
  readonly parameters: readonly UdfParameter[];
  readonly run: (session: Session, args: readonly (string | null)[]) => Promise<UdfResult>;
  /**
   * A PostgreSQL function Canopy takes over for its sessions: called with arguments that refer to
   * the query's rows (which Canopy cannot evaluate first), it runs in the coordinator database as it is.
   */
  readonly builtin?: boolean;
  /** For a view over the UDF's rows: the arguments of the call that reads the view in a statement. */
  readonly viewArguments?: (stmt: AstNode, range: { relname?: string; alias?: AstNode }) => AstNode[];
}

const nodeParams: UdfParameter[] = [
  { name: "nodename", type: "text" },
  { name: "nodeport", type: "integer" },
];

/** Whether canopy_shards / canopy_tables ask the workers for sizes (false: the sizes are NULL). */
const sizesParameter: UdfParameter = { name: "include_sizes", type: "boolean", defaultValue: "true" };

const definitions: UdfDefinition[] = [
  {
    name: "canopy_add_node",
    parameters: [
      ...nodeParams,
      { name: "groupid", type: "integer", defaultValue: "-1" },
      { name: "noderole", type: "pg_catalog.noderole", defaultValue: "primary" },
      { name: "nodecluster", type: "name", defaultValue: "default" },
    ],
    run: (s, a) => nodes.addNode(s, a),
  },
  { name: "master_add_node", parameters: nodeParams, run: (s, a) => nodes.addNode(s, a) },
  { name: "canopy_remove_node", parameters: nodeParams, run: (s, a) => nodes.removeNode(s, a) },
  { name: "master_remove_node", parameters: nodeParams, run: (s, a) => nodes.removeNode(s, a) },
  {
    name: "canopy_disable_node",
    parameters: [...nodeParams, { name: "synchronous", type: "boolean", defaultValue: "false" }],
    run: (s, a) => nodes.disableNode(s, a),
  },
  { name: "canopy_activate_node", parameters: nodeParams, run: (s, a) => nodes.activateNode(s, a) },
  { name: "master_get_active_worker_nodes", parameters: [], run: (s) => nodes.activeWorkerNodes(s) },
  { name: "canopy_get_active_worker_nodes", parameters: [], run: (s) => nodes.activeWorkerNodes(s) },
  {
    name: "run_command_on_workers",
    parameters: [
      { name: "command", type: "text" },
      { name: "parallel", type: "boolean", defaultValue: "true" },
    ],
    run: (s, a) => nodes.runCommandOnWorkers(s, a),
  },
  {
    name: "canopy_check_connection_to_node",
    parameters: [
      { name: "nodename", type: "text" },
      { name: "nodeport", type: "integer", defaultValue: "5432" },
    ],
    run: (s, a) => nodes.checkConnectionToNode(s, a),
  },
  {
    name: "create_distributed_table",
    parameters: [
      { name: "table_name", type: "regclass" },
      { name: "distribution_column", type: "text" },
      { name: "distribution_type", type: "text", defaultValue: "hash" },
      { name: "colocate_with", type: "text", defaultValue: "default" },
      { name: "shard_count", type: "integer", defaultValue: null },
    ],
    run: (s, a) => distribute.createDistributedTable(s, a),
  },
  {
    name: "create_reference_table",
    parameters: [{ name: "table_name", type: "regclass" }],
    run: (s, a) => distribute.createReferenceTable(s, a),
  },
  {
    name: "undistribute_table",
    parameters: [{ name: "table_name", type: "regclass" }],
    run: (s, a) => distribute.undistributeTable(s, a),
  },
  {
    name: "get_shard_id_for_distribution_column",
    parameters: [
      { name: "table_name", type: "regclass" },
      { name: "distribution_value", type: "text", defaultValue: null },
    ],
    run: (s, a) => distribute.getShardIdForDistributionColumn(s, a),
  },
  {
    name: "recover_prepared_transactions",
    parameters: [],
    run: async (s) => ({
      kind: "scalar",
      type: "integer",
      value: String(await s.coordinator.recoverPreparedTransactions()),
    }),
  },
  ...(["pg_total_relation_size", "pg_relation_size", "pg_table_size"] as const).map((fn) => ({
    name: fn.replace(/^pg_/, "canopy_"),
    parameters: [{ name: "logicalrelid", type: "regclass" }],
    run: relationSize(fn),
  })),
  {
    name: "canopy_shards",
    parameters: [sizesParameter],
    run: shardRows,
    viewArguments: sizeArguments("shard_size"),
  },
  {
    name: "canopy_tables",
    parameters: [sizesParameter],
    run: tableRows,
    viewArguments: sizeArguments("table_size"),
  },
  { name: "canopy_stat_statements", parameters: [], run: (s) => statStatementsRows(s) },
  { name: "canopy_stat_statements_reset", parameters: [], run: (s) => resetStatStatements(s) },
  { name: "canopy_stat_activity", parameters: [], run: (s) => statActivityRows(s) },
  { name: "pg_backend_pid", parameters: [], run: (s) => signals.backendPid(s), builtin: true },
  {
    name: "pg_cancel_backend",
    parameters: [{ name: "pid", type: "integer" }],
    run: (s, a) => signals.cancelBackend(s, a),
    builtin: true,
  },
  {
    name: "pg_terminate_backend",
    parameters: [
      { name: "pid", type: "integer" },
      { name: "timeout", type: "bigint", defaultValue: "0" },
    ],
    run: (s, a) => signals.terminateBackend(s, a),
    builtin: true,
  },
];

const byName = new Map(definitions.map((d) => [d.name, d]));

/** Finds the UDF a (possibly pg_catalog-qualified) function name refers to. */
export function findUdf(name: readonly string[]): UdfDefinition | undefined {
  if (name.length === 1) return byName.get(name[0]);
  if (name.length === 2 && name[0] === "pg_catalog") return byName.get(name[1]);
  return undefined;
}

/**
 * The view whose rows Canopy computes (canopy_stat_statements, canopy_shards, …) a RangeVar names, or null.
 * Such a view is read through the UDF of the same name.
 */
export function findMemoryView(rangeVar: { schemaname?: string; relname?: string }): UdfDefinition | undefined {
  if (!rangeVar.relname || !memoryViews.has(rangeVar.relname)) return undefined;
  return findUdf(rangeVar.schemaname ? [rangeVar.schemaname, rangeVar.relname] : [rangeVar.relname]);
}

/**
 * A call's arguments in the order of the UDF's parameters, each cast to its parameter's type (one
 * left out: its default), matched by position and by name as PostgreSQL matches them.
 */
export function typedArguments(def: UdfDefinition, call: AstNode): AstNode[] {
  const given = (call.args as AstNode[] | undefined) ?? [];
  if (call.agg_star || call.agg_distinct || call.over || call.agg_order || call.agg_filter) {
    throw new SqlError("0A000", `${def.name}() cannot be used as an aggregate or window function`);
  }
  const slots: (AstNode | undefined)[] = new Array(def.parameters.length).fill(undefined);
  let positional = 0;
  for (const arg of given) {
    const named = arg.NamedArgExpr as { name: string; arg: AstNode } | undefined;
    const index = named ? def.parameters.findIndex((p) => p.name === named.name) : positional++;
    if (index < 0 || index >= def.parameters.length || slots[index]) throw noSuchFunction(def, given.length);
    slots[index] = named ? named.arg : arg;
  }
  const missing = slots.findIndex((s, i) => s === undefined && def.parameters[i].defaultValue === undefined);
  if (missing >= 0) throw noSuchFunction(def, given.length);
  return slots.map((slot, i) => ({
    TypeCast: {
      arg: slot ?? expressionFromTemplate(quoteLiteral(def.parameters[i].defaultValue ?? null)),
      typeName: typeNameNode(def.parameters[i].type),
    },
  }));
}

function noSuchFunction(def: UdfDefinition, argCount: number): SqlError {
  return new SqlError("42883", `function ${def.name} with ${argCount} argument(s) does not exist`, {
    hint: `${def.name}(${def.parameters.map((p) => `${p.name} ${p.type}`).join(", ")})`,
  });
}

/** The UDF Canopy runs for a FuncCall node before the statement, or undefined when it cannot. */
export function interceptedUdf(call: AstNode): UdfDefinition | undefined {
  const def = findUdf(stringList(call.funcname));
  return def?.builtin && refersToRows(call) ? undefined : def;
}

/**
 * The function a FuncCall node calls when it is pg_cancel_backend or pg_terminate_backend of values
 * from the query's rows, which Canopy runs row by row (commands/backend_signals.ts).
 */
export function rowSignalUdf(call: AstNode): UdfDefinition | undefined {
  const def = findUdf(stringList(call.funcname));
  return def?.builtin && refersToRows(call) ? def : undefined;
}

function refersToRows(call: AstNode): boolean {
  let refers = false;
  walk({ args: call.args }, (node) => {
    if (node.ColumnRef) refers = true;
  });
  return refers;
}
