-- A unique index or exclusion constraint comparing the distribution column under a nondeterministic
-- collation is refused (values equal under it hash to different shards), also at distribution and
-- under CONCURRENTLY, which leaves no index behind.
create collation ci28 (provider=icu, locale='und-u-ks-level2', deterministic=false);
create table t28(a text, b int); select create_distributed_table('t28','a');
create unique index u28 on t28 (a collate ci28);
create unique index concurrently u28c on t28 (a collate ci28);
alter table t28 add constraint x28 exclude using btree (a collate ci28 with =);
create unique index u28ok on t28 (a);
create index i28 on t28 (a collate ci28);
insert into t28 values ('abc',1),('ABC',2);
select indexname from pg_indexes where tablename = 't28' order by 1;
drop table t28;
create table t28b(a text, b int);
create unique index u28b on t28b (a collate ci28);
select create_distributed_table('t28b','a');
drop table t28b;
drop collation ci28;
