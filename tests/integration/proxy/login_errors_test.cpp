// Refused logins through pgsteer carry the SQLSTATE and message PostgreSQL would send: a wrong
// password, an unknown database, and one client too many.
#include <catch2/catch.hpp>

#include <libpq-fe.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cluster.hpp"
#include "pg.hpp"
#include "pgsteer_process.hpp"

using pgsteer::test::cluster;
using pgsteer::test::pgsteer_options;
using pgsteer::test::pgsteer_process;
using pgsteer::test::try_connect_verbose;
namespace pg = pgsteer::test::pg;

namespace {

std::string direct_conninfo(const cluster& c, const std::string& database,
                            const std::string& password) {
  return "host=127.0.0.1 port=" + std::to_string(c.port(0)) + " dbname=" + database +
         " user=app password=" + password;
}

}  // namespace

TEST_CASE("a wrong password is refused with 28P01 and PostgreSQL's message", "[proxy]") {
  auto& c = cluster::shared();
  pgsteer_process proxy(c);

  // PostgreSQL's own answer, so the expectation is the real one.
  const auto direct = try_connect_verbose(direct_conninfo(c, "app", "wrong"));
  REQUIRE(direct.has_value());
  REQUIRE(direct->sqlstate == "28P01");
  REQUIRE(direct->message == "password authentication failed for user \"app\"");

  const auto refused = try_connect_verbose(proxy.conninfo("app", "app", "wrong"));
  REQUIRE(refused.has_value());
  INFO(refused->raw);
  CHECK(refused->severity == "FATAL");
  CHECK(refused->sqlstate == "28P01");
  CHECK(refused->message == "password authentication failed for user \"app\"");

  // A password that differs only in case is refused too, and the right one still works.
  const auto upper = try_connect_verbose(proxy.conninfo("app", "app", "APP"));
  REQUIRE(upper.has_value());
  CHECK(upper->sqlstate == "28P01");
  CHECK_FALSE(try_connect_verbose(proxy.conninfo()).has_value());
}

TEST_CASE("an unknown user is refused with 28P01 as PostgreSQL does", "[proxy]") {
  auto& c = cluster::shared();
  pgsteer_process proxy(c);
  // PostgreSQL answers an unknown role with the same message as a wrong password, so that the
  // reply does not reveal which roles exist.
  const auto direct = try_connect_verbose("host=127.0.0.1 port=" + std::to_string(c.port(0)) +
                                          " dbname=app user=nobody password=x");
  REQUIRE(direct.has_value());
  REQUIRE(direct->sqlstate == "28P01");
  REQUIRE(direct->message == "password authentication failed for user \"nobody\"");

  const auto refused = try_connect_verbose(proxy.conninfo("app", "nobody", "x"));
  REQUIRE(refused.has_value());
  INFO(refused->raw);
  CHECK(refused->sqlstate == "28P01");
  CHECK(refused->message == "password authentication failed for user \"nobody\"");
}

TEST_CASE("an unknown database is refused with 3D000 and PostgreSQL's message", "[proxy]") {
  auto& c = cluster::shared();
  pgsteer_process proxy(c);

  const auto direct = try_connect_verbose(direct_conninfo(c, "nope", "app"));
  REQUIRE(direct.has_value());
  REQUIRE(direct->sqlstate == "3D000");
  REQUIRE(direct->message == "database \"nope\" does not exist");

  const auto refused = try_connect_verbose(proxy.conninfo("nope"));
  REQUIRE(refused.has_value());
  INFO(refused->raw);
  CHECK(refused->severity == "FATAL");
  CHECK(refused->sqlstate == "3D000");
  CHECK(refused->message == "database \"nope\" does not exist");
}

TEST_CASE("the client beyond clients.max_connections gets 53300, and a freed slot is reusable",
          "[proxy]") {
  auto& c = cluster::shared();
  pgsteer_options options;
  options.max_connections = 3;
  pgsteer_process proxy(c, options);

  std::vector<std::unique_ptr<pg::connection>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<pg::connection>(proxy.conninfo()));
    CHECK(clients.back()->scalar("select " + std::to_string(i)) == std::to_string(i));
  }

  const auto refused = try_connect_verbose(proxy.conninfo());
  REQUIRE(refused.has_value());
  INFO(refused->raw);
  CHECK(refused->severity == "FATAL");
  CHECK(refused->sqlstate == "53300");
  CHECK_THAT(refused->message, Catch::Contains("too many"));
  // Refused clients hold no slot: still refused, not worse.
  const auto again = try_connect_verbose(proxy.conninfo());
  REQUIRE(again.has_value());
  CHECK(again->sqlstate == "53300");

  // The three keep working.
  for (auto& client : clients) CHECK(client->scalar("select 'ok'") == "ok");

  // One leaves; its slot is free once pgsteer has seen it go (asynchronously, as on PostgreSQL,
  // hence the retries).
  clients.pop_back();
  std::optional<pgsteer::test::connect_failure> last;
  bool connected = false;
  for (int attempt = 0; attempt < 50 && !connected; ++attempt) {
    last = try_connect_verbose(proxy.conninfo());
    connected = !last.has_value();
    if (!connected) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  INFO((last ? last->raw : std::string("connected")));
  CHECK(connected);
}

TEST_CASE("a startup setting PostgreSQL refuses ends the login with PostgreSQL's error",
          "[proxy]") {
  auto& c = cluster::shared();
  pgsteer_process proxy(c);
  const std::string bad_zone = " options='-c TimeZone=Nowhere/Land'";
  const std::string bad_name = " options='-c no_such_setting=1'";

  for (const auto& options : {bad_zone, bad_name}) {
    INFO(options);
    const auto direct = try_connect_verbose(direct_conninfo(c, "app", "app") + options);
    REQUIRE(direct.has_value());
    const auto refused = try_connect_verbose(proxy.conninfo() + options);
    REQUIRE(refused.has_value());
    INFO(refused->raw);
    CHECK(refused->severity == "FATAL");
    CHECK(refused->sqlstate == direct->sqlstate);
    CHECK(refused->message == direct->message);
  }
  // A second try is checked again (a refused value is not remembered as good), and a valid
  // value works.
  const auto again = try_connect_verbose(proxy.conninfo() + bad_zone);
  REQUIRE(again.has_value());
  CHECK(again->sqlstate == "22023");
  pg::connection tokyo(proxy.conninfo() + " options='-c TimeZone=Asia/Tokyo'");
  CHECK(tokyo.scalar("show timezone") == "Asia/Tokyo");
}

TEST_CASE("clients.auth md5 and trust log clients in as configured", "[proxy]") {
  auto& c = cluster::shared();
  {
    pgsteer_options options;
    options.client_auth = "md5";
    pgsteer_process proxy(c, options);
    pg::connection ok(proxy.conninfo());
    CHECK(ok.scalar("select 1") == "1");
    const auto refused = try_connect_verbose(proxy.conninfo("app", "app", "wrong"));
    REQUIRE(refused.has_value());
    INFO(refused->raw);
    CHECK(refused->sqlstate == "28P01");
    CHECK(refused->message == "password authentication failed for user \"app\"");
  }
  {
    pgsteer_options options;
    options.client_auth = "trust";
    pgsteer_process proxy(c, options);
    // trust: no password asked, any given one is ignored; pgsteer still logs in to PostgreSQL
    // with the configured password.
    pg::connection ok(proxy.conninfo("app", "app", "not-the-password"));
    CHECK(ok.scalar("select current_user") == "app");
  }
}

TEST_CASE("a client idle longer than clients.idle_timeout is disconnected with 57P05", "[proxy]") {
  auto& c = cluster::shared();
  pgsteer_options options;
  options.client_idle_timeout = "1s";
  pgsteer_process proxy(c, options);
  pg::connection idle(proxy.conninfo());
  pg::connection busy(proxy.conninfo());
  CHECK(idle.scalar("select 1") == "1");
  // The busy client keeps asking; the idle one says nothing for three times the limit.
  for (int i = 0; i < 12; ++i) {
    CHECK(busy.scalar("select " + std::to_string(i)) == std::to_string(i));
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  // A query that runs longer than the limit is not idleness.
  CHECK(busy.scalar("select pg_sleep(1.5)::text") == "");
  // libpq reads the FATAL the moment it next talks to the server; verbose, it shows the SQLSTATE.
  PQsetErrorVerbosity(idle.native(), PQERRORS_VERBOSE);
  PQclear(PQexec(idle.native(), "select 1"));
  const std::string message = PQerrorMessage(idle.native());
  INFO(message);
  CHECK(message.find("FATAL:  57P05: terminating connection due to idle-session timeout") !=
        std::string::npos);
  CHECK(PQstatus(idle.native()) == CONNECTION_BAD);
  CHECK(busy.scalar("select 'still here'") == "still here");
}
