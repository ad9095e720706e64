-- UNION, INTERSECT and EXCEPT (with and without ALL) between distributed, reference and local tables.

SELECT id FROM companies UNION SELECT company_id FROM campaigns;

SELECT id FROM companies UNION ALL SELECT company_id FROM campaigns;

SELECT id FROM companies INTERSECT SELECT company_id FROM campaigns;

SELECT company_id FROM clicks INTERSECT ALL SELECT company_id FROM ads;

SELECT id FROM companies EXCEPT SELECT company_id FROM campaigns;

SELECT company_id FROM ads EXCEPT ALL SELECT company_id FROM campaigns;

SELECT company_id FROM company_notes EXCEPT SELECT id FROM companies;

SELECT country_code FROM companies UNION SELECT code FROM countries;

SELECT country_code FROM users INTERSECT SELECT code FROM countries WHERE continent = 'Europe';

SELECT country_code FROM holidays UNION ALL SELECT country_code FROM companies WHERE id < 20;

SELECT name FROM companies UNION SELECT display_name FROM users;

SELECT lower(name) FROM companies EXCEPT SELECT name FROM companies;

SELECT device_id FROM devices UNION SELECT device_id FROM events;

SELECT device_id FROM events EXCEPT SELECT device_id FROM devices;

SELECT device_id FROM users INTERSECT SELECT device_id FROM devices;

SELECT owner_company_id FROM devices UNION SELECT id FROM companies WHERE id > 190;

SELECT id::bigint FROM companies WHERE id < 5 UNION ALL SELECT device_id FROM devices WHERE device_id < -690;

SELECT monthly_budget FROM campaigns WHERE company_id = 1 UNION ALL SELECT balance FROM users WHERE username LIKE 'user_00%';

-- @ordered
SELECT id, name FROM companies WHERE id < 5 UNION SELECT id, name FROM companies WHERE id BETWEEN 195 AND 200 ORDER BY id;

-- @ordered
(SELECT company_id, id FROM clicks ORDER BY company_id, id LIMIT 5) UNION ALL (SELECT company_id, id FROM clicks ORDER BY company_id DESC, id DESC LIMIT 5) ORDER BY 1, 2;

SELECT count(*) FROM (SELECT site_url FROM clicks UNION SELECT name FROM companies) s;

SELECT * FROM (SELECT company_id, ad_id FROM clicks INTERSECT SELECT company_id, id FROM ads) s WHERE company_id < 10;

(SELECT id FROM companies EXCEPT SELECT company_id FROM clicks) UNION (SELECT id FROM companies EXCEPT SELECT company_id FROM campaigns);

SELECT username FROM users EXCEPT SELECT username FROM posts;

SELECT tags FROM companies UNION SELECT tags FROM events WHERE device_id < 10;

SELECT event_type FROM events INTERSECT SELECT lower(event_type) FROM events;
