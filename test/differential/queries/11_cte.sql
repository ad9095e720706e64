-- Common table expressions, including recursive ones that read distributed tables.

WITH top AS (SELECT company_id, sum(cost) AS total FROM clicks GROUP BY company_id)
SELECT c.name, top.total FROM top JOIN companies c ON c.id = top.company_id WHERE top.total > 150;

WITH active AS (SELECT id FROM companies WHERE is_active)
SELECT count(*) FROM campaigns WHERE company_id IN (SELECT id FROM active);

WITH s AS (SELECT site_url, count(*) AS n FROM clicks GROUP BY site_url)
SELECT a.site_url, b.site_url FROM s a JOIN s b ON a.n < b.n;

WITH m AS MATERIALIZED (SELECT device_id, max(event_time) AS last FROM events GROUP BY device_id)
SELECT d.device_id, d.model, m.last FROM devices d JOIN m USING (device_id) WHERE d.device_id < 0;

WITH m AS NOT MATERIALIZED (SELECT * FROM users WHERE karma > 4000)
SELECT m.username, count(p.post_id) FROM m LEFT JOIN posts p ON p.username = m.username GROUP BY m.username;

WITH e AS (SELECT * FROM events WHERE event_type = 'purchase'), d AS (SELECT * FROM devices WHERE os = 'Android')
SELECT d.device_id, count(e.event_id) FROM d LEFT JOIN e ON e.device_id = d.device_id GROUP BY d.device_id;

-- @ordered
WITH ranked AS (SELECT company_id, id, cost, rank() OVER (ORDER BY cost DESC NULLS LAST) AS r FROM clicks)
SELECT * FROM ranked WHERE r <= 10 ORDER BY r, company_id, id;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20)
SELECT n.i, c.name FROM n JOIN companies c ON c.id = n.i;

WITH RECURSIVE r(id, name, depth) AS (
  SELECT id, name, 1 FROM companies WHERE id = 1
  UNION ALL
  SELECT c.id, c.name, r.depth + 1 FROM r JOIN companies c ON c.id = r.id * 2 WHERE r.depth < 10
)
SELECT * FROM r;

WITH RECURSIVE chain(device_id, event_id, depth) AS (
  SELECT device_id, event_id, 1 FROM events WHERE device_id = 9003000009 AND event_id = 1
  UNION ALL
  SELECT e.device_id, e.event_id, chain.depth + 1 FROM chain JOIN events e ON e.device_id = chain.device_id AND e.event_id = chain.event_id + 1
)
SELECT count(*), max(depth) FROM chain;

WITH RECURSIVE owners(company_id, level) AS (
  SELECT id, 0 FROM companies WHERE id IN (1, 2)
  UNION
  SELECT d.owner_company_id, o.level + 1 FROM owners o JOIN devices d ON d.device_id = o.company_id WHERE o.level < 4 AND d.owner_company_id IS NOT NULL
)
SELECT * FROM owners;

WITH RECURSIVE t(n, total) AS (
  SELECT 0, 0::numeric
  UNION ALL
  SELECT t.n + 1, t.total + coalesce((SELECT sum(monthly_budget) FROM campaigns WHERE company_id = t.n + 1), 0) FROM t WHERE t.n < 12
)
SELECT * FROM t;

WITH x AS (SELECT company_id, count(*) AS n FROM campaigns GROUP BY company_id)
SELECT n, count(*) FROM x GROUP BY n;

WITH x AS (SELECT DISTINCT country_code FROM users WHERE karma > 4500)
SELECT co.code FROM countries co WHERE co.code NOT IN (SELECT country_code FROM x WHERE country_code IS NOT NULL);

WITH u AS (SELECT username, device_id FROM users WHERE device_id IS NOT NULL)
SELECT u.username, e.event_type, count(*) FROM u JOIN events e ON e.device_id = u.device_id GROUP BY u.username, e.event_type HAVING count(*) > 3;

WITH h AS (SELECT day FROM holidays)
SELECT count(*) FROM clicks WHERE clicked_at::date IN (SELECT day FROM h);
