-- COMMIT PREPARED and ROLLBACK PREPARED in a block that reached workers get PostgreSQL's answers
-- (25001, or 25P02 in a failed block), and PREPARE TRANSACTION of a failed block rolls it back.
CREATE TABLE prep_rows (k int, v int);
SELECT create_distributed_table('prep_rows', 'k');
INSERT INTO prep_rows VALUES (1, 10);
BEGIN;
SELECT v FROM prep_rows WHERE k = 1;
ROLLBACK PREPARED 'x';
ROLLBACK;
BEGIN;
SELECT v FROM prep_rows WHERE k = 1;
COMMIT PREPARED 'x';
ROLLBACK;
BEGIN;
SELECT v FROM prep_rows WHERE k = 1;
SELECT 1/0;
ROLLBACK PREPARED 'x';
ROLLBACK;
BEGIN;
SELECT v FROM prep_rows WHERE k = 1;
SELECT 1/0;
PREPARE TRANSACTION 'p';
SELECT 1;
BEGIN;
SELECT v FROM prep_rows WHERE k = 1;
BEGIN;
COMMIT;
DROP TABLE prep_rows;
