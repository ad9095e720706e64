-- A relation made, renamed, moved or dropped under a distributed table's name, in a schema ahead
-- of it in search_path: the same statement text, run again, reaches what PostgreSQL's name lookup
-- reaches now (Canopy had kept the table the text reached first).
CREATE SCHEMA shadowing;

SET search_path = shadowing, public;

SELECT count(*) FROM companies;

CREATE TABLE shadowing.companies (id int, name text);

SELECT count(*) FROM companies;

INSERT INTO companies VALUES (1, 'local');

SELECT count(*) FROM companies;

SELECT count(*) FROM companies c JOIN campaigns k ON k.company_id = c.id;

DROP TABLE shadowing.companies;

SELECT count(*) FROM companies;

SELECT count(*) FROM companies c JOIN campaigns k ON k.company_id = c.id;

CREATE TEMP TABLE companies (id int);

SELECT count(*) FROM companies;

DISCARD TEMP;

SELECT count(*) FROM companies;

CREATE TABLE shadowing.renamed (id int);

ALTER TABLE shadowing.renamed RENAME TO companies;

SELECT count(*) FROM companies;

ALTER TABLE shadowing.companies RENAME TO renamed;

SELECT count(*) FROM companies;

CREATE VIEW shadowing.companies AS SELECT 1 AS id;

SELECT count(*) FROM companies;

CREATE TABLE shadowing.campaigns AS SELECT 1 AS company_id;

SELECT count(*) FROM campaigns;

SELECT count(*) FROM ads;

SELECT 1 AS id INTO shadowing.ads;

SELECT count(*) FROM ads;

DROP TABLE shadowing.ads;

SELECT count(*) FROM ads;

SELECT id INTO shadowing.ads FROM ads WHERE company_id = 3;

SELECT count(*) FROM ads;

SELECT count(*) FROM clicks;

CREATE TABLE shadowing.clicks AS SELECT company_id, id FROM clicks WHERE company_id = 2;

SELECT count(*) FROM clicks;

DROP TABLE shadowing.clicks;

SELECT count(*) FROM clicks;

CREATE TABLE shadowing.clicks AS SELECT company_id, id FROM clicks WITH NO DATA;

SELECT count(*) FROM clicks;

DROP TABLE shadowing.clicks;

-- A schema renamed into and out of search_path, with a table under a distributed table's name.
CREATE SCHEMA shadowing_elsewhere;

CREATE TABLE shadowing_elsewhere.clicks (id int);

SELECT count(*) FROM clicks;

DROP SCHEMA shadowing CASCADE;

ALTER SCHEMA shadowing_elsewhere RENAME TO shadowing;

SELECT count(*) FROM clicks;

ALTER SCHEMA shadowing RENAME TO shadowing_elsewhere;

SELECT count(*) FROM clicks;

DROP SCHEMA shadowing_elsewhere CASCADE;

SELECT count(*) FROM companies;

SELECT count(*) FROM campaigns;

SELECT count(*) FROM ads;

RESET search_path;
