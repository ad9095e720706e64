-- SET CONSTRAINTS in a block reaches the shards' copies of the constraints on the workers: ALL
-- and named constraints, before and after the worker's transaction opened, undone by ROLLBACK TO,
-- kept by RELEASE; IMMEDIATE checks what was deferred. The answers are PostgreSQL's.
CREATE SCHEMA sc;
CREATE TABLE sc.seats (owner int, seat int, label text, PRIMARY KEY (owner, label),
  CONSTRAINT seats_owner_seat UNIQUE (owner, seat) DEFERRABLE INITIALLY IMMEDIATE);
SELECT create_distributed_table('sc.seats', 'owner');
CREATE TABLE sc.tickets (owner int, label text);
SELECT create_distributed_table('sc.tickets', 'owner', colocate_with => 'sc.seats');
ALTER TABLE sc.tickets ADD CONSTRAINT tickets_seat_fk FOREIGN KEY (owner, label)
  REFERENCES sc.seats (owner, label) DEFERRABLE INITIALLY IMMEDIATE;
INSERT INTO sc.seats VALUES (1, 1, 'a'), (1, 2, 'b'), (2, 1, 'c'), (2, 2, 'd');
SET search_path = sc, public;
-- Checked at once: the swap fails at its first UPDATE.
BEGIN;
UPDATE seats SET seat = 2 WHERE owner = 1 AND label = 'a';
ROLLBACK;
-- ALL DEFERRED before the worker's transaction opens: the swap commits.
BEGIN;
SET CONSTRAINTS ALL DEFERRED;
UPDATE seats SET seat = 2 WHERE owner = 1 AND label = 'a';
UPDATE seats SET seat = 1 WHERE owner = 1 AND label = 'b';
COMMIT;
SELECT * FROM seats ORDER BY owner, seat;
-- A name, after the worker's transaction opened.
BEGIN;
SELECT count(*) FROM seats WHERE owner = 2;
SET CONSTRAINTS seats_owner_seat DEFERRED;
UPDATE seats SET seat = 2 WHERE owner = 2 AND label = 'c';
UPDATE seats SET seat = 1 WHERE owner = 2 AND label = 'd';
COMMIT;
SELECT * FROM seats ORDER BY owner, seat;
-- IMMEDIATE checks what was deferred.
BEGIN;
SET CONSTRAINTS ALL DEFERRED;
UPDATE seats SET seat = 2 WHERE owner = 1 AND label = 'b';
SET CONSTRAINTS ALL IMMEDIATE;
ROLLBACK;
-- A violation left deferred fails the COMMIT.
BEGIN;
SET CONSTRAINTS sc.seats_owner_seat DEFERRED;
UPDATE seats SET seat = 2 WHERE owner = 1 AND label = 'b';
COMMIT;
-- A deferred foreign key between co-located tables: the referenced row may come later.
BEGIN;
SET CONSTRAINTS tickets_seat_fk DEFERRED;
INSERT INTO tickets VALUES (1, 'e');
INSERT INTO seats VALUES (1, 3, 'e');
COMMIT;
BEGIN;
SET CONSTRAINTS tickets_seat_fk, seats_owner_seat DEFERRED;
INSERT INTO tickets VALUES (2, 'z');
COMMIT;
SELECT * FROM tickets ORDER BY owner, label;
-- ROLLBACK TO undoes what was set after the savepoint, RELEASE keeps it.
BEGIN;
SAVEPOINT s1;
SET CONSTRAINTS ALL DEFERRED;
ROLLBACK TO SAVEPOINT s1;
UPDATE seats SET seat = 2 WHERE owner = 1 AND label = 'b';
ROLLBACK;
BEGIN;
SET CONSTRAINTS ALL DEFERRED;
SAVEPOINT s2;
SET CONSTRAINTS ALL IMMEDIATE;
ROLLBACK TO SAVEPOINT s2;
UPDATE seats SET seat = 2 WHERE owner = 1 AND label = 'b';
UPDATE seats SET seat = 1 WHERE owner = 1 AND label = 'a';
COMMIT;
BEGIN;
SAVEPOINT s3;
SET CONSTRAINTS ALL DEFERRED;
RELEASE SAVEPOINT s3;
UPDATE seats SET seat = 1 WHERE owner = 1 AND label = 'b';
UPDATE seats SET seat = 2 WHERE owner = 1 AND label = 'a';
COMMIT;
SELECT * FROM seats ORDER BY owner, seat;
-- The block's end forgets it.
BEGIN;
SET CONSTRAINTS ALL DEFERRED;
COMMIT;
BEGIN;
UPDATE seats SET seat = 2 WHERE owner = 1 AND label = 'b';
ROLLBACK;
-- Outside a block PostgreSQL only warns; unknown names fail.
SET CONSTRAINTS ALL DEFERRED;
UPDATE seats SET seat = 2 WHERE owner = 1 AND label = 'b';
BEGIN;
SET CONSTRAINTS nope DEFERRED;
ROLLBACK;
RESET search_path;
DROP SCHEMA sc CASCADE;
