-- canopy_stat_statements: the seed's example, what each executor path records, the view read
-- with arbitrary SQL, reset; and canopy.log_remote_commands.
create table foo ( id int );
select create_distributed_table('foo', 'id');
SELECT canopy_stat_statements_reset();
insert into foo select generate_series(1,100);
-- counting all rows executes on all nodes, and sums the results on the coordinator
SELECT count(*) FROM foo;
-- specifying a row by the distribution column routes execution to an individual node
SELECT * FROM foo WHERE id = 42;
\x
SELECT queryid, query, executor, partition_key, calls FROM canopy_stat_statements ORDER BY query;
\x
SELECT sum(calls),
       partition_key IS NOT NULL AS single_tenant
FROM canopy_stat_statements
GROUP BY 2;
SELECT partition_key, sum(calls) as total_queries
FROM canopy_stat_statements
WHERE coalesce(partition_key, '') <> ''
GROUP BY partition_key
ORDER BY total_queries desc
LIMIT 10;
-- The same statement with other constants or spacing is the same entry (one per partition key).
select count(*)   from foo;
SELECT * FROM foo WHERE id = 43;
SELECT * FROM foo WHERE id = 42;
-- Modifications, the fallback, COPY; statements that fail are not counted.
INSERT INTO foo VALUES (101);
INSERT INTO foo VALUES (102), (103);
DELETE FROM foo WHERE id = 101;
DELETE FROM foo WHERE id > 101;
SELECT count(*) FROM foo a JOIN foo b ON a.id = b.id + 1;
COPY foo FROM STDIN;
104
\.
\copy foo TO '/dev/null'
SELECT * FROM foo WHERE id = 'x';
SELECT query, executor, partition_key, calls FROM canopy_stat_statements ORDER BY query, partition_key;
-- userid and dbid are the session's; times in milliseconds.
SELECT bool_and(userid = (SELECT oid FROM pg_roles WHERE rolname = current_user)) AS userid,
       bool_and(dbid = (SELECT oid FROM pg_database WHERE datname = current_database())) AS dbid,
       bool_and(total_time >= 0 AND abs(mean_time - total_time / calls) < 1e-9) AS times
  FROM canopy_stat_statements;
-- The view as any relation: qualified, aliased, joined, and described.
SELECT s.executor, count(*) FROM pg_catalog.canopy_stat_statements s JOIN canopy_stat_statements t USING (queryid, partition_key, executor) GROUP BY 1;
\d canopy_stat_statements
-- With a distributed table in the same statement it is refused, not answered from the empty shell.
SELECT count(*) FROM canopy_stat_statements s JOIN foo ON s.partition_key = foo.id::text;
-- Other users' statements show only to superusers and pg_read_all_stats.
CREATE ROLE stat_reader;
SET ROLE stat_reader;
SELECT count(*) FROM canopy_stat_statements;
RESET ROLE;
DROP ROLE stat_reader;
SELECT canopy_stat_statements_reset();
SELECT count(*) FROM canopy_stat_statements;
-- canopy.log_remote_commands: each command sent to a node, as a NOTICE. Statements of a form
-- seen before (these, with other numbers, above) go with their numbers as parameters.
SET canopy.log_remote_commands = on;
SELECT * FROM foo WHERE id = 42;
BEGIN;
INSERT INTO foo VALUES (42);
SELECT count(*) FROM foo WHERE id = 42;
ROLLBACK;
SET canopy.log_remote_commands = off;
SELECT * FROM foo WHERE id = 42;
DROP TABLE foo;
-- canopy_stat_activity: this session, reading it, is active (one row per worker connection it holds).
SELECT count(DISTINCT pid) AS sessions, min(state) AS state, min(usename) AS usename,
       bool_and(worker_state IS NULL OR worker_state = 'idle') AS workers_idle
  FROM canopy_stat_activity WHERE query LIKE '%canopy_stat_activity%';
\d canopy_stat_activity
