-- Distributing tables: the seed's examples and every refusal.
SET canopy.shard_count = 32;
CREATE TABLE github_events (
  event_id bigint,
  event_type text,
  repo_id bigint,
  payload jsonb,
  created_at timestamptz DEFAULT '2024-01-01 00:00:00+00',
  PRIMARY KEY (repo_id, event_id)
);
CREATE INDEX github_events_type ON github_events (event_type);
INSERT INTO github_events (event_id, event_type, repo_id, payload)
SELECT g, CASE WHEN g % 3 = 0 THEN 'PushEvent' ELSE 'WatchEvent' END, g % 17, jsonb_build_object('n', g)
  FROM generate_series(1, 100) g;
SELECT create_distributed_table('github_events', 'repo_id');
-- The rows moved into the shards: the coordinator's own table is empty.
SELECT count(*) FROM ONLY github_events;
SELECT count(*) FROM github_events;
SELECT * from pg_dist_shard;
SELECT
    shardid,
    node.nodename,
    node.nodeport
FROM pg_dist_placement placement
JOIN pg_dist_node node
  ON placement.groupid = node.groupid
 AND node.noderole = 'primary'::noderole
WHERE shardid = 102027;
SELECT logicalrelid, partmethod, partkey, colocationid, repmodel FROM pg_dist_partition;
SELECT * FROM pg_dist_colocation;
SELECT get_shard_id_for_distribution_column('github_events', 7);
SELECT get_shard_id_for_distribution_column('github_events', '7');
-- The shard holds the row: ask the worker directly.
SELECT result FROM run_command_on_workers($$SELECT count(*) FROM public.github_events_102016 WHERE repo_id = 7$$) ORDER BY nodeport;
-- Shards carry the table's constraints and indexes.
SELECT result FROM run_command_on_workers($$SELECT string_agg(indexname, ', ' ORDER BY indexname) FROM pg_indexes WHERE tablename = 'github_events_102008'$$) ORDER BY nodeport;
INSERT INTO github_events (event_id, repo_id) VALUES (1, 1);
-- Co-location: implicit, explicit, none, and a different shard count.
CREATE TABLE repos (repo_id bigint PRIMARY KEY, name text);
SELECT create_distributed_table('repos', 'repo_id');
CREATE TABLE repo_stars (repo_id bigint, n int);
SELECT create_distributed_table('repo_stars', 'repo_id', colocate_with => 'github_events');
CREATE TABLE lonely (repo_id bigint);
SELECT create_distributed_table('lonely', 'repo_id', colocate_with => 'none');
CREATE TABLE few (repo_id bigint);
SELECT create_distributed_table('few', 'repo_id', shard_count => 4);
CREATE TABLE by_text (k text);
SELECT create_distributed_table('by_text', 'k');
SELECT logicalrelid, colocationid FROM pg_dist_partition ORDER BY logicalrelid::text;
SELECT colocationid, shardcount, replicationfactor, distributioncolumntype::regtype FROM pg_dist_colocation ORDER BY 1;
-- Reference tables.
CREATE TABLE event_types (name text PRIMARY KEY, description text);
INSERT INTO event_types VALUES ('PushEvent', 'a push'), ('WatchEvent', 'a star');
SELECT create_reference_table('event_types');
SELECT shardid, shardminvalue, shardmaxvalue FROM pg_dist_shard WHERE logicalrelid = 'event_types'::regclass;
SELECT count(*) AS placements FROM pg_dist_placement WHERE shardid = (SELECT shardid FROM pg_dist_shard WHERE logicalrelid = 'event_types'::regclass);
SELECT table_name, canopy_table_type, distribution_column, shard_count FROM canopy_tables ORDER BY table_name::text;
-- Errors.
SELECT create_distributed_table('no_such_table', 'id');
SELECT create_distributed_table('repos', 'repo_id');
SELECT create_distributed_table('event_types', 'name');
CREATE TABLE t_err (id int, j jsonb, u int UNIQUE);
SELECT create_distributed_table('t_err', 'nope');
SELECT create_distributed_table('t_err', 'j');
SELECT create_distributed_table('t_err', 'id');
SELECT create_distributed_table('t_err', 'u', distribution_type => 'range');
SELECT create_distributed_table('t_err', 'u', shard_count => 0);
SELECT create_distributed_table('t_err', 'u', colocate_with => 'by_text');
SELECT create_distributed_table('t_err', 'u', colocate_with => 'event_types');
SELECT create_distributed_table('t_err', NULL);
SELECT get_shard_id_for_distribution_column('t_err', 1);
SELECT get_shard_id_for_distribution_column('github_events', 'not a number');
SELECT create_reference_table('repos');
CREATE TEMP TABLE tmp_t (id int);
SELECT create_distributed_table('tmp_t', 'id');
DROP TABLE t_err, tmp_t;
-- Back to a local table with every row.
SELECT undistribute_table('github_events');
SELECT count(*) FROM ONLY github_events;
SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'github_events'::regclass;
SELECT undistribute_table('github_events');
-- A transaction that distributes a table and rolls back leaves nothing behind.
BEGIN;
SELECT create_distributed_table('github_events', 'repo_id');
SELECT count(*) FROM github_events;
ROLLBACK;
SELECT count(*) FROM ONLY github_events;
SELECT count(*) FROM pg_dist_partition WHERE logicalrelid = 'github_events'::regclass;
SELECT result FROM run_command_on_workers($$SELECT count(*) FROM pg_tables WHERE tablename LIKE 'github_events_%'$$) ORDER BY nodeport;
-- Rows move in batches, never read whole into the coordinator's memory: more rows than two
-- batches arrive whole, both ways, and a NULL distribution key in the last batch leaves nothing.
CREATE TABLE many_rows (k int, v text);
INSERT INTO many_rows SELECT g, md5(g::text) FROM generate_series(1, 25000) g;
INSERT INTO many_rows VALUES (NULL, 'last');
SELECT create_distributed_table('many_rows', 'k', shard_count => 4);
SELECT count(*) FROM pg_dist_partition WHERE logicalrelid = 'many_rows'::regclass;
SELECT count(*) FROM ONLY many_rows;
DELETE FROM many_rows WHERE k IS NULL;
SELECT create_distributed_table('many_rows', 'k', shard_count => 4);
SELECT count(*), sum(k), md5(string_agg(v, ',' ORDER BY k)) FROM many_rows;
SELECT undistribute_table('many_rows');
SELECT count(*), sum(k), md5(string_agg(v, ',' ORDER BY k)) FROM ONLY many_rows;
DROP TABLE many_rows;
DROP TABLE github_events, repos, repo_stars, lonely, few, by_text, event_types;
SELECT count(*) FROM pg_dist_partition;
SELECT count(*) FROM pg_dist_shard;
SELECT result FROM run_command_on_workers($$SELECT count(*) FROM pg_tables WHERE schemaname = 'public'$$) ORDER BY nodeport;
