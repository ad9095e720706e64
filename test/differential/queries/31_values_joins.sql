-- VALUES lists joined to distributed tables on the distribution column: each shard gets only the
-- rows whose value hashes to it, and only those shards are read; outer joins, NULLs, expressions
-- and parameters in the list, UPDATE … FROM and DELETE … USING.

SELECT x.tag, count(*), sum(e.amount)
FROM events e JOIN (VALUES (1::bigint, 'a'), (2, 'b'), (3, 'a'), (4, 'c')) x(id, tag) ON e.device_id = x.id
GROUP BY x.tag;

-- @ordered
SELECT d.device_id, d.model, x.label FROM devices d, (VALUES (5, 'five'), (6, 'six'), (99999, 'none')) x(id, label)
WHERE d.device_id = x.id ORDER BY 1;

-- The list on the preserved side of an outer join: every row of it once.
-- @ordered
SELECT x.id, d.model FROM (VALUES (1), (2), (424242)) x(id) LEFT JOIN devices d ON d.device_id = x.id ORDER BY x.id;

-- @ordered
SELECT x.id, d.os FROM devices d RIGHT JOIN (VALUES (3::bigint), (424243)) x(id) ON d.device_id = x.id ORDER BY 1;

SELECT count(*), count(d.device_id), count(x.id) FROM devices d FULL JOIN (VALUES (3::bigint), (424243)) x(id) ON d.device_id = x.id;

-- @ordered
SELECT u.username, x.n FROM users u JOIN (VALUES ('alice', 1), ('bob', 2), ('nobody', 3)) x(name, n) ON u.username = x.name
ORDER BY 1;

-- The list's own column names.
SELECT count(*), sum(x.column2) FROM companies c JOIN (VALUES (1, 10), (2, 20), (3, 30)) x ON c.id = x.column1;

-- A NULL, an expression, a numeric: not routed by, the list goes whole.
SELECT count(*) FROM companies c JOIN (VALUES (1), (NULL), (3)) x(id) ON c.id = x.id;

SELECT count(*) FROM companies c JOIN (VALUES (1 + 1), (3)) x(id) ON c.id = x.id;

SELECT count(*) FROM companies c JOIN (VALUES (1.0), (2.5), (3)) x(id) ON c.id = x.id;

-- Parameters in the list.
-- @params 1 | 2
-- @ordered
SELECT c.id, c.name FROM companies c JOIN (VALUES ($1::int), ($2::int)) x(id) ON c.id = x.id ORDER BY 1;

-- With a co-located join, and with two lists.
SELECT c.name, count(ca.id) FROM companies c JOIN campaigns ca ON ca.company_id = c.id
JOIN (VALUES (1), (2), (7)) x(id) ON x.id = c.id GROUP BY c.name;

SELECT count(*) FROM companies c JOIN (VALUES (1), (2), (3)) x(id) ON c.id = x.id JOIN (VALUES (2), (3), (4)) y(id) ON c.id = y.id;

-- The list read once more for an aggregate over its own column.
SELECT count(DISTINCT x.grp), sum(c.employees) FROM companies c
JOIN (VALUES (1, 'g1'), (2, 'g1'), (3, 'g2'), (4, 'g3'), (5, 'g2'), (6, 'g1')) x(id, grp) ON c.id = x.id;

-- Modifications.
UPDATE companies c SET employees = x.e FROM (VALUES (1, 11), (2, 22), (3, 33), (4, 44), (5, 55)) x(id, e)
WHERE c.id = x.id RETURNING c.id, c.employees;

DELETE FROM company_notes n USING (VALUES (1), (2)) x(cid) WHERE n.company_id = x.cid RETURNING n.company_id, n.note_id;

UPDATE users u SET karma = x.k FROM (VALUES ('alice', 77)) x(name, k) WHERE u.username = x.name;

UPDATE devices d SET os = x.os FROM (VALUES (7::bigint, 'seven'), (8, 'eight'), (NULL, 'none')) x(id, os)
WHERE d.device_id = x.id RETURNING d.device_id, d.os;
