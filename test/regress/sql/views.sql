-- Views over distributed and reference tables: Canopy records them (with the views over them) and
-- expands each reference into the view's query before planning, as PostgreSQL's rewriter does.
-- Writes through them are refused; materialized views cannot be made over distributed tables;
-- CREATE TABLE AS reads the shards.
SET canopy.shard_count = 4;
-- Shard ids that the files before this one do not move (EXPLAIN shows them).
SELECT setval('pg_catalog.pg_dist_shardid_seq', 1900000) > 0 AS moved;
CREATE TABLE vw_items (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO vw_items SELECT g, g FROM generate_series(1, 20) g;
CREATE TABLE vw_kinds (v int PRIMARY KEY, label text);
INSERT INTO vw_kinds SELECT g, 'k' || g FROM generate_series(1, 20) g;
-- Created before the tables are distributed: they read the shards afterwards.
CREATE VIEW vw_before AS SELECT * FROM vw_items WHERE v > 5;
CREATE MATERIALIZED VIEW vw_stored AS SELECT * FROM vw_items WHERE v > 10;
SELECT create_distributed_table('vw_items', 'id');
SELECT create_reference_table('vw_kinds');
SELECT count(*) FROM vw_before;
SELECT * FROM vw_before WHERE id = 7;
-- A materialized view keeps the rows it stored; refreshing it would read the shells.
SELECT count(*) FROM vw_stored;
REFRESH MATERIALIZED VIEW vw_stored;
-- Views created afterwards: column names of their own, a join with a reference table, a view over
-- a view with GROUP BY.
CREATE VIEW vw_pairs (item, kind) AS SELECT i.id, k.label FROM vw_items i JOIN vw_kinds k ON k.v = i.v;
CREATE VIEW vw_counts AS SELECT kind, count(*) FROM vw_pairs WHERE item <= 3 GROUP BY kind;
SELECT * FROM vw_pairs WHERE item < 4 ORDER BY item;
SELECT * FROM vw_counts ORDER BY kind;
SELECT p.item, q.kind FROM vw_pairs p JOIN vw_pairs q(i2, kind) ON q.i2 = p.item + 10 WHERE p.item <= 2 ORDER BY 1;
WITH vw_pairs AS (SELECT 1 AS item) SELECT * FROM vw_pairs;
-- Canopy's functions run in the coordinator database: not with a view over the shells.
SELECT count(*), (SELECT count(*) FROM canopy_get_active_worker_nodes()) FROM vw_pairs;
-- EXPLAIN through a view: the distributed plan of the expanded query (read by its key, the
-- equality goes into the view's query: the router's one task).
EXPLAIN (COSTS OFF) SELECT * FROM vw_before WHERE id = 7;
EXPLAIN (COSTS OFF) SELECT count(*) FROM vw_before;
-- COPY of a query over a view; COPY of the view itself is PostgreSQL's refusal.
COPY (SELECT * FROM vw_before WHERE id IN (6, 7) ORDER BY id) TO STDOUT;
COPY vw_before TO STDOUT;
-- Writing through the view is refused (the shell would take the rows).
INSERT INTO vw_before VALUES (100, 100);
UPDATE vw_before SET v = 0 WHERE id = 7;
DELETE FROM vw_before;
MERGE INTO vw_before t USING vw_kinds k ON t.id = k.v WHEN MATCHED THEN DELETE;
COPY vw_before FROM STDIN;
SELECT count(*) FROM vw_items;
CREATE MATERIALIZED VIEW vw_mat AS SELECT * FROM vw_before;
-- CREATE OR REPLACE, RENAME, RENAME COLUMN, SET SCHEMA: the metadata follows.
CREATE OR REPLACE VIEW vw_before AS SELECT * FROM vw_items WHERE v > 18;
SELECT * FROM vw_before ORDER BY id;
ALTER VIEW vw_before RENAME TO vw_renamed;
ALTER VIEW vw_renamed RENAME COLUMN v TO value;
CREATE SCHEMA vw_schema;
ALTER VIEW vw_renamed SET SCHEMA vw_schema;
SELECT id, value FROM vw_schema.vw_renamed ORDER BY id;
SELECT count(*) FROM vw_renamed;
SET search_path = vw_schema, public;
SELECT count(*) FROM vw_renamed;
RESET search_path;
-- A view created in a transaction block is expanded later in the block.
BEGIN;
CREATE VIEW vw_block AS SELECT * FROM vw_items WHERE id <= 3;
SELECT count(*) FROM vw_block;
COMMIT;
SELECT count(*) FROM vw_block;
-- A view created by an earlier statement of the same Query message.
CREATE VIEW vw_string AS SELECT * FROM vw_items WHERE id > 17 \; SELECT count(*) FROM vw_string;
DROP VIEW vw_string;
-- Privileges: a role without SELECT on the view is refused as PostgreSQL refuses it.
CREATE ROLE vw_reader;
SET ROLE vw_reader;
SELECT count(*) FROM vw_block;
RESET ROLE;
DROP ROLE vw_reader;
-- What the view reads is checked with its owner's privileges (even for a superuser reading it),
-- unless it is security_invoker.
CREATE ROLE vw_owner;
CREATE VIEW vw_owned AS SELECT * FROM vw_items WHERE id <= 2;
ALTER VIEW vw_owned OWNER TO vw_owner;
SELECT count(*) FROM vw_owned;
ALTER VIEW vw_owned SET (security_invoker = true);
SELECT count(*) FROM vw_owned;
DROP VIEW vw_owned;
DROP ROLE vw_owner;
-- CREATE TABLE AS reads the shards, as SELECT … INTO does.
CREATE TABLE vw_copy (a, b) AS SELECT * FROM vw_pairs WHERE item <= 5;
SELECT * FROM vw_copy ORDER BY a;
CREATE TABLE IF NOT EXISTS vw_copy AS SELECT * FROM vw_items;
CREATE TEMP TABLE vw_temp AS SELECT id FROM vw_items WHERE v % 5 = 0;
SELECT * FROM vw_temp ORDER BY id;
-- SELECT … INTO of one shard's rows: the table is the coordinator's, as for several shards.
SELECT * INTO vw_into FROM vw_items WHERE id = 7;
SELECT * FROM vw_into;
CREATE TABLE vw_empty AS SELECT * FROM vw_items WITH NO DATA;
SELECT count(*) FROM vw_empty;
-- Dropping the views, and the table with the views left over it.
DROP VIEW vw_block;
SELECT count(*) FROM vw_block;
DROP MATERIALIZED VIEW vw_stored;
DROP TABLE vw_items CASCADE;
SELECT count(*) FROM vw_pairs;
DROP TABLE vw_kinds, vw_copy, vw_empty, vw_temp, vw_into;
DROP SCHEMA vw_schema;
