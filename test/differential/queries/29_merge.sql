-- MERGE into distributed and reference tables from sources that are not a co-located table joined
-- on both distribution columns: VALUES, subqueries over other co-location groups, local tables,
-- CTEs, parameters. The source runs first and its rows go to the target's shards by the value the
-- join condition compares the distribution column with.

-- VALUES into a table distributed by text: update, delete and insert in one statement.
MERGE INTO users u
USING (VALUES ('alice', 11), ('merge_v1', 3), ('merge_v2', 4), ('bob', -1)) v(username, k)
ON u.username = v.username
WHEN MATCHED AND v.k < 0 THEN DELETE
WHEN MATCHED THEN UPDATE SET karma = v.k, display_name = u.display_name || ' (merged)'
WHEN NOT MATCHED THEN INSERT (username, karma, signup_date) VALUES (v.username, v.k, DATE '2024-03-01');

-- The target unaliased, the source a subquery with its own column names.
MERGE INTO users
USING (SELECT 'merge_v1' AS name, 100 AS points UNION ALL SELECT 'merge_v3', 7) s
ON users.username = s.name
WHEN MATCHED THEN UPDATE SET karma = users.karma + s.points
WHEN NOT MATCHED THEN INSERT (username, karma) VALUES (s.name, s.points);

-- A source over a table of another co-location group (company_notes is co-located with nothing),
-- aggregated so that each company matches once.
MERGE INTO companies c
USING (SELECT company_id, count(*) AS notes, max(priority) AS top FROM company_notes GROUP BY company_id) n
ON c.id = n.company_id
WHEN MATCHED AND n.top > 3 THEN UPDATE SET employees = coalesce(c.employees, 0) + n.notes
WHEN MATCHED THEN DO NOTHING;

-- The same source without the aggregate: a company with several notes is matched twice, which
-- PostgreSQL refuses (21000).
-- @error
MERGE INTO companies c
USING company_notes n
ON c.id = n.company_id
WHEN MATCHED THEN UPDATE SET employees = n.priority;

-- An integer source into a bigint distribution column, NOT MATCHED inserting.
MERGE INTO devices d
USING (VALUES (1, 'merge-os'), (2, 'merge-os'), (900001, 'fresh-os'), (900002, 'fresh-os')) v(id, os)
ON d.device_id = v.id
WHEN MATCHED THEN UPDATE SET os = v.os
WHEN NOT MATCHED THEN INSERT (device_id, os, registered_on) VALUES (v.id, v.os, DATE '2024-01-02');

-- The source's column cast in the join condition, and the INSERT taking the same cast.
MERGE INTO devices d
USING (VALUES ('3', 'cast-os'), ('900003', 'cast-os')) v(id, os)
ON d.device_id = v.id::bigint
WHEN MATCHED THEN UPDATE SET os = v.os
WHEN NOT MATCHED THEN INSERT (device_id, os) VALUES (v.id::bigint, v.os);

-- A source joining tables of two co-location groups, with the MERGE's own WITH clause.
WITH busy AS (SELECT owner_company_id AS company_id, count(*) AS n FROM devices WHERE owner_company_id IS NOT NULL GROUP BY 1)
MERGE INTO companies c
USING (SELECT b.company_id, b.n, co.name FROM busy b JOIN companies co ON co.id = b.company_id) s
ON c.id = s.company_id
WHEN MATCHED AND s.n > 1 THEN UPDATE SET name = s.name || ' *'
WHEN MATCHED THEN UPDATE SET is_active = true;

-- Source rows with no key match nothing and, without an INSERT action, do nothing.
MERGE INTO devices d
USING (VALUES (NULL::bigint, 'none'), (4, 'four')) v(id, os)
ON d.device_id = v.id
WHEN MATCHED THEN UPDATE SET os = v.os;

-- With one, the row without a key would insert NULL into the primary key (23502).
-- @error
MERGE INTO devices d
USING (VALUES (NULL::bigint, 'none'), (5, 'five')) v(id, os)
ON d.device_id = v.id
WHEN MATCHED THEN UPDATE SET os = v.os
WHEN NOT MATCHED THEN INSERT (device_id, os) VALUES (v.id, v.os);

-- With an INSERT action whose condition leaves that row out, it does nothing.
MERGE INTO devices d
USING (VALUES (NULL::bigint, 'none'), (9, 'nine'), (900020, 'new')) v(id, os)
ON d.device_id = v.id
WHEN MATCHED THEN UPDATE SET os = v.os
WHEN NOT MATCHED AND v.id IS NOT NULL THEN INSERT (device_id, os) VALUES (v.id, v.os);

-- An INSERT action whose row breaks a constraint fails the whole MERGE (no shard keeps its part).
-- @error
-- @touches users
MERGE INTO users u
USING (VALUES ('merge_f1', 1), ('merge_f2', 1), ('merge_f3', 1), ('merge_f4', 1), ('merge_ok', 1), ('merge_ok', 2)) v(username, k)
ON u.username = v.username
WHEN NOT MATCHED THEN INSERT (username, karma) VALUES (v.username, v.k);

-- Into a reference table: every placement gets every source row.
MERGE INTO countries co
USING (VALUES ('DE', 'Deutschland'), ('XQ', 'Merge Land')) v(code, name)
ON co.code = v.code
WHEN MATCHED THEN UPDATE SET name = v.name
WHEN NOT MATCHED THEN INSERT VALUES (v.code, v.name, 'Nowhere', 0);

-- Into a reference table from a distributed one, with a condition on the target's columns.
MERGE INTO countries co
USING (SELECT country_code, count(*) AS n FROM companies WHERE country_code IS NOT NULL GROUP BY country_code) s
ON co.code = s.country_code
WHEN MATCHED AND co.population IS NULL THEN UPDATE SET population = s.n;

-- Parameters in the source and in an action.
-- @params merge_p1 | 42
MERGE INTO users u
USING (SELECT $1::text AS username) v
ON u.username = v.username
WHEN MATCHED THEN UPDATE SET karma = $2::int
WHEN NOT MATCHED THEN INSERT (username, karma) VALUES (v.username, $2::int);

-- A set-returning function as the source, named by the function.
MERGE INTO devices d
USING generate_series(6, 9) g
ON d.device_id = g.g
WHEN MATCHED THEN UPDATE SET battery_capacity = g * 10;

-- A co-located table joined on another column than the distribution columns: through the
-- coordinator, routed by the source's company_id.
MERGE INTO campaigns ca
USING (SELECT company_id, campaign_id, count(*) AS n FROM ads WHERE campaign_id IS NOT NULL GROUP BY 1, 2) a
ON ca.company_id = a.company_id AND ca.id = a.campaign_id
WHEN MATCHED AND a.n > 2 THEN UPDATE SET state = 'merge-busy'
WHEN NOT MATCHED THEN INSERT (company_id, id, name) VALUES (a.company_id, a.campaign_id, 'merge-restored');

-- An INSERT without a column list.
MERGE INTO users u
USING (VALUES ('merge_positional', 'Positional')) v(username, display_name)
ON u.username = v.username
WHEN NOT MATCHED THEN INSERT VALUES (v.username, v.display_name);

-- The source's columns unqualified where the target has none of that name.
MERGE INTO devices d
USING (VALUES (10, 'unqualified'), (900010, 'unqualified')) v(src_id, os_name)
ON d.device_id = src_id
WHEN MATCHED THEN UPDATE SET os = os_name
WHEN NOT MATCHED THEN INSERT (device_id, os) VALUES (src_id, os_name);

-- Source rows of every type a users row holds, read back on the shards as they were.
MERGE INTO users u
USING (SELECT 'merge_copy_' || username AS username, display_name, email, country_code, signup_date, karma,
              balance, preferences, favorite_numbers, device_id, last_seen FROM users WHERE karma > 0) s
ON u.username = s.username
WHEN NOT MATCHED THEN INSERT VALUES (s.username, s.display_name, s.email, s.country_code, s.signup_date, s.karma,
                                     s.balance, s.preferences, s.favorite_numbers, s.device_id, s.last_seen);

SELECT count(*), sum(karma), count(preferences), count(last_seen) FROM users WHERE username LIKE 'merge%';
