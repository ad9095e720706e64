-- Sequences, identity columns and non-constant defaults of distributed and reference tables are
-- evaluated on the coordinator: values unique across shards, now() the coordinator
-- transaction's for every shard, in INSERT … VALUES, INSERT … SELECT, UPDATE and COPY.
CREATE TABLE stamps (tenant int, at timestamptz DEFAULT now(), at2 timestamptz, id bigserial, note text DEFAULT 'n');
SELECT create_distributed_table('stamps', 'tenant');
BEGIN;
INSERT INTO stamps (tenant, at2) SELECT g, now() FROM generate_series(1, 20) g;
INSERT INTO stamps (tenant, at2) VALUES (21, now()), (22, CURRENT_TIMESTAMP), (23, transaction_timestamp());
COPY stamps (tenant, at2) FROM STDIN;
24	2020-01-01
25	\N
\.
SELECT count(*), count(DISTINCT at), bool_and(at = now()), count(*) FILTER (WHERE at2 = now()) AS at2_now FROM stamps;
UPDATE stamps SET at2 = now() WHERE tenant > 10;
SELECT count(DISTINCT at2), bool_and(at2 = now()) FROM stamps WHERE tenant > 10;
COMMIT;
SELECT count(*), count(DISTINCT id), min(id), max(id), count(DISTINCT note) FROM stamps;
-- Rows are spread over the workers: the sequence lives on the coordinator alone.
SELECT count(DISTINCT nodeport) > 1 AS several_nodes FROM canopy_shards WHERE table_name = 'stamps'::regclass;

-- A bigserial distribution column: rows are routed by the value the coordinator draws.
CREATE TABLE tickets (id bigserial PRIMARY KEY, title text);
SELECT create_distributed_table('tickets', 'id');
INSERT INTO tickets (title) VALUES ('a'), ('b');
INSERT INTO tickets (title) SELECT 'gen ' || g FROM generate_series(1, 3) g;
INSERT INTO tickets VALUES (DEFAULT, 'default') RETURNING *;
COPY tickets (title) FROM STDIN (FORMAT csv);
"quoted, with comma"
plain
\.
SELECT * FROM tickets ORDER BY id;
COPY tickets (title) FROM STDIN (FORMAT binary);

-- Identity columns.
CREATE TABLE ident (id int GENERATED ALWAYS AS IDENTITY, tenant int, label text);
SELECT create_distributed_table('ident', 'tenant');
INSERT INTO ident (tenant, label) VALUES (5, 'a'), (6, 'b');
INSERT INTO ident (id, tenant) VALUES (1, 5);
INSERT INTO ident (id, tenant, label) OVERRIDING SYSTEM VALUE VALUES (100, 5, 'override') RETURNING *;
INSERT INTO ident (tenant, label) SELECT g, 'sel' FROM generate_series(7, 9) g;
SELECT * FROM ident ORDER BY id;
INSERT INTO ident (id, tenant) SELECT 1, 5;
-- OVERRIDING USER VALUE: the values given for the identity column are ignored, in VALUES as in a
-- SELECT (through the coordinator, and between co-located tables).
INSERT INTO ident (id, tenant, label) OVERRIDING USER VALUE VALUES (777, 5, 'user'), (DEFAULT, 6, 'user') RETURNING *;
INSERT INTO ident (id, tenant, label) OVERRIDING USER VALUE SELECT 888, 7, 'user-select' RETURNING *;
CREATE TABLE ident_source (id int, tenant int);
SELECT create_distributed_table('ident_source', 'tenant', colocate_with => 'ident');
INSERT INTO ident_source VALUES (999, 8);
INSERT INTO ident (id, tenant, label) OVERRIDING USER VALUE SELECT id, tenant, 'co-located' FROM ident_source RETURNING *;
SELECT count(*) FILTER (WHERE id IN (777, 888, 999)) AS user_values, count(DISTINCT id) = count(*) AS unique_ids FROM ident;

-- A reference table with a serial key: every placement gets the same values.
CREATE TABLE colors (id serial PRIMARY KEY, name text, added timestamptz DEFAULT now());
SELECT create_reference_table('colors');
INSERT INTO colors (name) VALUES ('red'), ('green') RETURNING id, name;
SELECT count(*) AS workers, count(DISTINCT result) AS distinct_contents
  FROM run_command_on_workers($$SELECT string_agg(id || ':' || name || ':' || added::text, ',' ORDER BY id) FROM public.colors_$$
                              || (SELECT shardid FROM pg_dist_shard WHERE logicalrelid = 'colors'::regclass));

-- What the coordinator cannot evaluate per row is refused.
INSERT INTO tickets (title) VALUES ('seq') RETURNING id, currval('tickets_id_seq');
INSERT INTO tickets (title) SELECT 'seq' ON CONFLICT (id) DO UPDATE SET title = nextval('tickets_id_seq')::text;
UPDATE stamps SET id = DEFAULT WHERE tenant = 1;
UPDATE stamps SET note = 'x' || nextval('stamps_id_seq') WHERE tenant = 1;
UPDATE stamps SET note = DEFAULT, at = DEFAULT WHERE tenant = 1 RETURNING note, at = now() AS at_now;
DROP TABLE stamps, tickets, ident, ident_source, colors;

-- A default dropped with its sequence (DROP SEQUENCE … CASCADE) is gone for every later statement,
-- also when a sequence of that name comes back.
CREATE SEQUENCE gone_seq;
CREATE TABLE gone (k int, n int DEFAULT nextval('gone_seq'));
SELECT create_distributed_table('gone', 'k');
INSERT INTO gone (k) VALUES (1);
DROP SEQUENCE gone_seq CASCADE;
INSERT INTO gone (k) VALUES (2);
CREATE SEQUENCE gone_seq START 500;
INSERT INTO gone (k) VALUES (3);
INSERT INTO gone (k) SELECT 4;
COPY gone (k) FROM STDIN;
5
\.
SELECT k, n FROM gone ORDER BY k;
DROP TABLE gone;
DROP SEQUENCE gone_seq;
