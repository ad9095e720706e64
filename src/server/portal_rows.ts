// Execute with a row limit on an intercepted portal. Canopy runs the statement whole at the first
// Execute (as PostgreSQL runs a modification with RETURNING) and keeps what it answered on the
// portal, to hand out maxRows DataRows per Execute with PortalSuspended between, the way
// PostgreSQL's portals do for cursor-style fetching (JDBC setFetchSize, node-postgres Cursor,
// postgres.js cursor).
import { BackendCode, MessageWriter, scanMessages, write } from "../protocol/messages.js";
import { SqlError } from "../errors.js";

const portalSuspended = new MessageWriter(BackendCode.PortalSuspended).finish();

/** A portal's answer, served in pieces by `take`. */
export class PortalRows {
  private next = 0;
  private done = false;

  private constructor(
    private messages: Buffer[],
    private readonly tag: string,
    private readonly returnsRows: boolean,
    private readonly rowCount: number,
  ) {}

  /**
   * The answer as the statement sent it, when it completed (ends with CommandComplete, without
   * an error); null otherwise, when it goes to the client as it is. `returnsRows` is whether the
   * statement yields rows even when it found none (SELECT, RETURNING).
   */
  static from(answer: Buffer, returnsRows: boolean): PortalRows | null {
    const messages: Buffer[] = [];
    let failed = false;
    scanMessages(answer, (code, start, end) => {
      if (code === BackendCode.ErrorResponse) failed = true;
      messages.push(answer.subarray(start, end));
    });
    // Notices may follow the CommandComplete (at the commit): they stay, after the rows.
    let at = messages.length - 1;
    while (at >= 0 && messages[at][0] !== BackendCode.CommandComplete) at--;
    if (failed || at < 0) return null;
    const [last] = messages.splice(at, 1);
    const tag = last.toString("utf8", 5, last.length - 1);
    const rowCount = messages.filter((m) => m[0] === BackendCode.DataRow).length;
    return new PortalRows(messages, tag, returnsRows || rowCount > 0, rowCount);
  }

  /** Whether the first `take(maxRows)` leaves rows on the portal for a later Execute. */
  keepsRowsAfter(maxRows: number): boolean {
    return maxRows > 0 && this.rowCount >= maxRows;
  }

  /**
   * The answer to an Execute for up to `maxRows` rows (0: all): the next rows, then
   * PortalSuspended when the limit was reached, else CommandComplete. As in PostgreSQL, the count
   * in the tag is the rows of this Execute, a portal that completed answers again with no rows,
   * and one that yields no rows cannot be run again.
   */
  take(portal: string, maxRows: number): Buffer[] {
    if (this.done && !this.returnsRows) throw new SqlError("55000", `portal "${portal}" cannot be run`);
    const out: Buffer[] = [];
    let rows = 0;
    while (this.next < this.messages.length && (maxRows === 0 || rows < maxRows)) {
      const m = this.messages[this.next++];
      if (m[0] === BackendCode.DataRow) rows++;
      out.push(m);
    }
    if (maxRows > 0 && rows === maxRows) {
      out.push(portalSuspended);
      return out;
    }
    out.push(write.commandComplete(this.returnsRows ? withCount(this.tag, rows) : this.tag));
    this.done = true;
    this.messages = [];
    return out;
  }
}

/** A command tag with its row count (its last word) replaced. */
function withCount(tag: string, rows: number): string {
  const space = tag.lastIndexOf(" ");
  return space < 0 ? tag : `${tag.slice(0, space)} ${rows}`;
}
