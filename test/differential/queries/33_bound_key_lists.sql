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

-- One array parameter: `= ANY ($1)`, as drivers pass a list of keys; cut per shard into array
-- constants of its elements (NULLs equal nothing; a shard without elements reads an empty array).
-- @params {1,2,3,4,5,6,7,8,9,10}
SELECT count(*), sum(employees) FROM companies WHERE id = ANY ($1);

-- @params {3, 5 ,NULL,8}
-- @ordered
SELECT id, name FROM companies WHERE id = ANY ($1::int[]) ORDER BY id;

-- @params {}
SELECT count(*) FROM companies WHERE id = ANY ($1::integer[]);

-- @params {1,2,3}
SELECT count(*) FROM companies WHERE id = ANY ($1::bigint[]);

-- @params {"user_001","with space",nobody,"back\\slash","user_300"}
SELECT username, karma FROM users WHERE username = ANY ($1::text[]);

-- @params {user_002,NULL,"NULL"}
SELECT username FROM users WHERE username = ANY ($1);

-- @params {1,5,10,40} | 2
SELECT c.id, count(ca.id) FROM companies c JOIN campaigns ca ON ca.company_id = c.id
WHERE c.id = ANY ($1) AND ca.id > $2 GROUP BY c.id;

-- @params {1,2} | {3,4}
SELECT id FROM companies WHERE id = ANY ($1::int[]) OR id = ANY ($2::int[]);

-- @params {{1,2},{3,4}}
SELECT count(*) FROM companies WHERE id = ANY ($1::int[]);

-- @params [0:1]={5,6}
SELECT count(*) FROM companies WHERE id = ANY ($1::int[]);

-- @params {1,x}
-- @error
SELECT count(*) FROM companies WHERE id = ANY ($1::int[]);

-- @params {1,3,5,7}
UPDATE companies SET employees = employees + 2 WHERE id = ANY ($1) RETURNING id, employees;

-- @params {2,4}
DELETE FROM company_notes WHERE company_id = ANY ($1::int[]) AND note_id = 2 RETURNING company_id, note_id;

-- Arrays long enough to be cut into each shard's elements (256 or more).
-- @params {1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63,64,65,66,67,68,69,70,71,72,73,74,75,76,77,78,79,80,81,82,83,84,85,86,87,88,89,90,91,92,93,94,95,96,97,98,99,100,101,102,103,104,105,106,107,108,109,110,111,112,113,114,115,116,117,118,119,120,121,122,123,124,125,126,127,128,129,130,131,132,133,134,135,136,137,138,139,140,141,142,143,144,145,146,147,148,149,150,151,152,153,154,155,156,157,158,159,160,161,162,163,164,165,166,167,168,169,170,171,172,173,174,175,176,177,178,179,180,181,182,183,184,185,186,187,188,189,190,191,192,193,194,195,196,197,198,199,200,201,202,203,204,205,206,207,208,209,210,211,212,213,214,215,216,217,218,219,220,221,222,223,224,225,226,227,228,229,230,231,232,233,234,235,236,237,238,239,240,241,242,243,244,245,246,247,248,249,250,251,252,253,254,255,256,257,258,259,260,261,262,263,264,265,266,267,268,269,270,271,272,273,274,275,276,277,278,279,280,281,282,283,284,285,286,287,288,289,290,291,292,293,294,295,296,297,298,299,300,NULL}
SELECT count(*), sum(employees), min(id), max(id) FROM companies WHERE id = ANY ($1::int[]);

-- @params {1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63,64,65,66,67,68,69,70,71,72,73,74,75,76,77,78,79,80,81,82,83,84,85,86,87,88,89,90,91,92,93,94,95,96,97,98,99,100,101,102,103,104,105,106,107,108,109,110,111,112,113,114,115,116,117,118,119,120,121,122,123,124,125,126,127,128,129,130,131,132,133,134,135,136,137,138,139,140,141,142,143,144,145,146,147,148,149,150,151,152,153,154,155,156,157,158,159,160,161,162,163,164,165,166,167,168,169,170,171,172,173,174,175,176,177,178,179,180,181,182,183,184,185,186,187,188,189,190,191,192,193,194,195,196,197,198,199,200,201,202,203,204,205,206,207,208,209,210,211,212,213,214,215,216,217,218,219,220,221,222,223,224,225,226,227,228,229,230,231,232,233,234,235,236,237,238,239,240,241,242,243,244,245,246,247,248,249,250,251,252,253,254,255,256,257,258,259,260,261,262,263,264,265,266,267,268,269,270,271,272,273,274,275,276,277,278,279,280,281,282,283,284,285,286,287,288,289,290,291,292,293,294,295,296,297,298,299,300}
UPDATE companies SET employees = employees - 1 WHERE id = ANY ($1) AND id % 7 = 0 RETURNING id, employees;

-- An array parameter whose elements all go to one shard: the statement runs there whole (the
-- router), as a single key does; one spanning shards takes the multi-shard path.
-- @params {7}
SELECT id, name, employees FROM companies WHERE id = ANY ($1);

-- @params {7,7,NULL}
SELECT count(*), sum(employees) FROM companies WHERE id = ANY ($1::int[]);

-- @params {12}
SELECT c.id, c.name, co.name AS country, p.name AS plan
FROM companies c LEFT JOIN countries co ON co.code = c.country_code JOIN plans p ON p.id = c.plan_id
WHERE c.id = ANY ($1);

-- @params {user_002}
SELECT username, karma FROM users WHERE username = ANY ($1::text[]);

-- @params {3}
SELECT count(*) FROM devices d WHERE d.device_id = ANY ($1) AND EXISTS (SELECT 1 FROM plans WHERE id = 1);

-- @params {999999}
SELECT count(*), max(id) FROM companies WHERE id = ANY ($1);

-- @params {4}
UPDATE companies SET employees = employees + 3 WHERE id = ANY ($1) RETURNING id, employees;

-- @params {6}
DELETE FROM company_notes WHERE company_id = ANY ($1::int[]) AND note_id = 3 RETURNING company_id, note_id;

-- @params {5}
UPDATE devices SET os = 'one-key array' WHERE device_id = ANY ($1::bigint[]) RETURNING device_id, os;
