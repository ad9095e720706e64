-- Distributed and reference tables are empty shells in the coordinator database. Statements that
-- run there (functions, triggers, DO blocks) would read or write the shells: their writes are
-- refused by the shells' trigger, and functions and DO blocks whose bodies name the tables are
-- refused when created. Canopy's own statements on the shells keep working.
CREATE TABLE guard_items (id int PRIMARY KEY, v int NOT NULL);
CREATE TABLE guard_kinds (id int PRIMARY KEY, label text);
CREATE TABLE guard_log (id int, note text);
-- A local table of the same name in another schema.
CREATE SCHEMA guard_s;
CREATE TABLE guard_s.guard_items (id int);
INSERT INTO guard_items SELECT g, g FROM generate_series(1, 20) g;
INSERT INTO guard_kinds VALUES (1, 'one'), (2, 'two');
-- Created before the tables are distributed: these read and write what become the shells.
CREATE FUNCTION guard_shell_rows() RETURNS bigint LANGUAGE sql
  AS $$ SELECT (SELECT count(*) FROM guard_items) + (SELECT count(*) FROM guard_kinds) $$;
CREATE FUNCTION guard_write(n int) RETURNS void LANGUAGE plpgsql
  AS $$ BEGIN INSERT INTO guard_items VALUES (n, n); END $$;
CREATE FUNCTION guard_copy_kind() RETURNS trigger LANGUAGE plpgsql
  AS $$ BEGIN INSERT INTO guard_kinds VALUES (NEW.id, NEW.note); RETURN NEW; END $$;
CREATE TRIGGER guard_copy AFTER INSERT ON guard_log FOR EACH ROW EXECUTE FUNCTION guard_copy_kind();
SELECT create_distributed_table('guard_items', 'id', shard_count => 4);
SELECT create_reference_table('guard_kinds');
SELECT guard_shell_rows();
-- Writes from inside the coordinator database are refused: a function, a trigger on a local
-- table, dynamic SQL in DO blocks.
SELECT guard_write(100);
INSERT INTO guard_log VALUES (3, 'three');
DO $$ BEGIN EXECUTE 'INSERT INTO guard_items VALUES (200, 1)'; END $$;
DO $$ BEGIN EXECUTE 'UPDATE guard_kinds SET label = ''x'''; END $$;
DO $$ BEGIN EXECUTE 'DELETE FROM guard_items'; END $$;
DO $$ BEGIN EXECUTE 'TRUNCATE guard_kinds'; END $$;
-- Nothing was written: all rows are in the shards, the shells are still empty.
SELECT count(*) FROM guard_items;
SELECT count(*) FROM guard_kinds;
SELECT count(*) FROM guard_log;
SELECT guard_shell_rows();
-- Bodies naming distributed or reference tables are refused: DO blocks, SQL functions (string
-- and BEGIN ATOMIC bodies), PL/pgSQL functions, procedures and trigger functions.
DO $$ BEGIN INSERT INTO guard_items VALUES (500, 1); END $$;
DO $$ BEGIN INSERT INTO guard_kinds VALUES (500, 'x'); END $$;
CREATE FUNCTION guard_f1() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM guard_items';
CREATE FUNCTION guard_f2() RETURNS bigint LANGUAGE plpgsql
  AS $$ DECLARE n bigint; BEGIN n := (SELECT count(*) FROM public.guard_kinds); RETURN n; END $$;
CREATE FUNCTION guard_f3() RETURNS bigint LANGUAGE sql BEGIN ATOMIC SELECT count(*) FROM guard_items; END;
CREATE OR REPLACE PROCEDURE guard_p() LANGUAGE plpgsql AS $$ BEGIN UPDATE guard_items SET v = 0; END $$;
CREATE FUNCTION guard_t() RETURNS trigger LANGUAGE plpgsql
  AS $$ BEGIN DELETE FROM guard_kinds WHERE id = OLD.id; RETURN OLD; END $$;
CREATE OR REPLACE FUNCTION guard_write(n int) RETURNS void LANGUAGE plpgsql
  AS $$ BEGIN FOR i IN 1..n LOOP PERFORM * FROM guard_items WHERE id = i; END LOOP; END $$;
-- Names resolve as the function would resolve them: through its own search_path if it has one.
CREATE FUNCTION guard_f4() RETURNS bigint LANGUAGE sql SET search_path = guard_s
  AS 'SELECT count(*) FROM guard_items';
CREATE FUNCTION guard_f5() RETURNS bigint LANGUAGE sql SET search_path = guard_s, public
  AS 'SELECT count(*) FROM guard_kinds';
SELECT guard_f4();
-- Or else through the session's.
SET search_path = guard_s, public;
CREATE FUNCTION guard_f6() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM guard_items';
RESET search_path;
-- Bodies naming only local tables (or a CTE of a distributed table's name) are accepted.
CREATE FUNCTION guard_local() RETURNS bigint LANGUAGE plpgsql
  AS $$ BEGIN RETURN (WITH guard_items AS (SELECT 1) SELECT count(*) FROM guard_items, guard_log); END $$;
SELECT guard_local();
DO $$ BEGIN PERFORM count(*) FROM guard_log; END $$;
-- Canopy's own statements on the shells: TRUNCATE, ALTER TABLE, undistribute and distribute again.
TRUNCATE guard_kinds;
SELECT count(*) FROM guard_kinds;
INSERT INTO guard_kinds VALUES (1, 'one'), (2, 'two');
ALTER TABLE guard_items ADD COLUMN w int DEFAULT 7;
ALTER TABLE guard_items ALTER COLUMN w TYPE bigint;
ALTER TABLE guard_items RENAME TO guard_renamed;
ALTER TABLE guard_renamed RENAME TO guard_items;
SELECT count(*), sum(w) FROM guard_items;
SELECT undistribute_table('guard_items');
SELECT guard_shell_rows();
SELECT guard_write(100);
SELECT create_distributed_table('guard_items', 'id', shard_count => 4);
SELECT count(*), sum(v), sum(w) FROM guard_items;
SELECT guard_shell_rows();
SELECT guard_write(101);
\d guard_items
-- The guard is an internal trigger, as those of foreign keys: \d and pg_dump leave it out.
SELECT tgname, tgisinternal, tgenabled FROM pg_trigger WHERE tgrelid = 'guard_items'::regclass;
-- The trigger stays with the shells: the shards have none.
SELECT result FROM run_command_on_workers($$SELECT count(*) FROM pg_trigger WHERE tgname = 'canopy_shell_guard'$$) ORDER BY nodeport;
DROP TABLE guard_items, guard_kinds, guard_log;
DROP FUNCTION guard_shell_rows(), guard_write(int), guard_copy_kind(), guard_f4(), guard_s.guard_f6(), guard_local();
DROP SCHEMA guard_s CASCADE;

-- Rows move into and out of the shards whatever the columns: generated and GENERATED ALWAYS
-- identity columns, columns named like the aliases Canopy reads rows under, and JSON nulls
-- beside SQL NULLs.
CREATE TABLE moved_rows (id int GENERATED ALWAYS AS IDENTITY, t text, s int, g int GENERATED ALWAYS AS (s * 2) STORED, j jsonb);
INSERT INTO moved_rows (t, s, j) SELECT 'r' || n, n, CASE n % 3 WHEN 0 THEN 'null' WHEN 1 THEN '{"a": null}' END::jsonb FROM generate_series(1, 12) n;
SELECT create_distributed_table('moved_rows', 'id', shard_count => 4);
SELECT count(*), sum(id), sum(s), sum(g), string_agg(t, ',' ORDER BY id) FROM moved_rows;
SELECT count(j), count(*) FILTER (WHERE j = 'null'), count(*) FILTER (WHERE j IS NULL) FROM moved_rows;
INSERT INTO moved_rows (t, s) VALUES ('next', 13) RETURNING id, g;
SELECT undistribute_table('moved_rows');
SELECT count(*), sum(id), sum(s), sum(g), string_agg(t, ',' ORDER BY id) FROM moved_rows;
SELECT count(j), count(*) FILTER (WHERE j = 'null'), count(*) FILTER (WHERE j IS NULL) FROM moved_rows;
SELECT create_reference_table('moved_rows');
SELECT count(*), sum(id), sum(g), count(j), count(*) FILTER (WHERE j = 'null') FROM moved_rows;
DROP TABLE moved_rows;
-- A function reading a view over a distributed table would read the shell through it.
CREATE TABLE guard_viewed (id int, v int);
SELECT create_distributed_table('guard_viewed', 'id', shard_count => 4);
CREATE VIEW guard_view AS SELECT id, v FROM guard_viewed;
CREATE FUNCTION guard_view_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM guard_view';
DROP VIEW guard_view;
DROP TABLE guard_viewed;
-- Names in messages are written once quoted.
CREATE TABLE "Mixed Case" (id int);
SELECT undistribute_table('"Mixed Case"');
DROP TABLE "Mixed Case";
