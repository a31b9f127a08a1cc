// Server connections come and go as pool.min_idle, pool.server_idle_timeout and
// pool.server_lifetime say, seen from PostgreSQL's side (pgsteer's pooled connections to the
// primary).
#include <catch2/catch.hpp>

#include <chrono>
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

TEST_CASE("pool.min_idle keeps idle server connections open", "[proxy]") {
  auto& c = cluster::shared();
  pgsteer_options options;
  options.workers = 1;
  options.pool_size = 5;
  options.min_idle = 3;
  pgsteer_process proxy(c, options);
  pg::connection client(proxy.conninfo("app_rw"));  // the pool exists once a client used it
  CHECK(client.scalar("select 1") == "1");
  // The pool sweeps about once a second.
  CHECK(eventually([&] { return proxy.pooled_servers(c, 0) == 3; }));
  INFO(proxy.pooled_servers(c, 0) << " server connections");
  // Never more than asked for while nobody needs them.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  CHECK(proxy.pooled_servers(c, 0) == 3);
}

TEST_CASE("pool.server_idle_timeout closes idle server connections", "[proxy]") {
  auto& c = cluster::shared();
  pgsteer_options options;
  options.workers = 1;
  options.server_idle_timeout = "1s";
  pgsteer_process proxy(c, options);
  pg::connection client(proxy.conninfo("app_rw"));
  CHECK(client.scalar("select 1") == "1");
  CHECK(proxy.pooled_servers(c, 0) == 1);
  CHECK(eventually([&] { return proxy.pooled_servers(c, 0) == 0; }));
  // The client did not notice: its next query gets a new server.
  CHECK(client.scalar("select 2") == "2");
}

TEST_CASE("pool.server_lifetime replaces a server connection once it is older", "[proxy]") {
  auto& c = cluster::shared();
  pgsteer_options options;
  options.workers = 1;
  options.pool_size = 1;
  options.server_lifetime = "1s";
  pgsteer_process proxy(c, options);
  pg::connection client(proxy.conninfo("app_rw"));
  const std::string first = client.scalar("select pg_backend_pid()");
  CHECK(client.scalar("select pg_backend_pid()") == first);  // reused while young
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const std::string later = client.scalar("select pg_backend_pid()");
  CHECK(later != first);
}
