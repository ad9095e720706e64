-- Subqueries: IN / NOT IN (with NULLs), EXISTS, scalar, correlated, ANY/ALL and in FROM.

SELECT id, name FROM companies WHERE id IN (SELECT company_id FROM campaigns WHERE state = 'running');

SELECT id, name FROM companies WHERE id NOT IN (SELECT company_id FROM campaigns);

SELECT id FROM plans WHERE id NOT IN (SELECT plan_id FROM companies);

SELECT id FROM plans WHERE id NOT IN (SELECT plan_id FROM companies WHERE plan_id IS NOT NULL AND employees > 49000);

SELECT id, name FROM companies c WHERE EXISTS (SELECT 1 FROM clicks k WHERE k.company_id = c.id AND k.is_bot);

SELECT id, name FROM companies c WHERE NOT EXISTS (SELECT 1 FROM ads a WHERE a.company_id = c.id);

SELECT c.id, (SELECT count(*) FROM campaigns ca WHERE ca.company_id = c.id) AS campaigns,
       (SELECT round(max(k.cost), 6) FROM clicks k WHERE k.company_id = c.id) AS max_cost
FROM companies c;

SELECT company_id, id, cost FROM clicks WHERE cost > (SELECT avg(cost) * 2 FROM clicks);

SELECT device_id, event_id, amount FROM events WHERE amount = (SELECT max(amount) FROM events);

SELECT count(*) FROM (SELECT company_id, count(*) AS n FROM clicks GROUP BY company_id) s WHERE n > 20;

SELECT avg(n), max(n), min(n) FROM (SELECT site_url, count(*) AS n FROM clicks GROUP BY site_url) s;

SELECT sum(total) FROM (SELECT company_id, sum(monthly_budget) AS total FROM campaigns GROUP BY company_id) s;

SELECT c.id, c.country_code FROM companies c WHERE EXISTS (SELECT 1 FROM users u WHERE u.country_code = c.country_code AND u.karma > 4900);

SELECT username FROM users u WHERE EXISTS (SELECT 1 FROM devices d WHERE d.device_id = u.device_id AND d.os ILIKE 'android');

SELECT company_id, id, cost FROM clicks WHERE cost * 10 > ALL (SELECT monthly_price FROM plans WHERE monthly_price < 50) AND company_id < 100;

SELECT company_id, id FROM campaigns WHERE monthly_budget < ANY (SELECT monthly_price FROM plans);

SELECT id FROM companies WHERE plan_id = ANY (SELECT id FROM plans WHERE 'sso' = ANY (features));

SELECT id FROM companies WHERE country_code IN (SELECT code FROM countries WHERE eu_member);

SELECT id, name FROM companies WHERE id IN (SELECT id FROM companies ORDER BY employees DESC NULLS LAST, id LIMIT 5);

SELECT username, karma FROM users WHERE karma > (SELECT avg(karma) FROM users u2 WHERE u2.country_code = users.country_code);

SELECT device_id FROM devices WHERE device_id IN (SELECT device_id FROM users WHERE karma < 0);

SELECT device_id, count(*) FROM events WHERE device_id IN (SELECT device_id FROM devices WHERE os = 'Linux') GROUP BY device_id;

-- @error
SELECT id, (SELECT id FROM campaigns ca WHERE ca.company_id = c.id) FROM companies c WHERE c.id <= 3;

SELECT id FROM companies WHERE (id, plan_id) IN (SELECT company_id, 2 FROM campaigns WHERE state = 'draft');

SELECT c.id, x.max_id FROM companies c, (SELECT company_id, max(id) AS max_id FROM ads GROUP BY company_id) x WHERE x.company_id = c.id AND c.id > 180;

SELECT username, (SELECT array_agg(post_id ORDER BY post_id) FROM posts p WHERE p.username = u.username) FROM users u WHERE username LIKE 'user_02%';

SELECT username FROM users u WHERE (SELECT count(*) FROM posts p WHERE p.username = u.username) > 10;

SELECT id FROM companies WHERE employees > (SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY employees) FROM companies);

SELECT id, name FROM companies WHERE id IN (SELECT owner_company_id FROM devices WHERE os = 'iOS') AND id NOT IN (SELECT company_id FROM company_notes);

SELECT e.device_id, e.event_id FROM events e WHERE e.session_uuid IN (SELECT session_uuid FROM events WHERE device_id = 1) AND e.device_id <> 1;

SELECT count(*) FROM clicks WHERE (company_id, ad_id) IN (SELECT company_id, id FROM ads WHERE score > 90);
