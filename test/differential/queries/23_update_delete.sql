-- Multi-shard UPDATE and DELETE that read other tables: pushed down shard by shard when the other
-- distributed tables are co-located with the target and joined or correlated to it on the
-- distribution column (UPDATE … FROM, DELETE … USING, EXISTS, IN, scalar subqueries), otherwise
-- with the other tables' rows brought to every shard (other co-location groups, uncorrelated
-- subqueries, CTEs, derived tables, local tables); reference tables written while reading
-- distributed and local tables; UPDATE of the distribution column, whose rows move between shards.

-- Co-located tables joined on the distribution column.
UPDATE campaigns c SET monthly_budget = c.monthly_budget + 1 FROM companies co
WHERE co.id = c.company_id AND co.employees > 1000
RETURNING c.company_id, c.id, c.monthly_budget;

DELETE FROM clicks k USING ads a WHERE a.company_id = k.company_id AND a.id = k.ad_id AND a.score < -0.5 RETURNING k.company_id, k.id;

UPDATE ads a SET clicks_count = (SELECT count(*) FROM clicks k WHERE k.company_id = a.company_id AND k.ad_id = a.id) WHERE a.company_id < 40;

UPDATE companies c SET employees = (SELECT count(*) FROM campaigns ca WHERE ca.company_id = c.id) WHERE c.id % 3 = 0 RETURNING id, employees;

DELETE FROM campaigns ca WHERE NOT EXISTS (SELECT 1 FROM ads a WHERE a.company_id = ca.company_id AND a.campaign_id = ca.id) RETURNING company_id, id;

UPDATE clicks SET is_bot = true WHERE (company_id, ad_id) IN (SELECT company_id, id FROM ads WHERE impressions_count = 0);

UPDATE companies SET tags = array_append(tags, 'big') WHERE id IN (SELECT company_id FROM campaigns GROUP BY company_id HAVING count(*) > 8) RETURNING id, tags;

DELETE FROM ads WHERE company_id IN (SELECT company_id FROM clicks WHERE is_bot GROUP BY company_id HAVING count(*) > 30) AND impressions_count < 100000 RETURNING company_id, id;

UPDATE events e SET amount = d.battery_capacity FROM devices d
WHERE d.device_id = e.device_id AND d.os = 'Android' AND e.event_type = 'purchase'
RETURNING e.device_id, e.event_id, e.amount;

DELETE FROM events WHERE device_id IN (SELECT device_id FROM devices WHERE registered_on < '2020-06-01') AND event_type = 'click';

UPDATE users u SET karma = karma + (SELECT count(*) FROM posts p WHERE p.username = u.username AND p.likes > 10) WHERE u.country_code = 'DE' RETURNING username, karma;

DELETE FROM posts p WHERE EXISTS (SELECT 1 FROM users u WHERE u.username = p.username AND u.karma < 0) RETURNING username, post_id;

UPDATE posts SET rating = 0 WHERE username IN (SELECT username FROM users WHERE signup_date IS NULL);

UPDATE companies c SET name = c.name || ' (' || co.name || ')' FROM countries co
WHERE co.code = c.country_code AND co.continent = 'Europe' AND EXISTS (SELECT 1 FROM campaigns ca WHERE ca.company_id = c.id AND ca.state = 'running')
RETURNING c.id, c.name;

UPDATE campaigns ca SET state = 'hot' WHERE ca.id IN (
  SELECT a.campaign_id FROM ads a JOIN clicks k ON k.company_id = a.company_id AND k.ad_id = a.id
  WHERE a.company_id = ca.company_id GROUP BY a.campaign_id HAVING count(*) > 20)
RETURNING company_id, id;

UPDATE ads a SET score = -1 FROM ads b
WHERE b.company_id = a.company_id AND b.campaign_id = a.campaign_id AND b.id <> a.id AND b.score > 90 AND a.score IS NULL
RETURNING a.company_id, a.id, a.score;

UPDATE companies c SET country_code = (
  SELECT k.user_data -> 'geo' ->> 'country' FROM clicks k
  WHERE k.company_id = c.id AND k.user_data -> 'geo' ->> 'country' IS NOT NULL ORDER BY k.id LIMIT 1)
WHERE c.country_code IS NULL RETURNING id, country_code;

-- @params 50 | paused
UPDATE campaigns ca SET state = $2 WHERE ca.company_id < $1 AND EXISTS (SELECT 1 FROM companies c WHERE c.id = ca.company_id AND NOT c.is_active);

DELETE FROM clicks WHERE company_id IN (3, 4, 5) AND ad_id NOT IN (SELECT id FROM ads WHERE ads.company_id = clicks.company_id) RETURNING company_id, id, ad_id;

DELETE FROM ads a WHERE a.company_id = 7 RETURNING a.id, (SELECT count(*) FROM clicks k WHERE k.company_id = a.company_id AND k.ad_id = a.id);

UPDATE clicks k SET cost = 0 FROM ads a LEFT JOIN campaigns ca ON ca.company_id = a.company_id AND ca.id = a.campaign_id
WHERE a.company_id = k.company_id AND a.id = k.ad_id AND ca.id IS NULL AND k.cost IS NOT NULL
RETURNING k.company_id, k.id;

-- Other co-location groups, uncorrelated subqueries, CTEs, derived tables: rows brought to the shards.
UPDATE company_notes n SET priority = 9 WHERE n.company_id IN (SELECT id FROM companies WHERE employees > 5000) RETURNING company_id, note_id;

-- @params 3000 | 2
UPDATE company_notes n SET priority = $2 WHERE n.company_id IN (SELECT id FROM companies WHERE employees > $1) AND n.priority <> $2 RETURNING company_id, note_id;

UPDATE companies c SET employees = employees + (SELECT count(*) FROM company_notes n WHERE n.company_id = c.id) WHERE c.id < 30;

DELETE FROM company_notes n USING companies c WHERE c.id = n.company_id AND c.is_active = false RETURNING n.company_id, n.note_id;

UPDATE events SET is_valid = false WHERE device_id IN (SELECT device_id FROM users WHERE karma > 4000);

UPDATE users u SET device_id = NULL WHERE device_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.device_id = u.device_id AND d.os = 'iOS') RETURNING username;

UPDATE companies SET employees = (SELECT max(employees) FROM companies) WHERE id % 50 = 1 RETURNING id, employees;

UPDATE campaigns SET monthly_budget = 0 WHERE id IN (SELECT campaign_id FROM ads WHERE score > 0.99) RETURNING company_id, id;

WITH busy AS (SELECT company_id FROM clicks GROUP BY company_id HAVING count(*) > 40)
UPDATE companies SET is_active = true WHERE id IN (SELECT company_id FROM busy) RETURNING id;

UPDATE campaigns ca SET monthly_budget = s.total
FROM (SELECT company_id, campaign_id, sum(impressions_count) AS total FROM ads GROUP BY company_id, campaign_id) s
WHERE s.company_id = ca.company_id AND s.campaign_id = ca.id AND ca.company_id > 180
RETURNING ca.company_id, ca.id, ca.monthly_budget;

UPDATE ads a SET name = 'noted' WHERE EXISTS (SELECT 1 FROM clicks k WHERE k.company_id = a.company_id AND k.ad_id = a.id AND k.is_bot)
AND a.company_id IN (SELECT company_id FROM company_notes WHERE priority = 5);

DELETE FROM devices WHERE device_id NOT IN (SELECT device_id FROM events) AND device_id NOT IN (SELECT device_id FROM users WHERE device_id IS NOT NULL) RETURNING device_id;

-- Local tables.
UPDATE campaigns SET state = 'holiday' WHERE start_date IN (SELECT day FROM holidays) RETURNING company_id, id;

UPDATE companies c SET tags = ARRAY[h.name] FROM holidays h WHERE h.day = c.created_at::date RETURNING c.id, c.tags;

DELETE FROM clicks WHERE company_id < 20 AND clicked_at::date IN (SELECT day FROM holidays WHERE country_code IN (SELECT code FROM countries WHERE continent = 'Asia'));

-- Reference tables written while reading distributed and local tables.
UPDATE plans SET seats = coalesce(seats, 0) + 1 WHERE id IN (SELECT plan_id FROM companies WHERE employees > 100) RETURNING id, seats;

UPDATE countries SET eu_member = NOT coalesce(eu_member, false) WHERE code IN (SELECT country_code FROM holidays) RETURNING code, eu_member;

DELETE FROM plans WHERE id NOT IN (SELECT plan_id FROM companies WHERE plan_id IS NOT NULL AND country_code = 'DE') RETURNING id;

-- UPDATE of the distribution column: rows move to the shards of their new values.
UPDATE companies SET id = id + 1000 WHERE id BETWEEN 190 AND 195 RETURNING id, name;

UPDATE campaigns SET company_id = company_id + 500 WHERE company_id IN (1, 2) AND id = 1 RETURNING *;

UPDATE users SET username = username || '_x' WHERE username IN ('alice', 'bob', 'zoë') RETURNING username, karma;

UPDATE events SET device_id = -device_id WHERE device_id BETWEEN 10 AND 12 RETURNING device_id, event_id;

UPDATE campaigns ca SET company_id = company_id + 300
WHERE ca.company_id BETWEEN 100 AND 105 AND EXISTS (SELECT 1 FROM ads a WHERE a.company_id = ca.company_id AND a.campaign_id = ca.id)
RETURNING company_id, id;

UPDATE devices d SET device_id = d.device_id + 1000000 FROM (VALUES (1::bigint), (2), (3)) v(x) WHERE d.device_id = v.x RETURNING d.device_id, d.model;

UPDATE ads SET company_id = 31 WHERE company_id = 30 RETURNING id, company_id, (SELECT name FROM companies c WHERE c.id = ads.company_id);

UPDATE ads SET company_id = company_id + 1 WHERE company_id BETWEEN 60 AND 62
RETURNING id, company_id, (SELECT count(*) FROM campaigns ca WHERE ca.company_id = ads.company_id);

UPDATE companies SET id = id, name = upper(name) WHERE id < 5 RETURNING id, name;

-- @params 7 | 70007
UPDATE companies SET id = $2 WHERE id = $1 RETURNING id, name;

UPDATE posts SET username = username || '!' WHERE post_id = 2 AND username LIKE 'user_01%';

INSERT INTO companies (id, name) VALUES (10, 'ten'), (5000, 'new') ON CONFLICT (id) DO UPDATE SET id = excluded.id + 20000 RETURNING id, name;

INSERT INTO users AS u (username, karma) VALUES ('ALICE', 1), ('dave', 2), ('with space', 3)
ON CONFLICT (username) DO UPDATE SET username = u.username || '_moved', karma = u.karma + excluded.karma
RETURNING username, karma;

-- @error
INSERT INTO companies (id, name) VALUES (11, 'x') ON CONFLICT (id) DO UPDATE SET id = 12;

-- @error
UPDATE clicks SET company_id = 3 WHERE company_id = 4 AND id = 1;

-- @error
UPDATE devices SET device_id = NULL WHERE device_id = 5;

-- @error
UPDATE events SET device_id = 1 WHERE device_id = 4;

-- Errors roll back every shard.
-- @error
UPDATE companies c SET employees = 1 / (SELECT count(*) - count(*) FROM campaigns ca WHERE ca.company_id = c.id) WHERE c.id < 10;

-- @error
DELETE FROM campaigns WHERE company_id IN (SELECT id FROM companies WHERE 1 / (id - 77) > 0);

-- @error
UPDATE company_notes SET priority = (SELECT id FROM companies WHERE id < 10);

-- @error
UPDATE companies SET employees = (SELECT priority FROM company_notes n WHERE n.company_id = companies.id);

-- MERGE between co-located tables joined on their distribution columns runs shard by shard.
-- @touches ads
MERGE INTO ads a USING campaigns c ON a.company_id = c.company_id AND a.campaign_id = c.id
WHEN MATCHED AND c.state = 'paused' THEN UPDATE SET name = coalesce(a.name, '') || ' (paused)'
WHEN MATCHED AND c.monthly_budget < 100 THEN DELETE;

-- @touches campaigns
MERGE INTO campaigns t USING campaigns s ON s.company_id = t.company_id AND t.id = s.id
WHEN MATCHED AND s.end_date < s.start_date THEN UPDATE SET end_date = s.start_date
WHEN MATCHED THEN DO NOTHING;

-- @touches campaigns
MERGE INTO campaigns t USING ads s ON t.company_id = s.company_id AND t.id = s.campaign_id + 1000
WHEN NOT MATCHED AND s.id % 7 = 0 THEN INSERT (company_id, id, name) VALUES (s.company_id, s.id + 5000, s.name);

-- MERGE into a local table reads the distributed tables' rows.
-- @touches holidays
MERGE INTO holidays h USING (SELECT DISTINCT country_code FROM companies) c ON h.country_code = c.country_code
WHEN MATCHED THEN UPDATE SET name = h.name || ' *';
