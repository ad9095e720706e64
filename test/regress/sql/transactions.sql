-- Distributed transactions: savepoints, isolation levels on the workers, two-phase commit records.
CREATE TABLE tx_accounts (id int PRIMARY KEY, balance int NOT NULL CHECK (balance >= 0));
INSERT INTO tx_accounts SELECT g, 100 FROM generate_series(1, 10) g;
SELECT create_distributed_table('tx_accounts', 'id', shard_count => 4);
CREATE TABLE tx_log (note text);
SELECT create_reference_table('tx_log');

-- ROLLBACK TO undoes the worker writes made after the savepoint, and keeps those before it.
BEGIN;
UPDATE tx_accounts SET balance = balance - 10 WHERE id = 1;
SAVEPOINT s1;
UPDATE tx_accounts SET balance = balance + 10 WHERE id = 2;
UPDATE tx_accounts SET balance = 0;
ROLLBACK TO SAVEPOINT s1;
UPDATE tx_accounts SET balance = balance + 10 WHERE id = 3;
COMMIT;
SELECT id, balance FROM tx_accounts WHERE id <= 3 ORDER BY id;

-- A savepoint set before any worker was reached: rolling back to it undoes all worker work.
BEGIN;
SAVEPOINT early;
UPDATE tx_accounts SET balance = balance + 1;
INSERT INTO tx_log VALUES ('rolled back');
ROLLBACK TO early;
INSERT INTO tx_log VALUES ('kept');
COMMIT;
SELECT sum(balance) FROM tx_accounts;
SELECT note FROM tx_log;

-- An error on a worker inside a savepoint: ROLLBACK TO recovers the transaction.
BEGIN;
UPDATE tx_accounts SET balance = balance + 5 WHERE id = 4;
SAVEPOINT before_error;
UPDATE tx_accounts SET balance = balance - 1000 WHERE id = 5;
SELECT count(*) FROM tx_accounts;
ROLLBACK TO SAVEPOINT before_error;
UPDATE tx_accounts SET balance = balance - 5 WHERE id = 6;
RELEASE SAVEPOINT before_error;
COMMIT;
SELECT id, balance FROM tx_accounts WHERE id IN (4, 5, 6) ORDER BY id;

-- RELEASE keeps the work; nested savepoints with the same name.
BEGIN;
SAVEPOINT a;
UPDATE tx_accounts SET balance = balance + 1 WHERE id = 7;
SAVEPOINT a;
UPDATE tx_accounts SET balance = balance + 1 WHERE id = 8;
ROLLBACK TO a;
RELEASE a;
UPDATE tx_accounts SET balance = balance + 1 WHERE id = 9;
ROLLBACK TO a;
RELEASE a;
COMMIT;
SELECT id, balance FROM tx_accounts WHERE id IN (7, 8, 9) ORDER BY id;
ROLLBACK TO nosuch;

-- An error without a savepoint aborts the whole distributed transaction.
BEGIN;
UPDATE tx_accounts SET balance = balance + 1 WHERE id = 1;
UPDATE tx_accounts SET balance = -1 WHERE id = 2;
UPDATE tx_accounts SET balance = balance + 1 WHERE id = 3;
COMMIT;
SELECT id, balance FROM tx_accounts WHERE id <= 3 ORDER BY id;

-- The workers run their part at the client's isolation level and access mode.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT current_setting('transaction_isolation') FROM tx_accounts WHERE id = 1;
COMMIT;
BEGIN;
SELECT current_setting('transaction_isolation') FROM tx_accounts WHERE id = 1;
COMMIT;
BEGIN;
SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;
SELECT current_setting('transaction_isolation') FROM tx_accounts WHERE id = 1;
COMMIT;
BEGIN READ ONLY;
SELECT balance FROM tx_accounts WHERE id = 1;
UPDATE tx_accounts SET balance = 1 WHERE id = 1;
ROLLBACK;
SET default_transaction_isolation = 'repeatable read';
BEGIN;
SELECT current_setting('transaction_isolation') FROM tx_accounts WHERE id = 1;
COMMIT;
RESET default_transaction_isolation;

-- PREPARE TRANSACTION is the coordinator's business once workers take part.
BEGIN;
UPDATE tx_accounts SET balance = balance WHERE id = 1;
PREPARE TRANSACTION 'mine';
ROLLBACK;

-- Two-phase commits leave decision records until recovery finds nothing prepared under them.
BEGIN;
UPDATE tx_accounts SET balance = balance - 1 WHERE id = 1;
UPDATE tx_accounts SET balance = balance + 1 WHERE id = 2;
UPDATE tx_accounts SET balance = balance + 0 WHERE id = 3;
UPDATE tx_accounts SET balance = balance + 0 WHERE id = 4;
COMMIT;
SELECT count(*) > 0 AS recorded FROM pg_dist_transaction;
SELECT recover_prepared_transactions();
SELECT count(*) FROM pg_dist_transaction;
SELECT result FROM run_command_on_workers('SELECT count(*) FROM pg_prepared_xacts');
SELECT recover_prepared_transactions(1);
SELECT sum(balance) FROM tx_accounts;
DROP TABLE tx_accounts, tx_log;
