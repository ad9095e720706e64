-- Types and functions recorded in pg_dist_object (the shards use them): every ALTER, RENAME,
-- OWNER, SET SCHEMA, GRANT and DROP of them reaches every worker in the same distributed
-- transaction; functions are matched by signature, so an overload the shards do not use stays on
-- the coordinator (unless IMMUTABLE, which the workers get when it is created: the text overload
-- here is STABLE). Worker catalogs are read by name, without shard ids.
CREATE SCHEMA obj;
CREATE TYPE obj.mood AS ENUM ('sad', 'ok');
CREATE TYPE obj.pair AS (a int, b text);
CREATE DOMAIN obj.posint AS int CHECK (VALUE > 0);
CREATE FUNCTION obj.twice(x int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT x * 2 $$;
CREATE FUNCTION obj.twice(x text) RETURNS text LANGUAGE sql STABLE AS $$ SELECT x || x $$;
CREATE TABLE obj_rows (id int, m obj.mood, p obj.pair, d obj.posint, n int CHECK (obj.twice(n) < 100));
SELECT create_distributed_table('obj_rows', 'id', shard_count => 4);
INSERT INTO obj_rows VALUES (1, 'sad', ROW(1, 'x'), 3, 4), (2, 'ok', ROW(2, 'y'), 5, 6);
SELECT (pg_identify_object(classid, objid, objsubid)).identity FROM pg_dist_object ORDER BY 1;

-- ALTER TYPE: enum values, composite attributes (CASCADE reaches the shards' rows), domain constraints.
ALTER TYPE obj.mood RENAME VALUE 'ok' TO 'fine';
ALTER TYPE obj.mood ADD VALUE 'glad' BEFORE 'fine';
ALTER TYPE obj.pair ADD ATTRIBUTE c int CASCADE;
ALTER TYPE obj.pair RENAME ATTRIBUTE c TO extra CASCADE;
ALTER DOMAIN obj.posint ADD CONSTRAINT below_1000 CHECK (VALUE < 1000);
ALTER DOMAIN obj.posint RENAME CONSTRAINT below_1000 TO small;
INSERT INTO obj_rows VALUES (3, 'glad', ROW(3, 'z', 7), 999, 8);
INSERT INTO obj_rows VALUES (4, 'fine', NULL, 1000, 8);
SELECT * FROM obj_rows ORDER BY id;
SELECT result FROM run_command_on_workers($$SELECT enum_range(NULL::obj.mood)::text || ' ' || (SELECT string_agg(attname || ':' || format_type(atttypid, atttypmod), ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'obj.pair'::regclass) || ' ' || (SELECT string_agg(conname, ',' ORDER BY conname) FROM pg_constraint WHERE contypid = 'obj.posint'::regtype)$$) ORDER BY nodeport;
-- A statement failing on the coordinator changes no worker.
ALTER TYPE obj.pair ALTER ATTRIBUTE extra TYPE bigint CASCADE;
ALTER TYPE obj.mood RENAME VALUE 'nope' TO 'never';
SELECT result FROM run_command_on_workers($$SELECT enum_range(NULL::obj.mood)::text || ' ' || (SELECT string_agg(attname || ':' || format_type(atttypid, atttypmod), ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'obj.pair'::regclass)$$) ORDER BY nodeport;
ALTER TYPE obj.pair DROP ATTRIBUTE extra CASCADE;
SELECT result FROM run_command_on_workers($$SELECT count(*) FROM pg_attribute WHERE attrelid = 'obj.pair'::regclass AND attname = 'extra'$$) ORDER BY nodeport;
SELECT p FROM obj_rows ORDER BY id;

-- RENAME TO, OWNER TO, SET SCHEMA of types and domains (the new schema is created on the workers).
ALTER TYPE obj.mood RENAME TO feeling;
ALTER DOMAIN obj.posint RENAME TO natural_number;
ALTER TYPE obj.pair OWNER TO CURRENT_USER;
ALTER DOMAIN obj.natural_number OWNER TO CURRENT_USER;
CREATE SCHEMA obj_moved;
ALTER TYPE obj.feeling SET SCHEMA obj_moved;
SELECT column_name, udt_schema, udt_name FROM information_schema.columns WHERE table_name = 'obj_rows' ORDER BY ordinal_position;
SELECT result FROM run_command_on_workers($$SELECT string_agg(n.nspname || '.' || t.typname, ', ' ORDER BY t.typname) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname LIKE 'obj%' AND t.typtype IN ('e', 'c', 'd')$$) ORDER BY nodeport;
INSERT INTO obj_rows (id, m) VALUES (5, 'glad');
SELECT id, m FROM obj_rows WHERE id = 5;

-- Functions by signature: CREATE OR REPLACE of the overload the shards use reaches them, of the
-- other one does not; ALTER FUNCTION … RENAME / SET SCHEMA / OWNER / attributes follow it.
CREATE OR REPLACE FUNCTION obj.twice(x text) RETURNS text LANGUAGE sql STABLE AS $$ SELECT x || x || x $$;
CREATE OR REPLACE FUNCTION obj.twice(x int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT x * 20 $$;
SELECT result FROM run_command_on_workers($$SELECT obj.twice(2) || ' ' || (SELECT count(*) FROM pg_proc WHERE proname = 'twice')$$) ORDER BY nodeport;
INSERT INTO obj_rows (id, n) VALUES (6, 5);
ALTER FUNCTION obj.twice(int) RENAME TO times_twenty;
ALTER FUNCTION obj.times_twenty(int) SET SCHEMA obj_moved;
ALTER FUNCTION obj_moved.times_twenty OWNER TO CURRENT_USER;
ALTER FUNCTION obj_moved.times_twenty(int) STABLE COST 7;
SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'obj_rows'::regclass;
SELECT result FROM run_command_on_workers($$SELECT p.oid::regprocedure::text || ' ' || p.provolatile::text || ' ' || p.procost FROM pg_proc p WHERE proname IN ('twice', 'times_twenty')$$) ORDER BY nodeport;
INSERT INTO obj_rows (id, n) VALUES (7, 4);
-- The same names on the coordinator alone: an unrecorded function is not sent to the workers.
ALTER FUNCTION obj.twice(text) RENAME TO thrice;
SELECT result FROM run_command_on_workers($$SELECT count(*) FROM pg_proc WHERE proname IN ('twice', 'thrice')$$) ORDER BY nodeport;
-- Signatures naming types that do not exist name no function, as in PostgreSQL.
DROP FUNCTION IF EXISTS obj.thrice(no_such_type);
DROP FUNCTION obj.thrice(no_such_type);

-- GRANT / REVOKE on recorded types and functions (the role is created on the workers too).
CREATE ROLE obj_user;
SELECT result FROM run_command_on_workers($$SELECT count(*) FROM pg_roles WHERE rolname = 'obj_user'$$) ORDER BY nodeport;
REVOKE EXECUTE ON FUNCTION obj_moved.times_twenty(int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION obj_moved.times_twenty(int) TO obj_user;
REVOKE USAGE ON TYPE obj_moved.feeling FROM PUBLIC;
GRANT USAGE ON TYPE obj_moved.feeling TO obj_user;
REVOKE USAGE ON DOMAIN obj.natural_number FROM PUBLIC;
SELECT result FROM run_command_on_workers($$SELECT has_function_privilege('obj_user', 'obj_moved.times_twenty(int)', 'EXECUTE') || ' ' || has_function_privilege('public', 'obj_moved.times_twenty(int)', 'EXECUTE') || ' ' || has_type_privilege('obj_user', 'obj_moved.feeling', 'USAGE') || ' ' || has_type_privilege('public', 'obj_moved.feeling', 'USAGE') || ' ' || has_type_privilege('obj_user', 'obj.natural_number', 'USAGE')$$) ORDER BY nodeport;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA obj_moved TO PUBLIC;
SELECT result FROM run_command_on_workers($$SELECT has_function_privilege('public', 'obj_moved.times_twenty(int)', 'EXECUTE')$$) ORDER BY nodeport;
REVOKE ALL ON FUNCTION obj_moved.times_twenty(int) FROM obj_user;
REVOKE USAGE ON TYPE obj_moved.feeling FROM obj_user;

-- ALTER SCHEMA … RENAME of a schema holding recorded objects renames it on the workers.
ALTER SCHEMA obj_moved RENAME TO obj_renamed;
SELECT result FROM run_command_on_workers($$SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace WHERE nspname LIKE 'obj%'$$) ORDER BY nodeport;
INSERT INTO obj_rows (id, m, n) VALUES (8, 'sad', 1);
SELECT count(*) FROM obj_rows;

-- Collations of columns, domains and indexes reach the workers with the tables that use them
-- (a case-insensitive comparison runs on the shards under the column's own collation); ALTER and
-- DROP COLLATION follow. A distribution column may not have a nondeterministic collation: values
-- equal under it would hash to different shards.
CREATE COLLATION obj.byte_order (provider = libc, locale = 'C');
CREATE COLLATION obj.nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE DOMAIN obj.code AS text COLLATE obj.byte_order;
CREATE TABLE coll_rows (id int, name text COLLATE obj.byte_order, code obj.code, nick text COLLATE obj.nocase);
CREATE INDEX coll_rows_nick ON coll_rows (name COLLATE obj.nocase);
SELECT create_distributed_table('coll_rows', 'id', shard_count => 4);
INSERT INTO coll_rows VALUES (1, 'b', 'B', 'Ann'), (2, 'a', 'a', 'ANN'), (3, 'B', 'b', 'bob'), (4, 'A', 'A', 'ann');
SELECT string_agg(name, ',' ORDER BY name) AS names, string_agg(code, ',' ORDER BY code) AS codes FROM coll_rows;
SELECT count(*) FROM coll_rows WHERE nick = 'aNN';
SELECT result FROM run_command_on_workers($$SELECT string_agg(collname || ':' || collisdeterministic, ',' ORDER BY collname) FROM pg_collation WHERE collnamespace = 'obj'::regnamespace$$) ORDER BY nodeport;
CREATE TABLE coll_keys (k text COLLATE obj.nocase);
SELECT create_distributed_table('coll_keys', 'k');
ALTER COLLATION obj.byte_order RENAME TO c_order;
CREATE COLLATION obj.posix_order (provider = libc, locale = 'POSIX');
ALTER TABLE coll_rows ADD COLUMN note text COLLATE obj.posix_order;
INSERT INTO coll_rows (id, note) VALUES (5, 'x');
SELECT result FROM run_command_on_workers($$SELECT string_agg(collname, ',' ORDER BY collname) FROM pg_collation WHERE collnamespace = 'obj'::regnamespace$$) ORDER BY nodeport;
DROP TABLE coll_rows, coll_keys;
DROP DOMAIN obj.code;
DROP COLLATION obj.c_order, obj.nocase, obj.posix_order;
SELECT result FROM run_command_on_workers($$SELECT count(*) FROM pg_collation WHERE collnamespace = 'obj'::regnamespace$$) ORDER BY nodeport;

-- DROP: by signature, on every worker; the records of dropped objects go, and DROP SCHEMA … CASCADE
-- takes the rest there too.
DROP FUNCTION obj.thrice(text);
DROP TABLE obj_rows;
DROP FUNCTION obj_renamed.times_twenty(int);
DROP TYPE obj_renamed.feeling;
SELECT result FROM run_command_on_workers($$SELECT string_agg(typname, ',' ORDER BY typname) || ' ' || (SELECT count(*) FROM pg_proc WHERE proname = 'times_twenty') FROM pg_type WHERE typname IN ('feeling', 'pair', 'natural_number')$$) ORDER BY nodeport;
SELECT (pg_identify_object(classid, objid, objsubid)).identity FROM pg_dist_object ORDER BY 1;
DROP SCHEMA obj, obj_renamed CASCADE;
SELECT result FROM run_command_on_workers($$SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'obj%'$$) ORDER BY nodeport;
SELECT count(*) FROM pg_dist_object;
DROP ROLE obj_user;
SELECT result FROM run_command_on_workers($$SELECT count(*) FROM pg_roles WHERE rolname = 'obj_user'$$) ORDER BY nodeport;
