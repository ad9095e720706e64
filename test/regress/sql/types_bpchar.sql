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
-- An aggregate the coordinator computes from its inputs (ORDER BY inside it) over a bpchar
-- column, and over a domain over bpchar.
CREATE DOMAIN bp_domain AS bpchar;
CREATE TABLE bp_more (id int, b bpchar, d bp_domain);
SELECT create_distributed_table('bp_more', 'id');
CREATE TABLE bp_more_local (id int, b bpchar, d bp_domain);
INSERT INTO bp_more SELECT id, b, b::bp_domain FROM bp_local;
INSERT INTO bp_more_local SELECT id, b, b::bp_domain FROM bp_local;
SELECT array_agg(b ORDER BY id)::text, array_agg(d ORDER BY id DESC)::text FROM bp_more;
SELECT array_agg(b ORDER BY id)::text, array_agg(d ORDER BY id DESC)::text FROM bp_more_local;
SELECT d.id, format('[%s]', d.d) FROM bp_more d JOIN bp_local l USING (id) WHERE l.g = 1 ORDER BY d.id;
SELECT d.id, format('[%s]', d.d) FROM bp_more_local d JOIN bp_local l USING (id) WHERE l.g = 1 ORDER BY d.id;
-- Values the coordinator evaluates for an INSERT (an expression it must run, a volatile
-- default, EXECUTE's arguments) and rows moved by an UPDATE of the distribution column.
ALTER TABLE bp_more ADD COLUMN v bpchar DEFAULT ('v' || (clock_timestamp() > '2000-01-01')::int || '  ')::bpchar;
ALTER TABLE bp_more_local ADD COLUMN v bpchar DEFAULT ('v' || (clock_timestamp() > '2000-01-01')::int || '  ')::bpchar;
INSERT INTO bp_more (id, b, d) VALUES (20, (SELECT 'q  '::bpchar), ('r' || '  ')::bp_domain);
INSERT INTO bp_more_local (id, b, d) VALUES (20, (SELECT 'q  '::bpchar), ('r' || '  ')::bp_domain);
PREPARE bp_insert(bpchar, bp_domain) AS INSERT INTO bp_more (id, b, d) VALUES (21, $1, $2);
EXECUTE bp_insert('s  ', 't  ');
PREPARE bp_insert_local(bpchar, bp_domain) AS INSERT INTO bp_more_local (id, b, d) VALUES (21, $1, $2);
EXECUTE bp_insert_local('s  ', 't  ');
UPDATE bp_more SET id = id + 100 WHERE id IN (1, 2, 20);
UPDATE bp_more_local SET id = id + 100 WHERE id IN (1, 2, 20);
SELECT id, format('[%s] [%s] [%s]', b, d, v) FROM bp_more WHERE id > 20 ORDER BY id;
SELECT id, format('[%s] [%s] [%s]', b, d, v) FROM bp_more_local WHERE id > 20 ORDER BY id;
DEALLOCATE bp_insert;
DEALLOCATE bp_insert_local;
DROP TABLE bp_dist, bp_local, bp_target, bp_more, bp_more_local;
DROP DOMAIN bp_domain;
DROP SEQUENCE bp_seq;
