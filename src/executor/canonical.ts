// Distribution values in the text form hashValue() reads. PostgreSQL takes a value of most types in
// many spellings ('Jan 1 2020', '2020-01-01T00:00Z', 'epoch', ' 5', 'yes'), some of them read
// according to the session's DateStyle and TimeZone; hash.ts parses only the canonical one. A value
// it does not parse is read by the coordinator database, on the session's own connection (so its
// settings apply as they would in PostgreSQL), and printed in that canonical form whatever those
// settings are: every place that hashes a distribution value goes through canonicalValue(s) so a row
// is always looked for on the shard it was inserted into.

import type { Session } from "../server/session.js";
import { hashValue } from "../metadata/hash.js";
import { arrayLiteral, quoteQualified } from "../sql/quote.js";

/** SQL names of the types hashValue() parses from text, by OID (text types never need reading). */
const typeNames: ReadonlyMap<number, string> = new Map([
  [16, "bool"],
  [17, "bytea"],
  [20, "int8"],
  [21, "int2"],
  [23, "int4"],
  [26, "oid"],
  [700, "float4"],
  [701, "float8"],
  [774, "macaddr8"],
  [829, "macaddr"],
  [1082, "date"],
  [1083, "time"],
  [1114, "timestamp"],
  [1184, "timestamptz"],
  [1266, "timetz"],
  [1700, "numeric"],
  [2950, "uuid"],
]);

// How a value x of a type is printed independently of DateStyle, TimeZone and extra_float_digits:
// timestamps and dates in ISO form (timestamptz in UTC) with the era, which canonicalText() drops
// for AD; floats as their IEEE bytes, which canonicalText() turns into the shortest exact decimal.
// The infinities print as "infinity" in every DateStyle.
const finite = (expr: string) => `CASE WHEN pg_catalog.isfinite(x) THEN ${expr} ELSE x::text END`;
const printed: ReadonlyMap<number, string> = new Map([
  [1082, finite(`pg_catalog.to_char(x, 'YYYY-MM-DD BC')`)],
  [1114, finite(`pg_catalog.to_char(x, 'YYYY-MM-DD HH24:MI:SS.US BC')`)],
  [1184, finite(`pg_catalog.to_char(x AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US"+00" BC')`)],
  [700, `pg_catalog.encode(pg_catalog.float4send(x), 'hex')`],
  [701, `pg_catalog.encode(pg_catalog.float8send(x), 'hex')`],
]);

/** Whether hashValue() reads the text as it is. */
function hashable(typeOid: number, text: string): boolean {
  try {
    return hashValue(typeOid, text) !== null;
  } catch {
    return false;
  }
}

/** The canonical form of what the coordinator database printed for one value. */
function canonicalText(typeOid: number, printedText: string): string {
  if (typeOid === 700) return String(Buffer.from(printedText, "hex").readFloatBE(0));
  if (typeOid === 701) return String(Buffer.from(printedText, "hex").readDoubleBE(0));
  return printedText.endsWith(" AD") ? printedText.slice(0, -3) : printedText;
}

/**
 * The values in the text form hashValue() reads: as they are when it reads them (no round trip),
 * else as the coordinator database reads them in this session, all in one query; NULL stays.
 * Throws the database's error (22P02, 22008, …) for a value the type rejects.
 */
export async function canonicalValues<T extends string | null>(
  session: Session,
  typeOid: number,
  texts: readonly T[],
): Promise<T[]> {
  const name = typeNames.get(typeOid);
  const pending = name === undefined ? [] : texts.flatMap((t, i) => (t === null || hashable(typeOid, t) ? [] : [i]));
  if (pending.length === 0) return [...texts];
  const rows = await session.internalQuery(
    `SELECT ${printed.get(typeOid) ?? "x::text"} FROM pg_catalog.unnest($1::pg_catalog.text[]) WITH ORDINALITY AS u(v, i),` +
      ` LATERAL (SELECT v::${quoteQualified("pg_catalog", name!)} AS x) AS c ORDER BY i`,
    [Buffer.from(arrayLiteral(pending.map((i) => texts[i])))],
  );
  const out = [...texts];
  pending.forEach((i, k) => (out[i] = canonicalText(typeOid, rows[k][0]!) as T));
  return out;
}

/** One value in the text form hashValue() reads (see canonicalValues). */
export async function canonicalValue(session: Session, typeOid: number, text: string): Promise<string> {
  return (await canonicalValues(session, typeOid, [text]))[0];
}
