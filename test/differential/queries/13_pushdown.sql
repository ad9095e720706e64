-- Statements the shards answer themselves: full pushdown (GROUP BY, DISTINCT ON and window
-- partitions on the distribution column, ORDER BY + LIMIT cut early on each shard) and partial
-- aggregation (per-shard states combined on the coordinator), with the edge cases of each.

-- Partial aggregation: numeric scale of avg, exact variance families, empty groups.
SELECT avg(employees), variance(employees), var_pop(employees), stddev(employees), stddev_pop(employees) FROM companies;

SELECT avg(monthly_budget), variance(monthly_budget), stddev_samp(monthly_budget), var_samp(monthly_budget) FROM campaigns;

SELECT state, count(*), avg(monthly_budget), stddev(monthly_budget), variance(monthly_budget) FROM campaigns GROUP BY state ORDER BY state NULLS FIRST;

SELECT avg(cost), stddev(cost), var_pop(cost), avg(position), stddev_pop(position) FROM clicks;

SELECT avg(impressions_count), variance(impressions_count), stddev(clicks_count) FROM ads;

SELECT priority, avg(priority), variance(priority), count(*) FROM company_notes GROUP BY priority ORDER BY priority NULLS FIRST;

-- @float
SELECT avg(value), stddev(value), variance(value), var_pop(reading), stddev_pop(reading), avg(reading) FROM events;

-- @float
SELECT event_type, avg(value), stddev_samp(value), var_samp(reading) FROM events GROUP BY event_type ORDER BY event_type NULLS LAST;

-- @float
SELECT avg(ctr), avg(score), stddev(score) FROM ads WHERE company_id < 10;

SELECT count(*), sum(employees), avg(employees), stddev(employees) FROM companies WHERE employees < 0;

SELECT count(*), variance(employees), stddev(employees) FROM companies WHERE id = 1 OR id = 2;

SELECT variance(employees), stddev_pop(employees) FROM companies WHERE employees = 50;

-- Sums keep PostgreSQL's result types (bigint for int, numeric for bigint).
SELECT sum(employees), sum(employees::bigint), sum(position), sum(impressions_count) FROM companies, (SELECT 1 AS position, 2::bigint AS impressions_count) x;

SELECT plan_id, sum(employees), max(employees) - min(employees) AS spread, count(*) * 2 AS twice FROM companies GROUP BY plan_id ORDER BY plan_id NULLS FIRST;

-- FILTER inside split aggregates.
SELECT count(*) FILTER (WHERE is_active), sum(employees) FILTER (WHERE country_code = 'DE'), avg(employees) FILTER (WHERE plan_id = 2), stddev(employees) FILTER (WHERE is_active) FROM companies;

SELECT country_code, count(*) FILTER (WHERE is_active), bool_and(is_active) FILTER (WHERE employees > 100) FROM companies GROUP BY country_code ORDER BY country_code NULLS FIRST;

-- DISTINCT aggregates become grouping keys on the shards.
SELECT country_code, count(DISTINCT plan_id), sum(DISTINCT employees), count(*) FROM companies GROUP BY country_code ORDER BY country_code NULLS FIRST;

SELECT count(DISTINCT site_url), count(DISTINCT ad_id), avg(DISTINCT position), string_agg(DISTINCT site_url, ',' ORDER BY site_url) FROM clicks WHERE company_id < 40;

SELECT array_agg(DISTINCT os ORDER BY os), count(DISTINCT model) FROM devices;

SELECT event_type, count(DISTINCT device_id), count(DISTINCT session_uuid) FROM events GROUP BY event_type ORDER BY 2 DESC, 1 NULLS LAST;

-- GROUP BY positions, output names and expressions; HAVING and ORDER BY on aggregates not selected.
SELECT lower(country_code) AS cc, count(*) FROM companies GROUP BY cc ORDER BY cc NULLS FIRST;

SELECT date_trunc('month', clicked_at) AS month, count(*), sum(cost) FROM clicks GROUP BY 1 ORDER BY 1 NULLS FIRST;

SELECT plan_id, count(*) FROM companies GROUP BY plan_id HAVING avg(employees) > 100 ORDER BY sum(employees) DESC, plan_id NULLS FIRST;

SELECT os, count(*) FROM devices GROUP BY os HAVING count(*) > 3 AND max(registered_on) > '2020-01-01' ORDER BY count(*) DESC, os;

SELECT country_code IS NULL AS unknown, count(*) FROM companies GROUP BY country_code IS NULL ORDER BY 1;

SELECT plan_id, count(*) AS n FROM companies GROUP BY plan_id ORDER BY n DESC, plan_id NULLS FIRST LIMIT 3;

SELECT state, sum(monthly_budget) FROM campaigns GROUP BY state ORDER BY 2 DESC NULLS LAST LIMIT 2 OFFSET 1;

-- Window functions over aggregated groups, computed on the coordinator.
SELECT plan_id, count(*), rank() OVER (ORDER BY count(*) DESC) FROM companies GROUP BY plan_id ORDER BY plan_id NULLS FIRST;

SELECT country_code, sum(employees), sum(sum(employees)) OVER () FROM companies GROUP BY country_code ORDER BY country_code NULLS FIRST;

-- Full pushdown: GROUP BY the distribution column, also through co-located joins.
SELECT company_id, count(*), sum(cost), avg(cost), stddev(cost) FROM clicks GROUP BY company_id ORDER BY company_id LIMIT 10;

SELECT company_id, count(*) FROM clicks GROUP BY company_id HAVING count(*) > 30 ORDER BY count(*) DESC, company_id;

SELECT c.id, c.name, count(k.id), sum(k.cost) FROM companies c JOIN clicks k ON k.company_id = c.id GROUP BY c.id, c.name ORDER BY 4 DESC NULLS LAST, 1 LIMIT 5;

SELECT c.id, count(ca.id), count(a.id) FROM companies c LEFT JOIN campaigns ca ON ca.company_id = c.id LEFT JOIN ads a ON a.company_id = ca.company_id AND a.campaign_id = ca.id GROUP BY c.id ORDER BY 3 DESC, 1 LIMIT 7;

SELECT ca.company_id, ca.id, array_agg(a.id ORDER BY a.id) FROM campaigns ca JOIN ads a USING (company_id) WHERE a.campaign_id = ca.id GROUP BY ca.company_id, ca.id ORDER BY 1, 2 LIMIT 12;

SELECT device_id, string_agg(event_type, ',' ORDER BY event_id), json_agg(event_id ORDER BY event_id) FROM events WHERE device_id < 40 GROUP BY device_id ORDER BY device_id;

-- Co-located joins with reference tables, and FULL JOIN on the distribution columns.
SELECT co.continent, count(*), sum(c.employees) FROM companies c JOIN countries co ON co.code = c.country_code GROUP BY co.continent ORDER BY 1 NULLS FIRST;

SELECT p.name, count(*), avg(c.employees) FROM companies c JOIN plans p ON p.id = c.plan_id GROUP BY p.name ORDER BY p.name;

SELECT count(*), count(c.id), count(n.company_id) FROM companies c FULL JOIN clicks n ON n.company_id = c.id;

SELECT co.code, count(c.id) FROM countries co LEFT JOIN companies c ON c.country_code = co.code GROUP BY co.code ORDER BY co.code;

-- ORDER BY + LIMIT cut on each shard; ties, offsets, expressions not selected.
SELECT company_id, id, cost FROM clicks ORDER BY cost DESC NULLS LAST, company_id, id LIMIT 10;

SELECT company_id, id FROM clicks ORDER BY cost * 2 DESC NULLS LAST, company_id, id LIMIT 5 OFFSET 3;

SELECT id, name FROM companies ORDER BY employees NULLS FIRST, id LIMIT 4 OFFSET 10;

SELECT company_id, id, position FROM clicks ORDER BY position FETCH FIRST 3 ROWS WITH TIES;

SELECT company_id, id, cost FROM clicks WHERE company_id IN (3, 5, 7, 11) ORDER BY cost NULLS FIRST, id LIMIT 6;

SELECT id FROM companies ORDER BY id OFFSET 195;

SELECT id, name FROM companies ORDER BY name COLLATE "C", id LIMIT 5;

-- DISTINCT and DISTINCT ON.
SELECT DISTINCT country_code FROM companies ORDER BY 1 NULLS FIRST;

SELECT DISTINCT plan_id, is_active FROM companies ORDER BY plan_id NULLS FIRST, is_active NULLS FIRST LIMIT 5;

SELECT DISTINCT ON (company_id) company_id, id, cost FROM clicks ORDER BY company_id, cost DESC NULLS LAST, id LIMIT 15;

SELECT DISTINCT ON (device_id) device_id, event_id, event_type FROM events ORDER BY device_id, event_time DESC NULLS LAST, event_id;

-- Window functions partitioned by the distribution column run on the shards.
SELECT company_id, id, cost, row_number() OVER (PARTITION BY company_id ORDER BY cost DESC NULLS LAST, id) FROM clicks WHERE company_id < 15 ORDER BY 1, 4;

SELECT device_id, event_id, sum(amount) OVER w, count(*) OVER w FROM events WINDOW w AS (PARTITION BY device_id ORDER BY event_id) ORDER BY device_id, event_id LIMIT 40;

SELECT username, post_id, likes, rank() OVER (PARTITION BY username ORDER BY likes DESC NULLS LAST) FROM posts ORDER BY username, post_id;

-- Parameters and casts in pushed-down statements.
SELECT company_id, count(*) FROM clicks WHERE cost > 10::numeric GROUP BY company_id ORDER BY company_id LIMIT 3;

SELECT (employees / 100)::int AS bucket, count(*) FROM companies GROUP BY 1 ORDER BY 1 NULLS FIRST;

-- Not splittable: answered from the rows on the coordinator.
SELECT country_code, array_agg(id ORDER BY id) FROM companies GROUP BY country_code ORDER BY country_code NULLS FIRST;

SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY employees), count(*) FROM companies;

-- @float
SELECT corr(value, reading), regr_slope(value, reading), count(*) FROM events;

SELECT id, now() > created_at FROM companies ORDER BY id LIMIT 3;

SELECT random() < 2 AS yes, count(*) FROM companies GROUP BY 1;

-- RIGHT JOIN between co-located tables on the distribution column.
SELECT count(*), count(c.id), count(ca.company_id) FROM campaigns ca RIGHT JOIN companies c ON c.id = ca.company_id;

SELECT c.id, count(ca.id) FROM campaigns ca RIGHT JOIN companies c ON c.id = ca.company_id GROUP BY c.id ORDER BY 2 DESC, 1 LIMIT 5;

-- Parameters through the extended protocol: in shard filters, HAVING, LIMIT and OFFSET (the shards
-- get LIMIT + OFFSET), and in split aggregates.
-- @params 10 | 3
SELECT company_id, count(*) FROM clicks WHERE cost > $1::numeric GROUP BY company_id ORDER BY company_id LIMIT $2;

-- @params 5 | 2 | 4
SELECT company_id, id, cost FROM clicks WHERE position < $1 ORDER BY cost DESC NULLS LAST, company_id, id LIMIT $2 OFFSET $3;

-- @params 20 | 100
SELECT plan_id, count(*), avg(employees), stddev(employees) FROM companies WHERE id > $1 GROUP BY plan_id HAVING sum(employees) > $2 ORDER BY plan_id NULLS FIRST;

-- @params 2
SELECT count(*), sum(employees * $1::int), count(DISTINCT country_code) FROM companies;

-- @params NULL
SELECT id FROM companies ORDER BY id LIMIT $1::bigint;
