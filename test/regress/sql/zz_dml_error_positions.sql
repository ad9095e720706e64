-- Errors PostgreSQL finds while analysing an INSERT, UPDATE or DELETE on a distributed table carry
-- their position in the client's statement (psql's LINE and caret), as PostgreSQL gives them; a
-- failed block then behaves as PostgreSQL's.
CREATE TABLE positions (k int PRIMARY KEY, v int, t text);
SELECT create_distributed_table('positions', 'k');
INSERT INTO positions VALUES (1, 10, 'a');
UPDATE positions SET nope = 1 WHERE k = 1;
UPDATE positions SET v = 'abc' WHERE k = 1;
UPDATE positions SET v = v + 'a';
DELETE FROM positions WHERE nope = 1;
INSERT INTO positions (k, nope) VALUES (2, 2);
INSERT INTO positions VALUES (2, 'x');
-- A runtime error has none.
UPDATE positions SET v = 1 / 0 WHERE k = 1;
BEGIN;
UPDATE positions SET v = 11 WHERE k = 1;
UPDATE positions SET nope = 1 WHERE k = 1;
SELECT 1;
ROLLBACK;
BEGIN;
SAVEPOINT s;
INSERT INTO positions VALUES (3, 'x');
ROLLBACK TO SAVEPOINT s;
INSERT INTO positions VALUES (3, 30, 'c');
COMMIT;
SELECT * FROM positions ORDER BY k;
DROP TABLE positions;
