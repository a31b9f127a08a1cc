// SIGTERM drains: no new connections, a transaction in progress may still commit, every client
// is then told 57P01 (terminating connection due to administrator command), and pgsteer exits 0.
// shutdown_timeout bounds the wait; a second signal ends everything at once.
#include <catch2/catch.hpp>

#include <chrono>
#include <optional>
#include <string>

#include "cluster.hpp"
#include "eventually.hpp"
#include "lifecycle.hpp"
#include "pg.hpp"
#include "pgsteer_process.hpp"

using namespace std::chrono_literals;
using pgsteer::test::cluster;
using pgsteer::test::eventually;
using pgsteer::test::pgsteer_options;
using pgsteer::test::pgsteer_process;
using pgsteer::test::send_signal;
namespace pg = pgsteer::test::pg;

namespace {

constexpr const char* terminated = "57P01 terminating connection due to administrator command";

// A client whose notices `notices` collects (capture_notices).
struct client {
  explicit client(const std::string& conninfo) : connection(conninfo) {
    pgsteer::test::capture_notices(connection, notices);
  }
  std::vector<std::string> notices;
  pg::connection connection;
};

// The client's next statement fails because pgsteer ended its connection for shutdown, and
// the client was told so: as the statement's error, or (when the FATAL came while it was idle)
// before it, as libpq reports an error outside a query.
void check_terminated(client& c) {
  try {
    c.connection.exec("select 1");
    FAIL("the client's connection is still served");
  } catch (const pg::error& e) {
    const std::string told =
        e.sqlstate() + " " + e.what() + (c.notices.empty() ? "" : c.notices.back());
    INFO(told);
    CHECK(told.find("terminating connection due to administrator command") != std::string::npos);
    CHECK((e.sqlstate() == "57P01" || (!c.notices.empty() && c.notices.back() == terminated)));
  }
}

std::string marker_count(const cluster& c, const std::string& marker) {
  pg::connection super(c.super_conninfo(0, "app"));
  return super.scalar("select count(*) from lifecycle_drain where marker = '" + marker + "'");
}

void create_table(const cluster& c) {
  pg::connection super(c.super_conninfo(0, "app"));
  super.exec(
      "set client_min_messages = warning; create table if not exists lifecycle_drain (marker "
      "text); "
      "grant all on lifecycle_drain to app");
}

}  // namespace

TEST_CASE("SIGTERM: a transaction in progress commits, then its client gets 57P01, exit 0",
          "[lifecycle][shutdown]") {
  auto& c = cluster::shared();
  create_table(c);
  pgsteer_options options;
  options.workers = 2;
  options.shutdown_timeout = "30s";  // longer than the test needs: the drain must end by itself
  pgsteer_process proxy(c, options);

  client in_transaction(proxy.conninfo("app_rw"));
  client idle(proxy.conninfo("app"));
  CHECK(idle.connection.scalar("select 1") == "1");
  in_transaction.connection.exec("begin");
  in_transaction.connection.exec("insert into lifecycle_drain values ('commits during drain')");

  send_signal(proxy, SIGTERM);
  // Draining: no new client is let in.
  CHECK(
      eventually([&] { return pgsteer::test::try_connect_verbose(proxy.conninfo()).has_value(); }));
  // The idle client is ended at once, with the reason.
  check_terminated(idle);
  // The transaction goes on and commits.
  CHECK(proxy.running());
  in_transaction.connection.exec("insert into lifecycle_drain values ('commits during drain')");
  in_transaction.connection.exec("commit");
  CHECK(marker_count(c, "commits during drain") == "2");
  // Then its client is ended too, and pgsteer exits cleanly.
  check_terminated(in_transaction);
  const auto code = proxy.wait_exit(20s);
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(proxy.log().find("pgsteer stopped") != std::string::npos);
}

TEST_CASE("SIGTERM: a client idle in a session-mode connection gets 57P01 at once",
          "[lifecycle][shutdown]") {
  auto& c = cluster::shared();
  pgsteer_options options;
  options.pool_mode = "session";
  options.workers = 1;
  options.shutdown_timeout = "30s";
  pgsteer_process proxy(c, options);
  client idle(proxy.conninfo("app_rw"));
  CHECK(idle.connection.scalar("select 1") == "1");
  send_signal(proxy, SIGTERM);
  // Holding a server but in no transaction: nothing to wait for (well before shutdown_timeout).
  const auto code = proxy.wait_exit(15s);
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  check_terminated(idle);
}

TEST_CASE("shutdown_timeout ends a transaction that does not finish, which rolls back",
          "[lifecycle][shutdown]") {
  auto& c = cluster::shared();
  create_table(c);
  pgsteer_options options;
  options.workers = 1;
  options.shutdown_timeout = "1s";
  pgsteer_process proxy(c, options);
  client in_transaction(proxy.conninfo("app_rw"));
  in_transaction.connection.exec("begin");
  in_transaction.connection.exec("insert into lifecycle_drain values ('never committed')");
  send_signal(proxy, SIGTERM);
  const auto code = proxy.wait_exit(15s);
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  check_terminated(in_transaction);
  CHECK(eventually([&] { return marker_count(c, "never committed") == "0"; }));
  CHECK(proxy.log().find("shutdown_timeout reached") != std::string::npos);
}

TEST_CASE("a second SIGTERM while draining ends every session at once", "[lifecycle][shutdown]") {
  auto& c = cluster::shared();
  pgsteer_options options;
  options.workers = 1;
  options.shutdown_timeout = "60s";
  pgsteer_process proxy(c, options);
  client in_transaction(proxy.conninfo("app_rw"));
  in_transaction.connection.exec("begin");
  send_signal(proxy, SIGTERM);
  CHECK(eventually([&] { return proxy.log().find("draining") != std::string::npos; }));
  CHECK_FALSE(proxy.wait_exit(500ms).has_value());  // the transaction holds the drain
  send_signal(proxy, SIGTERM);
  const auto code = proxy.wait_exit(15s);
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  check_terminated(in_transaction);
}
