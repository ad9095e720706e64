-- EXPLAIN [ANALYZE] of statements on distributed and reference tables: a Custom Scan with the
-- tasks, one of them (or all, with canopy.explain_all_tasks) explained by its worker, and the
-- coordinator's own plan above it where the coordinator combines rows.
SET canopy.shard_count = 4;
CREATE TABLE ex_orders (tenant int, id int, amount numeric, note text);
SELECT create_distributed_table('ex_orders', 'tenant');
CREATE TABLE ex_items (tenant int, order_id int, qty int);
SELECT create_distributed_table('ex_items', 'tenant');
CREATE TABLE ex_kinds (kind int PRIMARY KEY, label text);
SELECT create_reference_table('ex_kinds');
CREATE TABLE ex_local (id int, label text);
INSERT INTO ex_orders SELECT g % 10, g, g * 1.5, 'n' || g FROM generate_series(1, 40) g;
INSERT INTO ex_items SELECT g % 10, g, g % 3 FROM generate_series(1, 40) g;
INSERT INTO ex_kinds VALUES (0, 'zero'), (1, 'one'), (2, 'two');
INSERT INTO ex_local VALUES (1, 'a'), (2, 'b');

-- Router: one task on the shard holding tenant 3.
EXPLAIN (COSTS OFF) SELECT * FROM ex_orders WHERE tenant = 3;
EXPLAIN (COSTS OFF) SELECT o.id, i.qty FROM ex_orders o JOIN ex_items i ON o.tenant = i.tenant AND o.id = i.order_id WHERE o.tenant = 3;
-- Reference tables only: one task on a worker holding them.
EXPLAIN (COSTS OFF) SELECT * FROM ex_kinds WHERE kind = 1;
-- Multi-shard, rows concatenated: one task per worker.
EXPLAIN (COSTS OFF) SELECT id FROM ex_orders WHERE amount > 50;
-- Aggregates: partial aggregates on the workers, combined by the coordinator.
EXPLAIN (COSTS OFF) SELECT count(*), sum(amount) FROM ex_orders;
EXPLAIN (COSTS OFF) SELECT note, count(*) FROM ex_orders GROUP BY note ORDER BY 2 DESC, 1 LIMIT 3;
-- Ordered aggregates: each shard group sends, per group, its rows' inputs (json_agg, FILTER applied
-- there); the coordinator sorts them and runs the aggregate (SubPlan 1).
EXPLAIN (VERBOSE, COSTS OFF) SELECT id % 3 AS r, string_agg(note, ',' ORDER BY amount DESC) FILTER (WHERE id > 30) FROM ex_orders GROUP BY 1;
SELECT id % 3 AS r, string_agg(note, ',' ORDER BY amount DESC) FILTER (WHERE id > 30) FROM ex_orders GROUP BY 1 ORDER BY 1;
-- Joins with reference tables, pushed down.
EXPLAIN (COSTS OFF) SELECT k.label, count(*) FROM ex_items i JOIN ex_kinds k ON i.qty = k.kind GROUP BY k.label;
-- Joins not on the distribution column and with local tables: one side's rows fetched first (a
-- subplan), the rest pushed down.
EXPLAIN (COSTS OFF) SELECT count(*) FROM ex_orders o JOIN ex_items i ON o.id = i.qty;
EXPLAIN (COSTS OFF) SELECT l.label, o.id FROM ex_orders o JOIN ex_local l ON o.id = l.id WHERE o.tenant = 1;
-- The fallback: the rows of each distributed table fetched, the statement run on the coordinator.
EXPLAIN (COSTS OFF) SELECT count(*) FROM ex_orders o WHERE o.amount > (SELECT avg(i.qty) FROM ex_items i WHERE i.order_id = o.id);
-- All tasks.
SET canopy.explain_all_tasks = on;
EXPLAIN (COSTS OFF) SELECT id FROM ex_orders WHERE amount > 50;
EXPLAIN (COSTS OFF) SELECT count(*) FROM ex_orders;
RESET canopy.explain_all_tasks;
-- Modifications: nothing changes without ANALYZE.
EXPLAIN (COSTS OFF) INSERT INTO ex_orders VALUES (5, 100, 1, 'x');
EXPLAIN (COSTS OFF) INSERT INTO ex_orders VALUES (5, 100, 1, 'x'), (6, 101, 1, 'y');
EXPLAIN (COSTS OFF) UPDATE ex_orders SET amount = amount + 1 WHERE tenant = 4;
EXPLAIN (COSTS OFF) DELETE FROM ex_orders WHERE amount > 10;
EXPLAIN (COSTS OFF) UPDATE ex_kinds SET label = 'uno' WHERE kind = 1;
SELECT count(*), sum(amount) FROM ex_orders;
-- INSERT … SELECT: pushed down between co-located tables, or pulled to the coordinator.
EXPLAIN (COSTS OFF) INSERT INTO ex_items (tenant, order_id, qty) SELECT tenant, id, 1 FROM ex_orders WHERE amount > 50;
EXPLAIN (COSTS OFF) INSERT INTO ex_items (tenant, order_id, qty) SELECT id, tenant, 1 FROM ex_orders;
SELECT count(*) FROM ex_items;
-- EXPLAIN ANALYZE runs the statement.
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, BUFFERS OFF) SELECT * FROM ex_orders WHERE tenant = 3;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, BUFFERS OFF) SELECT id FROM ex_orders WHERE amount > 50;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, BUFFERS OFF) SELECT count(*) FROM ex_orders;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, BUFFERS OFF) SELECT o.id, l.label FROM ex_orders o, ex_local l WHERE o.tenant = 1 AND l.id = 1;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, BUFFERS OFF) INSERT INTO ex_orders VALUES (50, 50, 75, 'analyzed');
SELECT * FROM ex_orders WHERE tenant = 50;
BEGIN;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, BUFFERS OFF) UPDATE ex_orders SET amount = 0 WHERE amount > 10;
SELECT count(*) FROM ex_orders WHERE amount = 0;
ROLLBACK;
SELECT count(*) FROM ex_orders WHERE amount = 0;
-- A local table joined on the distribution column: each shard reads only the rows whose value
-- hashes to it, and shards no row goes to do not run.
SET canopy.explain_all_tasks = on;
BEGIN;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, BUFFERS OFF) UPDATE ex_orders o SET note = l.label FROM ex_local l WHERE o.tenant = l.id;
SELECT tenant, note, count(*) FROM ex_orders WHERE note IN ('a', 'b') GROUP BY 1, 2 ORDER BY 1;
ROLLBACK;
RESET canopy.explain_all_tasks;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, BUFFERS OFF) DELETE FROM ex_orders WHERE tenant = 3 AND id = 3;
SELECT count(*) FROM ex_orders WHERE tenant = 3;
-- A failing task leaves no write behind.
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, BUFFERS OFF) UPDATE ex_orders SET amount = amount / (tenant - 1);
SELECT count(*) FROM ex_orders WHERE amount <> id * 1.5;
-- Refused: formats other than text, statements EXPLAIN cannot describe.
EXPLAIN (FORMAT JSON) SELECT * FROM ex_orders;
EXPLAIN (ANALYZE) INSERT INTO ex_items (tenant, order_id, qty) SELECT id, tenant, 1 FROM ex_orders;
EXPLAIN CREATE TABLE ex_copy AS SELECT * FROM ex_orders;
EXPLAIN (TIMING) SELECT * FROM ex_orders;
DROP TABLE ex_orders, ex_items, ex_kinds, ex_local;
RESET canopy.shard_count;
