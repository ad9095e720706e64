-- ORDER BY (text in the database's collation, NULL placement, numeric ties of different scales),
-- LIMIT/OFFSET with total orders, DISTINCT and DISTINCT ON.

-- @ordered
SELECT id, name FROM companies ORDER BY name, id;

-- @ordered
SELECT id, name FROM companies ORDER BY name DESC NULLS LAST, id DESC;

-- @ordered
SELECT id, name, country_code FROM companies ORDER BY country_code NULLS FIRST, id;

-- @ordered
SELECT id, name, country_code FROM companies ORDER BY country_code DESC, id;

-- @ordered
SELECT id, name FROM companies ORDER BY lower(name), id;

-- @ordered
SELECT username, display_name FROM users ORDER BY username;

-- @ordered
SELECT username, display_name FROM users ORDER BY display_name NULLS FIRST, username DESC;

-- @ordered
SELECT username FROM users ORDER BY username COLLATE "C";

-- @ordered
SELECT id, name FROM companies ORDER BY id LIMIT 10;

-- @ordered
SELECT id, name FROM companies ORDER BY id DESC LIMIT 10 OFFSET 5;

-- @ordered
SELECT company_id, id, cost FROM clicks ORDER BY cost DESC NULLS LAST, company_id, id LIMIT 25;

-- @ordered
SELECT company_id, id, cost FROM clicks WHERE cost IS NOT NULL ORDER BY cost, company_id, id LIMIT 40 OFFSET 100;

-- @ordered
SELECT device_id, event_id, event_time FROM events ORDER BY event_time NULLS FIRST, device_id, event_id LIMIT 30;

-- @ordered
SELECT device_id, event_id, value FROM events ORDER BY value DESC NULLS LAST, device_id, event_id LIMIT 20;

-- @ordered
SELECT device_id, battery_capacity FROM devices ORDER BY battery_capacity DESC, device_id LIMIT 10;

-- @ordered
SELECT device_id, battery_capacity FROM devices ORDER BY battery_capacity NULLS FIRST, device_id LIMIT 10;

-- @ordered
SELECT company_id, count(*) AS n, sum(cost) FROM clicks GROUP BY company_id ORDER BY n DESC, company_id LIMIT 10;

-- @ordered
SELECT site_url, count(*) FROM clicks GROUP BY site_url ORDER BY site_url NULLS FIRST;

-- @ordered
SELECT event_type, count(*) FROM events GROUP BY event_type ORDER BY count(*) DESC, event_type;

-- @ordered
SELECT id, settings FROM companies WHERE settings IS NOT NULL ORDER BY settings, id LIMIT 15;

-- @ordered
SELECT device_id, firmware FROM devices ORDER BY firmware, device_id LIMIT 20;

-- @ordered
SELECT device_id, device_uuid FROM devices ORDER BY device_uuid DESC NULLS LAST, device_id LIMIT 12;

-- @ordered
SELECT id, is_active FROM companies ORDER BY is_active, id;

-- @ordered
SELECT id, name FROM companies ORDER BY 2 DESC, 1 LIMIT 7;

-- @ordered
SELECT username, post_id, rating FROM posts WHERE rating IS NOT NULL ORDER BY rating DESC, username, post_id LIMIT 30;

-- @ordered
SELECT device_id, event_id, amount FROM events ORDER BY amount NULLS LAST, device_id, event_id LIMIT 10 OFFSET 4990;

SELECT id, name FROM companies ORDER BY id LIMIT 0;

SELECT id FROM companies ORDER BY id OFFSET 1000;

SELECT count(*) FROM (SELECT * FROM clicks LIMIT 10) s;

SELECT count(*) FROM (SELECT * FROM clicks OFFSET 4990) s;

SELECT company_id, id, cost FROM clicks ORDER BY cost DESC NULLS LAST FETCH FIRST 5 ROWS WITH TIES;

SELECT position, company_id FROM clicks WHERE position IS NOT NULL ORDER BY position FETCH FIRST 3 ROWS WITH TIES;

SELECT DISTINCT event_type FROM events;

SELECT DISTINCT is_bot, position FROM clicks;

SELECT DISTINCT country_code, plan_id FROM companies;

SELECT DISTINCT lower(name) FROM companies;

SELECT DISTINCT tags FROM events;

SELECT DISTINCT payload -> 'nested' FROM events;

-- @ordered
SELECT DISTINCT site_url FROM clicks ORDER BY site_url;

-- @ordered
SELECT DISTINCT company_id FROM campaigns ORDER BY company_id DESC LIMIT 10;

-- @ordered
SELECT DISTINCT ON (company_id) company_id, id, clicked_at, cost FROM clicks ORDER BY company_id, clicked_at DESC NULLS LAST, id;

-- @ordered
SELECT DISTINCT ON (device_id) device_id, event_id, value FROM events WHERE device_id < 20 ORDER BY device_id, value DESC NULLS LAST, event_id;

SELECT DISTINCT ON (site_url) site_url, company_id, id FROM clicks ORDER BY site_url, company_id, id;

SELECT DISTINCT ON (event_type) event_type, device_id, event_id FROM events ORDER BY event_type, event_time, device_id, event_id;

-- @ordered
SELECT DISTINCT ON (country_code) country_code, username, karma FROM users ORDER BY country_code, karma DESC NULLS LAST, username LIMIT 8;

SELECT count(DISTINCT site_url) FROM (SELECT DISTINCT site_url FROM clicks) s;

-- @ordered
SELECT * FROM (SELECT id, name FROM companies ORDER BY id DESC LIMIT 20) s ORDER BY name, id;

-- LIMIT and OFFSET given by subqueries over a reference table (the coordinator cuts the shards'
-- rows, so the subquery runs first: the coordinator database holds only the table's shell).
-- @ordered
SELECT id, name FROM companies ORDER BY id LIMIT (SELECT count(*) FROM plans);

-- @ordered
SELECT id FROM companies ORDER BY id OFFSET (SELECT max(id) FROM plans) LIMIT 5;

-- @ordered
SELECT company_id, count(*) FROM campaigns GROUP BY company_id ORDER BY company_id LIMIT (SELECT min(id) FROM plans) + 2;

-- @ordered
SELECT DISTINCT company_id FROM campaigns ORDER BY company_id LIMIT (SELECT count(*) FROM countries WHERE eu_member);

-- @ordered
SELECT id FROM companies ORDER BY id FETCH FIRST (SELECT count(*) FROM plans) ROWS WITH TIES;

-- @ordered
SELECT * FROM (SELECT id FROM companies ORDER BY id DESC LIMIT (SELECT count(*) FROM plans)) s ORDER BY id;

-- @ordered
SELECT id FROM companies ORDER BY id LIMIT (SELECT count(*) FROM campaigns WHERE company_id = 3);

-- A negative OFFSET is reported before the LIMIT (the shards' LIMIT is LIMIT + OFFSET).
-- @error
SELECT id FROM companies ORDER BY id OFFSET -5 LIMIT 3;

-- @error
SELECT id FROM companies ORDER BY id OFFSET -5 LIMIT -3;

-- @error
-- @params -2 | 4
SELECT id FROM companies ORDER BY id OFFSET $1 LIMIT $2;

-- @ordered
SELECT id FROM companies ORDER BY id OFFSET NULL LIMIT 3;
