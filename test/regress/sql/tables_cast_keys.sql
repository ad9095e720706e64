-- A constant or parameter cast to a type whose conversion can change the value stored in the
-- distribution column ('abcdef'::varchar(3) is 'abc', 'ab   '::char(5) in varchar is 'ab',
-- '01 day'::interval in text is '1 day') is evaluated by PostgreSQL before its row is routed, and
-- pins no shard in a lookup: rows go to the shard of the value stored, and lookups find them.
-- Casts that cannot change the value ('5'::int into an int column) still route directly.
CREATE TABLE ckeys (k varchar(10), x int);
SELECT create_distributed_table('ckeys', 'k');
INSERT INTO ckeys VALUES ('abcdef'::varchar(3), 1);
INSERT INTO ckeys VALUES ('ab   '::char(5), 2);
INSERT INTO ckeys VALUES ('mnopqr'::character varying(2), 3), ('uv  '::bpchar, 4);
INSERT INTO ckeys VALUES ('gh'::text, 5), ('ij'::varchar, 6);
PREPARE put_ckey(text, int) AS INSERT INTO ckeys VALUES ($1::varchar(3), $2);
EXECUTE put_ckey('stuvwx', 7);
EXECUTE put_ckey('stuvwx', 8);
SELECT x FROM ckeys WHERE k = 'abc';
SELECT x FROM ckeys WHERE k = 'ab';
SELECT x FROM ckeys WHERE k = 'mn';
SELECT x FROM ckeys WHERE k = 'uv';
SELECT x FROM ckeys WHERE k = 'gh';
SELECT x FROM ckeys WHERE k = 'ij';
SELECT x FROM ckeys WHERE k = 'stu' ORDER BY x;
-- Lookups compare with the cast value: here of rows inserted by their plain values.
INSERT INTO ckeys VALUES ('pqr', 11), ('lm', 12), ('efg', 13), ('wxy', 14), ('rst', 15), ('hij', 16), ('kl', 17);
SELECT x FROM ckeys WHERE k = 'pqrstu'::varchar(3);
SELECT x FROM ckeys WHERE k = 'lm   '::char(5);
SELECT x FROM ckeys WHERE k IN ('efghij'::varchar(3), 'zz');
SELECT x FROM ckeys WHERE k = ANY (ARRAY['wxyz', 'zz']::varchar(3)[]);
PREPARE get_ckey(text) AS SELECT x FROM ckeys WHERE k = $1::varchar(3) ORDER BY x;
EXECUTE get_ckey('rstuvw');
EXECUTE get_ckey('stuvwx');
-- UPDATE and DELETE by a cast key.
UPDATE ckeys SET x = x + 100 WHERE k = 'hijklm'::varchar(3);
SELECT x FROM ckeys WHERE k = 'hij';
DELETE FROM ckeys WHERE k = 'klmnop'::varchar(2);
SELECT count(*) FROM ckeys WHERE k = 'kl';
PREPARE del_ckey(text) AS DELETE FROM ckeys WHERE k = $1::varchar(3);
EXECUTE del_ckey('efghij');
SELECT count(*) FROM ckeys WHERE k = 'efg';
SELECT k, x FROM ckeys ORDER BY k, x;
-- A text column stores the text form of the value cast to another type.
CREATE TABLE tkeys (k text, x int);
SELECT create_distributed_table('tkeys', 'k');
INSERT INTO tkeys VALUES ('01 day'::interval, 1), ('1.50'::numeric(5,1), 2), ('2020-01-01 10:00:00.6'::timestamp(0), 3);
INSERT INTO tkeys VALUES ('007'::int, 4);
SELECT x FROM tkeys WHERE k = '1 day';
SELECT x FROM tkeys WHERE k = '1.5';
SELECT x FROM tkeys WHERE k = '2020-01-01 10:00:01';
SELECT x FROM tkeys WHERE k = '7';
-- A char(n) column: the coordinator evaluates a value as bpchar, not as "character" (char(1)),
-- and so does EXECUTE for a bpchar parameter.
CREATE TABLE bkeys (k char(5), x int);
SELECT create_distributed_table('bkeys', 'k');
INSERT INTO bkeys VALUES (upper('ab'), 1), ('cdefgh'::varchar(3), 2);
PREPARE get_bkey(char, int) AS SELECT k, x FROM bkeys WHERE k = $1 AND x = $2;
EXECUTE get_bkey('AB', 1);
SELECT k, x FROM bkeys ORDER BY x;
-- Casts that keep the value still route by it.
CREATE TABLE ikeys (k bigint, d date, x int);
SELECT create_distributed_table('ikeys', 'k');
INSERT INTO ikeys VALUES ('5'::int, '2020-01-01'::date, 1), ('6'::pg_catalog.int8, '2020-01-02', 2);
PREPARE put_ikey(text, int) AS INSERT INTO ikeys VALUES ($1::bigint, NULL, $2);
EXECUTE put_ikey('7', 3);
SELECT x FROM ikeys WHERE k = 5;
SELECT x FROM ikeys WHERE k = '6'::integer;
SELECT x FROM ikeys WHERE k = 7;
DEALLOCATE ALL;
DROP TABLE ckeys, tkeys, bkeys, ikeys;
