// The read/write classifier, table-driven. A case marked R goes to a replica: each one is a claim
// that the statement cannot change data or need the primary. W and U go to the primary.
#include <catch2/catch.hpp>

#include <string>

#include "pgsteer/protocol/classifier.hpp"

using namespace pgsteer::protocol;

namespace {

constexpr sql_kind R = sql_kind::read;
constexpr sql_kind W = sql_kind::write;
constexpr sql_kind U = sql_kind::unknown;
using st = statement_type;

struct case_row {
  const char* sql;
  sql_kind kind;
  statement_type first;
};

const case_row cases[] = {
    // plain reads
    {"SELECT 1", R, st::select_like},
    {"select 1", R, st::select_like},
    {"SeLeCt 1", R, st::select_like},
    {"  \n\tselect 1  ", R, st::select_like},
    {"select * from accounts where id = 1", R, st::select_like},
    {"select a, b from t join u using (id) where a > 3 order by b limit 10", R, st::select_like},
    {"SELECT abalance FROM pgbench_accounts WHERE aid = $1;", R, st::select_like},
    {"SELECT abalance FROM pgbench_accounts WHERE aid = 42", R, st::select_like},
    {"select count(*) from t", R, st::select_like},
    {"select now()", R, st::select_like},
    {"select current_timestamp", R, st::select_like},
    {"select random()", R, st::select_like},
    {"select pg_sleep(1)", R, st::select_like},
    {"select version()", R, st::select_like},
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
    {"select * from t for update", W, st::select_like},
    {"select * from t for no key update", W, st::select_like},
    {"select * from t for share", W, st::select_like},
    {"select * from t for key share", W, st::select_like},
    {"select * from t for update skip locked", W, st::select_like},
    {"select * from t for update nowait", W, st::select_like},
    {"select * from t for update of t", W, st::select_like},
    {"SELECT * FROM t FOR UPDATE", W, st::select_like},
    {"select * into t2 from t", W, st::select_like},
    {"select a into temp t2 from t", W, st::select_like},
    {"SELECT * INTO new_table FROM t", W, st::select_like},
    // strings, identifiers and comments that look like writes
    {"select 'insert'", R, st::select_like},
    {"select 'delete from t'", R, st::select_like},
    {"select 'it''s an update'", R, st::select_like},
    {"select E'\\'update\\''", R, st::select_like},
    {"select e'a\\\\' , 'update'", R, st::select_like},
    {"select \"update\" from t", R, st::select_like},
    {"select \"insert\", \"delete\" from \"merge\"", R, st::select_like},
    {"select \"a\"\"update\" from t", R, st::select_like},
    {"select U&'d\\0061t\\+000061'", R, st::select_like},
    {"select U&\"upd\" from t", R, st::select_like},
    {"select B'1010', X'ff'", R, st::select_like},
    {"select $$ ; DELETE $$", R, st::select_like},
    {"SELECT $$ ; DELETE $$", R, st::select_like},
    {"select $tag$ update t set a=1 $tag$", R, st::select_like},
    {"select $a$ $b$ delete $b$ $a$", R, st::select_like},
    {"select $1, $2", R, st::select_like},
    {"select 1 -- ; delete from t", R, st::select_like},
    {"select 1 /* ; delete from t */", R, st::select_like},
    {"select 1 /* nested /* ; delete */ still comment */", R, st::select_like},
    {"/* comment */ SELECT 1", R, st::select_like},
    {"-- leading comment\nselect 1", R, st::select_like},
    {"/* a */ /* b */ -- c\n select 1", R, st::select_like},
    {"select 1 as update_count", R, st::select_like},
    {"select updated_at from t", R, st::select_like},
    {"select deleted from t", R, st::select_like},
    {"select t.insert_date from t", R, st::select_like},
    {"select foo$bar from t", R, st::select_like},
    {"select 1.5e10, .5, 1e-3", R, st::select_like},
    {"select a <> b, a >= b, a || b from t", R, st::select_like},
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
    {"with x as (merge into t using u on t.id = u.id when matched then delete) select 1", W,
     st::select_like},
    // write functions
    {"SELECT nextval('s')", W, st::select_like},
    {"select NEXTVAL('s')", W, st::select_like},
    {"select public.nextval('s')", W, st::select_like},
    {"select pg_catalog.nextval('s')", W, st::select_like},
    {"select \"nextval\"('s')", W, st::select_like},
    {"select \"NextVal\"('s')", R, st::select_like},
    {"select nextval ('s')", W, st::select_like},
    {"select setval('s', 10)", W, st::select_like},
    {"select currval('s')", W, st::select_like},
    {"select lastval()", W, st::select_like},
    {"select pg_advisory_lock(1)", W, st::select_like},
    {"select pg_advisory_xact_lock(1)", W, st::select_like},
    {"select pg_advisory_lock_shared(1)", W, st::select_like},
    {"select pg_try_advisory_lock(1)", W, st::select_like},
    {"select pg_try_advisory_xact_lock(1)", W, st::select_like},
    {"select pg_advisory_unlock(1)", W, st::select_like},
    {"select pg_advisory_unlock_all()", W, st::select_like},
    {"select set_config('a.b', '1', false)", W, st::select_like},
    {"select lo_import('/tmp/x')", W, st::select_like},
    {"select lo_create(0)", W, st::select_like},
    {"select lo_unlink(1)", W, st::select_like},
    {"select pg_notify('c', 'p')", W, st::select_like},
    {"select txid_current()", W, st::select_like},
    {"select pg_current_xact_id()", W, st::select_like},
    {"select pg_switch_wal()", W, st::select_like},
    {"select pg_create_restore_point('x')", W, st::select_like},
    {"select a from t where b = nextval('s')", W, st::select_like},
    {"select (select nextval('s'))", W, st::select_like},
    {"select nextval from t", R, st::select_like},
    {"select 'nextval(1)'", R, st::select_like},
    {"select my_write_fn(1)", W, st::select_like},  // added at run time below
    {"select MY_WRITE_FN(1)", W, st::select_like},
    {"select app.my_write_fn(1)", W, st::select_like},
    {"select my_write_fn from t", R, st::select_like},
    // VALUES, TABLE, SHOW, EXPLAIN
    {"values (1), (2)", R, st::select_like},
    {"VALUES (nextval('s'))", W, st::select_like},
    {"table t", R, st::select_like},
    {"TABLE accounts", R, st::select_like},
    {"show search_path", R, st::show},
    {"SHOW ALL", R, st::show},
    {"show transaction_read_only", R, st::show},
    {"explain select 1", R, st::explain},
    {"explain delete from t", R, st::explain},
    {"explain (costs off) update t set a = 1", R, st::explain},
    {"explain analyze select 1", R, st::explain},
    {"EXPLAIN ANALYZE DELETE FROM t", W, st::explain},
    {"explain analyse update t set a = 1", W, st::explain},
    {"explain analyze verbose insert into t values (1)", W, st::explain},
    {"explain (analyze) delete from t", W, st::explain},
    {"explain (analyze, buffers) select * from t", R, st::explain},
    {"explain (analyze false) delete from t", R, st::explain},
    {"explain (analyze off, costs on) delete from t", R, st::explain},
    {"explain verbose select 1", R, st::explain},
    {"explain analyze select nextval('s')", W, st::explain},
    // transactions
    {"BEGIN", W, st::begin},
    {"begin;", W, st::begin},
    {"BEGIN;", W, st::begin},
    {"begin transaction", W, st::begin},
    {"begin work", W, st::begin},
    {"begin read write", W, st::begin},
    {"BEGIN READ ONLY", R, st::begin},
    {"begin transaction read only", R, st::begin},
    {"begin isolation level repeatable read, read only", R, st::begin},
    {"begin isolation level serializable read only deferrable", R, st::begin},
    {"begin isolation level serializable", W, st::begin},
    {"START TRANSACTION READ ONLY", R, st::begin},
    {"start transaction", W, st::begin},
    {"start transaction isolation level read committed", W, st::begin},
    {"start transaction read write", W, st::begin},
    {"start", U, st::other},
    {"COMMIT", R, st::commit},
    {"commit work", R, st::commit},
    {"END;", R, st::commit},
    {"end", R, st::commit},
    {"ROLLBACK", R, st::rollback},
    {"abort", R, st::rollback},
    {"rollback to savepoint a", R, st::rollback},
    {"savepoint a", R, st::other},
    {"release savepoint a", R, st::other},
    {"prepare transaction 'x'", W, st::two_phase},
    {"commit prepared 'x'", W, st::two_phase},
    {"rollback prepared 'x'", W, st::two_phase},
    {"SET TRANSACTION READ ONLY", R, st::set_transaction},
    {"set transaction read write", W, st::set_transaction},
    {"set transaction isolation level serializable", R, st::set_transaction},
    {"set session characteristics as transaction read only", R, st::set_transaction},
    {"set local transaction read only", R, st::set_transaction},
    // session commands
    {"set search_path = app, public", R, st::set},
    {"SET TIME ZONE 'UTC'", R, st::set},
    {"set local statement_timeout = '5s'", R, st::set},
    {"set session application_name to 'x'", R, st::set},
    {"reset all", R, st::set},
    {"RESET search_path", R, st::set},
    {"discard all", R, st::discard},
    {"DEALLOCATE ALL", R, st::deallocate},
    {"deallocate prepare s1", R, st::deallocate},
    {"prepare s1 as select 1", R, st::prepare},
    {"prepare s1 (int) as select $1", R, st::prepare},
    {"prepare s2 as delete from t", W, st::prepare},
    {"prepare s3 as select nextval('s')", W, st::prepare},
    {"execute s1", U, st::execute},
    {"execute s1(1)", U, st::execute},
    {"listen jobs", W, st::listen},
    {"notify jobs, 'x'", W, st::listen},
    {"unlisten *", W, st::listen},
    {"declare c cursor for select * from t", R, st::cursor},
    {"declare c cursor with hold for select * from t for update", W, st::cursor},
    {"fetch 10 from c", R, st::cursor},
    {"move next in c", R, st::cursor},
    {"close c", R, st::cursor},
    // COPY
    {"COPY (SELECT * FROM t) TO STDOUT", R, st::copy},
    {"copy (select nextval('s')) to stdout", W, st::copy},
    {"copy (delete from t returning *) to stdout", W, st::copy},
    {"copy t to stdout", R, st::copy},
    {"copy t (a, b) to stdout with (format csv)", R, st::copy},
    {"copy t from stdin", W, st::copy},
    {"COPY t (a, b) FROM STDIN WITH (FORMAT csv)", W, st::copy},
    // writes and DDL
    {"insert into t values (1)", W, st::dml},
    {"INSERT INTO t SELECT * FROM u", W, st::dml},
    {"update t set a = 1", W, st::dml},
    {"UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;", W, st::dml},
    {"delete from t", W, st::dml},
    {"merge into t using u on t.id = u.id when matched then update set a = 1", W, st::dml},
    {"insert into t values (1) on conflict do nothing", W, st::dml},
    {"DO $$ BEGIN PERFORM 1; END $$", W, st::call},
    {"do $$ select 1 $$", W, st::call},
    {"CALL p()", W, st::call},
    {"call app.refresh(1)", W, st::call},
    {"create table t (id int)", W, st::ddl},
    {"CREATE INDEX CONCURRENTLY i ON t (a)", W, st::ddl},
    {"alter table t add column b int", W, st::ddl},
    {"drop table t", W, st::ddl},
    {"truncate t", W, st::ddl},
    {"grant select on t to app", W, st::ddl},
    {"revoke all on t from app", W, st::ddl},
    {"vacuum t", W, st::ddl},
    {"analyze t", W, st::ddl},
    {"cluster t", W, st::ddl},
    {"reindex table t", W, st::ddl},
    {"comment on table t is 'x'", W, st::ddl},
    {"lock table t", W, st::ddl},
    {"refresh materialized view v", W, st::ddl},
    {"checkpoint", W, st::ddl},
    // unknown
    {"frobnicate the database", U, st::other},
    {"", R, st::empty},
    {";", R, st::empty},
    {";;  ; ", R, st::empty},
    {"-- only a comment", R, st::empty},
    {"/* only a comment */", R, st::empty},
    {"42", U, st::other},
    {"'just a string'", U, st::other},
    // unterminated input is never read
    {"select 'unterminated", U, st::other},
    {"select \"unterminated", U, st::other},
    {"select $$ unterminated", U, st::other},
    {"select $tag$ unterminated $tog$", U, st::other},
    {"select 1 /* unterminated", U, st::other},
    {"select 1 /* /* nested unterminated */", U, st::other},
    {"select E'ends in backslash\\", U, st::other},
    // multi-statement strings
    {"select 1; select 2", R, st::select_like},
    {"select 1; delete from t", W, st::select_like},
    {"delete from t; select 1", W, st::dml},
    {"begin; select 1; commit", W, st::begin},
    {"begin read only; select 1; commit;", R, st::begin},
    {"select 1; frobnicate", U, st::select_like},
    {"select 1;;select 2;", R, st::select_like},
    {"set search_path = a; select 1", R, st::set},
};

}  // namespace

TEST_CASE("classifier table", "[protocol][classifier]") {
  function_policy policy;
  policy.add_write_function("My_Write_Fn");
  std::size_t n = 0;
  for (const auto& c : cases) {
    INFO("sql: " << c.sql);
    const classification got = classify(c.sql, policy);
    CHECK(got.kind == c.kind);
    CHECK(got.first == c.first);
    ++n;
  }
  CHECK(n >= 200);
}

TEST_CASE("read-only transaction starts are flagged", "[protocol][classifier]") {
  const function_policy policy;
  CHECK(classify("BEGIN READ ONLY", policy).begins_read_only);
  CHECK(classify("start transaction isolation level repeatable read read only", policy)
            .begins_read_only);
  CHECK(classify("SET TRANSACTION READ ONLY", policy).begins_read_only);
  CHECK_FALSE(classify("BEGIN", policy).begins_read_only);
  CHECK_FALSE(classify("select 1; begin read only", policy).begins_read_only);
  CHECK(classify("begin; select 1; commit", policy).transaction_control);
  CHECK_FALSE(classify("select 1", policy).transaction_control);
  CHECK(classify("select 1; select 2", policy).multi_statement);
  CHECK_FALSE(classify("select 1;", policy).multi_statement);
}

TEST_CASE("hint comments override nothing but are reported", "[protocol][classifier]") {
  const function_policy policy;
  CHECK(classify("/* pgsteer:primary */ select 1", policy).hint == route_hint::primary);
  CHECK(classify("/*pgsteer:replica*/ select 1", policy).hint == route_hint::replica);
  CHECK(classify("/* PGSTEER:REPLICA */ select 1", policy).hint == route_hint::replica);
  CHECK(classify("select 1 -- pgsteer:replica", policy).hint == route_hint::replica);
  CHECK(classify("select '/* pgsteer:replica */'", policy).hint == route_hint::none);
  CHECK(classify("/* pgsteer:replica please */ select 1", policy).hint == route_hint::none);
  // The hint does not change the verdict; the router decides what to do with it.
  CHECK(classify("/* pgsteer:replica */ delete from t", policy).kind == sql_kind::write);
}

TEST_CASE("volatile catalog functions are writes unless read-safe", "[protocol][classifier]") {
  function_policy policy;
  policy.set_volatile_functions({"audit_insert", "random", "clock_timestamp"});
  CHECK(classify("select audit_insert(1)", policy).kind == sql_kind::write);
  CHECK(classify("select random()", policy).kind == sql_kind::read);
  CHECK(classify("select clock_timestamp()", policy).kind == sql_kind::read);
  CHECK(classify("select lower('A')", policy).kind == sql_kind::read);
}
