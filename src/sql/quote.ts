// The one quoting helper: every identifier and literal that Canopy puts into SQL goes through here.

/** Quotes an identifier the way PostgreSQL's quote_ident does: only when it must. */
export function quoteIdent(name: string): string {
  if (/^[a-z_][a-z0-9_]*$/.test(name) && !reservedWords.has(name)) return name;
  return '"' + name.replace(/"/g, '""') + '"';
}

/** Quotes a possibly schema-qualified name given as parts. */
export function quoteQualified(...parts: (string | undefined | null)[]): string {
  return parts
    .filter((p): p is string => !!p)
    .map(quoteIdent)
    .join(".");
}

/** Quotes a literal the way PostgreSQL's quote_literal does (E'' form when backslashes occur). */
export function quoteLiteral(value: string | number | bigint | boolean | null): string {
  if (value === null) return "NULL";
  if (typeof value !== "string") return `'${String(value)}'`;
  if (value.includes("\0")) throw new Error("a string literal cannot contain NUL");
  const escaped = value.replace(/'/g, "''");
  return value.includes("\\") ? `E'${escaped.replace(/\\/g, "\\\\")}'` : `'${escaped}'`;
}

// Keywords that need quoting as identifiers (PostgreSQL's reserved and type/function-name keywords).
const reservedWords = new Set(
  (
    "all analyse analyze and any array as asc asymmetric authorization between bigint binary bit " +
    "boolean both case cast char character check coalesce collate collation column concurrently " +
    "constraint create cross current_catalog current_date current_role current_schema current_time " +
    "current_timestamp current_user dec decimal default deferrable desc distinct do else end except " +
    "exists extract false fetch float for foreign freeze from full grant greatest group grouping " +
    "having ilike in initially inner inout int integer intersect interval into is isnull join " +
    "json json_array json_arrayagg json_exists json_object json_objectagg json_query json_scalar " +
    "json_serialize json_table json_value lateral leading least left like limit localtime " +
    "localtimestamp merge_action national natural nchar none normalize not notnull null nullif " +
    "numeric offset on only or order out outer overlaps overlay placing position precision primary " +
    "real references returning right row select session_user setof similar smallint some " +
    "substring symmetric system_user table tablesample then time timestamp to trailing treat trim " +
    "true union unique user using values varchar variadic verbose when where window with xmlattributes " +
    "xmlconcat xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi xmlroot xmlserialize xmltable"
  ).split(" "),
);

/** An array literal's text form (`{"a","b",NULL}`), for binding a text[] parameter. */
export function arrayLiteral(values: readonly (string | null)[]): string {
  return `{${values.map((v) => (v === null ? "NULL" : `"${v.replace(/["\\]/g, "\\$&")}"`)).join(",")}}`;
}
