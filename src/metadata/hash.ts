// PostgreSQL's hash functions, bit for bit, and the hash-range layout of shards. A row of a
// hash-distributed table lives on the shard whose range holds the hash of its distribution column,
// computed by the column type's default hash support function (as Citus does); computing that hash
// here lets the router pick a shard without asking any server. The byte hash is Bob Jenkins'
// lookup3 as PostgreSQL's hash_bytes() runs it on a little-endian machine.
//
// Values reach hashValue() in PostgreSQL's text output format (DateStyle ISO, bytea_output hex or
// escape, extra_float_digits >= 1). Text types assume a deterministic collation, where PostgreSQL
// hashes the raw UTF-8 bytes.

import { SqlError, assert } from "../errors.js";

/** OIDs of the types hashValue() understands. */
export const oid = {
  bool: 16,
  bytea: 17,
  char: 18,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  oid: 26,
  float4: 700,
  float8: 701,
  macaddr8: 774,
  macaddr: 829,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  time: 1083,
  timestamp: 1114,
  timestamptz: 1184,
  timetz: 1266,
  numeric: 1700,
  uuid: 2950,
} as const;

/** The type OIDs for which hashValue() computes PostgreSQL's hash. */
export const hashableTypes: ReadonlySet<number> = new Set<number>(Object.values(oid));

// ---- lookup3 (PostgreSQL's hash_bytes and hash_bytes_uint32) ----

const INITIAL = 0x9e3779b9 + 3923095;

/** lookup3's final(): mixes a, b and c and returns c; all values are int32. */
function finalMix(a: number, b: number, c: number): number {
  c ^= b;
  c = (c - ((b << 14) | (b >>> 18))) | 0;
  a ^= c;
  a = (a - ((c << 11) | (c >>> 21))) | 0;
  b ^= a;
  b = (b - ((a << 25) | (a >>> 7))) | 0;
  c ^= b;
  c = (c - ((b << 16) | (b >>> 16))) | 0;
  a ^= c;
  a = (a - ((c << 4) | (c >>> 28))) | 0;
  b ^= a;
  b = (b - ((a << 14) | (a >>> 18))) | 0;
  c ^= b;
  c = (c - ((b << 24) | (b >>> 8))) | 0;
  return c;
}

/** hash_bytes_uint32(): hashes one 32-bit word (PostgreSQL's hash_uint32). */
function hashUint32(k: number): number {
  const init = (INITIAL + 4) | 0;
  return finalMix((init + k) | 0, init, init);
}

/** hash_bytes() over bytes[start, start + length). */
function hashByteRange(bytes: Uint8Array, start: number, length: number): number {
  let a = (INITIAL + length) | 0;
  let b = a;
  let c = a;
  let i = start;
  let left = length;
  while (left >= 12) {
    a = (a + (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24))) | 0;
    b = (b + (bytes[i + 4]! | (bytes[i + 5]! << 8) | (bytes[i + 6]! << 16) | (bytes[i + 7]! << 24))) | 0;
    c = (c + (bytes[i + 8]! | (bytes[i + 9]! << 8) | (bytes[i + 10]! << 16) | (bytes[i + 11]! << 24))) | 0;
    // mix(a, b, c)
    a = (a - c) | 0;
    a ^= (c << 4) | (c >>> 28);
    c = (c + b) | 0;
    b = (b - a) | 0;
    b ^= (a << 6) | (a >>> 26);
    a = (a + c) | 0;
    c = (c - b) | 0;
    c ^= (b << 8) | (b >>> 24);
    b = (b + a) | 0;
    a = (a - c) | 0;
    a ^= (c << 16) | (c >>> 16);
    c = (c + b) | 0;
    b = (b - a) | 0;
    b ^= (a << 19) | (a >>> 13);
    a = (a + c) | 0;
    c = (c - b) | 0;
    c ^= (b << 4) | (b >>> 28);
    b = (b + a) | 0;
    i += 12;
    left -= 12;
  }
  // The last 0..11 bytes, little-endian: bytes 0-3 into a, 4-7 into b, 8-10 into c above its
  // lowest byte (which lookup3 reserves for the length).
  for (let k = 0; k < left; k++) {
    const byte = bytes[i + k]!;
    if (k < 4) a = (a + (byte << (8 * k))) | 0;
    else if (k < 8) b = (b + (byte << (8 * (k - 4)))) | 0;
    else c = (c + (byte << (8 * (k - 7)))) | 0;
  }
  return finalMix(a, b, c);
}

/** hash_bytes() of the 8 bytes of a little-endian int64 or float8, given as its two 32-bit halves. */
function hashEightBytes(low: number, high: number): number {
  const init = (INITIAL + 8) | 0;
  return finalMix((init + low) | 0, (init + high) | 0, init);
}

// ---- scratch space and UTF-8 ----

// Hashing encodes into this buffer rather than allocating; it grows up to SCRATCH_BYTES_MAX, and
// larger inputs get a buffer of their own.
const SCRATCH_BYTES_MAX = 1 << 20;
let scratch = new Uint8Array(1024);

/** Returns a buffer of at least `bytes` bytes, the shared scratch buffer when it is small enough. */
function scratchOf(bytes: number): Uint8Array {
  if (bytes <= scratch.length) return scratch;
  if (bytes > SCRATCH_BYTES_MAX) return new Uint8Array(bytes);
  scratch = new Uint8Array(Math.max(bytes, scratch.length * 2));
  return scratch;
}

/** Writes the UTF-8 encoding of s into buffer (at least 3 bytes per UTF-16 unit); returns the length. */
function encodeUtf8(s: string, buffer: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    let code = s.charCodeAt(i);
    if (code < 0x80) {
      buffer[n++] = code;
      continue;
    }
    if (code < 0x800) {
      buffer[n++] = 0xc0 | (code >> 6);
      buffer[n++] = 0x80 | (code & 0x3f);
      continue;
    }
    if (code >= 0xd800 && code <= 0xdfff) {
      const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
        i++;
        buffer[n++] = 0xf0 | (code >> 18);
        buffer[n++] = 0x80 | ((code >> 12) & 0x3f);
        buffer[n++] = 0x80 | ((code >> 6) & 0x3f);
        buffer[n++] = 0x80 | (code & 0x3f);
        continue;
      }
      code = 0xfffd; // a lone surrogate, as TextEncoder writes it
    }
    buffer[n++] = 0xe0 | (code >> 12);
    buffer[n++] = 0x80 | ((code >> 6) & 0x3f);
    buffer[n++] = 0x80 | (code & 0x3f);
  }
  return n;
}

// ---- hash functions by type ----

/** Hashes an int4 as PostgreSQL's hashint4 does; the result is the signed int4 PostgreSQL prints. */
export function hashInt4(v: number): number {
  return hashUint32(v | 0);
}

/** Hashes an int2 as PostgreSQL's hashint2 does (the same as hashint4 of the widened value). */
export function hashInt2(v: number): number {
  return hashUint32(v | 0);
}

/** Hashes an oid (an unsigned 32-bit value) as PostgreSQL's hashoid does. */
export function hashOid(v: number): number {
  return hashUint32(v | 0);
}

/** Hashes a bool as PostgreSQL does (bool's hash opclass uses hashchar: the hash of 0 or 1). */
export function hashBool(v: boolean): number {
  return hashUint32(v ? 1 : 0);
}

/** Hashes an int64 given as its signed high and its low 32 bits, as hashint8 does. */
function hashInt64Halves(high: number, low: number): number {
  // hashint8 folds the high half into the low one so that int8 values in int4 range hash as int4s.
  return hashUint32(low ^ (high >= 0 ? high : ~high));
}

/** hashint8 of a safe integer, without going through bigint. */
function hashInt64Number(v: number): number {
  return hashInt64Halves(Math.floor(v / 4294967296) | 0, v | 0);
}

/** Hashes an int8 as PostgreSQL's hashint8 does. */
export function hashInt8(v: bigint): number {
  assert(v >= -(1n << 63n) && v < 1n << 63n, "hashInt8 value within int8 range");
  return hashInt64Halves(Number(BigInt.asIntN(32, v >> 32n)), Number(BigInt.asIntN(32, v)));
}

/** Hashes bytes as PostgreSQL's hash_any does (bytea's hashvarlena, and the base of most others). */
export function hashBytes(bytes: Uint8Array): number {
  return hashByteRange(bytes, 0, bytes.length);
}

/** Hashes a text or varchar value as hashtext does under a deterministic collation. */
export function hashText(s: string): number {
  const buffer = scratchOf(s.length * 3);
  return hashByteRange(buffer, 0, encodeUtf8(s, buffer));
}

/** Hashes a bpchar value as hashbpchar does: trailing spaces do not count. */
export function hashBpchar(s: string): number {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 0x20) end--;
  return hashText(end === s.length ? s : s.slice(0, end));
}

const NAME_BYTES_MAX = 63; // NAMEDATALEN - 1

/** Hashes a name as hashname does, after truncating it to 63 bytes at a character boundary as namein does. */
export function hashName(s: string): number {
  const buffer = scratchOf(s.length * 3);
  let length = encodeUtf8(s, buffer);
  if (length > NAME_BYTES_MAX) {
    length = NAME_BYTES_MAX;
    while (length > 0 && (buffer[length]! & 0xc0) === 0x80) length--;
  }
  return hashByteRange(buffer, 0, length);
}

const float64 = new Float64Array(1);
const float64Words = new Int32Array(float64.buffer);
const LOW_WORD = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 0 : 1; // 0 on little-endian hosts

/** Hashes a float8 as hashfloat8 does: 0 and -0 hash to 0, every NaN like the canonical NaN. */
export function hashFloat8(v: number): number {
  if (v === 0) return 0;
  if (Number.isNaN(v)) return hashEightBytes(0, 0x7ff80000);
  float64[0] = v;
  return hashEightBytes(float64Words[LOW_WORD]!, float64Words[1 - LOW_WORD]!);
}

/** Hashes a float4 as hashfloat4 does: like the float8 of the same value. */
export function hashFloat4(v: number): number {
  return hashFloat8(Math.fround(v));
}

/** Hashes a uuid in its text form (hex digits, optionally with hyphens and braces) as uuid_hash does. */
export function hashUuid(text: string): number {
  const bytes = parseHexBytes(text, 16, "uuid");
  return hashByteRange(bytes, 0, 16);
}

/** Hashes an ISO date ("YYYY-MM-DD[ BC]", "infinity") as date's hash opclass does: hashint4 of days since 2000. */
export function hashDate(text: string): number {
  return hashUint32(parseDate(text));
}

/** Hashes a timestamp in ISO text form as timestamp_hash does: hashint8 of the microseconds since 2000-01-01. */
export function hashTimestamp(text: string): number {
  return hashTimestampText(text, false);
}

/** Hashes a timestamptz in ISO text form with its UTC offset ("2024-01-02 03:04:05.6+00") as timestamp_hash. */
export function hashTimestamptz(text: string): number {
  return hashTimestampText(text, true);
}

/** Hashes a numeric in text form as hash_numeric does: hash_any of its base-10000 digits, xor its weight. */
export function hashNumeric(text: string): number {
  const n = text.length;
  if (NUMERIC_SPECIAL_PATTERN.test(text)) return 0; // NaN and the infinities
  // Find the digits and where the decimal point sits: digit j (counting only digits) stands for
  // 10^(pointAt - 1 - j).
  let i = text.charCodeAt(0) === 0x2d || text.charCodeAt(0) === 0x2b ? 1 : 0;
  let digits = 0;
  let pointAt = -1;
  let firstNonZero = -1;
  let lastNonZero = -1;
  for (; i < n; i++) {
    const ch = text.charCodeAt(i);
    if (ch >= 0x30 && ch <= 0x39) {
      if (ch !== 0x30) {
        if (firstNonZero < 0) firstNonZero = digits;
        lastNonZero = digits;
      }
      digits++;
    } else if (ch === 0x2e && pointAt < 0) {
      pointAt = digits;
    } else break;
  }
  if (digits === 0) throw invalidInput("numeric", text);
  if (pointAt < 0) pointAt = digits;
  if (i < n) {
    const exponent = /^[eE][+-]?\d{1,9}$/.test(text.slice(i)) ? Number(text.slice(i + 1)) : NaN;
    if (!Number.isFinite(exponent)) throw invalidInput("numeric", text);
    pointAt += exponent;
  }
  if (firstNonZero < 0) return -1; // hash_numeric's hash of zero
  const weight = Math.floor((pointAt - 1 - firstNonZero) / 4);
  const lastWeight = Math.floor((pointAt - 1 - lastNonZero) / 4);
  const groups = weight - lastWeight + 1;
  if (groups > NUMERIC_GROUPS_MAX) throw new SqlError("22003", "value overflows numeric format");
  const buffer = scratchOf(groups * 2);
  // Second pass: add each nonzero digit into its base-10000 group, written as little-endian int16s.
  let group = 0;
  let value = 0;
  let j = 0;
  for (i = 0; i < n && j <= lastNonZero; i++) {
    const ch = text.charCodeAt(i);
    if (ch < 0x30 || ch > 0x39) continue;
    if (j >= firstNonZero) {
      const exponent = pointAt - 1 - j;
      const g = weight - Math.floor(exponent / 4);
      while (group < g) {
        buffer[group * 2] = value & 0xff;
        buffer[group * 2 + 1] = value >> 8;
        group++;
        value = 0;
      }
      value += (ch - 0x30) * POWERS_OF_TEN[exponent - 4 * Math.floor(exponent / 4)]!;
    }
    j++;
  }
  buffer[group * 2] = value & 0xff;
  buffer[group * 2 + 1] = value >> 8;
  return hashByteRange(buffer, 0, groups * 2) ^ weight;
}

const NUMERIC_SPECIAL_PATTERN = /^(nan|[+-]?inf(inity)?)$/i;
const POWERS_OF_TEN = [1, 10, 100, 1000];
const NUMERIC_GROUPS_MAX = 40000; // numeric allows 131072 digits before and 16383 after the point

/**
 * Returns PostgreSQL's hash of a value given in its text output format, computed by the default
 * hash support function of its type; null when that type is not hashed here. Throws SQLSTATE 22P02
 * (or 22003) for text the type's output could not have produced.
 */
export function hashValue(typeOid: number, text: string): number | null {
  switch (typeOid) {
    case oid.int4:
      return hashUint32(parseInteger(text, -2147483648, 2147483647, "integer"));
    case oid.int8:
      return hashInt8Text(text);
    case oid.int2:
      return hashUint32(parseInteger(text, -32768, 32767, "smallint"));
    case oid.oid:
      return hashUint32(parseInteger(text, -2147483648, 4294967295, "oid") | 0);
    case oid.text:
    case oid.varchar:
      return hashText(text);
    case oid.bpchar:
      return hashBpchar(text);
    case oid.name:
      return hashName(text);
    case oid.bytea:
      return hashByteaText(text);
    case oid.uuid:
      return hashUuid(text);
    case oid.bool:
      return hashBool(parseBool(text));
    case oid.char:
      return hashUint32((parseChar(text) << 24) >> 24); // hashchar widens a signed char
    case oid.date:
      return hashDate(text);
    case oid.timestamp:
      return hashTimestampText(text, false);
    case oid.timestamptz:
      return hashTimestampText(text, true);
    case oid.time:
      return hashInt64Number(parseTime(text, "time without time zone"));
    case oid.timetz:
      return hashTimetzText(text);
    case oid.numeric:
      return hashNumeric(text);
    case oid.float8:
      return hashFloat8(parseFloatText(text, "double precision"));
    case oid.float4:
      return hashFloat4(parseFloatText(text, "real"));
    case oid.macaddr:
      return hashByteRange(parseHexBytes(text, 6, "macaddr"), 0, 6);
    case oid.macaddr8:
      return hashByteRange(parseMacaddr8(text), 0, 8);
    default:
      return null;
  }
}

// ---- shard ranges ----

const HASH_TOKEN_COUNT = 4294967296; // 2^32
const HASH_MIN = -2147483648;

/**
 * Returns hashValue(typeOid, text) for a value whose text is bytes[start, end), without making a
 * string, when the text is written plainly: for int2, int4 and int8 an optional sign and at most
 * 15 digits within the type's range; for text, varchar and bpchar ASCII. Null otherwise (another
 * type or spelling, or text hashValue rejects): then the text goes through hashValue itself.
 */
export function hashPlainBytes(typeOid: number, bytes: Uint8Array, start: number, end: number): number | null {
  switch (typeOid) {
    case oid.int2:
      return hashPlainInteger(bytes, start, end, -32768, 32767, false);
    case oid.int4:
      return hashPlainInteger(bytes, start, end, -2147483648, 2147483647, false);
    case oid.int8:
      return hashPlainInteger(bytes, start, end, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, true);
    case oid.bpchar:
      while (end > start && bytes[end - 1] === 0x20) end--;
      return isAscii(bytes, start, end) ? hashByteRange(bytes, start, end - start) : null;
    case oid.text:
    case oid.varchar:
      return isAscii(bytes, start, end) ? hashByteRange(bytes, start, end - start) : null;
    default:
      return null;
  }
}

function hashPlainInteger(bytes: Uint8Array, start: number, end: number, min: number, max: number, int8: boolean) {
  const sign = bytes[start];
  let i = sign === 0x2d || sign === 0x2b ? start + 1 : start;
  if (i === end || end - i > 15) return null;
  let v = 0;
  for (; i < end; i++) {
    const digit = bytes[i]! - 0x30;
    if (digit < 0 || digit > 9) return null;
    v = v * 10 + digit;
  }
  if (sign === 0x2d) v = -v;
  if (v < min || v > max) return null;
  return int8 ? hashInt64Number(v) : hashUint32(v);
}

function isAscii(bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (bytes[i]! >= 0x80) return false;
  return true;
}

/** The hash range [min, max] of each of `count` shards: equal slices of the int32 range, as Citus lays them out. */
export function shardRanges(count: number): { min: number; max: number }[] {
  assertShardCount(count);
  const increment = Math.floor(HASH_TOKEN_COUNT / count);
  const ranges: { min: number; max: number }[] = [];
  for (let i = 0; i < count; i++) {
    const min = HASH_MIN + i * increment;
    ranges.push({ min, max: i === count - 1 ? 2147483647 : min + increment - 1 });
  }
  return ranges;
}

/** Returns the index of the shard, of `count` laid out by shardRanges(), whose range holds `hash`. */
export function shardIndexForHash(hash: number, count: number): number {
  // (hash - min) / increment is exact in doubles for these magnitudes; the last shard also takes
  // the remainder of 2^32 / count.
  const index = Math.floor((hash - HASH_MIN) / Math.floor(HASH_TOKEN_COUNT / count));
  return index < count ? index : count - 1;
}

function assertShardCount(count: number): void {
  assert(Number.isInteger(count) && count >= 1 && count <= HASH_TOKEN_COUNT, `shard count ${count} in 1..2^32`);
}

// ---- text parsing ----

function invalidInput(typeName: string, text: string): SqlError {
  return new SqlError("22P02", `invalid input syntax for type ${typeName}: "${text}"`);
}

function outOfRange(typeName: string, text: string): SqlError {
  return new SqlError("22003", `value "${text}" is out of range for type ${typeName}`);
}

/** Parses an optionally signed decimal integer of at most 15 digits within [min, max]. */
function parseInteger(text: string, min: number, max: number, typeName: string): number {
  const n = text.length;
  let i = 0;
  const sign = text.charCodeAt(0);
  if (sign === 0x2d || sign === 0x2b) i = 1;
  if (i === n || n - i > 15) {
    if (n - i > 15 && /^[+-]?\d+$/.test(text)) throw outOfRange(typeName, text);
    throw invalidInput(typeName, text);
  }
  let v = 0;
  for (; i < n; i++) {
    const digit = text.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9) throw invalidInput(typeName, text);
    v = v * 10 + digit;
  }
  if (sign === 0x2d) v = -v;
  if (v < min || v > max) throw outOfRange(typeName, text);
  return v;
}

function hashInt8Text(text: string): number {
  if (text.length <= 15)
    return hashInt64Number(parseInteger(text, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, "bigint"));
  if (!/^[+-]?\d+$/.test(text)) throw invalidInput("bigint", text);
  const v = BigInt(text);
  if (v < -(1n << 63n) || v >= 1n << 63n) throw outOfRange("bigint", text);
  return hashInt8(v);
}

function parseBool(text: string): boolean {
  switch (text.toLowerCase()) {
    case "t":
    case "true":
      return true;
    case "f":
    case "false":
      return false;
    default:
      throw invalidInput("boolean", text);
  }
}

/** Parses a "char" as charin does: "\ooo" octal, else the first byte (0 for ""). */
function parseChar(text: string): number {
  if (text.length === 4 && text.charCodeAt(0) === 0x5c && /^\\[0-3][0-7][0-7]$/.test(text)) {
    return Number.parseInt(text.slice(1), 8);
  }
  if (text.length === 0) return 0;
  const buffer = scratchOf(6);
  encodeUtf8(text.slice(0, 2), buffer);
  return buffer[0]!;
}

const FLOAT_PATTERN = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(Infinity|inf)$|^NaN$/i;

function parseFloatText(text: string, typeName: string): number {
  if (!FLOAT_PATTERN.test(text)) throw invalidInput(typeName, text);
  const lower = text.toLowerCase();
  if (lower === "nan") return NaN;
  if (lower.endsWith("inf") || lower.endsWith("infinity")) return lower.startsWith("-") ? -Infinity : Infinity;
  const v = Number(text);
  if (!Number.isFinite(v)) throw outOfRange(typeName, text);
  return v;
}

function hexValue(ch: number): number {
  if (ch >= 0x30 && ch <= 0x39) return ch - 0x30;
  const lower = ch | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

const fixedBytes = new Uint8Array(16);

/** Reads exactly `count` bytes of hex digits, skipping the separators uuid and macaddr text may have. */
function parseHexBytes(text: string, count: number, typeName: string): Uint8Array {
  let nibbles = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    const v = hexValue(ch);
    if (v < 0) {
      if (ch === 0x2d || ch === 0x3a || ch === 0x2e || ch === 0x7b || ch === 0x7d) continue; // - : . { }
      throw invalidInput(typeName, text);
    }
    if (nibbles >= count * 2) throw invalidInput(typeName, text);
    if ((nibbles & 1) === 0) fixedBytes[nibbles >> 1] = v << 4;
    else fixedBytes[nibbles >> 1]! |= v;
    nibbles++;
  }
  if (nibbles !== count * 2) throw invalidInput(typeName, text);
  return fixedBytes;
}

/** Reads a macaddr8; a 6-byte address becomes 8 bytes with FF:FE in the middle, as macaddr8_in does. */
function parseMacaddr8(text: string): Uint8Array {
  const hexDigits = text.replace(/[-:.]/g, "").length;
  if (hexDigits !== 12) return parseHexBytes(text, 8, "macaddr8");
  const bytes = parseHexBytes(text, 6, "macaddr8");
  bytes.copyWithin(5, 3, 6);
  bytes[3] = 0xff;
  bytes[4] = 0xfe;
  return bytes;
}

/** Hashes bytea text in hex ("\x0a1b") or escape ("a\\000b") format as hashvarlena does. */
function hashByteaText(text: string): number {
  if (text.startsWith("\\x")) {
    const buffer = scratchOf((text.length - 2) >> 1);
    let length = 0;
    for (let i = 2; i < text.length;) {
      const ch = text.charCodeAt(i);
      if (ch === 0x20 || ch === 0x09 || ch === 0x0a || ch === 0x0d) {
        i++;
        continue;
      }
      const high = hexValue(ch);
      const low = i + 1 < text.length ? hexValue(text.charCodeAt(i + 1)) : -1;
      if (high < 0 || low < 0) throw invalidInput("bytea", text);
      buffer[length++] = (high << 4) | low;
      i += 2;
    }
    return hashByteRange(buffer, 0, length);
  }
  const buffer = scratchOf(text.length * 3);
  let length = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch !== 0x5c) {
      if (ch < 0x80) buffer[length++] = ch;
      else {
        const end = ch >= 0xd800 && ch <= 0xdbff ? i + 2 : i + 1;
        length += encodeUtf8(text.slice(i, end), buffer.subarray(length));
        i = end - 1;
      }
    } else if (text.charCodeAt(i + 1) === 0x5c) {
      buffer[length++] = 0x5c;
      i++;
    } else if (/^[0-3][0-7][0-7]$/.test(text.slice(i + 1, i + 4))) {
      buffer[length++] = Number.parseInt(text.slice(i + 1, i + 4), 8);
      i += 3;
    } else throw invalidInput("bytea", text);
  }
  return hashByteRange(buffer, 0, length);
}

const DAYS_1970_TO_2000 = 10957;
const DATE_PATTERN = /^(\d{4,})-(\d\d)-(\d\d)( BC)?$/;

/** Days since 2000-01-01 of a proleptic Gregorian date (astronomical year: 1 BC is year 0). */
function daysSince2000(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146097 + dayOfEra - 719468 - DAYS_1970_TO_2000;
}

/** Converts a year as PostgreSQL prints it ("0044" with " BC") to an astronomical year. */
function astronomicalYear(digits: string, bc: string | undefined): number {
  const year = Number(digits);
  return bc ? 1 - year : year;
}

function checkDateParts(month: number, day: number, typeName: string, text: string): void {
  if (month < 1 || month > 12 || day < 1 || day > 31) throw outOfRange(typeName, text);
}

/** Parses an ISO date to PostgreSQL's date value: days since 2000-01-01, infinities at the int32 ends. */
function parseDate(text: string): number {
  if (text === "infinity") return 2147483647;
  if (text === "-infinity") return -2147483648;
  const m = DATE_PATTERN.exec(text);
  if (!m) throw invalidInput("date", text);
  const month = Number(m[2]);
  const day = Number(m[3]);
  checkDateParts(month, day, "date", text);
  return daysSince2000(astronomicalYear(m[1]!, m[4]), month, day);
}

/** Parses "HH:MM:SS[.ffffff]" to microseconds, rounding digits past the sixth as PostgreSQL does. */
function parseTime(text: string, typeName: string): number {
  const m = TIME_PATTERN.exec(text);
  if (!m) throw invalidInput(typeName, text);
  const hours = Number(m[1]);
  const minutes = Number(m[2]);
  const seconds = Number(m[3]);
  if (hours > 24 || minutes > 59 || seconds > 60) throw outOfRange(typeName, text);
  return ((hours * 60 + minutes) * 60 + seconds) * 1000000 + fractionMicroseconds(m[4]);
}

const TIME_PATTERN = /^(\d\d):(\d\d):(\d\d)(?:\.(\d+))?$/;

/** Microseconds of a fraction's digits: exact up to six digits, else rint(strtod * 10^6) as PostgreSQL. */
function fractionMicroseconds(digits: string | undefined): number {
  if (digits === undefined) return 0;
  if (digits.length <= 6) return Number(digits.padEnd(6, "0"));
  const v = Number("0." + digits) * 1000000;
  const rounded = Math.round(v);
  return rounded - v === 0.5 && rounded % 2 !== 0 ? rounded - 1 : rounded; // ties to even
}

/** Parses a UTC offset "+HH[:MM[:SS]]" to seconds east of Greenwich. */
function parseOffset(sign: string, hours: string, minutes: string | undefined, seconds: string | undefined): number {
  const east = Number(hours) * 3600 + Number(minutes ?? 0) * 60 + Number(seconds ?? 0);
  return sign === "-" ? -east : east;
}

const TIMESTAMP_PATTERN =
  /^(\d{4,})-(\d\d)-(\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)(?:([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?)?( BC)?$/;

function hashTimestampText(text: string, withZone: boolean): number {
  const typeName = withZone ? "timestamp with time zone" : "timestamp without time zone";
  if (text === "infinity") return hashInt64Halves(0x7fffffff, -1);
  if (text === "-infinity") return hashInt64Halves(-0x80000000, 0);
  const m = TIMESTAMP_PATTERN.exec(text);
  if (!m || (m[5] !== undefined) !== withZone) throw invalidInput(typeName, text);
  const month = Number(m[2]);
  const day = Number(m[3]);
  checkDateParts(month, day, typeName, text);
  const days = daysSince2000(astronomicalYear(m[1]!, m[9]), month, day);
  const timeMicroseconds = parseTime(m[4]!, typeName);
  const offsetSeconds = withZone ? parseOffset(m[5]!, m[6]!, m[7], m[8]) : 0;
  // Whole seconds stay exact as doubles; microseconds do for about 285 years around 2000.
  const seconds = days * 86400 - offsetSeconds;
  if (Math.abs(seconds) < 9e9) return hashInt64Number(seconds * 1000000 + timeMicroseconds);
  return hashInt8(BigInt(seconds) * 1000000n + BigInt(timeMicroseconds));
}

const TIMETZ_PATTERN = /^(\d\d:\d\d:\d\d(?:\.\d+)?)([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?$/;

/** Hashes a timetz as timetz_hash does: hashint8 of the time, xor hash_uint32 of the zone in seconds west. */
function hashTimetzText(text: string): number {
  const m = TIMETZ_PATTERN.exec(text);
  if (!m) throw invalidInput("time with time zone", text);
  const time = parseTime(m[1]!, "time with time zone");
  const zoneWest = -parseOffset(m[2]!, m[3]!, m[4], m[5]);
  return hashInt64Number(time) ^ hashUint32(zoneWest);
}
