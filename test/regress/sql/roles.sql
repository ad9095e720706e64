-- Roles made through Canopy exist on every worker: CREATE / ALTER / DROP ROLE, RENAME, ALTER ROLE
-- SET and memberships run on the coordinator database and the workers in one transaction.
\set roles_on_workers 'SELECT result FROM run_command_on_workers($$SELECT coalesce(string_agg(rolname || '' '' || rolcanlogin || '' '' || rolconnlimit || '' '' || coalesce(rolvaliduntil::text, ''-''), '', '' ORDER BY rolname), ''none'') FROM pg_roles WHERE rolname LIKE ''r\\_%''$$) ORDER BY nodeport'
CREATE ROLE r_group NOLOGIN;
CREATE USER r_app PASSWORD 'app-secret' IN ROLE r_group CONNECTION LIMIT 3;
:roles_on_workers;
-- The workers store the coordinator's verifier of the password, not its clear text.
SELECT rolpassword LIKE 'SCRAM-SHA-256$4096:%' AS scram, md5(rolpassword) AS verifier FROM pg_authid WHERE rolname = 'r_app' \gset
\echo :scram
\set same_verifier 'SELECT md5(rolpassword) = ''' :verifier ''' FROM pg_authid WHERE rolname = ''r_app'''
SELECT result FROM run_command_on_workers(:'same_verifier') ORDER BY nodeport;
ALTER ROLE r_app RENAME TO r_user;
ALTER ROLE r_user NOLOGIN VALID UNTIL '2100-01-01 00:00:00+00';
ALTER ROLE r_user SET work_mem = '2MB';
:roles_on_workers;
SELECT result FROM run_command_on_workers($$SELECT setconfig::text FROM pg_db_role_setting WHERE setrole = 'r_user'::regrole$$) ORDER BY nodeport;
ALTER ROLE r_user SET statement_timeout = '5s';
ALTER ROLE r_user RESET work_mem;
SELECT result FROM run_command_on_workers($$SELECT setconfig::text FROM pg_db_role_setting WHERE setrole = 'r_user'::regrole$$) ORDER BY nodeport;
-- A value with quotes reaches the workers as the same value (quoted, never as SQL).
ALTER ROLE r_user SET application_name = 'it''s; SELECT 1/0; --';
SELECT result FROM run_command_on_workers($$SELECT setconfig::text FROM pg_db_role_setting WHERE setrole = 'r_user'::regrole$$) ORDER BY nodeport;
ALTER ROLE r_user RESET application_name;
ALTER ROLE r_user SET statement_timeout TO DEFAULT;
ALTER ROLE r_user SET work_mem FROM CURRENT;
ALTER ROLE r_user SET lock_timeout = '1s';
ALTER ROLE r_user RESET ALL;
SELECT result FROM run_command_on_workers($$SELECT count(*) FROM pg_db_role_setting WHERE setrole = 'r_user'::regrole$$) ORDER BY nodeport;
-- Memberships, WITH ADMIN OPTION and its revocation.
GRANT r_group TO r_user WITH ADMIN OPTION;
SELECT result FROM run_command_on_workers($$SELECT string_agg(admin_option::text, ',') FROM pg_auth_members WHERE member = 'r_user'::regrole$$) ORDER BY nodeport;
REVOKE ADMIN OPTION FOR r_group FROM r_user;
SELECT result FROM run_command_on_workers($$SELECT string_agg(admin_option::text, ',') FROM pg_auth_members WHERE member = 'r_user'::regrole$$) ORDER BY nodeport;
REVOKE r_group FROM r_user;
SELECT result FROM run_command_on_workers($$SELECT count(*) FROM pg_auth_members WHERE member = 'r_user'::regrole$$) ORDER BY nodeport;
-- A rolled back block leaves no role anywhere; a refused DROP changes nothing.
BEGIN;
CREATE ROLE r_gone;
ROLLBACK;
DROP ROLE r_user, r_missing;
:roles_on_workers;
DROP ROLE r_user, r_group;
DROP ROLE IF EXISTS r_user;
:roles_on_workers;
-- A clear-text password that is not ASCII cannot get the verifier PostgreSQL would compute.
CREATE ROLE r_intl PASSWORD 'pässwörd';
-- No timestamp has a quote.
CREATE ROLE r_until PASSWORD 'x' VALID UNTIL '2030'' SUPERUSER --';

-- GRANT … ON SCHEMA reaches every worker (creating the schema there); DROP SCHEMA of a schema that
-- holds no shards drops it there too.
CREATE SCHEMA r_schema;
CREATE ROLE r_reader;
GRANT USAGE ON SCHEMA r_schema TO r_reader;
SELECT result FROM run_command_on_workers($$SELECT has_schema_privilege('r_reader', 'r_schema', 'USAGE')$$) ORDER BY nodeport;
REVOKE USAGE ON SCHEMA r_schema FROM r_reader;
DROP ROLE r_reader;
DROP SCHEMA r_schema;
SELECT result FROM run_command_on_workers($$SELECT count(*) FROM pg_namespace WHERE nspname = 'r_schema'$$) ORDER BY nodeport;
:roles_on_workers;
