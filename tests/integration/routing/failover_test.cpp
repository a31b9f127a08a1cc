// Following a failover: the primary stops, a replica is promoted, and pgsteer's clients keep
// their connections while writes move to the new primary. Each case runs its own cluster.
#include <catch2/catch.hpp>

#include <libpq-fe.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>

#include "cluster.hpp"
#include "eventually.hpp"
#include "pg.hpp"
#include "pgsteer_process.hpp"

using pgsteer::test::cluster;
using pgsteer::test::eventually;
using pgsteer::test::pgsteer_options;
using pgsteer::test::pgsteer_process;
namespace pg = pgsteer::test::pg;

namespace {

// Runs `sql`; true when it succeeded. The connection must stay usable either way.
bool try_exec(pg::connection& c, const std::string& sql, std::string* error = nullptr) {
  PGresult* res = PQexec(c.native(), sql.c_str());
  const auto status = PQresultStatus(res);
  const bool ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
  if (!ok && error) *error = PQresultErrorMessage(res);
  PQclear(res);
  return ok;
}

}  // namespace

TEST_CASE("after the primary stops and a replica is promoted, writes go to the new primary",
          "[routing][failover]") {
  cluster c;
  pgsteer_options options;
  options.health_interval = "250ms";
  options.workers = 1;
  pgsteer_process proxy(c, options);
  pg::connection writer(proxy.conninfo("app_rw"));
  pg::connection reader(proxy.conninfo("app_ro"));
  writer.exec("create table failover_log (id int primary key)");

  std::set<int> acknowledged;
  int next = 0;
  for (; next < 20; ++next) {
    if (try_exec(writer, "insert into failover_log values (" + std::to_string(next) + ")")) {
      acknowledged.insert(next);
    }
  }
  REQUIRE(acknowledged.size() == 20);

  c.stop(0, "immediate");
  // While there is no primary: writes wait or fail with an error, the connection stays.
  std::string error;
  if (try_exec(writer, "insert into failover_log values (" + std::to_string(next) + ")", &error)) {
    acknowledged.insert(next);
  }
  ++next;
  INFO("write without a primary: " << error);
  CHECK(PQstatus(writer.native()) == CONNECTION_OK);
  // Reads keep flowing from the replicas.
  CHECK(reader.scalar("select count(*) >= 20 from failover_log") == "t");

  c.promote(1);
  // Writes resume on the new primary over the same client connection.
  int resumed = 0;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (resumed < 20 && std::chrono::steady_clock::now() < give_up) {
    if (try_exec(writer, "insert into failover_log values (" + std::to_string(next) + ")",
                 &error)) {
      acknowledged.insert(next);
      ++resumed;
    }
    ++next;
  }
  INFO("last error: " << error);
  CHECK(resumed == 20);
  CHECK(PQstatus(writer.native()) == CONNECTION_OK);
  CHECK(writer.scalar("select inet_server_port()") == std::to_string(c.port(1)));

  // Every acknowledged write is on the new primary, once.
  pg::connection direct(c.app_conninfo(1));
  const auto rows = direct.exec("select id from failover_log order by id");
  std::set<int> stored;
  for (const auto& row : rows) stored.insert(std::stoi(*row[0]));
  for (int id : acknowledged) {
    INFO("acknowledged id " << id);
    CHECK(stored.count(id) == 1);
  }
}

TEST_CASE("a replica whose replay is paused stops getting reads once it lags, and gets them back",
          "[routing]") {
  cluster c;
  pgsteer_options options;
  options.health_interval = "250ms";
  options.workers = 1;
  options.extra_yaml = "routing:\n  max_lag_bytes: 1MB\n  max_lag_seconds: 1h\n";
  pgsteer_process proxy(c, options);
  pg::connection admin(c.app_conninfo(0));
  pg::connection reader(proxy.conninfo("app_ro"));
  const auto ports = [&] {
    std::set<int> seen;
    for (int i = 0; i < 40; ++i) seen.insert(std::stoi(reader.scalar("select inet_server_port()")));
    return seen;
  };
  auto serves = [&](const std::set<int>& want) {
    return eventually([&] { return ports() == want; }, std::chrono::seconds(15));
  };
  REQUIRE(serves({c.port(1), c.port(2)}));

  c.pause_replay(1);
  admin.exec(
      "create table lag_filler as select repeat('x', 1000) as pad "
      "from generate_series(1, 5000)");
  CHECK(serves({c.port(2)}));

  c.resume_replay(1);
  CHECK(serves({c.port(1), c.port(2)}));
}

TEST_CASE("a stopped replica causes no failed reads", "[routing]") {
  cluster c;
  pgsteer_options options;
  options.health_interval = "250ms";
  options.workers = 1;
  pgsteer_process proxy(c, options);
  pg::connection reader(proxy.conninfo("app_ro"));
  for (int i = 0; i < 20; ++i) CHECK(reader.scalar("select 1") == "1");
  c.stop(2, "immediate");
  // The monitor needs up to health.timeout to call it down; reads meanwhile may find the dead
  // server in the pool (replaced, not failed) or try to connect (another replica is used).
  std::string error;
  int failed = 0;
  for (int i = 0; i < 200; ++i) {
    if (!try_exec(reader, "select 1", &error)) ++failed;
  }
  INFO(error);
  CHECK(failed == 0);
}

TEST_CASE("split brain: with two writable nodes, writes go only to the higher timeline",
          "[routing][failover]") {
  cluster c;
  pgsteer_options options;
  options.health_interval = "250ms";
  options.workers = 1;
  pgsteer_process proxy(c, options);
  pg::connection writer(proxy.conninfo("app_rw"));
  CHECK(writer.scalar("select inet_server_port()") == std::to_string(c.port(0)));

  // Replica 1 is promoted while node 0 still runs: both accept writes now.
  c.promote(1);
  std::string port;
  eventually(
      [&] {
        port = writer.scalar("select inet_server_port()");
        return port == std::to_string(c.port(1));
      },
      std::chrono::seconds(15));
  CHECK(port == std::to_string(c.port(1)));
  // From then on, nothing goes to the fenced old primary.
  for (int i = 0; i < 50; ++i) {
    CHECK(writer.scalar("select inet_server_port()") == std::to_string(c.port(1)));
  }
  CHECK(proxy.log().find("fenced") != std::string::npos);
}
