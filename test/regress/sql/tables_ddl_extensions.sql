-- Extensions a table needs are created on the workers with its shards, at the coordinator's
-- version, and recorded in pg_dist_object; ALTER EXTENSION … UPDATE / SET SCHEMA and DROP
-- EXTENSION of them reach the workers; changing their members is refused. (The embedded cluster
-- has no contrib extensions: its output is tables_ddl_extensions_1.out.)
CREATE EXTENSION citext VERSION '1.5';
CREATE TABLE ext_rows (id int, name citext);
SELECT create_distributed_table('ext_rows', 'id', shard_count => 2);
INSERT INTO ext_rows VALUES (1, 'Alice'), (2, 'BOB');
SELECT id FROM ext_rows WHERE name = 'alice';
SELECT (pg_identify_object(classid, objid, objsubid)).identity FROM pg_dist_object ORDER BY 1;
SELECT result FROM run_command_on_workers($$SELECT extversion FROM pg_extension WHERE extname = 'citext'$$) ORDER BY nodeport;
ALTER EXTENSION citext UPDATE TO '1.6';
SELECT result FROM run_command_on_workers($$SELECT extversion FROM pg_extension WHERE extname = 'citext'$$) ORDER BY nodeport;
CREATE SCHEMA ext_s;
ALTER EXTENSION citext SET SCHEMA ext_s;
SELECT result FROM run_command_on_workers($$SELECT n.nspname FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace WHERE x.extname = 'citext'$$) ORDER BY nodeport;
-- Its operators are found through search_path, on the workers as on the coordinator.
SELECT id FROM ext_rows WHERE name = 'bob';
SET search_path = public, ext_s;
SELECT id FROM ext_rows WHERE name = 'bob';
SELECT id FROM ext_rows WHERE id = 2 AND name = 'bob';
RESET search_path;
-- Members stay as the extension's script made them, everywhere.
CREATE FUNCTION ext_s.shout(x text) RETURNS text LANGUAGE sql AS $$ SELECT upper(x) $$;
ALTER EXTENSION citext ADD FUNCTION ext_s.shout(text);
SELECT count(*) FROM pg_depend WHERE objid = 'ext_s.shout(text)'::regprocedure AND deptype = 'e';
-- DROP EXTENSION: refused on the coordinator while a column uses it; with CASCADE the column goes
-- from the shell and the shards.
DROP EXTENSION citext;
DROP EXTENSION citext CASCADE;
SELECT * FROM ext_rows ORDER BY id;
SELECT result FROM run_command_on_workers($$SELECT (SELECT count(*) FROM pg_extension WHERE extname = 'citext') || ' ' || (SELECT count(*) FROM pg_attribute WHERE attname = 'name' AND attrelid::regclass::text ~ '^ext_rows_[0-9]+$')$$) ORDER BY nodeport;
SELECT count(*) FROM pg_dist_object;
DROP TABLE ext_rows;
DROP SCHEMA ext_s CASCADE;
