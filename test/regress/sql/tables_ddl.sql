-- DDL on distributed and reference tables: propagated to every shard with the shell, all or
-- nothing, and refused (0A000) before anything changes where the shards could not follow.
-- Worker catalogs are read with shard ids cut off the names, so the output does not depend on them.
SET canopy.shard_count = 4;
CREATE TABLE ddl_items (tenant int NOT NULL, id int, name text, PRIMARY KEY (tenant, id));
SELECT create_distributed_table('ddl_items', 'tenant');
INSERT INTO ddl_items VALUES (1, 1, 'one'), (2, 1, 'two'), (3, 1, NULL), (4, 3, '4');
CREATE TABLE ddl_kinds (kind text PRIMARY KEY, label text);
INSERT INTO ddl_kinds VALUES ('a', 'A'), ('b', 'B');
SELECT create_reference_table('ddl_kinds');

-- Columns: add (with a default and an unnamed CHECK), rename, type change with USING, defaults, NOT NULL.
ALTER TABLE ddl_items ADD COLUMN price numeric DEFAULT 0 CHECK (price >= 0);
SELECT * FROM ddl_items ORDER BY tenant;
INSERT INTO ddl_items VALUES (5, 1, 'five', -1);
ALTER TABLE ddl_items RENAME COLUMN name TO title;
ALTER TABLE ddl_items ALTER COLUMN price TYPE int USING round(price)::int, ALTER COLUMN price SET DEFAULT 7;
INSERT INTO ddl_items (tenant, id, title) VALUES (5, 1, 'five');
SELECT tenant, title, price, pg_typeof(price) FROM ddl_items WHERE tenant = 5;
ALTER TABLE ddl_items ALTER COLUMN price DROP DEFAULT;
INSERT INTO ddl_items (tenant, id, title) VALUES (6, 1, 'six');
SELECT tenant, price FROM ddl_items WHERE tenant = 6;
ALTER TABLE ddl_items ALTER COLUMN title SET NOT NULL;
UPDATE ddl_items SET title = 'three' WHERE tenant = 3;
ALTER TABLE ddl_items ALTER COLUMN title SET NOT NULL;
INSERT INTO ddl_items (tenant, id) VALUES (7, 1);
ALTER TABLE ddl_items ALTER COLUMN title DROP NOT NULL;
INSERT INTO ddl_items (tenant, id) VALUES (7, 1);
ALTER TABLE ddl_items ADD COLUMN note text, ADD COLUMN flag boolean NOT NULL DEFAULT true;
ALTER TABLE ddl_items DROP COLUMN note;
SELECT * FROM ddl_items ORDER BY tenant;
SELECT result FROM run_command_on_workers($$SELECT string_agg(DISTINCT attname || ' ' || format_type(atttypid, atttypmod) || CASE WHEN attnotnull THEN ' not null' ELSE '' END, ', ') FROM pg_attribute WHERE attrelid::regclass::text ~ '^ddl_items_[0-9]+$' AND attnum > 0 AND NOT attisdropped$$) ORDER BY nodeport;

-- Constraints: named and unnamed CHECK / UNIQUE, drop, rename, validate; shards carry the shell's names.
ALTER TABLE ddl_items ADD CONSTRAINT title_len CHECK (length(title) < 10) NOT VALID, ADD UNIQUE (tenant, title);
ALTER TABLE ddl_items VALIDATE CONSTRAINT title_len;
INSERT INTO ddl_items VALUES (8, 1, 'much too long');
INSERT INTO ddl_items VALUES (1, 2, 'one');
ALTER TABLE ddl_items RENAME CONSTRAINT title_len TO title_short;
SELECT conname FROM pg_constraint WHERE conrelid = 'ddl_items'::regclass AND contype <> 'n' ORDER BY 1;
SELECT result FROM run_command_on_workers($$SELECT string_agg(DISTINCT regexp_replace(conname, '_[0-9]+$', ''), ', ' ORDER BY regexp_replace(conname, '_[0-9]+$', '')) FROM pg_constraint WHERE contype <> 'n' AND conrelid::regclass::text ~ '^ddl_items_[0-9]+$'$$) ORDER BY nodeport;
ALTER TABLE ddl_items DROP CONSTRAINT ddl_items_tenant_title_key, DROP CONSTRAINT title_short;
ALTER TABLE ddl_items DROP CONSTRAINT ddl_items_pkey;
ALTER TABLE ddl_items ADD PRIMARY KEY (tenant, id);
-- On a reference table: a primary key taking an existing index (and its name).
ALTER TABLE ddl_kinds DROP CONSTRAINT ddl_kinds_pkey;
CREATE UNIQUE INDEX ddl_kinds_key ON ddl_kinds (kind);
ALTER TABLE ddl_kinds ADD PRIMARY KEY USING INDEX ddl_kinds_key;
INSERT INTO ddl_kinds VALUES ('a', 'again');
SELECT result FROM run_command_on_workers($$SELECT string_agg(DISTINCT regexp_replace(conname, '_[0-9]+$', ''), ', ' ORDER BY regexp_replace(conname, '_[0-9]+$', '')) FROM pg_constraint WHERE contype <> 'n' AND conrelid::regclass::text ~ '^ddl_items_[0-9]+$'$$) ORDER BY nodeport;

-- A statement failing on one shard (its rows break the constraint or the cast) changes no shard.
ALTER TABLE ddl_items ADD CONSTRAINT small_id CHECK (id < 3);
ALTER TABLE ddl_items ALTER COLUMN title TYPE int USING title::int;
SELECT result FROM run_command_on_workers($$SELECT count(*) || ' ' || string_agg(DISTINCT format_type(atttypid, atttypmod), ',') FROM pg_attribute a WHERE attrelid::regclass::text ~ '^ddl_items_[0-9]+$' AND attname = 'title' AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid = a.attrelid AND c.conname LIKE 'small_id%')$$) ORDER BY nodeport;
-- In a transaction block: the shell and the shards roll back together.
BEGIN;
ALTER TABLE ddl_items ADD COLUMN extra int DEFAULT 1;
SELECT tenant, extra FROM ddl_items WHERE tenant = 1;
ROLLBACK;
SELECT * FROM ddl_items WHERE tenant = 1;
SELECT result FROM run_command_on_workers($$SELECT count(*) FROM pg_attribute WHERE attrelid::regclass::text ~ '^ddl_items_[0-9]+$' AND attname = 'extra'$$) ORDER BY nodeport;

-- Indexes: named and unnamed, UNIQUE with the distribution column, rename, drop; CONCURRENTLY.
CREATE INDEX ON ddl_items (price);
CREATE UNIQUE INDEX ddl_items_title ON ddl_items (tenant, title);
INSERT INTO ddl_items VALUES (1, 9, 'one');
ALTER INDEX ddl_items_title RENAME TO ddl_items_title_u;
SELECT result FROM run_command_on_workers($$SELECT string_agg(DISTINCT regexp_replace(indexname, '_[0-9]+$', ''), ', ' ORDER BY regexp_replace(indexname, '_[0-9]+$', '')) FROM pg_indexes WHERE tablename ~ '^ddl_items_[0-9]+$'$$) ORDER BY nodeport;
DROP INDEX ddl_items_price_idx, ddl_items_title_u;
CREATE INDEX CONCURRENTLY ddl_items_flag ON ddl_items (flag);
SELECT result FROM run_command_on_workers($$SELECT string_agg(DISTINCT regexp_replace(indexname, '_[0-9]+$', ''), ', ' ORDER BY regexp_replace(indexname, '_[0-9]+$', '')) FROM pg_indexes WHERE tablename ~ '^ddl_items_[0-9]+$'$$) ORDER BY nodeport;
DROP INDEX CONCURRENTLY ddl_items_flag;
BEGIN;
CREATE INDEX CONCURRENTLY ddl_items_flag ON ddl_items (flag);
ROLLBACK;
-- A concurrent build failing on one shard leaves an INVALID index there; DROP … IF EXISTS cleans up.
INSERT INTO ddl_items VALUES (2, 2, 'two');
CREATE UNIQUE INDEX CONCURRENTLY ddl_items_dup ON ddl_items (tenant, title);
SELECT result FROM run_command_on_workers($$SELECT count(*) FILTER (WHERE NOT indisvalid) || ' invalid of ' || count(*) FROM pg_index WHERE indexrelid::regclass::text LIKE 'ddl_items_dup%'$$) ORDER BY nodeport;
DROP INDEX CONCURRENTLY IF EXISTS ddl_items_dup;
DROP INDEX CONCURRENTLY IF EXISTS ddl_items_dup;
SELECT result FROM run_command_on_workers($$SELECT count(*) FROM pg_class WHERE relname LIKE 'ddl_items_dup%'$$) ORDER BY nodeport;
SELECT count(*) FROM pg_class WHERE relname = 'ddl_items_dup';

-- Foreign keys: between co-located tables on the distribution columns, and to a reference table.
CREATE TABLE ddl_orders (tenant int, order_id int, item_id int, kind text, PRIMARY KEY (tenant, order_id));
SELECT create_distributed_table('ddl_orders', 'tenant', colocate_with => 'ddl_items');
ALTER TABLE ddl_orders ADD CONSTRAINT order_item FOREIGN KEY (tenant, item_id) REFERENCES ddl_items (tenant, id) ON DELETE CASCADE;
ALTER TABLE ddl_orders ADD FOREIGN KEY (kind) REFERENCES ddl_kinds (kind);
ALTER TABLE ddl_orders ADD COLUMN alt_kind text REFERENCES ddl_kinds DEFERRABLE INITIALLY DEFERRED;
INSERT INTO ddl_orders VALUES (1, 1, 1, 'a'), (2, 1, 1, 'b'), (3, 1, 1, 'a'), (4, 1, 3, NULL);
INSERT INTO ddl_orders VALUES (1, 2, 5, 'a');
INSERT INTO ddl_orders VALUES (1, 3, 1, 'z');
INSERT INTO ddl_orders VALUES (1, 3, 1, 'a', 'z');
DELETE FROM ddl_items WHERE tenant = 4;
SELECT tenant, order_id FROM ddl_orders ORDER BY tenant;
DELETE FROM ddl_kinds WHERE kind = 'b';
SELECT result FROM run_command_on_workers($$SELECT string_agg(DISTINCT regexp_replace(conname, '_[0-9]+$', ''), ', ' ORDER BY regexp_replace(conname, '_[0-9]+$', '')) FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text ~ '^ddl_orders_[0-9]+$'$$) ORDER BY nodeport;

-- Refused before anything changes.
ALTER TABLE ddl_items DROP COLUMN tenant;
ALTER TABLE ddl_items ALTER COLUMN tenant TYPE bigint;
ALTER TABLE ddl_items ADD UNIQUE (id);
CREATE UNIQUE INDEX ddl_items_by_id ON ddl_items (id);
ALTER TABLE ddl_items ADD CONSTRAINT no_overlap EXCLUDE USING btree (id WITH =);
ALTER TABLE ddl_items ADD COLUMN serial_no serial;
ALTER TABLE ddl_items OWNER TO CURRENT_USER;
ALTER TABLE ddl_items SET (fillfactor = 50);
ALTER TABLE ddl_items REPLICA IDENTITY FULL;
ALTER TABLE ddl_items DISABLE TRIGGER ALL;
CREATE TABLE ddl_lonely (tenant int PRIMARY KEY, id int);
SELECT create_distributed_table('ddl_lonely', 'tenant', colocate_with => 'none');
ALTER TABLE ddl_orders ADD FOREIGN KEY (tenant) REFERENCES ddl_lonely (tenant);
ALTER TABLE ddl_orders ADD FOREIGN KEY (tenant, order_id) REFERENCES ddl_items (id, tenant);
ALTER TABLE ddl_orders ADD FOREIGN KEY (tenant, item_id) REFERENCES ddl_items (tenant, id) ON DELETE SET NULL;
ALTER TABLE ddl_kinds ADD COLUMN tenant int REFERENCES ddl_lonely (tenant);
CREATE TABLE ddl_local (tenant int, kind text);
ALTER TABLE ddl_local ADD FOREIGN KEY (tenant) REFERENCES ddl_lonely (tenant);
ALTER TABLE ddl_local ADD FOREIGN KEY (kind) REFERENCES ddl_kinds (kind);
ALTER TABLE ddl_orders ADD FOREIGN KEY (kind) REFERENCES ddl_local (kind);
CREATE TABLE ddl_local2 (tenant int REFERENCES ddl_lonely (tenant));
ALTER TABLE ddl_orders ADD FOREIGN KEY (kind) REFERENCES ddl_nowhere (kind);
SELECT count(*) FROM pg_constraint WHERE contype <> 'n' AND conrelid IN ('ddl_orders'::regclass, 'ddl_kinds'::regclass, 'ddl_local'::regclass, 'ddl_items'::regclass);
SELECT column_name FROM information_schema.columns WHERE table_name = 'ddl_items' ORDER BY ordinal_position;

-- Renaming a table renames its shards; renaming the distribution column renames it in the metadata.
ALTER TABLE ddl_items RENAME TO ddl_things;
ALTER TABLE ddl_things RENAME COLUMN tenant TO owner;
SELECT logicalrelid, partkey FROM pg_dist_partition WHERE logicalrelid = 'ddl_things'::regclass;
SELECT owner, id, title FROM ddl_things WHERE owner = 2 ORDER BY id;
INSERT INTO ddl_things (owner, id, title) VALUES (9, 1, 'nine');
SELECT count(*) FROM ddl_things;
SELECT result FROM run_command_on_workers($$SELECT count(*) FILTER (WHERE relname ~ '^ddl_things_[0-9]+$') || ' ' || count(*) FILTER (WHERE relname ~ '^ddl_items_[0-9]+$') FROM pg_class$$) ORDER BY nodeport;

-- Statements after DDL see the new shape, also within a transaction block.
SELECT * FROM ddl_things WHERE owner = 2 ORDER BY id;
ALTER TABLE ddl_things ADD COLUMN color text DEFAULT 'red';
SELECT * FROM ddl_things WHERE owner = 2 ORDER BY id;
BEGIN;
ALTER TABLE ddl_things DROP COLUMN color, ADD COLUMN size int DEFAULT 3;
INSERT INTO ddl_things VALUES (10, 1, 'ten', 0, true, 4);
SELECT * FROM ddl_things WHERE owner = 10;
COMMIT;
SELECT * FROM ddl_things ORDER BY owner, id;

-- Schemas: shards live in the table's schema; SET SCHEMA moves them; GRANT / REVOKE reach them.
CREATE SCHEMA ddl_s;
CREATE TABLE ddl_s.events (tenant int, payload text);
SELECT create_distributed_table('ddl_s.events', 'tenant');
INSERT INTO ddl_s.events VALUES (1, 'x'), (2, 'y');
SELECT result FROM run_command_on_workers($$SELECT count(*) FROM pg_tables WHERE schemaname = 'ddl_s'$$) ORDER BY nodeport;
ALTER TABLE ddl_s.events SET SCHEMA public;
SELECT count(*) FROM events;
ALTER TABLE events SET SCHEMA ddl_s;
SELECT result FROM run_command_on_workers($$SELECT count(*) FROM pg_tables WHERE schemaname = 'ddl_s'$$) ORDER BY nodeport;
CREATE ROLE ddl_reader;
GRANT SELECT ON ddl_s.events TO ddl_reader;
SELECT has_table_privilege('ddl_reader', 'ddl_s.events', 'SELECT');
SELECT result FROM run_command_on_workers($$SELECT count(*) FROM pg_roles WHERE rolname = 'ddl_reader'$$) ORDER BY nodeport;
GRANT SELECT, UPDATE (payload) ON ddl_s.events TO ddl_reader;
GRANT SELECT ON ddl_kinds TO ddl_reader;
SELECT result FROM run_command_on_workers($$SELECT bool_and(has_table_privilege('ddl_reader', oid, 'SELECT')) || ' ' || bool_and(has_column_privilege('ddl_reader', oid, 'payload', 'UPDATE')) FROM pg_class WHERE relname ~ '^events_[0-9]+$'$$) ORDER BY nodeport;
-- SET ROLE reaches the workers: the shards are read and written with the role's privileges.
GRANT USAGE ON SCHEMA ddl_s TO ddl_reader;
SET ROLE ddl_reader;
SELECT count(*) FROM ddl_s.events;
SELECT count(*) FROM ddl_orders;
UPDATE ddl_s.events SET tenant = tenant WHERE tenant = 1;
UPDATE ddl_s.events SET payload = 'z' WHERE tenant = 1;
RESET ROLE;
SELECT count(*) FROM ddl_orders;
SELECT payload FROM ddl_s.events WHERE tenant = 1;
BEGIN;
SET LOCAL ROLE ddl_reader;
SELECT count(*) FROM ddl_s.events;
COMMIT;
SELECT count(*) FROM ddl_orders;
REVOKE ALL ON ddl_s.events, ddl_kinds FROM ddl_reader;
SELECT result FROM run_command_on_workers($$SELECT bool_or(has_table_privilege('ddl_reader', oid, 'SELECT')) FROM pg_class WHERE relname ~ '^(events|ddl_kinds)_[0-9]+$'$$) ORDER BY nodeport;

-- TRUNCATE follows foreign keys as PostgreSQL does: refused without CASCADE, cascading with it.
TRUNCATE ddl_kinds;
TRUNCATE ddl_kinds CASCADE;
SELECT (SELECT count(*) FROM ddl_orders) AS orders, (SELECT count(*) FROM ddl_kinds) AS kinds;
SELECT result FROM run_command_on_workers($$SELECT sum((xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %s', oid::regclass), false, true, '')))[1]::text::int) FROM pg_class WHERE relname ~ '^ddl_orders_[0-9]+$'$$) ORDER BY nodeport;

-- DROP: a referenced table needs CASCADE (which drops the shards' foreign keys too); DROP SCHEMA CASCADE.
DROP TABLE ddl_things;
DROP TABLE ddl_things CASCADE;
SELECT result FROM run_command_on_workers($$SELECT string_agg(DISTINCT regexp_replace(conname, '_[0-9]+$', ''), ', ') FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text ~ '^ddl_orders_[0-9]+$'$$) ORDER BY nodeport;
DROP SCHEMA ddl_s;
DROP SCHEMA ddl_s CASCADE;
SELECT result FROM run_command_on_workers($$SELECT count(*) FROM pg_namespace WHERE nspname = 'ddl_s'$$) ORDER BY nodeport;
DROP TABLE ddl_orders, ddl_kinds, ddl_lonely, ddl_local;
SELECT count(*) FROM pg_dist_partition;
SELECT count(*) FROM pg_dist_shard;
SELECT result FROM run_command_on_workers($$SELECT count(*) FROM pg_tables WHERE tablename LIKE 'ddl%' OR tablename LIKE 'events%'$$) ORDER BY nodeport;
DROP ROLE ddl_reader;
SELECT result FROM run_command_on_workers($$SELECT count(*) FROM pg_roles WHERE rolname = 'ddl_reader'$$) ORDER BY nodeport;

-- Types, functions and extensions the shards need are created on the workers first, recorded in
-- pg_dist_object, created on workers added later, and changed or dropped with the coordinator's.
CREATE TEMP TABLE ddl_removed AS SELECT max(nodeport) AS port FROM pg_dist_node;
SELECT canopy_remove_node('localhost', (SELECT port FROM ddl_removed));
CREATE SCHEMA ddl_t;
CREATE TYPE ddl_t.mood AS ENUM ('sad', 'ok');
CREATE DOMAIN ddl_t.posint AS int CHECK (VALUE > 0);
CREATE TYPE ddl_t.pair AS (a ddl_t.posint, b text);
CREATE FUNCTION ddl_t.twice(x int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT x * 2 $$;
CREATE TABLE ddl_typed (id int, m ddl_t.mood DEFAULT 'ok', p ddl_t.pair, n int CHECK (ddl_t.twice(n) < 100));
SELECT create_distributed_table('ddl_typed', 'id');
INSERT INTO ddl_typed VALUES (1, 'sad', ROW(1, 'x'), 3), (2, DEFAULT, NULL, 4);
INSERT INTO ddl_typed (id, n) VALUES (3, 60);
INSERT INTO ddl_typed (id, p) VALUES (4, ROW(-1, 'y'));
SELECT * FROM ddl_typed ORDER BY id;
SELECT (pg_identify_object(classid, objid, objsubid)).type, (pg_identify_object(classid, objid, objsubid)).identity
  FROM pg_dist_object ORDER BY 2;
CREATE TYPE ddl_t.size AS ENUM ('s', 'm', 'l');
ALTER TABLE ddl_typed ADD COLUMN sz ddl_t.size DEFAULT 'm';
ALTER TYPE ddl_t.mood ADD VALUE 'happy';
INSERT INTO ddl_typed (id, m) VALUES (5, 'happy');
CREATE OR REPLACE FUNCTION ddl_t.twice(x int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT x * 3 $$;
SELECT result FROM run_command_on_workers($$SELECT ddl_t.twice(2) || ' ' || enum_range(NULL::ddl_t.mood)::text || ' ' || enum_range(NULL::ddl_t.size)::text$$) ORDER BY nodeport;
SELECT 1 FROM canopy_add_node('localhost', (SELECT port FROM ddl_removed));
SELECT result FROM run_command_on_workers($$SELECT ddl_t.twice(2) || ' ' || enum_range(NULL::ddl_t.mood)::text || ' ' || (SELECT count(*) FROM pg_type WHERE typname IN ('posint', 'pair', 'size'))$$) ORDER BY nodeport;
DROP TABLE ddl_typed;
DROP FUNCTION ddl_t.twice(int);
DROP TYPE ddl_t.pair;
SELECT result FROM run_command_on_workers($$SELECT (SELECT count(*) FROM pg_type WHERE typname = 'pair') + (SELECT count(*) FROM pg_proc WHERE proname = 'twice')$$) ORDER BY nodeport;
DROP SCHEMA ddl_t CASCADE;
SELECT result FROM run_command_on_workers($$SELECT count(*) FROM pg_namespace WHERE nspname = 'ddl_t'$$) ORDER BY nodeport;
SELECT count(*) FROM pg_dist_object;
-- CREATE INDEX IF NOT EXISTS skips a name another table's index has, on the shards too; and DROP
-- INDEX CONCURRENTLY of two indexes is PostgreSQL's refusal, every shard keeping both.
CREATE TABLE ddl_ix_a (k int, v int);
CREATE TABLE ddl_ix_b (k int, v int);
SELECT create_distributed_table('ddl_ix_a', 'k');
SELECT create_distributed_table('ddl_ix_b', 'k');
CREATE INDEX ddl_ix_same ON ddl_ix_a (v);
CREATE INDEX IF NOT EXISTS ddl_ix_same ON ddl_ix_b (v);
SELECT result FROM run_command_on_workers($$SELECT count(*) FROM pg_indexes WHERE tablename LIKE 'ddl_ix_b%'$$) ORDER BY nodeport;
DROP INDEX ddl_ix_same;
CREATE INDEX ddl_ix_same ON ddl_ix_b (v);
CREATE INDEX ddl_ix_other ON ddl_ix_b (k);
DROP INDEX CONCURRENTLY ddl_ix_same, ddl_ix_other;
SELECT result FROM run_command_on_workers($$SELECT count(*) FROM pg_indexes WHERE tablename LIKE 'ddl_ix_b%'$$) ORDER BY nodeport;
DROP TABLE ddl_ix_a, ddl_ix_b;
-- A reference table's placements must stay copies: volatile functions in its modifications and in
-- a default or USING that rewrites its rows are refused; defaults for new rows, INSERT … SELECT
-- and stable functions are evaluated once.
CREATE TABLE ddl_ref_vol (id int PRIMARY KEY, v float8, w float8 DEFAULT random());
SELECT create_reference_table('ddl_ref_vol');
INSERT INTO ddl_ref_vol VALUES (1, random(), 0);
INSERT INTO ddl_ref_vol (id, v) VALUES (2, 0);
INSERT INTO ddl_ref_vol SELECT 3, random(), 0;
UPDATE ddl_ref_vol SET v = random() WHERE id = 2;
UPDATE ddl_ref_vol SET v = v + 1 WHERE id = 2 AND now() IS NOT NULL;
INSERT INTO ddl_ref_vol VALUES (3, 0, 0) ON CONFLICT (id) DO UPDATE SET v = clock_timestamp()::date - '2000-01-01'::date;
DELETE FROM ddl_ref_vol WHERE id = 1 AND random() < 2;
ALTER TABLE ddl_ref_vol ADD COLUMN r float8 DEFAULT random();
ALTER TABLE ddl_ref_vol ALTER COLUMN v TYPE numeric USING random();
ALTER TABLE ddl_ref_vol ADD COLUMN c int DEFAULT 7;
SELECT count(DISTINCT result) FROM run_command_on_workers($$SELECT string_agg(id || ':' || v || ':' || w || ':' || c, ' ' ORDER BY id) FROM ddl_ref_vol_$$ || (SELECT shardid FROM pg_dist_shard WHERE logicalrelid = 'ddl_ref_vol'::regclass));
SELECT id, v BETWEEN 0 AND 1 AS v_in_range, c FROM ddl_ref_vol ORDER BY id;
DROP TABLE ddl_ref_vol;
