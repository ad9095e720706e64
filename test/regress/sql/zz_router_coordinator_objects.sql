-- What only the coordinator database has or answers rightly, in statements on distributed tables:
-- functions the workers lack, sequence functions, lookups of objects by name. SELECTs, router ones
-- too, are answered there (the fallback), and so are the items of INSERT … VALUES; other parts of
-- modifications run on the shards and refuse them. Functions recorded for the workers run there.
-- Shard ids of its own, whatever the files before it created.
SELECT setval('pg_catalog.pg_dist_shardid_seq', 1950000) > 0 AS moved;
SET canopy.shard_count = 4;
-- co_plus1 is STABLE: an IMMUTABLE one the workers would get when it is created.
CREATE FUNCTION co_plus1(int) RETURNS int LANGUAGE sql STABLE AS 'select $1 + 1';
CREATE FUNCTION co_times2(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'select $1 * 2';
CREATE SEQUENCE co_seq;
CREATE TABLE co_orders (tenant int, id int, amount int DEFAULT co_times2(5));
SELECT create_distributed_table('co_orders', 'tenant');
INSERT INTO co_orders SELECT g % 4, g, g * 10 FROM generate_series(1, 12) g;
SELECT id, co_plus1(amount) FROM co_orders WHERE tenant = 1 ORDER BY id;
-- The fallback fetches the shard's rows (as one aggregate) and calls co_plus1 on the coordinator;
-- co_times2 is on the workers, so its query is sent to the shard as it is.
EXPLAIN (COSTS OFF) SELECT co_plus1(amount) FROM co_orders WHERE tenant = 1;
EXPLAIN (COSTS OFF) SELECT co_times2(amount) FROM co_orders WHERE tenant = 1;
SELECT id, co_times2(amount) FROM co_orders WHERE tenant = 1 ORDER BY id;
SELECT nextval('co_seq'), id FROM co_orders WHERE tenant = 2 AND id = 2;
SELECT 'co_orders'::regclass, has_table_privilege('co_orders', 'select'), to_regclass('co_orders') IS NOT NULL
FROM co_orders WHERE tenant = 1 LIMIT 1;
PREPARE co_by_tenant(int) AS SELECT id, co_plus1(id) FROM co_orders WHERE tenant = $1 ORDER BY id;
EXECUTE co_by_tenant(1);
EXECUTE co_by_tenant(2);
DEALLOCATE co_by_tenant;
SELECT id, co_plus1(id) FROM co_orders WHERE tenant = 1 FOR UPDATE;
-- Modifications refuse them, router or not.
UPDATE co_orders SET amount = co_plus1(amount) WHERE tenant = 1;
UPDATE co_orders SET amount = co_plus1(amount);
DELETE FROM co_orders WHERE tenant = 1 AND to_regclass('co_orders') IS NULL;
INSERT INTO co_orders VALUES (1, 100, 1) RETURNING co_plus1(id);
-- INSERT … VALUES evaluates its items in the coordinator database, as PostgreSQL would: each once,
-- in order, keeping its type (a numeric 2.5 into an integer column is 3).
CREATE FUNCTION co_half(int) RETURNS numeric LANGUAGE sql IMMUTABLE AS 'select $1 / 2.0';
CREATE FUNCTION co_next() RETURNS int LANGUAGE sql VOLATILE AS $$select nextval('co_seq')::int$$;
SELECT setval('co_seq', 1000);
INSERT INTO co_orders VALUES (1, 100, co_plus1(1));
INSERT INTO co_orders VALUES (1, 101, co_half(5)), (co_plus1(1), co_next(), co_next()), (3, co_next(), co_half(-5));
PREPARE co_insert(int, int) AS INSERT INTO co_orders VALUES ($1, $2, co_plus1($2));
EXECUTE co_insert(1, 110);
EXECUTE co_insert(2, 111);
DEALLOCATE co_insert;
SELECT * FROM co_orders WHERE id >= 100 ORDER BY id;
DELETE FROM co_orders WHERE id >= 100;
DROP FUNCTION co_half(int), co_next();
-- … but not what the workers have.
UPDATE co_orders SET amount = co_times2(amount) WHERE tenant = 1 AND id = 1;
-- tableoid of a row names its shard.
SELECT tableoid::regclass FROM co_orders WHERE tenant = 1;
SELECT count(DISTINCT tableoid) FROM co_orders;
-- The session's own backend, transaction and database, asked beside a distributed table: the
-- coordinator's, as the session sees them alone; a worker's would be another backend's.
SELECT pg_backend_pid() AS own_pid, current_database() AS own_db \gset
BEGIN;
SELECT txid_current() AS own_xid \gset
SELECT pg_backend_pid() = :own_pid AS same_pid, txid_current() = :own_xid AS same_xid, current_database() = :'own_db' AS same_db
FROM co_orders WHERE tenant = 1 LIMIT 1;
SELECT DISTINCT pg_backend_pid() = :own_pid AS same_pid, pg_current_xact_id()::text = :'own_xid' AS same_xid FROM co_orders;
COMMIT;
-- A modification gets the coordinator's too, evaluated once for the statement.
UPDATE co_orders SET amount = pg_backend_pid() WHERE tenant = 1 AND id = 1;
SELECT amount = :own_pid AS own_pid_written FROM co_orders WHERE tenant = 1 AND id = 1;
-- The settings a session SETs reach the workers, those it failed to SET not.
CREATE ROLE co_reader;
GRANT SELECT ON co_orders TO co_reader;
SET ROLE co_reader;
SET log_min_duration_statement = 0;
SET work_mem = '5MB';
SELECT id, current_setting('work_mem') FROM co_orders WHERE tenant = 1 ORDER BY id LIMIT 1;
RESET ROLE;
RESET work_mem;
-- Settings the workers cannot take: hidden built-in ones read by name, one only a superuser may
-- SET with a plain role set after it, one naming what only the coordinator has.
SELECT id FROM co_orders WHERE tenant = 1 AND id = 1 AND current_setting('is_superuser')::bool;
SELECT current_setting('seed', true) IS NOT NULL AS has_seed FROM co_orders WHERE tenant = 1 AND id = 1;
SET log_min_duration_statement = '10s';
SET ROLE co_reader;
SELECT count(*) FROM co_orders WHERE tenant IN (1, 2);
RESET ROLE;
RESET log_min_duration_statement;
CREATE ACCESS METHOD co_heap TYPE TABLE HANDLER heap_tableam_handler;
SET default_table_access_method = co_heap;
SELECT count(*) FROM co_orders;
RESET default_table_access_method;
DROP ACCESS METHOD co_heap;
-- set_config() sets the coordinator session's setting, which the workers then follow.
SELECT set_config('app.co_region', 'eu', false) FROM co_orders WHERE tenant = 1 AND id = 1;
SELECT DISTINCT current_setting('app.co_region', true) FROM co_orders;
-- A column alias list could rename the distribution column: refused; a subquery names them.
SELECT count(*) FROM co_orders AS o(t, i) WHERE t = 1;
SELECT count(*) FROM (SELECT * FROM co_orders) AS o(t, i) WHERE t = 1;
REVOKE SELECT ON co_orders FROM co_reader;
DROP ROLE co_reader;
DROP TABLE co_orders;
DROP FUNCTION co_plus1(int), co_times2(int);
DROP SEQUENCE co_seq;
RESET canopy.shard_count;
