-- COPY into and out of distributed and reference tables: what Canopy refuses, and errors that
-- plain PostgreSQL would not give (the distribution column cannot be NULL).
CREATE TABLE copy_orders (tenant int NOT NULL, id int, item text, PRIMARY KEY (tenant, id));
SELECT create_distributed_table('copy_orders', 'tenant', shard_count => 4);
CREATE TABLE copy_codes (code text PRIMARY KEY);
SELECT create_reference_table('copy_codes');
COPY copy_orders FROM STDIN;
1	1	apple
2	1	pear
3	1	plum
\.
COPY copy_orders (tenant, id) FROM STDIN (FORMAT csv, HEADER match);
tenant,id
4,1
\.
COPY copy_orders (tenant, id) FROM STDIN (FORMAT csv, HEADER match);
id,tenant
5,1
\.
COPY copy_orders FROM STDIN;
6	1	fig
\N	2	nothing
\.
COPY copy_orders (id, item) FROM STDIN;
COPY copy_orders (tenant, nosuch) FROM STDIN;
COPY copy_orders (tenant, tenant) FROM STDIN;
COPY copy_orders FROM '/tmp/orders.txt';
COPY copy_orders TO '/tmp/orders.txt';
COPY copy_orders FROM STDIN WHERE tenant > 1;
COPY copy_codes FROM STDIN;
A
B
\.
SELECT tenant, id, item FROM copy_orders ORDER BY tenant, id;
COPY copy_codes TO STDOUT;
COPY (SELECT o.tenant, c.code FROM copy_orders o CROSS JOIN copy_codes c WHERE o.tenant < 3 ORDER BY 1, 2) TO STDOUT (FORMAT csv, HEADER);
-- A modification as COPY's query would run on every shard, once each: refused.
COPY (INSERT INTO copy_orders VALUES (9, 900, 'new') RETURNING id) TO STDOUT;
COPY (WITH d AS (DELETE FROM copy_orders WHERE tenant = 1 RETURNING id) SELECT * FROM d) TO STDOUT;
SELECT count(*) FROM copy_orders WHERE id = 900;
-- Rows are routed by their bytes: a text key in another encoding, and 'now' (each worker's own time), are refused.
CREATE TABLE copy_texts (k text, v int);
SELECT create_distributed_table('copy_texts', 'k');
COPY copy_texts FROM STDIN (ENCODING 'LATIN1');
COPY copy_texts FROM STDIN (ENCODING 'UTF8');
café	1
\.
-- FORCE_NULL makes a quoted empty key NULL, which no shard can take.
COPY copy_texts FROM STDIN (FORMAT csv, FORCE_NULL (k));
"",2
\.
CREATE TABLE copy_times (at timestamp, v int);
SELECT create_distributed_table('copy_times', 'at');
COPY copy_times FROM STDIN;
2024-01-02 03:04:05	1
now	2
\.
SELECT k, v FROM copy_texts WHERE k = 'café';
SELECT count(*) FROM copy_times;
SELECT result FROM run_command_on_workers('SELECT count(*) FROM pg_prepared_xacts');
DROP TABLE copy_orders, copy_codes, copy_texts, copy_times;
