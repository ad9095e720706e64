-- UPDATE and DELETE joined on the target's distribution column with tables whose rows the
-- coordinator fetches (tables of the coordinator database, distributed tables of another
-- co-location group): each shard gets only the rows whose value hashes to it, and shards no row
-- goes to are left alone. NULL values, values of no shard, narrower and wider integer types,
-- text keys, two joined tables, a table read twice, outer joins in FROM, parameters, RETURNING.

CREATE TABLE stage_companies (id int, employees int, note text);

INSERT INTO stage_companies SELECT id, id * 3, 'n' || id FROM companies WHERE id % 4 = 0;

INSERT INTO stage_companies VALUES (NULL, 5, 'null'), (999999, 1, 'absent'), (-7, 2, 'negative');

CREATE TABLE stage_keys (small_id smallint, big_id bigint, name varchar(40), label text);

INSERT INTO stage_keys SELECT id, id, 'stage' || id, 'k' || id FROM companies WHERE id % 5 = 1;

INSERT INTO stage_keys SELECT NULL, device_id, username, 'u' FROM users WHERE karma % 3 = 0;

UPDATE companies c SET employees = s.employees FROM stage_companies s WHERE c.id = s.id
RETURNING c.id, c.employees, s.note;

UPDATE companies c SET employees = c.employees + 1 FROM stage_companies s WHERE s.id = c.id AND s.note <> 'n8';

-- No row of the table meets a shard: the statement still answers with RETURNING's columns.
UPDATE companies c SET employees = 0 FROM stage_companies s WHERE c.id = s.id AND s.note = 'none' RETURNING c.id;

DELETE FROM company_notes n USING stage_companies s WHERE n.company_id = s.id AND s.employees > 30
RETURNING n.company_id, n.note_id;

-- A smallint column joined to an int distribution column, a bigint one to a bigint column, an int
-- one to a bigint column.
UPDATE companies c SET name = c.name || '+' FROM stage_keys k WHERE c.id = k.small_id RETURNING c.id, c.name;

UPDATE devices d SET os = 'os' || k.big_id FROM stage_keys k WHERE d.device_id = k.big_id RETURNING d.device_id, d.os;

UPDATE devices d SET model = 'm' || s.id FROM stage_companies s WHERE d.device_id = s.id RETURNING d.device_id;

-- A bigint column joined to an int distribution column: compared as bigint, the rows go whole.
UPDATE companies c SET employees = c.employees - 1 FROM stage_keys k WHERE c.id = k.big_id RETURNING c.id;

-- A varchar column joined to a text distribution column.
UPDATE users u SET karma = coalesce(u.karma, 0) + 10 FROM stage_keys k WHERE u.username = k.name
RETURNING u.username, u.karma;

-- Two joined tables: a shard gets rows of both only where both have rows.
UPDATE companies c SET employees = s.employees + k.small_id FROM stage_companies s, stage_keys k
WHERE c.id = s.id AND k.small_id = c.id RETURNING c.id, c.employees;

-- The table read twice: its rows are shared, every shard gets them.
UPDATE companies c SET employees = s.employees FROM stage_companies s
WHERE c.id = s.id AND s.id IN (SELECT id + 4 FROM stage_companies) RETURNING c.id;

-- An outer join inside FROM, a filter on the joined table, a parameter.
-- @params 10
UPDATE companies c SET employees = s.employees * 2 FROM stage_companies s LEFT JOIN countries co ON co.code = s.note
WHERE c.id = s.id AND s.employees > $1 RETURNING c.id, c.employees, co.code;

-- A distributed table of another co-location group, joined on both distribution columns.
UPDATE companies c SET employees = c.employees + 100 FROM company_notes n
WHERE c.id = n.company_id AND n.priority = 1 RETURNING c.id, c.employees;

DELETE FROM campaigns ca USING stage_companies s WHERE ca.company_id = s.id AND ca.id % 2 = 0
RETURNING ca.company_id, ca.id;

-- The join and an IN list on the target: only the shards both allow.
UPDATE companies c SET employees = 1 FROM stage_companies s WHERE c.id = s.id AND c.id IN (4, 8, 12, 13)
RETURNING c.id;

-- Not a join on the distribution column: every shard gets every row.
UPDATE companies c SET employees = c.employees + 1 FROM stage_companies s WHERE c.employees = s.id RETURNING c.id;

UPDATE users u SET karma = 5 FROM stage_keys k WHERE u.username = k.name OR u.username = k.label
RETURNING u.username;

DROP TABLE stage_companies;

DROP TABLE stage_keys;
