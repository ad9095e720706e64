// Roles on the workers. CREATE / ALTER / DROP ROLE (USER, GROUP), ALTER ROLE … SET and RENAME,
// GRANT / REVOKE of role memberships, REASSIGN OWNED and DROP OWNED run on the coordinator
// database and then on every active worker in the session's distributed transaction
// (commands/ddl.ts), so that a role changes everywhere or nowhere. The workers' connections act as
// the session's user and role, which every worker knows with the same attributes: a worker checks
// the privileges the coordinator database checked first. A password given in clear text is turned
// into its verifier (the method of password_encryption, as libpq's PQencryptPasswordConn does)
// before the statement runs anywhere: every node stores the same verifier and no node logs the
// clear text. CREATE ROLE of a name a worker has already (made there by hand) alters that role to
// the coordinator's attributes and the statement's memberships instead. Workers added later get
// every role of the coordinator database and the schemas' privileges (prepareRoles).
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import type { Session } from "../server/session.js";
import type { MetadataSnapshot, NodeRecord } from "../metadata/cache.js";
import { SqlError } from "../errors.js";
import { cloneAst, type AstNode } from "../sql/ast.js";
import { deparseNode, deparseStatement } from "../sql/parse.js";
import { arrayLiteral, quoteIdent, quoteLiteral, quoteQualified } from "../sql/quote.js";
import { query } from "./distribute.js";
import { activeWorkers } from "./objects.js";
import type { DdlPlan, ShardStatement } from "./ddl.js";

const roleStatementKinds = new Set([
  "CreateRoleStmt",
  "AlterRoleStmt",
  "AlterRoleSetStmt",
  "DropRoleStmt",
  "GrantRoleStmt",
  // What the shards and their privileges hold of a role goes with the shells' (before DROP ROLE).
  "ReassignOwnedStmt",
  "DropOwnedStmt",
]);

/** Whether a statement creates, changes or drops roles, their memberships or what they own. */
export function isRoleStatement(stmt: AstNode): boolean {
  const rename = stmt.RenameStmt as { renameType?: string } | undefined;
  return roleStatementKinds.has(Object.keys(stmt)[0]) || rename?.renameType === "OBJECT_ROLE";
}

type Option = { DefElem: { defname: string; arg?: AstNode } };
type CreateRole = { role: string; options?: Option[] };
type RoleSpec = { roletype: string; rolename?: string };

/** A role statement: on the coordinator database (with a verifier for a clear-text password), then on every worker. */
export async function planRoleDdl(
  session: Session,
  stmt: AstNode,
  metadata: MetadataSnapshot,
): Promise<DdlPlan | null> {
  if (!isRoleStatement(stmt)) return null;
  const workers = activeWorkers(metadata);
  if (workers.length === 0) return null;
  if (stmt.DropOwnedStmt) await refuseDroppingTables(session, stmt.DropOwnedStmt as { roles: AstNode[] });
  const copy = cloneAst(stmt);
  refuseQuotedValidUntil(copy);
  const shellSql = (await hidePassword(session, copy)) ? deparseStatement(copy) : undefined;
  const sql = workerStatement(copy);
  const create = copy.CreateRoleStmt as CreateRole | undefined;
  return {
    shellSql,
    shardStatements: async () => {
      // The coordinator database's role, as the statement made it.
      const made = create ? await roleAttributesOn(session, create.role) : null;
      const perWorker = await Promise.all(
        workers.map(async (node) => {
          const list = create ? await createOrMatch(session, node, create, made!, sql) : [sql];
          return list.map((s): ShardStatement => ({ groupId: node.groupid, sql: s, reference: [] }));
        }),
      );
      return perWorker.flat();
    },
  };
}

/**
 * VALID UNTIL with a quote in it, which no timestamp has, refused as PostgreSQL refuses it: the
 * deparser would write the quote unescaped.
 */
function refuseQuotedValidUntil(stmt: AstNode): void {
  const role = (stmt.CreateRoleStmt ?? stmt.AlterRoleStmt) as { options?: Option[] } | undefined;
  const until = role?.options?.find((o) => o.DefElem.defname === "validUntil")?.DefElem.arg;
  const text = (until?.String as { sval: string } | undefined)?.sval;
  if (text?.includes("'")) {
    throw new SqlError("22007", `invalid input syntax for type timestamp with time zone: "${text}"`);
  }
}

/** DROP OWNED of a role owning distributed or reference tables would drop their shells behind the metadata. */
async function refuseDroppingTables(session: Session, drop: { roles: AstNode[] }): Promise<void> {
  const names: string[] = [];
  for (const r of drop.roles) names.push(await roleName(session, r.RoleSpec as RoleSpec));
  const owned = await query(
    session,
    `SELECT c.oid::regclass::text FROM pg_catalog.pg_dist_partition p
       JOIN pg_catalog.pg_class c ON c.oid = p.logicalrelid
       JOIN pg_catalog.pg_roles r ON r.oid = c.relowner
      WHERE r.rolname = ANY ($1::text[]) ORDER BY 1 LIMIT 1`,
    arrayLiteral(names),
  );
  if (owned.length > 0) {
    throw new SqlError("0A000", "DROP OWNED of a role that owns distributed or reference tables is not supported", {
      detail: `The role owns ${owned[0][0]}.`,
      hint: "Drop those tables with DROP TABLE, or give them to another role with REASSIGN OWNED, first.",
    });
  }
}

/** The statement as every worker runs it. */
function workerStatement(stmt: AstNode): string {
  const drop = stmt.DropRoleStmt as { missing_ok?: boolean } | undefined;
  // A role the coordinator had but a worker lacked (made before roles were propagated) is gone there.
  if (drop) drop.missing_ok = true;
  const grant = stmt.GrantRoleStmt as GrantRole | undefined;
  if (grant) return grantRoleSql(grant) ?? deparseStatement(stmt);
  const set = stmt.AlterRoleSetStmt as AlterRoleSet | undefined;
  return set ? alterRoleSetSql(set) : deparseStatement(stmt);
}

type AlterRoleSet = { role?: RoleSpec; database?: string; setstmt: { kind: string; name?: string } };

/**
 * ALTER ROLE … SET / RESET with the setting part deparsed on its own (the deparser drops RESET
 * ALL and TO DEFAULT inside ALTER ROLE). FROM CURRENT would take the worker's value: refused.
 */
function alterRoleSetSql(a: AlterRoleSet): string {
  if (a.setstmt.kind === "VAR_SET_CURRENT") {
    throw new SqlError("0A000", "ALTER ROLE … SET … FROM CURRENT is not supported", {
      detail: "The workers would store their own session's value.",
      hint: `Give the value: ALTER ROLE … SET ${a.setstmt.name} TO '…'.`,
    });
  }
  const role = a.role ? deparseNode({ RoleSpec: a.role }) : "ALL";
  const database = a.database ? ` IN DATABASE ${quoteIdent(a.database)}` : "";
  return `ALTER ROLE ${role}${database} ${deparseStatement({ VariableSetStmt: a.setstmt })}`;
}

type GrantRole = {
  granted_roles: { AccessPriv: { priv_name: string } }[];
  grantee_roles: { RoleSpec: RoleSpec }[];
  is_grant?: boolean;
  opt?: Option[];
  grantor?: RoleSpec;
  behavior?: string;
};

/**
 * GRANT / REVOKE of memberships in the form every PostgreSQL from 15 on reads (WITH ADMIN OPTION,
 * where the deparser writes 16's WITH ADMIN TRUE); null for 16's INHERIT and SET options, which
 * only workers of 16 or later can take as the deparser writes them.
 */
function grantRoleSql(g: GrantRole): string | null {
  const options = g.opt ?? [];
  if (options.some((o) => o.DefElem.defname !== "admin")) return null;
  const roles = g.granted_roles.map((r) => quoteIdent(r.AccessPriv.priv_name)).join(", ");
  const grantees = g.grantee_roles.map((r) => deparseNode(r)).join(", ");
  const grantor = g.grantor ? ` GRANTED BY ${deparseNode({ RoleSpec: g.grantor })}` : "";
  const admin = options.length > 0;
  if (g.is_grant) return `GRANT ${roles} TO ${grantees}${admin ? " WITH ADMIN OPTION" : ""}${grantor}`;
  const cascade = g.behavior === "DROP_CASCADE" ? " CASCADE" : "";
  return `REVOKE ${admin ? "ADMIN OPTION FOR " : ""}${roles} FROM ${grantees}${grantor}${cascade}`;
}

/**
 * Replaces a clear-text PASSWORD of CREATE / ALTER ROLE by its verifier; whether it did. An empty
 * password (which PostgreSQL clears) and a verifier given as the password stay as they are.
 */
async function hidePassword(session: Session, stmt: AstNode): Promise<boolean> {
  const role = (stmt.CreateRoleStmt ?? stmt.AlterRoleStmt) as
    { role: string | RoleSpec; options?: Option[] } | undefined;
  const password = role?.options?.find((o) => o.DefElem.defname === "password")?.DefElem;
  const clear = (password?.arg?.String as { sval: string } | undefined)?.sval;
  if (!clear || isVerifier(clear)) return false;
  const [method] = await session.currentSettings(["password_encryption"]);
  const verifier = method === "md5" ? md5Verifier(clear, await roleName(session, role!.role)) : scramVerifier(clear);
  password!.arg = { String: { sval: verifier } };
  return true;
}

/**
 * Whether a password is a verifier already, as PostgreSQL's get_password_type sees it. Strictly
 * of the verifiers' characters: the deparser writes the password without escaping its quotes.
 */
function isVerifier(password: string): boolean {
  const base64 = "[A-Za-z0-9+/]+=*";
  const scram = new RegExp(`^SCRAM-SHA-256\\$[0-9]+:${base64}\\$${base64}:${base64}$`);
  return /^md5[0-9a-f]{32}$/.test(password) || scram.test(password);
}

/** The name of the role a statement names (CURRENT_USER and the like as the session has them). */
async function roleName(session: Session, role: string | RoleSpec): Promise<string> {
  if (typeof role === "string") return role;
  if (role.roletype === "ROLESPEC_CSTRING") return role.rolename!;
  const which = role.roletype === "ROLESPEC_SESSION_USER" ? "session_user" : "current_user";
  const [[name]] = await query(session, `SELECT ${which}::text`);
  return name!;
}

/** md5 followed by the MD5 of the password and the role name, as PostgreSQL stores an md5 password. */
function md5Verifier(password: string, role: string): string {
  return (
    "md5" +
    createHash("md5")
      .update(password + role, "utf8")
      .digest("hex")
  );
}

/**
 * A SCRAM-SHA-256 verifier (RFC 5802, 7677) with PostgreSQL's 4096 iterations and 16-byte salt.
 * PostgreSQL normalizes a non-ASCII password with SASLprep (RFC 4013) first, whose tables Canopy
 * does not carry: such a password must come as its verifier.
 */
function scramVerifier(password: string): string {
  if (!/^[\x00-\x7f]*$/.test(password)) {
    throw new SqlError("0A000", "a clear-text password with non-ASCII characters is not supported for roles", {
      detail: "Canopy computes the verifier the workers store, and does not apply SASLprep normalization.",
      hint: "Give the SCRAM-SHA-256 verifier as the password (psql's \\password computes it), or an ASCII password.",
    });
  }
  const iterations = 4096;
  const salt = randomBytes(16);
  const salted = pbkdf2Sync(password, salt, iterations, 32, "sha256");
  const hmac = (key: Buffer, text: string) => createHmac("sha256", key).update(text).digest();
  const storedKey = createHash("sha256").update(hmac(salted, "Client Key")).digest();
  const serverKey = hmac(salted, "Server Key");
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

/** A role's attributes, as both pg_authid and pg_roles give them (roleColumns). */
interface RoleAttributes {
  readonly superuser: boolean;
  readonly replication: boolean;
  readonly bypassrls: boolean;
  readonly inherit: boolean;
  readonly createrole: boolean;
  readonly createdb: boolean;
  readonly login: boolean;
  readonly connectionLimit: string;
  /** In UTC, or null for none. */
  readonly validUntil: string | null;
}

const roleColumns = `rolsuper, rolreplication, rolbypassrls, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin,
  rolconnlimit, pg_catalog.to_char(rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'`;

function roleAttributes(row: readonly (string | null)[]): RoleAttributes {
  const [superuser, replication, bypassrls, inherit, createrole, createdb, login, connectionLimit, validUntil] = row;
  return {
    superuser: superuser === "t",
    replication: replication === "t",
    bypassrls: bypassrls === "t",
    inherit: inherit === "t",
    createrole: createrole === "t",
    createdb: createdb === "t",
    login: login === "t",
    connectionLimit: connectionLimit!,
    validUntil,
  };
}

const roleAttributesSql = `SELECT ${roleColumns} FROM pg_catalog.pg_roles WHERE rolname = $1`;

/** A role's attributes in the coordinator database. */
async function roleAttributesOn(session: Session, role: string): Promise<RoleAttributes> {
  const [row] = await query(session, roleAttributesSql, role);
  return roleAttributes(row);
}

/** A new role's attributes that only a superuser may set, and its VALID UNTIL. */
const newRole = { superuser: false, replication: false, bypassrls: false, validUntil: null };

/**
 * The options that give a role the attributes. SUPERUSER, REPLICATION and BYPASSRLS, which only a
 * superuser may name, are named only where they differ from the role's `current` ones, and VALID
 * UNTIL too (none given is NULL, which 'infinity' stands for once a role has one).
 */
function roleOptions(a: RoleAttributes, current: Pick<RoleAttributes, keyof typeof newRole>): string {
  const flag = (name: string, on: boolean) => (on ? name : `NO${name}`);
  const options = [
    a.superuser !== current.superuser ? flag("SUPERUSER", a.superuser) : "",
    a.replication !== current.replication ? flag("REPLICATION", a.replication) : "",
    a.bypassrls !== current.bypassrls ? flag("BYPASSRLS", a.bypassrls) : "",
    flag("INHERIT", a.inherit),
    flag("CREATEROLE", a.createrole),
    flag("CREATEDB", a.createdb),
    flag("LOGIN", a.login),
    `CONNECTION LIMIT ${Number(a.connectionLimit)}`,
    a.validUntil !== current.validUntil ? `VALID UNTIL ${quoteLiteral(a.validUntil ?? "infinity")}` : "",
  ];
  return options.filter(Boolean).join(" ");
}

/** Runs SQL on a worker in the session's distributed transaction. */
function runOn(session: Session, node: NodeRecord, sql: string, params: (string | null)[] = []) {
  return session.remote.run(node, sql, params, { transactional: true, write: true });
}

/**
 * CREATE ROLE on a worker: the statement where the role is missing; where a role of the name
 * exists, an ALTER ROLE to the coordinator's attributes and the statement's password, and the
 * statement's memberships.
 */
async function createOrMatch(
  session: Session,
  node: NodeRecord,
  create: CreateRole,
  made: RoleAttributes,
  sql: string,
): Promise<string[]> {
  const there = await runOn(session, node, roleAttributesSql, [create.role]);
  if (there.rows.length === 0) return [sql];
  const name = quoteIdent(create.role);
  const options = new Map((create.options ?? []).map((o) => [o.DefElem.defname, o.DefElem.arg]));
  const password = (options.get("password")?.String as { sval: string } | undefined)?.sval ?? null;
  const names = (key: string) =>
    ((options.get(key)?.List as { items: AstNode[] } | undefined)?.items ?? []).map((r) => deparseNode(r));
  return [
    `ALTER ROLE ${name} WITH ${roleOptions(made, roleAttributes(there.rows[0]))} PASSWORD ${quoteLiteral(password)}`,
    ...names("addroleto").map((r) => `GRANT ${r} TO ${name}`),
    ...names("rolemembers").map((m) => `GRANT ${name} TO ${m}`),
    ...names("adminmembers").map((m) => `GRANT ${name} TO ${m} WITH ADMIN OPTION`),
  ];
}

/**
 * Gives a worker joining the cluster the coordinator database's roles (all but PostgreSQL's own
 * and those the worker has already, which stay as they are) with their attributes, password
 * verifiers, memberships and ALTER ROLE … SET settings, and the privileges of every schema whose privileges were changed
 * (creating those schemas), before any shard is created there.
 */
export async function prepareRoles(session: Session, node: NodeRecord): Promise<void> {
  const roles = await query(
    session,
    `SELECT rolname, rolpassword, ${roleColumns} FROM pg_catalog.pg_authid WHERE oid >= 16384 ORDER BY oid`,
  );
  const existing = await runOn(
    session,
    node,
    "SELECT rolname FROM pg_catalog.pg_roles WHERE rolname = ANY ($1::text[])",
    [arrayLiteral(roles.map((r) => r[0]))],
  );
  const have = new Set(existing.rows.map((r) => r[0]));
  const created = roles.filter((r) => !have.has(r[0]));
  for (const [name, password, ...attributes] of created) {
    const options = roleOptions(roleAttributes(attributes), newRole);
    await runOn(session, node, `CREATE ROLE ${quoteIdent(name!)} WITH ${options} PASSWORD ${quoteLiteral(password)}`);
  }
  const memberships = await query(
    session,
    `SELECT r.rolname, m.rolname, a.admin_option
       FROM pg_catalog.pg_auth_members a
       JOIN pg_catalog.pg_roles r ON r.oid = a.roleid
       JOIN pg_catalog.pg_roles m ON m.oid = a.member
      WHERE r.rolname = ANY ($1::text[]) OR m.rolname = ANY ($1::text[])
      ORDER BY a.roleid, a.member`,
    arrayLiteral(created.map((r) => r[0])),
  );
  for (const [role, member, admin] of memberships) {
    const option = admin === "t" ? " WITH ADMIN OPTION" : "";
    await runOn(session, node, `GRANT ${quoteIdent(role!)} TO ${quoteIdent(member!)}${option}`);
  }
  await copyRoleSettings(
    session,
    node,
    created.map((r) => r[0]!),
  );
  await grantSchemaPrivileges(session, node);
}

/**
 * The ALTER ROLE … SET settings of the roles, for all databases or the session's one (others may
 * not exist on the worker). Each value is stored as the coordinator database stores it: set for
 * the worker's transaction and taken FROM CURRENT (a list such as search_path keeps its quoting),
 * then set back.
 */
async function copyRoleSettings(session: Session, node: NodeRecord, roles: readonly string[]): Promise<void> {
  const settings = await query(
    session,
    `SELECT r.rolname, d.datname, s.setting
       FROM pg_catalog.pg_db_role_setting x
       JOIN pg_catalog.pg_roles r ON r.oid = x.setrole
       LEFT JOIN pg_catalog.pg_database d ON d.oid = x.setdatabase
       CROSS JOIN LATERAL pg_catalog.unnest(x.setconfig) AS s(setting)
      WHERE r.rolname = ANY ($1::text[]) AND (x.setdatabase = 0 OR d.datname = pg_catalog.current_database())
      ORDER BY r.oid, x.setdatabase`,
    arrayLiteral(roles),
  );
  for (const [role, database, setting] of settings) {
    const at = setting!.indexOf("=");
    const [name, value] = [setting!.slice(0, at), setting!.slice(at + 1)];
    const [[before]] = (await runOn(session, node, "SELECT pg_catalog.current_setting($1, true)", [name])).rows;
    await runOn(session, node, "SELECT pg_catalog.set_config($1, $2, true)", [name, value]);
    const inDatabase = database === null ? "" : ` IN DATABASE ${quoteIdent(database)}`;
    const qualified = quoteQualified(...name.split("."));
    await runOn(session, node, `ALTER ROLE ${quoteIdent(role!)}${inDatabase} SET ${qualified} FROM CURRENT`);
    await runOn(session, node, "SELECT pg_catalog.set_config($1, $2, true)", [name, before]);
  }
}

/**
 * Creates on a worker every schema whose privileges were changed (its ACL is set) and grants what
 * the coordinator database's ACL grants; PUBLIC loses what the ACL does not give it (the public
 * schema's USAGE). The owner's own privileges stay implicit.
 */
async function grantSchemaPrivileges(session: Session, node: NodeRecord): Promise<void> {
  const items = await query(
    session,
    `SELECT n.nspname, a.privilege_type, g.rolname, a.is_grantable, a.grantee = n.nspowner
       FROM pg_catalog.pg_namespace n
       CROSS JOIN LATERAL pg_catalog.aclexplode(n.nspacl) a
       LEFT JOIN pg_catalog.pg_roles g ON g.oid = a.grantee
      WHERE n.nspacl IS NOT NULL AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
      ORDER BY n.oid, a.grantee, a.privilege_type`,
  );
  const bySchema = new Map<string, (string | null)[][]>();
  for (const item of items) bySchema.set(item[0]!, [...(bySchema.get(item[0]!) ?? []), item]);
  for (const [name, acl] of bySchema) {
    const schema = quoteIdent(name);
    await runOn(session, node, `CREATE SCHEMA IF NOT EXISTS ${schema}`);
    // aclexplode's grantee 0 (no role) is PUBLIC.
    if (!acl.some(([, , grantee]) => grantee === null)) {
      await runOn(session, node, `REVOKE ALL ON SCHEMA ${schema} FROM PUBLIC`);
    }
    for (const [, privilege, grantee, grantable, owner] of acl) {
      if (owner === "t") continue;
      const to = grantee === null ? "PUBLIC" : quoteIdent(grantee);
      const option = grantable === "t" ? " WITH GRANT OPTION" : "";
      await runOn(session, node, `GRANT ${privilege} ON SCHEMA ${schema} TO ${to}${option}`);
    }
  }
}
