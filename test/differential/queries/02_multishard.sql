-- Multi-shard selects: filters, projections and expressions evaluated on every shard.

SELECT id, name FROM companies WHERE is_active;

SELECT id, name, is_active FROM companies WHERE is_active IS NOT TRUE;

SELECT id, upper(name), lower(name), length(name), octet_length(name) FROM companies WHERE name ILIKE 'acme%';

SELECT id, name FROM companies WHERE name LIKE '%ü%' OR name LIKE '%Ü%' OR name ~ '[^ -~]';

SELECT * FROM companies WHERE country_code IS NULL;

SELECT id, employees, employees * 2 + 1, employees / 3, employees % 7, -employees, employees::numeric / 7
FROM companies WHERE employees > 40000;

SELECT device_id, event_id, value, value * 2, value / 3, round(value::numeric, 3) FROM events WHERE value > 990;

SELECT company_id, id, cost, cost * 100, cost / 3, round(cost, 2), trunc(cost), ceil(cost), floor(cost), abs(cost), scale(cost)
FROM clicks WHERE cost < 0;

SELECT username, coalesce(display_name, '<none>'), nullif(karma, 0), greatest(karma, 0), least(karma, 100)
FROM users WHERE karma < 100;

SELECT id, CASE WHEN employees IS NULL THEN 'unknown' WHEN employees < 100 THEN 'small' WHEN employees < 10000 THEN 'medium' ELSE 'large' END
FROM companies;

SELECT username, post_id, title FROM posts WHERE title ~* '^hello';

SELECT username FROM users WHERE username > 'u' AND username < 'user_010';

SELECT username FROM users WHERE username < 'b';

SELECT company_id, id, clicked_at FROM clicks
WHERE clicked_at BETWEEN '2021-11-07 00:30:00-04' AND '2021-11-07 03:30:00-05';

SELECT device_id, event_id, local_time, event_time FROM events WHERE local_time = '2021-03-14 02:30:00';

SELECT device_id, firmware, firmware[1], firmware[2:3], array_length(firmware, 1), cardinality(firmware)
FROM devices WHERE firmware IS NOT NULL AND cardinality(firmware) > 2;

SELECT device_id, battery_capacity FROM devices WHERE battery_capacity = 'NaN' OR battery_capacity > 5900 OR battery_capacity < 1000;

SELECT device_id, battery_capacity, battery_capacity::double precision * 2 FROM devices WHERE battery_capacity IN ('Infinity', '-Infinity');

SELECT id, created_at, created_at AT TIME ZONE 'UTC', created_at::date, extract(epoch FROM created_at), extract(hour FROM created_at)
FROM companies WHERE id <= 40;

SELECT id, name || ' (' || coalesce(country_code, '?') || ')', concat(name, '/', plan_id), concat_ws('|', name, country_code, plan_id)
FROM companies;

-- @error
SELECT id, employees / (employees - employees) FROM companies WHERE employees IS NOT NULL;

-- @error
SELECT no_such_column FROM companies;

-- @error
SELECT * FROM no_such_table;

-- @error
SELECT name::int FROM companies;

-- @error
SELECT device_id::int FROM devices;

SELECT device_id, event_id FROM events WHERE device_id < 0 AND value IS NULL;

SELECT username, email FROM users WHERE email ILIKE '%@EXAMPLE.DE';

SELECT device_id, device_uuid FROM devices WHERE device_uuid > 'f0000000-0000-0000-0000-000000000000';

SELECT device_id, event_id, is_valid FROM events WHERE is_valid IS NOT TRUE AND device_id > 9000000000;

SELECT device_id, event_id FROM events WHERE device_id IN (SELECT generate_series(1, 10)) AND event_id = 1;

SELECT device_id, event_id, payload -> 'duration' FROM events WHERE (payload ->> 'duration')::numeric > 95;

SELECT 1 FROM companies WHERE false;

SELECT company_id, id FROM campaigns WHERE (company_id, id) < (2, 5);

SELECT id, id::text, id::bigint, id::numeric(10, 2), employees::real, employees::double precision / 3 FROM companies WHERE id < 10;

SELECT device_id, event_id, amount, amount::numeric(20, 2), amount::bigint FROM events WHERE device_id BETWEEN 10 AND 12;

SELECT company_id, id, campaign_id, ctr, score FROM ads WHERE ctr > 0.19 OR score < -9.9;

SELECT company_id, id, metadata::text FROM ads WHERE company_id IN (5, 6, 7);

SELECT username, md5(username), length(username), reverse(username), initcap(display_name) FROM users WHERE length(username) < 6;

SELECT count(*) FROM events WHERE device_id NOT IN (1, 2, 3) AND NOT is_valid;

SELECT company_id, id FROM campaigns WHERE end_date = 'infinity' OR end_date < start_date;

SELECT id, settings FROM companies WHERE settings IS NOT NULL AND id BETWEEN 20 AND 40;

SELECT id, tags FROM companies WHERE tags = '{}';

SELECT device_id, event_id, tags FROM events WHERE tags IS NOT NULL AND array_position(tags, NULL) IS NOT NULL;

-- TABLESAMPLE samples each shard where its rows are read; only the methods' fixed percentages
-- (0 and 100) give results to compare.
SELECT count(*), sum(id) FROM companies TABLESAMPLE SYSTEM (100);

SELECT count(*) FROM clicks TABLESAMPLE BERNOULLI (0);

SELECT c.id, count(*) FROM companies c TABLESAMPLE BERNOULLI (100) REPEATABLE (7) JOIN campaigns p ON p.company_id = c.id GROUP BY c.id ORDER BY 1 LIMIT 5;

SELECT h.country_code, count(*) FROM holidays h TABLESAMPLE SYSTEM (100) JOIN companies c ON c.country_code = h.country_code GROUP BY 1 ORDER BY 1;

SELECT count(*) FROM countries TABLESAMPLE SYSTEM (100) JOIN companies TABLESAMPLE BERNOULLI (100) ON companies.country_code = countries.code;

-- SELECT of no columns: as many empty rows as the query has.
SELECT FROM companies WHERE id < 10;

SELECT FROM companies ORDER BY name, id LIMIT 3;

SELECT FROM clicks k JOIN companies c ON c.id = k.company_id WHERE c.id < 5;

-- Lists of constants over many shards: each shard's statement carries only its own values.
SELECT id, name FROM companies WHERE id IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 99999) ORDER BY id;

SELECT count(*), sum(employees) FROM companies WHERE id IN (3, 7, 11, 19, 23, 42, 77, 101, 150, NULL);

SELECT id FROM companies WHERE id IN ('1', '2', 2, 3, '04', 5.0) ORDER BY id;

SELECT c.id, count(a.id) FROM companies c JOIN ads a ON a.company_id = c.id
WHERE c.id IN (1, 2, 3, 4, 5, 6, 7, 8) AND a.company_id IN (2, 4, 6, 8, 10, 12) GROUP BY c.id ORDER BY 1;

SELECT c.id, a.id FROM companies c LEFT JOIN ads a ON a.company_id = c.id AND a.company_id IN (1, 2, 3, 4, 5)
WHERE c.id < 10 ORDER BY 1, 2;

SELECT username FROM users WHERE username IN ('user_001', 'user_002', 'user_003', 'user_010', 'user_011', 'nobody') ORDER BY 1;

SELECT device_id, count(*) FROM events WHERE device_id = ANY (ARRAY[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) GROUP BY 1 ORDER BY 1;

SELECT device_id, count(*) FROM events WHERE device_id = ANY (ARRAY['1', '2', '3', '5', '8']::bigint[]) AND event_id IN (1, 2, 3) GROUP BY 1 ORDER BY 1;

SELECT count(*) FROM companies WHERE id IN (SELECT company_id FROM ads WHERE company_id IN (1, 2, 3, 4, 5, 6)) AND id IN (2, 3, 4, 5, 6, 7);

SELECT id FROM companies WHERE id IN (1, 2, 3) OR id IN (4, 5, 6) ORDER BY id;

SELECT id FROM companies WHERE id IN (1, 2, 3, 4) AND id IN (3, 4, 5, 6) ORDER BY id;
