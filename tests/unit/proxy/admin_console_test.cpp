// The admin console's result sets that are pure computations: SHOW STATS's averages and SHOW
// CONFIG's values and defaults.
#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "admin_console.hpp"

using namespace pgsteer;

namespace {

std::map<std::string, std::string> first_row(const proxy::admin_result& r) {
  std::map<std::string, std::string> out;
  REQUIRE(r.rows.size() == 1);
  for (std::size_t i = 0; i < r.columns.size(); ++i) {
    out[r.columns[i].first] = r.rows[0][i].value_or("NULL");
  }
  return out;
}

}  // namespace

TEST_CASE("SHOW STATS: totals, per-second rates and per-item means", "[proxy][admin]") {
  proxy::stats_totals t;
  t.xact_count = 100;
  t.query_count = 250;
  t.received = 10'000;
  t.sent = 40'000;
  t.xact_time_us = 500'000;
  t.query_time_us = 750'000;
  t.wait_time_us = 30'000;
  t.wait_count = 3;
  auto row = first_row(proxy::show_stats(t, 10.0));
  CHECK(row["database"] == "*");
  CHECK(row["total_xact_count"] == "100");
  CHECK(row["total_query_count"] == "250");
  CHECK(row["total_received"] == "10000");
  CHECK(row["total_sent"] == "40000");
  CHECK(row["total_wait_time"] == "30000");
  CHECK(row["avg_xact_count"] == "10");
  CHECK(row["avg_query_count"] == "25");
  CHECK(row["avg_recv"] == "1000");
  CHECK(row["avg_sent"] == "4000");
  CHECK(row["avg_xact_time"] == "5000");
  CHECK(row["avg_query_time"] == "3000");
  CHECK(row["avg_wait_time"] == "10000");

  // Nothing yet: zeros, no division by zero; under a second of uptime counts as one.
  row = first_row(proxy::show_stats({}, 0.2));
  CHECK(row["avg_xact_time"] == "0");
  CHECK(row["avg_wait_time"] == "0");
  CHECK(row["avg_xact_count"] == "0");
}

TEST_CASE("SHOW CONFIG: values in the configuration's units, next to the defaults",
          "[proxy][admin]") {
  config::config c;
  c.listen = {{"127.0.0.1", 7432}, {"::1", 7432}};
  c.workers = 4;
  c.pool.size = 50;
  c.pool.query_wait_timeout = std::chrono::milliseconds(1500);
  c.pool.server_lifetime = std::chrono::minutes(30);
  c.routing.max_lag_bytes = 8ull << 20;
  c.routing.write_functions = {"bump", "audit"};
  std::map<std::string, std::vector<std::string>> rows;
  for (const auto& r : proxy::show_config(c).rows) {
    rows[*r[0]] = {r[1].value_or(""), r[2].value_or(""), r[3].value_or("")};
  }
  CHECK(rows["listen"] ==
        std::vector<std::string>{"127.0.0.1:7432, [::1]:7432", "127.0.0.1:6432", "no"});
  CHECK(rows["workers"] == std::vector<std::string>{"4", "auto", "no"});
  CHECK(rows["pool.size"] == std::vector<std::string>{"50", "20", "yes"});
  CHECK(rows["pool.query_wait_timeout"] == std::vector<std::string>{"1500ms", "5s", "yes"});
  CHECK(rows["pool.server_lifetime"] == std::vector<std::string>{"30m", "1h", "yes"});
  CHECK(rows["routing.max_lag_bytes"] == std::vector<std::string>{"8MB", "16MB", "yes"});
  CHECK(rows["routing.write_functions"][0] == "bump, audit");
  CHECK(rows["clients.idle_timeout"][0] == "0");
  CHECK(rows["http.listen"] == std::vector<std::string>{"", "", "no"});
}
