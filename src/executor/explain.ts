// EXPLAIN [ANALYZE] of statements on distributed and reference tables, in the shape Citus shows.
//
// The executors plan the statement exactly as for running it, but where they would run their
// tasks (node + SQL) they hand them to the invocation's Explain instead:
// - `top`: the tasks' rows are the statement's result (router, pushdown without a combine step,
//   INSERT/UPDATE/DELETE): a `Custom Scan (Canopy Adaptive)` with `Task Count`, `Tasks Shown` and,
//   for each shown task, its node and the worker's own EXPLAIN of the task with the same options.
// - `rows` + `coordinator`: the coordinator database combines rows fetched by tasks (partial
//   aggregation, merge sorting, the fallback): the coordinator database explains its statement,
//   and each scan of fetched rows in that plan (a function scan over a JSON parameter) is shown as
//   the Custom Scan of the tasks that fetch them.
// - `subplan`: a subquery run first (recursive planning) is shown as a `Distributed Subplan` with
//   its own plan; so are rows fetched for a statement whose plan does not scan them itself (they
//   travel to the workers).
// EXPLAIN ANALYZE runs every task wrapped in EXPLAIN ANALYZE on its worker, with the run options
// the executor gives, so a modification takes effect (in the client's transaction) as in
// PostgreSQL; rows a combine step needs are fetched by running the tasks themselves, and a
// subplan whose rows the statement needs runs again for them.
import { BackendCode, MessageWriter, write } from "../protocol/messages.js";
import { SqlError } from "../errors.js";
import type { NodeRecord } from "../metadata/cache.js";
import { cloneAst, type AstNode } from "../sql/ast.js";
import { deparseStatement, parseSql } from "../sql/parse.js";
import type { Session } from "../server/session.js";
import { textRowDescription, type Invocation, type InterceptedStatement } from "../commands/intercept.js";
import type { RunOptions } from "./remote.js";
import { readsDistributedTables, runDistributed, runOnCoordinator, settleAll } from "./distributed.js";

/** One statement for one node, as the executors run them. */
export interface Task {
  readonly node: NodeRecord;
  readonly sql: string;
  readonly params: readonly (string | Buffer | null)[];
}

/** A statement's parameter values, formats and types for the coordinator database. */
export interface Binding {
  readonly params: readonly (Buffer | null)[];
  readonly formats: readonly number[];
  readonly types: readonly number[];
}

/** What a Custom Scan shows: how many tasks, the plans of the shown ones, what ANALYZE measured. */
interface Scan {
  readonly executor: string;
  readonly taskCount: number;
  readonly shown: readonly { node: NodeRecord; plan: readonly string[] }[];
  readonly actual: { rows: string; startupMs: number; totalMs: number } | null;
}

/** The relation alias of the function scan reading data parameter `n` on the coordinator. */
export function rowsAlias(paramNumber: number): string {
  return `canopy_rows_${paramNumber}`;
}

const rowsScanLine =
  /^(\s*(?:->  )?)Function Scan on (?:pg_catalog\.)?json_array_elements canopy_rows_(\d+)(?:_\d+)?(.*)$/;
const JSON_OID = 114;
const actualRows = /\(actual (?:time=\S+ )?rows=([\d.]+) loops=/;

/** Collects the description of one statement's execution (see the module comment). */
export class Explain {
  readonly analyze: boolean;
  private readonly costs: boolean;
  private readonly timing: boolean;
  private readonly summary: boolean;
  /** The client's options, FORMAT aside, for the workers' and the coordinator's EXPLAIN. */
  private readonly options: AstNode[];
  private readonly rowScans = new Map<number, Scan>();
  /** The data parameters whose scans the coordinator's plan shows. */
  private readonly scannedRows = new Set<number>();
  /** Subqueries run first, each as its plan's lines, or the data parameter of rows fetched first. */
  private readonly subplans: (string[] | number)[] = [];
  private root: { kind: "scan"; scan: Scan } | { kind: "coordinator" | "pull"; lines: string[] } | null = null;
  private executionStartMs: number | null = null;

  constructor(
    options: readonly AstNode[],
    private readonly allTasks: boolean,
    private readonly database: string,
    private readonly inBlock: boolean,
  ) {
    const flags = new Map<string, boolean>();
    this.options = [];
    for (const o of options) {
      const def = o.DefElem as { defname: string; arg?: AstNode };
      const name = def.defname.toLowerCase();
      if (name === "format") {
        const format = String((def.arg?.String as { sval?: string } | undefined)?.sval ?? "").toLowerCase();
        if (format === "text") continue;
        throw new SqlError(
          "0A000",
          `EXPLAIN (FORMAT ${format.toUpperCase()}) of distributed queries is not supported`,
          {
            hint: "Use FORMAT TEXT.",
          },
        );
      }
      if (name === "generic_plan") {
        throw new SqlError("0A000", "EXPLAIN (GENERIC_PLAN) of distributed queries is not supported", {
          hint: "Explain the statement with its parameter values.",
        });
      }
      flags.set(name, booleanOption(name, def.arg));
      this.options.push(cloneAst(o));
    }
    this.analyze = flags.get("analyze") ?? false;
    this.costs = flags.get("costs") ?? true;
    this.timing = flags.get("timing") ?? this.analyze;
    this.summary = flags.get("summary") ?? this.analyze;
  }

  /** The tasks whose rows are the statement's result; with ANALYZE, runs them all. */
  async top(session: Session, tasks: readonly Task[], opts: RunOptions): Promise<void> {
    this.root = { kind: "scan", scan: await this.scan(session, tasks, opts, this.analyze) };
  }

  /** The tasks fetching the rows of data parameter `paramNumber` (run by the caller when analyzing). */
  async rows(session: Session, paramNumber: number, tasks: readonly Task[], opts: RunOptions): Promise<void> {
    this.rowScans.set(paramNumber, await this.scan(session, tasks, opts, false));
    this.subplans.push(paramNumber);
  }

  /** Rows fetched first by a query of the coordinator database (from a local table). */
  async localRows(session: Session, query: AstNode): Promise<void> {
    this.subplans.push(await this.coordinatorPlan(session, query, { params: [], formats: [], types: [] }));
  }

  /** A description of a subquery's statement, for showing it as a subplan. */
  nested(): Explain {
    return new Explain(this.options, this.allTasks, this.database, this.inBlock);
  }

  /** A subquery run first, described by `nested`. */
  subplan(nested: Explain): void {
    this.executionStartMs ??= nested.executionStartMs;
    this.subplans.push(nested.planLines());
  }

  /**
   * The coordinator's statement over the fetched rows, explained (ANALYZE: run) in the coordinator
   * database; `insertSelect`: the SELECT of an INSERT … SELECT whose rows go on to the shards.
   */
  async coordinator(session: Session, stmt: AstNode, binding: Binding, insertSelect = false): Promise<void> {
    const lines = await this.coordinatorPlan(session, stmt, binding);
    this.root = { kind: insertSelect ? "pull" : "coordinator", lines };
  }

  /** The lines of the plan, with the summary PostgreSQL prints after it. */
  lines(statementStartMs: number): string[] {
    const out = this.planLines();
    if (this.summary) {
      const now = performance.now();
      const started = this.executionStartMs ?? now;
      out.push(`Planning Time: ${(started - statementStartMs).toFixed(3)} ms`);
      if (this.analyze) out.push(`Execution Time: ${(now - started).toFixed(3)} ms`);
    }
    return out;
  }

  /**
   * The lines of the plan. Subplans come under the top Custom Scan, as Citus shows them, or before
   * a plan of the coordinator's.
   */
  private planLines(): string[] {
    const root = this.root;
    if (!root) throw new SqlError("XX000", "the executor described no plan for EXPLAIN");
    const subplans = this.subplans.flatMap((s) => {
      if (Array.isArray(s)) return [s];
      const scan = this.rowScans.get(s)!;
      return this.scannedRows.has(s) ? [] : [[`Custom Scan (${scan.executor})`, ...scanBody(scan, 0, this.database)]];
    });
    const subplanLines = (column: number) =>
      subplans.flatMap((lines, i) => [
        `${" ".repeat(column)}${column > 0 ? "->  " : ""}Distributed Subplan ${i + 1}`,
        ...lines.map((l, j) => `${" ".repeat(column + (column > 0 ? 6 : 2))}${j === 0 ? "->  " : "    "}${l}`),
      ]);
    if (root.kind === "scan") {
      return [
        `Custom Scan (${root.scan.executor})${this.costsText()}${this.actualText(root.scan)}`,
        ...subplanLines(2),
        ...scanBody(root.scan, 0, this.database),
      ];
    }
    if (root.kind === "coordinator") return [...subplanLines(0), ...root.lines];
    return [
      ...subplanLines(0),
      `Custom Scan (Canopy INSERT ... SELECT)${this.costsText()}`,
      "  INSERT/SELECT method: pull to coordinator",
      ...root.lines.map((l, i) => (i === 0 ? `  ->  ${l}` : `      ${l}`)),
    ];
  }

  private costsText(): string {
    return this.costs ? "  (cost=0.00..0.00 rows=0 width=0)" : "";
  }

  private actualText(scan: Scan): string {
    const a = scan.actual;
    if (!a) return "";
    const time = this.timing ? `time=${a.startupMs.toFixed(3)}..${a.totalMs.toFixed(3)} ` : "";
    return ` (actual ${time}rows=${a.rows} loops=1)`;
  }

  /** Explains the shown tasks on their nodes; `runAll`: explains (and so runs) every task. */
  private async scan(session: Session, tasks: readonly Task[], opts: RunOptions, runAll: boolean): Promise<Scan> {
    const shown = this.allTasks ? tasks : tasks.slice(0, 1);
    const startMs = performance.now();
    this.executionStartMs ??= startMs;
    const readOpts: RunOptions = { transactional: this.inBlock, write: false };
    const finishedMs: number[] = [];
    const plans = await runByNode(runAll ? tasks : shown, async (task) => {
      const plan = await this.explainTask(session, task, runAll ? opts : readOpts);
      finishedMs.push(performance.now() - startMs);
      return plan;
    });
    const counts = plans.map((p) => actualRows.exec(p[0] ?? "")?.[1] ?? "0");
    // Newer servers print row counts with two decimals; the Custom Scan follows its workers.
    const total = counts.reduce((n, c) => n + Number(c), 0);
    const actual = runAll
      ? {
          rows: counts.some((c) => c.includes(".")) ? total.toFixed(2) : String(total),
          startupMs: Math.min(...finishedMs, performance.now() - startMs),
          totalMs: performance.now() - startMs,
        }
      : null;
    return {
      executor: "Canopy Adaptive",
      taskCount: tasks.length,
      shown: shown.map((t, i) => ({ node: t.node, plan: plans[i] })),
      actual,
    };
  }

  /** The worker's EXPLAIN of one task, with the client's options. */
  private async explainTask(session: Session, task: Task, opts: RunOptions): Promise<string[]> {
    const [query] = parseSql(task.sql);
    const sql = deparseStatement({ ExplainStmt: { query: query.stmt, options: this.options } });
    const result = await session.remote.run(task.node, sql, task.params, opts);
    return result.rows.map((r) => r[0] ?? "");
  }

  /**
   * The coordinator database's EXPLAIN of a statement over fetched rows, each scan of them
   * replaced by the Custom Scan of its tasks, without the summary lines (the statement's own
   * summary comes last).
   */
  private async coordinatorPlan(session: Session, stmt: AstNode, binding: Binding): Promise<string[]> {
    this.executionStartMs ??= performance.now();
    const sql = deparseStatement({ ExplainStmt: { query: stmt, options: this.options } });
    // ANALYZE runs the statement: asked to stop while its rows were read, it does not begin.
    session.interrupts.check();
    const rows = await session.internalQuery(sql, binding.params, binding.formats, binding.types);
    const out: string[] = [];
    let skipFrom = -1;
    let inPlanningBlock = false;
    // VERBOSE prints the fetched rows as the constant they are bound as: they show as parameters.
    const text = binding.params.reduce(
      (t, p, i) =>
        p && binding.types[i] === JSON_OID
          ? t.split(`'${p.toString("utf8").replace(/'/g, "''")}'`).join(`$${i + 1}`)
          : t,
      rows.map((r) => r[0] ?? "").join("\n"),
    );
    for (const line of text.split("\n")) {
      const indent = line.length - line.trimStart().length;
      if (inPlanningBlock && indent > 0) continue;
      inPlanningBlock = line === "Planning:";
      if (inPlanningBlock || /^(Planning|Execution) Time: /.test(line)) continue;
      // The subqueries of the scan's conditions stay.
      if (skipFrom >= 0 && indent >= skipFrom && !/^(SubPlan|InitPlan) /.test(line.trimStart())) continue;
      skipFrom = -1;
      const m = rowsScanLine.exec(line);
      const scan = m ? this.rowScans.get(Number(m[2])) : undefined;
      if (!m || !scan) {
        out.push(line);
        continue;
      }
      this.scannedRows.add(Number(m[2]));
      // The scan's details (Output, Function Call, Filter) are dropped with it.
      const column = m[1].length;
      out.push(`${m[1]}Custom Scan (${scan.executor})${m[3]}`, ...scanBody(scan, column, this.database));
      skipFrom = column + 2;
    }
    return out;
  }
}

/** The lines under a Custom Scan whose name starts at `column`. */
function scanBody(scan: Scan, column: number, database: string): string[] {
  const pad = (n: number) => " ".repeat(column + n);
  const lines = [
    `${pad(2)}Task Count: ${scan.taskCount}`,
    `${pad(2)}Tasks Shown: ${scan.shown.length === scan.taskCount ? "All" : `One of ${scan.taskCount}`}`,
  ];
  for (const task of scan.shown) {
    lines.push(
      `${pad(2)}->  Task`,
      `${pad(8)}Node: host=${task.node.nodename} port=${task.node.nodeport} dbname=${database}`,
    );
    task.plan.forEach((l, i) => lines.push(i === 0 ? `${pad(8)}->  ${l}` : `${pad(12)}${l}`));
  }
  return lines;
}

/** An EXPLAIN option's Boolean value, as PostgreSQL's defGetBoolean reads it. */
function booleanOption(name: string, arg: AstNode | undefined): boolean {
  if (!arg) return true;
  const integer = arg.Integer as { ival?: number } | undefined;
  if (integer && (integer.ival ?? 0) <= 1 && (integer.ival ?? 0) >= 0) return integer.ival === 1;
  const text = String((arg.String as { sval?: string } | undefined)?.sval ?? "").toLowerCase();
  if (text === "true" || text === "on") return true;
  if (text === "false" || text === "off") return false;
  throw new SqlError("42601", `${name} requires a Boolean value`);
}

/** Runs work for each task: one after another on a node (one connection), nodes in parallel. */
async function runByNode<T>(tasks: readonly Task[], work: (task: Task) => Promise<T>): Promise<T[]> {
  const byNode = new Map<number, number[]>();
  tasks.forEach((t, i) => byNode.set(t.node.nodeid, [...(byNode.get(t.node.nodeid) ?? []), i]));
  const results: T[] = new Array(tasks.length);
  await settleAll(
    [...byNode.values()].map(async (indexes) => {
      for (const i of indexes) results[i] = await work(tasks[i]);
    }),
  );
  return results;
}

/** Runs `EXPLAIN [ANALYZE] …` of a statement that names distributed or reference tables. */
export async function runExplain(session: Session, st: InterceptedStatement, inv: Invocation): Promise<void> {
  const explainStmt = st.stmt.ExplainStmt as { query: AstNode; options?: AstNode[] };
  const inner: InterceptedStatement = {
    sql: deparseStatement(explainStmt.query),
    stmt: explainStmt.query,
    paramTypes: st.paramTypes,
    distributed: {},
  };
  // Names resolving to local tables only (search_path): the coordinator database explains it.
  if (!(await readsDistributedTables(session, inner))) return runOnCoordinator(session, st.sql, inv, [], st.paramTypes);
  const explain = new Explain(
    explainStmt.options ?? [],
    (await session.currentSetting("canopy.explain_all_tasks")) === "on",
    session.database,
    session.pipe!.transactionStatus !== 0x49,
  );
  await runDistributed(session, inner, { ...inv, resultFormats: [], describe: false, explain });
  const out: Buffer[] = [];
  if (inv.describe) out.push(textRowDescription("QUERY PLAN"));
  for (const line of explain.lines(session.statementStartMs)) {
    const bytes = Buffer.from(line, "utf8");
    out.push(new MessageWriter(BackendCode.DataRow).int16(1).int32(bytes.length).raw(bytes).finish());
  }
  out.push(write.commandComplete("EXPLAIN"));
  session.sendToClient(...out);
}
