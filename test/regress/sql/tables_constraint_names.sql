-- ON CONFLICT ON CONSTRAINT on distributed and reference tables names the coordinator's
-- constraint (each shard has its own copy, named with the shard id); errors from the shards name
-- the coordinator's tables and constraints, as PostgreSQL does on one node.
\set VERBOSITY verbose
CREATE TABLE accounts (tenant int, id int, balance numeric CHECK (balance >= 0), owner text NOT NULL,
                       CONSTRAINT accounts_key PRIMARY KEY (tenant, id),
                       CONSTRAINT "Owner ünique" UNIQUE (tenant, owner));
SELECT create_distributed_table('accounts', 'tenant');
CREATE TABLE currencies (code text CONSTRAINT currency_code PRIMARY KEY, name text);
SELECT create_reference_table('currencies');
INSERT INTO accounts VALUES (1, 1, 10, 'ann'), (2, 1, 20, 'bob'), (3, 1, 30, 'cy');
INSERT INTO currencies VALUES ('EUR', 'euro');

-- One row (router), several rows over several shards, DO UPDATE and DO NOTHING.
INSERT INTO accounts VALUES (1, 1, 5, 'ann') ON CONFLICT ON CONSTRAINT accounts_key
  DO UPDATE SET balance = accounts.balance + excluded.balance RETURNING *;
INSERT INTO accounts VALUES (1, 1, 5, 'x'), (2, 2, 7, 'dan'), (3, 1, 9, 'y'), (4, 1, 1, 'eve')
  ON CONFLICT ON CONSTRAINT accounts_key DO NOTHING RETURNING tenant, id;
INSERT INTO accounts VALUES (2, 3, 1, 'bob') ON CONFLICT ON CONSTRAINT "Owner ünique"
  DO UPDATE SET balance = 0 RETURNING *;
INSERT INTO currencies VALUES ('EUR', 'Euro') ON CONFLICT ON CONSTRAINT currency_code
  DO UPDATE SET name = excluded.name RETURNING *;
-- INSERT … SELECT: shard by shard, and through the coordinator.
INSERT INTO accounts SELECT tenant, id, balance, owner FROM accounts
  ON CONFLICT ON CONSTRAINT accounts_key DO UPDATE SET balance = accounts.balance + 1;
INSERT INTO accounts SELECT tenant + 1, id, 0, owner || '+' FROM accounts
  ON CONFLICT ON CONSTRAINT accounts_key DO NOTHING;
INSERT INTO currencies SELECT code, 'EURO' FROM currencies ON CONFLICT ON CONSTRAINT currency_code DO NOTHING;
SELECT * FROM accounts ORDER BY tenant, id;
SELECT * FROM currencies;

-- Errors name the coordinator's constraints and tables.
INSERT INTO accounts VALUES (1, 1, 5, 'ann') ON CONFLICT ON CONSTRAINT nope DO NOTHING;
INSERT INTO accounts VALUES (1, 1, 5, 'ann'), (2, 1, 5, 'x') ON CONFLICT ON CONSTRAINT accounts_balance_check DO NOTHING;
INSERT INTO currencies VALUES ('EUR') ON CONFLICT ON CONSTRAINT accounts_key DO NOTHING;
INSERT INTO accounts SELECT tenant, id, balance, owner FROM accounts ON CONFLICT ON CONSTRAINT nope DO NOTHING;
INSERT INTO accounts VALUES (1, 1, 5, 'zed');
INSERT INTO accounts VALUES (5, 1, 5, 'ann'), (1, 9, 5, 'ann');
INSERT INTO accounts VALUES (1, 2, -5, 'neg');
UPDATE accounts SET owner = NULL WHERE tenant = 2;
UPDATE accounts SET balance = balance - 100 WHERE tenant = 3;
INSERT INTO accounts VALUES (2, 9, 1, 'dan');
INSERT INTO currencies VALUES ('EUR', 'again');
BEGIN;
INSERT INTO accounts VALUES (7, 7, 7, 'in block');
INSERT INTO accounts VALUES (7, 7, 7, 'in block');
ROLLBACK;

-- Names long enough that a shard's copy has to be shortened: a hash keeps the table and its
-- primary key apart, and errors give the whole names.
CREATE TABLE a_table_with_a_name_of_sixty_three_bytes_which_is_the_limit_xx (id int, v int, PRIMARY KEY (id, v));
CREATE UNIQUE INDEX a_table_with_a_name_of_sixty_three_bytes_which_is_the_limit_id
  ON a_table_with_a_name_of_sixty_three_bytes_which_is_the_limit_xx (id);
SELECT create_distributed_table('a_table_with_a_name_of_sixty_three_bytes_which_is_the_limit_xx', 'id');
INSERT INTO a_table_with_a_name_of_sixty_three_bytes_which_is_the_limit_xx VALUES (1, 1), (2, 2);
INSERT INTO a_table_with_a_name_of_sixty_three_bytes_which_is_the_limit_xx VALUES (1, 3);
INSERT INTO a_table_with_a_name_of_sixty_three_bytes_which_is_the_limit_xx VALUES (1, 1), (2, 2)
  ON CONFLICT ON CONSTRAINT a_table_with_a_name_of_sixty_three_bytes_which_is_the_limi_pkey DO UPDATE SET v = excluded.v + 10
  RETURNING *;
DROP TABLE accounts, currencies, a_table_with_a_name_of_sixty_three_bytes_which_is_the_limit_xx;
