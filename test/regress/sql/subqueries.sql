-- Subqueries and CTEs over distributed tables: co-located ones run with the outer query on each
-- shard group (one multi-shard pushdown); the others run first as subplans (Distributed Subplan)
-- whose rows feed the outer query, which is then pushed down when it can be.
SET canopy.shard_count = 4;
CREATE TABLE sq_orders (tenant int, id int, amount numeric, note text);
SELECT create_distributed_table('sq_orders', 'tenant');
CREATE TABLE sq_items (tenant int, order_id int, qty int);
SELECT create_distributed_table('sq_items', 'tenant');
CREATE TABLE sq_other (tenant int, label text);
SELECT create_distributed_table('sq_other', 'tenant', colocate_with => 'none');
CREATE TABLE sq_local (id int, label text);
INSERT INTO sq_orders SELECT g % 10, g, g * 1.5, 'n' || g FROM generate_series(1, 40) g;
INSERT INTO sq_items SELECT g % 10, g, g % 3 FROM generate_series(1, 40) g;
INSERT INTO sq_other SELECT g, 'o' || g FROM generate_series(1, 5) g;
INSERT INTO sq_local VALUES (1, 'a'), (2, 'b');

-- A subquery grouped by the distribution column and joined on it: one multi-shard pushdown.
EXPLAIN (COSTS OFF) SELECT o.id, x.total FROM sq_orders o JOIN (SELECT tenant, sum(qty) AS total FROM sq_items GROUP BY tenant) x ON x.tenant = o.tenant WHERE o.id < 4;
SELECT o.id, x.total FROM sq_orders o JOIN (SELECT tenant, sum(qty) AS total FROM sq_items GROUP BY tenant) x ON x.tenant = o.tenant WHERE o.id < 4 ORDER BY o.id;
-- EXISTS correlated on the distribution column, and a CTE read twice: pushed down too.
EXPLAIN (COSTS OFF) SELECT count(*) FROM sq_orders o WHERE EXISTS (SELECT 1 FROM sq_items i WHERE i.tenant = o.tenant AND i.qty = 2);
WITH t AS (SELECT tenant, count(*) AS n FROM sq_items GROUP BY tenant)
SELECT a.tenant, a.n FROM t a JOIN t b ON a.tenant = b.tenant JOIN sq_orders o ON o.tenant = a.tenant AND o.id = a.tenant ORDER BY 1;

-- A subquery with LIMIT runs first, as a subplan; its rows travel to the shards with the outer query.
EXPLAIN (COSTS OFF) SELECT id FROM sq_orders WHERE id IN (SELECT order_id FROM sq_items ORDER BY qty DESC, order_id LIMIT 3);
SELECT id FROM sq_orders WHERE id IN (SELECT order_id FROM sq_items ORDER BY qty DESC, order_id LIMIT 3) ORDER BY id;
-- A CTE grouped by another column and read twice: one subplan, read twice on the coordinator.
EXPLAIN (COSTS OFF) WITH q AS (SELECT qty, count(*) AS n FROM sq_items GROUP BY qty)
SELECT a.qty, b.qty FROM q a JOIN q b ON a.n = b.n AND a.qty < b.qty;
-- Tables of another co-location group and local tables are fetched; the rest is pushed down.
EXPLAIN (COSTS OFF) SELECT count(*) FROM sq_orders o JOIN sq_other t ON t.tenant = o.tenant WHERE t.label <> 'o3';
SELECT count(*) FROM sq_orders o JOIN sq_other t ON t.tenant = o.tenant WHERE t.label <> 'o3';
EXPLAIN (COSTS OFF) SELECT l.label, o.id FROM sq_orders o JOIN sq_local l ON l.id = o.tenant WHERE o.id > 30;
SELECT l.label, o.id FROM sq_orders o JOIN sq_local l ON l.id = o.tenant WHERE o.id > 30 ORDER BY 2;
-- EXPLAIN ANALYZE runs the subplan for its rows.
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, BUFFERS OFF) SELECT count(*) FROM sq_items WHERE tenant = 2 AND order_id = ANY (ARRAY(SELECT id FROM sq_orders WHERE tenant = 1 AND id < 20));

-- The client's statement is recorded once, subplans included.
SELECT canopy_stat_statements_reset();
SELECT count(*) FROM sq_orders WHERE id IN (SELECT order_id FROM sq_items ORDER BY qty DESC, order_id LIMIT 3);
SELECT query, executor, calls FROM canopy_stat_statements ORDER BY query;

-- A subplan's rows are bounded by canopy.max_intermediate_result_size (kB), as they arrive.
SET canopy.max_intermediate_result_size = 1;
SELECT count(*) FROM sq_orders WHERE note IN (SELECT repeat(note, 100) FROM sq_orders WHERE tenant = 1 LIMIT 4);
RESET canopy.max_intermediate_result_size;
SELECT count(*) FROM sq_orders WHERE note IN (SELECT repeat(note, 100) FROM sq_orders WHERE tenant = 1 LIMIT 4);
-- TABLESAMPLE samples each shard where its rows are read; a table read twice shares its fetch.
SELECT count(*) FROM sq_orders TABLESAMPLE SYSTEM (100);
SELECT count(*) FROM sq_orders TABLESAMPLE SYSTEM_ROWS (3);
SELECT count(*) FROM sq_orders TABLESAMPLE pg_catalog.bernoulli (100);
SELECT count(*) FROM sq_orders TABLESAMPLE pg_catalog.system (100) WHERE tenant = 1;
SELECT count(*) FROM sq_orders o TABLESAMPLE BERNOULLI (100) WHERE EXISTS (SELECT 1 FROM sq_orders p WHERE p.note = o.note || 'x');
-- A cursor over distributed tables reads the rows fetched when it is declared.
BEGIN;
DECLARE sq_c SCROLL CURSOR FOR SELECT o.id, count(i.*) FROM sq_orders o LEFT JOIN sq_items i ON i.order_id = o.id AND i.tenant = o.tenant GROUP BY o.id ORDER BY o.id;
FETCH 3 FROM sq_c;
MOVE FORWARD 10 IN sq_c;
FETCH 2 FROM sq_c;
FETCH LAST FROM sq_c;
FETCH BACKWARD 2 FROM sq_c;
UPDATE sq_orders SET note = 'x' WHERE CURRENT OF sq_c;
ROLLBACK;
DECLARE sq_h CURSOR WITH HOLD FOR SELECT id, note FROM sq_orders WHERE tenant = 2 ORDER BY id;
FETCH 2 FROM sq_h;
CLOSE sq_h;
-- Outside a block, a cursor without HOLD is refused before any row is fetched.
SET canopy.max_intermediate_result_size = 1;
DECLARE sq_n CURSOR FOR SELECT id, note FROM sq_orders ORDER BY id;
RESET canopy.max_intermediate_result_size;
BEGIN;
DECLARE sq_l CURSOR FOR SELECT id FROM sq_orders WHERE tenant = 2 FOR UPDATE;
ROLLBACK;
-- A data-modifying WITH under a SELECT runs only where one shard group answers the whole query.
WITH d AS (DELETE FROM sq_orders WHERE id > 1000 RETURNING *) SELECT count(*) FROM d;
WITH d AS (INSERT INTO sq_orders VALUES (1, 1000, 1, 'x') RETURNING id) SELECT * FROM d;
SELECT count(*) FROM sq_orders WHERE id = 1000;
WITH d AS (UPDATE sq_orders SET tenant = 2 WHERE tenant = 1 AND id = 1 RETURNING *) SELECT count(*) FROM d;
CREATE SEQUENCE sq_seq;
WITH d AS (UPDATE sq_orders SET amount = nextval('sq_seq') WHERE tenant = 1 AND id = 1 RETURNING amount) SELECT * FROM d;
-- Over several shards it is refused first, before any of it is prepared.
WITH d AS (UPDATE sq_orders SET amount = nextval('sq_seq') RETURNING amount) SELECT * FROM d;
DROP SEQUENCE sq_seq;
-- SQL-level PREPARE / EXECUTE over distributed tables: arguments cast to the parameters' types.
PREPARE sq_by_tenant(int) AS SELECT id, amount FROM sq_orders WHERE tenant = $1 ORDER BY id LIMIT 3;
EXECUTE sq_by_tenant(2);
EXECUTE sq_by_tenant('3');
PREPARE sq_count AS SELECT count(*) FROM sq_orders o JOIN sq_items i ON i.tenant = o.tenant AND i.order_id = o.id WHERE i.qty > $1;
EXECUTE sq_count(1);
PREPARE sq_touch(int, text) AS UPDATE sq_orders SET note = $2 WHERE tenant = $1 AND id = $1 RETURNING id, note;
BEGIN;
EXECUTE sq_touch(4, 'prepared');
ROLLBACK;
EXECUTE sq_by_tenant(1, 2);
EXECUTE sq_by_tenant(length(statement));
EXECUTE sq_by_tenant((SELECT 2));
CREATE TABLE sq_copy AS EXECUTE sq_by_tenant(2);
EXPLAIN EXECUTE sq_count(1);
SELECT name FROM pg_prepared_statements WHERE name LIKE 'sq%' ORDER BY name;
DEALLOCATE sq_by_tenant;
EXECUTE sq_by_tenant(2);
DEALLOCATE ALL;
-- MERGE into a distributed table runs shard by shard when each shard decides alone; otherwise its
-- source runs first and each row goes to the shard of the value the join gives the distribution column.
EXPLAIN (COSTS OFF) MERGE INTO sq_items i USING sq_orders o ON i.tenant = o.tenant AND i.order_id = o.id WHEN MATCHED AND o.amount > 50 THEN DELETE;
EXPLAIN (COSTS OFF) MERGE INTO sq_items i USING sq_local l ON i.tenant = l.id WHEN MATCHED THEN DELETE;
EXPLAIN (ANALYZE) MERGE INTO sq_items i USING sq_local l ON i.tenant = l.id WHEN MATCHED THEN DELETE;
MERGE INTO sq_items i USING sq_local l ON i.tenant = l.id WHEN MATCHED THEN DELETE;
SELECT count(*) FROM sq_items WHERE tenant IN (1, 2);
MERGE INTO sq_items i USING (SELECT tenant, max(id) AS id FROM sq_other o JOIN sq_orders USING (tenant) GROUP BY tenant) s ON i.tenant = s.tenant
  WHEN MATCHED AND i.order_id = s.id THEN UPDATE SET qty = i.qty + 100 WHEN NOT MATCHED THEN INSERT VALUES (s.tenant, s.id, -1);
SELECT tenant, order_id, qty FROM sq_items WHERE qty >= 100 OR qty < 0 ORDER BY 1, 2;
SET canopy.max_intermediate_result_size = 1;
MERGE INTO sq_items i USING (SELECT g AS tenant, repeat('x', 100) AS pad FROM generate_series(1, 100) g) s ON i.tenant = s.tenant WHEN MATCHED THEN DELETE;
RESET canopy.max_intermediate_result_size;
-- What cannot be split by shard is refused before anything changes.
MERGE INTO sq_items i USING sq_orders o ON i.order_id = o.id WHEN MATCHED THEN DELETE;
MERGE INTO sq_items i USING sq_orders o ON i.tenant = o.tenant WHEN NOT MATCHED THEN INSERT (tenant, order_id) VALUES (o.id, o.id);
MERGE INTO sq_items i USING sq_orders o JOIN sq_other t ON t.tenant = o.tenant ON i.tenant = o.tenant WHEN MATCHED THEN DELETE;
MERGE INTO sq_items i USING sq_local l ON i.tenant = l.id WHEN MATCHED AND EXISTS (SELECT 1 FROM sq_other) THEN DELETE;
MERGE INTO sq_items i USING (VALUES (3.0)) v(t) ON i.tenant = v.t WHEN MATCHED THEN DELETE;
MERGE INTO sq_items i USING sq_local l ON i.tenant = l.id WHEN MATCHED THEN UPDATE SET tenant = 5;
-- Statements of one query string after non-ASCII text are cut where they are.
SELECT 'ü' AS a \; SELECT count(*) FROM sq_orders \; SELECT 'ünïcode' AS b;
/* é */ SELECT count(*) FROM sq_orders WHERE tenant = 1;
DROP TABLE sq_orders, sq_items, sq_other, sq_local;
RESET canopy.shard_count;
