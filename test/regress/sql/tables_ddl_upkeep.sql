-- Privileges, REINDEX and the values of added columns on distributed and reference tables.
-- Worker catalogs are read with shard ids cut off the names.
SET canopy.shard_count = 4;
CREATE ROLE upkeep_reader;
SELECT result FROM run_command_on_workers($$SELECT count(*) FROM pg_roles WHERE rolname = 'upkeep_reader'$$) ORDER BY nodeport;
CREATE SCHEMA upkeep;
CREATE TABLE upkeep.events (tenant int, at timestamptz, note text);
INSERT INTO upkeep.events SELECT g, '2024-01-01 00:00:00+00'::timestamptz + g * interval '1 hour', 'n' || g FROM generate_series(1, 20) g;
-- Privileges granted on a table before it is distributed are its shards' too (so are those that
-- ALTER DEFAULT PRIVILEGES gave it: they are the table's own).
ALTER DEFAULT PRIVILEGES IN SCHEMA upkeep GRANT INSERT ON TABLES TO upkeep_reader;
CREATE TABLE upkeep.kinds (kind text PRIMARY KEY, label text);
INSERT INTO upkeep.kinds VALUES ('a', 'A');
GRANT SELECT, UPDATE (note) ON upkeep.events TO upkeep_reader;
SELECT create_distributed_table('upkeep.events', 'tenant');
SELECT create_reference_table('upkeep.kinds');
SELECT result FROM run_command_on_workers($$SELECT string_agg(DISTINCT regexp_replace(c.relname, '_[0-9]+$', '') || ':' || array_to_string(ARRAY(SELECT privilege_type FROM aclexplode(c.relacl) a WHERE a.grantee = 'upkeep_reader'::regrole ORDER BY 1), ','), ' ') FROM pg_class c WHERE c.relname ~ '^(events|kinds)_[0-9]+$'$$) ORDER BY nodeport;
SELECT result FROM run_command_on_workers($$SELECT bool_and(has_column_privilege('upkeep_reader', oid, 'note', 'UPDATE')) || ' ' || bool_or(has_column_privilege('upkeep_reader', oid, 'at', 'UPDATE')) FROM pg_class WHERE relname ~ '^events_[0-9]+$'$$) ORDER BY nodeport;
ALTER DEFAULT PRIVILEGES IN SCHEMA upkeep REVOKE INSERT ON TABLES FROM upkeep_reader;

-- GRANT / REVOKE … ON ALL TABLES IN SCHEMA reach the shards of the distributed and reference tables there.
REVOKE ALL ON ALL TABLES IN SCHEMA upkeep FROM upkeep_reader;
SELECT result FROM run_command_on_workers($$SELECT bool_or(has_table_privilege('upkeep_reader', oid, 'SELECT,INSERT,UPDATE')) || ' ' || bool_or(CASE WHEN relname LIKE 'events%' THEN has_column_privilege('upkeep_reader', oid, 'note', 'UPDATE') END) FROM pg_class WHERE relname ~ '^(events|kinds)_[0-9]+$'$$) ORDER BY nodeport;
GRANT SELECT ON ALL TABLES IN SCHEMA upkeep, public TO upkeep_reader;
SELECT has_table_privilege('upkeep_reader', 'upkeep.events', 'SELECT'), has_table_privilege('upkeep_reader', 'upkeep.kinds', 'SELECT');
SELECT result FROM run_command_on_workers($$SELECT bool_and(has_table_privilege('upkeep_reader', oid, 'SELECT')) FROM pg_class WHERE relname ~ '^(events|kinds)_[0-9]+$'$$) ORDER BY nodeport;
-- A role the workers lack (dropped there behind Canopy's back): refused there, nothing changes.
CREATE ROLE upkeep_nobody;
SELECT result FROM run_command_on_workers('DROP ROLE upkeep_nobody') ORDER BY nodeport;
GRANT SELECT ON ALL TABLES IN SCHEMA upkeep TO upkeep_nobody;
SELECT has_table_privilege('upkeep_nobody', 'upkeep.events', 'SELECT');
DROP ROLE upkeep_nobody;

-- REINDEX TABLE / INDEX reach the shards' tables and indexes, also in a transaction block;
-- CONCURRENTLY and REINDEX SCHEMA run outside one (refused inside, as in PostgreSQL).
CREATE INDEX events_at ON upkeep.events (at);
REINDEX TABLE upkeep.events;
REINDEX INDEX upkeep.events_at;
REINDEX TABLE upkeep.kinds;
BEGIN;
REINDEX INDEX upkeep.kinds_pkey;
ROLLBACK;
REINDEX (CONCURRENTLY) TABLE upkeep.events;
REINDEX INDEX CONCURRENTLY upkeep.events_at;
REINDEX SCHEMA upkeep;
BEGIN;
REINDEX SCHEMA upkeep;
ROLLBACK;
BEGIN;
REINDEX TABLE CONCURRENTLY upkeep.events;
ROLLBACK;
SELECT result FROM run_command_on_workers($$SELECT count(*) FILTER (WHERE i.indisvalid) || ' valid of ' || count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname ~ '^(events_at|kinds_pkey)_'$$) ORDER BY nodeport;

-- ADD COLUMN with a default that is not volatile fills the rows already there with one value,
-- computed once by the coordinator as PostgreSQL computes it once (now() is the transaction's);
-- volatile defaults are computed row by row, as in PostgreSQL; the column's default stays the
-- expression on the shell and the shards. USING gets the coordinator transaction's now().
BEGIN;
ALTER TABLE upkeep.events ADD COLUMN seen timestamptz DEFAULT now(), ADD COLUMN day date NOT NULL DEFAULT CURRENT_DATE + 1, ADD COLUMN r float8 DEFAULT random(), ADD COLUMN k int DEFAULT 7;
SELECT count(DISTINCT seen) AS seen_values, bool_and(seen = now()) AS seen_is_now, count(DISTINCT day) AS days, bool_and(day = CURRENT_DATE + 1) AS tomorrow, count(DISTINCT r) AS randoms, count(DISTINCT k) AS ks FROM upkeep.events;
ALTER TABLE upkeep.kinds ADD COLUMN added timestamptz DEFAULT now();
SELECT (SELECT min(added) FROM upkeep.kinds) = (SELECT min(seen) FROM upkeep.events) AS same_now;
COMMIT;
SELECT column_name, column_default FROM information_schema.columns WHERE table_schema = 'upkeep' AND table_name = 'events' ORDER BY ordinal_position;
SELECT result FROM run_command_on_workers($$SELECT string_agg(DISTINCT a.attname || '=' || pg_get_expr(d.adbin, d.adrelid), ', ') FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum WHERE d.adrelid::regclass::text ~ '^upkeep.events_[0-9]+$'$$) ORDER BY nodeport;
INSERT INTO upkeep.events (tenant) VALUES (21);
SELECT seen IS NOT NULL AS seen, day = CURRENT_DATE + 1 AS tomorrow, k FROM upkeep.events WHERE tenant = 21;
-- ADD COLUMN IF NOT EXISTS of a column that exists changes nothing, its default neither.
ALTER TABLE upkeep.events ADD COLUMN IF NOT EXISTS k int DEFAULT 8;
SELECT result FROM run_command_on_workers($$SELECT string_agg(DISTINCT pg_get_expr(d.adbin, d.adrelid), ', ') FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum WHERE a.attname = 'k' AND d.adrelid::regclass::text ~ '^upkeep.events_[0-9]+$'$$) ORDER BY nodeport;
ALTER TABLE upkeep.events ALTER COLUMN note TYPE timestamptz USING now() + tenant * interval '1 second';
SELECT count(DISTINCT note - tenant * interval '1 second') FROM upkeep.events;
-- A failing default changes nothing anywhere.
ALTER TABLE upkeep.events ADD COLUMN bad int DEFAULT 1 / (SELECT 0);
ALTER TABLE upkeep.events ADD COLUMN bad int NOT NULL DEFAULT NULL::int + 0;
SELECT result FROM run_command_on_workers($$SELECT count(*) FROM pg_attribute WHERE attname = 'bad' AND attrelid::regclass::text ~ '^upkeep.events_[0-9]+$'$$) ORDER BY nodeport;

DROP SCHEMA upkeep CASCADE;
DROP ROLE upkeep_reader;
SELECT result FROM run_command_on_workers($$SELECT count(*) FROM pg_roles WHERE rolname = 'upkeep_reader'$$) ORDER BY nodeport;
