-- Router writes: INSERT (single and multi-row, split by shard), INSERT ... ON CONFLICT, RETURNING,
-- UPDATE and DELETE by key, INSERT ... SELECT within one tenant, and writes to reference and local
-- tables. Errors must leave the tables unchanged (the harness compares them after every write).

INSERT INTO companies (id, name, country_code, plan_id, created_at, is_active, employees, settings, tags)
VALUES (1001, 'New Co', 'DE', 2, '2022-03-27 01:30:00+00', true, 12, '{"theme": "dark", "n": 1.50}', '{new,"with space"}');

INSERT INTO companies (id, name) VALUES (1002, 'Only name');

INSERT INTO companies (id, name, employees) VALUES (1003, 'Multi A', 1), (1004, 'Multi B', 2), (1005, 'multi b', 3), (1006, 'Ünïcode', NULL)
RETURNING id, name, employees;

INSERT INTO companies (id, name, created_at) VALUES (1000 + 7, 'expression key', '2021-11-07 01:30:00') RETURNING *;

-- @error
INSERT INTO companies (id, name) VALUES (1, 'duplicate');

-- @error
INSERT INTO companies (id, name) VALUES (1010, 'ok'), (2, 'duplicate'), (1011, 'ok too');

-- A number with a point or an exponent for an integer key is a numeric, which the column rounds.
INSERT INTO companies (id, name) VALUES (1020.0, 'point'), (5e3, 'exponent'), (1021.5, 'half'), (-1.022E+3, 'negative')
RETURNING id, name;

INSERT INTO devices (device_id, model) VALUES (3e2, 'e3'), (300000.49, 'rounded down') RETURNING device_id, model;

-- @error
INSERT INTO companies (id, name) VALUES (3e10, 'out of range');

-- @error
INSERT INTO companies (id, name) VALUES (1012, NULL);

-- @error
INSERT INTO companies (id, name) VALUES (1013, 'a'), (1013, 'b');

INSERT INTO companies (id, name) VALUES (1, 'ignored') ON CONFLICT DO NOTHING;

INSERT INTO companies (id, name) VALUES (1, 'ignored'), (1014, 'new'), (2, 'ignored too') ON CONFLICT (id) DO NOTHING RETURNING id, name;

INSERT INTO companies (id, name, employees) VALUES (3, 'Renamed three', 33)
ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, employees = companies.employees + EXCLUDED.employees
RETURNING id, name, employees;

INSERT INTO companies (id, name) VALUES (8, 'x'), (9, 'y'), (1015, 'z')
ON CONFLICT ON CONSTRAINT companies_pkey DO UPDATE SET is_active = NOT companies.is_active WHERE companies.is_active IS NOT NULL
RETURNING id, name, is_active;

INSERT INTO users (username, karma) VALUES ('', 1), ('new user', 2)
ON CONFLICT (username) DO UPDATE SET karma = users.karma + EXCLUDED.karma
RETURNING username, karma;

INSERT INTO users (username, display_name) VALUES ('ALICE', 'dup') ON CONFLICT DO NOTHING;

INSERT INTO users (username, display_name, balance, favorite_numbers, preferences)
VALUES ('Ärger', 'umlaut', 12.345, '{1,NULL,-3}', '{"lang": "de", "list": [true, null]}')
RETURNING *;

INSERT INTO events (device_id, event_id, event_type, event_time, local_time, value, reading, amount, payload, tags, session_uuid, is_valid)
VALUES (-7, 1000, 'new', '2021-03-14 03:30:00-04', '2021-03-14 02:30:00', 1.5, -0.25, 0.10, '{"a": [1, 2]}', '{x,NULL}', '00000000-0000-0000-0000-000000000001', true),
       (9003000009, 1000, 'new', '2021-11-07 01:30:00-05', NULL, NULL, NULL, -12345678901234567890.123456789, NULL, '{}', NULL, NULL),
       (123, 1, 'orphan', NULL, NULL, 1e-300, 3.4e38, 0, 'null', NULL, NULL, false)
RETURNING device_id, event_id, amount, value, reading;

INSERT INTO posts (username, post_id, title, body, likes, rating, tags)
VALUES ('alice', 5000, 'new post', 'it''s here', 0, 4.50, ARRAY['new']), ('', 5000, 'empty user', NULL, NULL, NULL, NULL);

INSERT INTO clicks (company_id, id, ad_id, clicked_at, site_url, cost, is_bot, position, latency_ms, user_data)
VALUES (5, 90001, NULL, '2021-11-07 01:59:59.999999-04', 'https://example.com/', 0.000001, NULL, 1, 0.5, '{"geo": {}}'),
       (6, 90001, 1500, '2021-11-07 01:00:00-05', NULL, 100, true, NULL, NULL, NULL),
       (7, 90001, 1501, '2021-03-14 03:00:00-04', 'x', -0.50, false, 10, 1e10, '[]');

UPDATE companies SET name = name || '!' WHERE id = 4 RETURNING id, name;

UPDATE campaigns SET monthly_budget = monthly_budget * 1.1 WHERE company_id = 1 AND id = 2 RETURNING *;

UPDATE campaigns SET state = 'paused' WHERE company_id = 1 AND state = 'running';

UPDATE users SET karma = karma + 1, last_seen = '2022-11-06 01:30:00-04' WHERE username = 'zoë' RETURNING username, karma, last_seen;

UPDATE events SET payload = jsonb_set(coalesce(payload, '{}'), '{seen}', 'true') WHERE device_id = -14 RETURNING device_id, event_id, payload;

UPDATE companies SET tags = array_append(tags, 'vip') WHERE id IN (5, 6) RETURNING id, tags;

UPDATE ads SET clicks_count = (SELECT count(*) FROM clicks k WHERE k.company_id = ads.company_id AND k.ad_id = ads.id) WHERE company_id = 2;

UPDATE ads a SET name = c.name FROM campaigns c
WHERE c.company_id = a.company_id AND c.id = a.campaign_id AND a.company_id = 3
RETURNING a.id, a.name, c.id;

UPDATE companies SET employees = employees + 1 WHERE id = 99999;

-- @error
UPDATE campaigns SET id = 2 WHERE company_id = 1 AND id = 3;

-- @error
UPDATE users SET username = 'alice' WHERE username = 'bob';

DELETE FROM clicks WHERE company_id = 5 AND id = 1 RETURNING *;

DELETE FROM clicks WHERE company_id = 5 AND id = 1;

DELETE FROM posts WHERE username = 'bob' AND likes < 100 RETURNING post_id, likes;

DELETE FROM users WHERE username = 'with space' RETURNING username;

DELETE FROM events WHERE device_id = ANY (ARRAY[-700, -693]) AND event_type = 'click';

INSERT INTO campaigns (company_id, id, name, state, monthly_budget)
SELECT company_id, id + 1000, name || ' (copy)', 'draft', monthly_budget FROM campaigns WHERE company_id = 1;

INSERT INTO clicks SELECT company_id, id + 100000, ad_id, clicked_at, site_url, cost, is_bot, position, latency_ms, user_data
FROM clicks WHERE company_id = 4
RETURNING company_id, id, cost;

INSERT INTO countries VALUES ('QQ', 'Qatar-ish', 'Asia', 1, 1.5, false);

UPDATE plans SET monthly_price = 59 WHERE id = 3 RETURNING *;

DELETE FROM countries WHERE code = 'QQ' RETURNING *;

-- @error
INSERT INTO countries (code, name) VALUES ('US', 'dup');

INSERT INTO plans (id, name, monthly_price) VALUES (6, 'Legacy', 4.999), (7, 'Student', 1.5)
ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, monthly_price = EXCLUDED.monthly_price
RETURNING *;

INSERT INTO holidays VALUES ('2023-01-01', 'New Year 2023', 'US');

UPDATE holidays SET name = upper(name) WHERE day = '2023-01-01' RETURNING *;

-- @error
INSERT INTO holidays DEFAULT VALUES;

DELETE FROM company_notes n USING countries co WHERE n.company_id = 8 AND co.code = 'XX' AND n.priority IS NULL;

UPDATE company_notes SET priority = priority + 1 WHERE company_id = 12 RETURNING note_id, priority;

UPDATE devices SET firmware = firmware || ARRAY[1, 2], device_uuid = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' WHERE device_id = 9003000009 RETURNING *;

DELETE FROM devices WHERE device_id = 123456789 RETURNING device_id;

-- A SELECT whose WITH updates or deletes rows of one shard group runs there whole.
-- @touches companies
WITH d AS (UPDATE companies SET employees = coalesce(employees, 0) + 1 WHERE id = 5 RETURNING id, employees)
SELECT d.id, d.employees, c.employees AS before FROM d JOIN companies c ON c.id = d.id WHERE c.id = 5;

-- @touches clicks
WITH d AS (DELETE FROM clicks WHERE company_id = 6 AND id % 5 = 0 RETURNING company_id, cost)
SELECT count(*), sum(cost) FROM d;

-- A distribution value cast to a type that changes it is stored as PostgreSQL converts it ('01 day'
-- is '1 day', char(n) loses its trailing spaces, varchar(n) cuts), on the shard of that value,
-- where a lookup of the value finds it.
INSERT INTO users (username, karma) VALUES ('01 day'::interval, 3), ('cast user   '::char(12), 4) RETURNING username;

-- @params castkeyXYZ | 5
INSERT INTO users (username, karma) VALUES ($1::varchar(7), $2) RETURNING username;

-- @params 1 day
SELECT username, karma FROM users WHERE username = $1;

SELECT username, karma FROM users WHERE username = 'cast user';

SELECT username, karma FROM users WHERE username = 'castkey';

-- A lookup by such a cast value compares with the value cast, not with its text.
INSERT INTO users (username, karma) VALUES ('cut key', 6), ('typmodkey', 7);

-- @params cut keyXYZ
SELECT username, karma FROM users WHERE username = $1::varchar(7);

UPDATE users SET karma = karma + 10 WHERE username = 'typmodkeyXYZ'::varchar(9) RETURNING username, karma;

DELETE FROM users WHERE username = 'cut keyXYZ'::varchar(7) RETURNING username;

-- Parameters declared of another type than the distribution column (PREPARE's types): PostgreSQL
-- converts the value to the column's type before the row is stored, and routing must follow the
-- value stored: a numeric rounds into an integer key, a bpchar loses its trailing spaces in text.
PREPARE typedparam_numeric(numeric, text) AS INSERT INTO companies (id, name) VALUES ($1, $2) RETURNING id, name;

-- @touches companies
EXECUTE typedparam_numeric(1500.5, 'typedparam rounded');

SELECT id, name FROM companies WHERE id = 1501 AND name = 'typedparam rounded';

PREPARE typedparam_bpchar(bpchar, int) AS INSERT INTO users (username, karma) VALUES ($1, $2) RETURNING username, length(username);

-- @touches users
EXECUTE typedparam_bpchar('typedparam   ', 8);

SELECT username, karma FROM users WHERE username = 'typedparam';

PREPARE typedparam_lookup(bpchar) AS SELECT username, karma FROM users WHERE username = $1;

EXECUTE typedparam_lookup('typedparam  ');
