// pool.query_wait_timeout: a client that cannot get a server in time gets an error, not a hang,
// and works again once a server is free.
#include <catch2/catch.hpp>

#include <libpq-fe.h>
#include <poll.h>

#include <chrono>
#include <string>

#include "cluster.hpp"
#include "pg.hpp"
#include "pgsteer_process.hpp"

using pgsteer::test::cluster;
using pgsteer::test::pgsteer_options;
using pgsteer::test::pgsteer_process;
namespace pg = pgsteer::test::pg;
using namespace std::chrono_literals;

TEST_CASE("a client waiting longer than query_wait_timeout for a server gets an error", "[proxy]") {
  auto& c = cluster::shared();
  pgsteer_options options;
  options.pool_size = 1;
  options.workers = 1;
  options.query_wait_timeout = "1s";
  pgsteer_process proxy(c, options);

  pg::connection holder(proxy.conninfo("app_rw"));
  pg::connection waiter(proxy.conninfo("app_rw"));
  holder.exec("begin");
  CHECK(holder.scalar("select 'holding'") == "holding");

  // The waiter's query cannot get the only server. Wait for its answer, however long the
  // proxy takes, but never forever (the point of the setting).
  REQUIRE(PQsendQuery(waiter.native(), "select 'waited'") == 1);
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  bool answered = false;
  while (!answered && std::chrono::steady_clock::now() < deadline) {
    pollfd p{PQsocket(waiter.native()), POLLIN, 0};
    ::poll(&p, 1, 200);
    PQconsumeInput(waiter.native());
    answered = PQisBusy(waiter.native()) == 0 || PQstatus(waiter.native()) == CONNECTION_BAD;
  }
  REQUIRE(answered);
  PGresult* res = PQgetResult(waiter.native());
  REQUIRE(res != nullptr);
  INFO(PQresultErrorMessage(res));
  CHECK(PQresultStatus(res) == PGRES_FATAL_ERROR);
  const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  CHECK(state != nullptr);
  CHECK_THAT(std::string(PQresultErrorMessage(res)), Catch::Contains("timeout"));
  PQclear(res);
  while (PGresult* rest = PQgetResult(waiter.native())) PQclear(rest);

  // The holder's transaction did not suffer, and once it ends a new client is served.
  CHECK(holder.scalar("select 'still holding'") == "still holding");
  holder.exec("commit");
  pg::connection later(proxy.conninfo("app_rw"));
  CHECK(later.scalar("select 'served'") == "served");
}
