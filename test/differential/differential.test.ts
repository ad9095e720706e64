// Differential tests: the same schema and data go into Canopy and into one plain PostgreSQL in the
// same run, every entry of test/differential/queries/*.sql runs on both, and the answers must be the
// same: column names and type OIDs, command tag and row count, rows as PostgreSQL's text output
// (as a multiset, or in order when the entry says so), and for errors the SQLSTATE.
//
// Entry format (queries/*.sql; the files are also valid psql scripts):
//   - An entry is one SQL statement; it ends at the first line whose last non-blank character is `;`.
//     So no line inside an entry may end with `;` (not even inside a string literal).
//   - Comment lines (`-- …`) inside an entry describe it; comment lines of the form `-- @marker` set
//     options for the entry they belong to (the statement that follows them):
//       -- @ordered          the statement has a total ORDER BY: rows are compared in order
//       -- @float            float4/float8 columns are compared with a relative tolerance (1e-9 for
//                            double precision, 1e-5 for real), for aggregates over floating point
//                            whose summation order may differ
//       -- @error            plain PostgreSQL must reject the statement; Canopy must fail with the
//                            same SQLSTATE
//       -- @touches a, b     after the entry, also compare the full contents of tables a and b
//       -- @params 10 | x    run the entry through the extended protocol with these parameter
//                            values ($1, $2, … separated by `|`, NULL for a null), so that plans
//                            built once per prepared statement meet values only at Bind
//   - After an INSERT, UPDATE, DELETE or MERGE entry the full contents of its target table (and of
//     the @touches tables) are compared; after each file containing such entries, all tables are.
//     A table found different is copied from plain PostgreSQL to Canopy, so one wrong write is
//     reported once rather than in every later entry.
//   - Files run in name order, entries in file order; each file is one test() that reports all of
//     its mismatches in one failure message.
//
// Environment:
//   CANOPY_DIFF_ONLY=<substring>       run only entries whose `file:line` label or SQL contains it
//                                      (case-insensitive)
//   CANOPY_DIFF_TARGET=<postgres url>  run the Canopy side against this server instead of starting a
//                                      local cluster (the harness drops and recreates its tables)
//   CANOPY_DIFF_SELFCHECK=1            the "Canopy" side is a second plain PostgreSQL (started here
//                                      unless CANOPY_DIFF_TARGET is set): distribute.sql is skipped and
//                                      everything must pass; validates the corpus and the harness
//   CANOPY_DIFF_DISTRIBUTE=before|after|0
//                                      run distribute.sql before loading the data (default), after it
//                                      (so create_distributed_table moves existing rows), or not at all
//                                      (the target is plain PostgreSQL)
//   CANOPY_DIFF_SHUFFLE_SEED=<int>     seed of the target side's row shuffle (default 7); self-checks
//                                      with several seeds find more order-dependent entries
//   CANOPY_DIFF_ALLOW_UNSUPPORTED=1    a statement Canopy refuses with 0A000 counts as skipped, not as
//                                      a mismatch (wrong answers and other errors still fail)
//   CANOPY_DIFF_PARAMETERIZE_AFTER=<n> Canopy's canopy.parameterize_after (default 0: every statement
//                                      whose numbers may be parameters runs so from its first sighting,
//                                      so the corpus checks that form; -1 runs the texts as they are)
//
// The target side always loads the rows shuffled and the tables in reverse order, and in self-check
// mode it also prefers parallel plans, so an entry whose answer depends on physical row order (LIMIT
// without a total ORDER BY, array_agg without ORDER BY, float sums without @float) fails the
// self-check instead of passing by luck.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { hasPostgres, startTempPostgres, type TempPostgres } from "../support/postgres.js";
import { startLocalCluster, type TestCluster } from "../support/cluster.js";
import { generateData, insertStatements, quoteLiteral } from "./data.js";

const root = new URL("../../../test/differential/", import.meta.url).pathname;
const queriesDir = join(root, "queries");

const only = process.env.CANOPY_DIFF_ONLY?.toLowerCase();
const targetUrl = process.env.CANOPY_DIFF_TARGET;
const selfCheck = process.env.CANOPY_DIFF_SELFCHECK === "1";
const distribute = selfCheck ? "0" : (process.env.CANOPY_DIFF_DISTRIBUTE ?? "before");
if (!["before", "after", "0"].includes(distribute))
  throw new Error("CANOPY_DIFF_DISTRIBUTE must be before, after or 0");
const allowUnsupported = process.env.CANOPY_DIFF_ALLOW_UNSUPPORTED !== "0";
// Entries (file:line) that Canopy does not yet answer as PostgreSQL does, or refuses: open work,
// listed so the suite guards everything else. An entry listed here that starts to match fails
// the run until it is removed, so the list cannot go stale.
const known = new Set(
  readFileSync(new URL("../../../test/differential/known_failures.txt", import.meta.url), "utf8")
    .split("\n")
    .map((l) => l.replace(/#.*/, "").trim())
    .filter((l) => l !== ""),
);

/** Session settings applied on both sides; a zone with daylight-saving changes on purpose. */
const sessionSettings = ["SET TimeZone = 'America/New_York'", "SET statement_timeout = '60s'"];
/** Extra settings for the second plain PostgreSQL of the self-check: other plans, other row orders. */
const selfCheckSettings = [
  "SET parallel_setup_cost = 0",
  "SET parallel_tuple_cost = 0",
  "SET min_parallel_table_scan_size = 0",
  "SET min_parallel_index_scan_size = 0",
];
/** Canopy's own session settings (not the self-check's second PostgreSQL's). */
const canopySettings = [
  `SET canopy.parameterize_after = ${Number.parseInt(process.env.CANOPY_DIFF_PARAMETERIZE_AFTER ?? "0", 10)}`,
];
const shuffleSeed = Number.parseInt(process.env.CANOPY_DIFF_SHUFFLE_SEED ?? "7", 10);
const shownRowsMax = 5;
const sqlShownCharsMax = 400;
const float4Oid = 700;
const float8Oid = 701;
const queryTimeoutMs = 120_000;

/** One statement of a query file with its markers. */
interface Entry {
  readonly label: string;
  readonly sql: string;
  readonly ordered: boolean;
  readonly float: boolean;
  readonly error: boolean;
  /** Tables whose contents are compared after the entry runs. */
  readonly touches: readonly string[];
  /** Parameter values: the entry runs through the extended protocol. */
  readonly params?: readonly (string | null)[];
}

type Value = string | null;

/** What one side answered to one statement. */
type Outcome =
  | {
      readonly ok: true;
      readonly command: string;
      readonly rowCount: number | null;
      readonly names: readonly string[];
      readonly typeOids: readonly number[];
      readonly rows: readonly (readonly Value[])[];
    }
  | { readonly ok: false; readonly code: string; readonly message: string };

/** Every value as PostgreSQL's text output, so the comparison sees what psql would print. */
const rawText = {
  getTypeParser: (() => (value: string) => value) as unknown as typeof pg.types.getTypeParser,
};

/** Splits a SQL script into statements at lines ending in `;`, keeping the first line number of each. */
function splitStatements(text: string): { line: number; lines: string[] }[] {
  const out: { line: number; lines: string[] }[] = [];
  let current: string[] = [];
  let start = 1;
  text.split("\n").forEach((line, index) => {
    if (current.length === 0) start = index + 1;
    current.push(line);
    if (/;\s*$/.test(line) && !/^\s*--/.test(line)) {
      out.push({ line: start, lines: current });
      current = [];
    }
  });
  if (current.some((line) => line.trim() !== "" && !/^\s*--/.test(line))) {
    throw new Error(`statement at line ${start} does not end with ';'`);
  }
  return out;
}

/** Returns a script's statements without comments, for schema.sql and distribute.sql. */
function scriptStatements(file: string): string[] {
  return splitStatements(readFileSync(join(root, file), "utf8")).map(({ lines }) =>
    lines
      .filter((line) => !/^\s*--/.test(line))
      .join("\n")
      .trim()
      .replace(/;$/, ""),
  );
}

/** Names the table an INSERT, UPDATE, DELETE or MERGE writes, or undefined for other statements. */
function dmlTarget(sql: string): string | undefined {
  const match =
    /^\s*(?:INSERT\s+INTO|UPDATE(?:\s+ONLY)?|DELETE\s+FROM(?:\s+ONLY)?|MERGE\s+INTO)\s+([a-z_][a-z0-9_]*)/i.exec(sql);
  return match?.[1]?.toLowerCase();
}

/** Parses a query file into entries. */
function parseEntries(file: string, text: string): Entry[] {
  return splitStatements(text).flatMap(({ line, lines }) => {
    const markers = lines.filter((l) => /^\s*--\s*@/.test(l)).map((l) => l.replace(/^\s*--\s*@/, "").trim());
    const sqlLines = lines.filter((l) => !/^\s*--/.test(l));
    const firstSql = lines.findIndex((l) => !/^\s*--/.test(l) && l.trim() !== "");
    const sql = sqlLines.join("\n").trim().replace(/;$/, "").trim();
    if (sql === "") return [];
    const touches = new Set<string>();
    let params: (string | null)[] | undefined;
    const target = dmlTarget(sql);
    if (target !== undefined) touches.add(target);
    for (const marker of markers) {
      const [name = "", ...args] = marker.split(/[\s,]+/).filter(Boolean);
      if (name === "touches") args.forEach((table) => touches.add(table.toLowerCase()));
      else if (name === "params") {
        params = marker
          .replace(/^params\s*/, "")
          .split("|")
          .map((v) => (v.trim() === "NULL" ? null : v.trim()));
      } else if (!["ordered", "float", "error"].includes(name))
        throw new Error(`${file}:${line}: unknown marker @${name}`);
    }
    return [
      {
        label: `${file}:${line + Math.max(firstSql, 0)}`,
        sql,
        ordered: markers.includes("ordered"),
        float: markers.includes("float"),
        error: markers.includes("error"),
        touches: [...touches],
        params,
      },
    ];
  });
}

/** One server under comparison: a session with the suite's settings, reopened if the connection drops. */
class Side {
  private client: pg.Client | undefined;

  constructor(
    readonly name: string,
    private readonly url: string,
    private readonly settings: readonly string[],
  ) {}

  /** Runs one statement and captures its answer or its error; a failure without SQLSTATE (a dropped
   * connection, a client-side timeout) becomes an error outcome with code "client". */
  async run(sql: string, params?: readonly (string | null)[]): Promise<Outcome> {
    try {
      const client = await this.connection();
      const result: unknown = await client.query({
        text: sql,
        values: params as unknown[],
        rowMode: "array",
        types: rawText,
      });
      if (Array.isArray(result)) throw new Error("entry holds more than one statement");
      const r = result as pg.QueryResult<Value[]>;
      return {
        ok: true,
        command: r.command,
        rowCount: r.rowCount,
        names: r.fields.map((f) => f.name),
        typeOids: r.fields.map((f) => f.dataTypeID),
        rows: r.rows,
      };
    } catch (err) {
      const e = err as { code?: unknown; message?: unknown };
      if (typeof e.code === "string" && /^[0-9A-Z]{5}$/.test(e.code)) {
        return { ok: false, code: e.code, message: String(e.message) };
      }
      await this.end();
      return { ok: false, code: "client", message: String(e.message ?? err) };
    }
  }

  /** Runs a setup statement; throws with the side's name and the statement on failure. */
  async exec(sql: string, what: string): Promise<void> {
    const outcome = await this.run(sql);
    if (!outcome.ok)
      throw new Error(`${what} failed on ${this.name}: ${outcome.code} ${outcome.message}\n${showSql(sql)}`);
  }

  async end(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async connection(): Promise<pg.Client> {
    if (this.client !== undefined) return this.client;
    const client = new pg.Client({ connectionString: this.url, query_timeout: queryTimeoutMs });
    client.on("error", () => undefined); // a dropped connection surfaces as a failed query
    client.on("end", () => {
      if (this.client === client) this.client = undefined;
    });
    await client.connect();
    try {
      for (const setting of this.settings) await client.query(setting);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    this.client = client;
    return client;
  }
}

function showRow(row: readonly Value[]): string {
  const s = JSON.stringify(row);
  return s.length > 300 ? `${s.slice(0, 300)}…` : s;
}

function showRows(title: string, rows: readonly (readonly Value[])[]): string[] {
  if (rows.length === 0) return [];
  const shown = rows.slice(0, shownRowsMax).map((row) => `      ${showRow(row)}`);
  const more = rows.length > shownRowsMax ? [`      … ${rows.length - shownRowsMax} more`] : [];
  return [`    ${title}:`, ...shown, ...more];
}

/** Reports whether two float outputs agree within the relative tolerance. */
function floatsClose(a: Value, b: Value, tolerance: number): boolean {
  if (a === b) return true;
  if (a === null || b === null) return false;
  const x = Number(a);
  const y = Number(b);
  if (!Number.isFinite(x) || !Number.isFinite(y)) return false;
  return Math.abs(x - y) <= tolerance * Math.max(Math.abs(x), Math.abs(y));
}

/** Compares two rows; float columns (given with their tolerance) within tolerance, the rest exactly. */
function rowsEqual(a: readonly Value[], b: readonly Value[], tolerances: ReadonlyMap<number, number>): boolean {
  if (a.length !== b.length) return false;
  return a.every((value, i) => {
    const tolerance = tolerances.get(i);
    return tolerance === undefined ? value === b[i] : floatsClose(value, b[i] ?? null, tolerance);
  });
}

/** Sorts rows canonically: by the exact columns' text, then by the float columns' numeric values. */
function sortRows(rows: readonly (readonly Value[])[], tolerances: ReadonlyMap<number, number>): (readonly Value[])[] {
  const keyed = rows.map((row) => ({
    row,
    key: JSON.stringify(row.map((v, i) => (tolerances.has(i) ? null : v))),
  }));
  const numeric = (v: Value): number => (v === null ? Infinity : v === "NaN" ? Infinity : Number(v));
  keyed.sort((p, q) => {
    if (p.key !== q.key) return p.key < q.key ? -1 : 1;
    for (const i of tolerances.keys()) {
      const d = numeric(p.row[i] ?? null) - numeric(q.row[i] ?? null);
      if (d !== 0 && !Number.isNaN(d)) return d;
    }
    return 0;
  });
  return keyed.map((k) => k.row);
}

/** Describes how two row lists differ, or returns nothing when they are equal. */
function compareRows(
  expected: readonly (readonly Value[])[],
  actual: readonly (readonly Value[])[],
  ordered: boolean,
  tolerances: ReadonlyMap<number, number>,
): string[] {
  if (ordered) {
    const n = Math.max(expected.length, actual.length);
    for (let i = 0; i < n; i++) {
      const e = expected[i];
      const a = actual[i];
      if (e !== undefined && a !== undefined && rowsEqual(e, a, tolerances)) continue;
      return [
        `  rows differ (ordered) at row ${i + 1}: expected ${expected.length} rows, got ${actual.length}`,
        ...showRows("expected from there", expected.slice(i)),
        ...showRows("got from there", actual.slice(i)),
      ];
    }
    return [];
  }
  if (tolerances.size > 0) {
    const e = sortRows(expected, tolerances);
    const a = sortRows(actual, tolerances);
    if (e.length === a.length && e.every((row, i) => rowsEqual(row, a[i] ?? [], tolerances))) return [];
    const i = e.findIndex((row, j) => a[j] === undefined || !rowsEqual(row, a[j] ?? [], tolerances));
    const from = i < 0 ? e.length : i;
    return [
      `  rows differ (multiset, float tolerance): expected ${e.length} rows, got ${a.length}; sorted, from row ${from + 1}`,
      ...showRows("expected", e.slice(from)),
      ...showRows("got", a.slice(from)),
    ];
  }
  const counts = new Map<string, number>();
  for (const row of expected) {
    const key = JSON.stringify(row);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const unexpected: (readonly Value[])[] = [];
  for (const row of actual) {
    const key = JSON.stringify(row);
    const count = counts.get(key) ?? 0;
    if (count > 0) counts.set(key, count - 1);
    else unexpected.push(row);
  }
  const missing: (readonly Value[])[] = [];
  for (const row of expected) {
    const key = JSON.stringify(row);
    const count = counts.get(key) ?? 0;
    if (count > 0) {
      counts.set(key, count - 1);
      missing.push(row);
    }
  }
  if (missing.length === 0 && unexpected.length === 0) return [];
  return [
    `  rows differ (multiset): expected ${expected.length} rows, got ${actual.length}`,
    ...showRows("missing (expected, not returned)", missing),
    ...showRows("unexpected (returned, not expected)", unexpected),
  ];
}

/** Describes how the target's outcome differs from plain PostgreSQL's, or returns nothing. */
function compareOutcomes(entry: Entry, expected: Outcome, actual: Outcome): string[] {
  if (!expected.ok) {
    if (!entry.error)
      return [`  plain PostgreSQL failed (${expected.code}: ${expected.message}); mark @error if intended`];
    if (actual.ok) return [`  expected error ${expected.code} (${expected.message}), but the statement succeeded`];
    if (actual.code !== expected.code) {
      return [`  expected error ${expected.code} (${expected.message}), got ${actual.code} (${actual.message})`];
    }
    return [];
  }
  if (entry.error) return ["  marked @error, but plain PostgreSQL accepted the statement"];
  if (!actual.ok) return [`  failed with ${actual.code}: ${actual.message}`];
  const problems: string[] = [];
  if (JSON.stringify(expected.names) !== JSON.stringify(actual.names)) {
    problems.push(`  column names: expected ${JSON.stringify(expected.names)}, got ${JSON.stringify(actual.names)}`);
  }
  if (JSON.stringify(expected.typeOids) !== JSON.stringify(actual.typeOids)) {
    problems.push(`  column type oids: expected ${expected.typeOids.join(",")}, got ${actual.typeOids.join(",")}`);
  }
  if (expected.command !== actual.command || expected.rowCount !== actual.rowCount) {
    problems.push(
      `  command tag: expected ${expected.command} ${expected.rowCount}, got ${actual.command} ${actual.rowCount}`,
    );
  }
  const tolerances = new Map<number, number>();
  if (entry.float) {
    expected.typeOids.forEach((oid, i) => {
      if (oid === float8Oid) tolerances.set(i, 1e-9);
      if (oid === float4Oid) tolerances.set(i, 1e-5);
    });
  }
  problems.push(...compareRows(expected.rows, actual.rows, entry.ordered, tolerances));
  return problems;
}

function showSql(sql: string): string {
  const s = sql.length > sqlShownCharsMax ? `${sql.slice(0, sqlShownCharsMax)}…` : sql;
  return s.replace(/\n/g, "\n    ");
}

/** The two servers under comparison and how to stop them. */
interface Sides {
  reference: Side;
  target: Side;
  stops: (() => Promise<void>)[];
}

/** Runs a setup script's statements on one side. */
async function runScript(side: Side, script: string, statements: readonly string[]): Promise<void> {
  for (const [i, sql] of statements.entries()) await side.exec(sql, `${script} statement ${i + 1}`);
}

const schemaStatements = scriptStatements("schema.sql");
const tables = schemaStatements.flatMap((sql) => /^CREATE TABLE\s+([a-z_][a-z0-9_]*)/i.exec(sql)?.[1] ?? []);

/** Copies a table's rows from plain PostgreSQL to the target, so later entries start from equal data. */
async function resyncTable(sides: Sides, table: string): Promise<void> {
  const rows = await sides.reference.run(`SELECT * FROM ${table}`);
  if (!rows.ok) return;
  const columns = rows.names.join(", ");
  await sides.target.exec(`DELETE FROM ${table}`, "resync");
  for (let i = 0; i < rows.rows.length; i += 250) {
    const values = rows.rows
      .slice(i, i + 250)
      .map((row) => `(${row.map((v) => (v === null ? "NULL" : quoteLiteral(v))).join(", ")})`)
      .join(", ");
    await sides.target.exec(`INSERT INTO ${table} (${columns}) VALUES ${values}`, "resync");
  }
}

/** Compares a table's full contents on both sides; on a difference, reports it and resynchronizes. */
async function compareTable(sides: Sides, table: string): Promise<string[]> {
  const sql = `SELECT * FROM ${table}`;
  const [expected, actual] = await Promise.all([sides.reference.run(sql), sides.target.run(sql)]);
  const entry: Entry = { label: table, sql, ordered: false, float: false, error: false, touches: [] };
  const problems = compareOutcomes(entry, expected, actual);
  if (problems.length === 0) return [];
  await resyncTable(sides, table).catch((err: Error) => problems.push(`  resync failed: ${err.message}`));
  return [`  afterwards, the contents of ${table} differ:`, ...problems.map((p) => `  ${p}`)];
}

const files = readdirSync(queriesDir)
  .filter((f) => f.endsWith(".sql"))
  .sort();

describe("differential", { skip: hasPostgres() ? false : "PostgreSQL is not installed" }, () => {
  let sides: Sides | undefined;

  before(
    async () => {
      const stops: (() => Promise<void>)[] = [];
      try {
        const referenceServer: TempPostgres = await startTempPostgres();
        stops.push(() => referenceServer.stop());
        let url = targetUrl;
        if (url === undefined && selfCheck) {
          const server = await startTempPostgres();
          stops.push(() => server.stop());
          url = server.url;
        } else if (url === undefined) {
          const cluster: TestCluster = await startLocalCluster();
          stops.push(() => cluster.stop());
          url = cluster.url;
        }
        const reference = new Side("plain PostgreSQL", referenceServer.url, sessionSettings);
        const target = new Side(selfCheck ? "second plain PostgreSQL" : "Canopy", url, [
          ...sessionSettings,
          ...(selfCheck ? selfCheckSettings : canopySettings),
        ]);
        stops.push(
          () => reference.end(),
          () => target.end(),
        );
        const drops = [...tables].reverse().map((t) => `DROP TABLE IF EXISTS ${t} CASCADE`);
        for (const side of [reference, target]) {
          await runScript(side, "drop", drops);
          await runScript(side, "schema.sql", schemaStatements);
        }
        const distributeStatements = scriptStatements("distribute.sql");
        if (distribute === "before") await runScript(target, "distribute.sql", distributeStatements);
        const data = generateData();
        await runScript(reference, "data", insertStatements(data));
        await runScript(target, "data", insertStatements(data, { shuffleSeed }));
        if (distribute === "after") await runScript(target, "distribute.sql", distributeStatements);
        sides = { reference, target, stops };
      } catch (err) {
        for (const stop of stops.reverse()) await stop().catch(() => undefined);
        throw err;
      }
    },
    { timeout: 300_000 },
  );

  after(async () => {
    for (const stop of (sides?.stops ?? []).reverse()) await stop().catch(() => undefined);
  });

  test("data loaded identically", async () => {
    assert.ok(sides, "setup failed");
    const problems: string[] = [];
    for (const table of tables) problems.push(...(await compareTable(sides, table)));
    if (problems.length > 0) assert.fail(`table contents differ after loading:\n${problems.join("\n")}`);
  });

  for (const file of files) {
    const entries = parseEntries(file, readFileSync(join(queriesDir, file), "utf8")).filter(
      (e) => only === undefined || `${e.label}\n${e.sql}`.toLowerCase().includes(only),
    );
    test(file, { skip: entries.length === 0 ? "no entries selected" : false, timeout: 180_000 }, async (t) => {
      assert.ok(sides, "setup failed");
      const failures: string[] = [];
      const unsupported: string[] = [];
      const knownHits: string[] = [];
      let wrote = false;
      for (const entry of entries) {
        const [expected, actual] = await Promise.all([
          sides.reference.run(entry.sql, entry.params),
          sides.target.run(entry.sql, entry.params),
        ]);
        // A statement Canopy refuses (when that is allowed) did not write: its tables are resynchronized quietly.
        const refused = allowUnsupported && expected.ok && !actual.ok && actual.code === "0A000";
        const problems = refused ? [] : compareOutcomes(entry, expected, actual);
        if (refused) unsupported.push(`${entry.label}: ${actual.message}`);
        for (const table of entry.touches) {
          wrote = true;
          const tableProblems = await compareTable(sides, table);
          if (!refused) problems.push(...tableProblems);
        }
        const failed = problems.length > 0 || (refused && !allowUnsupported);
        if (known.has(entry.label)) {
          if (failed || refused) knownHits.push(entry.label);
          else failures.push(`[${entry.label}] now matches PostgreSQL: remove it from known_failures.txt`);
        } else if (problems.length > 0) {
          failures.push(`[${entry.label}]\n    ${showSql(entry.sql)}\n${problems.join("\n")}`);
        }
      }
      const mismatches = failures.length;
      if (wrote) {
        for (const table of tables) {
          const problems = await compareTable(sides, table);
          if (problems.length > 0 && !known.has(`end of ${file}`))
            failures.push(`[end of ${file}]\n${problems.join("\n")}`);
        }
      }
      t.diagnostic(`${entries.length} entries, ${mismatches} mismatches, ${unsupported.length} unsupported`);
      for (const u of unsupported) t.diagnostic(`unsupported ${u}`);
      t.diagnostic(`${knownHits.length} known failures (known_failures.txt): ${knownHits.join(", ")}`);
      if (failures.length > 0) {
        assert.fail(`${mismatches} of ${entries.length} entries in ${file} differ:\n\n${failures.join("\n\n")}`);
      }
    });
  }
});
