-- pg_cancel_backend / pg_terminate_backend of the pids in a query's rows: Canopy signals each row's
-- process as a direct call would (a Canopy session's work on the workers stops too; see
-- test/fault/cancel_and_deadlock.test.ts), other pids are the coordinator database's to answer.
-- Where a call's result could decide which rows there are, or their order, it is refused.
SELECT pg_cancel_backend(pid) FROM canopy_stat_activity WHERE pid <> pg_backend_pid();
SELECT v.pid, pg_cancel_backend(v.pid) AS cancelled, pg_terminate_backend(v.pid, 10) FROM (VALUES (2147483647), (NULL)) v(pid) ORDER BY v.pid;
SELECT pg_terminate_backend(timeout => 5, pid => p) AS ended FROM (VALUES (2147483646)) v(p);
SELECT pg_cancel_backend(pid) FROM (VALUES (2147483647)) v(pid) WHERE pid > 0 LIMIT 1;
-- Refused.
SELECT pid FROM canopy_stat_activity WHERE pg_cancel_backend(pid);
SELECT NOT pg_cancel_backend(pid) FROM canopy_stat_activity;
SELECT DISTINCT pg_cancel_backend(pid) FROM canopy_stat_activity;
SELECT pg_cancel_backend(pid) AS c FROM (VALUES (2147483647)) v(pid) ORDER BY c;
SELECT pg_cancel_backend(pid) FROM (VALUES (2147483647)) v(pid) ORDER BY 1;
SELECT pg_cancel_backend(pid) FROM (VALUES (2147483647)) v(pid) UNION ALL SELECT true;
SELECT count(*), pg_cancel_backend(pid) FROM (VALUES (2147483647)) v(pid) GROUP BY pid;
SELECT pg_cancel_backend(pid, 1) FROM (VALUES (2147483647)) v(pid);
