-- Several statements in one Query (psql's \;), where one is a function of Canopy's that changes
-- the metadata: each statement is planned as the tables are when it runs, as PostgreSQL would.
-- Before a table is distributed its statements run in the coordinator database; after, on the
-- shards, in the same string.
CREATE TABLE ms (id int, v text) \; SELECT create_distributed_table('ms', 'id', shard_count => 4) \; INSERT INTO ms SELECT i, 'v' || i FROM generate_series(1, 20) i \; SELECT count(*) FROM ms;
SELECT count(*) FROM ms;
-- Statements on a distributed table beside a function call, before and after it undistributes
-- the table.
SELECT count(*), max(id) FROM ms \; SELECT undistribute_table('ms') \; INSERT INTO ms VALUES (21, 'v21') \; SELECT count(*), max(id) FROM ms;
SELECT count(*) FROM pg_dist_partition WHERE logicalrelid = 'ms'::regclass;
SELECT count(*), max(id) FROM ms \; SELECT create_distributed_table('ms', 'id', shard_count => 4) \; SELECT count(*), max(id) FROM ms;
SELECT count(*), max(id) FROM ms;
-- A block that wrote a shard ends in a string with a function call: the COMMIT is Canopy's, so
-- the shard's write commits with the coordinator database's part.
BEGIN;
INSERT INTO ms VALUES (100, 'v100');
SELECT get_shard_id_for_distribution_column('ms', 100) > 0 AS has_shard \; COMMIT;
-- Seen from another session.
\c -
SELECT count(*) FROM ms WHERE id = 100;
-- A COPY ending a string after a call that distributed its table goes to the shards.
CREATE TABLE ms_copy (id int, v text);
SELECT create_distributed_table('ms_copy', 'id', shard_count => 4) \; COPY ms_copy FROM STDIN;
1	a
2	b
\.
SELECT count(*) FROM ms_copy;
SELECT count(*) FROM pg_dist_partition WHERE logicalrelid = 'ms_copy'::regclass;
-- A COPY into a coordinator table ending a string after a function of Canopy's: its data reaches
-- the coordinator database while the string runs.
CREATE TABLE ms_local (id int, v text);
SELECT get_shard_id_for_distribution_column('ms_copy', 1) > 0 AS has_shard \; COPY ms_local FROM STDIN;
1	a
2	b
\.
SELECT count(*) FROM ms_local;
DROP TABLE ms, ms_copy, ms_local;
