// The metadata catalog in the coordinator database: pg_dist_* tables in pg_catalog (as the seeds'
// system keeps them, so the seeds' queries run unqualified), the canopy_* views, and stub functions
// for Canopy's UDFs so that catalog lookups, psql's \df and Describe see their real signatures. The
// coordinator intercepts calls to the stubs; called directly on the database they raise an error.
import { quoteLiteral } from "../sql/quote.js";

/** Bumped when the schema below changes; stored in pg_dist_metadata_version. */
export const METADATA_SCHEMA_VERSION = 5;

/** The channel on which every metadata change is announced to all coordinators. */
export const METADATA_CHANNEL = "canopy_metadata_changed";

/** The trigger that keeps statements running inside the coordinator database off a shell table. */
export const SHELL_GUARD_TRIGGER = "canopy_shell_guard";

/** CREATE TRIGGER of the shell guard on a table (its name as quoteQualified writes it). */
export function shellGuardSql(table: string): string {
  return `CREATE TRIGGER ${SHELL_GUARD_TRIGGER} BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION pg_catalog.canopy_shell_guard()`;
}

/**
 * Marks the shell guards of distributed and reference tables internal, as PostgreSQL marks the
 * triggers of foreign keys: pg_dump leaves them out (a dump through Canopy restores into a plain
 * PostgreSQL, which has no canopy_shell_guard) and psql's \d does not list them. They still fire.
 */
export const HIDE_SHELL_GUARDS = `UPDATE pg_catalog.pg_trigger SET tgisinternal = true
  WHERE tgname OPERATOR(pg_catalog.=) '${SHELL_GUARD_TRIGGER}' AND NOT tgisinternal
    AND tgrelid IN (SELECT logicalrelid FROM pg_catalog.pg_dist_partition)`;

/** The first shard id, so that the seeds' example output comes out the same. */
export const FIRST_SHARD_ID = 102008;

/** Canopy UDFs: name, SQL signature, and return clause of the stub. */
export const udfSignatures: readonly { name: string; args: string; returns: string }[] = [
  {
    name: "canopy_add_node",
    args: "nodename text, nodeport integer, groupid integer DEFAULT -1, noderole noderole DEFAULT 'primary', nodecluster name DEFAULT 'default'",
    returns: "integer",
  },
  { name: "master_add_node", args: "nodename text, nodeport integer", returns: "integer" },
  { name: "canopy_remove_node", args: "nodename text, nodeport integer", returns: "void" },
  { name: "master_remove_node", args: "nodename text, nodeport integer", returns: "void" },
  { name: "recover_prepared_transactions", args: "", returns: "integer" },
  {
    name: "canopy_disable_node",
    args: "nodename text, nodeport integer, synchronous boolean DEFAULT false",
    returns: "void",
  },
  { name: "canopy_activate_node", args: "nodename text, nodeport integer", returns: "integer" },
  { name: "master_get_active_worker_nodes", args: "OUT node_name text, OUT node_port bigint", returns: "SETOF record" },
  { name: "canopy_get_active_worker_nodes", args: "OUT node_name text, OUT node_port bigint", returns: "SETOF record" },
  {
    name: "run_command_on_workers",
    args: "command text, parallel boolean DEFAULT true, OUT nodename text, OUT nodeport integer, OUT success boolean, OUT result text",
    returns: "SETOF record",
  },
  {
    name: "canopy_check_connection_to_node",
    args: "nodename text, nodeport integer DEFAULT 5432",
    returns: "boolean",
  },
  {
    name: "create_distributed_table",
    args: "table_name regclass, distribution_column text, distribution_type text DEFAULT 'hash', colocate_with text DEFAULT 'default', shard_count integer DEFAULT NULL",
    returns: "void",
  },
  { name: "create_reference_table", args: "table_name regclass", returns: "void" },
  { name: "undistribute_table", args: "table_name regclass", returns: "void" },
  {
    name: "get_shard_id_for_distribution_column",
    args: "table_name regclass, distribution_value text DEFAULT NULL",
    returns: "bigint",
  },
  // A value of any type (Citus's takes "any"): a parameter declared int or timestamptz resolves
  // here when a Parse is checked; Canopy reads the value as text either way.
  {
    name: "get_shard_id_for_distribution_column",
    args: "table_name regclass, distribution_value anyelement",
    returns: "bigint",
  },
  { name: "canopy_total_relation_size", args: "logicalrelid regclass", returns: "bigint" },
  { name: "canopy_relation_size", args: "logicalrelid regclass", returns: "bigint" },
  { name: "canopy_table_size", args: "logicalrelid regclass", returns: "bigint" },
  {
    name: "canopy_shards",
    args: "include_sizes boolean DEFAULT true, OUT table_name regclass, OUT shardid bigint, OUT shard_name text, OUT canopy_table_type text, OUT colocation_id integer, OUT nodename text, OUT nodeport integer, OUT shard_size bigint",
    returns: "SETOF record",
  },
  {
    name: "canopy_tables",
    args: "include_sizes boolean DEFAULT true, OUT table_name regclass, OUT canopy_table_type text, OUT distribution_column text, OUT colocation_id integer, OUT table_size text, OUT shard_count bigint, OUT table_owner name, OUT access_method name",
    returns: "SETOF record",
  },
  {
    name: "canopy_stat_statements",
    args: "OUT queryid bigint, OUT userid oid, OUT dbid oid, OUT query text, OUT executor text, OUT partition_key text, OUT calls bigint, OUT total_time double precision, OUT mean_time double precision",
    returns: "SETOF record",
  },
  { name: "canopy_stat_statements_reset", args: "", returns: "void" },
  {
    name: "canopy_stat_activity",
    args: "OUT pid integer, OUT datname name, OUT usename name, OUT application_name text, OUT client_addr inet, OUT client_port integer, OUT backend_start timestamptz, OUT xact_start timestamptz, OUT query_start timestamptz, OUT state text, OUT query text, OUT nodename text, OUT nodeport integer, OUT worker_pid integer, OUT worker_state text, OUT worker_query text",
    returns: "SETOF record",
  },
];

/**
 * Views whose rows Canopy computes (from its memory, or from the workers: the sizes of canopy_shards
 * and canopy_tables): each is a view over the stub of the same name, so that the catalog describes
 * it, and statements reading it get the stub's rows from Canopy (see commands/intercept.ts).
 */
export const memoryViews: ReadonlySet<string> = new Set([
  "canopy_stat_statements",
  "canopy_stat_activity",
  "canopy_shards",
  "canopy_tables",
]);

/** Creates or completes the metadata schema; idempotent, runs in one transaction. */
export function metadataSchemaSql(): string {
  const stubs = udfSignatures
    .map(
      (u) => `CREATE OR REPLACE FUNCTION pg_catalog.${u.name}(${u.args}) RETURNS ${u.returns}
  LANGUAGE plpgsql AS $stub$ BEGIN
    RAISE EXCEPTION '${u.name}() can only be run through a Canopy coordinator' USING ERRCODE = '0A000';
  END $stub$;`,
    )
    .join("\n");
  return `
SET LOCAL allow_system_table_mods = on;
SET LOCAL client_min_messages = warning;
DO $$ BEGIN
  CREATE TYPE pg_catalog.noderole AS ENUM ('primary', 'secondary', 'unavailable');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;

CREATE TABLE IF NOT EXISTS pg_catalog.pg_dist_metadata_version (version integer NOT NULL);

CREATE SEQUENCE IF NOT EXISTS pg_catalog.pg_dist_node_nodeid_seq MINVALUE 1 NO CYCLE;
CREATE SEQUENCE IF NOT EXISTS pg_catalog.pg_dist_groupid_seq MINVALUE 1 NO CYCLE;
CREATE SEQUENCE IF NOT EXISTS pg_catalog.pg_dist_shardid_seq MINVALUE ${FIRST_SHARD_ID} START ${FIRST_SHARD_ID} NO CYCLE;
CREATE SEQUENCE IF NOT EXISTS pg_catalog.pg_dist_placement_placementid_seq MINVALUE 1 NO CYCLE;
CREATE SEQUENCE IF NOT EXISTS pg_catalog.pg_dist_colocationid_seq MINVALUE 1 NO CYCLE;
CREATE SEQUENCE IF NOT EXISTS pg_catalog.pg_dist_operationid_seq MINVALUE 1 NO CYCLE;
CREATE SEQUENCE IF NOT EXISTS pg_catalog.pg_dist_cleanup_recordid_seq MINVALUE 1 NO CYCLE;

CREATE TABLE IF NOT EXISTS pg_catalog.pg_dist_node (
  nodeid integer NOT NULL DEFAULT nextval('pg_catalog.pg_dist_node_nodeid_seq') PRIMARY KEY,
  groupid integer NOT NULL DEFAULT nextval('pg_catalog.pg_dist_groupid_seq'),
  nodename text NOT NULL,
  nodeport integer NOT NULL DEFAULT 5432,
  noderack text NOT NULL DEFAULT 'default',
  hasmetadata boolean NOT NULL DEFAULT false,
  isactive boolean NOT NULL DEFAULT true,
  noderole pg_catalog.noderole NOT NULL DEFAULT 'primary',
  nodecluster name NOT NULL DEFAULT 'default',
  shouldhaveshards boolean NOT NULL DEFAULT true,
  UNIQUE (nodename, nodeport)
);

CREATE TABLE IF NOT EXISTS pg_catalog.pg_dist_colocation (
  colocationid integer NOT NULL PRIMARY KEY,
  shardcount integer NOT NULL,
  replicationfactor integer NOT NULL,
  distributioncolumntype oid NOT NULL,
  distributioncolumncollation oid NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS pg_catalog.pg_dist_partition (
  logicalrelid regclass NOT NULL PRIMARY KEY,
  partmethod "char" NOT NULL,
  partkey text,
  colocationid integer NOT NULL DEFAULT 0,
  repmodel "char" NOT NULL DEFAULT 's',
  autoconverted boolean NOT NULL DEFAULT false
);

CREATE TABLE IF NOT EXISTS pg_catalog.pg_dist_shard (
  logicalrelid regclass NOT NULL,
  shardid bigint NOT NULL PRIMARY KEY,
  shardstorage "char" NOT NULL DEFAULT 't',
  shardminvalue text,
  shardmaxvalue text
);
CREATE INDEX IF NOT EXISTS pg_dist_shard_logical_relid_index ON pg_catalog.pg_dist_shard (logicalrelid);

CREATE TABLE IF NOT EXISTS pg_catalog.pg_dist_placement (
  placementid bigint NOT NULL DEFAULT nextval('pg_catalog.pg_dist_placement_placementid_seq') PRIMARY KEY,
  shardid bigint NOT NULL,
  shardstate integer NOT NULL DEFAULT 1,
  shardlength bigint NOT NULL DEFAULT 0,
  groupid integer NOT NULL
);
CREATE INDEX IF NOT EXISTS pg_dist_placement_shardid_index ON pg_catalog.pg_dist_placement (shardid);
CREATE INDEX IF NOT EXISTS pg_dist_placement_groupid_index ON pg_catalog.pg_dist_placement (groupid);

CREATE TABLE IF NOT EXISTS pg_catalog.pg_dist_authinfo (
  nodeid integer NOT NULL,
  rolename name NOT NULL,
  authinfo text NOT NULL,
  PRIMARY KEY (nodeid, rolename),
  CHECK (nodeid >= -1)
);

CREATE TABLE IF NOT EXISTS pg_catalog.pg_dist_transaction (
  groupid integer NOT NULL,
  gid text NOT NULL,
  PRIMARY KEY (groupid, gid)
);

CREATE TABLE IF NOT EXISTS pg_catalog.pg_dist_cleanup (
  record_id bigint NOT NULL DEFAULT nextval('pg_catalog.pg_dist_cleanup_recordid_seq') PRIMARY KEY,
  operation_id bigint NOT NULL,
  object_type integer NOT NULL,
  object_name text NOT NULL,
  node_group_id integer NOT NULL,
  policy_type integer NOT NULL
);

-- Objects created on the workers because shards depend on them (types, functions, extensions):
-- new workers get them too, and later changes to them are propagated.
CREATE TABLE IF NOT EXISTS pg_catalog.pg_dist_object (
  classid oid NOT NULL,
  objid oid NOT NULL,
  objsubid integer NOT NULL DEFAULT 0,
  PRIMARY KEY (classid, objid, objsubid)
);

DO $$ BEGIN
  CREATE TYPE pg_catalog.canopy_worker_node AS (node_name text, node_port bigint);
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN
  CREATE TYPE pg_catalog.canopy_command_result AS (nodename text, nodeport integer, success boolean, result text);
EXCEPTION WHEN duplicate_object THEN NULL; END $$;

-- A view's query with every name outside pg_catalog qualified, whatever the reader's search_path:
-- Canopy expands views over distributed tables into their queries in sessions of any search_path.
CREATE OR REPLACE FUNCTION pg_catalog.canopy_view_definition(view oid) RETURNS text
  LANGUAGE sql STABLE SET search_path = pg_catalog AS 'SELECT pg_catalog.pg_get_viewdef($1)';

CREATE OR REPLACE FUNCTION pg_catalog.canopy_metadata_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_notify('${METADATA_CHANNEL}', TG_TABLE_NAME); RETURN NULL; END $$;
DO $$ DECLARE t text; BEGIN
  FOREACH t IN ARRAY ARRAY['pg_dist_node','pg_dist_partition','pg_dist_shard','pg_dist_placement','pg_dist_colocation','pg_dist_authinfo'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'canopy_notify' AND tgrelid = ('pg_catalog.' || t)::regclass) THEN
      EXECUTE format('CREATE TRIGGER canopy_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pg_catalog.%I FOR EACH STATEMENT EXECUTE FUNCTION pg_catalog.canopy_metadata_notify()', t);
    END IF;
  END LOOP;
END $$;

-- Every role may read where tables and shards are, as the seeds' queries do; pg_dist_authinfo
-- (passwords) and the commit records stay the superuser's. A session of any role records its
-- two-phase commit decisions through canopy_record_decision, in its own transaction. The gid is
-- the function's to make ('canopy_<system identifier>_<txid>', as gidPrefix in commit.ts): a caller
-- can record nothing but its own transaction. The groups are taken as given (the commit protocol
-- names each once); recovery drops records of groups that have no node.
DROP FUNCTION IF EXISTS pg_catalog.canopy_record_decision(integer[], text);
GRANT SELECT ON pg_catalog.pg_dist_node, pg_catalog.pg_dist_colocation, pg_catalog.pg_dist_partition,
  pg_catalog.pg_dist_shard, pg_catalog.pg_dist_placement, pg_catalog.pg_dist_object,
  pg_catalog.pg_dist_metadata_version TO PUBLIC;
-- pg_dump writes out the privileges of objects in pg_catalog that differ from those recorded in
-- pg_init_privs: recorded there, the grants above stay out of dumps taken through Canopy, which
-- then restore into a plain PostgreSQL.
DELETE FROM pg_catalog.pg_init_privs
 WHERE classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass AND objsubid OPERATOR(pg_catalog.=) 0
   AND objoid IN (SELECT c.oid FROM pg_catalog.pg_class c
                   WHERE c.relnamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace
                     AND c.relname LIKE 'pg\\_dist\\_%');
INSERT INTO pg_catalog.pg_init_privs (objoid, classoid, objsubid, privtype, initprivs)
  SELECT c.oid, 'pg_catalog.pg_class'::pg_catalog.regclass, 0, 'i', c.relacl FROM pg_catalog.pg_class c
   WHERE c.relnamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace
     AND c.relname LIKE 'pg\\_dist\\_%' AND c.relacl IS NOT NULL;
-- PL/pgSQL keeps the INSERT's plan for the session; a SQL function's body is planned at each call,
-- at every two-phase commit. The gid's prefix is written into the body when the schema is
-- installed: pg_control_system() reads the control file, which at each call took about half of
-- the function's time.
DO $install$ BEGIN
  EXECUTE pg_catalog.format($create$
CREATE OR REPLACE FUNCTION pg_catalog.canopy_record_decision(groups integer[])
  RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $body$
DECLARE
  decided text := %L || pg_catalog.txid_current();
BEGIN
  -- A transaction made read-only after it wrote (SET TRANSACTION READ ONLY) still commits in
  -- PostgreSQL: its decision is then its commit alone, which recovery reads with txid_status.
  IF pg_catalog.current_setting('transaction_read_only') OPERATOR(pg_catalog.=) 'off' THEN
    INSERT INTO pg_catalog.pg_dist_transaction (groupid, gid) SELECT g, decided FROM pg_catalog.unnest(groups) u(g);
  END IF;
  RETURN decided;
END $body$
$create$, 'canopy_' || (SELECT s.system_identifier FROM pg_catalog.pg_control_system() s) || '_');
END $install$;

-- Combines the shards' float8 variance states {N, Σx, Σ(x − mean)²} as PostgreSQL's parallel
-- aggregation does (float8_combine, with its overflow checks); float8_var_samp and its kin finish.
CREATE OR REPLACE AGGREGATE pg_catalog.canopy_float8_combine(float8[])
  (SFUNC = pg_catalog.float8_combine, STYPE = float8[], INITCOND = '{0,0,0}');

-- A table's owner may drop it, and rename its distribution column, without rights on the metadata:
-- these change only what the shell already shows changed (a table gone, a column renamed).
CREATE OR REPLACE FUNCTION pg_catalog.canopy_forget_dropped_tables(ids oid[])
  RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS $$
  DELETE FROM pg_catalog.pg_dist_placement WHERE shardid IN
    (SELECT s.shardid FROM pg_catalog.pg_dist_shard s
      WHERE s.logicalrelid = ANY (ids) AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = s.logicalrelid));
  DELETE FROM pg_catalog.pg_dist_shard s
   WHERE s.logicalrelid = ANY (ids) AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = s.logicalrelid);
  DELETE FROM pg_catalog.pg_dist_partition p
   WHERE p.logicalrelid = ANY (ids) AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = p.logicalrelid);
$$;
CREATE OR REPLACE FUNCTION pg_catalog.canopy_rename_distribution_column(relid oid, newname text)
  RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS $$
  UPDATE pg_catalog.pg_dist_partition p SET partkey = newname
   WHERE p.logicalrelid = relid
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                      WHERE a.attrelid = relid AND a.attname = p.partkey AND NOT a.attisdropped)
     AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                  WHERE a.attrelid = relid AND a.attname = newname AND NOT a.attisdropped);
$$;

-- Distributed and reference tables are empty shells here. Statements that run inside this database
-- (functions, triggers, views over the table, DO blocks) would read or write the shell: their
-- writes are refused by a statement trigger on every shell. Canopy's own statements on a shell are
-- top-level ones: the TRUNCATE that the shards follow passes (a call stack of this function alone);
-- Canopy writes rows into a shell only while it has no trigger (distribution, undistribute_table).
CREATE OR REPLACE FUNCTION pg_catalog.canopy_shell_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  stack text;
  kind text;
BEGIN
  GET DIAGNOSTICS stack = PG_CONTEXT;
  IF TG_OP = 'TRUNCATE' AND pg_catalog.strpos(stack, E'\\n') = 0 THEN RETURN NULL; END IF;
  SELECT CASE p.partmethod WHEN 'n' THEN 'reference' ELSE 'distributed' END INTO kind
    FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = TG_RELID;
  RAISE EXCEPTION 'cannot modify % table "%" inside the coordinator database', coalesce(kind, 'distributed'), TG_TABLE_NAME
    USING ERRCODE = '0A000',
          DETAIL = 'The statement ran in a function, trigger, view or DO block, where the table is an empty shell.',
          HINT = 'Run the statement from the client, outside functions, triggers, views and DO blocks.';
END $$;
-- Coordinator databases from before version 4 get the trigger on the shells they have.
DO $$ DECLARE t regclass; BEGIN
  IF coalesce((SELECT max(version) FROM pg_catalog.pg_dist_metadata_version), ${METADATA_SCHEMA_VERSION}) < 4 THEN
    FOR t IN SELECT p.logicalrelid FROM pg_catalog.pg_dist_partition p
              WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g
                                 WHERE g.tgrelid = p.logicalrelid AND g.tgname = '${SHELL_GUARD_TRIGGER}') LOOP
      EXECUTE pg_catalog.format(${quoteLiteral(shellGuardSql("%s"))}, t);
    END LOOP;
  END IF;
END $$;

${HIDE_SHELL_GUARDS};

${stubs}
${[...memoryViews].map((v) => `CREATE OR REPLACE VIEW pg_catalog.${v} AS SELECT * FROM pg_catalog.${v}();`).join("\n")}

DELETE FROM pg_catalog.pg_dist_metadata_version;
INSERT INTO pg_catalog.pg_dist_metadata_version VALUES (${METADATA_SCHEMA_VERSION});
`;
}
