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
