-- Router queries calling what only the coordinator database has or answers rightly: a function
-- the workers lack, sequence functions, lookups of objects by name. The workers would not know
-- them, or answer about their own shards; the statements are answered in the coordinator database.

SELECT id, plus_one(id), plus_one(employees) FROM companies WHERE id = 7;

-- @params 7
SELECT id, plus_one(id), plus_one(employees) FROM companies WHERE id = $1;

-- @params 2
SELECT count(*), plus_one(count(*)::int) FROM campaigns WHERE company_id = $1 AND plus_one(id) > 0;

SELECT c.id, plus_one(a.id) FROM companies c JOIN campaigns a ON a.company_id = c.id WHERE c.id = 3;

-- The values drawn differ between the servers; that one was drawn does not.
SELECT nextval('probe_seq') > 0 FROM companies WHERE id = 3;

-- @params 3
SELECT nextval('probe_seq') > 0, currval('probe_seq') > 0 FROM companies WHERE id = $1;

SELECT id, 'companies'::regclass, regclass 'campaigns', has_table_privilege('companies', 'select')
FROM companies WHERE id = 7;

SELECT to_regclass('companies') IS NOT NULL, to_regclass('campaigns')::text, to_regclass('no_such_table')
FROM companies WHERE id = 7;

-- @params 7 | companies
SELECT to_regclass($2)::text, has_table_privilege($2, 'select'), pg_relation_size('companies') >= 0
FROM companies WHERE id = $1;

-- @params 5
SELECT id, 'plus_one(int)'::regprocedure, 'companies'::regclass::text FROM companies WHERE id = $1;

-- @error
SELECT plus_one('x') FROM companies WHERE id = 7;

-- @error
SELECT 'no_such_table'::regclass FROM companies WHERE id = 7;

-- INSERT … VALUES evaluates such items in the coordinator database, each once, keeping its type
-- (2.5 + 1 into an integer column is 4), also in the distribution column.
INSERT INTO companies (id, name, employees) VALUES (plus_one(2100), 'evaluated', plus_one(1)), (2102, 'typed', 2.5 + plus_one(0))
RETURNING id, name, employees;

-- @params 2103 | 41
INSERT INTO companies (id, name, employees) VALUES ($1, 'prepared', plus_one($2)) RETURNING id, employees;

-- @error
INSERT INTO companies (id, name, employees) VALUES (2104, 'too big', plus_one(2147483647));
