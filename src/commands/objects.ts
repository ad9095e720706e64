// Objects that shards depend on: user-defined types (enum, composite, domain), collations of
// columns, domains and indexes, functions called by defaults and constraints, and the extensions
// that own such things. Before a table's shards are
// created or altered, the objects its columns, defaults and constraints need are created on every
// worker (from the coordinator database's catalog, in dependency order) and recorded in
// pg_dist_object; workers added later get every recorded object, and later ALTER TYPE, ALTER
// DOMAIN, ALTER COLLATION, CREATE OR REPLACE FUNCTION and DROP of a recorded object run on the
// workers as well.
import type { Session } from "../server/session.js";
import type { MetadataSnapshot, NodeRecord } from "../metadata/cache.js";
import { arrayLiteral, quoteIdent, quoteLiteral, quoteQualified } from "../sql/quote.js";
import { cloneAst, stringList, type AstNode } from "../sql/ast.js";
import { deparseNode, deparseStatement } from "../sql/parse.js";
import { SqlError } from "../errors.js";
import { query } from "./distribute.js";

/** A recorded (or to be recorded) object: `x` extension, `t` type, `o` collation, `f` function. */
interface DistObject {
  readonly kind: "x" | "t" | "o" | "f";
  readonly oid: string;
  readonly schema: string;
  readonly name: string;
}

/** The catalog of each kind of recorded object (pg_dist_object.classid). */
const classOf = {
  x: "pg_catalog.pg_extension",
  t: "pg_catalog.pg_type",
  o: "pg_catalog.pg_collation",
  f: "pg_catalog.pg_proc",
} as const;

/** SQL: the kind (classOf's key) of the object whose catalog is the regclass expression `classid`. */
const kindOf = (classid: string) =>
  `CASE ${classid} ${Object.entries(classOf)
    .map(([kind, catalog]) => `WHEN '${catalog}'::regclass THEN '${kind}'`)
    .join(" ")} END`;

/**
 * The objects a table needs, most depended-on first: from the table and its defaults, constraints
 * and indexes along pg_depend to types, collations, functions and extensions (composite types
 * through their attributes), without PostgreSQL's own and without an extension's members (the
 * extension stands for them). The walk is cut at a fixed depth. $1 is the root's oid, $2 its
 * catalog: pg_class for a table, pg_proc for a function (ensureFunction), which comes last itself.
 */
const dependenciesSql = `
WITH RECURSIVE deps(classid, objid, depth) AS (
  SELECT $2::regclass::oid, $1::oid, 0
  UNION ALL
  SELECT d.classid, d.objid, 1 FROM pg_catalog.pg_depend d
   WHERE d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = $1::oid AND $2::regclass = d.refclassid
     AND d.classid IN ('pg_catalog.pg_attrdef'::regclass, 'pg_catalog.pg_constraint'::regclass, 'pg_catalog.pg_class'::regclass)
  UNION ALL
  -- A constraint's index depends on the constraint, not the table: its operator classes too.
  SELECT 'pg_catalog.pg_class'::regclass::oid, i.indexrelid, 1 FROM pg_catalog.pg_index i
   WHERE i.indrelid = $1::oid AND $2::regclass = 'pg_catalog.pg_class'::regclass
  UNION ALL
  SELECT n.classid, n.objid, deps.depth + 1
    FROM deps
    CROSS JOIN LATERAL (
      SELECT d.refclassid, d.refobjid FROM pg_catalog.pg_depend d
       WHERE d.classid = deps.classid AND d.objid = deps.objid
         AND d.refclassid IN ('pg_catalog.pg_type'::regclass, 'pg_catalog.pg_proc'::regclass,
                              'pg_catalog.pg_extension'::regclass, 'pg_catalog.pg_collation'::regclass,
                              'pg_catalog.pg_opclass'::regclass, 'pg_catalog.pg_operator'::regclass)
      UNION ALL
      SELECT 'pg_catalog.pg_class'::regclass, t.typrelid FROM pg_catalog.pg_type t
       WHERE deps.classid = 'pg_catalog.pg_type'::regclass AND t.oid = deps.objid AND t.typtype = 'c'
    ) AS n(classid, objid)
   WHERE deps.depth < 12
)
SELECT kind, oid, schema, name FROM (
  SELECT ${kindOf("deps.classid")} AS kind, deps.classid, deps.objid AS oid, coalesce(xn.nspname, tn.nspname, cn.nspname, pn.nspname) AS schema,
         coalesce(x.extname, t.typname, co.collname, p.proname) AS name, max(deps.depth) AS depth
    FROM deps
    LEFT JOIN pg_catalog.pg_extension x ON deps.classid = 'pg_catalog.pg_extension'::regclass AND x.oid = deps.objid
    LEFT JOIN pg_catalog.pg_namespace xn ON xn.oid = x.extnamespace
    LEFT JOIN pg_catalog.pg_type t ON deps.classid = 'pg_catalog.pg_type'::regclass AND t.oid = deps.objid
         AND (t.typtype IN ('e', 'd') OR (t.typtype = 'c' AND (SELECT relkind FROM pg_catalog.pg_class WHERE oid = t.typrelid) = 'c'))
    LEFT JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace
    LEFT JOIN pg_catalog.pg_collation co ON deps.classid = 'pg_catalog.pg_collation'::regclass AND co.oid = deps.objid
    LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
    LEFT JOIN pg_catalog.pg_proc p ON deps.classid = 'pg_catalog.pg_proc'::regclass AND p.oid = deps.objid
    LEFT JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace
   WHERE (x.oid IS NOT NULL OR t.oid IS NOT NULL OR co.oid IS NOT NULL OR p.oid IS NOT NULL)
     AND coalesce(xn.nspname, tn.nspname, cn.nspname, pn.nspname) NOT IN ('pg_catalog', 'information_schema')
     AND (x.oid IS NOT NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e
           WHERE e.classid = deps.classid AND e.objid = deps.objid AND e.deptype = 'e'))
   GROUP BY 1, 2, 3, 4, 5
) o
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_object r WHERE r.objid = o.oid AND r.classid = o.classid)
ORDER BY depth DESC, kind DESC, oid`;

/**
 * Creates on every worker the objects a table's shards need that are not there yet, and records
 * them; within the session's transaction, so they come and go with the statement that needs them.
 */
export async function ensureDependencies(session: Session, relationId: number): Promise<void> {
  await ensureObjects(session, "pg_catalog.pg_class", String(relationId));
}

/**
 * Creates a function on every worker, with the types and extensions it needs that are not there
 * yet, and records them (propagatedFunction: statements calling it may then run on the shards);
 * within the session's transaction, as ensureDependencies.
 */
export async function ensureFunction(session: Session, oid: string): Promise<void> {
  await ensureObjects(session, "pg_catalog.pg_proc", oid);
}

async function ensureObjects(session: Session, catalog: string, oid: string): Promise<void> {
  const rows = await query(session, dependenciesSql, oid, catalog);
  if (rows.length === 0) return;
  const objects = rows.map(([kind, oid, schema, name]) => ({ kind, oid, schema, name }) as DistObject);
  const workers = activeWorkers(await session.metadata());
  const statements: Definition[] = [];
  for (const o of objects) statements.push(await definition(session, o));
  await Promise.all(
    workers.map(async (node) => {
      for (const s of statements) await createOn(session, node, s);
    }),
  );
  await query(
    session,
    `INSERT INTO pg_catalog.pg_dist_object (classid, objid)
     SELECT c::regclass, o FROM unnest($1::text[], $2::oid[]) AS x(c, o) ON CONFLICT DO NOTHING`,
    arrayLiteral(objects.map((o) => classOf[o.kind])),
    arrayLiteral(objects.map((o) => o.oid)),
  );
}

/** Creates every recorded object on a worker (one just added), in the order they were recorded. */
export async function createRecordedObjects(session: Session, node: NodeRecord): Promise<void> {
  const rows = await query(
    session,
    `SELECT ${kindOf("r.classid")}, r.objid, coalesce(xn.nspname, tn.nspname, cn.nspname, pn.nspname),
            coalesce(x.extname, t.typname, co.collname, p.proname)
       FROM pg_catalog.pg_dist_object r
       LEFT JOIN pg_catalog.pg_extension x ON r.classid = 'pg_catalog.pg_extension'::regclass AND x.oid = r.objid
       LEFT JOIN pg_catalog.pg_namespace xn ON xn.oid = x.extnamespace
       LEFT JOIN pg_catalog.pg_type t ON r.classid = 'pg_catalog.pg_type'::regclass AND t.oid = r.objid
       LEFT JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace
       LEFT JOIN pg_catalog.pg_collation co ON r.classid = 'pg_catalog.pg_collation'::regclass AND co.oid = r.objid
       LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
       LEFT JOIN pg_catalog.pg_proc p ON r.classid = 'pg_catalog.pg_proc'::regclass AND p.oid = r.objid
       LEFT JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace
      WHERE coalesce(x.oid, t.oid, co.oid, p.oid) IS NOT NULL
      ORDER BY r.ctid`,
  );
  for (const [kind, oid, schema, name] of rows) {
    await createOn(session, node, await definition(session, { kind, oid, schema, name } as DistObject));
  }
}

/** The workers every recorded object exists on. */
export function activeWorkers(metadata: MetadataSnapshot): NodeRecord[] {
  return metadata.nodes.filter((n) => n.isactive && n.noderole === "primary" && n.groupid !== 0);
}

/** What creates an object on a worker; `exists` names a type the worker may have already. */
interface Definition {
  /** The object's schema, created first where the worker lacks it. */
  readonly schema: string;
  readonly exists?: string;
  readonly statements: readonly string[];
}

async function createOn(session: Session, node: NodeRecord, d: Definition): Promise<void> {
  const run = (sql: string, params: string[] = []) =>
    session.remote.run(node, sql, params, { transactional: true, write: true });
  if (d.exists) {
    const r = await run("SELECT pg_catalog.to_regtype($1) IS NOT NULL", [d.exists]);
    if (r.rows[0][0] === "t") return;
  }
  // CREATE SCHEMA IF NOT EXISTS asks for the database's CREATE privilege even when the schema is
  // there, which a user creating a function in public need not have.
  const schema = await run("SELECT pg_catalog.to_regnamespace($1) IS NULL", [quoteIdent(d.schema)]);
  if (schema.rows[0][0] === "t") await run(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(d.schema)}`);
  for (const sql of d.statements) await run(sql);
}

/** The statements that create an object as the coordinator database's catalog defines it. */
async function definition(session: Session, o: DistObject): Promise<Definition> {
  const schema = o.schema;
  const qualified = quoteQualified(o.schema, o.name);
  if (o.kind === "x") {
    // The coordinator's version, which later ALTER EXTENSION … UPDATE keeps the workers at.
    const [[version]] = await query(
      session,
      "SELECT extversion FROM pg_catalog.pg_extension WHERE oid = $1::oid",
      o.oid,
    );
    const create = `CREATE EXTENSION IF NOT EXISTS ${quoteIdent(o.name)} WITH SCHEMA ${quoteIdent(o.schema)}`;
    return { schema, statements: [`${create} VERSION ${quoteLiteral(version)}`] };
  }
  if (o.kind === "f") {
    const [[sql]] = await query(session, "SELECT pg_catalog.pg_get_functiondef($1::oid)", o.oid);
    return { schema, statements: [sql!] };
  }
  if (o.kind === "o") return { schema, statements: [await collationDefinition(session, o.oid, qualified)] };
  const [[typtype, base, notNull, defaultExpr, collation]] = await query(
    session,
    `SELECT t.typtype, pg_catalog.format_type(t.typbasetype, t.typtypmod), t.typnotnull, t.typdefault,
            CASE WHEN t.typcollation <> 0 AND t.typcollation <> bt.typcollation
                 THEN pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname) END
       FROM pg_catalog.pg_type t
       LEFT JOIN pg_catalog.pg_type bt ON bt.oid = t.typbasetype
       LEFT JOIN pg_catalog.pg_collation co ON co.oid = t.typcollation
       LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
      WHERE t.oid = $1::oid`,
    o.oid,
  );
  let create: string;
  if (typtype === "e") {
    const labels = await query(
      session,
      "SELECT enumlabel FROM pg_catalog.pg_enum WHERE enumtypid = $1::oid ORDER BY enumsortorder",
      o.oid,
    );
    create = `CREATE TYPE ${qualified} AS ENUM (${labels.map((l) => quoteLiteral(l[0])).join(", ")})`;
  } else if (typtype === "c") {
    const attributes = await query(
      session,
      `SELECT pg_catalog.quote_ident(a.attname) || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod)
         FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.typrelid = a.attrelid
        WHERE t.oid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
      o.oid,
    );
    create = `CREATE TYPE ${qualified} AS (${attributes.map((a) => a[0]).join(", ")})`;
  } else {
    const checks = await query(
      session,
      `SELECT pg_catalog.quote_ident(conname) || ' ' || pg_catalog.pg_get_constraintdef(oid)
         FROM pg_catalog.pg_constraint WHERE contypid = $1::oid AND contype = 'c' ORDER BY oid`,
      o.oid,
    );
    create = [
      `CREATE DOMAIN ${qualified} AS ${base}`,
      collation ? `COLLATE ${collation}` : "",
      defaultExpr !== null ? `DEFAULT ${defaultExpr}` : "",
      notNull === "t" ? "NOT NULL" : "",
      ...checks.map((c) => `CONSTRAINT ${c[0]}`),
    ]
      .filter(Boolean)
      .join(" ");
  }
  return { schema, exists: qualified, statements: [create] };
}

/**
 * CREATE COLLATION as the coordinator database's catalog defines it (provider, locales,
 * determinism); IF NOT EXISTS, as a worker may have it from a table distributed before.
 */
async function collationDefinition(session: Session, oid: string, qualified: string): Promise<string> {
  // The locale of an ICU (or, from PostgreSQL 17, builtin) collation is colliculocale up to
  // PostgreSQL 16, colllocale after.
  const [[provider, deterministic, collate, ctype, locale]] = await query(
    session,
    `SELECT collprovider, collisdeterministic, collcollate, collctype,
            coalesce(pg_catalog.to_jsonb(c) ->> 'colllocale', pg_catalog.to_jsonb(c) ->> 'colliculocale')
       FROM pg_catalog.pg_collation c WHERE oid = $1::oid`,
    oid,
  );
  const options =
    provider === "c"
      ? ["provider = libc", `lc_collate = ${quoteLiteral(collate!)}`, `lc_ctype = ${quoteLiteral(ctype!)}`]
      : [`provider = ${provider === "i" ? "icu" : "builtin"}`, `locale = ${quoteLiteral(locale!)}`];
  if (deterministic === "f") options.push("deterministic = false");
  return `CREATE COLLATION IF NOT EXISTS ${qualified} (${options.join(", ")})`;
}

/** The objects a statement about types, functions or extensions names, as the catalog finds them. */
interface NamedObjects {
  /** Type names, for to_regtype. */
  readonly types: string[];
  /** Functions by signature: the (quoted) name and the argument types as SQL. */
  readonly signatures: { name: string; args: string[] }[];
  /** Functions named without their arguments, for to_regproc. */
  readonly functionNames: string[];
  readonly extensions: string[];
  /** Collation names, for to_regcollation. */
  readonly collations: string[];
  /** Schemas a statement covers whole (GRANT … ON ALL FUNCTIONS IN SCHEMA). */
  readonly schemas: string[];
}

type ObjectWithArgs = { objname?: unknown[]; objargs?: AstNode[]; args_unspecified?: boolean };
type QualifiedName = { List: { items: unknown[] } };
type RelationName = { schemaname?: string; relname: string };

const typeKinds = new Set(["OBJECT_TYPE", "OBJECT_DOMAIN"]);
const functionKinds = new Set(["OBJECT_FUNCTION", "OBJECT_PROCEDURE", "OBJECT_ROUTINE"]);
/** Parameter modes that are part of a function's identity (procedures' OUT parameters too). */
const identityModes = new Set(["FUNC_PARAM_DEFAULT", "FUNC_PARAM_IN", "FUNC_PARAM_INOUT", "FUNC_PARAM_VARIADIC"]);

/** Collects what a statement names into a NamedObjects. */
class ObjectNamer {
  readonly named: NamedObjects = {
    types: [],
    signatures: [],
    functionNames: [],
    extensions: [],
    collations: [],
    schemas: [],
  };

  type(name: string): void {
    this.named.types.push(name);
  }

  function(o: ObjectWithArgs): void {
    const name = quoteQualified(...stringList(o.objname));
    if (o.args_unspecified) this.named.functionNames.push(name);
    else this.named.signatures.push({ name, args: (o.objargs ?? []).map(deparseNode) });
  }

  /** An object of a kind (OBJECT_TYPE, OBJECT_FUNCTION, …) as statements list them; others are not recorded. */
  object(kind: string, object: AstNode): void {
    if (typeKinds.has(kind)) this.type(object.TypeName ? deparseNode(object) : qualifiedName(object));
    else if (functionKinds.has(kind)) this.function(object.ObjectWithArgs as ObjectWithArgs);
    else if (kind === "OBJECT_EXTENSION") this.named.extensions.push((object.String as { sval: string }).sval);
    else if (kind === "OBJECT_COLLATION") this.named.collations.push(qualifiedName(object));
  }
}

const qualifiedName = (name: unknown) => quoteQualified(...stringList((name as QualifiedName).List.items));
const relationName = (rv: RelationName) => quoteQualified(rv.schemaname, rv.relname);

/** Per statement kind, what it names among the objects that may be recorded in pg_dist_object. */
const objectNamers: Record<string, (node: AstNode, namer: ObjectNamer) => void> = {
  AlterEnumStmt: (n, namer) => namer.type(quoteQualified(...stringList(n.typeName))),
  AlterDomainStmt: (n, namer) => namer.type(quoteQualified(...stringList(n.typeName))),
  // ALTER TYPE … ADD / DROP / ALTER ATTRIBUTE
  AlterTableStmt: (n, namer) => {
    if (n.objtype === "OBJECT_TYPE") namer.type(relationName(n.relation as RelationName));
  },
  RenameStmt: (n, namer) => {
    if (n.renameType === "OBJECT_ATTRIBUTE" && n.relationType === "OBJECT_TYPE") {
      namer.type(relationName(n.relation as RelationName));
    } else if (n.renameType === "OBJECT_DOMCONSTRAINT") {
      namer.type(qualifiedName(n.object));
    } else if (n.object) {
      namer.object(n.renameType as string, n.object as AstNode);
    }
  },
  AlterObjectSchemaStmt: (n, namer) => n.object && namer.object(n.objectType as string, n.object as AstNode),
  AlterOwnerStmt: (n, namer) => n.object && namer.object(n.objectType as string, n.object as AstNode),
  AlterFunctionStmt: (n, namer) => namer.function(n.func as ObjectWithArgs),
  CreateFunctionStmt: (n, namer) => {
    if (!n.replace) return;
    const parameters = ((n.parameters ?? []) as { FunctionParameter: AstNode }[])
      .map((p) => p.FunctionParameter)
      .filter((p) => identityModes.has(p.mode as string) || (n.is_procedure && p.mode === "FUNC_PARAM_OUT"));
    namer.named.signatures.push({
      name: quoteQualified(...stringList(n.funcname)),
      args: parameters.map((p) => deparseNode({ TypeName: p.argType })),
    });
  },
  DropStmt: (n, namer) => {
    for (const o of (n.objects ?? []) as AstNode[]) namer.object(n.removeType as string, o);
  },
  AlterCollationStmt: (n, namer) => namer.named.collations.push(quoteQualified(...stringList(n.collname))),
  AlterExtensionStmt: (n, namer) => namer.named.extensions.push(n.extname as string),
  AlterExtensionContentsStmt: (n, namer) => namer.named.extensions.push(n.extname as string),
  GrantStmt: (n, namer) => {
    const objects = (n.objects ?? []) as AstNode[];
    if (n.targtype === "ACL_TARGET_OBJECT") for (const o of objects) namer.object(n.objtype as string, o);
    if (n.targtype === "ACL_TARGET_ALL_IN_SCHEMA" && functionKinds.has(n.objtype as string)) {
      namer.named.schemas.push(...objects.map((o) => (o.String as { sval: string }).sval));
    }
  },
};

/**
 * The types, functions (by signature) and extensions a statement changes, drops or grants on, or
 * null when it names none: the statements whose objects may be recorded in pg_dist_object.
 */
export function namedObjects(stmt: AstNode): NamedObjects | null {
  const kind = Object.keys(stmt)[0];
  const namer = new ObjectNamer();
  objectNamers[kind]?.(stmt[kind] as AstNode, namer);
  const count = Object.values(namer.named).reduce((n, list: unknown[]) => n + list.length, 0);
  return count > 0 ? namer.named : null;
}

/**
 * The functions of signatures $2 (names) and $3 (their argument types, as text[] literals). Types
 * are looked up first: a missing one (DROP FUNCTION IF EXISTS f(no_such_type)) means no function,
 * not the error to_regprocedure raises for it before PostgreSQL 16.
 */
const signatureOids = `
  SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(f.args::text[]) a WHERE pg_catalog.to_regtype(a) IS NULL)
              THEN pg_catalog.to_regprocedure(f.name || '(' || coalesce((
                     SELECT pg_catalog.string_agg(pg_catalog.to_regtype(a)::text, ',' ORDER BY i)
                       FROM pg_catalog.unnest(f.args::text[]) WITH ORDINALITY AS x(a, i)), '') || ')')::oid END
    FROM unnest($2::text[], $3::text[]) AS f(name, args)`;

/**
 * For a statement that changes, drops or grants on a type, function or extension recorded in
 * pg_dist_object (functions matched by signature): a builder of the statements every worker runs
 * once the coordinator database ran it, where the objects have the same names (a DROP … IF
 * EXISTS). Null when the statement names no recorded object.
 */
export async function recordedObjectStatements(
  session: Session,
  stmt: AstNode,
): Promise<(() => Promise<string[]>) | null> {
  const named = namedObjects(stmt);
  if (!named) return null;
  const [[recorded]] = await query(
    session,
    `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_object r
                     WHERE (r.classid = 'pg_catalog.pg_type'::regclass
                            AND r.objid IN (SELECT pg_catalog.to_regtype(n)::oid FROM pg_catalog.unnest($1::text[]) n))
                        OR (r.classid = 'pg_catalog.pg_proc'::regclass
                            AND r.objid IN (${signatureOids}
                                            UNION ALL
                                            SELECT pg_catalog.to_regproc(n)::oid FROM pg_catalog.unnest($4::text[]) n))
                        OR (r.classid = 'pg_catalog.pg_extension'::regclass
                            AND r.objid IN (SELECT oid FROM pg_catalog.pg_extension WHERE extname = ANY ($5::text[])))
                        OR (r.classid = 'pg_catalog.pg_collation'::regclass
                            AND r.objid IN (SELECT pg_catalog.to_regcollation(n)::oid FROM pg_catalog.unnest($6::text[]) n)))`,
    arrayLiteral(named.types),
    arrayLiteral(named.signatures.map((f) => f.name)),
    arrayLiteral(named.signatures.map((f) => arrayLiteral(f.args))),
    arrayLiteral(named.functionNames),
    arrayLiteral(named.extensions),
    arrayLiteral(named.collations),
  );
  if (recorded !== "t" && !(named.schemas.length > 0 && (await holdRecordedObjects(session, named.schemas)))) {
    return null;
  }
  const contents = stmt.AlterExtensionContentsStmt as { extname: string } | undefined;
  if (contents) {
    throw new SqlError("0A000", `ALTER EXTENSION … ADD / DROP of extension "${contents.extname}" is not supported`, {
      detail: "The shards use the extension, which Canopy created on the workers as the extension's script defines it.",
      hint: "Change the extension's members on the coordinator database and on each worker directly.",
    });
  }
  return async () => {
    const copy = cloneAst(stmt);
    const drop = copy.DropStmt as { missing_ok?: boolean } | undefined;
    if (drop) drop.missing_ok = true;
    const update = copy.AlterExtensionStmt as { extname: string; options?: AstNode[] } | undefined;
    if (update) {
      // The version the coordinator database went to, whatever the workers' default is.
      const [[version]] = await query(
        session,
        "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = $1",
        update.extname,
      );
      update.options = [{ DefElem: { defname: "new_version", arg: { String: { sval: version } } } }];
    }
    const move = copy.AlterObjectSchemaStmt as { newschema?: string } | undefined;
    const schema = move?.newschema ? [`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(move.newschema)}`] : [];
    return [...schema, deparseStatement(copy)];
  };
}

/** Forgets the records of objects that no longer exist (after a DROP propagated to the workers). */
export async function forgetDroppedObjects(session: Session): Promise<void> {
  await query(
    session,
    `DELETE FROM pg_catalog.pg_dist_object r
      WHERE (r.classid = 'pg_catalog.pg_type'::regclass AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type WHERE oid = r.objid))
         OR (r.classid = 'pg_catalog.pg_proc'::regclass AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_proc WHERE oid = r.objid))
         OR (r.classid = 'pg_catalog.pg_extension'::regclass
             AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE oid = r.objid))
         OR (r.classid = 'pg_catalog.pg_collation'::regclass
             AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_collation WHERE oid = r.objid))`,
  );
}

/** Whether any of the schemas holds an object recorded for the workers. */
export async function holdRecordedObjects(session: Session, schemas: readonly string[]): Promise<boolean> {
  const [[held]] = await query(
    session,
    `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_object r
       LEFT JOIN pg_catalog.pg_type t ON r.classid = 'pg_catalog.pg_type'::regclass AND t.oid = r.objid
       LEFT JOIN pg_catalog.pg_proc p ON r.classid = 'pg_catalog.pg_proc'::regclass AND p.oid = r.objid
       LEFT JOIN pg_catalog.pg_extension x ON r.classid = 'pg_catalog.pg_extension'::regclass AND x.oid = r.objid
       LEFT JOIN pg_catalog.pg_collation c ON r.classid = 'pg_catalog.pg_collation'::regclass AND c.oid = r.objid
       JOIN pg_catalog.pg_namespace n ON n.oid = coalesce(t.typnamespace, p.pronamespace, x.extnamespace, c.collnamespace)
      WHERE n.nspname = ANY ($1::text[]))`,
    arrayLiteral(schemas),
  );
  return held === "t";
}
