-- Lists of parameters compared with the distribution column (`IN ($1, $2, …)`, as ORMs write a
-- lookup of many keys; `= ANY (ARRAY[$1, …])`): each shard's statement gets only the parameters
-- whose values hash to it. Mixed with constants, repeated, NULL, text and bigint keys, co-located
-- joins, UPDATE and DELETE, and a value not of the column's type.

-- @params 1 | 2 | 3 | 4
SELECT count(*), sum(employees) FROM companies WHERE id IN ($1, $2, $3, $4);

-- @params 5 | 9 | 13
-- @ordered
SELECT id, name FROM companies WHERE id IN ($1, $2, $3) ORDER BY id;

-- @params 6 | NULL | 8
SELECT id FROM companies WHERE id IN ($1, $2, $3);

-- @params 7 | 11
SELECT id, employees FROM companies WHERE id IN (1, $1, 3, $2);

-- @params 2 | 2 | 10
SELECT id FROM companies WHERE id IN ($1, $1, $2, $3);

-- @params 1 | 2 | 3 | 4 | 5 | 6 | 100
SELECT id, name FROM companies WHERE id IN ($1, $2, $3, $4, $5, $6) AND employees < $7;

-- @params 3 | 4 | 12
SELECT id FROM companies WHERE id = ANY (ARRAY[$1, $2, $3]::int[]);

-- @params 1 | 2 | 3
SELECT c.id, count(ca.id) FROM companies c JOIN campaigns ca ON ca.company_id = c.id
WHERE c.id IN ($1, $2, $3) GROUP BY c.id;

-- @params 3 | 5 | 8
SELECT ca.company_id, count(*) FROM campaigns ca JOIN ads a ON a.company_id = ca.company_id AND a.campaign_id = ca.id
WHERE ca.company_id IN ($1, $2, $3) GROUP BY 1;

-- @params 1 | 2 | 3 | 4 | 5
SELECT device_id, count(*) FROM events WHERE device_id IN ($1, $2, $3, $4, $5) GROUP BY 1;

-- @params user_001 | with space | nobody | user_300
SELECT username, karma FROM users WHERE username IN ($1, $2, $3, $4);

-- @params 1 | abc
-- @error
SELECT id FROM companies WHERE id IN ($1, $2);

-- @params 2 | 4 | 6 | 9
UPDATE companies SET employees = employees + 1 WHERE id IN ($1, $2, $3, $4) RETURNING id, employees;

-- @params 3 | 7
DELETE FROM company_notes WHERE company_id IN ($1, $2) AND note_id = 1 RETURNING company_id, note_id;

-- @params 1 | 5 | 10
UPDATE devices SET os = 'bound' WHERE device_id = ANY (ARRAY[$1, $2, $3]::bigint[]) RETURNING device_id;
