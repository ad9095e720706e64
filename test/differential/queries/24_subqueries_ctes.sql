-- Subqueries and CTEs as the planner splits them: co-located ones run with the outer query on each
-- shard group (derived tables grouped by the distribution column, EXISTS / IN / scalar subqueries
-- tied to it, CTEs inlined); the others run first as subplans whose rows replace them (LIMIT,
-- grouping by other columns, other co-location groups, CTEs referenced twice), with local tables
-- and recursive CTEs; subplan results carrying NULLs, numerics, text, jsonb, arrays, timestamps.

-- Derived tables grouped by the distribution column, joined on it.
SELECT c.name, x.n FROM companies c JOIN (SELECT company_id, count(*) AS n FROM clicks GROUP BY company_id) x ON x.company_id = c.id WHERE x.n > 20;

SELECT count(*), count(DISTINCT site_url) FROM (SELECT DISTINCT company_id, site_url FROM clicks) d;

SELECT s.company_id, s.total FROM (SELECT company_id, sum(cost) AS total FROM (SELECT company_id, cost FROM clicks WHERE NOT is_bot) k GROUP BY company_id) s WHERE s.total > 100;

SELECT t.cid, t.cnt FROM (SELECT company_id, count(*) FROM campaigns GROUP BY 1) AS t(cid, cnt) JOIN companies c ON c.id = t.cid WHERE c.is_active;

SELECT c.id, coalesce(x.n, 0) AS ads FROM companies c LEFT JOIN (SELECT company_id, count(*) AS n FROM ads GROUP BY company_id) x ON x.company_id = c.id;

SELECT round(avg(n), 6), max(n), min(n) FROM (SELECT company_id, count(*) AS n FROM clicks GROUP BY company_id) s;

SELECT u.username, p.cnt, p.top FROM users u JOIN (SELECT username, count(*) AS cnt, max(likes) AS top FROM posts GROUP BY username) p USING (username) WHERE p.top > 90;

-- @ordered
SELECT d.device_id, d.model, e.n FROM devices d JOIN (SELECT device_id, count(*) AS n FROM events GROUP BY device_id) e ON e.device_id = d.device_id ORDER BY e.n DESC, d.device_id LIMIT 5;

SELECT company_id, id, r FROM (SELECT company_id, id, rank() OVER (PARTITION BY company_id ORDER BY cost DESC NULLS LAST, id) AS r FROM clicks) s WHERE r <= 2;

-- Subqueries tied to the distribution column: correlated, or IN on it.
SELECT id FROM companies c WHERE EXISTS (SELECT 1 FROM ads a WHERE a.company_id = c.id AND a.score > 95);

SELECT id, name FROM companies c WHERE NOT EXISTS (SELECT 1 FROM campaigns ca WHERE ca.company_id = c.id AND ca.state = 'running');

SELECT c.company_id, c.id FROM campaigns c WHERE c.id IN (SELECT a.campaign_id FROM ads a WHERE a.company_id = c.company_id AND a.clicks_count > 100);

SELECT c.id, (SELECT k.site_url FROM clicks k WHERE k.company_id = c.id ORDER BY k.cost DESC NULLS LAST, k.id LIMIT 1) AS top_site FROM companies c WHERE c.id < 50;

SELECT u.username FROM users u WHERE (SELECT sum(likes) FROM posts p WHERE p.username = u.username) > 500;

SELECT c.id, (SELECT avg(cost) FROM clicks k WHERE k.company_id = c.id) AS avg_cost, (SELECT count(*) FROM ads a WHERE a.company_id = c.id) AS ads FROM companies c;

SELECT id, name FROM companies WHERE id IN (SELECT company_id FROM clicks WHERE is_bot);

SELECT id FROM companies WHERE id NOT IN (SELECT company_id FROM ads);

SELECT count(*) FROM clicks WHERE (company_id, ad_id) IN (SELECT company_id, id FROM ads WHERE score > 80);

SELECT c.id, t.site_url, t.cost FROM companies c, LATERAL (SELECT site_url, cost FROM clicks k WHERE k.company_id = c.id ORDER BY cost DESC NULLS LAST, id LIMIT 2) t WHERE c.id < 30;

-- A NULL-extended row's IN is NULL or false depending on the other rows: not shard by shard.
SELECT c.id, a.id, a.company_id IN (SELECT company_id FROM clicks WHERE is_bot) AS botted FROM companies c LEFT JOIN ads a ON a.company_id = c.id AND a.score > 98;

-- An outer join's nullable side filtered on the distribution column: every shard of the other side.
SELECT c.id, ca.id FROM companies c LEFT JOIN campaigns ca ON ca.company_id = c.id AND ca.company_id = 5;

-- Pins follow names as PostgreSQL resolves them: an inner alias does not pin the outer query, an
-- unqualified name in a subquery is its own table's column first.
SELECT count(*) FROM campaigns ca JOIN ads a ON a.company_id = ca.company_id WHERE ca.id > 5 OR EXISTS (SELECT 1 FROM clicks a WHERE a.company_id = ca.company_id AND a.company_id = 5);

SELECT count(*) FROM campaigns WHERE company_id = 4 AND EXISTS (SELECT 1 FROM clicks k WHERE k.company_id = company_id AND k.is_bot AND k.cost > 5.5);

-- CTEs: inlined and pushed down, or run once first.
WITH t AS (SELECT company_id, sum(cost) AS total FROM clicks GROUP BY company_id)
SELECT c.name, t.total FROM t JOIN companies c ON c.id = t.company_id;

WITH t AS (SELECT company_id, count(*) AS n FROM ads GROUP BY company_id)
SELECT a.company_id, a.n FROM t a JOIN t b ON a.company_id = b.company_id WHERE a.n > 3;

WITH s AS (SELECT site_url, count(*) AS n FROM clicks GROUP BY site_url)
SELECT a.site_url, b.site_url FROM s a JOIN s b ON a.n = b.n AND a.site_url < b.site_url;

WITH m AS MATERIALIZED (SELECT company_id, max(cost) AS top FROM clicks GROUP BY company_id)
SELECT c.id, m.top FROM companies c LEFT JOIN m ON m.company_id = c.id WHERE c.employees > 1000;

WITH top AS (SELECT company_id, id, cost FROM clicks ORDER BY cost DESC NULLS LAST, company_id, id LIMIT 10)
SELECT c.name, top.id, top.cost FROM top JOIN companies c ON c.id = top.company_id;

WITH a AS (SELECT company_id, count(*) AS n FROM campaigns GROUP BY 1), b AS (SELECT company_id FROM a WHERE n > 2)
SELECT count(*) FROM companies WHERE id IN (SELECT company_id FROM b);

-- A volatile CTE is computed once (each of its two references sees the same values).
WITH r AS (SELECT company_id, id, random() AS x FROM campaigns)
SELECT count(*) FROM r a JOIN r b ON a.company_id = b.company_id AND a.id = b.id AND a.x = b.x;

WITH x (cid, total) AS (SELECT company_id, sum(monthly_budget) FROM campaigns GROUP BY company_id)
SELECT y.cid, y.total FROM x AS y WHERE y.total > (SELECT avg(total) FROM x);

-- Subqueries that run first: LIMIT, grouping by other columns, other co-location groups.
SELECT x.company_id, c.name FROM (SELECT company_id FROM clicks ORDER BY cost DESC NULLS LAST, company_id, id LIMIT 7) x JOIN companies c ON c.id = x.company_id;

SELECT site_url, n FROM (SELECT site_url, count(*) AS n FROM clicks GROUP BY site_url) s WHERE n > (SELECT avg(n) FROM (SELECT site_url, count(*) AS n FROM clicks GROUP BY site_url) t);

SELECT count(*) FROM companies WHERE id IN (SELECT company_id FROM company_notes WHERE priority > 2);

SELECT count(*) FROM clicks WHERE EXISTS (SELECT 1 FROM company_notes WHERE priority = 5);

SELECT c.id, n.note_id FROM companies c JOIN company_notes n ON n.company_id = c.id WHERE n.priority = 1;

SELECT d.model, count(*) FROM users u JOIN devices d ON d.device_id = u.device_id GROUP BY d.model;

SELECT id, employees - (SELECT avg(employees) FROM companies)::int AS diff FROM companies WHERE id < 20;

SELECT count(*) FROM clicks WHERE cost > (SELECT max(cost) FROM clicks WHERE company_id = -12345);

SELECT c.id FROM companies c WHERE c.plan_id = ANY (ARRAY(SELECT plan_id FROM companies WHERE employees > 40000 AND plan_id IS NOT NULL));

SELECT id FROM companies WHERE id IN (SELECT company_id FROM ads WHERE score > 95 UNION SELECT company_id FROM company_notes WHERE priority = 5);

SELECT company_id, count(*) FROM clicks GROUP BY company_id HAVING count(*) > (SELECT avg(n) FROM (SELECT count(*) AS n FROM clicks GROUP BY company_id) s);

SELECT c.id FROM companies c WHERE c.employees > (SELECT avg(employees) FROM companies c2 WHERE c2.country_code = c.country_code) AND c.id IN (SELECT company_id FROM clicks ORDER BY cost DESC NULLS LAST, company_id, id LIMIT 50);

-- @params 50 | 5
SELECT id FROM companies WHERE id IN (SELECT company_id FROM clicks WHERE cost > $1 ORDER BY cost DESC, company_id, id LIMIT $2);

-- @error
SELECT id FROM companies WHERE id = (SELECT company_id FROM clicks WHERE cost > 5);

-- An unqualified name a subquery's table lacks is the outer query's: not a filter of the table.
SELECT g, (SELECT count(*) FROM clicks WHERE company_id = g) FROM generate_series(1, 5) g;

-- Local tables.
SELECT h.name, count(*) FROM clicks k JOIN holidays h ON h.day = k.clicked_at::date GROUP BY h.name;

SELECT count(*) FROM events WHERE event_time::date IN (SELECT day FROM holidays);

SELECT h.day, count(k.id) FROM holidays h LEFT JOIN clicks k ON k.clicked_at::date = h.day GROUP BY h.day;

-- Recursive CTEs over distributed tables.
WITH RECURSIVE r(id, depth) AS (
  SELECT id, 1 FROM companies WHERE id = 3
  UNION ALL
  SELECT c.id, r.depth + 1 FROM r JOIN companies c ON c.id = r.id + 7 WHERE r.depth < 6
)
SELECT * FROM r;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30)
SELECT n.i, count(k.id) FROM n JOIN clicks k ON k.company_id = n.i GROUP BY n.i;

-- Subplan rows of many types, with NULLs, read back with their types.
SELECT x.* FROM (SELECT company_id, id, user_data, cost, site_url, latency_ms, clicked_at FROM clicks ORDER BY id, company_id LIMIT 20) x JOIN companies c ON c.id = x.company_id;

SELECT s.* FROM (SELECT device_id, event_time, local_time, tags, payload, session_uuid, is_valid, reading, amount FROM events ORDER BY event_id DESC, device_id LIMIT 25) s WHERE s.device_id IN (SELECT device_id FROM devices);

SELECT x.state, x.monthly_budget, x.target_countries, x.start_date FROM (SELECT state, monthly_budget, target_countries, start_date, company_id FROM campaigns ORDER BY monthly_budget DESC NULLS LAST, company_id, id LIMIT 5) x JOIN companies c ON c.id = x.company_id;

SELECT u.username, u.preferences, u.favorite_numbers, u.balance FROM users u WHERE u.username IN (SELECT username FROM posts ORDER BY rating DESC NULLS LAST, username, post_id LIMIT 10);

-- A data-modifying WITH on a local table runs where it is written.
-- @touches holidays
WITH d AS (INSERT INTO holidays VALUES ('2099-01-01', 'Future day', 'US') RETURNING *)
SELECT d.name, count(*) FROM clicks k JOIN d ON k.company_id < 5 GROUP BY d.name;

-- Shapes found by review: a FULL JOIN across co-location groups, an alias hiding the outer one at a
-- middle level, a filter on a derived table grouped by the distribution column, and a row IN over
-- DISTINCT rows led by the distribution column.
SELECT count(*), count(c.id), count(d.device_id) FROM companies c FULL JOIN devices d ON d.owner_company_id = c.id;

SELECT a.id, (SELECT count(*) FROM ads a JOIN clicks k ON k.company_id = a.company_id) AS n FROM companies a WHERE a.id = 3;

SELECT count(*), sum(n) FROM (SELECT company_id, count(*) AS n FROM clicks GROUP BY 1) s WHERE s.company_id = 5;

SELECT count(*) FROM ads WHERE (company_id, campaign_id) IN (SELECT DISTINCT company_id, id FROM campaigns);
