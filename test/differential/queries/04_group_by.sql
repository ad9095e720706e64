-- GROUP BY on the distribution column (groups stay on one shard) and on other columns (groups span
-- shards and must be merged), with expressions, NULL groups and HAVING.

SELECT company_id, count(*), sum(cost), avg(cost), max(clicked_at) FROM clicks GROUP BY company_id;

SELECT company_id, count(*), sum(monthly_budget), avg(monthly_budget) FROM campaigns GROUP BY company_id;

SELECT device_id, count(*), sum(amount), min(event_time) FROM events GROUP BY device_id;

-- @float
SELECT device_id, sum(value), avg(value), sum(reading), stddev(value) FROM events GROUP BY device_id;

SELECT username, count(*), sum(likes), avg(rating), max(title) FROM posts GROUP BY username;

SELECT site_url, count(*), sum(cost), avg(cost), count(DISTINCT company_id) FROM clicks GROUP BY site_url;

SELECT is_bot, count(*), sum(cost), avg(position) FROM clicks GROUP BY is_bot;

SELECT event_type, count(*), count(DISTINCT device_id), sum(amount), avg(amount) FROM events GROUP BY event_type;

-- @float
SELECT event_type, avg(value), stddev_pop(value), sum(reading::double precision) FROM events GROUP BY event_type;

SELECT lower(event_type), count(*) FROM events GROUP BY lower(event_type);

SELECT state, cost_model, count(*), sum(monthly_budget) FROM campaigns GROUP BY state, cost_model;

SELECT country_code, plan_id, count(*), array_agg(id ORDER BY id) FROM companies GROUP BY country_code, plan_id;

SELECT date_trunc('day', clicked_at) AS day, count(*), sum(cost) FROM clicks WHERE clicked_at < '2020-03-01' GROUP BY 1;

SELECT extract(year FROM event_time) AS year, extract(month FROM event_time) AS month, count(*) FROM events GROUP BY 1, 2;

SELECT date_trunc('month', start_date) AS month, count(*), min(monthly_budget) FROM campaigns GROUP BY 1;

SELECT payload ->> 'page' AS page, count(*), sum((payload ->> 'duration')::numeric) FROM events GROUP BY payload ->> 'page';

SELECT tags, count(*) FROM companies GROUP BY tags;

SELECT firmware, count(*) FROM devices GROUP BY firmware;

SELECT registered_on, count(*) FROM devices GROUP BY registered_on HAVING count(*) > 1;

SELECT session_uuid, count(*), count(DISTINCT device_id) FROM events GROUP BY session_uuid HAVING count(*) > 15;

SELECT os, model, count(*) FROM devices GROUP BY os, model HAVING count(*) >= 3;

SELECT company_id, count(*) FROM clicks GROUP BY company_id HAVING count(*) > 100;

SELECT company_id, sum(cost) FROM clicks GROUP BY company_id HAVING sum(cost) > 200 OR sum(cost) IS NULL;

SELECT site_url, count(*) FROM clicks GROUP BY site_url HAVING avg(cost) > 2.5;

SELECT event_type, count(*) FROM events GROUP BY event_type HAVING max(amount) > 9990 AND min(amount) < -990;

SELECT count(*) FROM clicks HAVING count(*) > 0;

SELECT count(*) FROM clicks HAVING count(*) > 1000000;

SELECT is_bot, count(DISTINCT site_url), count(DISTINCT company_id) FROM clicks GROUP BY is_bot;

SELECT c.country_code, count(*), sum(k.cost) FROM companies c JOIN clicks k ON k.company_id = c.id GROUP BY c.country_code;

SELECT u.country_code, count(*), avg(u.karma), sum(u.balance) FROM users u GROUP BY u.country_code;

SELECT signup_date < '2021-01-01' AS early, count(*), avg(karma) FROM users GROUP BY 1;

SELECT position, is_bot, count(*) FROM clicks GROUP BY position, is_bot HAVING count(*) > 30;

SELECT company_id, count(*) FILTER (WHERE is_bot), count(*) FILTER (WHERE position < 3) FROM clicks GROUP BY company_id;

SELECT username, array_agg(post_id ORDER BY post_id), string_agg(title, ' / ' ORDER BY post_id) FROM posts WHERE username LIKE 'user_1%' GROUP BY username;

SELECT company_id, json_agg(id ORDER BY id), jsonb_object_agg(id, site_url ORDER BY id) FROM clicks WHERE company_id BETWEEN 150 AND 160 GROUP BY company_id;

SELECT (employees / 10000) AS bucket, count(*), min(name), max(name) FROM companies GROUP BY employees / 10000;

SELECT continent, count(*) FROM countries GROUP BY continent;

SELECT d.os, count(e.*), count(DISTINCT e.device_id) FROM devices d JOIN events e ON e.device_id = d.device_id GROUP BY d.os;

SELECT ca.state, count(DISTINCT a.id), sum(a.impressions_count) FROM campaigns ca JOIN ads a ON a.company_id = ca.company_id AND a.campaign_id = ca.id GROUP BY ca.state;

SELECT user_data -> 'geo' ->> 'country' AS country, count(*) FROM clicks GROUP BY 1 HAVING count(*) > 50;
