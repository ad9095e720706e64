// The definition of a distributed table's shards, read from the shell table in the coordinator
// database's catalog: columns with types, collations, defaults and NOT NULL; CHECK, PRIMARY KEY,
// UNIQUE and EXCLUDE constraints; other indexes; privileges granted on it. The catalog's own SQL
// for each part is parsed into ASTs, and each shard's statements are those ASTs with the shard's
// names put in.
import { SqlError } from "../errors.js";
import { cloneAst, expressionFromTemplate, typeNameNode, walk, type AstNode } from "../sql/ast.js";
import { deparseStatement, parseSql } from "../sql/parse.js";
import { quoteQualified } from "../sql/quote.js";
import { hashBytes } from "../metadata/hash.js";

type Query = (sql: string, ...params: (string | null)[]) => Promise<(string | null)[][]>;

/** A table's definition as ASTs with the table's own names; see `shardStatements`. */
export interface TableDefinition {
  readonly schema: string;
  readonly relname: string;
  readonly create: AstNode;
  /** ALTER TABLE … ADD CONSTRAINT, CREATE INDEX, ALTER TABLE … OWNER TO and GRANT statements. */
  readonly extras: readonly AstNode[];
  /** Names of sequences that column defaults call nextval() on (not created on workers). */
  readonly sequenceDefaults: readonly string[];
}

/** Reads the definition of a table from the catalog. */
export async function readTableDefinition(query: Query, relationId: number): Promise<TableDefinition> {
  const [rel] = await query(
    `SELECT n.nspname, c.relname FROM pg_catalog.pg_class c
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::oid`,
    String(relationId),
  );
  const columns = await query(
    `SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
            pg_catalog.pg_get_expr(d.adbin, d.adrelid), a.attgenerated,
            CASE WHEN a.attcollation <> t.typcollation
                 THEN pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname) END
       FROM pg_catalog.pg_attribute a
       JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
       LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
       LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
      WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    String(relationId),
  );
  const sequenceDefaults: string[] = [];
  const tableElts = columns.map(([name, type, notNull, defaultExpr, generated, collation]) => {
    const constraints: AstNode[] = [];
    if (notNull === "t") constraints.push({ Constraint: { contype: "CONSTR_NOTNULL" } });
    if (defaultExpr !== null) {
      const expr = expressionFromTemplate(defaultExpr);
      if (generated === "s") {
        constraints.push({ Constraint: { contype: "CONSTR_GENERATED", generated_when: "a", raw_expr: expr } });
      } else if (/\bnextval\s*\(/i.test(defaultExpr)) {
        // Sequences live on the coordinator, which fills such columns in before routing rows.
        sequenceDefaults.push(name!);
      } else {
        constraints.push({ Constraint: { contype: "CONSTR_DEFAULT", raw_expr: expr } });
      }
    }
    const def: AstNode = { colname: name, typeName: typeNameNode(type!), is_local: true };
    if (constraints.length > 0) def.constraints = constraints;
    if (collation) def.collClause = { collname: collation.split(".").map((s) => ({ String: { sval: unquote(s) } })) };
    return { ColumnDef: def };
  });
  const create: AstNode = {
    CreateStmt: {
      relation: { schemaname: rel[0], relname: rel[1], inh: true, relpersistence: "p" },
      tableElts,
      oncommit: "ONCOMMIT_NOOP",
    },
  };
  const extras: AstNode[] = [];
  const constraints = await query(
    `SELECT conname, pg_catalog.pg_get_constraintdef(oid), contype FROM pg_catalog.pg_constraint
      WHERE conrelid = $1::oid AND contype IN ('c', 'p', 'u', 'x') ORDER BY oid`,
    String(relationId),
  );
  for (const [name, definition] of constraints) {
    const [parsed] = parseSql(`ALTER TABLE t ADD CONSTRAINT ${quoteQualified(name)} ${definition}`);
    extras.push(parsed.stmt);
  }
  const indexes = await query(
    `SELECT pg_catalog.pg_get_indexdef(i.indexrelid) FROM pg_catalog.pg_index i
      WHERE i.indrelid = $1::oid
        AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c WHERE c.conindid = i.indexrelid)
      ORDER BY i.indexrelid`,
    String(relationId),
  );
  for (const [definition] of indexes) extras.push(parseSql(definition!)[0].stmt);
  // The shards belong to the table's owner, whose privileges on them are then the owner's.
  const [[owner]] = await query(
    "SELECT pg_catalog.pg_get_userbyid(relowner) FROM pg_catalog.pg_class WHERE oid = $1::oid",
    String(relationId),
  );
  extras.push(parseSql(`ALTER TABLE t OWNER TO ${quoteQualified(owner)}`)[0].stmt);
  extras.push(...(await grants(query, relationId)));
  return { schema: rel[0]!, relname: rel[1]!, create, extras, sequenceDefaults };
}

/**
 * The privileges granted on the table and its columns to roles other than its owner (as GRANT
 * statements), so that the shards let the same roles do the same; the default privileges of the
 * schema and role that applied to the table come to its shards this way.
 */
async function grants(query: Query, relationId: number): Promise<AstNode[]> {
  const rows = await query(
    `SELECT a.privilege_type, a.column_name, r.rolname, a.is_grantable
       FROM (SELECT (pg_catalog.aclexplode(c.relacl)).*, NULL::name AS column_name, c.relowner
               FROM pg_catalog.pg_class c WHERE c.oid = $1::oid
             UNION ALL
             SELECT (pg_catalog.aclexplode(t.attacl)).*, t.attname, c.relowner
               FROM pg_catalog.pg_attribute t JOIN pg_catalog.pg_class c ON c.oid = t.attrelid
              WHERE t.attrelid = $1::oid AND t.attnum > 0 AND NOT t.attisdropped) a
       LEFT JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
      WHERE a.grantee <> a.relowner
      ORDER BY a.column_name NULLS FIRST, r.rolname NULLS FIRST, a.privilege_type`,
    String(relationId),
  );
  return rows.map(([privilege, column, grantee, grantable]) => {
    const on = `${privilege}${column === null ? "" : ` (${quoteQualified(column)})`}`;
    const to = grantee === null ? "PUBLIC" : quoteQualified(grantee);
    return parseSql(`GRANT ${on} ON TABLE t TO ${to}${grantable === "t" ? " WITH GRANT OPTION" : ""}`)[0].stmt;
  });
}

/** The statements that create one shard: the table named `<relname>_<shardid>`, its constraints and indexes. */
export function shardStatements(def: TableDefinition, shardId: number): string[] {
  const shardName = shardRelname(def.relname, shardId);
  const statements: string[] = [];
  const create = cloneAst(def.create);
  (create.CreateStmt as { relation: AstNode }).relation.relname = shardName;
  statements.push(deparseStatement(create));
  for (const extra of def.extras) {
    const stmt = cloneAst(extra);
    const alter = stmt.AlterTableStmt as { relation: AstNode; cmds: AstNode[] } | undefined;
    const index = stmt.IndexStmt as { relation: AstNode; idxname?: string } | undefined;
    const grant = stmt.GrantStmt as { objects: AstNode[] } | undefined;
    if (grant) {
      grant.objects = [{ RangeVar: { schemaname: def.schema, relname: shardName, inh: true, relpersistence: "p" } }];
    } else if (alter) {
      alter.relation = { schemaname: def.schema, relname: shardName, inh: true, relpersistence: "p" };
      walk(alter.cmds, (node) => {
        const c = node.Constraint as { conname?: string } | undefined;
        if (c?.conname) c.conname = shardRelname(c.conname, shardId);
      });
    } else if (index) {
      index.relation = { ...index.relation, schemaname: def.schema, relname: shardName };
      if (index.idxname) index.idxname = shardRelname(index.idxname, shardId);
    } else {
      throw new SqlError("XX000", "unexpected statement in a table definition");
    }
    statements.push(deparseStatement(stmt));
  }
  return statements;
}

/**
 * The name of a table's (or constraint's, index's) copy in a shard: `<name>_<shardid>`. As Citus's
 * AppendShardIdToName does, a name too long for PostgreSQL's 63 bytes is cut and followed by the
 * hash of its whole self, so that two long names with one prefix (a table and its primary key)
 * stay apart.
 */
export function shardRelname(relname: string, shardId: number): string {
  const suffix = `_${shardId}`;
  const bytes = Buffer.from(relname, "utf8");
  if (bytes.length <= identifierBytesMax - suffix.length) return relname + suffix;
  const hash = (hashBytes(bytes) >>> 0).toString(16).padStart(8, "0");
  const characters = [...relname];
  while (Buffer.byteLength(characters.join("")) > identifierBytesMax - suffix.length - 9) characters.pop();
  return `${characters.join("")}_${hash}${suffix}`;
}

const identifierBytesMax = 63;

function unquote(identifier: string): string {
  return identifier.startsWith('"') ? identifier.slice(1, -1).replace(/""/g, '"') : identifier;
}
