// Statement and session pooling as a client sees them: statement mode runs single statements and
// refuses transaction blocks clearly; session mode keeps a client's state for its whole life and
// hands the next client a clean server (DISCARD ALL).
#include <catch2/catch.hpp>

#include <string>

#include "cluster.hpp"
#include "pg.hpp"
#include "pgsteer_process.hpp"

using pgsteer::test::cluster;
using pgsteer::test::pgsteer_options;
using pgsteer::test::pgsteer_process;
namespace pg = pgsteer::test::pg;

TEST_CASE("statement mode runs single statements", "[proxy]") {
  auto& c = cluster::shared();
  pg::connection(c.app_conninfo(0))
      .exec("drop table if exists statement_rows; create table statement_rows (id int)");
  pgsteer_options options;
  options.pool_mode = "statement";
  options.pool_size = 2;
  pgsteer_process proxy(c, options);
  pg::connection client(proxy.conninfo("app_rw"));

  CHECK(client.scalar("select 1") == "1");
  client.exec("insert into statement_rows values (1)");
  client.exec_params("insert into statement_rows values ($1)", {"2"});
  CHECK(client.scalar("select string_agg(id::text, ',' order by id) from statement_rows") == "1,2");
  CHECK(client.exec_params("select $1::int * 3", {"7"}).at(0).at(0) == "21");
}

TEST_CASE("statement mode refuses a transaction block with a clear error", "[proxy]") {
  auto& c = cluster::shared();
  pgsteer_options options;
  options.pool_mode = "statement";
  options.pool_size = 2;
  pgsteer_process proxy(c, options);
  pg::connection client(proxy.conninfo("app_rw"));
  CHECK(client.scalar("select 1") == "1");

  std::string sqlstate;
  std::string message;
  try {
    client.exec("begin");
    client.exec("select 1");
    client.exec("commit");
  } catch (const pg::error& e) {
    sqlstate = e.sqlstate();
    message = e.what();
  }
  INFO(message);
  CHECK(sqlstate.size() == 5);
  CHECK_THAT(message, Catch::Contains("statement pooling"));

  // Other clients are not affected.
  pg::connection other(proxy.conninfo("app_rw"));
  CHECK(other.scalar("select 'other'") == "other");
}

TEST_CASE("session mode keeps SET and temp tables for the client's life, then DISCARD ALL",
          "[proxy]") {
  auto& c = cluster::shared();
  // One server for everyone, so the second client gets the first client's server.
  pgsteer_options options;
  options.pool_mode = "session";
  options.pool_size = 1;
  options.workers = 1;
  pgsteer_process proxy(c, options);
  const std::string default_work_mem = pg::connection(c.app_conninfo(0)).scalar("show work_mem");
  REQUIRE(default_work_mem != "7MB");

  std::string first_pid;
  {
    pg::connection first(proxy.conninfo("app_rw"));
    first_pid = first.scalar("select pg_backend_pid()");
    first.exec("set work_mem = '7MB'");
    first.exec("create temp table session_scratch (v text)");
    first.exec("insert into session_scratch values ('kept')");
    first.exec("prepare session_plan as select 'prepared'");
    for (int i = 0; i < 3; ++i) {
      CHECK(first.scalar("show work_mem") == "7MB");
      CHECK(first.scalar("select v from session_scratch") == "kept");
      CHECK(first.scalar("execute session_plan") == "prepared");
      CHECK(first.scalar("select pg_backend_pid()") == first_pid);
    }
  }

  pg::connection second(proxy.conninfo("app_rw"));
  // The same server (pool of one), so what follows proves the reset, not a new connection.
  CHECK(second.scalar("select pg_backend_pid()") == first_pid);
  CHECK(second.scalar("show work_mem") == default_work_mem);
  CHECK(second.scalar("select coalesce(to_regclass('session_scratch')::text, 'none')") == "none");
  CHECK(second.scalar("select count(*) from pg_prepared_statements") == "0");
}
