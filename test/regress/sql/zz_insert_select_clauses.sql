-- INSERT … SELECT into distributed and reference tables runs its ON CONFLICT clause and RETURNING
-- list on each shard receiving rows: what would read other shards' rows, or what the workers
-- lack, is refused there (as INSERT … VALUES and UPDATE refuse it); the rest runs.
CREATE TABLE isc_src (k int PRIMARY KEY, v int);
CREATE TABLE isc_dst (k int PRIMARY KEY, v int);
CREATE TABLE isc_ref (k int PRIMARY KEY, v int);
CREATE TABLE isc_local (k int, v int);
SELECT create_distributed_table('isc_src', 'k');
SELECT create_distributed_table('isc_dst', 'k');
SELECT create_reference_table('isc_ref');
INSERT INTO isc_src SELECT g, g FROM generate_series(1, 10) g;
INSERT INTO isc_local VALUES (1, 1);
-- STABLE: an IMMUTABLE one the workers would get when it is created.
CREATE FUNCTION isc_add(int) RETURNS int LANGUAGE sql STABLE AS 'SELECT $1 + 1000';
-- Subqueries reading tables, in RETURNING and in ON CONFLICT.
INSERT INTO isc_dst SELECT k, v FROM isc_src WHERE k <= 2 RETURNING k, (SELECT count(*) FROM isc_src);
INSERT INTO isc_dst SELECT k, v FROM isc_src WHERE k <= 2 ON CONFLICT (k) DO UPDATE SET v = (SELECT count(*) FROM isc_src);
INSERT INTO isc_dst SELECT k, v FROM isc_src WHERE k <= 2 ON CONFLICT (k) DO UPDATE SET v = -1 WHERE (SELECT count(*) FROM isc_src) > 5;
INSERT INTO isc_dst SELECT g, g FROM generate_series(20, 21) g RETURNING (SELECT count(*) FROM isc_local);
INSERT INTO isc_ref SELECT g, g FROM generate_series(6, 7) g RETURNING EXISTS (SELECT 1 FROM isc_src WHERE k = 9);
INSERT INTO isc_dst VALUES (30, 30) RETURNING k, (SELECT count(*) FROM isc_local);
-- Functions the workers lack, or would answer about themselves.
INSERT INTO isc_dst SELECT k, v FROM isc_src WHERE k = 4 RETURNING k, isc_add(k);
INSERT INTO isc_dst SELECT k, v FROM isc_src WHERE k = 5 ON CONFLICT (k) DO UPDATE SET v = isc_add(EXCLUDED.v);
INSERT INTO isc_dst SELECT k, v FROM isc_src WHERE k = 3 RETURNING k, 'isc_src'::regclass;
INSERT INTO isc_dst SELECT k, v FROM isc_src WHERE k = 6 RETURNING k, to_regclass('isc_dst')::text;
-- Nothing of the refused statements was written.
SELECT count(*) FROM isc_dst;
SELECT count(*) FROM isc_ref;
-- What runs alike on every shard still runs.
INSERT INTO isc_dst SELECT k, v FROM isc_src WHERE k <= 3 RETURNING k, (SELECT 1) AS one, v * 2 AS twice;
INSERT INTO isc_dst SELECT k, v FROM isc_src WHERE k <= 3 ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v + 100 RETURNING k, v;
-- The rows' query, its WITH clause too, may call what only the coordinator has.
WITH x AS (SELECT g AS k, isc_add(g) AS v FROM generate_series(40, 41) g) INSERT INTO isc_dst SELECT * FROM x;
INSERT INTO isc_dst SELECT 42, isc_add(42);
SELECT k, v FROM isc_dst ORDER BY k;
DROP FUNCTION isc_add(int);
-- Subqueries in INSERT … VALUES reading other tables run first; a WITH clause modifying data is
-- refused before anything runs.
INSERT INTO isc_dst VALUES ((SELECT max(k) FROM isc_src) + 100, (SELECT v FROM isc_local)) RETURNING k, v;
WITH gone AS (DELETE FROM isc_src WHERE k = 1 RETURNING k) INSERT INTO isc_dst VALUES ((SELECT k FROM gone) + 200, 0);
SELECT count(*) FROM isc_src WHERE k = 1;
DROP TABLE isc_src, isc_dst, isc_ref, isc_local;
