// SIGHUP re-reads the configuration: under pgbench load a larger pool and a new user take effect
// with no failed transaction; a broken file is rejected, logged, and the running configuration
// keeps serving; keys that need a restart are reported and left alone.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <regex>
#include <string>
#include <thread>

#include "cluster.hpp"
#include "eventually.hpp"
#include "lifecycle.hpp"
#include "pg.hpp"
#include "pgsteer_process.hpp"

using namespace std::chrono_literals;
using pgsteer::test::cluster;
using pgsteer::test::command_result;
using pgsteer::test::edit_config;
using pgsteer::test::eventually;
using pgsteer::test::parse_count;
using pgsteer::test::pgsteer_options;
using pgsteer::test::pgsteer_process;
using pgsteer::test::run_command;
using pgsteer::test::send_signal;
namespace pg = pgsteer::test::pg;

namespace {

// A role on the cluster that pgsteer's configuration does not know yet.
void create_role(cluster& c, const std::string& name, const std::string& password) {
  pg::connection super(c.super_conninfo(0, "app"));
  super.exec("set client_min_messages = warning; drop role if exists " + name);
  super.exec("create role " + name + " login password '" + password + "'");
  c.wait_caught_up();
}

}  // namespace

TEST_CASE("SIGHUP under pgbench load: a larger pool and a new user, no failed transaction",
          "[lifecycle][reload]") {
  auto& c = cluster::shared();
  const auto init = run_command({"pgbench", "-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p",
                                 std::to_string(c.port(0)), "-U", "app", "app"},
                                {}, {"PGPASSWORD=app"});
  INFO(init.output);
  REQUIRE(init.exit_code == 0);
  create_role(c, "reload_user", "reload_pw");

  pgsteer_options options;
  options.workers = 2;
  options.pool_size = 4;
  options.query_wait_timeout = "30s";  // 20 clients queue for 4 servers: waiting is not failing
  pgsteer_process proxy(c, options);

  // The new user cannot log in yet.
  CHECK(pg::try_connect(proxy.conninfo("app_rw", "reload_user", "reload_pw")).has_value());

  command_result bench;
  std::thread load([&] {
    bench = run_command({"pgbench", "-n", "-c", "20", "-j", "2", "-T", "10", "-M", "extended", "-h",
                         "127.0.0.1", "-p", std::to_string(proxy.port()), "-U", "app", "app_rw"},
                        {}, {"PGPASSWORD=app"});
  });
  // Under load the pool fills to its size on the primary, and not beyond.
  CHECK(eventually([&] { return proxy.pooled_servers(c, 0) == 4; }, 6s));
  int peak_before = 0;
  for (int i = 0; i < 5; ++i) {
    peak_before = std::max(peak_before, proxy.pooled_servers(c, 0));
    std::this_thread::sleep_for(100ms);
  }
  CHECK(peak_before == 4);

  edit_config(proxy, "  size: 4\n", "  size: 8\n");
  edit_config(proxy, "users:\n", "users:\n  - { name: reload_user, password: \"reload_pw\" }\n");
  send_signal(proxy, SIGHUP);

  // The same clients now get up to 8 servers, without reconnecting.
  CHECK(eventually([&] { return proxy.pooled_servers(c, 0) == 8; }, 7s));
  {
    pg::connection added(proxy.conninfo("app_rw", "reload_user", "reload_pw"));
    CHECK(added.scalar("select current_user") == "reload_user");
  }
  load.join();
  INFO(bench.output);
  CHECK(bench.exit_code == 0);
  CHECK(parse_count(bench.output, R"(number of failed transactions: (\d+))") == 0);
  CHECK(parse_count(bench.output, R"(number of transactions actually processed: (\d+))") > 0);
  CHECK(proxy.log().find("configuration reloaded") != std::string::npos);
}

TEST_CASE("a reload with a broken file is rejected and the running configuration keeps serving",
          "[lifecycle][reload]") {
  auto& c = cluster::shared();
  pgsteer_options options;
  options.workers = 1;
  pgsteer_process proxy(c, options);
  pg::connection client(proxy.conninfo("app_rw"));
  CHECK(client.scalar("select 1") == "1");

  // Two mistakes: both are reported, with where they are.
  edit_config(proxy, "  size: 10\n", "  size: lots\n  sise: 3\n");
  send_signal(proxy, SIGHUP);
  CHECK(eventually(
      [&] { return proxy.log().find("reload rejected (2 errors)") != std::string::npos; }));
  const auto log = proxy.log();
  INFO(log);
  CHECK(log.find("pool.size") != std::string::npos);
  CHECK(log.find("pool.sise") != std::string::npos);
  CHECK(log.find("configuration reloaded") == std::string::npos);

  // Nothing changed for clients: the connected one goes on, new ones log in as before.
  CHECK(client.scalar("select 2") == "2");
  pg::connection another(proxy.conninfo("app"));
  CHECK(another.scalar("select 3") == "3");

  // Fixed, but with a key that needs a restart: the rest applies, that key is reported.
  edit_config(proxy, "  size: lots\n  sise: 3\n", "  size: 10\n");
  edit_config(proxy, "workers: 1\n", "workers: 3\n");
  send_signal(proxy, SIGHUP);
  CHECK(
      eventually([&] { return proxy.log().find("configuration reloaded") != std::string::npos; }));
  CHECK(proxy.log().find("workers changed from 1 to 3: needs a restart") != std::string::npos);
  CHECK(client.scalar("select 4") == "4");
}

TEST_CASE(
    "a user removed by a reload can no longer log in, and its session ends between transactions",
    "[lifecycle][reload]") {
  auto& c = cluster::shared();
  create_role(c, "leaving_user", "leaving_pw");
  pgsteer_options options;
  options.workers = 1;
  options.extra_yaml = "";
  pgsteer_process proxy(c, options);
  edit_config(proxy, "users:\n", "users:\n  - { name: leaving_user, password: \"leaving_pw\" }\n");
  send_signal(proxy, SIGHUP);
  CHECK(
      eventually([&] { return proxy.log().find("configuration reloaded") != std::string::npos; }));

  pg::connection leaving(proxy.conninfo("app_rw", "leaving_user", "leaving_pw"));
  leaving.exec("begin");
  CHECK(leaving.scalar("select current_user") == "leaving_user");

  edit_config(proxy, "  - { name: leaving_user, password: \"leaving_pw\" }\n", "");
  send_signal(proxy, SIGHUP);
  CHECK(eventually(
      [&] { return pgsteer::test::occurrences(proxy.log(), "configuration reloaded") == 2; }));
  // Not inside its transaction: that one finishes.
  CHECK(leaving.scalar("select 1") == "1");
  leaving.exec("commit");
  // At the next one it is told why it goes.
  try {
    leaving.exec("select 1");
    FAIL("the removed user's session went on");
  } catch (const pg::error& e) {
    CHECK(std::string(e.what()).find("was removed from pgsteer's configuration") !=
          std::string::npos);
  }
  CHECK(pg::try_connect(proxy.conninfo("app_rw", "leaving_user", "leaving_pw")).has_value());
}
