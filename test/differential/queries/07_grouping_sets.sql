-- GROUPING SETS, ROLLUP and CUBE, with GROUPING() to tell subtotal rows from NULL group keys.

SELECT is_bot, position, count(*), sum(cost), GROUPING(is_bot, position) FROM clicks GROUP BY CUBE (is_bot, position);

SELECT state, cost_model, count(*), sum(monthly_budget), GROUPING(state), GROUPING(cost_model)
FROM campaigns GROUP BY ROLLUP (state, cost_model);

SELECT event_type, is_valid, count(*), sum(amount) FROM events GROUP BY GROUPING SETS ((event_type), (is_valid), ());

SELECT company_id, site_url, count(*) FROM clicks WHERE company_id <= 5 GROUP BY ROLLUP (company_id, site_url);

SELECT country_code, plan_id, is_active, count(*) FROM companies GROUP BY GROUPING SETS ((country_code, plan_id), (is_active), (plan_id, is_active));

SELECT date_trunc('year', event_time) AS year, extract(quarter FROM event_time) AS quarter, count(*), sum(amount)
FROM events GROUP BY ROLLUP (1, 2);

SELECT co.continent, c.country_code, count(*), sum(c.employees)
FROM companies c LEFT JOIN countries co ON co.code = c.country_code
GROUP BY ROLLUP (co.continent, c.country_code);

SELECT os, model, count(*), GROUPING(os, model) FROM devices GROUP BY CUBE (os, model) HAVING count(*) > 5;

SELECT username IS NULL, country_code, count(*), avg(karma) FROM users GROUP BY CUBE (1, 2);

SELECT event_type, count(*), array_agg(DISTINCT device_id ORDER BY device_id) FILTER (WHERE device_id < 5)
FROM events GROUP BY GROUPING SETS ((event_type), ());

SELECT company_id, count(*) FROM campaigns GROUP BY GROUPING SETS ((company_id), ()) HAVING count(*) > 30;

-- @float
SELECT is_valid, event_type, avg(value), count(*) FROM events GROUP BY ROLLUP (is_valid, event_type);

-- @ordered
SELECT state, cost_model, count(*) FROM campaigns GROUP BY CUBE (state, cost_model)
ORDER BY GROUPING(state, cost_model), state NULLS FIRST, cost_model NULLS FIRST;
