// Session parameters in transaction mode: two clients with different TimeZone, DateStyle and
// application_name share one server connection (pool size 1), and each still sees exactly what
// it would see on its own direct connection, including the ParameterStatus values libpq keeps.
#include <catch2/catch.hpp>

#include <libpq-fe.h>

#include <algorithm>
#include <string>

#include "cluster.hpp"
#include "pg.hpp"
#include "pgsteer_process.hpp"

using pgsteer::test::cluster;
using pgsteer::test::pgsteer_options;
using pgsteer::test::pgsteer_process;
namespace pg = pgsteer::test::pg;

namespace {

const std::string alpha_options =
    " application_name=alpha options='-c TimeZone=Asia/Tokyo -c DateStyle=SQL,DMY'";
const std::string beta_options =
    " application_name=beta options='-c TimeZone=America/New_York -c DateStyle=ISO,MDY'";

// What a client observes about its session: values the server computes and values libpq holds.
struct observed {
  std::string timezone, datestyle, application_name, formatted, status_timezone, status_datestyle,
      status_application_name;
  bool operator==(const observed&) const = default;
};

std::string status(pg::connection& c, const char* name) {
  const char* v = PQparameterStatus(c.native(), name);
  return v != nullptr ? v : "(none)";
}

// DateStyle's spelling ("SQL, DMY" vs "SQL,DMY") is the startup ParameterStatus test's concern;
// here only its value matters.
std::string without_spaces(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), ' '), s.end());
  return s;
}

observed observe(pg::connection& c) {
  const auto r = c.exec(
      "select current_setting('TimeZone'), current_setting('DateStyle'), "
      "current_setting('application_name'), "
      "('2024-03-05 12:00:00+00'::timestamptz)::text");
  REQUIRE(r.size() == 1);
  return {*r[0][0],
          *r[0][1],
          *r[0][2],
          *r[0][3],
          status(c, "TimeZone"),
          without_spaces(status(c, "DateStyle")),
          status(c, "application_name")};
}

std::string describe(const observed& o) {
  return o.timezone + " | " + o.datestyle + " | " + o.application_name + " | " + o.formatted +
         " | status " + o.status_timezone + ", " + o.status_datestyle + ", " +
         o.status_application_name;
}

}  // namespace

TEST_CASE("two clients sharing one server keep their own TimeZone, DateStyle, application_name",
          "[proxy]") {
  auto& c = cluster::shared();
  pgsteer_options options;
  options.pool_mode = "transaction";
  options.pool_size = 1;
  options.workers = 1;
  pgsteer_process proxy(c, options);

  // Reference: the same two sessions on direct connections.
  pg::connection alpha_direct(c.app_conninfo(0) + alpha_options);
  pg::connection beta_direct(c.app_conninfo(0) + beta_options);
  pg::connection alpha(proxy.conninfo("app_rw") + alpha_options);
  pg::connection beta(proxy.conninfo("app_rw") + beta_options);

  // The direct sessions are what the test expects; check them against known values first.
  const observed alpha_start = observe(alpha_direct);
  const observed beta_start = observe(beta_direct);
  REQUIRE(alpha_start.timezone == "Asia/Tokyo");
  REQUIRE(alpha_start.datestyle == "SQL, DMY");
  REQUIRE(alpha_start.formatted == "05/03/2024 21:00:00 JST");
  REQUIRE(beta_start.timezone == "America/New_York");
  REQUIRE(beta_start.datestyle == "ISO, MDY");
  REQUIRE(beta_start.formatted == "2024-03-05 07:00:00-05");

  // Interleaved on one server connection: neither client's settings leak to the other.
  for (int round = 0; round < 5; ++round) {
    INFO("round " << round);
    const observed a = observe(alpha);
    const observed b = observe(beta);
    INFO("alpha: " << describe(a) << "\n  direct: " << describe(alpha_start));
    INFO("beta: " << describe(b) << "\n  direct: " << describe(beta_start));
    CHECK(a == alpha_start);
    CHECK(b == beta_start);
  }

  // A SET in one client is seen by that client's later queries, and not by the other's.
  for (auto* conn : {&alpha, &alpha_direct}) {
    conn->exec("set timezone = 'Europe/Berlin'");
    conn->exec("set datestyle = 'German'");
    conn->exec("set application_name = 'alpha2'");
  }
  const observed alpha_set = observe(alpha_direct);
  REQUIRE(alpha_set.timezone == "Europe/Berlin");
  REQUIRE(alpha_set.formatted == "05.03.2024 13:00:00 CET");
  REQUIRE(alpha_set.status_application_name == "alpha2");
  for (int round = 0; round < 5; ++round) {
    INFO("round " << round);
    const observed b = observe(beta);
    const observed a = observe(alpha);
    INFO("alpha: " << describe(a) << "\n  direct: " << describe(alpha_set));
    INFO("beta: " << describe(b) << "\n  direct: " << describe(beta_start));
    CHECK(a == alpha_set);
    CHECK(b == beta_start);
  }
}

TEST_CASE("RESET returns a client to the value it connected with, as on a direct connection",
          "[proxy]") {
  auto& c = cluster::shared();
  pgsteer_options options;
  options.pool_mode = "transaction";
  options.pool_size = 1;
  options.workers = 1;
  pgsteer_process proxy(c, options);
  pg::connection alpha_direct(c.app_conninfo(0) + alpha_options);
  pg::connection alpha(proxy.conninfo("app_rw") + alpha_options);
  pg::connection beta(proxy.conninfo("app_rw") + beta_options);
  pg::connection beta_direct(c.app_conninfo(0) + beta_options);
  const observed beta_start = observe(beta_direct);

  for (auto* conn : {&alpha, &alpha_direct}) {
    conn->exec("set timezone = 'Europe/Berlin'");
    conn->exec("reset timezone");
  }
  const observed alpha_reset = observe(alpha_direct);
  REQUIRE(alpha_reset.timezone == "Asia/Tokyo");
  const observed b = observe(beta);
  const observed a = observe(alpha);
  INFO("alpha: " << describe(a) << "\n  direct: " << describe(alpha_reset));
  INFO("beta: " << describe(b) << "\n  direct: " << describe(beta_start));
  CHECK(a.timezone == alpha_reset.timezone);
  CHECK(a.formatted == alpha_reset.formatted);
  CHECK(a.status_timezone == alpha_reset.status_timezone);
  CHECK(b.timezone == beta_start.timezone);
}

TEST_CASE("a SET inside a rolled-back transaction is undone for that client only", "[proxy]") {
  auto& c = cluster::shared();
  pgsteer_options options;
  options.pool_mode = "transaction";
  options.pool_size = 1;
  options.workers = 1;
  pgsteer_process proxy(c, options);
  pg::connection alpha(proxy.conninfo("app_rw") + alpha_options);
  pg::connection beta(proxy.conninfo("app_rw") + beta_options);

  alpha.exec("begin");
  alpha.exec("set timezone = 'UTC'");
  CHECK(alpha.scalar("show timezone") == "UTC");
  alpha.exec("rollback");
  CHECK(alpha.scalar("show timezone") == "Asia/Tokyo");
  CHECK(status(alpha, "TimeZone") == "Asia/Tokyo");
  CHECK(beta.scalar("show timezone") == "America/New_York");
  CHECK(alpha.scalar("show timezone") == "Asia/Tokyo");
}

TEST_CASE("a client gets the ParameterStatus values a direct connection gets", "[proxy]") {
  auto& c = cluster::shared();
  pgsteer_process proxy(c);
  pg::connection direct(c.app_conninfo(0) + alpha_options);
  pg::connection through(proxy.conninfo("app_rw") + alpha_options);
  // Every parameter PostgreSQL 15 reports at startup (GUC_REPORT).
  for (const char* name :
       {"application_name", "client_encoding", "DateStyle", "default_transaction_read_only",
        "in_hot_standby", "integer_datetimes", "IntervalStyle", "is_superuser", "server_encoding",
        "server_version", "session_authorization", "standard_conforming_strings", "TimeZone"}) {
    INFO(name);
    CHECK(status(through, name) == status(direct, name));
  }
  CHECK(PQserverVersion(through.native()) == PQserverVersion(direct.native()));
}

TEST_CASE("DISCARD ALL and SET ... TO DEFAULT return to the startup values, as on PostgreSQL",
          "[proxy]") {
  auto& c = cluster::shared();
  pgsteer_options options;
  options.pool_mode = "transaction";
  options.pool_size = 1;
  options.workers = 1;
  pgsteer_process proxy(c, options);
  pg::connection alpha_direct(c.app_conninfo(0) + alpha_options);
  pg::connection alpha(proxy.conninfo("app_rw") + alpha_options);
  pg::connection beta(proxy.conninfo("app_rw") + beta_options);

  for (auto* conn : {&alpha, &alpha_direct}) {
    conn->exec("set timezone = 'Europe/Berlin'");
    conn->exec("set datestyle = 'German'");
    conn->exec("discard all");
  }
  const observed alpha_discarded = observe(alpha_direct);
  REQUIRE(alpha_discarded.timezone == "Asia/Tokyo");
  REQUIRE(alpha_discarded.datestyle == "SQL, DMY");
  CHECK(observe(beta).timezone == "America/New_York");
  const observed a = observe(alpha);
  INFO("alpha: " << describe(a) << "\n  direct: " << describe(alpha_discarded));
  CHECK(a == alpha_discarded);

  for (auto* conn : {&alpha, &alpha_direct}) {
    conn->exec("set timezone = 'Europe/Berlin'");
    conn->exec("set timezone to default");
  }
  CHECK(observe(beta).timezone == "America/New_York");
  CHECK(observe(alpha) == observe(alpha_direct));

  // Setting the server's own default explicitly is not a reset: it stays.
  for (auto* conn : {&alpha, &alpha_direct}) conn->exec("set timezone = 'Etc/UTC'");
  const observed alpha_utc = observe(alpha_direct);
  REQUIRE(alpha_utc.timezone == "Etc/UTC");
  CHECK(observe(beta).timezone == "America/New_York");
  CHECK(observe(alpha) == alpha_utc);
}
