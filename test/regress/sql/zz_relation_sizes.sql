-- Sizes of distributed and reference tables, measured on the workers. This file sorts last: the
-- shards it creates would shift the shard ids of the files after it. Sizes differ between
-- PostgreSQL versions and PGlite, so only comparisons are printed.
CREATE TABLE sized (id int PRIMARY KEY, v text);
SELECT create_distributed_table('sized', 'id', shard_count => 4);
INSERT INTO sized SELECT g, repeat('x', 200) FROM generate_series(1, 20) g;
CREATE TABLE sized_ref (k int PRIMARY KEY, label text);
SELECT create_reference_table('sized_ref');
INSERT INTO sized_ref VALUES (1, 'one'), (2, 'two');
CREATE TABLE sized_local (a int);

-- total (with indexes) >= table (with TOAST) >= relation (main fork) > 0, under every name of the table
SELECT canopy_relation_size('sized') > 0 AS positive,
       canopy_total_relation_size('sized') >= canopy_table_size('sized') AS total_covers_table,
       canopy_table_size('sized') >= canopy_relation_size('sized') AS table_covers_relation,
       canopy_total_relation_size('sized') > canopy_table_size('sized') AS index_counted;
SELECT canopy_total_relation_size('public.sized') = canopy_total_relation_size('sized'::regclass::oid) AS same_table;
-- the sum over the shards, each measured on its worker
SELECT canopy_total_relation_size('sized') = (SELECT sum(shard_size) FROM canopy_shards WHERE table_name = 'sized'::regclass) AS sum_of_shards;
SELECT canopy_relation_size('sized') AS before \gset
INSERT INTO sized SELECT g, repeat('y', 1000) FROM generate_series(100, 1000) g;
SELECT canopy_relation_size('sized') > :before AS grew;
-- a reference table counts one placement: the size of one copy
SELECT canopy_total_relation_size('sized_ref') > 0 AS positive,
       canopy_total_relation_size('sized_ref') IN (SELECT shard_size FROM canopy_shards WHERE table_name = 'sized_ref'::regclass) AS one_copy;
SELECT canopy_table_size(NULL);
-- errors: a local table, an unknown one, an oid of no relation
SELECT canopy_table_size('sized_local');
SELECT canopy_total_relation_size('no_such_table');
SELECT canopy_relation_size(1);
-- inside a block the sizes include the block's own writes
BEGIN;
SELECT canopy_relation_size('sized') AS before \gset
INSERT INTO sized SELECT g, repeat('z', 1000) FROM generate_series(2000, 3000) g;
SELECT canopy_relation_size('sized') > :before AS grew_in_block;
SELECT count(*) FROM canopy_shards WHERE shard_size > 0 AND table_name = 'sized'::regclass;
COMMIT;

-- canopy_shards: each placement's size on its node; canopy_tables: the table's total
SELECT table_name, canopy_table_type, shard_size > 0 AS sized FROM canopy_shards
 WHERE table_name IN ('sized'::regclass, 'sized_ref'::regclass) ORDER BY table_name::text, shardid, nodeport;
SELECT min(shardid) AS first_shard FROM canopy_shards WHERE table_name = 'sized'::regclass \gset
SELECT nodename, nodeport FROM canopy_shards WHERE shardid = :first_shard;
SELECT s.shard_size > 0 AS sized, s.nodeport > 0 AS on_node FROM canopy_shards s WHERE s.shardid = :first_shard;
SELECT canopy_total_relation_size('sized') AS total, canopy_total_relation_size('sized_ref') AS ref_total \gset
SELECT table_name, table_size <> '0 bytes' AS sized,
       table_size = pg_size_pretty(CASE table_name WHEN 'sized'::regclass THEN :total ELSE :ref_total END::bigint) AS is_total,
       shard_count
  FROM canopy_tables WHERE table_name IN ('sized'::regclass, 'sized_ref'::regclass) ORDER BY table_name::text;
-- sizes are computed when a statement runs: a snapshot is taken, a stored query is refused
CREATE TABLE sized_snapshot AS SELECT shardid, shard_size > 0 AS sized FROM canopy_shards WHERE table_name = 'sized'::regclass;
SELECT count(*), bool_and(sized) FROM sized_snapshot;
CREATE VIEW sized_view AS SELECT shardid, shard_size FROM canopy_shards;
CREATE MATERIALIZED VIEW sized_matview AS SELECT canopy_total_relation_size('sized');
PREPARE sized_prepared AS SELECT table_size FROM canopy_tables;
DROP TABLE sized, sized_ref, sized_local, sized_snapshot;
-- A name resolved under SET LOCAL search_path inside a block resolves again once the block ends.
CREATE SCHEMA sp_dist;
CREATE SCHEMA sp_local;
CREATE TABLE sp_dist.sp_t (id int);
INSERT INTO sp_dist.sp_t SELECT generate_series(1, 10);
SELECT create_distributed_table('sp_dist.sp_t', 'id', shard_count => 2);
CREATE TABLE sp_local.sp_t (id int);
INSERT INTO sp_local.sp_t VALUES (1);
SET search_path = sp_dist;
BEGIN;
SET LOCAL search_path = sp_local;
SELECT count(*) FROM sp_t;
COMMIT;
SELECT count(*) FROM sp_t;
BEGIN;
SET LOCAL search_path = sp_local;
SELECT count(*) FROM sp_t;
ROLLBACK;
SELECT count(*) FROM sp_t;
RESET search_path;
DROP SCHEMA sp_dist, sp_local CASCADE;
-- Settings that change what expressions mean reach the workers; a read-only default refuses
-- writes outside a block.
CREATE TABLE set_rows (id int, note text, v float8);
SELECT create_distributed_table('set_rows', 'id', shard_count => 2);
INSERT INTO set_rows SELECT i, CASE WHEN i % 4 = 0 THEN NULL ELSE 'the wrapped gifts' END, sqrt(i) FROM generate_series(1000, 1040) i;
SET default_text_search_config = 'pg_catalog.simple';
SELECT to_tsvector(note)::text, count(*) FROM set_rows GROUP BY 1 ORDER BY 1;
RESET default_text_search_config;
SET transform_null_equals = on;
SELECT count(*) FROM set_rows WHERE note = NULL;
RESET transform_null_equals;
SET default_transaction_read_only = on;
INSERT INTO set_rows VALUES (1, 'x', 1);
UPDATE set_rows SET note = 'x' WHERE id = 1000;
SELECT id FROM set_rows WHERE id = 1000 FOR UPDATE;
-- Each lock strength is named as PostgreSQL names it; a writing WITH is a SELECT.
SELECT id FROM set_rows WHERE id = 1000 FOR SHARE;
SELECT id FROM set_rows WHERE id = 1000 FOR NO KEY UPDATE;
SELECT id FROM set_rows WHERE id = 1000 FOR KEY SHARE;
WITH w AS (UPDATE set_rows SET note = 'x' WHERE id = 1000 RETURNING id) SELECT * FROM w;
BEGIN READ WRITE;
UPDATE set_rows SET note = 'x' WHERE id = 1000;
ROLLBACK;
RESET default_transaction_read_only;
-- Literals read as standard strings would be misread: refused.
SET standard_conforming_strings = off;
SELECT count(*) FROM set_rows WHERE note <> 'x';
-- A Query string's literals are read as the setting stood when it arrived (a SET in it changes
-- the strings after it): refused where a backslash could be read otherwise, run where none is.
SET standard_conforming_strings = on \; SELECT count(*) FROM set_rows WHERE note <> 'x\y';
SET standard_conforming_strings = on \; SELECT count(*) FROM set_rows WHERE note <> 'x';
RESET standard_conforming_strings;
-- The same when the end of a block in the string undoes the setting.
BEGIN;
SET LOCAL standard_conforming_strings = off;
COMMIT \; SELECT count(*) FROM set_rows WHERE note <> 'x\y';
ROLLBACK;
SELECT count(*) FROM set_rows WHERE note <> 'x\y';
-- VACUUM refuses to run in a pipeline: nothing Canopy asks before forwarding it may leave one.
VACUUM ANALYZE set_rows;
SELECT count(*) FROM set_rows WHERE note <> 'x';
DROP TABLE set_rows;
-- A number under a cast is the cast's value (1.5::int is 2): it is evaluated, not hashed as written.
CREATE TABLE cast_keys (k numeric PRIMARY KEY, v int);
SELECT create_distributed_table('cast_keys', 'k', shard_count => 8);
INSERT INTO cast_keys VALUES (1.5::int, 1), ('3'::numeric, 3), (4.4::int, 4);
SELECT k, v FROM cast_keys WHERE k = 2;
SELECT k, v FROM cast_keys WHERE k = 3;
SELECT k, v FROM cast_keys WHERE k = 3.5::int ORDER BY v;
CREATE SEQUENCE cast_seq;
MERGE INTO cast_keys t USING cast_keys s ON t.k = s.k WHEN MATCHED THEN UPDATE SET v = nextval('cast_seq');
DROP SEQUENCE cast_seq;
DROP TABLE cast_keys;
