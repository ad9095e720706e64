-- Window functions: partitioned by the distribution column (computable per shard) and not
-- (needs all rows of a partition together), with frames, named windows and aggregates inside.

SELECT company_id, id, row_number() OVER (PARTITION BY company_id ORDER BY id) FROM clicks WHERE company_id <= 30;

SELECT company_id, id, cost, rank() OVER w, dense_rank() OVER w
FROM clicks WINDOW w AS (PARTITION BY company_id ORDER BY cost DESC NULLS LAST);

SELECT company_id, id, cost, sum(cost) OVER (PARTITION BY company_id) FROM clicks WHERE company_id > 150;

SELECT company_id, id, cost,
       sum(cost) OVER (PARTITION BY company_id ORDER BY id ROWS BETWEEN 2 PRECEDING AND CURRENT ROW),
       avg(cost) OVER (PARTITION BY company_id ORDER BY id ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING)
FROM clicks WHERE company_id <= 10;

SELECT company_id, id, lag(cost) OVER w, lead(cost, 2, 0) OVER w, first_value(id) OVER w, last_value(id) OVER w
FROM clicks WHERE company_id BETWEEN 40 AND 60
WINDOW w AS (PARTITION BY company_id ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING);

SELECT company_id, id, nth_value(cost, 2) OVER (PARTITION BY company_id ORDER BY id) FROM clicks WHERE company_id <= 5;

SELECT site_url, company_id, id, row_number() OVER (PARTITION BY site_url ORDER BY company_id, id) FROM clicks;

SELECT site_url, count(*) OVER (PARTITION BY site_url), sum(cost) OVER (PARTITION BY site_url) FROM clicks;

SELECT event_type, device_id, event_id, rank() OVER (PARTITION BY event_type ORDER BY amount DESC NULLS LAST)
FROM events;

SELECT id, employees, ntile(4) OVER (ORDER BY employees NULLS FIRST, id) FROM companies;

SELECT id, employees, percent_rank() OVER (ORDER BY employees), cume_dist() OVER (ORDER BY employees) FROM companies;

SELECT username, country_code, karma, percent_rank() OVER (PARTITION BY country_code ORDER BY karma) FROM users;

SELECT company_id, sum(cost) AS total, rank() OVER (ORDER BY sum(cost) DESC NULLS LAST) FROM clicks GROUP BY company_id;

SELECT event_type, count(*), sum(count(*)) OVER () AS total, count(*) * 100.0 / sum(count(*)) OVER () AS percent
FROM events GROUP BY event_type;

SELECT id, count(*) OVER () FROM companies WHERE id < 20;

SELECT device_id, event_id, event_time,
       count(*) OVER (PARTITION BY device_id ORDER BY event_time RANGE BETWEEN INTERVAL '1 day' PRECEDING AND CURRENT ROW)
FROM events WHERE device_id < 30 AND event_time IS NOT NULL;

SELECT company_id, id, count(*) FILTER (WHERE is_bot) OVER (PARTITION BY company_id) FROM clicks WHERE company_id <= 20;

-- @ordered
SELECT company_id, id, cost, row_number() OVER (ORDER BY cost DESC NULLS LAST, company_id, id) AS rn
FROM clicks ORDER BY rn LIMIT 15;

SELECT device_id, event_id, value, sum(value) OVER (PARTITION BY device_id ORDER BY event_id) FROM events WHERE device_id < 0;

-- @float
SELECT device_id, event_id, avg(value) OVER (PARTITION BY device_id), max(value) OVER (PARTITION BY device_id) FROM events WHERE device_id > 9000000000;

SELECT * FROM (
  SELECT company_id, id, cost, row_number() OVER (PARTITION BY company_id ORDER BY cost DESC NULLS LAST, id) AS rn FROM clicks
) s WHERE rn <= 2;

SELECT * FROM (
  SELECT username, post_id, likes, rank() OVER (PARTITION BY username ORDER BY likes DESC NULLS LAST) AS r FROM posts
) s WHERE r = 1;

SELECT u.country_code, u.username, u.karma, avg(u.karma) OVER (PARTITION BY u.country_code)
FROM users u;

SELECT company_id, id, monthly_budget,
       sum(monthly_budget) OVER (PARTITION BY company_id ORDER BY monthly_budget NULLS FIRST, id RANGE UNBOUNDED PRECEDING)
FROM campaigns;

SELECT id, name, lag(name) OVER (ORDER BY name, id), lead(name) OVER (ORDER BY name, id) FROM companies;

SELECT company_id, id, array_agg(id) OVER (PARTITION BY company_id ORDER BY id ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)
FROM campaigns WHERE company_id <= 3;

SELECT username, post_id, first_value(title) OVER (PARTITION BY username ORDER BY post_id GROUPS BETWEEN 1 PRECEDING AND 1 FOLLOWING EXCLUDE CURRENT ROW)
FROM posts WHERE username IN ('alice', 'bob', 'zoë');
