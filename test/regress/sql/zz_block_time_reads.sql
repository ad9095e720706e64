-- A single-shard read in a block sees the block's start time in now(), CURRENT_TIMESTAMP,
-- transaction_timestamp() and LOCALTIMESTAMP, as every statement of a PostgreSQL transaction
-- does (the worker's own now() is its part's start, later in the block).
CREATE TABLE block_times (id int, ts timestamptz);
SELECT create_distributed_table('block_times', 'id');
CREATE TABLE block_refs (id int);
SELECT create_reference_table('block_refs');
INSERT INTO block_refs VALUES (1);
BEGIN;
SELECT now() AS t0 \gset
SELECT pg_sleep(0.2);
INSERT INTO block_times VALUES (1, now());
SELECT now() = :'t0'::timestamptz AS same FROM block_times WHERE id = 1;
SELECT CURRENT_TIMESTAMP = :'t0'::timestamptz AS same FROM block_times WHERE id = 1;
SELECT transaction_timestamp() = :'t0'::timestamptz AS same FROM block_times WHERE id = 1;
SELECT localtimestamp = :'t0'::timestamptz::timestamp AS same FROM block_times WHERE id = 1;
SELECT now() = :'t0'::timestamptz AS same FROM block_refs WHERE id = 1;
SELECT count(*) FROM block_times WHERE id = 1 AND ts = now();
COMMIT;
DROP TABLE block_times, block_refs;
