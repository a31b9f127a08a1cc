// /metrics after a known workload through pgsteer: read directly, checked by `promtool check
// metrics`, and scraped by a real Prometheus server whose PromQL answers must match.
#include <catch2/catch.hpp>

#include <libpq-fe.h>
#include <stdlib.h>

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "cluster.hpp"
#include "eventually.hpp"
#include "http_client.hpp"
#include "pg.hpp"
#include "pgsteer_process.hpp"
#include "prometheus_server.hpp"

using pgsteer::test::cluster;
using pgsteer::test::eventually;
using pgsteer::test::free_port;
using pgsteer::test::http_get;
using pgsteer::test::pgsteer_options;
using pgsteer::test::pgsteer_process;
using pgsteer::test::prometheus_server;
using pgsteer::test::run_command;
namespace pg = pgsteer::test::pg;

namespace {

pgsteer_options with_http(int http_port) {
  pgsteer_options options;
  options.health_interval = "250ms";
  options.http_port = http_port;
  return options;
}

// The sum of the samples of `name` whose labels include every `name="value"` in `labels`
// (-1 when there is none), from Prometheus text.
double sample_sum(const std::string& text, const std::string& name,
                  const std::vector<std::string>& labels = {}) {
  std::istringstream in(text);
  std::string line;
  double total = 0;
  bool found = false;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto end_of_name = line.find_first_of("{ ");
    if (line.compare(0, end_of_name, name) != 0 || end_of_name != name.size()) continue;
    const auto space = line.rfind(' ');
    const std::string series = line.substr(0, space);
    bool match = true;
    for (const auto& l : labels) match = match && series.find(l) != std::string::npos;
    if (!match) continue;
    total += std::strtod(line.c_str() + space + 1, nullptr);
    found = true;
  }
  return found ? total : -1;
}

}  // namespace

TEST_CASE("/metrics counts a known workload, passes promtool, and Prometheus scrapes it",
          "[http][metrics][prometheus]") {
  auto& c = cluster::shared();
  const int http_port = free_port();
  pgsteer_process proxy(c, with_http(http_port));
  INFO(proxy.log());
  REQUIRE(eventually([&] { return http_get(http_port, "/health/ready").status == 200; }));

  constexpr int n = 25;
  pg::connection writer(proxy.conninfo("app_rw"));
  pg::connection reader(proxy.conninfo("app_ro"));
  pg::connection split(proxy.conninfo("app"));
  for (int i = 0; i < n; ++i) writer.exec("select " + std::to_string(i));
  writer.exec("begin");
  writer.exec("select 1");
  writer.exec("commit");
  for (int i = 0; i < n; ++i) reader.exec("select " + std::to_string(i));
  CHECK_THROWS_AS(split.exec("select 1/0"), pg::error);
  CHECK(pg::try_connect(proxy.conninfo("app", "app", "not-the-password")).has_value());

  auto scrape = [&] {
    const auto r = http_get(http_port, "/metrics");
    REQUIRE(r.status == 200);
    REQUIRE(r.headers.find("text/plain; version=0.0.4") != std::string::npos);
    return r.body;
  };
  // Counted before each ReadyForQuery leaves pgsteer: already there, but read by another thread.
  std::string text;
  CHECK(eventually([&] {
    text = scrape();
    return sample_sum(text, "pgsteer_queries_total", {R"(database="app_ro")"}) == n;
  }));
  INFO(text);
  // Autocommit statements are a transaction each; BEGIN; SELECT; COMMIT is one of three queries.
  CHECK(sample_sum(text, "pgsteer_transactions_total",
                   {R"(database="app_rw")", R"(route="primary")"}) == n + 1);
  CHECK(sample_sum(text, "pgsteer_queries_total", {R"(database="app_rw")", R"(route="primary")"}) ==
        n + 3);
  CHECK(sample_sum(text, "pgsteer_transactions_total",
                   {R"(database="app_ro")", R"(route="replica")"}) == n);
  CHECK(sample_sum(text, "pgsteer_transactions_total", {R"(route="replica")"}) >= n);
  CHECK(sample_sum(text, "pgsteer_backend_routed_transactions_total",
                   {R"(backend="pg1")", R"(route="primary")"}) >= n + 1);
  CHECK(sample_sum(text, "pgsteer_backend_routed_transactions_total", {R"(route="replica")"}) >= n);
  CHECK(sample_sum(text, "pgsteer_backend_routed_transactions_total",
                   {R"(backend="pg1")", R"(route="replica")"}) == 0);
  // Division by zero is SQLSTATE 22012 (class 22); the wrong password 28P01 (class 28).
  CHECK(sample_sum(text, "pgsteer_errors_total", {R"(class="22")"}) == 1);
  CHECK(sample_sum(text, "pgsteer_errors_total", {R"(class="28")"}) == 1);
  CHECK(sample_sum(text, "pgsteer_auth_failures_total") == 1);
  CHECK(sample_sum(text, "pgsteer_client_connections_total") >= 4);
  // Three clients connected, between requests; none logging in, waiting or active.
  CHECK(sample_sum(text, "pgsteer_client_connections", {R"(state="idle")"}) == 3);
  CHECK(sample_sum(text, "pgsteer_client_connections", {R"(state="active")"}) == 0);
  CHECK(sample_sum(text, "pgsteer_client_connections", {R"(state="waiting")"}) == 0);
  CHECK(sample_sum(text, "pgsteer_client_connections", {R"(state="login")"}) == 0);
  CHECK(sample_sum(text, "pgsteer_client_received_bytes_total") > 0);
  CHECK(sample_sum(text, "pgsteer_client_sent_bytes_total") > 0);
  CHECK(sample_sum(text, "pgsteer_server_connections",
                   {R"(database="app_rw")", R"(backend="pg1")", R"(state="idle")"}) >= 1);
  CHECK(sample_sum(text, "pgsteer_server_connections", {R"(backend="pg1")", R"(state="active")"}) ==
        0);
  CHECK(sample_sum(text, "pgsteer_query_duration_seconds_count") ==
        sample_sum(text, "pgsteer_queries_total"));
  CHECK(sample_sum(text, "pgsteer_query_duration_seconds_bucket", {R"(le="+Inf")"}) ==
        sample_sum(text, "pgsteer_queries_total"));
  CHECK(sample_sum(text, "pgsteer_pool_wait_seconds_count") >= n);
  CHECK(sample_sum(text, "pgsteer_backend_role", {R"(backend="pg1")", R"(role="primary")"}) == 1);
  CHECK(sample_sum(text, "pgsteer_backend_role", {R"(backend="pg1")"}) == 1);
  CHECK(sample_sum(text, "pgsteer_backend_role", {R"(role="replica")"}) == 2);
  CHECK(sample_sum(text, "pgsteer_backend_up") == 3);
  CHECK(sample_sum(text, "pgsteer_primary_available") == 1);
  CHECK(sample_sum(text, "pgsteer_eligible_replicas") == 2);
  CHECK(sample_sum(text, "pgsteer_backend_lag_bytes", {R"(backend="pg2")"}) >= 0);
  CHECK(sample_sum(text, "pgsteer_fenced_backends") == 0);
  CHECK(sample_sum(text, "pgsteer_failovers_total") == 0);
  CHECK(sample_sum(text, "pgsteer_ready") == 1);
  CHECK(sample_sum(text, "pgsteer_up") == 1);
  CHECK(sample_sum(text, "pgsteer_build_info") == 1);
  CHECK(sample_sum(text, "pgsteer_config_reloads_total") == 0);
  CHECK(sample_sum(text, "pgsteer_config_last_reload_successful") == 1);
  // Client TLS is off: no certificate to report.
  CHECK(sample_sum(text, "pgsteer_tls_certificate_expiry_timestamp_seconds") == -1);

  const auto lint = run_command({"promtool", "check", "metrics"}, text);
  INFO("promtool: " << lint.output);
  CHECK(lint.exit_code == 0);
  CHECK(lint.output.empty());

  prometheus_server prometheus(http_port);
  INFO(prometheus.log());
  auto query_is = [&](const std::string& promql, auto predicate) {
    const bool ok = eventually(
        [&] {
          const auto v = prometheus.query(promql);
          return v && predicate(*v);
        },
        std::chrono::seconds(30), std::chrono::milliseconds(250));
    INFO(promql << " -> " << prometheus.query_json(promql));
    CHECK(ok);
  };
  query_is("up{job=\"pgsteer\"}", [](double v) { return v == 1; });
  query_is("sum(pgsteer_transactions_total)", [](double v) { return v >= 2 * n + 1; });
  query_is(R"(sum(pgsteer_transactions_total{database="app_rw",route="primary"}))",
           [](double v) { return v == n + 1; });
  query_is(R"(pgsteer_backend_role{role="primary",backend="pg1"})",
           [](double v) { return v == 1; });
  query_is(R"(sum(pgsteer_backend_role{role="replica"}))", [](double v) { return v == 2; });
  query_is("pgsteer_primary_available", [](double v) { return v == 1; });
  query_is(R"(sum(pgsteer_errors_total{class="22"}))", [](double v) { return v == 1; });
  query_is("sum(pgsteer_query_duration_seconds_count)", [](double v) { return v >= 2 * n + 3; });
  query_is("histogram_quantile(0.5, sum by (le) (pgsteer_query_duration_seconds_bucket))",
           [](double v) { return v > 0 && v < 10; });

  // The workload keeps counting while Prometheus watches.
  for (int i = 0; i < n; ++i) writer.exec("select 1");
  query_is(R"(sum(pgsteer_transactions_total{database="app_rw"}))",
           [](double v) { return v == 2 * n + 1; });
}

TEST_CASE("/metrics reports when pgsteer's client certificate expires", "[http][metrics][tls]") {
  auto& c = cluster::shared();
  char pattern[] = "/tmp/pgsteer-cert-XXXXXX";
  REQUIRE(::mkdtemp(pattern) != nullptr);
  const std::string dir = pattern;
  const auto made =
      run_command({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                   "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30", "-subj", "/CN=pgsteer",
                   "-keyout", dir + "/server.key", "-out", dir + "/server.crt"});
  INFO(made.output);
  REQUIRE(made.exit_code == 0);
  // What openssl itself says the notAfter is, as Unix time.
  const auto expected = run_command(
      {"sh", "-c",
       "date -d \"$(openssl x509 -enddate -noout -in " + dir + "/server.crt | cut -d= -f2)\" +%s"});
  REQUIRE(expected.exit_code == 0);

  const int http_port = free_port();
  auto options = with_http(http_port);
  options.extra_yaml += "tls:\n  client:\n    mode: allow\n    cert_file: " + dir +
                        "/server.crt\n    key_file: " + dir + "/server.key\n";
  pgsteer_process proxy(c, options);
  INFO(proxy.log());
  const auto text = http_get(http_port, "/metrics").body;
  INFO(text);
  CHECK(sample_sum(text, "pgsteer_tls_certificate_expiry_timestamp_seconds",
                   {R"(which="client")"}) == std::strtod(expected.output.c_str(), nullptr));
  CHECK(run_command({"rm", "-rf", dir}).exit_code == 0);
}

TEST_CASE("/metrics shows a client waiting for a full pool and the server it waits for",
          "[http][metrics][pool]") {
  auto& c = cluster::shared();
  const int http_port = free_port();
  auto options = with_http(http_port);
  options.pool_size = 1;
  options.workers = 1;
  options.query_wait_timeout = "30s";
  pgsteer_process proxy(c, options);
  INFO(proxy.log());
  REQUIRE(eventually([&] { return http_get(http_port, "/health/ready").status == 200; }));

  pg::connection holder(proxy.conninfo("app_rw"));
  pg::connection queued(proxy.conninfo("app_rw"));
  holder.exec("begin");
  holder.exec("select 1");
  // The pool's only server is in holder's transaction: this query waits in the pool.
  REQUIRE(PQsendQuery(queued.native(), "select 42") == 1);
  std::string text;
  const bool waiting = eventually([&] {
    text = http_get(http_port, "/metrics").body;
    return sample_sum(text, "pgsteer_client_connections", {R"(state="waiting")"}) == 1;
  });
  INFO(text);
  CHECK(waiting);
  CHECK(sample_sum(text, "pgsteer_client_connections", {R"(state="active")"}) == 1);
  CHECK(sample_sum(text, "pgsteer_pool_waiting_clients",
                   {R"(database="app_rw")", R"(backend="pg1")"}) == 1);
  CHECK(sample_sum(text, "pgsteer_server_connections",
                   {R"(database="app_rw")", R"(backend="pg1")", R"(state="active")"}) == 1);
  CHECK(sample_sum(text, "pgsteer_server_connections",
                   {R"(database="app_rw")", R"(backend="pg1")", R"(state="idle")"}) == 0);

  holder.exec("commit");
  // The waiting query gets the server and finishes.
  std::string answer;
  while (PGresult* r = PQgetResult(queued.native())) {
    if (PQresultStatus(r) == PGRES_TUPLES_OK) answer = PQgetvalue(r, 0, 0);
    PQclear(r);
  }
  CHECK(answer == "42");
  CHECK(eventually([&] {
    text = http_get(http_port, "/metrics").body;
    return sample_sum(text, "pgsteer_client_connections", {R"(state="idle")"}) == 2 &&
           sample_sum(text, "pgsteer_server_connections",
                      {R"(database="app_rw")", R"(state="idle")"}) == 1;
  }));
  // The wait shows in the pool wait histogram: at least one wait above the smallest bucket.
  CHECK(sample_sum(text, "pgsteer_pool_wait_seconds_bucket", {R"(le="+Inf")"}) >
        sample_sum(text, "pgsteer_pool_wait_seconds_bucket", {R"(le="0.0001")"}));
}
