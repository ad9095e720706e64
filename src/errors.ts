// Errors a user can see: each carries a SQLSTATE and the fields of a PostgreSQL ErrorResponse.
import type { ErrorFields } from "./protocol/messages.js";

/** An error reported to the client as an ErrorResponse with the given SQLSTATE. */
export class SqlError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly extra: Partial<Omit<ErrorFields, "code" | "message">> = {},
  ) {
    super(message);
  }

  /** The ErrorResponse fields of this error. */
  fields(): ErrorFields {
    return { severity: "ERROR", ...this.extra, code: this.code, message: this.message };
  }
}

/** Converts anything thrown into ErrorResponse fields; unexpected errors become XX000. */
export function toErrorFields(e: unknown): ErrorFields {
  if (e instanceof SqlError) return e.fields();
  const remote = e as { fields?: ErrorFields };
  if (remote && typeof remote === "object" && remote.fields && remote.fields.code) return remote.fields;
  const message = e instanceof Error ? e.message : String(e);
  return { severity: "ERROR", code: "XX000", message: `internal error: ${message}` };
}

/**
 * An error of one statement of a query string, its position (counted in the statement's text)
 * counted from the string's start instead, `offset` characters before the statement.
 */
export function shiftPosition(fields: ErrorFields, offset: number): ErrorFields {
  if (offset === 0 || fields.position === undefined) return fields;
  return { ...fields, position: String(Number(fields.position) + offset) };
}

/** States an invariant of Canopy's own code; failure is a bug reported as XX000. */
export function assert(condition: unknown, what: string): asserts condition {
  if (!condition) throw new SqlError("XX000", `internal error: assertion failed: ${what}`);
}
