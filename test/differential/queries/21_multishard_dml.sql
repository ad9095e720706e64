-- Multi-shard writes: UPDATE and DELETE over many shards, with subqueries on co-located, reference,
-- non-co-located and local tables, UPDATE of the distribution column, INSERT ... SELECT across
-- shards and co-location groups, MERGE, and errors that must roll back every shard.

UPDATE companies SET is_active = false WHERE employees < 100;

UPDATE clicks SET cost = cost * 2 WHERE is_bot RETURNING company_id, id, cost;

DELETE FROM clicks WHERE site_url = '';

UPDATE campaigns SET state = 'paused' WHERE (company_id, id) IN (SELECT company_id, campaign_id FROM ads WHERE score < 0);

UPDATE companies SET plan_id = 1 WHERE plan_id IN (SELECT id FROM plans WHERE monthly_price IS NULL) RETURNING id;

DELETE FROM ads a WHERE NOT EXISTS (SELECT 1 FROM clicks k WHERE k.company_id = a.company_id AND k.ad_id = a.id) AND a.company_id > 150;

UPDATE companies c SET country_code = co.code FROM countries co WHERE co.name = 'Unknown' AND c.country_code IS NULL RETURNING c.id, c.country_code;

UPDATE ads a SET name = ca.name FROM campaigns ca
WHERE ca.company_id = a.company_id AND ca.id = a.campaign_id AND a.name IS NULL
RETURNING a.company_id, a.id, a.name;

UPDATE companies SET id = id + 10000 WHERE id = 199;

-- @touches campaigns
UPDATE companies SET id = -id WHERE id IN (197, 198) RETURNING id, name;

UPDATE events SET device_id = 2, event_id = event_id + 100000 WHERE device_id = 3 RETURNING device_id, event_id;

UPDATE users SET username = upper(username) WHERE username LIKE 'user_00%' RETURNING username;

UPDATE posts SET username = 'alice', post_id = post_id + 1000 WHERE username = 'bob';

DELETE FROM events WHERE device_id IN (SELECT device_id FROM users WHERE karma < 0);

INSERT INTO company_notes (company_id, note_id, author, body, created_on, priority)
SELECT id, 1000, 'system', name, '2022-01-01', 0 FROM companies WHERE id % 7 = 0;

INSERT INTO events (device_id, event_id, event_type, amount)
SELECT device_id, event_id + 200000, 'copy', amount * 2 FROM events WHERE event_type = 'login';

INSERT INTO users (username, karma, device_id)
SELECT 'from_' || device_id, device_id % 1000, device_id FROM devices WHERE os = 'Tizen'
ON CONFLICT (username) DO NOTHING;

INSERT INTO campaigns (company_id, id, name)
SELECT company_id, 5000 + id, 'copy' FROM campaigns WHERE state = 'draft'
ON CONFLICT (company_id, id) DO UPDATE SET name = 'copy again'
RETURNING company_id, id, name;

INSERT INTO campaigns (company_id, id, name)
SELECT company_id, 5000 + id, 'copy' FROM campaigns WHERE state = 'draft' AND id < 5000
ON CONFLICT (company_id, id) DO UPDATE SET name = 'copy again'
RETURNING company_id, id, name;

INSERT INTO posts (username, post_id, title, likes)
SELECT u.username, 9000, 'welcome ' || u.username, 0 FROM users u WHERE u.signup_date > '2022-10-01';

INSERT INTO clicks (company_id, id, ad_id, cost)
SELECT d.owner_company_id, 200000 + row_number() OVER (ORDER BY d.device_id), NULL, 0 FROM devices d WHERE d.owner_company_id IS NOT NULL AND d.os = 'Linux';

UPDATE countries SET population = population + 1 WHERE continent = 'Europe';

UPDATE plans SET features = array_append(features, 'new') WHERE id IN (SELECT plan_id FROM companies WHERE id < 5);

DELETE FROM holidays WHERE day IN (SELECT start_date FROM campaigns WHERE start_date IS NOT NULL);

UPDATE companies SET tags = ARRAY['holiday'] WHERE created_at::date IN (SELECT day FROM holidays) RETURNING id;

-- @error
UPDATE companies SET employees = 1 / (id - 100) WHERE id BETWEEN 95 AND 105;

-- @error
UPDATE companies SET name = NULL WHERE id > 150;

-- @error
DELETE FROM clicks WHERE company_id < 50 AND 1 / (position - 10) > 0;

-- @error
INSERT INTO companies (id, name) SELECT id + 1, name FROM companies WHERE id < 300;

UPDATE clicks SET position = position + 1 WHERE company_id IN (SELECT id FROM companies WHERE is_active) AND position < 5;

DELETE FROM posts WHERE likes < 0 RETURNING username, post_id;

UPDATE events SET tags = array_remove(tags, 'a'), amount = round(amount, 2) WHERE tags @> '{a}' RETURNING device_id, event_id, tags, amount;

UPDATE devices SET battery_capacity = battery_capacity * 1.5 WHERE os = 'iOS' RETURNING device_id, battery_capacity;

UPDATE users SET preferences = preferences || '{"migrated": true}' WHERE preferences ->> 'lang' = 'de';

MERGE INTO campaigns c
USING (SELECT company_id, campaign_id, count(*) AS n FROM ads WHERE campaign_id IS NOT NULL GROUP BY company_id, campaign_id) a
ON a.company_id = c.company_id AND a.campaign_id = c.id
WHEN MATCHED AND a.n > 5 THEN UPDATE SET state = 'busy'
WHEN NOT MATCHED THEN INSERT (company_id, id, name, state) VALUES (a.company_id, a.campaign_id, 'restored', 'draft');

MERGE INTO users u
USING (VALUES ('alice', 10), ('merge_new', 5), ('', -1)) v(username, k) ON u.username = v.username
WHEN MATCHED AND v.k < 0 THEN DELETE
WHEN MATCHED THEN UPDATE SET karma = v.k
WHEN NOT MATCHED THEN INSERT (username, karma) VALUES (v.username, v.k);

DELETE FROM company_notes WHERE company_id NOT IN (SELECT id FROM companies);

UPDATE company_notes n SET body = c.name FROM companies c WHERE c.id = n.company_id AND n.body IS NULL RETURNING n.company_id, n.note_id, n.body;

UPDATE events e SET is_valid = false FROM devices d WHERE d.device_id = e.device_id AND d.os = '' AND e.is_valid;

DELETE FROM events WHERE event_time < '2020-02-01' RETURNING device_id, event_id, event_time;

DELETE FROM clicks WHERE company_id > 195;

UPDATE ads SET impressions_count = impressions_count + clicks_count, ctr = NULL WHERE clicks_count > 90000;

DELETE FROM users u WHERE NOT EXISTS (SELECT 1 FROM posts p WHERE p.username = u.username) AND u.karma > 4500 RETURNING username;

UPDATE companies SET settings = jsonb_set(coalesce(settings, '{}'), '{notes}', to_jsonb((SELECT count(*) FROM company_notes n WHERE n.company_id = companies.id))) WHERE id % 25 = 0;

DELETE FROM campaigns WHERE company_id IN (SELECT id FROM companies WHERE country_code = 'XX');

-- @ordered
SELECT company_id, count(*), sum(cost) FROM clicks GROUP BY company_id ORDER BY company_id;

SELECT count(*), sum(amount), count(DISTINCT device_id) FROM events;

-- Lists of constants over many shards: each shard's statement carries only its own values.
UPDATE companies SET employees = employees + 1 WHERE id IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 99999) RETURNING id, employees;

DELETE FROM clicks WHERE company_id IN (11, 12, 13, 14, 15, 16) AND is_bot RETURNING company_id, id;

UPDATE events SET reading = reading + 1 WHERE device_id = ANY (ARRAY[2, 3, 5, 7, 11]) AND event_id IN (1, 2) RETURNING device_id, event_id, reading;
