import { test } from "node:test";
import assert from "node:assert/strict";
import {
  MessageFramer,
  ProtocolViolation,
  parseErrorFields,
  parseStartup,
  scanMessages,
  write,
  PROTOCOL_VERSION_3,
} from "../../src/protocol/messages.js";

test("the framer returns whole messages across arbitrary chunk boundaries", () => {
  const bytes = Buffer.concat([write.query("SELECT 1"), write.sync(), write.parse("s", "SELECT $1", [23])]);
  for (let split = 1; split < bytes.length; split++) {
    const framer = new MessageFramer(1024);
    framer.push(bytes.subarray(0, split));
    const got = [];
    for (let m = framer.next(); m; m = framer.next()) got.push(m);
    framer.push(bytes.subarray(split));
    for (let m = framer.next(); m; m = framer.next()) got.push(m);
    assert.deepEqual(
      got.map((m) => String.fromCharCode(m.code)),
      ["Q", "S", "P"],
      `split at ${split}`,
    );
    assert.equal(got[0].body.toString("utf8"), "SELECT 1\0");
    assert.deepEqual(Buffer.concat(got.map((m) => m.raw)), bytes);
  }
});

test("the framer returns whole messages from one-byte chunks, with a backlog behind them", () => {
  const bytes = Buffer.concat([write.query("SELECT 1"), write.sync(), write.parse("s", "SELECT $1", [23])]);
  const framer = new MessageFramer(1024);
  for (let at = 0; at < bytes.length; at++) framer.push(bytes.subarray(at, at + 1));
  const got = [];
  for (let m = framer.next(); m; m = framer.next()) got.push(m);
  assert.deepEqual(Buffer.concat(got.map((m) => m.raw)), bytes);
  assert.equal(got[2].body.toString("utf8", 0, 2), "s\0");
  assert.equal(framer.pendingBytes, 0);
});

test("an announced length over the limit is refused before any body arrives", () => {
  const framer = new MessageFramer(1 << 20);
  const header = Buffer.from([0x51, 0x40, 0, 0, 0]); // 'Q', length 1 GiB
  framer.push(header);
  assert.throws(
    () => framer.next(),
    (e: unknown) => e instanceof ProtocolViolation && e.sqlState === "54000",
  );
});

test("a length below four is a protocol violation", () => {
  const framer = new MessageFramer(1024);
  framer.push(Buffer.from([0x51, 0, 0, 0, 2]));
  assert.throws(
    () => framer.next(),
    (e: unknown) => e instanceof ProtocolViolation && e.sqlState === "08P01",
  );
});

test("startup packets parse into parameters and reject silly lengths", () => {
  const packet = write.startupMessage({ user: "alice", database: "db", application_name: "x" });
  const framer = new MessageFramer(1024);
  framer.push(packet);
  const body = framer.nextStartup();
  assert.ok(body);
  const { version, params } = parseStartup(body);
  assert.equal(version, PROTOCOL_VERSION_3);
  assert.deepEqual(params, { user: "alice", database: "db", application_name: "x" });

  const bad = new MessageFramer(1024);
  bad.push(Buffer.from([0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0]));
  assert.throws(() => bad.nextStartup(), ProtocolViolation);
});

test("error responses round-trip every field", () => {
  const fields = {
    severity: "ERROR",
    code: "42P01",
    message: 'relation "x" does not exist',
    detail: "d",
    hint: "h",
    position: "15",
    schema: "s",
    table: "t",
    column: "c",
    constraint: "k",
  };
  const message = write.errorResponse(fields);
  assert.equal(String.fromCharCode(message[0]), "E");
  assert.deepEqual(parseErrorFields(message.subarray(5)), fields);
});

test("scanMessages stops at a partial message and can stop early", () => {
  const whole = Buffer.concat([write.commandComplete("SELECT 1"), write.readyForQuery(0x49)]);
  const partial = Buffer.concat([whole, write.commandComplete("X").subarray(0, 3)]);
  const codes: string[] = [];
  const end = scanMessages(partial, (code) => {
    codes.push(String.fromCharCode(code));
  });
  assert.equal(end, whole.length);
  assert.deepEqual(codes, ["C", "Z"]);
  const first = scanMessages(whole, () => false);
  assert.equal(first, write.commandComplete("SELECT 1").length);
});
