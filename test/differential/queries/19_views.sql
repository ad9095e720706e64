-- Views over distributed and reference tables (defined in schema.sql before the tables were
-- distributed): Canopy expands each reference into the view's query, as PostgreSQL's rewriter does.

SELECT * FROM active_companies;

SELECT * FROM active_companies WHERE id = 7;

SELECT * FROM public.active_companies WHERE id BETWEEN 10 AND 20;

-- @params 5
SELECT name, employees FROM active_companies WHERE id = $1;

SELECT company_name, country_name FROM company_countries WHERE continent = 'Europe';

-- Column names given by the reference over the view's own.
SELECT * FROM company_countries cc(cid, cname) WHERE cid < 30;

SELECT * FROM campaign_budgets;

-- @ordered
SELECT * FROM top_budgets ORDER BY budget DESC NULLS LAST, company_id;

SELECT * FROM campaign_states;

SELECT state, count(*) FROM campaign_states GROUP BY state;

SELECT * FROM big_active_companies;

SELECT a.id, a.name, b.campaigns, b.budget FROM active_companies a JOIN campaign_budgets b ON b.company_id = a.id;

SELECT a.id, count(ca.id) FROM active_companies a JOIN campaigns ca ON ca.company_id = a.id GROUP BY a.id;

-- The same view twice under different aliases, joined off the distribution column.
SELECT x.id, y.id FROM active_companies x JOIN active_companies y ON y.id = x.id + 1 WHERE x.id < 50;

SELECT id, name FROM companies WHERE id IN (SELECT company_id FROM top_budgets);

WITH b AS (SELECT * FROM campaign_budgets WHERE campaigns > 2) SELECT count(*), sum(budget) FROM b;

-- A CTE of the view's name hides the view.
WITH active_companies AS (SELECT 1 AS id) SELECT * FROM active_companies;

SELECT p.name, count(*) FROM plan_names p JOIN companies c ON c.plan_id = p.id GROUP BY p.name;

SELECT count(*), sum(employees) FROM (SELECT * FROM big_active_companies UNION ALL SELECT * FROM active_companies) u;

SELECT c.id, (SELECT count(*) FROM campaign_states s WHERE s.company_id = c.id) FROM companies c WHERE c.id < 40;

-- Equalities on a view's (or a derived table's) column are pushed into its query, as PostgreSQL's
-- planner pushes them, so a read by the distribution column reaches one shard: the router, which
-- alone takes FOR UPDATE (refused over several shards).
SELECT * FROM active_companies WHERE id = 7 FOR UPDATE;

-- @params 12
SELECT name, employees FROM active_companies WHERE id = $1 FOR SHARE;

SELECT id, name FROM active_companies WHERE id IN (3, 8, 21);

SELECT id, name FROM active_companies WHERE id = ANY(ARRAY[4, 9]);

-- @params {5,6,30}
SELECT id, name FROM active_companies WHERE id = ANY($1::int[]);

-- A view over a view; column names of the reference's own; a join with a reference table.
SELECT * FROM big_active_companies WHERE id = 11 FOR UPDATE;

SELECT * FROM active_companies a(cid, cname) WHERE cid = 13 FOR UPDATE;

-- @params 9
SELECT company_name, country_name FROM company_countries WHERE company_id = $1;

-- Grouped by the key: the equality goes into the grouped query's WHERE.
-- @params 4
SELECT * FROM campaign_budgets WHERE company_id = $1;

SELECT * FROM (SELECT company_id, count(*) AS n, sum(monthly_budget) AS budget FROM campaigns GROUP BY company_id) s
 WHERE s.company_id = 5;

SELECT * FROM (SELECT x.id, x.name FROM (SELECT id, name FROM companies WHERE is_active) x) y WHERE id = 17 FOR UPDATE;

SELECT * FROM campaign_states WHERE company_id = 6;

-- Not pushed: LIMIT inside the view (the top ten first), grouping sets, a window over all the rows,
-- the view on the nullable side of an outer join.
SELECT * FROM top_budgets WHERE company_id = 1;

SELECT count(*) FROM top_budgets WHERE company_id IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20);

SELECT * FROM (SELECT company_id, count(*) FROM campaigns GROUP BY ROLLUP (company_id)) s WHERE company_id = 5;

SELECT * FROM company_ranks WHERE id = 7;

SELECT c.id, a.id, a.name FROM companies c LEFT JOIN active_companies a ON a.id = c.id + 1 WHERE a.id = 5;

SELECT c.id, a.id FROM companies c LEFT JOIN active_companies a ON a.id = c.id WHERE c.id < 10 AND a.id IS NULL;
