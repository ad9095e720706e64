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
DROP TABLE ms;
