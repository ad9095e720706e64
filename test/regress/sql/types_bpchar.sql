-- Values of type bpchar keep their trailing spaces through distributed queries, as in one
-- PostgreSQL: aggregates over char(n) give a bpchar without a length (which is not char(1)), and
-- a bpchar column without a length stores the spaces written. Each query runs over the
-- distributed table and over a table of the coordinator database holding the same rows;
-- format('[%s]') shows the spaces.
CREATE TABLE bp_dist (id int, c char(5), b bpchar, g int);
SELECT create_distributed_table('bp_dist', 'id');
CREATE TABLE bp_local (id int, c char(5), b bpchar, g int);
INSERT INTO bp_dist SELECT i, 'ab' || i, 'x' || i || repeat(' ', i % 3), i % 3 FROM generate_series(1, 12) i;
INSERT INTO bp_local SELECT * FROM bp_dist ORDER BY id;
-- Aggregates over the shards (pushed down).
SELECT format('[%s] [%s] [%s]', max(c), min(c), max(b)) FROM bp_dist;
SELECT format('[%s] [%s] [%s]', max(c), min(c), max(b)) FROM bp_local;
SELECT g, format('[%s] [%s]', max(c), min(b)) FROM bp_dist GROUP BY g ORDER BY g;
SELECT g, format('[%s] [%s]', max(c), min(b)) FROM bp_local GROUP BY g ORDER BY g;
SELECT DISTINCT format('[%s]', c::bpchar) FROM bp_dist ORDER BY 1 LIMIT 4;
SELECT DISTINCT format('[%s]', c::bpchar) FROM bp_local ORDER BY 1 LIMIT 4;
-- Rows fetched to the coordinator (a join with a table of the coordinator database).
SELECT d.id, format('[%s] [%s]', d.c, d.b) FROM bp_dist d JOIN bp_local l USING (id) WHERE l.g = 1 ORDER BY d.id;
SELECT d.id, format('[%s] [%s]', d.c, d.b) FROM bp_local d JOIN bp_local l USING (id) WHERE l.g = 1 ORDER BY d.id;
-- A value the coordinator evaluates for an INSERT (it calls a sequence) keeps its type, bpchar,
-- and then its column's: text drops the spaces, char(8) pads to 8.
CREATE TABLE bp_target (id int, t text, c char(8));
SELECT create_distributed_table('bp_target', 'id');
CREATE SEQUENCE bp_seq;
INSERT INTO bp_target VALUES (1, ('n' || nextval('bp_seq'))::char(10), ('m' || nextval('bp_seq'))::char(10));
SELECT id, format('[%s] [%s]', t, c) FROM bp_target;
DROP TABLE bp_dist, bp_local, bp_target;
DROP SEQUENCE bp_seq;
