// A session's simple-protocol statements over distributed tables, kept by shape: the text without
// its numeric and string literals (sql/literals.ts). Clients that write their values into the
// text (psql, psycopg2, many ORMs' raw queries) send a new text for each value; each would be
// parsed, planned, looked up and described anew. Once a shape has recurred
// (canopy.parameterize_after), its statement is kept with the literals that may be parameters as
// parameters (planner/literal_params.ts), and each later text of that shape runs it with its own
// values, as a prepared statement runs: one plan, one description, one text per shard.
import { literalType, stringValue, type TextShape } from "../sql/literals.js";
import type { LiteralParam } from "../planner/literal_params.js";
import type { InterceptedStatement } from "../commands/intercept.js";

/** A shape's kept statement, for texts of that shape. */
export interface ShapeEntry {
  /** The metadata version and search_path epoch it was planned under. */
  readonly stamp: string;
  readonly statement: InterceptedStatement;
  readonly params: readonly LiteralParam[];
  /** Per literal of the text: its characters when it stays a constant, null when a parameter. */
  readonly fixed: readonly (string | null)[];
}

/** Numeric literals longer than this, or with an exponent of four digits, run as constants. */
const numericTextMax = 1000;

/** Past this many shapes, a session forgets them all and starts again (texts are kept whole). */
const shapesMax = 1000;

export class StatementShapes {
  /** By shape: its entry, or null for a shape not run as a parameterized statement. */
  private readonly entries = new Map<string, ShapeEntry | null>();
  /** How many times each shape without an entry has been seen. */
  private readonly sightings = new Map<string, number>();

  /**
   * The kept statement and the parameters' values for a text of a known shape, or null. A text
   * whose numeric constants differ from the shape's gives the shape up: its statements run
   * unchanged. One whose string constants differ (a function's argument) runs unchanged, and the
   * shape stays for the texts with the kept statement's.
   */
  find(text: TextShape, stamp: string): { statement: InterceptedStatement; params: Buffer[] } | null {
    const entry = this.entries.get(text.key);
    if (!entry || entry.stamp !== stamp || entry.fixed.length !== text.literals.length) return null;
    for (let i = 0; i < entry.fixed.length; i++) {
      const fixed = entry.fixed[i];
      if (fixed !== null && fixed !== text.literals[i].text) {
        if (!text.literals[i].quoted) this.entries.set(text.key, null);
        return null;
      }
    }
    const params: Buffer[] = [];
    for (const p of entry.params) {
      if (text.literals[p.literal].quoted) {
        params.push(Buffer.from(stringValue(text.literals[p.literal].text)));
        continue;
      }
      const literal = text.literals[p.literal].text;
      // Another type (a number past int4's range where the shape had one within) plans otherwise.
      if (literalType(literal, p.negated) !== p.type) return null;
      // A numeric constant too large for its type fails as the text is parsed, with its position.
      if (p.type === 1700 && (literal.length > numericTextMax || /e[+-]?\d{4}/i.test(literal))) return null;
      params.push(Buffer.from(p.negated ? `-${literal}` : literal));
    }
    return { statement: entry.statement, params };
  }

  /**
   * Counts a sighting of a shape and says whether to keep its statement now: it has been seen
   * `after` times before (or was kept under another stamp), and has no entry under this stamp,
   * nor was given up.
   */
  due(key: string, stamp: string, after: number): boolean {
    const entry = this.entries.get(key);
    if (entry === null || entry?.stamp === stamp) return false;
    // Kept under other metadata or another search_path: a shape known to recur is kept again now.
    if (entry) return true;
    const seen = this.sightings.get(key) ?? 0;
    if (seen >= after) return true;
    this.makeRoom();
    this.sightings.set(key, seen + 1);
    return false;
  }

  keep(key: string, entry: ShapeEntry | null): void {
    this.makeRoom();
    this.sightings.delete(key);
    this.entries.set(key, entry);
  }

  private makeRoom(): void {
    if (this.entries.size + this.sightings.size < shapesMax) return;
    this.entries.clear();
    this.sightings.clear();
  }
}
