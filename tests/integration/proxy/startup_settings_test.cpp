// Startup settings in every pool mode: a client that connects with PGDATESTYLE, PGTZ, PGOPTIONS
// (-c and --name= settings, lower-case names as libpq sends them) and application_name sees
// what a direct connection shows, in SHOW and in ParameterStatus, also on a server another
// client used before it, and leaves nothing behind for the next client.
#include <catch2/catch.hpp>

#include <libpq-fe.h>

#include <cstdlib>
#include <string>
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

// libpq reads these when it connects: they become the startup parameters datestyle, timezone
// and options, in libpq's own spelling.
struct client_environment {
  client_environment() {
    setenv("PGDATESTYLE", "Postgres, MDY", 1);
    setenv("PGTZ", "PST8PDT", 1);
    setenv("PGOPTIONS",
           "-c intervalstyle=postgres_verbose -c search_path=alt,public --extra-float-digits=1", 1);
  }
  ~client_environment() {
    unsetenv("PGDATESTYLE");
    unsetenv("PGTZ");
    unsetenv("PGOPTIONS");
  }
};

const std::string with_name = " application_name=settings_client";

pg::connection connect_with_settings(const std::string& conninfo) {
  client_environment env;
  return pg::connection(conninfo + with_name);
}

std::string status(pg::connection& c, const char* name) {
  const char* v = PQparameterStatus(c.native(), name);
  return v != nullptr ? v : "(none)";
}

// What a client observes of its session, as one line per value.
std::vector<std::string> observe(pg::connection& c) {
  const auto r = c.exec(
      "select current_setting('DateStyle'), current_setting('TimeZone'), "
      "current_setting('IntervalStyle'), current_setting('search_path'), "
      "current_setting('application_name'), current_setting('extra_float_digits'), "
      "('2024-03-05 12:00:00+00'::timestamptz)::text, ('1 day 02:03:04'::interval)::text");
  REQUIRE(r.size() == 1);
  std::vector<std::string> out;
  const char* names[] = {"DateStyle",        "TimeZone",           "IntervalStyle", "search_path",
                         "application_name", "extra_float_digits", "timestamptz",   "interval"};
  for (std::size_t i = 0; i < r[0].size(); ++i)
    out.push_back(std::string(names[i]) + " = " + *r[0][i]);
  for (const char* name : {"DateStyle", "TimeZone", "IntervalStyle", "application_name"}) {
    out.push_back(std::string("ParameterStatus ") + name + " = " + status(c, name));
  }
  return out;
}

pgsteer_options one_server(const char* mode) {
  pgsteer_options options;
  options.pool_mode = mode;
  options.pool_size = 1;
  options.workers = 1;
  return options;
}

}  // namespace

TEST_CASE("startup settings take effect as on a direct connection, in every pool mode", "[proxy]") {
  auto& c = cluster::shared();
  pg::connection direct_with = connect_with_settings(c.app_conninfo(0));
  pg::connection direct_plain(c.app_conninfo(0));
  const auto want_with = observe(direct_with);
  const auto want_plain = observe(direct_plain);
  // The reference itself: the settings did arrive on the direct connection.
  REQUIRE(want_with[0] == "DateStyle = Postgres, MDY");
  REQUIRE(want_with[1] == "TimeZone = PST8PDT");
  REQUIRE(want_with[2] == "IntervalStyle = postgres_verbose");
  REQUIRE(want_with[3] == "search_path = alt,public");
  REQUIRE(want_with[5] == "extra_float_digits = 1");
  REQUIRE(want_plain[0] == "DateStyle = ISO, MDY");

  for (const char* mode : {"session", "transaction", "statement"}) {
    DYNAMIC_SECTION(mode << " pooling") {
      pgsteer_process proxy(c, one_server(mode));
      const std::string conninfo = proxy.conninfo("app_rw");
      {
        // A plain client uses the only server first: the next client gets a server that
        // another client used before.
        pg::connection plain(conninfo);
        CHECK(observe(plain) == want_plain);
      }
      if (std::string(mode) == "session") {
        {
          pg::connection with = connect_with_settings(conninfo);
          for (int round = 0; round < 3; ++round) CHECK(observe(with) == want_with);
        }
        // What it set is gone for the client after it.
        pg::connection plain(conninfo);
        CHECK(observe(plain) == want_plain);
      } else {
        pg::connection with = connect_with_settings(conninfo);
        pg::connection plain(conninfo);
        for (int round = 0; round < 3; ++round) {
          INFO("round " << round);
          CHECK(observe(with) == want_with);
          CHECK(observe(plain) == want_plain);
        }
      }
    }
  }
}

TEST_CASE("startup settings follow a client onto a replica and back", "[proxy]") {
  auto& c = cluster::shared();
  pg::connection direct_with = connect_with_settings(c.app_conninfo(1));
  const auto want = observe(direct_with);
  pgsteer_options options = one_server("transaction");
  pgsteer_process proxy(c, options);
  // app (split): a read goes to a replica, a transaction block to the primary.
  pg::connection with = connect_with_settings(proxy.conninfo("app"));
  for (int round = 0; round < 3; ++round) {
    CHECK(observe(with) == want);
    with.exec("begin");
    CHECK(observe(with) == want);
    with.exec("commit");
  }
}

TEST_CASE("a command-line switch in options other than -c and --name=value is refused", "[proxy]") {
  auto& c = cluster::shared();
  pgsteer_process proxy(c);
  const auto refused = try_connect_verbose(proxy.conninfo("app_rw") + " options='-e'");
  REQUIRE(refused);
  CHECK(refused->severity == "FATAL");
  CHECK(refused->sqlstate == "0A000");
  CHECK(refused->message == "pgsteer does not pass the command-line switch \"-e\" in options");
  // A -c without a value gets PostgreSQL's own error.
  const auto direct = try_connect_verbose(c.app_conninfo(0) + " options='-c geqo'");
  const auto through = try_connect_verbose(proxy.conninfo("app_rw") + " options='-c geqo'");
  REQUIRE(direct);
  REQUIRE(through);
  CHECK(through->sqlstate == direct->sqlstate);
  CHECK(through->message == direct->message);
}
