-- Values of many types through distributed queries: NULL handling, numeric scale, jsonb and json
-- operators, arrays, text functions, dates and timestamps (the session time zone has DST changes).

SELECT count(*), count(country_code), count(*) - count(country_code) FROM companies;

SELECT id, country_code IS DISTINCT FROM 'US', country_code IS NOT DISTINCT FROM NULL FROM companies WHERE id < 40;

SELECT id, name FROM companies WHERE country_code = NULL;

SELECT id, name FROM companies WHERE country_code IN ('DE', NULL);

SELECT id FROM companies WHERE country_code NOT IN ('DE', NULL);

SELECT NULL::int IS NULL, id FROM companies WHERE plan_id IS NULL;

SELECT id, coalesce(employees, -1), coalesce(settings, '{}'::jsonb), coalesce(tags, '{}') FROM companies WHERE employees IS NULL OR settings IS NULL;

SELECT username, display_name || '!' , concat(display_name, '!'), karma + NULL FROM users WHERE display_name IS NULL;

SELECT is_bot, is_bot IS UNKNOWN, NOT is_bot, is_bot AND true, is_bot OR true FROM clicks WHERE company_id = 1;

SELECT sum(x), avg(x), count(x), max(x) FROM (SELECT NULL::numeric AS x FROM companies) s;

SELECT company_id, id, cost, cost / 3, cost * 1.000, cost + 0.5, cost::float8, round(cost, 1), round(cost / 7, 4) FROM clicks WHERE company_id = 2;

SELECT id, monthly_budget, monthly_budget * 1.1, monthly_budget / 3, (monthly_budget * 1.1)::numeric(12, 2), monthly_budget % 7 FROM campaigns WHERE company_id = 1;

SELECT sum(cost) / count(*), sum(cost) / 3, avg(cost) * 3, sqrt(sum(abs(cost))), power(sum(abs(cost)), 0.5) FROM clicks;

SELECT rating, scale(rating), rating::text, rating * rating FROM posts WHERE username = 'alice';

SELECT avg(rating), avg(rating::numeric(10, 1)), sum(rating::numeric(10, 1)) FROM posts;

SELECT device_id, event_id, payload -> 'page', payload ->> 'page', payload -> 'items' -> 0 ->> 'sku', payload #> '{nested,level}', payload #>> '{nested,note}'
FROM events WHERE device_id = 1;

SELECT count(*) FROM events WHERE payload @> '{"nested": {"ok": true}}';

SELECT count(*), count(*) FILTER (WHERE payload ? 'price'), count(*) FILTER (WHERE payload ?| ARRAY['flag', 'price']), count(*) FILTER (WHERE payload ?& ARRAY['page', 'duration'])
FROM events;

SELECT jsonb_typeof(payload -> 'duration'), jsonb_typeof(payload -> 'flag'), count(*) FROM events GROUP BY 1, 2;

SELECT device_id, event_id, jsonb_array_length(payload -> 'items') FROM events WHERE jsonb_typeof(payload -> 'items') = 'array' AND device_id < 0;

SELECT key, count(*) FROM events, jsonb_each(payload) GROUP BY key;

SELECT key, value, count(*) FROM clicks, jsonb_each_text(user_data -> 'geo') GROUP BY key, value HAVING count(*) > 20;

SELECT device_id, event_id, payload || '{"x": 1}', payload - 'page', jsonb_set(payload, '{page}', '"/new"'), jsonb_strip_nulls(payload)
FROM events WHERE device_id = 2;

SELECT id, settings -> 'billing' ->> 'currency', (settings ->> 'seats')::int * 2, settings -> 'regions' FROM companies WHERE settings ? 'billing';

SELECT count(*) FROM events WHERE jsonb_path_exists(payload, '$.items[*] ? (@.qty > 3)');

SELECT device_id, event_id, jsonb_path_query_array(payload, '$.items[*].sku') FROM events WHERE payload ? 'items' AND device_id BETWEEN 1 AND 5;

SELECT to_jsonb(c) - 'created_at' FROM companies c WHERE id < 5;

SELECT row_to_json(u) FROM users u WHERE username IN ('alice', 'zoë', '');

SELECT company_id, id, metadata, metadata::text, json_typeof(metadata) FROM ads WHERE company_id = 3;

SELECT company_id, id, metadata -> 'size', metadata ->> 'alt' FROM ads WHERE json_typeof(metadata) = 'object' AND company_id < 10;

SELECT json_typeof(metadata), count(*) FROM ads GROUP BY 1;

SELECT id, tags, tags @> ARRAY['red'], tags && ARRAY['a', 'B'], 'ß' = ANY (tags), array_to_string(tags, ',', '*') FROM companies WHERE tags IS NOT NULL;

SELECT count(*) FROM events WHERE tags @> '{blue}';

SELECT tag, count(*) FROM events, unnest(tags) AS tag GROUP BY tag;

SELECT device_id, event_id, array_position(tags, 'blue'), array_remove(tags, 'a'), array_cat(tags, ARRAY['z']), tags[1:2], array_upper(tags, 1)
FROM events WHERE device_id = 3;

SELECT device_id, firmware, firmware @> '{3}', firmware || 99, 0 || firmware, array_append(firmware, NULL), firmware = '{}' FROM devices WHERE device_id < 15;

SELECT username, favorite_numbers, (SELECT sum(x) FROM unnest(favorite_numbers) x) FROM users WHERE username LIKE 'user_03%';

SELECT array_agg(DISTINCT t ORDER BY t) FROM posts, unnest(tags) t;

SELECT unnest(ARRAY[1, 2]), id FROM companies WHERE id < 4;

SELECT id, name, left(name, 3), right(name, 2), substring(name FROM 2 FOR 3), position('a' IN name), replace(name, 'a', 'A'), split_part(name, ' ', 2)
FROM companies WHERE id <= 30;

SELECT username, regexp_replace(username, '[aeiou]', '_', 'g'), translate(username, 'ab', 'AB'), format('%s-%L', username, display_name), quote_literal(username) FROM users WHERE username < 'c';

SELECT username, upper(username), lower(username), length(username), octet_length(username), ascii(username) FROM users WHERE username !~ '^user_';

SELECT body, length(body), strpos(body, chr(10)) FROM posts WHERE body LIKE '%' || chr(10) || '%' AND username = 'alice';

SELECT device_id, device_uuid, device_uuid::text, upper(device_uuid::text) FROM devices WHERE device_id BETWEEN 1 AND 20;

SELECT e.session_uuid, count(*) FROM events e WHERE e.session_uuid IS NOT NULL GROUP BY e.session_uuid HAVING count(*) >= 20;

SELECT device_id, event_id, event_time, date_trunc('day', event_time), date_trunc('hour', event_time), date_trunc('month', event_time)
FROM events WHERE event_time BETWEEN '2021-11-06 20:00:00-04' AND '2021-11-07 06:00:00-05';

SELECT date_trunc('hour', event_time) AS hour, count(*) FROM events
WHERE event_time >= '2021-03-13 20:00:00-05' AND event_time < '2021-03-14 12:00:00-04' GROUP BY 1;

SELECT device_id, event_id, event_time AT TIME ZONE 'Europe/Berlin', event_time AT TIME ZONE 'UTC', timezone('Asia/Kolkata', event_time)
FROM events WHERE device_id = 4;

SELECT device_id, event_id, extract(hour FROM event_time), extract(dow FROM event_time), extract(epoch FROM event_time), to_char(event_time, 'YYYY-MM-DD HH24:MI:SS TZ OF')
FROM events WHERE device_id = 6;

SELECT device_id, event_id, event_time::date, event_time::time, local_time::timestamptz, local_time::date FROM events WHERE device_id = 7;

SELECT device_id, event_id, event_time + interval '1 day', event_time + interval '24 hours', event_time - interval '1 month', local_time + interval '1 day'
FROM events WHERE event_time BETWEEN '2021-03-13 00:00:00-05' AND '2021-03-14 12:00:00-04';

SELECT device_id, event_id, age(event_time, '2020-01-01 00:00:00+00'), event_time - local_time::timestamptz FROM events WHERE device_id = 8;

SELECT date_bin('15 minutes', event_time, '2020-01-01 00:00:00+00') AS bucket, count(*) FROM events WHERE device_id < 10 GROUP BY 1;

SELECT id, start_date, start_date + 7, CASE WHEN isfinite(end_date) THEN end_date - start_date END, date_trunc('month', start_date), extract(dow FROM start_date), start_date::timestamptz
FROM campaigns WHERE company_id = 2;

SELECT id, end_date, end_date = 'infinity', isfinite(end_date) FROM campaigns WHERE end_date IS NOT NULL AND company_id < 40;

SELECT id, created_at, created_at::date, date_trunc('week', created_at), created_at + interval '1 hour' FROM campaigns WHERE company_id = 3;

SELECT count(*) FROM clicks WHERE clicked_at::date = '2021-11-07';

SELECT count(*) FROM clicks WHERE clicked_at >= '2021-11-07' AND clicked_at < '2021-11-08';

SELECT to_char(clicked_at, 'YYYY-MM') AS month, count(*), sum(cost) FROM clicks GROUP BY 1;

SELECT id, employees::real / 3, employees::double precision / 7, (employees::double precision / 7)::real FROM companies WHERE id < 30;

SELECT device_id, battery_capacity, battery_capacity::numeric, battery_capacity = 'NaN', battery_capacity::text FROM devices WHERE device_id IN (5, -21, 9003000009, 6);

-- @error
SELECT (cost * 1000)::numeric(3, 0) FROM clicks;

-- @error
SELECT (payload ->> 'page')::int FROM events WHERE payload ->> 'page' <> '';

-- @error
SELECT json_array_length(metadata) FROM ads;

SELECT pg_typeof(sum(employees)), pg_typeof(sum(impressions_count)), pg_typeof(avg(ctr)), pg_typeof(sum(ctr)), pg_typeof(avg(employees)) FROM companies, ads WHERE companies.id = 1 AND ads.company_id = 1;

-- Subscripts of array constructors and function results, pushed down and combined.
SELECT id, (ARRAY[id, employees])[2], (string_to_array(name, ' '))[1] FROM companies WHERE id = 9;

SELECT sum((ARRAY[id, employees])[1]), max((regexp_split_to_array(name, ' '))[1]) FROM companies;

SELECT username, (favorite_numbers)[1:2], (ARRAY['a', 'b', username])[3] FROM users ORDER BY username LIMIT 5;

-- Results of type bpchar without a length (aggregates over char(n), casts to bpchar) keep their
-- whole value: the type is not "character", which is char(1).
SELECT max(country_code::char(4)), min(name::char(12)), max(name::bpchar) FROM companies;

-- @ordered
SELECT company_id, max(name::char(6)), min(name::char(6)) FROM campaigns GROUP BY company_id ORDER BY company_id;

-- @ordered
SELECT DISTINCT country_code::bpchar FROM companies ORDER BY 1;
