// Array parameters read by the coordinator to cut `key = ANY ($n)` per shard
// (executor/distributed.ts): the text form as PostgreSQL's array input reads it, and the binary
// form drivers send. What these do not read, the list stays whole for, so a wrong "null" here
// would only lose the cut; a wrong element would lose rows, which these guard.
import { test } from "node:test";
import assert from "node:assert/strict";
import { binaryArrayElements, textArrayElements } from "../../src/executor/distributed.js";
import type { TableRecord } from "../../src/metadata/cache.js";

test("text arrays: quoting, escapes, spaces and NULL as PostgreSQL reads them", () => {
  assert.deepEqual(textArrayElements("{1,2,3}"), ["1", "2", "3"]);
  assert.deepEqual(textArrayElements("{}"), []);
  assert.deepEqual(textArrayElements(" { } "), []);
  assert.deepEqual(textArrayElements("{ 1 , 2 }"), ["1", "2"]);
  assert.deepEqual(textArrayElements('{"a b","c\\"d","e\\\\f"}'), ["a b", 'c"d', "e\\f"]);
  assert.deepEqual(textArrayElements('{NULL,null,"NULL",N\\ULL}'), [null, null, "NULL", "NULL"]);
  assert.deepEqual(textArrayElements("{a b,c}"), ["a b", "c"]);
  assert.deepEqual(textArrayElements('{"",x}'), ["", "x"]);
  // Not one dimension, bounds, malformed: not read.
  assert.equal(textArrayElements("{{1,2},{3,4}}"), null);
  assert.equal(textArrayElements("[0:1]={5,6}"), null);
  assert.equal(textArrayElements("{1,,2}"), null);
  assert.equal(textArrayElements('{"a}'), null);
  assert.equal(textArrayElements("1,2"), null);
});

const table = (partitionType: number) => ({ partitionType }) as TableRecord;

/** An array in binary form: dimensions, NULL flag, element type, then length and bytes per element. */
function binaryArray(element: number, values: (Buffer | null)[], dimensions = 1): Buffer {
  const head = Buffer.alloc(dimensions === 0 ? 12 : 20);
  head.writeInt32BE(dimensions, 0);
  head.writeInt32BE(values.includes(null) ? 1 : 0, 4);
  head.writeInt32BE(element, 8);
  if (dimensions > 0) {
    head.writeInt32BE(values.length, 12);
    head.writeInt32BE(1, 16);
  }
  const parts = values.map((v) => {
    const length = Buffer.alloc(4);
    length.writeInt32BE(v === null ? -1 : v.length);
    return v === null ? length : Buffer.concat([length, v]);
  });
  return Buffer.concat([head, ...parts]);
}

const int4 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};

test("binary arrays of integers and text", () => {
  assert.deepEqual(binaryArrayElements(binaryArray(23, [int4(7), null, int4(-3)]), table(23)), ["7", null, "-3"]);
  const big = Buffer.alloc(8);
  big.writeBigInt64BE(-9007199254740993n);
  assert.deepEqual(binaryArrayElements(binaryArray(20, [big]), table(20)), ["-9007199254740993"]);
  assert.deepEqual(binaryArrayElements(binaryArray(25, [Buffer.from("ä b")]), table(25)), ["ä b"]);
  assert.deepEqual(binaryArrayElements(binaryArray(23, [], 0), table(23)), []);
  // An element type that does not keep the column's values, more dimensions, a short buffer.
  assert.equal(binaryArrayElements(binaryArray(1700, [Buffer.from("x")]), table(23)), null);
  assert.equal(binaryArrayElements(binaryArray(23, [int4(1)], 2), table(23)), null);
  assert.equal(binaryArrayElements(binaryArray(23, [int4(1)]).subarray(0, 22), table(23)), null);
});
