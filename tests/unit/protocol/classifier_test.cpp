// The read/write classifier, table-driven. A row marked R goes to a replica: each one is a claim
// that the statement cannot change data and runs the same on a hot standby. W and U go to the
// primary. Every row also pins the first statement's type and every flag (none unless listed).
#include <catch2/catch.hpp>

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <string_view>

#include "pgsteer/protocol/classifier.hpp"

using namespace pgsteer::protocol;

namespace {

constexpr sql_kind R = sql_kind::read;
constexpr sql_kind W = sql_kind::write;
constexpr sql_kind U = sql_kind::unknown;
using st = statement_type;

// Flags a row expects; every other flag must be off.
constexpr unsigned RO = 1;   // begins_read_only
constexpr unsigned MS = 2;   // multi_statement
constexpr unsigned TC = 4;   // transaction_control
constexpr unsigned HP = 8;   // hint primary
constexpr unsigned HR = 16;  // hint replica

struct case_row {
  const char* sql;
  sql_kind kind;
  statement_type first;
  unsigned flags = 0;
};

const case_row cases[] = {
    // plain reads
    {"SELECT 1", R, st::select_like},
    {"select 1", R, st::select_like},
    {"SeLeCt 1", R, st::select_like},
    {"  \n\tselect 1  ", R, st::select_like},
    {"select * from accounts where id = 1", R, st::select_like},
    {"select a, b from t join u using (id) where a > 3 order by b limit 10", R, st::select_like},
    {"select count(*) from t", R, st::select_like},
    {"select now()", R, st::select_like},
    {"select current_timestamp, current_user, session_user", R, st::select_like},
    {"select random()", R, st::select_like},
    {"select pg_sleep(1)", R, st::select_like},
    {"select version()", R, st::select_like},
    {"select inet_server_port()", R, st::select_like},
    {"select pg_is_in_recovery()", R, st::select_like},
    {"select pg_last_wal_replay_lsn()", R, st::select_like},
    {"select coalesce(a, 0) from t", R, st::select_like},
    {"select distinct on (a) a, b from t", R, st::select_like},
    {"select a from t group by a having count(*) > 1", R, st::select_like},
    {"select a from t union select b from u", R, st::select_like},
    {"select a from t union all select b from u", R, st::select_like},
    {"select a from t intersect select a from u", R, st::select_like},
    {"select a from t except select a from u", R, st::select_like},
    {"(select 1) union (select 2)", R, st::select_like},
    {"((select 1))", R, st::select_like},
    {"select * from t where id in (select id from u)", R, st::select_like},
    {"select * from t where exists (select 1 from u where u.id = t.id)", R, st::select_like},
    {"select row_number() over (partition by a order by b) from t", R, st::select_like},
    {"select array[1,2,3]", R, st::select_like},
    {"select '{1,2}'::int[]", R, st::select_like},
    {"select 1::text", R, st::select_like},
    {"select x->>'k' from j", R, st::select_like},
    {"select * from generate_series(1, 10)", R, st::select_like},
    {"select * from t tablesample system (10)", R, st::select_like},
    {"select * from t for read only", R, st::select_like},
    {"select cast(a as int) from t", R, st::select_like},
    {"select * from t, lateral (select * from u where u.a = t.a) x", R, st::select_like},
    {"select json_agg(t) from t", R, st::select_like},
    {"select * from pg_stat_activity", R, st::select_like},
    // pgbench
    {"SELECT abalance FROM pgbench_accounts WHERE aid = $1;", R, st::select_like},
    {"SELECT abalance FROM pgbench_accounts WHERE aid = 42", R, st::select_like},
    {"UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;", W, st::dml},
    {"UPDATE pgbench_tellers SET tbalance = tbalance + 1 WHERE tid = 2;", W, st::dml},
    {"UPDATE pgbench_branches SET bbalance = bbalance + 1 WHERE bid = 1;", W, st::dml},
    {"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, "
     "CURRENT_TIMESTAMP);",
     W, st::dml},
    {"BEGIN;", W, st::begin, TC},
    {"END;", R, st::commit, TC},
    {"select count(*) from pgbench_branches", R, st::select_like},
    {"truncate pgbench_history", W, st::ddl},
    // locking clauses and SELECT INTO
    {"select * from t for update", W, st::select_like},
    {"SELECT * FROM t FOR UPDATE", W, st::select_like},
    {"select * from t for no key update", W, st::select_like},
    {"select * from t for share", W, st::select_like},
    {"select * from t for key share", W, st::select_like},
    {"select * from t for update skip locked", W, st::select_like},
    {"select * from t for update nowait", W, st::select_like},
    {"select * from t for update of t", W, st::select_like},
    {"select * from t for /* lock */ update", W, st::select_like},
    {"select * from (select * from t for update) x", W, st::select_like},
    {"select * into t2 from t", W, st::select_like},
    {"select a into temp t2 from t", W, st::select_like},
    {"SELECT * INTO new_table FROM t", W, st::select_like},
    {"select a from t where b = 1 into unlogged t3", W, st::select_like},
    {"select share from t", R, st::select_like},
    {"select 1 as share", R, st::select_like},
    // strings, identifiers and comments that look like writes
    {"select 'insert'", R, st::select_like},
    {"select 'delete from t'", R, st::select_like},
    {"select 'it''s an update'", R, st::select_like},
    {"select E'\\'update\\''", R, st::select_like},
    {"select e'a\\\\' , 'update'", R, st::select_like},
    {"select \"update\" from t", R, st::select_like},
    {"select \"insert\", \"delete\" from \"merge\"", R, st::select_like},
    {"select \"a\"\"update\" from t", R, st::select_like},
    {"select \"into\" from t", R, st::select_like},
    {"select U&'d\\0061t\\+000061'", R, st::select_like},
    {"select U&'d!0061t' uescape '!'", R, st::select_like},
    {"select U&\"upd\" from t", R, st::select_like},
    {"select B'1010', X'ff', N'national'", R, st::select_like},
    {"select $$ ; DELETE $$", R, st::select_like},
    {"SELECT $$ ; DELETE $$", R, st::select_like},
    {"select $tag$ update t set a=1 $tag$", R, st::select_like},
    {"select $a$ $b$ delete $b$ $a$", R, st::select_like},
    {"select $a$ $$ ; delete from t; $$ $a$", R, st::select_like},
    {"select $1, $2", R, st::select_like},
    {"select $1::int + $12", R, st::select_like},
    {"select 1 -- ; delete from t", R, st::select_like},
    {"select 1 -- ; delete from t\n", R, st::select_like},
    {"select 1 /* ; delete from t */", R, st::select_like},
    {"select 1 /* nested /* ; delete */ still comment */", R, st::select_like},
    {"select 1 /* a */ /* b */", R, st::select_like},
    {"select 1+-- comment\n2", R, st::select_like},
    {"select 2*/* comment */3", R, st::select_like},
    {"/* comment */ SELECT 1", R, st::select_like},
    {"-- leading comment\nselect 1", R, st::select_like},
    {"/* a */ /* b */ -- c\n select 1", R, st::select_like},
    {"select 1 as update_count", R, st::select_like},
    {"select updated_at from t", R, st::select_like},
    {"select deleted from t", R, st::select_like},
    {"select t.insert_date from t", R, st::select_like},
    {"select foo$bar from t", R, st::select_like},
    {"select 1.5e10, .5, 1e-3, 2E+4", R, st::select_like},
    {"select a <> b, a >= b, a || b from t", R, st::select_like},
    {"select 'a' 'b'", R, st::select_like},
    {"select 'a'\n'b'", R, st::select_like},
    {"select x$$y from t", R, st::select_like},
    // conservative on purpose: unquoted column names that are write keywords
    {"select update from t", W, st::select_like},
    {"select t.delete from t", W, st::select_like},
    // data-modifying CTEs at any depth
    {"with x as (select 1) select * from x", R, st::select_like},
    {"with recursive r(n) as (select 1 union all select n+1 from r where n < 5) select * from r", R,
     st::select_like},
    {"WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", W, st::select_like},
    {"with x as (insert into t values (1) returning id) select id from x", W, st::select_like},
    {"with x as (update t set a = 1 returning *) select * from x", W, st::select_like},
    {"with a as (select 1), b as (delete from t returning 1) select * from a", W, st::select_like},
    {"with x as (select * from (with y as (delete from t returning *) select * from y) z) select 1",
     W, st::select_like},
    {"with x as materialized (select 1) select * from x", R, st::select_like},
    {"with x as not materialized (select 1) select * from x", R, st::select_like},
    {"with x as (merge into t using u on t.id = u.id when matched then delete) select 1", W,
     st::select_like},
    {"with x as (select 1) insert into t select * from x", W, st::select_like},
    {"with x as (select 1) delete from t where a in (select * from x)", W, st::select_like},
    {"with x as (select 1) update t set a = 1", W, st::select_like},
    {"with x as (select 'delete') select * from x", R, st::select_like},
    {"with \"delete\" as (select 1) select * from \"delete\"", R, st::select_like},
    // write functions
    {"SELECT nextval('s')", W, st::select_like},
    {"select NEXTVAL('s')", W, st::select_like},
    {"select public.nextval('s')", W, st::select_like},
    {"select pg_catalog.nextval('s')", W, st::select_like},
    {"select \"nextval\"('s')", W, st::select_like},
    {"select pg_catalog.\"nextval\"('s')", W, st::select_like},
    {"select \"NextVal\"('s')", R, st::select_like},
    {"select nextval ('s')", W, st::select_like},
    {"select nextval\n/* c */ ('s')", W, st::select_like},
    {"select nextval('s'::regclass)", W, st::select_like},
    {"select setval('s', 10)", W, st::select_like},
    {"select currval('s')", W, st::select_like},
    {"select lastval()", W, st::select_like},
    {"select pg_advisory_lock(1)", W, st::select_like},
    {"select pg_advisory_xact_lock(1)", W, st::select_like},
    {"select pg_advisory_lock_shared(1)", W, st::select_like},
    {"select pg_try_advisory_lock(1)", W, st::select_like},
    {"select pg_try_advisory_xact_lock(1)", W, st::select_like},
    {"select pg_try_advisory_xact_lock_shared(1)", W, st::select_like},
    {"select pg_advisory_unlock(1)", W, st::select_like},
    {"select pg_advisory_unlock_all()", W, st::select_like},
    {"select set_config('a.b', '1', false)", W, st::select_like},
    {"select lo_import('/tmp/x')", W, st::select_like},
    {"select lo_create(0)", W, st::select_like},
    {"select lo_unlink(1)", W, st::select_like},
    {"select lowrite(0, 'x')", W, st::select_like},
    {"select pg_notify('c', 'p')", W, st::select_like},
    {"select txid_current()", W, st::select_like},
    {"select pg_current_xact_id()", W, st::select_like},
    {"select pg_current_wal_lsn()", W, st::select_like},
    {"select pg_switch_wal()", W, st::select_like},
    {"select pg_create_restore_point('x')", W, st::select_like},
    {"select pg_terminate_backend(123)", W, st::select_like},
    {"select pg_reload_conf()", W, st::select_like},
    {"select pg_stat_reset()", W, st::select_like},
    {"select pg_create_logical_replication_slot('s', 'pgoutput')", W, st::select_like},
    {"select * from pg_logical_slot_get_changes('s', null, null)", W, st::select_like},
    {"select * from dblink('c', 'select 1') as t(a int)", W, st::select_like},
    {"select dblink_exec('c', 'delete from t')", W, st::select_like},
    {"select a from t where b = nextval('s')", W, st::select_like},
    {"select (select nextval('s'))", W, st::select_like},
    {"select * from t order by setval('s', 1)", W, st::select_like},
    {"select nextval from t", R, st::select_like},
    {"select 'nextval(1)'", R, st::select_like},
    {"select $$nextval('s')$$", R, st::select_like},
    {"select \"nextval\" from t", R, st::select_like},
    {"select my_write_fn(1)", W, st::select_like},  // added at run time below
    {"select MY_WRITE_FN(1)", W, st::select_like},
    {"select app.my_write_fn(1)", W, st::select_like},
    {"select \"my_write_fn\"(1)", W, st::select_like},
    {"select \"My_Write_Fn\"(1)", R, st::select_like},
    {"select my_write_fn from t", R, st::select_like},
    {"select \"Audit\"(1)", W, st::select_like},  // added as "Audit", quoted
    {"select audit(1)", R, st::select_like},
    {"select U&\"nextv\\0061l\"('s')", W, st::select_like},  // escapes could spell anything
    // VALUES, TABLE, SHOW
    {"values (1), (2)", R, st::select_like},
    {"VALUES (nextval('s'))", W, st::select_like},
    {"table t", R, st::select_like},
    {"TABLE accounts", R, st::select_like},
    {"show search_path", R, st::show},
    {"SHOW ALL", R, st::show},
    {"show transaction_read_only", R, st::show},
    // EXPLAIN
    {"explain select 1", R, st::explain},
    {"explain delete from t", R, st::explain},
    {"explain (costs off) update t set a = 1", R, st::explain},
    {"explain analyze select 1", R, st::explain},
    {"EXPLAIN ANALYZE SELECT * FROM t", R, st::explain},
    {"EXPLAIN ANALYZE DELETE FROM t", W, st::explain},
    {"explain analyse update t set a = 1", W, st::explain},
    {"explain analyze verbose insert into t values (1)", W, st::explain},
    {"explain (analyze) delete from t", W, st::explain},
    {"explain (analyze true) delete from t", W, st::explain},
    {"explain (analyze on, format json) delete from t", W, st::explain},
    {"explain (analyze, buffers) select * from t", R, st::explain},
    {"explain (analyze false) delete from t", R, st::explain},
    {"explain (analyze off, costs on) delete from t", R, st::explain},
    {"explain (analyze 0) delete from t", R, st::explain},
    {"explain (analyze off, analyze on) delete from t", W, st::explain},
    {"explain verbose select 1", R, st::explain},
    {"explain analyze select nextval('s')", W, st::explain},
    {"explain select nextval('s')", R, st::explain},
    {"explain analyze select * from t for update", W, st::explain},
    {"explain analyze create table x as select 1", W, st::explain},
    {"explain execute s1", U, st::explain},
    {"explain analyze execute s1", U, st::explain},
    {"explain frobnicate", U, st::explain},
    {"explain", U, st::explain},
    // transactions
    {"BEGIN", W, st::begin, TC},
    {"begin;", W, st::begin, TC},
    {"begin transaction", W, st::begin, TC},
    {"begin work", W, st::begin, TC},
    {"begin read write", W, st::begin, TC},
    {"BEGIN READ ONLY", R, st::begin, RO | TC},
    {"begin transaction read only", R, st::begin, RO | TC},
    {"Begin Read Only;", R, st::begin, RO | TC},
    {"begin isolation level repeatable read, read only", R, st::begin, RO | TC},
    {"begin read only isolation level read committed not deferrable", R, st::begin, RO | TC},
    {"begin isolation level serializable read only deferrable", W, st::begin, TC},
    {"begin isolation level serializable", W, st::begin, TC},
    {"begin read only, read write", W, st::begin, TC},
    {"START TRANSACTION READ ONLY", R, st::begin, RO | TC},
    {"start transaction", W, st::begin, TC},
    {"start transaction isolation level read committed", W, st::begin, TC},
    {"start transaction read write", W, st::begin, TC},
    {"start", U, st::other},
    {"start replication", U, st::other},
    {"COMMIT", R, st::commit, TC},
    {"commit work", R, st::commit, TC},
    {"commit and chain", R, st::commit, TC},
    {"END;", R, st::commit, TC},
    {"end", R, st::commit, TC},
    {"ROLLBACK", R, st::rollback, TC},
    {"abort", R, st::rollback, TC},
    {"rollback and no chain", R, st::rollback, TC},
    {"rollback to savepoint a", R, st::savepoint},
    {"rollback work to a", R, st::savepoint},
    {"savepoint a", R, st::savepoint},
    {"release savepoint a", R, st::savepoint},
    {"release a", R, st::savepoint},
    {"prepare transaction 'x'", W, st::two_phase, TC},
    {"commit prepared 'x'", W, st::two_phase, TC},
    {"rollback prepared 'x'", W, st::two_phase, TC},
    {"SET TRANSACTION READ ONLY", R, st::set_transaction, RO},
    {"set transaction read write", W, st::set_transaction},
    {"set transaction isolation level repeatable read", R, st::set_transaction},
    {"set transaction isolation level serializable", W, st::set_transaction},
    {"set transaction snapshot '00000003-0000001B-1'", W, st::set_transaction},
    {"set local transaction read only", R, st::set_transaction, RO},
    {"set session transaction read only", R, st::set_transaction, RO},
    {"set session characteristics as transaction read only", R, st::set_transaction},
    {"set session characteristics as transaction read write", R, st::set_transaction},
    // transaction setup in one string
    {"begin; set transaction read only; select 1; commit", R, st::begin, RO | MS | TC},
    {"begin read write; set transaction read only", R, st::begin, RO | MS | TC},
    {"begin read only; set transaction read write; select 1", W, st::begin, MS | TC},
    {"begin; set transaction isolation level serializable, read only", W, st::begin, MS | TC},
    {"begin; select 1; set transaction read only", W, st::begin, MS | TC},
    {"begin; select 1; commit", W, st::begin, MS | TC},
    {"begin read only; select 1; commit;", R, st::begin, RO | MS | TC},
    {"begin read only; delete from t; commit", W, st::begin, RO | MS | TC},
    {"begin read only; select nextval('s')", W, st::begin, RO | MS | TC},
    {"select 1; begin read only", R, st::select_like, MS | TC},
    {"select 1; commit", R, st::select_like, MS | TC},
    // session commands
    {"set search_path = app, public", R, st::set},
    {"SET TIME ZONE 'UTC'", R, st::set},
    {"set local statement_timeout = '5s'", R, st::set},
    {"set session application_name to 'x'", R, st::set},
    {"set session authorization default", R, st::set},
    {"set role app", R, st::set},
    {"set constraints all deferred", R, st::set},
    {"reset all", R, st::set},
    {"RESET search_path", R, st::set},
    {"discard all", R, st::discard},
    {"DISCARD PLANS", R, st::discard},
    {"DEALLOCATE ALL", R, st::deallocate},
    {"deallocate prepare all", R, st::deallocate},
    {"deallocate prepare s1", U, st::deallocate},
    {"deallocate s1", U, st::deallocate},
    {"prepare s1 as select 1", U, st::prepare},
    {"prepare s1 (int) as select $1", U, st::prepare},
    {"prepare s2 as delete from t", W, st::prepare},
    {"prepare s3 as select nextval('s')", W, st::prepare},
    {"prepare s4", U, st::prepare},
    {"execute s1", U, st::execute},
    {"execute s1(1)", U, st::execute},
    {"listen jobs", W, st::listen},
    {"notify jobs, 'x'", W, st::listen},
    {"unlisten *", W, st::listen},
    {"declare c cursor for select * from t", R, st::cursor},
    {"declare c binary no scroll cursor without hold for select 1", R, st::cursor},
    {"declare c cursor for select nextval('s')", W, st::cursor},
    {"declare c cursor with hold for select * from t", U, st::cursor},
    {"declare c cursor with hold for select * from t for update", W, st::cursor},
    {"declare c cursor", U, st::cursor},
    {"fetch 10 from c", U, st::cursor},
    {"move next in c", U, st::cursor},
    {"close c", U, st::cursor},
    {"close all", R, st::cursor},
    // COPY: TO STDOUT of a read is a read (a standby runs it); FROM, files and programs are not
    {"COPY (SELECT * FROM t) TO STDOUT", R, st::copy},
    {"copy (select * from t where a = 'x') to stdout with (format csv, header)", R, st::copy},
    {"copy ((select 1)) to stdout", R, st::copy},
    {"copy (select nextval('s')) to stdout", W, st::copy},
    {"copy (select * from t for update) to stdout", W, st::copy},
    {"copy (delete from t returning *) to stdout", W, st::copy},
    {"copy (frobnicate) to stdout", U, st::copy},
    {"copy (select 1 to stdout", U, st::copy},
    {"copy t to stdout", R, st::copy},
    {"copy public.t (a, b) to stdout with (format csv)", R, st::copy},
    {"copy binary t to stdout", R, st::copy},
    {"copy t to '/tmp/t.csv'", W, st::copy},
    {"copy (select 1) to '/tmp/t.csv'", W, st::copy},
    {"copy t to program 'gzip > /tmp/t.gz'", W, st::copy},
    {"copy t from stdin", W, st::copy},
    {"COPY t (a, b) FROM STDIN WITH (FORMAT csv)", W, st::copy},
    {"copy t from '/tmp/t.csv'", W, st::copy},
    {"copy t", U, st::copy},
    // writes and DDL
    {"insert into t values (1)", W, st::dml},
    {"INSERT INTO t SELECT * FROM u", W, st::dml},
    {"update t set a = 1", W, st::dml},
    {"delete from t", W, st::dml},
    {"DELETE FROM t WHERE id = 1", W, st::dml},
    {"merge into t using u on t.id = u.id when matched then update set a = 1", W, st::dml},
    {"insert into t values (1) on conflict do nothing", W, st::dml},
    {"DO $$ BEGIN PERFORM 1; END $$", W, st::call},
    {"do $$ select 1 $$", W, st::call},
    {"do language plpgsql $body$ begin delete from t; end $body$", W, st::call},
    {"CALL p()", W, st::call},
    {"call app.refresh(1)", W, st::call},
    {"create table t (id int)", W, st::ddl},
    {"create table t as select 1", W, st::ddl},
    {"CREATE INDEX CONCURRENTLY i ON t (a)", W, st::ddl},
    {"create function f() returns int begin atomic; select 1; end", W, st::ddl, MS | TC},
    {"alter table t add column b int", W, st::ddl},
    {"drop table t", W, st::ddl},
    {"truncate t", W, st::ddl},
    {"grant select on t to app", W, st::ddl},
    {"revoke all on t from app", W, st::ddl},
    {"vacuum t", W, st::ddl},
    {"VACUUM (VERBOSE, ANALYZE) t", W, st::ddl},
    {"analyze t", W, st::ddl},
    {"cluster t", W, st::ddl},
    {"reindex table t", W, st::ddl},
    {"comment on table t is 'x'", W, st::ddl},
    {"lock table t in access share mode", W, st::ddl},
    {"refresh materialized view v", W, st::ddl},
    {"checkpoint", W, st::ddl},
    {"security label on table t is 'x'", W, st::ddl},
    {"import foreign schema s from server x into y", W, st::ddl},
    {"reassign owned by a to b", W, st::ddl},
    {"load 'auto_explain'", W, st::ddl},
    // unknown and empty
    {"frobnicate the database", U, st::other},
    {"", R, st::empty},
    {";", R, st::empty},
    {";;  ; ", R, st::empty},
    {"-- only a comment", R, st::empty},
    {"/* only a comment */", R, st::empty},
    {"42", U, st::other},
    {"'just a string'", U, st::other},
    {"(delete from t)", U, st::other},
    {"(", U, st::other},
    {")", U, st::other},
    {"$", U, st::other},
    {"\"select\" 1", U, st::other},
    // unterminated input is never read
    {"select 'unterminated", U, st::other},
    {"select \"unterminated", U, st::other},
    {"select $$ unterminated", U, st::other},
    {"select $tag$ unterminated $tog$", U, st::other},
    {"select 1 /* unterminated", U, st::other},
    {"select 1 /* /* nested unterminated */", U, st::other},
    {"select E'ends in backslash\\", U, st::other},
    {"select E'\\'", U, st::other},
    {"select U&'unterminated", U, st::other},
    {"select 1; select 'unterminated", U, st::select_like, MS},
    {"/* pgsteer:replica */ select 'x", U, st::other, HR},
    // multi-statement strings
    {"select 1; select 2", R, st::select_like, MS},
    {"select 1; delete from t", W, st::select_like, MS},
    {"delete from t; select 1", W, st::dml, MS},
    {"select 1; frobnicate", U, st::select_like, MS},
    {"select 1; frobnicate; delete from t", W, st::select_like, MS},
    {"select 1;;select 2;", R, st::select_like, MS},
    {"select 1;", R, st::select_like},
    {"set search_path = a; select 1", R, st::set, MS},
    {"select (1; delete from t)", W, st::select_like, MS},
    {"select 'a;b'; select \"c;d\"", R, st::select_like, MS},
    {"select 1 -- x\n; delete from t", W, st::select_like, MS},
    // hints: in comments before the first statement only
    {"/* pgsteer:primary */ select 1", R, st::select_like, HP},
    {"/*pgsteer:replica*/ select 1", R, st::select_like, HR},
    {"/* PGSTEER:REPLICA */ select 1", R, st::select_like, HR},
    {"-- pgsteer:replica\nselect 1", R, st::select_like, HR},
    {"/* app=web, pgsteer:replica, route=x */ select 1", R, st::select_like, HR},
    {"/* pgsteer:replica */ /* pgsteer:primary */ select 1", R, st::select_like, HP},
    {"/* pgsteer:replica */ delete from t", W, st::dml, HR},
    {"/* pgsteer:primary */", R, st::empty, HP},
    {"select 1 -- pgsteer:replica", R, st::select_like},
    {"select 1 /* pgsteer:primary */", R, st::select_like},
    {"select '/* pgsteer:replica */'", R, st::select_like},
    {"/* pgsteer:replicas */ select 1", R, st::select_like},
    {"/* xpgsteer:replica */ select 1", R, st::select_like},
    {"/* pgsteer:secondary */ select 1", R, st::select_like},
    {"/* outer /* pgsteer:replica */ */ select 1", R, st::select_like, HR},
};

void check_row(const case_row& c, const function_policy& policy) {
  INFO("sql: " << c.sql);
  const classification got = classify(c.sql, policy);
  CHECK(to_string(got.kind) == to_string(c.kind));
  CHECK(to_string(got.first) == to_string(c.first));
  CHECK(got.begins_read_only == ((c.flags & RO) != 0));
  CHECK(got.multi_statement == ((c.flags & MS) != 0));
  CHECK(got.transaction_control == ((c.flags & TC) != 0));
  const route_hint hint = (c.flags & HP) != 0   ? route_hint::primary
                          : (c.flags & HR) != 0 ? route_hint::replica
                                                : route_hint::none;
  CHECK(to_string(got.hint) == to_string(hint));
}

}  // namespace

// Counting allocations needs the scalar operator new/delete replaced. AddressSanitizer brings
// its own and checks that they pair up, so under it the check is left out.
#if defined(__SANITIZE_ADDRESS__)
#define PGSTEER_COUNT_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PGSTEER_COUNT_ALLOCATIONS 0
#endif
#endif
#ifndef PGSTEER_COUNT_ALLOCATIONS
#define PGSTEER_COUNT_ALLOCATIONS 1
#endif

#if PGSTEER_COUNT_ALLOCATIONS
namespace {
thread_local std::size_t allocations = 0;
}  // namespace

// Every scalar form, so that all memory from them is malloc'd and free'd consistently; the
// array forms call these.
void* operator new(std::size_t size) {
  ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  ++allocations;
  return std::malloc(size == 0 ? 1 : size);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
#endif

TEST_CASE("classifier table", "[protocol][classifier]") {
  function_policy policy;
  policy.add_write_function("My_Write_Fn");
  policy.add_write_function("\"Audit\"");
  std::size_t n = 0;
  for (const auto& c : cases) {
    check_row(c, policy);
    ++n;
  }
  CHECK(n >= 200);
}

TEST_CASE("case does not matter to keywords", "[protocol][classifier]") {
  // Every row again with ASCII letters outside quotes and comments flipped in case is too much
  // machinery; flipping the whole string keeps the verdict wherever no quote or name is involved.
  const function_policy policy;
  for (const char* sql :
       {"SELECT 1 FOR UPDATE", "with X as (DELETE from T returning *) select 1",
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "eXpLaIn AnAlYzE DeLeTe FROM t",
        "CoPy (SeLeCt 1) To StDoUt", "select NEXTVAL('S')"}) {
    std::string upper(sql), lower(sql);
    for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    INFO(sql);
    CHECK(classify(upper, policy).kind == classify(sql, policy).kind);
    CHECK(classify(lower, policy).kind == classify(sql, policy).kind);
    CHECK(classify(lower, policy).begins_read_only == classify(sql, policy).begins_read_only);
  }
}

TEST_CASE("statement counts", "[protocol][classifier]") {
  const function_policy policy;
  CHECK(classify("", policy).statements == 0);
  CHECK(classify("select 1", policy).statements == 1);
  CHECK(classify(";select 1;;select 2;", policy).statements == 2);
  CHECK(classify("begin; select 1; commit", policy).statements == 3);
}

TEST_CASE("text after a NUL is ignored, as the server ignores it", "[protocol][classifier]") {
  const function_policy policy;
  using namespace std::string_view_literals;
  CHECK(classify("select 1\0; delete from t"sv, policy).kind == sql_kind::read);
  CHECK(classify("select 1\0"sv, policy).kind == sql_kind::read);
  CHECK(classify("delete\0 from t"sv, policy).kind == sql_kind::write);
  CHECK(classify("\0delete from t"sv, policy).first == statement_type::empty);
}

TEST_CASE("strings with backslashes are judged as both kinds of server read them",
          "[protocol][classifier]") {
  const function_policy policy;
  // With standard_conforming_strings off, '\'' does not end at the second quote, so the text
  // below runs a DELETE; with it on, the DELETE is inside a string. Either way: not read.
  CHECK(classify("select 'x\\' , ' ; delete from t; --'", policy).kind != sql_kind::read);
  // Ambiguous endings are at worst unknown.
  CHECK(classify("select 'C:\\'", policy).kind == sql_kind::unknown);
  // Backslashes that cannot change where a string ends keep reads on replicas.
  CHECK(classify("select 'a\\d+'", policy).kind == sql_kind::read);
  CHECK(classify("select * from t where path like 'C:\\\\dir%'", policy).kind == sql_kind::read);
  CHECK(classify("select E'\\\\'", policy).kind == sql_kind::read);
}

TEST_CASE("function policy matches names as the server resolves them", "[protocol][classifier]") {
  function_policy policy;
  CHECK(policy.is_write("nextval"));
  CHECK_FALSE(policy.is_write("NEXTVAL"));  // only a quoted "NEXTVAL" arrives as written
  CHECK(policy.is_write("lo_anything"));
  CHECK(policy.is_write("pg_advisory_whatever"));
  CHECK(policy.is_write("dblink_connect"));
  CHECK_FALSE(policy.is_write("lower"));
  CHECK_FALSE(policy.is_write(""));

  policy.add_write_function("Audit_Log");
  policy.add_write_function("app.bump_counter");
  policy.add_write_function("\"app\".\"MixedCase\"");
  policy.add_write_function("\"we\"\"ird\"");
  policy.add_write_function("  spaced  ");
  policy.add_write_function("");
  policy.add_write_function("nextval");  // already there: no duplicate, no harm
  CHECK(policy.is_write("audit_log"));
  CHECK(policy.is_write("bump_counter"));
  CHECK(policy.is_write("MixedCase"));
  CHECK_FALSE(policy.is_write("mixedcase"));
  CHECK(policy.is_write("we\"ird"));
  CHECK(policy.is_write("spaced"));

  CHECK(classify("select app.bump_counter()", policy).kind == sql_kind::write);
  CHECK(classify("select other.BUMP_COUNTER()", policy).kind == sql_kind::write);
  CHECK(classify("select \"MixedCase\"()", policy).kind == sql_kind::write);
  CHECK(classify("select MixedCase()", policy).kind == sql_kind::read);
  CHECK(classify("select \"we\"\"ird\"()", policy).kind == sql_kind::write);
}

TEST_CASE("long identifiers are truncated to 63 bytes like the server does",
          "[protocol][classifier]") {
  function_policy policy;
  const std::string name63(63, 'f');
  policy.add_write_function(name63 + "ignored_tail");
  CHECK(policy.is_write(name63));
  CHECK(classify("select " + name63 + "xyz(1)", policy).kind == sql_kind::write);
  CHECK(classify("select " + std::string(62, 'f') + "(1)", policy).kind == sql_kind::read);
}

TEST_CASE("volatile catalog functions are writes unless read-safe", "[protocol][classifier]") {
  function_policy policy;
  CHECK(classify("select audit_insert(1)", policy).kind == sql_kind::read);
  policy.set_volatile_functions({"audit_insert", "random", "clock_timestamp", "Audit_Upper",
                                 "audit_insert", "pg_is_in_recovery"});
  CHECK(classify("select audit_insert(1)", policy).kind == sql_kind::write);
  CHECK(classify("select public.AUDIT_INSERT(1)", policy).kind == sql_kind::write);
  CHECK(classify("select * from t where a = audit_insert(1)", policy).kind == sql_kind::write);
  CHECK(classify("select audit_upper(1)", policy).kind == sql_kind::read);
  CHECK(classify("select \"Audit_Upper\"(1)", policy).kind == sql_kind::write);
  CHECK(classify("select random()", policy).kind == sql_kind::read);
  CHECK(classify("select clock_timestamp()", policy).kind == sql_kind::read);
  CHECK(classify("select pg_is_in_recovery()", policy).kind == sql_kind::read);
  CHECK(classify("select lower('A')", policy).kind == sql_kind::read);
  CHECK(function_policy::is_read_safe("gen_random_uuid"));
  CHECK_FALSE(function_policy::is_read_safe("nextval"));
  // A new catalog load replaces the old one.
  policy.set_volatile_functions({"other_fn"});
  CHECK(classify("select audit_insert(1)", policy).kind == sql_kind::read);
  CHECK(classify("select other_fn()", policy).kind == sql_kind::write);
  // The built-in write list does not depend on the catalog.
  CHECK(classify("select nextval('s')", policy).kind == sql_kind::write);
}

TEST_CASE("hostile shapes get a verdict without crashing", "[protocol][classifier]") {
  const function_policy policy;
  CHECK(classify(std::string(100000, '('), policy).kind == sql_kind::unknown);
  CHECK(classify("select " + std::string(100000, '(') + "1", policy).kind == sql_kind::read);
  CHECK(classify(std::string(100000, ')'), policy).kind == sql_kind::unknown);
  std::string explains;
  for (int i = 0; i < 20000; ++i) explains += "explain ";
  CHECK(classify(explains + "select 1", policy).kind == sql_kind::unknown);
  std::string copies;
  for (int i = 0; i < 20000; ++i) copies += "copy (";
  CHECK(classify(copies, policy).kind == sql_kind::unknown);
  std::string prepares;
  for (int i = 0; i < 20000; ++i) prepares += "prepare p as ";
  CHECK(classify(prepares + "delete from t", policy).kind != sql_kind::read);
  std::string comments;
  for (int i = 0; i < 20000; ++i) comments += "/*";
  CHECK(classify(comments, policy).kind == sql_kind::unknown);
  for (int i = 0; i < 20000; ++i) comments += "*/";
  CHECK(classify(comments + " select 1", policy).kind == sql_kind::read);
  CHECK(classify(std::string(100000, '$'), policy).kind == sql_kind::unknown);
  CHECK(classify(std::string(100000, '\''), policy).kind == sql_kind::unknown);
  CHECK(classify("select " + std::string(100000, '\''), policy).kind == sql_kind::read);
  const std::string bytes("\xff\xfe\x80select\x01\x02", 11);
  CHECK(classify(bytes, policy).kind == sql_kind::unknown);
}

TEST_CASE("classifying allocates nothing", "[protocol][classifier]") {
  function_policy policy;
  policy.set_volatile_functions({"audit_insert"});
  const std::string long_select = "select a, b, c from t where id in (" + std::string(5000, '1') +
                                  ") and x = 'insert' -- update";
  const std::string_view inputs[] = {
      "SELECT abalance FROM pgbench_accounts WHERE aid = $1;",
      "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;",
      "/* pgsteer:replica */ with x as (select 1) select * from x",
      "begin read only; set transaction read only; select audit_insert(1); commit",
      "copy (select 1) to stdout",
      "explain analyze select 1",
      "select \"we\"\"ird\"(1)",
      long_select,
  };
#if PGSTEER_COUNT_ALLOCATIONS
  {
    // The counter sees allocations at all.
    const auto before = allocations;
    const std::string allocated(100, 'x');
    const auto after = allocations;
    CHECK(after == before + 1);
  }
  for (const auto sql : inputs) {
    INFO(sql);  // Catch2's message allocates: keep it outside the measured span
    const auto before = allocations;
    const auto c = classify(sql, policy);
    const auto after = allocations;
    CHECK(after == before);
    CHECK(c.statements > 0);
  }
#else
  WARN("allocation counting is off under AddressSanitizer");
  for (const auto sql : inputs) CHECK(classify(sql, policy).statements > 0);
#endif
}

TEST_CASE("names for logs", "[protocol][classifier]") {
  CHECK(to_string(sql_kind::read) == "read");
  CHECK(to_string(sql_kind::write) == "write");
  CHECK(to_string(sql_kind::unknown) == "unknown");
  CHECK(to_string(statement_type::select_like) == "select_like");
  CHECK(to_string(statement_type::set_transaction) == "set_transaction");
  CHECK(to_string(route_hint::replica) == "replica");
}
