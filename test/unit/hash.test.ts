// Tests for src/metadata/hash.ts: PostgreSQL's hash functions checked against a real PostgreSQL on
// thousands of seeded random values per type, and the shard range layout.
//
// The arbiter for each type is hash_array(ARRAY[x]) - 31: hash_array hashes its one element with the
// default hash opclass support function of the element's type (the function that routes rows), and
// combines it as 31 + h. Where that support function is callable from SQL it is checked as well.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { SqlError } from "../../src/errors.js";
import {
  hashableTypes,
  hashBool,
  hashBpchar,
  hashBytes,
  hashDate,
  hashFloat4,
  hashFloat8,
  hashInt2,
  hashInt4,
  hashInt8,
  hashName,
  hashNumeric,
  hashOid,
  hashPlainBytes,
  hashText,
  hashTimestamp,
  hashTimestamptz,
  hashUuid,
  hashValue,
  shardIndexForHash,
  shardRanges,
} from "../../src/metadata/hash.js";
import { hasPostgres, startTempPostgres, type TempPostgres } from "../support/postgres.js";

const skip = hasPostgres() ? false : "PostgreSQL server binaries not installed";

/** mulberry32: a small seeded PRNG, so that a failing input can be reproduced. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = prng(20240611);
const uint32 = (): number => Math.floor(random() * 4294967296);
const int32 = (): number => uint32() | 0;
const between = (min: number, max: number): number => min + Math.floor(random() * (max - min + 1));
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const pad = (n: number, width: number): string => String(n).padStart(width, "0");
const times = <T>(n: number, make: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => make(i));

const ALPHABET = ["a", "b", "Z", "0", " ", "'", "\\", '"', "\t", "é", "ß", "漢", "字", "😀", "🎉", "€"];
const randomString = (length: number): string => times(length, () => pick(ALPHABET)).join("");
const asciiString = (length: number): string => times(length, () => String.fromCharCode(between(0x20, 0x7e))).join("");
const randomBytes = (length: number): number[] => times(length, () => between(0, 255));
const hex = (bytes: readonly number[]): string => bytes.map((b) => b.toString(16).padStart(2, "0")).join("");

function uuidText(bytes: readonly number[]): string {
  const h = hex(bytes);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A random timestamp in PostgreSQL's ISO form, half of them near 2000, some BC. */
function timestampText(): string {
  const year = random() < 0.5 ? between(1900, 2100) : between(-4712, 294275); // astronomical
  const digits = between(0, 6);
  const fraction = digits === 0 ? "" : "." + times(digits, () => between(0, 9)).join("");
  const date = `${pad(year <= 0 ? 1 - year : year, 4)}-${pad(between(1, 12), 2)}-${pad(between(1, 28), 2)}`;
  const time = `${pad(between(0, 23), 2)}:${pad(between(0, 59), 2)}:${pad(between(0, 59), 2)}${fraction}`;
  return `${date} ${time}${year <= 0 ? " BC" : ""}`;
}

function offsetText(): string {
  const sign = random() < 0.5 ? "+" : "-";
  return `${sign}${pad(between(0, 14), 2)}:${pick(["00", "15", "30", "45"])}`;
}

/** A random numeric literal: leading and trailing zeros, signs, exponents, and the special values. */
function numericText(): string {
  const roll = random();
  if (roll < 0.02) return pick(["NaN", "Infinity", "-Infinity", "0", "-0.000", "0e5"]);
  const digits = (n: number): string => times(n, () => (random() < 0.3 ? 0 : between(0, 9))).join("");
  const sign = pick(["", "", "-", "+"]);
  const integer = digits(between(0, 30));
  const fraction = random() < 0.6 ? "." + digits(between(1, 30)) : "";
  const exponent = random() < 0.1 ? `e${between(-20, 20)}` : "";
  return `${sign}${integer || "0"}${fraction}${exponent}`;
}

/** A random float8: random bit patterns (NaNs, infinities, subnormals) and some plain values. */
function randomDouble(): number {
  const words = new Uint32Array([uint32(), uint32()]);
  return random() < 0.7 ? new Float64Array(words.buffer)[0]! : (random() - 0.5) * 10 ** between(-10, 10);
}

function randomFloat4(): number {
  return new Float32Array(new Uint32Array([uint32()]).buffer)[0]!;
}

/** The int32 PostgreSQL's hash_array result encodes for a one-element array. */
const elementHash = (arrayHash: number): number => (arrayHash - 31) | 0;

describe("hash functions against PostgreSQL", { skip }, () => {
  let server: TempPostgres;
  let client: pg.Client;

  before(async () => {
    server = await startTempPostgres();
    client = new pg.Client({ connectionString: server.url });
    await client.connect();
  });

  after(async () => {
    await client?.end();
    await server?.stop();
  });

  interface Row {
    input: string;
    out: string;
    array_hash: number;
    fn_hash: number | null;
  }

  /**
   * Evaluates `valueSql` (an expression over the input text v) on the server for every input and
   * returns its text output, its hash through hash_array, and `fnSql` (an expression over the
   * value x), so that a test can compare them with what Canopy computes.
   */
  async function serverHashes(inputs: readonly string[], valueSql: string, fnSql = "NULL::int4"): Promise<Row[]> {
    const result = await client.query<Row>(
      `SELECT v AS input, x::text AS out, hash_array(ARRAY[x]) AS array_hash, ${fnSql} AS fn_hash
         FROM (SELECT v, ${valueSql} AS x, o FROM unnest($1::text[]) WITH ORDINALITY AS u(v, o)) s
        ORDER BY o`,
      [inputs],
    );
    assert.equal(result.rows.length, inputs.length);
    return result.rows;
  }

  /** Asserts that `ours(row)` equals the server's hash of every row (and its named function's). */
  function assertHashes(rows: readonly Row[], ours: (row: Row) => number | null): void {
    const mismatches: unknown[] = [];
    for (const row of rows) {
      const expected = elementHash(row.array_hash);
      const actual = ours(row);
      if (actual !== expected || (row.fn_hash !== null && row.fn_hash !== expected)) {
        mismatches.push({ input: row.input, out: row.out, expected, fn: row.fn_hash, actual });
      }
    }
    assert.deepEqual(mismatches.slice(0, 5), [], `${mismatches.length} of ${rows.length} differ`);
  }

  test("int4: hashint4", async () => {
    const values = [0, -1, 1, 2147483647, -2147483648, ...times(3000, int32)];
    const rows = await serverHashes(values.map(String), "v::int4", "hashint4(x)");
    assertHashes(rows, (r) => hashValue(23, r.out));
    assertHashes(rows, (r) => hashInt4(Number(r.input)));
  });

  test("int2: hashint2", async () => {
    const values = [0, -1, 1, 32767, -32768, ...times(1000, () => between(-32768, 32767))];
    const rows = await serverHashes(values.map(String), "v::int2", "hashint2(x)");
    assertHashes(rows, (r) => hashValue(21, r.out));
    assertHashes(rows, (r) => hashInt2(Number(r.input)));
  });

  test("int8: hashint8", async () => {
    const edges = [0n, -1n, 1n, 2n ** 31n - 1n, -(2n ** 31n), 2n ** 32n, -(2n ** 32n), 2n ** 53n, -(2n ** 53n) - 1n];
    const values = [
      ...edges,
      2n ** 63n - 1n,
      -(2n ** 63n),
      ...times(1000, () => BigInt.asIntN(64, (BigInt(uint32()) << 32n) | BigInt(uint32()))),
      ...times(1000, () => BigInt(int32())),
      ...times(1000, () => BigInt(Math.floor((random() - 0.5) * 2 ** 53))),
    ];
    const rows = await serverHashes(values.map(String), "v::int8", "hashint8(x)");
    assertHashes(rows, (r) => hashValue(20, r.out));
    assertHashes(rows, (r) => hashInt8(BigInt(r.input)));
  });

  test("oid: hashoid", async () => {
    const values = [0, 1, 2147483647, 2147483648, 4294967295, ...times(1000, uint32)];
    const rows = await serverHashes(values.map(String), "v::oid", "hashoid(x)");
    assertHashes(rows, (r) => hashValue(26, r.out));
    assertHashes(rows, (r) => hashOid(Number(r.input)));
  });

  const strings = [
    "",
    "é",
    "漢字",
    "😀",
    "a😀b",
    "ÀÉÎÕÜ",
    ...times(41, (length) => asciiString(length)), // every lookup3 tail length, and then some
    ...times(41, (length) => randomString(length)),
    ...times(2000, () => randomString(between(0, 40))),
  ];

  test("text and varchar: hashtext over UTF-8 bytes", async () => {
    const rows = await serverHashes(strings, "v::text", "hashtext(x)");
    assertHashes(rows, (r) => hashValue(25, r.out));
    assertHashes(rows, (r) => hashText(r.input));
    const varcharRows = await serverHashes(strings, "v::varchar", "hashtext(x)");
    assertHashes(varcharRows, (r) => hashValue(1043, r.out));
  });

  test("bpchar: hashbpchar ignores trailing spaces", async () => {
    const padded = [" ", "   ", "a ", " a", "a  b  ", "é ", ...strings.map((s) => s + " ".repeat(between(0, 3)))];
    const rows = await serverHashes(padded, "v::bpchar", "hashbpchar(x)");
    assertHashes(rows, (r) => hashValue(1042, r.out));
    assertHashes(rows, (r) => hashBpchar(r.input));
    const short = padded.filter((s) => [...s].length <= 12);
    const fixedRows = await serverHashes(short, "v::char(12)", "hashbpchar(x)");
    assertHashes(fixedRows, (r) => hashValue(1042, r.out)); // the output is padded to 12 characters
  });

  test("name: hashname, truncated to 63 bytes", async () => {
    const names = [...strings, "x".repeat(63), "x".repeat(64), "é".repeat(40), "a" + "漢".repeat(30), "😀".repeat(20)];
    const rows = await serverHashes(names, "v::name", "hashname(x)");
    assertHashes(rows, (r) => hashValue(19, r.out));
    assertHashes(rows, (r) => hashName(r.input));
  });

  test("bytea: hash_any over the bytes, hex and escape output", async () => {
    const values = [[], [0], [255], [92], ...times(41, (n) => randomBytes(n)), ...times(1000, () => randomBytes(40))];
    const inputs = values.map((b) => "\\x" + hex(b));
    const rows = await serverHashes(inputs, "v::bytea");
    assertHashes(rows, (r) => hashValue(17, r.out));
    assertHashes(rows, (r) => hashBytes(Uint8Array.from(Buffer.from(r.input.slice(2), "hex"))));
    await client.query("SET bytea_output = 'escape'");
    try {
      const escapeRows = await serverHashes(inputs, "v::bytea");
      assert.ok(escapeRows.some((r) => r.out.includes("\\\\")) && escapeRows.some((r) => /\\[0-3]/.test(r.out)));
      assertHashes(escapeRows, (r) => hashValue(17, r.out));
    } finally {
      await client.query("RESET bytea_output");
    }
  });

  test("uuid: uuid_hash", async () => {
    const inputs = [
      "00000000-0000-0000-0000-000000000000",
      "ffffffff-ffff-ffff-ffff-ffffffffffff",
      "{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}",
      "a0eebc999c0b4ef8bb6d6bb9bd380a11",
      ...times(2000, () => uuidText(randomBytes(16))),
    ];
    const rows = await serverHashes(inputs, "v::uuid", "uuid_hash(x)");
    assertHashes(rows, (r) => hashValue(2950, r.out));
    assertHashes(rows, (r) => hashUuid(r.input));
  });

  test("bool: hashchar of 0 or 1", async () => {
    const rows = await serverHashes(["t", "f", "true", "false"], "v::bool");
    assertHashes(rows, (r) => hashValue(16, r.out));
    assertHashes(rows, (r) => hashValue(16, r.input));
    assertHashes(rows, (r) => hashBool(r.out === "true")); // bool::text says true, not t
  });

  test('"char": hashchar of a signed char', async () => {
    const inputs = times(256, (byte) =>
      byte === 0 ? "" : byte < 128 ? String.fromCharCode(byte) : "\\" + byte.toString(8).padStart(3, "0"),
    );
    const rows = await serverHashes([...inputs, "é", "abc"], 'v::"char"', "hashchar(x)");
    assertHashes(rows, (r) => hashValue(18, r.out));
    assertHashes(rows, (r) => hashValue(18, r.input));
  });

  test("date: hashint4 of days since 2000-01-01", async () => {
    const offsets = [0, -1, 1, -2451545, 2145031948, ...times(2000, () => between(-2451545, 2145031948))];
    const rows = await serverHashes(
      [...offsets.map(String), "infinity", "-infinity"],
      "CASE WHEN v LIKE '%infinity' THEN v::date ELSE date '2000-01-01' + v::int4 END",
      "CASE WHEN isfinite(x) THEN hashint4(x - date '2000-01-01') END",
    );
    assert.ok(rows.some((r) => r.out.endsWith(" BC")) && rows.some((r) => r.out.startsWith("5874897-12-31")));
    assertHashes(rows, (r) => hashValue(1082, r.out));
    assertHashes(rows, (r) => hashDate(r.out));
  });

  const timestamps = [
    "2000-01-01 00:00:00",
    "1999-12-31 23:59:59.999999",
    "2000-01-01 24:00:00",
    "1970-01-01 00:00:00.5",
    "2024-02-29 12:34:56.1234567",
    "2024-02-29 12:34:56.1234565",
    "2024-02-29 12:34:56.1234575",
    "4714-11-24 00:00:00 BC",
    "294276-12-31 23:59:59.999999",
    ...times(3000, timestampText),
  ];

  test("timestamp: hashint8 of microseconds since 2000-01-01", async () => {
    const rows = await serverHashes([...timestamps, "infinity", "-infinity"], "v::timestamp", "timestamp_hash(x)");
    assertHashes(rows, (r) => hashValue(1114, r.out));
    assertHashes(rows, (r) => hashTimestamp(r.out));
    assertHashes(rows, (r) => hashValue(1114, r.input)); // more than six fraction digits round as in PostgreSQL
  });

  test("timestamptz: hashint8 of microseconds since 2000-01-01 UTC", async () => {
    const inputs = [
      "infinity",
      "-infinity",
      "2000-01-01 00:00:00+00",
      "4714-11-24 00:00:00+00 BC",
      ...timestamps
        .slice(9)
        .map((t) => (t.endsWith(" BC") ? t.replace(" BC", offsetText() + " BC") : t + offsetText())),
    ];
    const rows = await serverHashes(inputs, "v::timestamptz", "timestamp_hash(x AT TIME ZONE 'UTC')");
    assert.ok(rows.every((r) => !/\d:\d\d(\.\d+)?[+-]/.test(r.out) || /\+00( BC)?$/.test(r.out)));
    assertHashes(rows, (r) => hashValue(1184, r.out));
    assertHashes(rows, (r) => hashTimestamptz(r.out));
    assertHashes(rows, (r) => hashValue(1184, r.input));
    // Offsets with minutes and, before standard time, seconds ("-03:30:52").
    await client.query("SET TimeZone = 'America/St_Johns'");
    try {
      const localRows = await serverHashes(inputs, "v::timestamptz", "timestamp_hash(x AT TIME ZONE 'UTC')");
      assert.ok(localRows.some((r) => /-03:30:52$/.test(r.out)));
      assertHashes(localRows, (r) => hashValue(1184, r.out));
    } finally {
      await client.query("RESET TimeZone");
    }
  });

  const clockTimes = ["00:00:00", "24:00:00", "23:59:59.999999", ...times(1000, () => timestampText().split(" ")[1]!)];

  test("time: hashint8 of microseconds since midnight", async () => {
    const rows = await serverHashes(clockTimes, "v::time", "time_hash(x)");
    assertHashes(rows, (r) => hashValue(1083, r.out));
  });

  test("timetz: hashint8 of the time xor hash_uint32 of the zone", async () => {
    const inputs = [...clockTimes.map((t) => t + offsetText()), "12:00:00+15:59", "12:00:00-15:59", "12:00:00+00"];
    const rows = await serverHashes(inputs, "v::timetz", "timetz_hash(x)");
    assertHashes(rows, (r) => hashValue(1266, r.out));
  });

  test("numeric: hash_numeric of base-10000 digits and weight", async () => {
    const inputs = [
      "0",
      "1",
      "-1",
      "10000",
      "9999",
      "0.0001",
      "0.00001",
      "123456789.987654321",
      "1e100",
      "1.5E-30",
      "-000100.0100",
      "inf",
      "-inf",
      "nan",
      ...times(3000, numericText),
    ];
    const rows = await serverHashes(inputs, "v::numeric", "hash_numeric(x)");
    assertHashes(rows, (r) => hashValue(1700, r.out));
    assertHashes(rows, (r) => hashNumeric(r.input));
  });

  test("float8: hashfloat8", async () => {
    const values = [0, -0, 1, -1, 0.1, 1.5, Number.MIN_VALUE, Number.MAX_VALUE, Infinity, -Infinity, NaN];
    const inputs = [...values.map(String), "-0", ...times(3000, () => String(randomDouble()))];
    const rows = await serverHashes(inputs, "v::float8", "hashfloat8(x)");
    assertHashes(rows, (r) => hashValue(701, r.out));
    assertHashes(rows, (r) => hashFloat8(Number(r.input)));
  });

  test("float4: hashfloat4, the float8 hash of the widened value", async () => {
    const values = [0, 1, -1, 0.1, 1.5, 3.4028234663852886e38, 1.401298464324817e-45, Infinity, -Infinity, NaN];
    const inputs = [...values.map(String), "-0", ...times(3000, () => String(randomFloat4()))];
    const rows = await serverHashes(inputs, "v::float4", "hashfloat4(x)");
    assertHashes(rows, (r) => hashValue(700, r.out));
    assertHashes(rows, (r) => hashFloat4(Number(r.input)));
  });

  test("macaddr and macaddr8: hash_any over the address bytes", async () => {
    const addresses = times(1000, () => randomBytes(6).map((b) => b.toString(16).padStart(2, "0")));
    const rows = await serverHashes(
      [...addresses.map((a) => a.join(":")), "08-00-2b-01-02-03", "08002b:010203"],
      "v::macaddr",
      "hashmacaddr(x)",
    );
    assertHashes(rows, (r) => hashValue(829, r.out));
    const long = times(1000, () =>
      randomBytes(8)
        .map((b) => b.toString(16).padStart(2, "0"))
        .join(":"),
    );
    const rows8 = await serverHashes([...long, ...addresses.map((a) => a.join(":"))], "v::macaddr8", "hashmacaddr8(x)");
    assertHashes(rows8, (r) => hashValue(774, r.out));
    assertHashes(rows8, (r) => hashValue(774, r.input));
  });

  test("every hashable type is covered here, and the set agrees with hashValue", async () => {
    const rows = await client.query<{ oid: number }>(
      `SELECT oid::int4 AS oid FROM pg_type WHERE oid = ANY($1::oid[]) ORDER BY oid`,
      [[...hashableTypes]],
    );
    assert.equal(rows.rows.length, hashableTypes.size);
  });
});

test("values that PostgreSQL's hash functions give, without a server", () => {
  // Each from PostgreSQL 15: SELECT hashint4(0), hashint4(1), hashtext(''), hashchar('\200'), ...
  assert.equal(hashInt4(1), (-1905059995 - 31) | 0);
  assert.equal(hashInt4(0), (-272711474 - 31) | 0);
  assert.equal(hashText(""), -1477818771);
  assert.equal(hashValue(18, "\\200"), 1361043915);
  assert.equal(hashInt4(-128), 1361043915);
  assert.equal(hashFloat8(NaN), -1275764840);
  assert.equal(hashFloat4(NaN), -1275764840);
  assert.equal(hashFloat8(-0), 0);
  assert.equal(hashNumeric("0.000"), -1);
  assert.equal(hashNumeric("NaN"), 0);
  assert.equal(hashNumeric("1"), 1324868424);
  assert.equal(hashNumeric("-1.000"), 1324868424);
  assert.equal(hashValue(1043, "ab "), (-841558295 - 31) | 0);
});

test("hashValue refuses malformed text and unhashed types", () => {
  const refuses = (typeOid: number, text: string, code: string): void =>
    assert.throws(
      () => hashValue(typeOid, text),
      (e: unknown) => e instanceof SqlError && e.code === code,
    );
  refuses(23, "abc", "22P02");
  refuses(23, "", "22P02");
  refuses(23, "2147483648", "22003");
  refuses(21, "32768", "22003");
  refuses(20, "9223372036854775808", "22003");
  refuses(20, "12a", "22P02");
  refuses(2950, "a0eebc99-9c0b", "22P02");
  refuses(1082, "01/02/2024", "22P02");
  refuses(1184, "2024-01-02 03:04:05", "22P02"); // no UTC offset
  refuses(1114, "2024-01-02 03:04:05+00", "22P02");
  refuses(1700, "1.2.3", "22P02");
  refuses(16, "maybe", "22P02");
  assert.equal(hashValue(20, "9223372036854775807"), hashInt8(2n ** 63n - 1n));
  assert.equal(hashValue(114, "{}"), null); // json has no hash opclass
  assert.equal(hashValue(1186, "1 day"), null); // interval: not hashed here
  assert.equal(hashableTypes.has(1186), false);
  assert.equal(hashableTypes.has(23), true);
});

test("hashPlainBytes gives hashValue's hash for plain spellings and leaves the others to it", () => {
  const spellings: [number, string][] = [];
  for (const text of ["0", "-0", "+7", "007", "-2147483648", "2147483647", "2147483648", "32768", "-32769"])
    for (const type of [21, 23, 20]) spellings.push([type, text]);
  for (const text of [
    "999999999999999",
    "-999999999999999",
    "1000000000000000",
    " 1",
    "1 ",
    "1_000",
    "0x10",
    "",
    "-",
    "+",
  ])
    spellings.push([20, text], [23, text]);
  for (const text of ["", "abc", "ab  ", " ab", "ünï"])
    for (const type of [25, 1043, 1042, 19]) spellings.push([type, text]);
  spellings.push([1082, "2024-01-02"], [1700, "1"]);
  // Inside a longer buffer: only bytes [start, end) count.
  for (const [type, text] of spellings) {
    const bytes = Buffer.from(`\t${text}\n`);
    const plain = hashPlainBytes(type, bytes, 1, bytes.length - 1);
    if (plain === null) continue;
    assert.equal(plain, hashValue(type, text), `type ${type}, text "${text}"`);
  }
  assert.equal(hashPlainBytes(23, Buffer.from("12"), 0, 2), hashInt4(12));
  assert.equal(hashPlainBytes(20, Buffer.from("-5"), 0, 2), hashInt8(-5n));
  assert.equal(hashPlainBytes(1042, Buffer.from("ab  "), 0, 4), hashBpchar("ab"));
  for (const [type, text] of [
    [23, "2147483648"],
    [21, "32768"],
    [23, " 1"],
    [20, "1000000000000000"],
    [25, "ünï"],
    [19, "abc"],
    [1082, "2024-01-02"],
  ] as const)
    assert.equal(hashPlainBytes(type, Buffer.from(text), 0, Buffer.byteLength(text)), null, `type ${type}, "${text}"`);
});

describe("shard ranges", () => {
  test("32 shards are Citus's layout", () => {
    const ranges = shardRanges(32);
    assert.equal(ranges.length, 32);
    assert.deepEqual(ranges[0], { min: -2147483648, max: -2013265921 });
    assert.deepEqual(ranges[18], { min: 268435456, max: 402653183 });
    assert.deepEqual(ranges[31], { min: 2013265920, max: 2147483647 });
  });

  test("shardRanges(n) tiles the int32 range for n in 1..64", () => {
    for (let n = 1; n <= 64; n++) {
      const ranges = shardRanges(n);
      assert.equal(ranges.length, n);
      assert.equal(ranges[0]!.min, -2147483648);
      assert.equal(ranges[n - 1]!.max, 2147483647);
      for (let i = 0; i < n; i++) {
        assert.ok(ranges[i]!.min <= ranges[i]!.max, `n=${n} i=${i}`);
        if (i > 0) assert.equal(ranges[i]!.min, ranges[i - 1]!.max + 1, `n=${n} i=${i}`);
      }
    }
  });

  test("shardIndexForHash agrees with shardRanges", () => {
    const counts = [...times(64, (i) => i + 1), 100, 1000, 64000, 65537, 1000003];
    for (const n of counts) {
      const ranges = shardRanges(n);
      const edges = [ranges[0]!.min, ranges[n - 1]!.max, ...ranges.slice(0, 200).flatMap((r) => [r.min, r.max])];
      for (const h of [...edges, ...times(500, int32)]) {
        const index = shardIndexForHash(h, n);
        const range = ranges[index]!;
        assert.ok(range.min <= h && h <= range.max, `n=${n} hash=${h} index=${index}`);
      }
      assert.equal(shardIndexForHash(ranges[n - 1]!.min, n), n - 1);
      if (n > 1) assert.equal(shardIndexForHash(ranges[n - 1]!.min - 1, n), n - 2);
    }
  });
});
