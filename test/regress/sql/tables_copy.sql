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
SELECT result FROM run_command_on_workers('SELECT count(*) FROM pg_prepared_xacts');
DROP TABLE copy_orders, copy_codes;
