-- Statements on local tables run on the coordinator database with full session semantics.
CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric(12,2) DEFAULT 0);
\d accounts
INSERT INTO accounts VALUES (1, 'ann', 10.50), (2, 'bob', 20), (3, 'cy', NULL);
SELECT * FROM accounts ORDER BY id;
SELECT owner, balance * 2 AS doubled FROM accounts WHERE balance > 15;
INSERT INTO accounts VALUES (1, 'dup', 0);
SELECT 1/0;
SELEC 1;
SELECT * FROM no_such_table;
-- prepared statements
PREPARE by_id(int) AS SELECT owner FROM accounts WHERE id = $1;
EXECUTE by_id(2);
EXECUTE by_id(3);
DEALLOCATE by_id;
-- transactions and savepoints
BEGIN;
UPDATE accounts SET balance = balance + 1 WHERE id = 1;
SAVEPOINT s1;
DELETE FROM accounts;
ROLLBACK TO SAVEPOINT s1;
RELEASE s1;
COMMIT;
SELECT id, balance FROM accounts ORDER BY id;
BEGIN;
INSERT INTO accounts VALUES (4, 'dee', 1);
SELECT 1/0;
SELECT 1;
COMMIT;
SELECT count(*) FROM accounts;
-- temporary tables and cursors
CREATE TEMP TABLE scratch AS SELECT g AS n FROM generate_series(1, 5) g;
BEGIN;
DECLARE c CURSOR FOR SELECT n FROM scratch ORDER BY n;
FETCH 2 FROM c;
FETCH 2 FROM c;
CLOSE c;
COMMIT;
-- COPY in and out
COPY accounts (id, owner, balance) FROM stdin;
10	eve	1.25
11	fay	\N
\.
COPY (SELECT * FROM accounts WHERE id >= 10 ORDER BY id) TO stdout;
COPY accounts (id, owner) FROM stdin WITH (FORMAT csv);
12,"gus, jr"
\.
SELECT * FROM accounts WHERE id >= 10 ORDER BY id;
-- multi-statement queries mixing Canopy and plain statements
SELECT 1 AS one\; SELECT count(*) AS workers FROM master_get_active_worker_nodes()\; SELECT 3 AS three;
DROP TABLE accounts;
