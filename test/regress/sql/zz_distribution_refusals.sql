-- What distribution would silently leave out is refused: row-level security and policies, triggers,
-- rules, a place in a local partitioned table. ALTER INDEX naming a table and ALTER TABLE … RENAME
-- TO naming an index rename what they name on the shards too, as PostgreSQL renames it. A foreign
-- key whose ON UPDATE CASCADE would change the distribution column is refused.
create table t25(a int, b int); select create_distributed_table('t25','a');
insert into t25 values (1,1),(2,2);
alter index t25 rename to t25z;
select * from t25z order by a;
create index t25z_b on t25z (b);
alter table t25z_b rename to t25z_b2;
alter index t25z_b2 rename to t25z_b3;
drop index t25z_b3;
insert into t25z values (3,3);
select count(*) from t25z;
drop table t25z;
create table t4p(a int primary key, b int); select create_distributed_table('t4p','a');
create table t4c(a int, x int); select create_distributed_table('t4c','a');
alter table t4c add constraint fk4 foreign key (a) references t4p(a) on update cascade;
drop table t4c, t4p;
create table t41b(a int, b int, owner text);
alter table t41b enable row level security;
select create_distributed_table('t41b','a');
alter table t41b disable row level security;
create policy p41 on t41b using (owner = current_user);
select create_distributed_table('t41b','a');
drop policy p41 on t41b;
create function trg41() returns trigger language plpgsql as $$ begin new.b := new.b * 10; return new; end $$;
create trigger tg41 before insert on t41b for each row execute function trg41();
select create_reference_table('t41b');
drop trigger tg41 on t41b;
create rule r41 as on insert to t41b do also select 1;
select create_distributed_table('t41b','a');
drop rule r41 on t41b;
select create_distributed_table('t41b','a');
drop table t41b;
create table t32(a int, b int) partition by range (b);
create table t32_1 partition of t32 for values from (0) to (10);
select create_distributed_table('t32_1','a');
drop table t32;
-- A DROP … CASCADE that would take the distribution column with it is refused, as dropping the
-- column is; nothing of it stays.
create collation c27 (provider=libc, locale='C');
create table t27(a text collate c27, b int); select create_distributed_table('t27','a');
insert into t27 values ('x',1);
drop collation c27 cascade;
begin;
drop collation c27 cascade;
rollback;
select * from t27;
drop table t27;
drop collation c27;
create schema s27; create table s27.t(a int); select create_distributed_table('s27.t','a');
drop schema s27 cascade;
