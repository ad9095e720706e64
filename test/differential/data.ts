// Deterministic data for the differential suite: every table of schema.sql filled from one seeded
// pseudo-random generator, rendered as batched multi-row INSERT statements. The data is chosen to
// stress what a distributed answer can get wrong: NULLs, duplicate group keys, empty strings,
// strings that differ only in case, non-ASCII text, negative numbers, numerics of many scales,
// floating-point special values, timestamps around daylight-saving changes, negative and large
// distribution keys, and tenants of very different sizes.
//
// `node dist/test/differential/data.js > /tmp/data.sql` prints the statements, for loading by hand.
import { pathToFileURL } from "node:url";

/** One table's generated rows; each value is already a SQL literal (or NULL). */
export interface TableData {
  readonly table: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

/** Options for rendering INSERT statements. */
export interface InsertOptions {
  /** Rows per INSERT statement. */
  readonly batchRows?: number;
  /** When set, rows are shuffled with this seed and tables are loaded in reverse order, so the
   * physical row order differs from an unshuffled load. */
  readonly shuffleSeed?: number;
}

/** The seed the suite uses; change it only together with queries that depend on particular values. */
export const defaultSeed = 20240611;

/** Quotes a string as a standard-conforming SQL literal: single quotes doubled, backslashes as they are. */
export function quoteLiteral(value: string): string {
  if (value.includes("\0")) throw new Error("PostgreSQL text cannot contain NUL");
  return `'${value.replaceAll("'", "''")}'`;
}

/** A small seeded generator (mulberry32): the same seed yields the same sequence everywhere. */
class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Returns a float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Returns a float in [0, 1) with all 53 bits of a double's mantissa random. */
  next53(): number {
    return (Math.floor(this.next() * 2 ** 26) * 2 ** 27 + Math.floor(this.next() * 2 ** 27)) / 2 ** 53;
  }

  /** Returns an integer in [low, high]. */
  int(low: number, high: number): number {
    return low + Math.floor(this.next() * (high - low + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error("pick from an empty list");
    return item;
  }

  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j] as T, out[i] as T];
    }
    return out;
  }
}

const NULL = "NULL";

function text(value: string | null): string {
  return value === null ? NULL : quoteLiteral(value);
}

function bool(value: boolean | null): string {
  return value === null ? NULL : value ? "true" : "false";
}

function num(value: number | string | null): string {
  if (value === null) return NULL;
  const s = String(value);
  return /^-?[0-9]+(\.[0-9]+)?(e[+-]?[0-9]+)?$/i.test(s) ? s : quoteLiteral(s);
}

function jsonLiteral(value: unknown): string {
  return value === undefined ? NULL : quoteLiteral(JSON.stringify(value));
}

function textArray(items: readonly (string | null)[] | null): string {
  if (items === null) return NULL;
  if (items.length === 0) return "'{}'";
  return `ARRAY[${items.map(text).join(", ")}]::text[]`;
}

function intArray(items: readonly (number | null)[] | null): string {
  if (items === null) return NULL;
  if (items.length === 0) return "'{}'";
  return `ARRAY[${items.map((i) => (i === null ? NULL : String(i))).join(", ")}]::int[]`;
}

/** Daylight-saving changes (UTC instants) in America/New_York and Europe/Berlin, 2020–2022. */
const dstInstants = [
  "2020-03-08T07:00:00Z",
  "2020-11-01T06:00:00Z",
  "2021-03-14T07:00:00Z",
  "2021-11-07T06:00:00Z",
  "2021-03-28T01:00:00Z",
  "2021-10-31T01:00:00Z",
  "2022-03-13T07:00:00Z",
  "2022-11-06T06:00:00Z",
].map((s) => Date.parse(s));

const rangeStart = Date.parse("2020-01-01T00:00:00Z");
const rangeEnd = Date.parse("2022-12-31T23:59:59Z");

/** Picks an instant: often within a few hours of a daylight-saving change, otherwise anywhere in 2020–2022. */
function instant(rng: Random): number {
  if (rng.chance(0.3)) return rng.pick(dstInstants) + rng.int(-6 * 3600, 6 * 3600) * 1000;
  return rangeStart + Math.floor((rng.next() * (rangeEnd - rangeStart)) / 1000) * 1000;
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, "0");
}

const utcOffsets: readonly (readonly [string, number])[] = [
  ["+00", 0],
  ["-05", -5 * 60],
  ["+02", 2 * 60],
  ["+05:30", 5 * 60 + 30],
];

/** Formats an instant as a timestamp with an explicit UTC offset, sometimes with microseconds. */
function timestamptz(rng: Random, ms: number): string {
  const d = new Date(ms);
  const fraction = rng.chance(0.2) ? `.${pad(rng.int(0, 999999), 6)}` : "";
  const [offset, shiftMinutes] = rng.pick(utcOffsets);
  const local = new Date(d.getTime() + shiftMinutes * 60_000);
  return (
    `${local.getUTCFullYear()}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())} ` +
    `${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}${fraction}${offset}`
  );
}

/** Formats an instant as a timestamp without time zone (New York wall-clock style, DST ignored). */
function timestamp(rng: Random, ms: number): string {
  const d = new Date(ms - 5 * 3600_000);
  const fraction = rng.chance(0.15) ? `.${pad(rng.int(0, 999), 3)}` : "";
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${fraction}`
  );
}

function date(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

/** A decimal string with the given number of fractional digits, from an integer count of units. */
function decimal(units: number, scale: number): string {
  const negative = units < 0;
  const digits = String(Math.abs(units)).padStart(scale + 1, "0");
  const whole = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  return negative ? `-${whole}` : whole;
}

/** A numeric of a random scale between 0 and maxScale. */
function anyScale(rng: Random, low: number, high: number, maxScale: number): string {
  const scale = rng.int(0, maxScale);
  return decimal(rng.int(low, high) * 10 ** scale + rng.int(0, 10 ** scale - 1), scale);
}

function uuid(rng: Random): string {
  let hex = "";
  for (let i = 0; i < 32; i++) hex += rng.int(0, 15).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A double with a full mantissa, so that sums of many of them depend on the order of addition. */
function double(rng: Random, low: number, high: number): string {
  return String(low + rng.next53() * (high - low));
}

/** A value that fits a real exactly enough to print the same everywhere. */
function real(rng: Random, low: number, high: number): string {
  return String(Math.fround(low + rng.next() * (high - low)));
}

function maybe<T>(rng: Random, probability: number, make: () => T): T | null {
  return rng.chance(probability) ? null : make();
}

const countryRows: readonly [string, string, string | null, number | null, string | null, boolean | null][] = [
  ["US", "United States", "North America", 331_000_000, "63543.58", false],
  ["DE", "Germany", "Europe", 83_200_000, "46208.4", true],
  ["FR", "France", "Europe", 67_400_000, "39030.36", true],
  ["JP", "Japan", "Asia", 125_800_000, "40193.252", false],
  ["BR", "Brazil", "South America", 212_600_000, "6796.8", false],
  ["TR", "Türkiye", "Asia", 84_300_000, "8536", false],
  ["CH", "Schweiz/Suisse", "Europe", 8_600_000, "87097.0", false],
  ["ES", "España", "Europe", 47_400_000, "27057.163", true],
  ["GB", "United Kingdom", "Europe", 67_200_000, "40284.64", false],
  ["IN", "India", "Asia", 1_380_000_000, "1927.71", false],
  ["CN", "中国", "Asia", 1_402_000_000, "10500.4", false],
  ["NG", "Nigeria", "Africa", 206_100_000, "2097.09", false],
  ["MX", "México", "North America", 128_900_000, "8346.7", false],
  ["CA", "Canada", "North America", 38_000_000, "43241.62", false],
  ["AU", "Australia", "Oceania", 25_700_000, "51692.84", false],
  ["SE", "Sverige", "Europe", 10_350_000, "52274.41", true],
  ["NO", "Norge", "Europe", 5_380_000, "67329.68", false],
  ["IT", "Italia", "Europe", 59_550_000, "31676.2", true],
  ["PL", "Polska", "Europe", 37_950_000, "15656.18", true],
  ["KR", "대한민국", "Asia", 51_780_000, "31489.12", false],
  ["AQ", "Antarctica", "Antarctica", 0, null, null],
  ["XX", "Unknown", null, null, null, null],
  ["ZA", "South Africa", "Africa", 59_310_000, "-0.5", false],
  ["ar", "argentina (lower case code)", "South America", 45_380_000, "8441.92", false],
];

const countryCodes = countryRows.map((row) => row[0]);

const companyNamePool = [
  "Acme",
  "acme",
  "ACME",
  "Globex",
  "Initech",
  "Umbrella",
  "Zürich Versicherung",
  "São Paulo Tech",
  "東京デジタル",
  "Ñandú SA",
  "İstanbul Yazılım",
  "straße GmbH",
  "",
  "O'Reilly Media",
  "back\\slash",
  "Émile & Co",
  "émile & co",
  "Ωmega",
  "zeta",
  "Zeta",
  "🚀 Rocket",
  "a b",
  "a  b",
  "tab\there",
  "line\nbreak",
];

const siteUrls = [
  "https://example.com/",
  "https://example.com/a",
  "https://Example.com/a",
  "http://news.example.org/über",
  "https://shop.example.net/cart?id=1&x=2",
  "",
  "https://例え.jp/",
];

const eventTypes = ["click", "view", "purchase", "Purchase", "PURCHASE", "error", "", "login", "logout", "scroll"];
const osNames = ["Android", "android", "iOS", "ios", "Linux", "Windows", "", "HarmonyOS", "Tizen"];
const models = ["Pixel 7", "Pixel 8", "iPhone 14", "iPhone 15", "Galaxy S23", "ThinkPad", "Raspberry Pi 4", "Ümlaut-1"];
const tagPool = ["a", "b", "B", "red", "Red", "green", "blue", "ß", "ÿ", "", "x y", "quote'd", 'dq"', "comma,tag"];
const authors = ["ann", "Ann", "bob", "Ólafur", "zoë", "", "李雷"];
const cityPool = ["Berlin", "München", "Zürich", "New York", "São Paulo", "東京", "İzmir", "Łódź", null];

function companies(rng: Random): TableData {
  const rows: string[][] = [];
  for (let id = 1; id <= 200; id++) {
    const name = id <= companyNamePool.length ? (companyNamePool[id - 1] as string) : `Company ${id % 37}`;
    const settings = maybe(rng, 0.1, () => ({
      theme: rng.pick(["dark", "light", "Dark"]),
      seats: rng.int(1, 500),
      beta: rng.chance(0.5),
      regions: rng.chance(0.5) ? ["eu", "us"] : [],
      billing: rng.chance(0.3) ? null : { currency: rng.pick(["USD", "EUR", "JPY"]), net: rng.int(0, 90) },
      city: rng.pick(cityPool),
    }));
    rows.push([
      String(id),
      text(name),
      text(maybe(rng, 0.08, () => (rng.chance(0.05) ? "ZZ" : rng.pick(countryCodes)))),
      num(maybe(rng, 0.1, () => rng.int(1, 6))),
      text(maybe(rng, 0.05, () => timestamptz(rng, instant(rng)))),
      bool(maybe(rng, 0.1, () => rng.chance(0.8))),
      num(maybe(rng, 0.1, () => (rng.chance(0.1) ? 0 : rng.int(1, 50_000)))),
      settings === null ? NULL : jsonLiteral(settings),
      textArray(maybe(rng, 0.2, () => Array.from({ length: rng.int(0, 4) }, () => rng.pick(tagPool)))),
    ]);
  }
  return {
    table: "companies",
    columns: ["id", "name", "country_code", "plan_id", "created_at", "is_active", "employees", "settings", "tags"],
    rows,
  };
}

/** How many campaigns a company has: a few tenants are much larger than the rest. */
function campaignCount(companyId: number, rng: Random): number {
  if (companyId <= 3) return 40;
  if (companyId % 10 === 0) return 0;
  return rng.int(1, 5);
}

function campaigns(rng: Random): { data: TableData; keys: [number, number][] } {
  const rows: string[][] = [];
  const keys: [number, number][] = [];
  for (let companyId = 1; companyId <= 200; companyId++) {
    const count = campaignCount(companyId, rng);
    for (let id = 1; id <= count; id++) {
      keys.push([companyId, id]);
      const start = instant(rng);
      rows.push([
        String(companyId),
        String(id),
        text(maybe(rng, 0.05, () => rng.pick(["Spring sale", "spring sale", "Launch", "Retarget", "", "Été 2021"]))),
        text(maybe(rng, 0.1, () => rng.pick(["cpc", "cpm", "CPC", "cpa"]))),
        text(maybe(rng, 0.05, () => rng.pick(["running", "paused", "finished", "draft"]))),
        num(
          maybe(rng, 0.1, () =>
            rng.pick([
              String(rng.int(0, 100_000)),
              decimal(rng.int(-5000, 500_000), 1),
              decimal(rng.int(0, 9_999_999), 2),
            ]),
          ),
        ),
        text(maybe(rng, 0.05, () => date(start))),
        text(maybe(rng, 0.3, () => (rng.chance(0.02) ? "infinity" : date(start + rng.int(0, 400) * 86_400_000)))),
        textArray(maybe(rng, 0.15, () => Array.from({ length: rng.int(0, 3) }, () => rng.pick(countryCodes)))),
        text(maybe(rng, 0.05, () => timestamp(rng, start))),
      ]);
    }
  }
  return {
    data: {
      table: "campaigns",
      columns: [
        "company_id",
        "id",
        "name",
        "cost_model",
        "state",
        "monthly_budget",
        "start_date",
        "end_date",
        "target_countries",
        "created_at",
      ],
      rows,
    },
    keys,
  };
}

function ads(rng: Random, campaignKeys: readonly [number, number][]): { data: TableData; keys: [number, number][] } {
  const rows: string[][] = [];
  const keys: [number, number][] = [];
  let adId = 1000;
  for (let i = 0; i < 2000; i++) {
    const [companyId, campaignId] = rng.pick(campaignKeys);
    adId += rng.int(1, 3);
    keys.push([companyId, adId]);
    const impressions = rng.chance(0.05) ? 0 : rng.int(0, 2_000_000);
    const metadataText = rng.pick([
      `{"size": "${rng.pick(["300x250", "728x90", "160x600"])}", "animated": ${rng.chance(0.5)}}`,
      `{ "size" : "300x250",  "size": "dup key kept by json" }`,
      `[1, 2.50, "three", null]`,
      `{"alt": "Ünïcödé ✓", "n": ${rng.int(-5, 5)}}`,
      `"just a string"`,
      `null`,
    ]);
    rows.push([
      String(companyId),
      String(adId),
      num(rng.chance(0.03) ? null : rng.chance(0.02) ? 999 : campaignId),
      text(
        maybe(
          rng,
          0.05,
          () => rng.pick(["Banner", "banner", "Video", "Text ad", "", "Anzeige für Müller"]) + ` ${i % 50}`,
        ),
      ),
      text(maybe(rng, 0.2, () => `https://img.example.com/${adId}.png`)),
      num(impressions),
      num(maybe(rng, 0.05, () => rng.int(0, Math.floor(impressions / 20)))),
      num(maybe(rng, 0.1, () => real(rng, 0, 0.2))),
      num(maybe(rng, 0.1, () => double(rng, -10, 100))),
      text(maybe(rng, 0.05, () => timestamptz(rng, instant(rng)))),
      rng.chance(0.1) ? NULL : quoteLiteral(metadataText),
    ]);
  }
  return {
    data: {
      table: "ads",
      columns: [
        "company_id",
        "id",
        "campaign_id",
        "name",
        "image_url",
        "impressions_count",
        "clicks_count",
        "ctr",
        "score",
        "created_at",
        "metadata",
      ],
      rows,
    },
    keys,
  };
}

function clicks(rng: Random, adKeys: readonly [number, number][]): TableData {
  const rows: string[][] = [];
  const perCompany = new Map<number, number>();
  for (let i = 0; i < 5000; i++) {
    // Half of the clicks go to the first tenants' ads, so a few tenants dominate.
    const [companyId, adId] = rng.chance(0.5) ? rng.pick(adKeys.slice(0, 120)) : rng.pick(adKeys);
    const id = (perCompany.get(companyId) ?? 0) + 1;
    perCompany.set(companyId, id);
    const userData = maybe(rng, 0.1, () => ({
      ip: `10.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(0, 255)}`,
      agent: rng.pick(["Mozilla/5.0", "curl/8.0", "Googlebot", ""]),
      geo: rng.chance(0.2) ? {} : { country: rng.pick(countryCodes), city: rng.pick(cityPool) },
      segments: Array.from({ length: rng.int(0, 3) }, () => rng.int(1, 9)),
      score: rng.chance(0.5) ? rng.int(-100, 100) / 10 : null,
    }));
    rows.push([
      String(companyId),
      String(id),
      num(rng.chance(0.02) ? null : rng.chance(0.01) ? 1 : adId),
      text(maybe(rng, 0.03, () => timestamptz(rng, instant(rng)))),
      text(maybe(rng, 0.1, () => rng.pick(siteUrls))),
      num(maybe(rng, 0.08, () => (rng.chance(0.05) ? "-" : "") + anyScale(rng, 0, 5, 6))),
      bool(maybe(rng, 0.15, () => rng.chance(0.1))),
      num(maybe(rng, 0.1, () => rng.int(1, 10))),
      num(maybe(rng, 0.1, () => real(rng, 0.5, 900))),
      userData === null ? NULL : jsonLiteral(userData),
    ]);
  }
  return {
    table: "clicks",
    columns: [
      "company_id",
      "id",
      "ad_id",
      "clicked_at",
      "site_url",
      "cost",
      "is_bot",
      "position",
      "latency_ms",
      "user_data",
    ],
    rows,
  };
}

function companyNotes(rng: Random): TableData {
  const rows: string[][] = [];
  let count = 0;
  for (let companyId = 1; count < 300; companyId = (companyId % 220) + 1) {
    // Companies 201..220 do not exist: notes of unknown tenants, for outer joins.
    const noteId = rows.filter((r) => r[0] === String(companyId)).length + 1;
    if (rng.chance(0.4)) continue;
    count++;
    rows.push([
      String(companyId),
      String(noteId),
      text(maybe(rng, 0.1, () => rng.pick(authors))),
      text(
        maybe(rng, 0.1, () =>
          rng.pick(["Call back", "call back", "Renewal due", "Überprüfen", "", "Escalate: 'urgent'", "multi\nline"]),
        ),
      ),
      text(maybe(rng, 0.05, () => date(instant(rng)))),
      num(maybe(rng, 0.2, () => rng.int(-1, 5))),
    ]);
  }
  return {
    table: "company_notes",
    columns: ["company_id", "note_id", "author", "body", "created_on", "priority"],
    rows,
  };
}

/** Device ids: small, negative and beyond the int4 range, so bigint hashing is exercised. */
function deviceIds(): number[] {
  const ids: number[] = [];
  for (let i = 1; i <= 100; i++) ids.push(i);
  for (let i = 1; i <= 100; i++) ids.push(-i * 7);
  for (let i = 1; i <= 100; i++) ids.push(9_000_000_000 + i * 1_000_003);
  return ids;
}

function devices(rng: Random, ids: readonly number[]): TableData {
  const rows: string[][] = [];
  const specials = new Map<number, string>([
    [5, "'NaN'"],
    [-21, "'Infinity'"],
    [9_000_000_000 + 3 * 1_000_003, "'-Infinity'"],
  ]);
  for (const id of ids) {
    rows.push([
      String(id),
      num(maybe(rng, 0.1, () => rng.int(1, 210))),
      text(maybe(rng, 0.05, () => rng.pick(models))),
      text(maybe(rng, 0.05, () => rng.pick(osNames))),
      text(maybe(rng, 0.05, () => date(instant(rng)))),
      intArray(
        maybe(rng, 0.1, () => Array.from({ length: rng.int(0, 3) }, () => (rng.chance(0.05) ? null : rng.int(0, 20)))),
      ),
      text(maybe(rng, 0.1, () => rng.pick(countryCodes))),
      specials.get(id) ?? num(maybe(rng, 0.1, () => real(rng, 1000, 6000))),
      text(maybe(rng, 0.1, () => uuid(rng))),
    ]);
  }
  return {
    table: "devices",
    columns: [
      "device_id",
      "owner_company_id",
      "model",
      "os",
      "registered_on",
      "firmware",
      "location_country",
      "battery_capacity",
      "device_uuid",
    ],
    rows,
  };
}

function events(rng: Random, ids: readonly number[]): TableData {
  const rows: string[][] = [];
  const perDevice = new Map<number, number>();
  const sessions = Array.from({ length: 400 }, () => uuid(rng));
  for (let i = 0; i < 5000; i++) {
    // Devices 50..60 get no events; a few events belong to devices that do not exist.
    let deviceId = rng.chance(0.01) ? 123_456_789_012 : rng.pick(ids);
    if (deviceId >= 50 && deviceId <= 60) deviceId = 1;
    const eventId = (perDevice.get(deviceId) ?? 0) + 1;
    perDevice.set(deviceId, eventId);
    const at = instant(rng);
    const payload = maybe(rng, 0.1, () => {
      const p: Record<string, unknown> = { page: rng.pick(["/home", "/cart", "/Checkout", "/über-uns", ""]) };
      if (rng.chance(0.5)) p.duration = rng.int(0, 10_000) / 100;
      if (rng.chance(0.3))
        p.items = Array.from({ length: rng.int(0, 3) }, () => ({ sku: `S${rng.int(1, 9)}`, qty: rng.int(1, 4) }));
      if (rng.chance(0.2)) p.nested = { level: rng.int(1, 3), ok: rng.chance(0.5), note: rng.chance(0.5) ? null : "ñ" };
      if (rng.chance(0.1)) p.price = rng.pick(["9.99", "10", "-1.5"]);
      if (rng.chance(0.1)) p.flag = null;
      return p;
    });
    rows.push([
      String(deviceId),
      String(eventId),
      text(maybe(rng, 0.05, () => rng.pick(eventTypes))),
      text(maybe(rng, 0.02, () => timestamptz(rng, at))),
      text(maybe(rng, 0.05, () => (rng.chance(0.01) ? "2021-03-14 02:30:00" : timestamp(rng, at)))),
      num(maybe(rng, 0.08, () => double(rng, -50, 1000))),
      num(maybe(rng, 0.08, () => real(rng, -20, 60))),
      num(maybe(rng, 0.08, () => anyScale(rng, -1000, 10_000, 5))),
      payload === null ? NULL : jsonLiteral(payload),
      textArray(
        maybe(rng, 0.2, () =>
          Array.from({ length: rng.int(0, 4) }, () => (rng.chance(0.05) ? null : rng.pick(tagPool))),
        ),
      ),
      text(maybe(rng, 0.1, () => rng.pick(sessions))),
      bool(maybe(rng, 0.1, () => rng.chance(0.9))),
    ]);
  }
  return {
    table: "events",
    columns: [
      "device_id",
      "event_id",
      "event_type",
      "event_time",
      "local_time",
      "value",
      "reading",
      "amount",
      "payload",
      "tags",
      "session_uuid",
      "is_valid",
    ],
    rows,
  };
}

/** Usernames: case variants, non-ASCII, an empty string, quotes and spaces, then generated ones. */
function usernames(): string[] {
  const special = [
    "alice",
    "Alice",
    "ALICE",
    "bob",
    "émile",
    "Émile",
    "zoë",
    "用户一",
    "",
    "o'brien",
    "with space",
    "back\\slash",
  ];
  const out = [...special];
  for (let i = 1; out.length < 400; i++) out.push(`user_${pad(i, 3)}`);
  return out;
}

function users(rng: Random, names: readonly string[], ids: readonly number[]): TableData {
  const rows: string[][] = [];
  for (const username of names) {
    const preferences = maybe(rng, 0.15, () => ({
      lang: rng.pick(["en", "de", "ja", "pt-BR"]),
      notifications: { email: rng.chance(0.5), push: rng.chance(0.5) },
      theme: rng.chance(0.5) ? "dark" : null,
      tz: rng.pick(["Europe/Berlin", "America/New_York", "Asia/Tokyo"]),
    }));
    rows.push([
      text(username),
      text(maybe(rng, 0.1, () => rng.pick(["Alice A.", "alice a.", "Bob", "Zoë Ω", "", "名前"]))),
      text(
        maybe(
          rng,
          0.1,
          () => `${username.replace(/[^a-z0-9_]/gi, "") || "x"}@example.${rng.pick(["com", "org", "de"])}`,
        ),
      ),
      text(maybe(rng, 0.1, () => rng.pick(countryCodes))),
      text(maybe(rng, 0.05, () => date(instant(rng)))),
      num(maybe(rng, 0.1, () => rng.int(-100, 5000))),
      num(maybe(rng, 0.1, () => decimal(rng.int(-50_000, 10_000_000), 2))),
      preferences === null ? NULL : jsonLiteral(preferences),
      intArray(
        maybe(rng, 0.15, () =>
          Array.from({ length: rng.int(0, 5) }, () => (rng.chance(0.05) ? null : rng.int(-10, 100))),
        ),
      ),
      num(maybe(rng, 0.3, () => rng.pick(ids))),
      text(maybe(rng, 0.1, () => timestamptz(rng, instant(rng)))),
    ]);
  }
  return {
    table: "users",
    columns: [
      "username",
      "display_name",
      "email",
      "country_code",
      "signup_date",
      "karma",
      "balance",
      "preferences",
      "favorite_numbers",
      "device_id",
      "last_seen",
    ],
    rows,
  };
}

function posts(rng: Random, names: readonly string[]): TableData {
  const rows: string[][] = [];
  const perUser = new Map<string, number>();
  for (let i = 0; i < 1500; i++) {
    // A fifth of the users never post; the first dozen post a lot.
    const username = rng.chance(0.3) ? rng.pick(names.slice(0, 12)) : rng.pick(names.slice(0, 320));
    const postId = (perUser.get(username) ?? 0) + 1;
    perUser.set(username, postId);
    rows.push([
      text(username),
      String(postId),
      text(
        maybe(
          rng,
          0.05,
          () => rng.pick(["Hello", "hello", "HELLO", "Grüße", "日本語のタイトル", "", "It's me"]) + ` #${i % 20}`,
        ),
      ),
      text(
        maybe(rng, 0.1, () =>
          rng.pick(["Lorem ipsum", "line one\nline two", "tab\tseparated", "quote ' and \" and \\", "emoji 😀", ""]),
        ),
      ),
      text(maybe(rng, 0.03, () => timestamptz(rng, instant(rng)))),
      num(maybe(rng, 0.1, () => rng.int(-5, 1000))),
      num(maybe(rng, 0.15, () => anyScale(rng, 0, 4, 3))),
      textArray(maybe(rng, 0.2, () => Array.from({ length: rng.int(0, 3) }, () => rng.pick(tagPool)))),
    ]);
  }
  return {
    table: "posts",
    columns: ["username", "post_id", "title", "body", "created_at", "likes", "rating", "tags"],
    rows,
  };
}

function countries(): TableData {
  return {
    table: "countries",
    columns: ["code", "name", "continent", "population", "gdp_per_capita", "eu_member"],
    rows: countryRows.map(([code, name, continent, population, gdp, eu]) => [
      text(code),
      text(name),
      text(continent),
      num(population),
      num(gdp),
      bool(eu),
    ]),
  };
}

function plans(): TableData {
  const rows: string[][] = [
    ["1", text("Free"), "0", "1", textArray(["basic"]), jsonLiteral({ projects: 1, storage_gb: 0.5 })],
    ["2", text("Starter"), "9.99", "3", textArray(["basic", "email"]), jsonLiteral({ projects: 5, storage_gb: 10 })],
    ["3", text("Pro"), "49", "10", textArray(["basic", "email", "sso"]), jsonLiteral({ projects: 50, api: true })],
    [
      "4",
      text("Business"),
      "199.5",
      "50",
      textArray(["basic", "email", "sso", "audit"]),
      jsonLiteral({ projects: null }),
    ],
    ["5", text("Enterprise"), NULL, NULL, textArray([]), jsonLiteral({ projects: "unlimited", sla: { hours: 4 } })],
    ["6", text("legacy"), "5.00", "1", NULL, NULL],
  ];
  return { table: "plans", columns: ["id", "name", "monthly_price", "seats", "features", "limits"], rows };
}

function holidays(rng: Random): TableData {
  const rows: string[][] = [];
  const seen = new Set<string>();
  const fixed = ["2020-01-01", "2020-12-25", "2021-01-01", "2021-03-14", "2021-11-07", "2021-12-25", "2022-01-01"];
  for (const day of fixed) seen.add(day);
  while (seen.size < 40) seen.add(date(instant(rng)));
  for (const day of [...seen].sort()) {
    rows.push([
      text(day),
      text(rng.pick(["New Year", "Christmas", "Feiertag", "Día festivo", "祝日", "Holiday"])),
      text(maybe(rng, 0.2, () => rng.pick(countryCodes))),
    ]);
  }
  return { table: "holidays", columns: ["day", "name", "country_code"], rows };
}

/** Generates every table's rows from the seed; the same seed always gives the same data. */
export function generateData(seed = defaultSeed): TableData[] {
  const rng = new Random(seed);
  const ids = deviceIds();
  const names = usernames();
  const campaignData = campaigns(rng);
  const adData = ads(rng, campaignData.keys);
  return [
    countries(),
    plans(),
    companies(rng),
    campaignData.data,
    adData.data,
    clicks(rng, adData.keys),
    companyNotes(rng),
    devices(rng, ids),
    events(rng, ids),
    users(rng, names, ids),
    posts(rng, names),
    holidays(rng),
  ];
}

/** Renders the data as multi-row INSERT statements, one per batch of rows. */
export function insertStatements(data: readonly TableData[], options: InsertOptions = {}): string[] {
  const batchRows = options.batchRows ?? 250;
  const shuffler = options.shuffleSeed === undefined ? undefined : new Random(options.shuffleSeed);
  const tables = shuffler ? [...data].reverse() : data;
  const statements: string[] = [];
  for (const table of tables) {
    const rows = shuffler ? shuffler.shuffle(table.rows) : table.rows;
    for (let i = 0; i < rows.length; i += batchRows) {
      const values = rows
        .slice(i, i + batchRows)
        .map((row) => `(${row.join(", ")})`)
        .join(",\n  ");
      statements.push(`INSERT INTO ${table.table} (${table.columns.join(", ")}) VALUES\n  ${values}`);
    }
  }
  return statements;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const statement of insertStatements(generateData())) process.stdout.write(`${statement};\n`);
}
