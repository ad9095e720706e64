-- A DateStyle other than ISO names time zones by abbreviations, which input reads from a table of
-- its own: CST of Asia/Shanghai is not US Central time, IST of Asia/Kolkata is not Israel's.
-- timestamptz values the coordinator reads back (fetched rows, partial aggregates, aggregates
-- built from their inputs, a local table's rows sent to the workers) must keep their instant;
-- rows that go to the client print as the client asked. Every SET is undone at the end.
SET DateStyle = 'SQL, MDY';

SET TimeZone = 'Asia/Shanghai';

SELECT is_bot, min(clicked_at), max(clicked_at) FROM clicks GROUP BY is_bot;

SELECT count(*) FROM (SELECT clicked_at FROM clicks UNION SELECT event_time FROM events) u;

SELECT is_bot, percentile_disc(0.5) WITHIN GROUP (ORDER BY clicked_at) FROM clicks GROUP BY is_bot;

-- @ordered
SELECT company_id, id, clicked_at FROM clicks WHERE company_id = 5 ORDER BY id LIMIT 3;

-- @ordered
SELECT company_id, id, clicked_at FROM clicks ORDER BY clicked_at DESC NULLS LAST, company_id, id LIMIT 3;

SET TimeZone = 'Asia/Kolkata';

SET DateStyle = 'Postgres, DMY';

SELECT is_bot, max(clicked_at) FROM clicks GROUP BY is_bot;

-- A table of the coordinator database joined with a distributed one, and rows an INSERT … SELECT
-- takes through the coordinator.
CREATE TABLE zoned_local (company_id int, id bigint, clicked_at timestamptz);

INSERT INTO zoned_local SELECT company_id, id, clicked_at FROM clicks WHERE company_id < 6;

SELECT count(*) FROM clicks k JOIN zoned_local l USING (company_id, id) WHERE k.clicked_at = l.clicked_at;

INSERT INTO events (device_id, event_id, event_type, event_time)
SELECT 770001, 910000 + row_number() OVER (ORDER BY company_id, id), 'zoned', clicked_at
FROM zoned_local ORDER BY company_id, id LIMIT 5;

-- A value the coordinator evaluates (it calls a sequence) travels to its shard.
INSERT INTO events (device_id, event_id, event_type, event_time)
VALUES (770002, 910100, 'zoned', timestamptz '2020-01-02 03:04:05.678+00' + nextval('audit_log_id_seq') * interval '0 s');

SELECT count(*) FROM events e WHERE e.device_id = 770001 AND e.event_time IN (SELECT clicked_at FROM zoned_local);

SELECT event_id, event_time FROM events WHERE event_type = 'zoned';

UPDATE events SET device_id = 770003 WHERE event_type = 'zoned' AND device_id = 770001 RETURNING event_id, event_time;

SELECT device_id, event_id, event_time FROM events WHERE event_type = 'zoned';

-- now() of a multi-shard UPDATE, evaluated by the coordinator for every shard, and an added
-- column's default, evaluated once for the rows already there, keep their instant (the shards
-- compare them with their own clock).
UPDATE events SET event_time = CASE WHEN abs(extract(epoch FROM now() - clock_timestamp())) < 600
  THEN timestamptz '2020-01-03 04:05:06+00' END
WHERE event_type = 'zoned';

ALTER TABLE events ADD COLUMN zoned_at timestamptz DEFAULT now();

SELECT count(*) FILTER (WHERE abs(extract(epoch FROM zoned_at - clock_timestamp())) < 600) AS recent, count(*) FROM events;

ALTER TABLE events DROP COLUMN zoned_at;

DROP TABLE zoned_local;

-- The settings a session SETs reach the shards as they are when each statement runs: custom
-- ones (set by SET or set_config()) and any other a user may change; RESET takes them back.
SET app.tenant = '5';

SELECT company_id, current_setting('app.tenant') FROM clicks WHERE company_id = 5 GROUP BY company_id;

SELECT DISTINCT current_setting('app.tenant') FROM clicks;

SELECT set_config('app.region', 'eu', false);

SELECT id, current_setting('app.region'), current_setting('app.tenant', true) FROM companies WHERE id = 3;

SET work_mem = '7MB';

SELECT id, current_setting('work_mem') FROM companies WHERE id = 3;

SELECT DISTINCT current_setting('work_mem'), current_setting('app.region') FROM companies;

SELECT count(*), min(id) FROM clicks WHERE company_id = current_setting('app.tenant')::int;

-- A function setting what later statements read (Canopy cannot see the SET inside it).
CREATE FUNCTION diff_set_tenant(int) RETURNS text LANGUAGE sql AS $$ SELECT set_config('app.tenant', $1::text, false) $$;

SELECT diff_set_tenant(7);

SELECT count(*), min(id) FROM clicks WHERE company_id = current_setting('app.tenant')::int;

SELECT id, current_setting('app.tenant') FROM companies WHERE id = 3;

SELECT diff_set_tenant(8);

SELECT id, current_setting('app.tenant') FROM companies WHERE id = 3;

-- A statement PREPAREd in SQL reads the settings as they are at each EXECUTE.
PREPARE diff_by_tenant AS SELECT count(*), min(id) FROM clicks WHERE company_id = current_setting('app.tenant')::int;

EXECUTE diff_by_tenant;

SELECT diff_set_tenant(7);

EXECUTE diff_by_tenant;

DEALLOCATE diff_by_tenant;

SELECT set_config('app.tenant', '5', false);

DROP FUNCTION diff_set_tenant(int);

-- A distribution column compared with a setting routes by the setting's value as the statement
-- runs (a tenant's id set per session): in joins of co-located tables, IN lists, modifications,
-- blocks with SET LOCAL, and a text column compared with the bare setting.
SELECT c.id, count(k.id) FROM companies c JOIN clicks k ON k.company_id = c.id
WHERE c.id = current_setting('app.tenant')::int GROUP BY c.id;

SELECT company_id, count(*) FROM clicks WHERE company_id IN (current_setting('app.tenant')::bigint, 7) GROUP BY company_id;

SELECT count(*) FROM clicks WHERE current_setting('app.tenant')::int = company_id AND is_bot;

BEGIN;

SET LOCAL app.tenant = '6';

SELECT company_id, count(*) FROM clicks WHERE company_id = current_setting('app.tenant')::int GROUP BY company_id;

UPDATE companies SET name = name || ' (tenant)' WHERE id = current_setting('app.tenant')::int RETURNING id, name;

COMMIT;

SELECT company_id, count(*) FROM clicks WHERE company_id = current_setting('app.tenant')::int GROUP BY company_id;

UPDATE companies SET name = replace(name, ' (tenant)', '') WHERE id = pg_catalog.current_setting('app.tenant', false)::int;

DELETE FROM company_notes WHERE company_id = current_setting('app.tenant')::int AND false;

SELECT company_id, count(*) FROM clicks WHERE company_id = ANY (ARRAY[current_setting('app.tenant')::int]) GROUP BY company_id;

INSERT INTO company_notes (company_id, note_id, author, body)
VALUES (current_setting('app.tenant')::int, 990001, 'tenant', 'one row') RETURNING company_id, note_id;

INSERT INTO company_notes (company_id, note_id, author, body)
VALUES (current_setting('app.tenant')::int, 990002, 'tenant', 'two rows'), (current_setting('app.tenant')::int + 1, 990003, 'tenant', 'two rows');

SELECT company_id, note_id, body FROM company_notes WHERE company_id = current_setting('app.tenant')::int AND note_id > 990000;

-- Found again by constants, which route on their own: the rows went to their shards.
SELECT company_id, note_id FROM company_notes WHERE company_id = 5 AND note_id > 990000;

SELECT company_id, note_id FROM company_notes WHERE company_id = 6 AND note_id > 990000;

DELETE FROM company_notes WHERE note_id > 990000 AND company_id IN (current_setting('app.tenant')::int, current_setting('app.tenant')::int + 1);

SELECT set_config('app.login', 'alice', false);

SELECT username, display_name FROM users WHERE username = current_setting('app.login');

SELECT count(*) FROM posts WHERE username = current_setting('app.login');

SET app.login = '';

SELECT username FROM users WHERE username = current_setting('app.login');

SELECT count(*) FROM users WHERE username = current_setting('app.no_such_user', true);

-- @error
SELECT count(*) FROM users WHERE username = current_setting('app.no_such_user');

SET app.tenant = 'five';

-- @error
SELECT count(*) FROM clicks WHERE company_id = current_setting('app.tenant')::int;

SET app.tenant = '5';

-- Settings the workers do not take, or take as their own server's, read as the coordinator's.
SET statement_timeout = '1min';

SELECT id, current_setting('statement_timeout'), current_setting('application_name') FROM companies WHERE id = 3;

SELECT DISTINCT current_setting('statement_timeout'), current_setting('application_name') FROM companies;

RESET statement_timeout;

RESET app.tenant;

RESET app.login;

RESET work_mem;

SELECT id, current_setting('app.tenant'), current_setting('work_mem') FROM companies WHERE id = 3;

RESET TimeZone;

RESET DateStyle;
