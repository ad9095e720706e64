-- Node management UDFs and the seeds' metadata queries.
SELECT nodeid, groupid, nodename, nodeport, noderack, hasmetadata, isactive, noderole, nodecluster, shouldhaveshards
  FROM pg_dist_node ORDER BY nodeid;
SELECT * FROM master_get_active_worker_nodes() ORDER BY node_port;
SELECT * FROM canopy_get_active_worker_nodes() ORDER BY node_port;
SELECT node_name FROM master_get_active_worker_nodes() AS w WHERE w.node_port > 0 LIMIT 1;

-- the seed's placement query runs verbatim (no shards yet)
SELECT
    shardid,
    node.nodename,
    node.nodeport
FROM pg_dist_placement placement
JOIN pg_dist_node node
  ON placement.groupid = node.groupid
 AND node.noderole = 'primary'::noderole
WHERE shardid = 102027;
SELECT * from pg_dist_shard;
SELECT table_name, shardid, nodename FROM canopy_shards;
SELECT * FROM canopy_tables;

-- connection checks
SELECT canopy_check_connection_to_node('localhost', (SELECT min(nodeport) FROM pg_dist_node));
SELECT canopy_check_connection_to_node('localhost', 1);

-- commands on every worker
SELECT run_command_on_workers('SELECT 1 + 1');
SELECT nodeport, success, result FROM run_command_on_workers($cmd$ SELECT 'two words' $cmd$) ORDER BY nodeport;
SELECT success, result FROM run_command_on_workers('SELECT 1/0') LIMIT 1;
SELECT success, result FROM run_command_on_workers('SELECT 1 FROM generate_series(1, 2)') LIMIT 1;
SELECT success, result FROM run_command_on_workers('CREATE TABLE IF NOT EXISTS rcow_probe (a int)', parallel => false) LIMIT 1;
SELECT success, result FROM run_command_on_workers('DROP TABLE rcow_probe') LIMIT 1;
SELECT (run_command_on_workers('SELECT 7')).result LIMIT 1;

-- refusals change nothing
SELECT canopy_add_node('localhost', (SELECT min(nodeport) FROM pg_dist_node));
SELECT canopy_add_node('localhost', 1);
SELECT canopy_add_node(NULL, 5432);
SELECT canopy_add_node('localhost', 0);
SELECT canopy_add_node('localhost');
SELECT canopy_add_node('localhost', 5432, 1, 'primary', 'default', 'extra');
SELECT canopy_remove_node('localhost', 1);
SELECT canopy_disable_node('nowhere', 5432);
SELECT count(*) FROM pg_dist_node;

-- disable, activate, remove and add again, inside transactions
SELECT canopy_disable_node('localhost', (SELECT max(nodeport) FROM pg_dist_node));
SELECT count(*) FROM master_get_active_worker_nodes();
SELECT canopy_activate_node('localhost', (SELECT max(nodeport) FROM pg_dist_node)) > 0 AS activated;
SELECT count(*) FROM master_get_active_worker_nodes();
BEGIN;
SELECT canopy_remove_node('localhost', (SELECT max(nodeport) FROM pg_dist_node));
SELECT count(*) FROM pg_dist_node;
ROLLBACK;
SELECT count(*) FROM pg_dist_node;
CREATE TEMP TABLE removed AS SELECT max(nodeport) AS port FROM pg_dist_node;
SELECT canopy_remove_node('localhost', (SELECT port FROM removed));
SELECT count(*) FROM pg_dist_node;
SELECT * from canopy_add_node('localhost', (SELECT port FROM removed)) AS nodeid;
SELECT nodeid, groupid FROM pg_dist_node ORDER BY nodeid;

-- pg_dist_authinfo as the seed uses it
INSERT INTO pg_dist_authinfo
  (nodeid, rolename, authinfo)
VALUES
  (123, 'jdoe', 'password=abc123');
UPDATE pg_dist_authinfo
SET authinfo = 'sslcert=/path/to/user.crt sslkey=/path/to/user.key'
WHERE nodeid = 123 AND rolename = 'jdoe';
SELECT * FROM pg_dist_authinfo;
DELETE FROM pg_dist_authinfo;

-- the stubs are visible in the catalog and refuse to run outside a coordinator
\df canopy_add_node
-- arguments are evaluated before the statement: they cannot refer to its rows
CREATE TEMP TABLE targets (name text, port int);
INSERT INTO targets VALUES ('localhost', 1);
SELECT canopy_check_connection_to_node(name, port) FROM targets;
-- a node that holds the only placement of a shard cannot be removed
INSERT INTO pg_dist_shard (logicalrelid, shardid, shardminvalue, shardmaxvalue)
  VALUES ('pg_dist_node'::regclass, 999001, '-2147483648', '2147483647');
INSERT INTO pg_dist_placement (shardid, groupid)
  SELECT 999001, groupid FROM pg_dist_node ORDER BY nodeid LIMIT 1;
CREATE TEMP TABLE holder AS SELECT nodename, nodeport FROM pg_dist_node ORDER BY nodeid LIMIT 1;
SELECT nodename, nodeport FROM holder \gset
SELECT canopy_remove_node(:'nodename', :nodeport);
SELECT count(*) FROM pg_dist_node;
DELETE FROM pg_dist_placement WHERE shardid = 999001;
DELETE FROM pg_dist_shard WHERE shardid = 999001;
-- scalar UDFs in FROM, as the seed calls them
SELECT * from canopy_check_connection_to_node('localhost', 1);
SELECT * from canopy_check_connection_to_node('localhost', 1) AS ok;
SELECT * FROM canopy_disable_node('localhost', :nodeport);
SELECT * from canopy_activate_node('localhost', :nodeport) AS c(node_id);
