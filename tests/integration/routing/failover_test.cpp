// Following a failover: the primary stops, a replica is promoted, and pgsteer's clients keep
// their connections while writes move to the new primary. Each case runs its own cluster.
#include <catch2/catch.hpp>

#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <future>
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
  // Replication is asynchronous by default: commits acknowledged just before the primary dies
  // may never reach the replica. With it synchronous, a missing write could only be pgsteer's.
  c.make_synchronous(1);
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

TEST_CASE("a failover under load: pgbench reads and a writer loop keep their connections",
          "[routing][failover]") {
  cluster c;
  const auto init =
      pgsteer::test::run_command({"pgbench", "-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p",
                                  std::to_string(c.port(0)), "-U", "app", "app"},
                                 {}, {"PGPASSWORD=app"});
  REQUIRE(init.exit_code == 0);
  pg::connection(c.app_conninfo(0)).exec("create table failover_load (id int primary key)");
  c.wait_caught_up();
  c.make_synchronous(1);  // see the case above
  pgsteer_options options;
  options.health_interval = "250ms";
  pgsteer_process proxy(c, options);

  // Select-only pgbench through the split route for the whole failover: its reads run on the
  // replicas, and none of its clients may fail or lose its connection.
  auto readers = std::async(std::launch::async, [&] {
    return pgsteer::test::run_command(
        {"pgbench", "-n", "-S", "-c", "8", "-j", "2", "-T", "12", "-h", "127.0.0.1", "-p",
         std::to_string(proxy.port()), "-U", "app", "app"},
        {}, {"PGPASSWORD=app"});
  });

  // One writer on one connection, inserting as fast as it can; a failed insert is not
  // acknowledged, and the writer goes on over the same connection.
  std::atomic<bool> stop{false};
  std::atomic<bool> promoted{false};
  std::set<int> acknowledged;
  std::atomic<int> written_after_promotion{0};
  std::atomic<bool> connection_lost{false};
  std::string last_error;
  pg::connection writer(proxy.conninfo("app_rw"));
  auto writing = std::async(std::launch::async, [&] {
    for (int id = 0; !stop; ++id) {
      std::string error;
      if (try_exec(writer, "insert into failover_load values (" + std::to_string(id) + ")",
                   &error)) {
        acknowledged.insert(id);
        if (promoted) ++written_after_promotion;
      } else {
        last_error = error;
      }
      if (PQstatus(writer.native()) != CONNECTION_OK) {
        connection_lost = true;
        return;
      }
    }
  });

  std::this_thread::sleep_for(std::chrono::seconds(3));
  c.stop(0, "immediate");
  std::this_thread::sleep_for(std::chrono::seconds(1));
  c.promote(1);
  promoted = true;
  // Writes resume on the new primary while pgbench is still reading.
  CHECK(eventually([&] { return written_after_promotion >= 50 || connection_lost; },
                   std::chrono::seconds(20), std::chrono::milliseconds(20)));
  stop = true;
  writing.get();
  const auto reads = readers.get();

  INFO("writer's last error: " << last_error);
  CHECK_FALSE(connection_lost);
  CHECK(written_after_promotion >= 50);
  INFO(reads.output);
  CHECK(reads.exit_code == 0);
  CHECK(reads.output.find("number of failed transactions: 0 ") != std::string::npos);
  CHECK(reads.output.find("aborted") == std::string::npos);

  // Every acknowledged write is on the new primary, once.
  pg::connection direct(c.app_conninfo(1));
  std::set<int> stored;
  for (const auto& row : direct.exec("select id from failover_load")) {
    stored.insert(std::stoi(*row[0]));
  }
  std::size_t missing = 0;
  for (int id : acknowledged) missing += stored.count(id) == 1 ? 0u : 1u;
  INFO(acknowledged.size() << " acknowledged writes");
  CHECK(missing == 0);
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
