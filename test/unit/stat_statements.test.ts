// The in-memory store behind canopy_stat_statements: one entry per (statement, user, database,
// executor, partition key), least recently called evicted first, purge by time.
import { test } from "node:test";
import assert from "node:assert/strict";
import { StatementStatistics, type StatementIdentity } from "../../src/executor/stat_statements.js";

function identity(queryId: string): StatementIdentity {
  return { queryId, query: `q${queryId}`, user: "u", database: "d", key: `${queryId}\0u\0d` };
}

const keys = (s: StatementStatistics) => s.list().map((e) => `${e.queryId}/${e.executor}/${e.partitionKey}/${e.calls}`);

test("calls are counted per executor and partition key; NULL and '' are different keys", () => {
  const s = new StatementStatistics(100, true);
  s.record(identity("1"), "adaptive", "42", 2, 10);
  s.record(identity("1"), "adaptive", "42", 4, 11);
  s.record(identity("1"), "adaptive", null, 1, 12);
  s.record(identity("1"), "adaptive", "", 1, 13);
  s.record(identity("1"), "copy", null, 1, 14);
  assert.deepEqual(keys(s), ["1/adaptive/42/2", "1/adaptive/null/1", "1/adaptive//1", "1/copy/null/1"]);
  assert.equal(s.list()[0].totalTimeMs, 6);
});

test("beyond the maximum the least recently called entry goes", () => {
  const s = new StatementStatistics(2, true);
  s.record(identity("1"), "adaptive", null, 1, 1);
  s.record(identity("2"), "adaptive", null, 1, 2);
  s.record(identity("1"), "adaptive", null, 1, 3); // 1 is now more recent than 2
  s.record(identity("3"), "adaptive", null, 1, 4);
  assert.deepEqual(keys(s), ["1/adaptive/null/2", "3/adaptive/null/1"]);
});

test("purge drops the entries not called since the cutoff; reset drops all", () => {
  const s = new StatementStatistics(10, true);
  s.record(identity("1"), "adaptive", null, 1, 100);
  s.record(identity("2"), "adaptive", null, 1, 200);
  s.record(identity("3"), "adaptive", null, 1, 300);
  s.record(identity("1"), "adaptive", null, 1, 400);
  s.purge(250);
  assert.deepEqual(keys(s), ["3/adaptive/null/1", "1/adaptive/null/2"]);
  s.reset();
  assert.deepEqual(keys(s), []);
});

test("a full store keeps call order through many evictions", () => {
  const s = new StatementStatistics(50_000, true);
  for (let i = 0; i < 300_000; i++) {
    s.record(identity("1"), "adaptive", String(i), 1, i);
    if (i % 3 === 0) s.record(identity("2"), "adaptive", "kept", 1, i);
  }
  const list = s.list();
  assert.equal(list.length, 50_000);
  // The entry called every third time survives; the others are the newest 49,999 distribution values.
  assert.equal(list.filter((e) => e.partitionKey === "kept").length, 1);
  const values = list.filter((e) => e.partitionKey !== "kept").map((e) => Number(e.partitionKey));
  assert.deepEqual(
    values,
    Array.from({ length: 49_999 }, (_, k) => 250_001 + k),
  );
});
