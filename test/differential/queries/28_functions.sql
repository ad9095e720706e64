-- Functions of the user's in statements over distributed tables. IMMUTABLE ones in SQL or PL/pgSQL
-- that name no relation are created on the workers too and run on the shards
-- (test/protocol/function_pushdown.test.ts checks where); the others are answered in the
-- coordinator database. Dropped at the end.
CREATE FUNCTION diff_bucket(i bigint) RETURNS int IMMUTABLE LANGUAGE sql AS $$ SELECT (i % 7)::int $$;

CREATE FUNCTION diff_slug(t text) RETURNS text IMMUTABLE LANGUAGE plpgsql
AS $$ BEGIN RETURN lower(replace(coalesce(t, ''), '/', '-')); END $$;

CREATE FUNCTION diff_cents(n numeric) RETURNS bigint IMMUTABLE RETURN round(n * 100)::bigint;

CREATE FUNCTION diff_stable_next(i int) RETURNS int STABLE LANGUAGE sql AS $$ SELECT i + 1 $$;

SELECT diff_bucket(id), count(*), sum(diff_cents(cost)) FROM clicks GROUP BY 1;

SELECT count(*) FROM clicks WHERE diff_bucket(id) = 3 AND diff_slug(site_url) LIKE '%.com%';

-- @ordered
SELECT company_id, id, diff_slug(site_url) FROM clicks WHERE company_id = 4 AND diff_bucket(id) < 2 ORDER BY id LIMIT 5;

SELECT count(*) FROM companies c JOIN clicks k ON k.company_id = c.id WHERE diff_bucket(k.id) = diff_bucket(c.id);

SELECT count(*) FROM clicks WHERE diff_stable_next(company_id) = 5;

-- Called by its schema-qualified name.
SELECT public.diff_bucket(id), count(*) FROM clicks WHERE public.diff_slug(site_url) <> '' GROUP BY 1;

-- @params 2
SELECT count(*) FROM clicks WHERE diff_bucket(id) = $1;

UPDATE clicks SET position = diff_bucket(id) WHERE company_id = 5;

CREATE OR REPLACE FUNCTION diff_bucket(i bigint) RETURNS int IMMUTABLE LANGUAGE sql AS $$ SELECT (i % 3)::int $$;

SELECT diff_bucket(id), count(*) FROM clicks GROUP BY 1;

DROP FUNCTION diff_bucket(bigint);

DROP FUNCTION diff_slug(text);

DROP FUNCTION diff_cents(numeric);

DROP FUNCTION diff_stable_next(int);
