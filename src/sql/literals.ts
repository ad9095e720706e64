// Finds the numeric literals and plain string literals ('…') of a statement's text without parsing
// it, as PostgreSQL's lexer would (scan.l): outside quoted identifiers, dollar quotes, other kinds of
// strings (E'…', U&'…', B'…', X'…', N'…') and comments. The text with each such literal taken out
// is its shape: statements that differ only in those values share it, which lets a session run them
// as one prepared statement (server/statement_shapes.ts). The lexer only proposes: which of the
// literals become parameters is decided on the parsed statement.

/** A literal of a statement's text: its span (UTF-16 offsets), its characters (a string's quotes too). */
export interface TextLiteral {
  readonly start: number;
  readonly end: number;
  readonly text: string;
  /** A string literal ('…'); otherwise a number. */
  readonly quoted: boolean;
}

export interface TextShape {
  /** The text with each number replaced by U+0000 and each string by U+0001, which no statement text holds. */
  readonly key: string;
  readonly literals: readonly TextLiteral[];
}

/** The type PostgreSQL gives a numeric constant: int4, int8 or numeric (make_const). */
export type NumericType = 23 | 20 | 1700;

/** Past this many literals a text is not shaped (a parameter number is 16 bits). */
const literalsMax = 65535;

const space = /[ \t\n\r\f\v]/;

function identifierStart(c: string): boolean {
  return (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c === "_" || c >= "\u0080";
}

function identifierPart(c: string): boolean {
  return identifierStart(c) || isDigit(c) || c === "$";
}

function isDigit(c: string): boolean {
  return c >= "0" && c <= "9";
}

/**
 * The literals of SQL text and its shape, or null when it has none (or more than a statement may
 * have parameters). A number run into an identifier or a dot (`1e`, `1..2`, `x1`) is not a literal
 * here, nor is a parameter's number (`$1`).
 */
export function textLiterals(sql: string): TextShape | null {
  const literals: TextLiteral[] = [];
  const n = sql.length;
  let i = 0;
  while (i < n) {
    const c = sql[i];
    if (c === "\u0000" || c === "\u0001") return null;
    if (space.test(c)) {
      i++;
    } else if (c === "-" && sql[i + 1] === "-") {
      const eol = sql.indexOf("\n", i);
      i = eol < 0 ? n : eol + 1;
    } else if (c === "/" && sql[i + 1] === "*") {
      i = blockCommentEnd(sql, i);
    } else if (c === "'") {
      const end = quotedEnd(sql, i, "'", false);
      if (end > i + 1 && sql[end - 1] === "'") literals.push({ start: i, end, text: sql.slice(i, end), quoted: true });
      if (literals.length > literalsMax) return null;
      i = end;
    } else if (c === '"') {
      i = quotedEnd(sql, i, '"', false);
    } else if (c === "$") {
      i = dollarEnd(sql, i);
    } else if (identifierStart(c)) {
      let j = i + 1;
      while (j < n && identifierPart(sql[j])) j++;
      const word = sql.slice(i, j);
      if (sql[j] === "'" && /^[eEbBxXnN]$/.test(word)) {
        i = quotedEnd(sql, j, "'", word === "e" || word === "E");
      } else if (sql[j] === "&" && (sql[j + 1] === "'" || sql[j + 1] === '"') && (word === "u" || word === "U")) {
        i = quotedEnd(sql, j + 1, sql[j + 1], false);
      } else {
        i = j;
      }
    } else if (isDigit(c) || (c === "." && isDigit(sql[i + 1] ?? ""))) {
      const end = numberEnd(sql, i);
      const next = sql[end] ?? " ";
      const previous = sql[i - 1] ?? " ";
      if (!identifierPart(next) && next !== "." && !identifierPart(previous) && previous !== ".") {
        literals.push({ start: i, end, text: sql.slice(i, end), quoted: false });
        if (literals.length > literalsMax) return null;
      }
      i = Math.max(end, i + 1);
      // The rest of a number run into letters or dots is not looked into.
      while (i < n && (identifierPart(sql[i]) || sql[i] === ".")) i++;
    } else {
      i++;
    }
  }
  if (literals.length === 0) return null;
  let key = "";
  let from = 0;
  for (const l of literals) {
    key += sql.slice(from, l.start) + (l.quoted ? "\u0001" : "\u0000");
    from = l.end;
  }
  return { key: key + sql.slice(from), literals };
}

/** The end of a number starting at `i`: digits, a fraction, an exponent (scan.l's integer, decimal, real). */
function numberEnd(sql: string, i: number): number {
  let j = i;
  while (isDigit(sql[j] ?? "")) j++;
  if (sql[j] === "." && sql[j + 1] !== ".") {
    j++;
    while (isDigit(sql[j] ?? "")) j++;
  }
  if (sql[j] === "e" || sql[j] === "E") {
    let k = j + 1;
    if (sql[k] === "+" || sql[k] === "-") k++;
    if (isDigit(sql[k] ?? "")) {
      while (isDigit(sql[k] ?? "")) k++;
      j = k;
    }
  }
  return j;
}

function blockCommentEnd(sql: string, i: number): number {
  let depth = 0;
  while (i < sql.length) {
    if (sql[i] === "/" && sql[i + 1] === "*") {
      depth++;
      i += 2;
    } else if (sql[i] === "*" && sql[i + 1] === "/") {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else {
      i++;
    }
  }
  return i;
}

/** The end of a quoted string or identifier opening at `i`; doubled quotes stay inside, as do backslashed ones in E''. */
function quotedEnd(sql: string, i: number, quote: string, backslashes: boolean): number {
  let j = i + 1;
  while (j < sql.length) {
    const c = sql[j];
    if (backslashes && c === "\\") {
      j += 2;
    } else if (c === quote) {
      if (sql[j + 1] === quote) j += 2;
      else return j + 1;
    } else {
      j++;
    }
  }
  return j;
}

/** The end of a dollar-quoted string opening at `i`, or of a parameter (`$1`), or past a lone `$`. */
function dollarEnd(sql: string, i: number): number {
  let j = i + 1;
  if (isDigit(sql[j] ?? "")) {
    while (isDigit(sql[j] ?? "")) j++;
    return j;
  }
  while (j < sql.length && identifierPart(sql[j]) && sql[j] !== "$") j++;
  if (sql[j] !== "$" || (j > i + 1 && isDigit(sql[i + 1]))) return i + 1;
  const tag = sql.slice(i, j + 1);
  const close = sql.indexOf(tag, j + 1);
  return close < 0 ? sql.length : close + tag.length;
}

/** The value of a string literal ('…', its quotes doubled inside). */
export function stringValue(text: string): string {
  return text.slice(1, -1).replaceAll("''", "'");
}

const int4Max = 2147483647n;
const int8Min = -9223372036854775808n;
const int8Max = 9223372036854775807n;

/**
 * The type PostgreSQL gives a numeric literal, `negated` when a minus sign folds into it (`-5`):
 * an integer that fits int4 as written is int4 (negated too), one that fits int8 with its sign int8,
 * anything else numeric.
 */
export function literalType(text: string, negated: boolean): NumericType {
  if (!/^\d+$/.test(text)) return 1700;
  if (text.length <= 9) return 23;
  const value = BigInt(text);
  if (value <= int4Max) return 23;
  const signed = negated ? -value : value;
  return signed >= int8Min && signed <= int8Max ? 20 : 1700;
}
