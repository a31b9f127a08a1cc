// pgbench through pgsteer in transaction mode: 64 clients over a pool of 10, select-only and
// TPC-B-like, in all three query modes. Every transaction must succeed, and the primary must
// never see more of pgsteer's server connections than the pool size.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <regex>
#include <string>
#include <thread>

#include "cluster.hpp"
#include "pg.hpp"
#include "pgsteer_process.hpp"

using pgsteer::test::cluster;
using pgsteer::test::pgsteer_options;
using pgsteer::test::pgsteer_process;
using pgsteer::test::run_command;
namespace pg = pgsteer::test::pg;

namespace {

constexpr int pool_size = 10;

long long parse_count(const std::string& output, const std::string& pattern) {
  std::smatch m;
  if (!std::regex_search(output, m, std::regex(pattern))) return -1;
  return std::stoll(m[1].str());
}

void init_pgbench_tables(const cluster& c) {
  // pgbench -i drops and recreates its tables, so it is idempotent.
  const auto init = run_command({"pgbench", "-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p",
                                 std::to_string(c.port(0)), "-U", "app", "app"},
                                {}, {"PGPASSWORD=app"});
  INFO(init.output);
  REQUIRE(init.exit_code == 0);
}

}  // namespace

TEST_CASE("pgbench over pgsteer in transaction mode: 64 clients, pool of 10, no failures",
          "[proxy][pgbench]") {
  auto& c = cluster::shared();
  init_pgbench_tables(c);
  c.wait_caught_up();

  // The primary route, so that every server connection pgsteer opens is one the check below sees.
  pgsteer_options options;
  options.pool_mode = "transaction";
  options.pool_size = pool_size;
  pgsteer_process proxy(c, options);
  // Before any client: min_idle is 0, so no pooled connection exists yet (the health monitor's
  // connection is not a pooled one and is not counted).
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const int baseline = proxy.pooled_servers(c, 0);
  CHECK(baseline == 0);

  struct workload {
    const char* name;
    std::vector<std::string> args;
  };
  const workload workloads[] = {
      {"select-only, simple", {"-S", "-M", "simple"}},
      {"select-only, extended", {"-S", "-M", "extended"}},
      {"select-only, prepared", {"-S", "-M", "prepared"}},
      {"TPC-B, simple", {"-M", "simple"}},
      {"TPC-B, prepared", {"-M", "prepared"}},
  };
  for (const auto& w : workloads) {
    SECTION(w.name) {
      std::atomic<bool> running{true};
      std::atomic<int> peak{0};
      std::atomic<int> samples{0};
      std::thread sampler([&] {
        while (running) {
          const int n = proxy.pooled_servers(c, 0) - baseline;
          int seen = peak.load();
          while (n > seen && !peak.compare_exchange_weak(seen, n)) {
          }
          ++samples;
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
      });
      std::vector<std::string> argv = {"pgbench", "-n",        "-c", "64",
                                       "-j",      "2",         "-t", "50",
                                       "-h",      "127.0.0.1", "-p", std::to_string(proxy.port()),
                                       "-U",      "app"};
      argv.insert(argv.end(), w.args.begin(), w.args.end());
      argv.push_back("app_rw");
      const auto run = run_command(argv, {}, {"PGPASSWORD=app"});
      running = false;
      sampler.join();

      INFO(run.output);
      CHECK(run.exit_code == 0);
      CHECK(parse_count(run.output, R"(number of failed transactions: (\d+))") == 0);
      CHECK(parse_count(run.output, R"(number of transactions actually processed: (\d+)/)") ==
            64 * 50);
      INFO("samples of pg_stat_activity: " << samples.load());
      CHECK(samples.load() > 0);
      CHECK(peak.load() >
            0);  // the sampling saw pgsteer's servers, so the bound below means something
      CHECK(peak.load() <= pool_size);
    }
  }
}
