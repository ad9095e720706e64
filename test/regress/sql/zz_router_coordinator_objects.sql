-- What only the coordinator database has or answers rightly, in statements on distributed tables:
-- functions the workers lack, sequence functions, lookups of objects by name. SELECTs, router ones
-- too, are answered there (the fallback); modifications, whose expressions run on the shards,
-- refuse them. Functions recorded for the workers (a default needs them) run on the shards.
-- Shard ids of its own, whatever the files before it created.
SELECT setval('pg_catalog.pg_dist_shardid_seq', 1950000) > 0 AS moved;
SET canopy.shard_count = 4;
CREATE FUNCTION co_plus1(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'select $1 + 1';
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
INSERT INTO co_orders VALUES (1, 100, co_plus1(1));
-- … but not what the workers have.
UPDATE co_orders SET amount = co_times2(amount) WHERE tenant = 1 AND id = 1;
-- tableoid of a row names its shard.
SELECT tableoid::regclass FROM co_orders WHERE tenant = 1;
SELECT count(DISTINCT tableoid) FROM co_orders;
DROP TABLE co_orders;
DROP FUNCTION co_plus1(int), co_times2(int);
DROP SEQUENCE co_seq;
RESET canopy.shard_count;
