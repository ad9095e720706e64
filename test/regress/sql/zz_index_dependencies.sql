-- What an index needs on the workers is created there with it: the extension of an operator class
-- it uses (also an exclusion constraint's, at distribution), and the functions of its expressions
-- under CREATE INDEX CONCURRENTLY too. (The embedded cluster has no contrib extensions: its output
-- is zz_index_dependencies_1.out.)
CREATE TABLE idx_fn (a int, t text);
SELECT create_distributed_table('idx_fn', 'a');
CREATE FUNCTION idx_lower(x text) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT lower(x)';
CREATE INDEX CONCURRENTLY idx_fn_lower ON idx_fn (idx_lower(t));
INSERT INTO idx_fn VALUES (1, 'ABC');
SELECT a FROM idx_fn WHERE idx_lower(t) = 'abc';
DROP TABLE idx_fn;
DROP FUNCTION idx_lower(text);
CREATE EXTENSION pg_trgm;
CREATE TABLE idx_trgm (a int, t text);
SELECT create_distributed_table('idx_trgm', 'a');
INSERT INTO idx_trgm VALUES (1, 'hello world'), (2, 'goodbye');
CREATE INDEX idx_trgm_t ON idx_trgm USING gin (t gin_trgm_ops);
SELECT a FROM idx_trgm WHERE t % 'hello wrld' ORDER BY a;
CREATE EXTENSION btree_gist;
CREATE TABLE idx_excl (a int, r int4range, EXCLUDE USING gist (a WITH =, r WITH &&));
SELECT create_distributed_table('idx_excl', 'a');
INSERT INTO idx_excl VALUES (1, '[1,5)');
INSERT INTO idx_excl VALUES (1, '[3,8)');
SELECT result FROM run_command_on_workers($$SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension WHERE extname IN ('pg_trgm', 'btree_gist')$$) ORDER BY nodeport;
DROP TABLE idx_trgm, idx_excl;
DROP EXTENSION pg_trgm;
DROP EXTENSION btree_gist;
