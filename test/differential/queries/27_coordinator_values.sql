-- Calls whose value is the transaction's, the session's or the coordinator's (now(),
-- CURRENT_DATE, CURRENT_USER, current_setting() of a setting the workers do not follow,
-- current_database(), txid_current(), has_table_privilege() …) with constant arguments: the
-- coordinator database evaluates each once per statement and every shard gets its value, so the
-- statement runs on the shards (test/protocol/coordinator_values.test.ts checks where) and answers
-- as PostgreSQL does. The data's times lie in 2020 to 2022, before now().
SELECT count(*) FROM clicks WHERE clicked_at < now();

SELECT is_bot, count(*), min(clicked_at) FROM clicks
WHERE clicked_at >= timestamptz '2021-06-01' AND clicked_at < CURRENT_TIMESTAMP
GROUP BY is_bot;

SELECT count(*) FROM events WHERE event_time::date < CURRENT_DATE AND event_time > now() - interval '100 years';

SELECT count(*) FROM events WHERE local_time < LOCALTIMESTAMP AND local_time > LOCALTIMESTAMP(0) - interval '100 years';

SELECT device_id, count(*) FILTER (WHERE event_time < statement_timestamp()) FROM events GROUP BY device_id;

-- @ordered
SELECT company_id, id, clicked_at < transaction_timestamp() AS past FROM clicks WHERE company_id = 3 ORDER BY id LIMIT 5;

-- @ordered
SELECT c.id, count(*) FROM companies c JOIN clicks k ON k.company_id = c.id
WHERE k.clicked_at < now() AND c.created_at < now() - interval '1 year'
GROUP BY c.id ORDER BY c.id LIMIT 5;

SELECT count(*), current_user, session_user, current_role, current_database(), current_catalog
FROM clicks WHERE company_id < 4;

SELECT DISTINCT current_setting('application_name'), current_setting('work_mem'), current_setting('nosuch', true)
FROM companies;

SELECT current_schema, current_schemas(true), current_schemas(false), count(*) FROM companies GROUP BY 1, 2, 3;

SELECT count(*) FROM companies WHERE name <> current_user AND has_table_privilege('companies', 'SELECT');

SELECT count(*) FROM companies WHERE has_table_privilege(current_user, 'clicks', 'INSERT') AND id > 5;

SELECT count(*) FROM clicks WHERE txid_current() = txid_current() AND pg_current_xact_id()::text::bigint > 0;

SELECT count(*) FROM clicks WHERE pg_backend_pid() > 0 AND version() LIKE 'PostgreSQL%';

-- A call written twice is one value: the grouped expression matches the selected one.
SELECT (now() - clicked_at) > interval '1 year' AS old, count(*) FROM clicks GROUP BY (now() - clicked_at) > interval '1 year';

-- @ordered
SELECT company_id, date_trunc('year', now()) - date_trunc('year', max(clicked_at)) > interval '1 day', count(*)
FROM clicks GROUP BY company_id, CURRENT_USER HAVING max(clicked_at) < now() ORDER BY company_id, now() - max(clicked_at) > interval '1 day' LIMIT 4;

SELECT count(*) FROM clicks k WHERE EXISTS (SELECT 1 FROM companies c WHERE c.id = k.company_id AND c.created_at < now());

SELECT count(*) FROM (SELECT company_id, max(clicked_at) AS last FROM clicks GROUP BY company_id) s
WHERE s.last < now() - interval '2 years';

-- What the shards cannot answer (a regclass) leaves the statement to the coordinator database;
-- its columns are named as the client's statement names them.
SELECT id, 'companies'::regclass, now() > created_at, current_user, CURRENT_DATE - CURRENT_DATE, now()::date > '2000-01-01'
FROM companies WHERE id > 45;

-- @params 4
SELECT count(*) FROM clicks WHERE company_id = $1 AND clicked_at < now();

-- @params 46
SELECT id, 'companies'::regclass, current_setting('application_name'), now()::date > '2000-01-01' FROM companies WHERE id >= $1;

-- @params 2021-01-01
SELECT count(*) FROM clicks WHERE clicked_at BETWEEN $1::timestamptz AND now();

-- @error
SELECT count(*) FROM clicks WHERE current_setting('nosuch') = 'x';

BEGIN;

SELECT count(*) FROM clicks WHERE clicked_at < now() AND now() = transaction_timestamp();

SELECT count(*) FROM events WHERE event_time < now() AND txid_current() = txid_current();

COMMIT;

-- Modifications: the shards get the coordinator's values (one shard, several, and INSERT … ON
-- CONFLICT DO UPDATE).
UPDATE companies SET name = name || ' @' || current_setting('application_name') WHERE id = 3;

UPDATE companies SET name = current_database() || '/' || current_user || '/' || id
WHERE id > 40 AND created_at < now();

UPDATE clicks SET site_url = current_setting('work_mem') WHERE company_id = 5 AND id < 100;

DELETE FROM clicks WHERE company_id = 6 AND site_url <> current_setting('application_name') AND id % 7 = 0;

INSERT INTO companies (id, name) VALUES (3, 'x')
ON CONFLICT (id) DO UPDATE SET name = excluded.name || current_setting('application_name');

UPDATE events SET event_type = event_type WHERE device_id = 1 AND txid_current() = txid_current();

BEGIN;

UPDATE clicks SET cost = 1 WHERE company_id = 7 AND has_table_privilege('clicks', 'UPDATE');

SELECT count(*) FROM clicks WHERE company_id = 7 AND cost = 1 AND clicked_at < now();

ROLLBACK;
