// Canopy's settings (canopy.*): their types, defaults and checks. Session values live in the
// session's coordinator-database connection as custom settings, so SET, SET LOCAL, RESET and
// transaction rollback behave exactly as PostgreSQL's; Canopy validates names and values first.
import { SqlError } from "./errors.js";
import { parseConninfo, allowedConninfoKeys } from "./nodes/gateway.js";

type Kind = "integer" | "boolean" | "string";

/** How a setting can be changed: by any session, or only when the coordinator starts. */
type Context = "session" | "startup";

interface SettingDefinition {
  readonly kind: Kind;
  readonly defaultValue: string;
  readonly min?: number;
  readonly max?: number;
  readonly context: Context;
  readonly check?: (value: string) => void;
}

const intMax = 2147483647;

/** Every canopy.* setting; an unknown canopy.* name is an error, as in PostgreSQL. */
export const settingDefinitions: Readonly<Record<string, SettingDefinition>> = {
  "canopy.shard_count": { kind: "integer", defaultValue: "32", min: 1, max: 64000, context: "session" },
  "canopy.shard_replication_factor": { kind: "integer", defaultValue: "1", min: 1, max: 100, context: "session" },
  "canopy.node_conninfo": {
    kind: "string",
    defaultValue: "sslmode=require",
    context: "session",
    check: checkNodeConninfo,
  },
  "canopy.max_adaptive_executor_pool_size": {
    kind: "integer",
    defaultValue: "16",
    min: 1,
    max: 1000,
    context: "session",
  },
  "canopy.executor_slow_start_interval": {
    kind: "integer",
    defaultValue: "10",
    min: 0,
    max: intMax,
    context: "session",
  },
  // As many as a query's tasks may use: with fewer, a session's next multi-shard query opens its
  // connections again (a GROUP BY over 1M rows took 1.8× as long with 1). Idle ones are given up
  // to sessions waiting for canopy.max_shared_pool_size's slots.
  "canopy.max_cached_conns_per_worker": {
    kind: "integer",
    defaultValue: "16",
    min: 0,
    max: intMax,
    context: "session",
  },
  // Connections to each worker node, all sessions of this coordinator together (-1: no cap; 0: the
  // coordinator database's max_connections, as in Citus).
  "canopy.max_shared_pool_size": { kind: "integer", defaultValue: "100", min: -1, max: intMax, context: "startup" },
  "canopy.node_connection_timeout": {
    kind: "integer",
    defaultValue: "30000",
    min: 10,
    max: 3600000,
    context: "session",
  },
  "canopy.explain_all_tasks": { kind: "boolean", defaultValue: "off", context: "session" },
  // A simple-protocol statement over distributed tables whose text recurs with other numbers (in
  // its WHERE clause, an UPDATE's assignments, an INSERT's VALUES) runs as a prepared statement
  // with those numbers as parameters once its shape was seen this many times before in the session
  // (server/statement_shapes.ts); -1: never.
  "canopy.parameterize_after": { kind: "integer", defaultValue: "1", min: -1, max: intMax, context: "session" },
  "canopy.log_remote_commands": { kind: "boolean", defaultValue: "off", context: "session" },
  "canopy.max_intermediate_result_size": {
    kind: "integer",
    defaultValue: "1048576",
    min: -1,
    max: intMax,
    context: "session",
  },
  "canopy.max_message_size": {
    kind: "integer",
    defaultValue: String(256 * 1024 * 1024),
    min: 1024,
    max: 1 << 30,
    context: "startup",
  },
  // How long a session's COMMIT (or ROLLBACK) PREPARED waits while another backend, a recovery
  // pass, is finishing the same prepared transaction (commit.ts, finishOn); past it the client hears
  // of its commit and recovery finishes that node's part.
  "canopy.prepared_busy_wait_timeout": {
    kind: "integer",
    defaultValue: "10000",
    min: 0,
    max: intMax,
    context: "session",
  },
  "canopy.recover_2pc_interval": {
    kind: "integer",
    defaultValue: "60000",
    min: -1,
    max: intMax,
    context: "startup",
  },
  // Processes serving the clients of a coordinator of PostgreSQL servers (siblings.ts); 0: one per
  // core, up to 8. The embedded cluster runs in one process.
  "canopy.coordinator_processes": { kind: "integer", defaultValue: "0", min: 0, max: 256, context: "startup" },
  // The nice value the coordinator's processes run at, set as they start when given (canopy serve
  // --set; local up gives -10; otherwise they keep the one they were started at): each process
  // serves many sessions on one thread, where PostgreSQL gives each session a process of its own,
  // and the kernel's fair share is per process.
  "canopy.coordinator_nice": { kind: "integer", defaultValue: "0", min: -20, max: 19, context: "startup" },
  "canopy.max_client_connections": { kind: "integer", defaultValue: "1000", min: 1, max: 100000, context: "startup" },
  "canopy.stat_statements_max": { kind: "integer", defaultValue: "50000", min: 1, max: 10000000, context: "startup" },
  "canopy.stat_statements_purge_interval": {
    kind: "integer",
    defaultValue: "3600",
    min: 0,
    // In milliseconds it must fit a timer's 32-bit delay.
    max: Math.floor(intMax / 1000),
    context: "startup",
  },
  "canopy.stat_statements_track": { kind: "string", defaultValue: "all", context: "startup", check: checkTrack },
  // Distributed deadlock detection: a lock cycle spanning nodes is broken within about this many
  // times the coordinator database's deadlock_timeout (checks run every half of that; a lock wait
  // counts once it has lasted that less half a deadlock_timeout, so PostgreSQL reports a cycle
  // within one node first). -1 disables the detector.
  "canopy.distributed_deadlock_detection_factor": {
    kind: "integer",
    defaultValue: "2",
    min: -1,
    max: 1000,
    context: "startup",
    check: (value) => {
      if (Number(value) === 0) {
        throw new SqlError("22023", 'invalid value for parameter "canopy.distributed_deadlock_detection_factor": "0"', {
          hint: "Use -1 to disable distributed deadlock detection.",
        });
      }
    },
  },
};

/** Defaults in force for this coordinator, from configuration over the built-in ones. */
export type SettingValues = Record<string, string>;

/** Returns the built-in defaults overridden by `overrides` (each validated). */
export function resolveDefaults(overrides: Record<string, string> = {}): SettingValues {
  const values: SettingValues = {};
  for (const [name, def] of Object.entries(settingDefinitions)) values[name] = def.defaultValue;
  for (const [name, value] of Object.entries(overrides)) values[name] = normalizeSetting(name, value);
  return values;
}

/** True when `name` is in Canopy's namespace (case-insensitive, as GUC names are). */
export function isCanopySetting(name: string): boolean {
  return name.toLowerCase().startsWith("canopy.");
}

/** Checks that a canopy.* setting exists, throwing PostgreSQL's 42704 error if not. */
export function ensureSettingExists(name: string): SettingDefinition {
  const def = settingDefinitions[name.toLowerCase()];
  if (!def) throw new SqlError("42704", `unrecognized configuration parameter "${name}"`);
  return def;
}

/** Validates a value for a session SET and returns it in canonical form. */
export function checkSessionSet(name: string, value: string): string {
  const def = ensureSettingExists(name);
  if (def.context === "startup") {
    throw new SqlError("55P02", `parameter "${name}" cannot be changed without restarting the server`);
  }
  return normalizeSetting(name, value);
}

/** Validates a value and returns its canonical form, with PostgreSQL's messages for bad values. */
export function normalizeSetting(name: string, value: string): string {
  const def = ensureSettingExists(name);
  switch (def.kind) {
    case "integer": {
      const v = value.trim();
      if (!/^[+-]?\d+$/.test(v)) {
        throw new SqlError("22023", `invalid value for parameter "${name}": "${value}"`);
      }
      const n = Number(v);
      if ((def.min !== undefined && n < def.min) || (def.max !== undefined && n > def.max)) {
        throw new SqlError(
          "22023",
          `${n} is outside the valid range for parameter "${name}" (${def.min} .. ${def.max})`,
        );
      }
      def.check?.(String(n));
      return String(n);
    }
    case "boolean": {
      const v = value.trim().toLowerCase();
      if (["on", "true", "yes", "1", "t", "y"].includes(v)) return "on";
      if (["off", "false", "no", "0", "f", "n"].includes(v)) return "off";
      throw new SqlError("22023", `parameter "${name}" requires a Boolean value`);
    }
    case "string":
      def.check?.(value);
      return value;
  }
}

function checkTrack(value: string): void {
  if (value !== "all" && value !== "none") {
    throw new SqlError("22023", `invalid value for parameter "canopy.stat_statements_track": "${value}"`, {
      hint: "Available values: none, all.",
    });
  }
}

function checkNodeConninfo(value: string): void {
  const parsed = parseConninfo(value);
  for (const key of Object.keys(parsed)) {
    if (!allowedConninfoKeys.has(key) || key === "password") {
      throw new SqlError("22023", `invalid value for parameter "canopy.node_conninfo": "${value}"`, {
        detail: `Prohibited conninfo keyword detected: ${key}`,
      });
    }
  }
}
