-- INSERT … VALUES whose items read other tables through subqueries (distributed ones of any
-- co-location group, reference and local tables, the statement's WITH clause): each subquery runs
-- first as a query of its own and its value takes its place.

-- The distribution column from a subquery over another table.
INSERT INTO campaigns (company_id, id, name) VALUES ((SELECT max(id) FROM companies), 9001, 'from max')
RETURNING company_id, id, name;

-- A local table's value (holidays is not distributed).
INSERT INTO users (username, signup_date, karma) VALUES ('sub_holiday', (SELECT min(day) FROM holidays), 1)
RETURNING username, signup_date, karma;

-- Several rows, each with its own subqueries, going to several shards.
INSERT INTO events (device_id, event_id, event_type, amount)
VALUES ((SELECT min(device_id) FROM devices), 90001, 'sub', (SELECT sum(amount) FROM events WHERE device_id < 5)),
       (2, 90002, (SELECT max(event_type) FROM events), NULL),
       (3, 90003, 'sub', (SELECT count(*) FROM company_notes))
RETURNING device_id, event_id, event_type, amount;

-- A timestamptz read from the shards and written back, in a zone with daylight-saving changes.
INSERT INTO events (device_id, event_id, event_time, local_time)
VALUES (4, 90004, (SELECT max(event_time) FROM events WHERE event_id < 90000), (SELECT min(local_time) FROM events))
RETURNING device_id, event_id, event_time, local_time;

-- Parameters inside and outside the subquery.
-- @params 3
INSERT INTO devices (device_id, model, os) VALUES (900100 + $1, (SELECT model FROM devices WHERE device_id = $1::bigint), 'sub')
RETURNING device_id, model, os;

-- ARRAY, EXISTS and IN subqueries.
INSERT INTO users (username, favorite_numbers, karma, display_name)
VALUES ('sub_arr',
        ARRAY(SELECT karma FROM users WHERE karma IS NOT NULL ORDER BY karma, username LIMIT 3),
        CASE WHEN EXISTS (SELECT 1 FROM posts WHERE likes > 100) THEN 1 ELSE 0 END,
        CASE WHEN 'DE' IN (SELECT country_code FROM companies) THEN 'has DE' ELSE 'no DE' END)
RETURNING username, favorite_numbers, karma, display_name;

-- The statement's WITH clause, read by a subquery.
WITH top AS (SELECT id FROM companies ORDER BY employees DESC NULLS LAST, id LIMIT 1)
INSERT INTO campaigns (company_id, id, name) VALUES ((SELECT id FROM top), 9002, 'from cte')
RETURNING company_id, id, name;

-- Into a reference table.
INSERT INTO countries (code, name, population) VALUES ('SQ', 'Subquery Land', (SELECT count(*) FROM events))
RETURNING code, name, population;

-- A subquery giving the distribution column NULL fails as PostgreSQL's NOT NULL does.
-- @error
INSERT INTO campaigns (company_id, id, name) VALUES ((SELECT id FROM companies WHERE id < 0), 9003, 'none');

-- A scalar subquery returning several rows fails (21000), and nothing is inserted.
-- @error
-- @touches devices
INSERT INTO devices (device_id, model) VALUES (900200, 'ok'), (900201, (SELECT model FROM devices));

-- ON CONFLICT with a value from a subquery.
INSERT INTO users (username, karma) VALUES ('sub_holiday', (SELECT count(*) FROM posts))
ON CONFLICT (username) DO UPDATE SET karma = excluded.karma + 1
RETURNING username, karma;

-- A WITH query read by several subqueries is read once, as in PostgreSQL's one statement: a
-- volatile one gives them all the same value (holidays is a local table: the subqueries run on
-- the coordinator first).
WITH r AS (SELECT random() AS x, clock_timestamp() AS t FROM holidays LIMIT 1)
INSERT INTO events (device_id, event_id, is_valid, event_type)
VALUES (5, 90006, (SELECT x FROM r) = (SELECT x FROM r),
        CASE WHEN (SELECT t FROM r) = (SELECT t FROM r) THEN 'same' ELSE 'differs' END)
RETURNING device_id, event_id, is_valid, event_type;

-- A WITH query over a distributed table, read by subqueries of two rows.
WITH busiest AS (SELECT device_id, count(*) AS n FROM events WHERE event_id < 90000 GROUP BY device_id ORDER BY n DESC, device_id LIMIT 1)
INSERT INTO events (device_id, event_id, amount)
VALUES ((SELECT device_id FROM busiest), 90007, (SELECT n FROM busiest)),
       (6, 90008, (SELECT n + 1 FROM busiest))
RETURNING device_id, event_id, amount;
