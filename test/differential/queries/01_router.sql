-- Router queries: an equality (or IN list) on the distribution column selects one shard group,
-- also when the equality reaches other tables through join conditions.

SELECT * FROM companies WHERE id = 7;

SELECT * FROM companies WHERE id = 99999;

SELECT id, name, country_code FROM companies WHERE id = 14 AND is_active;

-- @ordered
SELECT * FROM campaigns WHERE company_id = 1 ORDER BY id;

-- @ordered
SELECT company_id, id, campaign_id, name, impressions_count, clicks_count, ctr, score
FROM ads WHERE company_id = 2 ORDER BY id;

-- min/max of a numeric with mixed scales may return any of equal values (0 or 0.0): normalize the scale.
SELECT count(*), count(cost), sum(cost), avg(cost), round(min(cost), 6), max(clicked_at) FROM clicks WHERE company_id = 3;

-- @ordered
SELECT * FROM companies WHERE id IN (1, 2, 3, 50, 120, 5000) ORDER BY id;

SELECT id, name FROM companies WHERE id = ANY (ARRAY[4, 8, 15, 16, 23, 42]);

SELECT id, name FROM companies WHERE id = ANY ('{9,10,11}'::int[]);

SELECT id, name FROM companies WHERE id = 5 OR id = 6;

SELECT id FROM companies WHERE id = 7 AND false;

-- @ordered
SELECT c.name, ca.id, ca.name, ca.state, ca.monthly_budget
FROM companies c JOIN campaigns ca ON ca.company_id = c.id
WHERE c.id = 2
ORDER BY ca.id;

SELECT a.id, count(k.id) AS clicks, sum(k.cost) AS cost
FROM ads a JOIN clicks k ON k.company_id = a.company_id AND k.ad_id = a.id
WHERE a.company_id = 1
GROUP BY a.id;

SELECT ca.id, ca.name, count(a.id), max(a.impressions_count)
FROM campaigns ca, ads a
WHERE ca.company_id = a.company_id AND ca.id = a.campaign_id AND a.company_id = 3
GROUP BY ca.id, ca.name;

SELECT c.id, c.name, co.name AS country, co.continent
FROM companies c LEFT JOIN countries co ON co.code = c.country_code
WHERE c.id = 11;

SELECT c.id, p.name, p.monthly_price, p.features
FROM companies c JOIN plans p ON p.id = c.plan_id
WHERE c.id = 13;

SELECT * FROM users WHERE username = 'alice';

SELECT * FROM users WHERE username = 'Alice';

SELECT * FROM users WHERE username = '';

SELECT * FROM users WHERE username = 'o''brien';

SELECT * FROM users WHERE username = '用户一';

SELECT * FROM users WHERE username = 'back\slash';

-- @ordered
SELECT * FROM posts WHERE username = 'bob' ORDER BY post_id;

SELECT username, display_name FROM users WHERE username IN ('alice', 'Alice', 'ALICE', 'nobody');

SELECT username, karma FROM users WHERE username = ANY ('{bob,zoë,émile}'::text[]);

-- @ordered
SELECT u.username, u.karma, p.post_id, p.title
FROM users u JOIN posts p USING (username)
WHERE u.username = 'ALICE'
ORDER BY p.post_id;

SELECT * FROM devices WHERE device_id = -21;

SELECT * FROM devices WHERE device_id = 9003000009;

-- @ordered
SELECT * FROM events WHERE device_id = 9003000009 ORDER BY event_id;

SELECT device_id, event_id, event_type, value FROM events WHERE device_id = 5 AND event_type = 'click';

SELECT event_type, count(*), sum(amount), max(event_time) FROM events WHERE device_id = 1 GROUP BY event_type;

SELECT device_id, model FROM devices WHERE device_id = '3';

SELECT device_id, model FROM devices WHERE device_id = 2::smallint;

SELECT device_id, model FROM devices WHERE device_id = 4.0;

-- @ordered
SELECT company_id, id, clicked_at, cost FROM clicks WHERE company_id = 1 ORDER BY clicked_at DESC NULLS LAST, id LIMIT 10;

-- @ordered
SELECT id, monthly_budget, rank() OVER (ORDER BY monthly_budget DESC NULLS LAST) AS budget_rank
FROM campaigns WHERE company_id = 1 ORDER BY id;

SELECT id, name, campaign_id FROM ads
WHERE company_id = 2 AND campaign_id IN (SELECT id FROM campaigns WHERE company_id = 2 AND state = 'running');

SELECT device_id, event_id, payload FROM events WHERE device_id = 1 AND payload ->> 'page' = '/home';

SELECT count(*) FROM clicks
WHERE company_id = 1 AND clicked_at >= '2021-03-14 00:00:00' AND clicked_at < '2021-03-15 00:00:00';

SELECT DISTINCT site_url FROM clicks WHERE company_id = 2;

SELECT company_id, count(*) FROM clicks WHERE company_id = 4 GROUP BY company_id HAVING count(*) > 1;

-- @ordered
SELECT n.company_id, n.note_id, n.body, c.name
FROM company_notes n JOIN companies c ON c.id = n.company_id
WHERE n.company_id = 3 ORDER BY n.note_id;

SELECT (SELECT count(*) FROM campaigns WHERE company_id = 1) AS campaigns,
       (SELECT count(*) FROM ads WHERE company_id = 1) AS ads;

SELECT e.device_id, e.event_id, d.model
FROM events e JOIN devices d ON d.device_id = e.device_id
WHERE d.device_id = -7 AND e.event_id <= 3;

-- Row locks on one shard group: the rows as PostgreSQL returns them.
SELECT id, name FROM companies WHERE id = 7 FOR UPDATE;

SELECT c.id, p.name FROM companies c JOIN plans p ON p.id = c.plan_id WHERE c.id = 11 FOR NO KEY UPDATE OF c;

SELECT company_id, id FROM campaigns WHERE company_id = 3 ORDER BY id FOR SHARE SKIP LOCKED;
