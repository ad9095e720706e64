-- Aggregates over whole distributed tables: worker partials combined into PostgreSQL's final values,
-- including result types, numeric scale, NULLs, empty inputs and ordered aggregates.

SELECT count(*) FROM companies;

SELECT count(*) FROM events;

SELECT count(*) FROM users;

SELECT count(*), count(employees), count(country_code), count(settings), count(tags) FROM companies;

SELECT sum(employees), avg(employees), min(employees), max(employees) FROM companies;

SELECT sum(impressions_count), avg(impressions_count), sum(clicks_count), avg(clicks_count) FROM ads;

SELECT sum(monthly_budget), avg(monthly_budget), min(monthly_budget), max(monthly_budget) FROM campaigns;

SELECT sum(cost), avg(cost), count(cost) FROM clicks;

SELECT sum(amount), avg(amount), count(amount) FROM events;

SELECT sum(balance), avg(balance), sum(karma), avg(karma) FROM users;

SELECT sum(rating), avg(rating), sum(likes), avg(likes) FROM posts;

-- @float
SELECT sum(score), avg(score), min(score), max(score) FROM ads;

-- @float
SELECT sum(value), avg(value), min(value), max(value) FROM events;

-- @float
SELECT avg(reading), min(reading), max(reading), avg(ctr) FROM events, (SELECT avg(ctr) AS ctr FROM ads) a;

-- @float
SELECT avg(latency_ms), max(latency_ms), min(latency_ms) FROM clicks;

SELECT sum(battery_capacity), avg(battery_capacity), max(battery_capacity), min(battery_capacity) FROM devices;

-- @float
SELECT sum(battery_capacity::double precision), avg(battery_capacity) FROM devices WHERE battery_capacity < 'Infinity' AND battery_capacity > '-Infinity';

SELECT min(name), max(name) FROM companies;

SELECT min(username), max(username), min(display_name), max(display_name) FROM users;

SELECT min(start_date), max(start_date), min(end_date), max(end_date) FROM campaigns;

SELECT min(created_at), max(created_at) FROM campaigns;

SELECT min(event_time), max(event_time), min(local_time), max(local_time) FROM events;

SELECT min(tags), max(tags), min(firmware), max(firmware) FROM companies, devices WHERE companies.id = 1;

SELECT min(country_code), max(country_code) FROM users;

SELECT count(DISTINCT event_type), count(DISTINCT device_id), count(DISTINCT session_uuid) FROM events;

SELECT count(DISTINCT company_id), count(DISTINCT ad_id), count(DISTINCT site_url) FROM clicks;

SELECT count(DISTINCT (company_id, position)) FROM clicks;

SELECT sum(DISTINCT position), avg(DISTINCT position), count(DISTINCT lower(site_url)) FROM clicks;

SELECT bool_and(is_active), bool_or(is_active), every(is_active) FROM companies;

SELECT bool_and(is_bot), bool_or(is_bot), bool_and(is_bot IS NOT NULL) FROM clicks;

SELECT bool_and(is_valid), bool_or(NOT is_valid) FROM events WHERE device_id > 0;

SELECT bit_and(employees), bit_or(employees), bit_xor(employees) FROM companies;

SELECT bit_and(device_id), bit_or(device_id), bit_or(event_id) FROM events;

SELECT array_agg(id ORDER BY id) FROM companies WHERE plan_id = 3;

SELECT array_agg(name ORDER BY name, id) FROM companies WHERE id <= 30;

SELECT array_agg(DISTINCT event_type ORDER BY event_type) FROM events;

SELECT string_agg(name, ', ' ORDER BY name DESC, id) FROM companies WHERE id <= 30;

SELECT string_agg(DISTINCT site_url, ' | ' ORDER BY site_url) FROM clicks;

SELECT string_agg(username, ',' ORDER BY username) FILTER (WHERE karma > 4900) FROM users;

SELECT json_agg(id ORDER BY id) FROM companies WHERE country_code = 'DE';

SELECT jsonb_agg(c ORDER BY c.id) FROM companies c WHERE c.id IN (1, 12, 19, 25);

SELECT json_agg(json_build_object('id', id, 'name', name) ORDER BY id) FILTER (WHERE is_active) FROM companies WHERE id < 15;

SELECT jsonb_agg(DISTINCT event_type) FROM events;

SELECT json_object_agg(code, name ORDER BY code) FROM countries;

SELECT jsonb_object_agg(id, name ORDER BY id) FROM companies WHERE id <= 25;

SELECT jsonb_object_agg(coalesce(country_code, 'none'), id ORDER BY id) FROM companies;

SELECT json_object_agg(username, karma ORDER BY username) FILTER (WHERE username LIKE 'user_01%') FROM users;

SELECT count(*) FILTER (WHERE is_bot), count(*) FILTER (WHERE NOT is_bot), sum(cost) FILTER (WHERE position = 1) FROM clicks;

SELECT array_agg(event_id ORDER BY event_id) FILTER (WHERE event_type = 'Purchase') FROM events WHERE device_id = 1;

SELECT stddev(employees), stddev_samp(employees), stddev_pop(employees), variance(employees), var_samp(employees), var_pop(employees) FROM companies;

SELECT stddev(impressions_count), variance(impressions_count), var_pop(clicks_count) FROM ads;

SELECT stddev(cost), variance(cost), stddev_pop(cost), var_pop(cost) FROM clicks;

SELECT stddev(monthly_budget), var_samp(monthly_budget) FROM campaigns;

-- float8 variance over values whose squares overflow: PostgreSQL's state (N, Σx, Σ(x − mean)²)
-- does not square them, nor do the shards' states combined.
SELECT stddev(CASE WHEN id <= 2 THEN 1e200::float8 END), variance(CASE WHEN id IN (3, 4) THEN -1e180::float8 END), stddev_pop(CASE WHEN id <= 5 THEN 1e160::float8 END) FROM companies;

-- Numeric NaN and infinities make the variance families NaN, the square roots too.
SELECT company_id % 4 AS k, stddev(v), stddev_pop(v), variance(v), var_pop(v)
  FROM (SELECT company_id, CASE company_id % 4 WHEN 1 THEN 'NaN'::numeric WHEN 2 THEN 'Infinity' WHEN 3 THEN '-Infinity' ELSE monthly_budget END AS v FROM campaigns) c
  GROUP BY 1;

SELECT stddev(CASE WHEN id = 5 THEN 'NaN'::numeric ELSE cost END), stddev_samp(CASE WHEN id = 5 THEN 'Infinity'::numeric ELSE cost END) FROM clicks;

-- @float
SELECT stddev(score), variance(score), stddev_pop(score), var_pop(score) FROM ads;

-- @float
SELECT stddev(value), variance(reading), corr(value, reading), covar_pop(value, reading), covar_samp(value, reading), regr_slope(value, reading), regr_count(value, reading) FROM events;

SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY score), percentile_disc(0.9) WITHIN GROUP (ORDER BY score) FROM ads;

SELECT percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY employees), mode() WITHIN GROUP (ORDER BY plan_id) FROM companies;

SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY name), mode() WITHIN GROUP (ORDER BY event_type) FROM companies, (SELECT event_type FROM events WHERE device_id = 1) e;

SELECT count(*), sum(employees), avg(employees), max(name), bool_and(is_active), array_agg(id), string_agg(name, ','), json_agg(id), stddev(employees)
FROM companies WHERE false;

SELECT count(*), sum(cost), avg(cost) FROM clicks WHERE cost IS NULL;

SELECT sum(cost * position), avg(length(site_url)), sum(position * 1.5), round(max(cost / nullif(position, 0)), 10) FROM clicks;

SELECT sum(end_date - start_date), avg(end_date - start_date) FROM campaigns WHERE end_date <> 'infinity';

SELECT sum(clicked_at - '2020-01-01 00:00:00+00'), avg(clicked_at - '2020-01-01 00:00:00+00') FROM clicks WHERE company_id <= 20;

SELECT count(*) * 2, sum(employees) / count(*), avg(employees)::int, round(avg(employees), 2) FROM companies;

SELECT round(max(cost) - min(cost), 6), sum(cost) / nullif(sum(position), 0) FROM clicks;

SELECT count(1), count(NULL::int), count('x') FROM clicks;

SELECT max(payload ->> 'page'), min(payload ->> 'page'), count(payload -> 'items') FROM events;

SELECT sum((payload ->> 'duration')::numeric), avg((payload ->> 'duration')::numeric) FROM events;

SELECT sum(array_length(tags, 1)), max(cardinality(tags)) FROM events;

SELECT avg(id), sum(id), avg(post_id), sum(post_id) FROM companies, (SELECT post_id FROM posts WHERE username = 'alice') p;

-- Order-sensitive aggregates split into worker partials (each shard group sends its groups' inputs)
-- and a coordinator combine that sorts them as PostgreSQL would: DESC, NULLS FIRST/LAST, the
-- column's collation (company_notes.author is und-x-icu, .body de-x-icu), FILTER, DISTINCT.
SELECT plan_id, array_agg(employees ORDER BY employees DESC NULLS FIRST, id) FROM companies GROUP BY plan_id;

SELECT plan_id, array_agg(employees ORDER BY employees NULLS FIRST, id DESC), array_agg(id ORDER BY country_code DESC NULLS LAST, id) FROM companies GROUP BY plan_id;

SELECT country_code, string_agg(name, ' | ' ORDER BY is_active NULLS FIRST, name DESC, id) FROM companies WHERE id < 120 GROUP BY country_code;

SELECT string_agg(author, ',' ORDER BY author, company_id, note_id) FROM company_notes;

SELECT priority, array_agg(author ORDER BY author DESC NULLS LAST, company_id, note_id) FROM company_notes GROUP BY priority;

SELECT priority, array_agg(note_id ORDER BY body NULLS FIRST, company_id, note_id) FILTER (WHERE company_id < 100) FROM company_notes GROUP BY priority;

SELECT array_agg(DISTINCT author ORDER BY author), array_agg(DISTINCT body ORDER BY body DESC) FROM company_notes;

SELECT priority, string_agg(DISTINCT body, ' / ' ORDER BY body) FILTER (WHERE priority > 0) FROM company_notes GROUP BY priority;

SELECT created_on IS NULL AS undated, array_agg(DISTINCT author ORDER BY author) FILTER (WHERE note_id > 1), count(DISTINCT author) FILTER (WHERE note_id > 1) FROM company_notes GROUP BY 1;

-- @ordered
SELECT min(author), max(author), min(body), max(body), author FROM company_notes GROUP BY author ORDER BY author NULLS FIRST;

SELECT string_agg(author, ',' ORDER BY author COLLATE "C", company_id, note_id) FROM company_notes WHERE company_id < 60;

SELECT country_code, json_agg(name ORDER BY lower(name), id) FROM companies GROUP BY country_code HAVING count(*) > 5;

SELECT event_type, jsonb_agg(payload ORDER BY event_time NULLS FIRST, device_id, event_id) FILTER (WHERE payload IS NOT NULL) FROM events WHERE device_id BETWEEN -300 AND 30 GROUP BY event_type;

SELECT os, json_object_agg(device_id, model ORDER BY device_id DESC) FROM devices GROUP BY os;

SELECT location_country, jsonb_object_agg(device_id, firmware ORDER BY device_id) FILTER (WHERE firmware IS NOT NULL) FROM devices GROUP BY location_country;

-- @error
SELECT array_agg(tags ORDER BY id) FROM companies;

SELECT plan_id, array_agg(tags ORDER BY id) FILTER (WHERE cardinality(tags) = 2) FROM companies GROUP BY plan_id;

SELECT plan_id, array_agg(id ORDER BY id) FROM companies WHERE false GROUP BY plan_id;

SELECT array_agg(id ORDER BY id), string_agg(name, ',' ORDER BY name), json_agg(id ORDER BY id), jsonb_object_agg(id, name ORDER BY id) FROM companies WHERE id > 100000;

SELECT array_agg(id ORDER BY id) FILTER (WHERE employees < 0), count(*) FROM companies;

-- @ordered
SELECT country_code, string_agg(name, ',' ORDER BY name, id) FROM companies GROUP BY country_code
HAVING string_agg(name, ',' ORDER BY name, id) LIKE '%a%' ORDER BY array_agg(id ORDER BY id DESC) DESC NULLS LAST LIMIT 6;

SELECT plan_id, string_agg(name, country_code ORDER BY id) FROM companies WHERE id < 80 GROUP BY plan_id;

SELECT position, array_agg(cost ORDER BY cost DESC, company_id, id), array_agg(DISTINCT round(cost, 1) ORDER BY round(cost, 1)) FROM clicks WHERE company_id < 50 GROUP BY position;

SELECT event_type, array_agg(event_time ORDER BY event_time NULLS FIRST, device_id, event_id), array_agg(local_time ORDER BY local_time DESC, device_id, event_id) FROM events WHERE device_id BETWEEN 1 AND 20 GROUP BY event_type;

SELECT os, array_agg(device_uuid ORDER BY device_uuid), array_agg(registered_on ORDER BY registered_on NULLS FIRST, device_id) FROM devices GROUP BY os;

SELECT event_type, array_agg(reading ORDER BY reading, device_id, event_id), array_agg(value ORDER BY value DESC, device_id, event_id) FROM events WHERE device_id BETWEEN 1 AND 10 GROUP BY event_type;

SELECT plan_id, jsonb_agg(c ORDER BY c.id) FROM companies c WHERE c.id < 40 GROUP BY plan_id;

SELECT priority, percentile_disc(0.5) WITHIN GROUP (ORDER BY author), mode() WITHIN GROUP (ORDER BY body) FROM company_notes GROUP BY priority;

SELECT plan_id, percentile_cont(0.25) WITHIN GROUP (ORDER BY employees DESC), percentile_disc(ARRAY[0.1, 0.9]) WITHIN GROUP (ORDER BY name) FROM companies GROUP BY plan_id;

SELECT state, xmlagg(xmlelement(name c, name) ORDER BY company_id, id DESC) FROM campaigns WHERE company_id < 20 GROUP BY state;

SELECT plan_id, string_agg(convert_to(name, 'UTF8'), '\x2c'::bytea ORDER BY id) FROM companies WHERE id < 60 GROUP BY plan_id;

-- @params 1000 | ,
SELECT plan_id, string_agg(name, $2 ORDER BY name DESC, id) FILTER (WHERE employees > $1) FROM companies GROUP BY plan_id;

SELECT co.continent, array_agg(c.id ORDER BY co.name, c.id), string_agg(DISTINCT co.name, ',' ORDER BY co.name) FROM companies c JOIN countries co ON co.code = c.country_code GROUP BY co.continent;

SELECT c.plan_id, string_agg(a.name, ',' ORDER BY a.score DESC NULLS LAST, a.company_id, a.id) FROM companies c JOIN ads a ON a.company_id = c.id WHERE c.id < 30 GROUP BY c.plan_id;

SELECT username LIKE 'user_0%' AS early, string_agg(title, ';' ORDER BY created_at DESC NULLS LAST, username, post_id), array_agg(rating ORDER BY rating NULLS FIRST, username, post_id) FROM posts GROUP BY 1;
