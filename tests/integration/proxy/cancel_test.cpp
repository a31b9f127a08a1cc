// CancelRequest through pgsteer: libpq's PQcancel, with the key pgsteer issued, stops the query of
// that client and of no other, with PostgreSQL's 57014 error.
#include <catch2/catch.hpp>

#include <libpq-fe.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "cluster.hpp"
#include "pg.hpp"
#include "pgsteer_process.hpp"

using pgsteer::test::cluster;
using pgsteer::test::pgsteer_options;
using pgsteer::test::pgsteer_process;
namespace pg = pgsteer::test::pg;
using namespace std::chrono_literals;

namespace {

struct query_result {
  std::string sqlstate;  // empty on success
  std::string message;
  std::chrono::steady_clock::duration took{};
};

query_result run(pg::connection& c, const std::string& sql) {
  const auto start = std::chrono::steady_clock::now();
  query_result r;
  try {
    c.exec(sql);
  } catch (const pg::error& e) {
    r.sqlstate = e.sqlstate();
    r.message = e.what();
  }
  r.took = std::chrono::steady_clock::now() - start;
  return r;
}

// Waits until some node of the cluster runs `sql` for the app user; false after 10 s.
bool wait_running(const cluster& c, const std::string& sql) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    for (int node = 0; node < c.nodes(); ++node) {
      pg::connection super(c.super_conninfo(node));
      const auto n = super.exec_params(
          "select count(*) from pg_stat_activity where usename = 'app' and state = 'active' "
          "and query = $1",
          {sql});
      if (n.at(0).at(0) != "0") return true;
    }
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

bool cancel(pg::connection& c) {
  PGcancel* handle = PQgetCancel(c.native());
  if (handle == nullptr) return false;
  char error[256] = {};
  const bool sent = PQcancel(handle, error, sizeof error) == 1;
  PQfreeCancel(handle);
  return sent;
}

}  // namespace

TEST_CASE("PQcancel stops a pg_sleep(30) through pgsteer with 57014, and only that query",
          "[proxy]") {
  auto& c = cluster::shared();
  pgsteer_options options;
  options.pool_mode = "transaction";
  options.pool_size = 4;
  pgsteer_process proxy(c, options);
  pg::connection sleeper(proxy.conninfo());
  pg::connection bystander(proxy.conninfo());
  // The key libpq got came from pgsteer, and a cancel while nothing runs does no harm.
  REQUIRE(PQbackendPID(sleeper.native()) != 0);
  CHECK(cancel(sleeper));
  CHECK(sleeper.scalar("select 1") == "1");

  const std::string sleep_sql = "select pg_sleep(30)";
  const std::string short_sql = "select pg_sleep(3), 'bystander done'";
  auto cancelled = std::async(std::launch::async, [&] { return run(sleeper, sleep_sql); });
  auto untouched = std::async(std::launch::async, [&] { return run(bystander, short_sql); });
  REQUIRE(wait_running(c, sleep_sql));
  REQUIRE(wait_running(c, short_sql));

  const auto sent_at = std::chrono::steady_clock::now();
  REQUIRE(cancel(sleeper));
  REQUIRE(cancelled.wait_for(10s) == std::future_status::ready);
  const auto r = cancelled.get();
  const auto after_cancel = std::chrono::steady_clock::now() - sent_at;
  CHECK(r.sqlstate == "57014");
  CHECK_THAT(r.message, Catch::Contains("canceling statement due to user request"));
  INFO("returned " << std::chrono::duration_cast<std::chrono::milliseconds>(after_cancel).count()
                   << " ms after the cancel was sent");
  CHECK(after_cancel < 10s);

  // The other client's query was not cancelled.
  REQUIRE(untouched.wait_for(20s) == std::future_status::ready);
  const auto b = untouched.get();
  CHECK(b.sqlstate.empty());
  CHECK(b.message.empty());

  // The cancelled client goes on working.
  CHECK(sleeper.scalar("select 'still here'") == "still here");
}
