-- A varchar(n) distribution column stores a longer value cut to n characters when only spaces
-- follow them. Rows go to the shard of the value stored, where a lookup of that value finds them:
-- through INSERT (constants and parameters), COPY (text and csv) and INSERT … SELECT, also from a
-- colocated table whose column has no limit (not pushed down: a cut value changes its shard).
CREATE TABLE vkeys (k varchar(3), x int);
SELECT create_distributed_table('vkeys', 'k');
INSERT INTO vkeys VALUES ('ab     ', 1), ('m        ', 2), ('abc  ', 3);
PREPARE put_vkey(varchar, int) AS INSERT INTO vkeys VALUES ($1, $2);
EXECUTE put_vkey('zz    ', 4);
EXECUTE put_vkey('éé     ', 5);
COPY vkeys FROM STDIN;
cd     	6
xy	7
\.
COPY vkeys FROM STDIN (FORMAT csv);
"ef      ",8
\.
INSERT INTO vkeys SELECT k || '    ', x + 10 FROM vkeys WHERE x IN (1, 7);
-- From a colocated varchar column without a limit the rows go through the coordinator.
CREATE TABLE vsource (k varchar, x int);
SELECT create_distributed_table('vsource', 'k', colocate_with => 'vkeys');
INSERT INTO vsource VALUES ('gh      ', 20);
INSERT INTO vkeys SELECT k, x FROM vsource;
SELECT x FROM vkeys WHERE k = 'gh ';
-- Past the n-th character only spaces may follow, as in PostgreSQL.
INSERT INTO vkeys VALUES ('abcd', 9);
SELECT x FROM vkeys WHERE k = 'ab ' ORDER BY x;
SELECT x FROM vkeys WHERE k = 'm  ';
SELECT x FROM vkeys WHERE k = 'abc';
SELECT x FROM vkeys WHERE k = 'zz ';
SELECT x FROM vkeys WHERE k = 'éé ';
SELECT x FROM vkeys WHERE k = 'cd ';
SELECT x FROM vkeys WHERE k = 'xy ';
SELECT x FROM vkeys WHERE k = 'ef ';
-- A longer text equals no value stored, whichever shard is asked.
SELECT x FROM vkeys WHERE k = 'ab      ';
SELECT k, count(*) FROM vkeys GROUP BY k ORDER BY k;
DEALLOCATE put_vkey;
DROP TABLE vkeys, vsource;
-- A distribution column whose type rounds what is written (numeric(p,s), timestamp(p), …) is
-- refused: rows would be routed by the value before rounding, lookups by the value stored.
CREATE TABLE nkeys (k numeric(5,2), x int);
SELECT create_distributed_table('nkeys', 'k');
CREATE TABLE tkeys (k timestamp(0) with time zone, x int);
SELECT create_distributed_table('tkeys', 'k');
DROP TABLE nkeys, tkeys;
