-- A table distributed by a superuser for another role stays that role's: its shards belong to the
-- owner, who reads, writes, alters (renaming the distribution column too), truncates and drops it.
CREATE ROLE owner_role LOGIN;
GRANT CREATE ON SCHEMA public TO owner_role;
SET ROLE owner_role;
CREATE TABLE owned (a int, b int);
CREATE TABLE owned_ref (a int);
RESET ROLE;
SELECT create_distributed_table('owned', 'a');
SELECT create_reference_table('owned_ref');
SET ROLE owner_role;
INSERT INTO owned VALUES (1, 1);
INSERT INTO owned_ref VALUES (5);
ALTER TABLE owned ADD COLUMN c int;
CREATE INDEX owned_b ON owned (b);
ALTER TABLE owned RENAME COLUMN a TO aa;
INSERT INTO owned VALUES (2, 2, 2);
SELECT * FROM owned ORDER BY aa;
SELECT * FROM owned_ref;
TRUNCATE owned_ref;
DROP TABLE owned, owned_ref;
RESET ROLE;
SELECT count(*) FROM pg_dist_partition WHERE logicalrelid::text LIKE 'owned%';
REVOKE CREATE ON SCHEMA public FROM owner_role;
DROP ROLE owner_role;
