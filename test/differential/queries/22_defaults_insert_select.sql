-- Defaults the coordinator fills in (sequences, identity columns, non-constant defaults) in
-- INSERT ... VALUES and INSERT ... SELECT, and INSERT ... SELECT both pushed down between
-- co-located tables and routed through the coordinator, with ON CONFLICT and RETURNING.
-- Statements that draw sequence values order their rows, so both sides draw them alike.

INSERT INTO audit_log (company_id, action) VALUES (1, 'login'), (2, 'login'), (3, 'logout') RETURNING *;

INSERT INTO audit_log (company_id, action, detail) VALUES (4, 'x', DEFAULT), (5, 'y', 'given')
RETURNING id, seq, detail, weight;

INSERT INTO audit_log (id, company_id, action, weight) VALUES (DEFAULT, 6, 'default id', DEFAULT) RETURNING id, weight;

INSERT INTO audit_log (company_id, seq, action) VALUES (7, 700, 'own seq') RETURNING id, seq;

INSERT INTO audit_log (company_id, action) SELECT id, 'bulk' FROM companies WHERE id <= 20 ORDER BY id;

INSERT INTO audit_log (company_id, action, seq)
SELECT company_id, coalesce(state, 'none'), id FROM campaigns WHERE company_id < 5 ORDER BY company_id, id
RETURNING company_id, seq, action;

-- @params 9 | param
INSERT INTO audit_log (company_id, action) SELECT $1::int, $2 RETURNING company_id, action, detail;

INSERT INTO audit_log (company_id, action) SELECT extract(day FROM day)::int, left(name, 12) FROM holidays ORDER BY day;

INSERT INTO audit_log (company_id, action)
SELECT * FROM (SELECT id, 'u1' FROM companies WHERE id < 3 UNION ALL SELECT company_id, 'u2' FROM campaigns WHERE company_id < 3) u
ORDER BY 1, 2;

WITH top AS (SELECT company_id, count(*) AS n FROM clicks GROUP BY company_id ORDER BY n DESC, company_id LIMIT 3)
INSERT INTO audit_log (company_id, action) SELECT company_id, 'top' FROM top ORDER BY company_id RETURNING company_id, action;

INSERT INTO tickets (company_id, title) VALUES (1, 'a'), (2, 'b') RETURNING *;

INSERT INTO tickets (company_id, title) SELECT id, name FROM companies WHERE id BETWEEN 10 AND 30 ORDER BY id;

INSERT INTO tickets (company_id, title) SELECT g, 'gen ' || g FROM generate_series(1, 50) g;

INSERT INTO tickets (title) VALUES ('no company') RETURNING id, company_id, title;

-- A multi-row INSERT returns its rows in the order of its VALUES, whichever shards they go to
-- (drivers give bulk-inserted objects their keys by that order).
-- @ordered
INSERT INTO tickets (company_id, title) VALUES (3, 'r1'), (4, 'r2'), (5, 'r3'), (6, 'r4'), (7, 'r5'), (8, 'r6'), (9, 'r7'), (10, 'r8') RETURNING company_id, title;

-- @ordered
INSERT INTO companies (id, name) VALUES (900001, 'o1'), (1, 'dup'), (900002, 'o2'), (900003, 'o3'), (2, 'dup'), (900004, 'o4'), (900007, 'o5'), (900008, 'o6'), (900001, 'again'), (900009, 'o7'), (900010, 'o8') ON CONFLICT DO NOTHING RETURNING id, name;

-- @ordered
INSERT INTO companies (id, name) VALUES (900005, 'u1'), (900001, 'u2'), (900006, 'u3'), (900002, 'u4'), (900011, 'u5'), (900007, 'u6'), (900012, 'u7') ON CONFLICT (id) DO UPDATE SET name = excluded.name RETURNING id, name;

DELETE FROM companies WHERE id > 900000;

INSERT INTO labels (label) VALUES ('red'), ('green') RETURNING *;

INSERT INTO labels (label) SELECT DISTINCT state FROM campaigns WHERE state IS NOT NULL ORDER BY 1 RETURNING id, label;

INSERT INTO labels (label) VALUES ('red') ON CONFLICT (label) DO NOTHING RETURNING id;

-- Pushed down: co-located source, the distribution column copied.
INSERT INTO clicks (company_id, id, ad_id, cost) SELECT company_id, id + 500000, ad_id, cost FROM clicks WHERE company_id < 10;

INSERT INTO clicks SELECT company_id, id + 600000, ad_id, clicked_at, site_url, cost, is_bot, position, latency_ms, user_data
FROM clicks WHERE company_id BETWEEN 10 AND 12 RETURNING company_id, id, cost;

INSERT INTO campaigns (company_id, id, name, monthly_budget) SELECT company_id, 7000, 'sum', sum(cost) FROM clicks GROUP BY company_id;

INSERT INTO campaigns (company_id, id, name)
SELECT k.company_id, 7001 + k.id, 'join ' || a.name FROM clicks k JOIN ads a ON a.company_id = k.company_id AND a.id = k.ad_id
WHERE k.company_id < 20 AND k.id < 500000;

INSERT INTO campaigns (company_id, id, name, target_countries)
SELECT c.id, 7000, co.name, ARRAY[co.code] FROM companies c JOIN countries co ON co.code = c.country_code
ON CONFLICT (company_id, id) DO UPDATE SET name = EXCLUDED.name, target_countries = EXCLUDED.target_countries
RETURNING company_id, id, name;

INSERT INTO company_notes SELECT * FROM company_notes WHERE company_id = 3 ON CONFLICT DO NOTHING RETURNING *;

-- Through the coordinator: not co-located, LIMIT, DISTINCT, aggregates across shards, local tables.
INSERT INTO company_notes (company_id, note_id, author, body)
SELECT company_id, 2000, 'agg', count(*)::text FROM campaigns GROUP BY company_id
ON CONFLICT (company_id, note_id) DO UPDATE SET body = EXCLUDED.body || ' again'
RETURNING company_id, note_id, body;

INSERT INTO company_notes (company_id, note_id, author, body)
SELECT company_id, 2000, 'agg', count(*)::text FROM campaigns GROUP BY company_id
ON CONFLICT (company_id, note_id) DO UPDATE SET body = EXCLUDED.body || ' again'
RETURNING company_id, note_id, body;

INSERT INTO campaigns (company_id, id, name) SELECT id, 8000, name FROM companies ORDER BY id LIMIT 5 RETURNING company_id, id, name;

INSERT INTO campaigns (company_id, id, name) SELECT DISTINCT company_id, 8001, 'distinct' FROM clicks WHERE cost > 0;

INSERT INTO campaigns (company_id, id, state, monthly_budget)
SELECT plan_id, 8002, 'per plan', count(*) FROM companies WHERE plan_id IS NOT NULL GROUP BY plan_id;

INSERT INTO events (device_id, event_id, event_type, amount)
SELECT device_id, event_id + 700000, event_type, amount FROM events WHERE event_type = 'purchase' AND amount > 50;

INSERT INTO users (username, karma) SELECT name || '!', 1 FROM holidays ON CONFLICT DO NOTHING;

INSERT INTO posts (username, post_id, title, likes, rating)
SELECT username, 9500, 'numbers', 1.6, 2 FROM users WHERE karma > 900;

INSERT INTO countries (code, name) SELECT 'Z' || substr(code, 1, 1), 'copy ' || name FROM countries WHERE code LIKE 'A%'
ON CONFLICT (code) DO NOTHING;

-- JSON values through the coordinator: a JSON null stays apart from SQL NULL, json keeps its text.
INSERT INTO clicks (company_id, id, user_data)
SELECT id, 990000, CASE WHEN id % 3 = 0 THEN 'null'::jsonb WHEN id % 3 = 1 THEN NULL ELSE '{"a": [1, "x"]}'::jsonb END
FROM companies ORDER BY id LIMIT 6;

INSERT INTO ads (company_id, id, metadata)
SELECT id, 990000, CASE WHEN id % 2 = 0 THEN 'null'::json ELSE '{"k":  1,  "k": 2}'::json END
FROM companies ORDER BY id LIMIT 4 RETURNING company_id, metadata::text;

-- @error
INSERT INTO campaigns (company_id, id, name) SELECT company_id, id, 'dup' FROM campaigns WHERE company_id = 1;

-- @error
INSERT INTO campaigns (company_id, id, state) SELECT id, 9000, 'this state is far too long' FROM companies WHERE id < 3;

-- @error
INSERT INTO campaigns (company_id, id) SELECT NULL::int, 1;

-- @error
INSERT INTO campaigns (company_id, id) SELECT id, 9001, 'x' FROM companies;

-- @error
INSERT INTO campaigns (company_id, id, created_at) SELECT id, 9002, true FROM companies;

-- @error
INSERT INTO company_notes (company_id, note_id, priority) SELECT id, 9003, 100000 FROM companies WHERE id < 4;

-- The order sequence values are drawn in: one row in the table's column order (id's default
-- before the item for seq), several rows item by item, then the row's defaults.
INSERT INTO audit_log (action, company_id, seq) VALUES ('order', 3, nextval('audit_log_id_seq'))
RETURNING id, seq, action;

INSERT INTO audit_log (seq, company_id, action) VALUES (nextval('audit_log_id_seq'), 3, 'rows'), (nextval('audit_log_id_seq'), 4, 'rows')
RETURNING id, seq, action;

-- OVERRIDING USER VALUE: the identity column draws its own values, in VALUES, in a SELECT from a
-- co-located table and in one through the coordinator.
INSERT INTO audit_log (company_id, seq, action) OVERRIDING USER VALUE VALUES (1, 70001, 'user-v'), (2, 70002, 'user-v')
RETURNING company_id, seq, action;

INSERT INTO audit_log (company_id, seq, action) OVERRIDING USER VALUE
SELECT company_id, 70000 + id, 'user-co' FROM campaigns WHERE company_id < 4 ORDER BY company_id, id
RETURNING company_id, seq, action;

INSERT INTO audit_log (company_id, seq, action) OVERRIDING USER VALUE
SELECT c.id, 80000 + c.id, 'user-ref' FROM companies c JOIN plans p ON p.id = c.plan_id WHERE c.id < 5 ORDER BY c.id
RETURNING company_id, seq, action;

-- Last: PostgreSQL draws sequence values before it finds the row invalid, so both sides need not
-- agree on the sequence after it.
-- @error
INSERT INTO audit_log DEFAULT VALUES;
