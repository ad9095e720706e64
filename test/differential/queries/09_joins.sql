-- Joins: co-located on the distribution column, with reference tables, with a local table,
-- between tables that are not co-located, outer joins and LATERAL.

SELECT c.id, c.name, count(ca.id), sum(ca.monthly_budget)
FROM companies c JOIN campaigns ca ON ca.company_id = c.id
GROUP BY c.id, c.name;

SELECT c.id, count(ca.id) FROM companies c LEFT JOIN campaigns ca ON ca.company_id = c.id GROUP BY c.id;

SELECT ca.company_id, ca.id, ca.name, count(a.id), sum(a.clicks_count)
FROM campaigns ca LEFT JOIN ads a ON a.company_id = ca.company_id AND a.campaign_id = ca.id
GROUP BY ca.company_id, ca.id, ca.name;

SELECT a.company_id, a.id, a.name, k.id AS click_id, k.cost
FROM ads a JOIN clicks k ON k.company_id = a.company_id AND k.ad_id = a.id
WHERE a.company_id BETWEEN 100 AND 120;

SELECT c.name, ca.name, a.name, count(k.id), sum(k.cost)
FROM companies c
JOIN campaigns ca ON ca.company_id = c.id
JOIN ads a ON a.company_id = ca.company_id AND a.campaign_id = ca.id
JOIN clicks k ON k.company_id = a.company_id AND k.ad_id = a.id
GROUP BY c.name, ca.name, a.name;

SELECT c.id, c.name, co.name, co.continent FROM companies c JOIN countries co ON co.code = c.country_code;

SELECT c.id, c.country_code, co.name FROM companies c LEFT JOIN countries co ON co.code = c.country_code WHERE co.code IS NULL;

SELECT co.code, co.name, count(c.id) FROM countries co LEFT JOIN companies c ON c.country_code = co.code GROUP BY co.code, co.name;

SELECT p.name, count(c.id), sum(p.monthly_price), avg(c.employees)
FROM plans p LEFT JOIN companies c ON c.plan_id = p.id GROUP BY p.name;

SELECT c.id, p.name, co.name FROM companies c JOIN plans p ON p.id = c.plan_id JOIN countries co ON co.code = c.country_code WHERE p.monthly_price > 40;

SELECT k.company_id, k.id, co.continent
FROM clicks k JOIN countries co ON co.code = k.user_data -> 'geo' ->> 'country' WHERE k.company_id < 20;

SELECT h.day, h.name, count(e.*) FROM holidays h JOIN events e ON e.event_time::date = h.day GROUP BY h.day, h.name;

SELECT h.day, count(k.id) FROM holidays h LEFT JOIN clicks k ON k.clicked_at::date = h.day GROUP BY h.day;

SELECT c.id, c.name, h.name FROM companies c JOIN holidays h ON h.day = c.created_at::date;

SELECT c.id, n.note_id, n.body FROM companies c JOIN company_notes n ON n.company_id = c.id WHERE c.id < 60;

SELECT c.id, count(n.note_id) FROM companies c LEFT JOIN company_notes n ON n.company_id = c.id GROUP BY c.id;

SELECT n.company_id, n.note_id, c.name FROM company_notes n LEFT JOIN companies c ON c.id = n.company_id WHERE c.id IS NULL;

SELECT c.id, n.company_id, n.note_id FROM companies c FULL JOIN company_notes n ON n.company_id = c.id WHERE c.id IS NULL OR n.company_id IS NULL;

SELECT n.company_id, n.note_id, c.id FROM companies c RIGHT JOIN company_notes n ON n.company_id = c.id AND c.is_active;

SELECT u.username, d.device_id, d.model FROM users u JOIN devices d ON d.device_id = u.device_id;

SELECT u.username, count(e.event_id), sum(e.amount) FROM users u JOIN events e ON e.device_id = u.device_id GROUP BY u.username;

SELECT d.device_id, c.name FROM devices d JOIN companies c ON c.id = d.owner_company_id;

SELECT d.device_id, d.owner_company_id, c.id FROM devices d LEFT JOIN companies c ON c.id = d.owner_company_id WHERE c.id IS NULL;

SELECT u.username, c.id, c.name FROM users u JOIN companies c ON c.country_code = u.country_code WHERE u.karma > 4950 AND c.id < 40;

SELECT d.device_id, count(e.event_id) FROM devices d LEFT JOIN events e ON e.device_id = d.device_id GROUP BY d.device_id;

SELECT e.device_id, e.event_id FROM events e LEFT JOIN devices d ON d.device_id = e.device_id WHERE d.device_id IS NULL;

SELECT d.device_id, e.event_id FROM devices d FULL OUTER JOIN events e ON e.device_id = d.device_id WHERE d.device_id IS NULL OR e.device_id IS NULL;

SELECT u.username, p.post_id, p.title FROM users u JOIN posts p ON p.username = u.username WHERE u.country_code = 'DE';

SELECT u.username, count(p.post_id), max(p.likes) FROM users u LEFT JOIN posts p USING (username) GROUP BY u.username;

SELECT c.id, l.id, l.cost
FROM companies c CROSS JOIN LATERAL (
  SELECT k.id, k.cost FROM clicks k WHERE k.company_id = c.id ORDER BY k.cost DESC NULLS LAST, k.id LIMIT 3
) l WHERE c.id <= 20;

SELECT c.id, l.n FROM companies c LEFT JOIN LATERAL (SELECT count(*) AS n FROM campaigns ca WHERE ca.company_id = c.id) l ON true;

SELECT co.code, l.id, l.name FROM countries co CROSS JOIN LATERAL (
  SELECT c.id, c.name FROM companies c WHERE c.country_code = co.code ORDER BY c.id LIMIT 2
) l;

SELECT d.device_id, l.event_id, l.value FROM devices d, LATERAL (
  SELECT e.event_id, e.value FROM events e WHERE e.device_id = d.device_id ORDER BY e.value DESC NULLS LAST, e.event_id LIMIT 1
) l WHERE d.device_id BETWEEN -100 AND 10;

SELECT a.company_id, a.id, b.id FROM ads a JOIN ads b ON b.company_id = a.company_id AND b.id = a.id + 1 WHERE a.company_id < 30;

SELECT k1.company_id, count(*) FROM clicks k1 JOIN clicks k2 ON k1.company_id = k2.company_id AND k1.ad_id = k2.ad_id AND k1.id < k2.id GROUP BY k1.company_id;

SELECT c.id, x.total FROM companies c JOIN (SELECT company_id, sum(cost) AS total FROM clicks GROUP BY company_id) x ON x.company_id = c.id WHERE x.total > 100;

SELECT c.country_code, x.n FROM (SELECT country_code, count(*) AS n FROM users GROUP BY country_code) x JOIN companies c ON c.country_code = x.country_code WHERE c.id < 30;

SELECT c1.id, c2.id FROM companies c1 JOIN companies c2 ON c1.name = c2.name AND c1.id < c2.id;

SELECT c1.id, c2.id FROM companies c1 JOIN companies c2 ON lower(c1.name) = lower(c2.name) AND c1.id < c2.id WHERE c1.id <= 25;

SELECT count(*) FROM clicks k JOIN ads a ON a.id = k.ad_id;

SELECT count(*) FROM ads a JOIN clicks k ON a.company_id = k.company_id WHERE a.id < 1100;

SELECT u.username, d.device_id FROM users u, devices d WHERE u.device_id = d.device_id AND d.os = 'iOS';

SELECT c.id, p.id FROM companies c CROSS JOIN plans p WHERE c.id <= 3;

SELECT c.id, a.id FROM companies c NATURAL JOIN (SELECT company_id AS id, id AS ad FROM ads WHERE id < 1050) a(id, ad_id) JOIN ads ON ads.id = a.ad_id;

SELECT k.company_id, k.id, a.score FROM clicks k JOIN ads a ON a.company_id = k.company_id AND a.id = k.ad_id AND a.score > k.position * 10;

SELECT e.device_id, e.event_id, c.name FROM events e JOIN devices d USING (device_id) JOIN companies c ON c.id = d.owner_company_id WHERE e.event_type = 'purchase';
