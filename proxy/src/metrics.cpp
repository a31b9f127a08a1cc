// metrics: the metric families of /metrics, built at scrape time (see metrics.hpp).
#include "metrics.hpp"

#include <openssl/asn1.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <prometheus/text_serializer.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <tuple>
#include <utility>

#include <boost/asio/post.hpp>

#include "health.hpp"
#include "pgsteer/protocol/session_state.hpp"
#include "shared_state.hpp"
#include "stats.hpp"
#include "topology.hpp"

namespace pgsteer::proxy {
namespace p = protocol;

namespace pm = prometheus;

namespace {

using labels = std::vector<pm::ClientMetric::Label>;

constexpr std::array<const char*, route_label_count> route_names{"primary", "replica"};

pm::MetricFamily& family(std::vector<pm::MetricFamily>& out, std::string name, std::string help,
                         pm::MetricType type) {
  out.push_back({std::move(name), std::move(help), type, {}});
  return out.back();
}

void add_counter(pm::MetricFamily& f, double value, labels l = {}) {
  pm::ClientMetric m;
  m.label = std::move(l);
  m.counter.value = value;
  f.metric.push_back(std::move(m));
}

void add_gauge(pm::MetricFamily& f, double value, labels l = {}) {
  pm::ClientMetric m;
  m.label = std::move(l);
  m.gauge.value = value;
  f.metric.push_back(std::move(m));
}

pm::MetricFamily& counter(std::vector<pm::MetricFamily>& out, std::string name, std::string help) {
  return family(out, std::move(name), std::move(help), pm::MetricType::Counter);
}

pm::MetricFamily& gauge(std::vector<pm::MetricFamily>& out, std::string name, std::string help) {
  return family(out, std::move(name), std::move(help), pm::MetricType::Gauge);
}

// The sum over workers of one statistic (relaxed reads: each value is exact, the set is not a
// single instant, which Prometheus does not need).
double sum(const shared_state& shared,
           const std::function<std::uint64_t(const worker_stats&)>& read) {
  std::uint64_t total = 0;
  for (const worker_context* w : shared.workers) total += read(w->stats());
  return static_cast<double>(total);
}

void add_histogram(std::vector<pm::MetricFamily>& out, std::string name, std::string help,
                   const shared_state& shared, stat_histogram worker_stats::*member) {
  auto& f = family(out, std::move(name), std::move(help), pm::MetricType::Histogram);
  pm::ClientMetric m;
  std::array<std::uint64_t, stat_histogram::bounds.size() + 1> buckets{};
  double seconds = 0;
  for (const worker_context* w : shared.workers) {
    const auto& h = w->stats().*member;
    for (std::size_t i = 0; i < buckets.size(); ++i) buckets[i] += h.bucket(i);
    seconds += h.sum_seconds();
  }
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    cumulative += buckets[i];
    m.histogram.bucket.push_back({cumulative, i < stat_histogram::bounds.size()
                                                  ? stat_histogram::bounds[i]
                                                  : std::numeric_limits<double>::infinity()});
  }
  // The count is the +Inf bucket, so the two always agree even though workers keep writing.
  m.histogram.sample_count = cumulative;
  m.histogram.sample_sum = seconds;
  f.metric.push_back(std::move(m));
}

std::string sqlstate_class_name(std::size_t index) {
  static constexpr char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  return {digits[index / 36], digits[index % 36]};
}

}  // namespace

scrape_collector::scrape_collector(const shared_state& shared, const topology* snapshot,
                                   std::vector<pool_count> pools, std::uint64_t failovers,
                                   bool last_reload_ok)
    : shared_(shared),
      snapshot_(snapshot),
      pools_(std::move(pools)),
      failovers_(failovers),
      last_reload_ok_(last_reload_ok) {}

std::vector<pm::MetricFamily> scrape_collector::Collect() const {
  std::vector<pm::MetricFamily> out;
  collect_process(out);
  collect_clients(out);
  collect_traffic(out);
  collect_servers(out);
  collect_topology(out);
  return out;
}

void scrape_collector::collect_process(std::vector<pm::MetricFamily>& out) const {
  add_gauge(gauge(out, "pgsteer_build_info", "pgsteer's version (always 1)"), 1,
            {{"version", PGSTEER_VERSION}});
  add_gauge(gauge(out, "pgsteer_up", "1 while the process serves"), 1);
  add_gauge(gauge(out, "pgsteer_ready", "1 when /health/ready answers 200"),
            readiness(shared_, snapshot_).ok ? 1 : 0);
  add_gauge(gauge(out, "pgsteer_draining", "1 while shutting down (draining)"),
            shared_.draining.load(std::memory_order_relaxed) ? 1 : 0);
  auto& reloads =
      counter(out, "pgsteer_config_reloads_total", "Configuration reloads (SIGHUP, RELOAD)");
  const auto succeeded = shared_.reloads_succeeded.load(std::memory_order_relaxed);
  const auto failed = shared_.reloads_failed.load(std::memory_order_relaxed);
  add_counter(reloads, static_cast<double>(succeeded), {{"result", "success"}});
  add_counter(reloads, static_cast<double>(failed), {{"result", "failure"}});
  add_gauge(gauge(out, "pgsteer_config_last_reload_successful",
                  "1 when the last reload succeeded (or none was tried)"),
            last_reload_ok_ ? 1 : 0);
  const auto& client_tls = shared_.cfg().tls.client;
  if (client_tls.mode != config::client_tls_mode::disable && !client_tls.cert_file.empty()) {
    if (const auto not_after = certificate_not_after(client_tls.cert_file)) {
      add_gauge(gauge(out, "pgsteer_tls_certificate_expiry_timestamp_seconds",
                      "notAfter of a certificate pgsteer presents, as Unix time"),
                *not_after, {{"which", "client"}});
    }
  }
}

void scrape_collector::collect_clients(std::vector<pm::MetricFamily>& out) const {
  auto& clients = gauge(out, "pgsteer_client_connections", "Client connections now, by state");
  add_gauge(clients, sum(shared_, [](const auto& s) { return s.clients_login.get(); }),
            {{"state", "login"}});
  add_gauge(clients, sum(shared_, [](const auto& s) { return s.clients_idle.get(); }),
            {{"state", "idle"}});
  add_gauge(clients, sum(shared_, [](const auto& s) { return s.clients_waiting.get(); }),
            {{"state", "waiting"}});
  add_gauge(clients, sum(shared_, [](const auto& s) { return s.clients_active.get(); }),
            {{"state", "active"}});
  add_counter(counter(out, "pgsteer_client_connections_total", "Client connections accepted"),
              sum(shared_, [](const auto& s) { return s.client_connections_total.get(); }));
  add_gauge(gauge(out, "pgsteer_clients_pinned",
                  "Clients held on their server by session state (transaction and statement "
                  "pooling)"),
            sum(shared_, [](const auto& s) { return s.clients_pinned.get(); }));
  auto& pins = counter(out, "pgsteer_client_pins_total",
                       "Session state that pinned a client to its server, by kind");
  for (std::size_t kind = 0; kind < pin_kind_count; ++kind) {
    const auto label = p::pin_label(static_cast<p::session_effect_kind>(kind));
    add_counter(pins, sum(shared_, [&](const auto& s) { return s.pins_total[kind].get(); }),
                {{"kind", std::string(label)}});
  }
  add_counter(counter(out, "pgsteer_auth_failures_total", "Failed client authentications"),
              sum(shared_, [](const auto& s) { return s.auth_failures_total.get(); }));
  auto& tls = counter(out, "pgsteer_tls_handshakes_total", "Client-side TLS handshakes");
  add_counter(tls, sum(shared_, [](const auto& s) { return s.tls_handshakes_total.get(); }),
              {{"result", "success"}});
  add_counter(tls, sum(shared_, [](const auto& s) { return s.tls_handshake_failures_total.get(); }),
              {{"result", "failure"}});
}

void scrape_collector::collect_traffic(std::vector<pm::MetricFamily>& out) const {
  const auto& cfg = shared_.cfg();
  auto& transactions = counter(out, "pgsteer_transactions_total",
                               "Transactions relayed, by database and the route they took");
  auto& queries = counter(out, "pgsteer_queries_total",
                          "Requests relayed (each answered by a ReadyForQuery), by database "
                          "and route");
  const auto databases = shared_.database_names.names();
  for (std::size_t d = 0; d < databases.size(); ++d) {
    for (std::size_t r = 0; r < route_label_count; ++r) {
      const labels l{{"database", databases[d]}, {"route", route_names[r]}};
      add_counter(
          transactions,
          sum(shared_, [&](const auto& s) { return s.transactions_by_database[d][r].get(); }), l);
      add_counter(queries,
                  sum(shared_, [&](const auto& s) { return s.queries_by_database[d][r].get(); }),
                  l);
    }
  }
  add_histogram(out, "pgsteer_pool_wait_seconds",
                "Time from needing a server to holding one (routing included)", shared_,
                &worker_stats::pool_wait_seconds);
  add_histogram(out, "pgsteer_query_duration_seconds",
                "Time from a client's request to its ReadyForQuery", shared_,
                &worker_stats::query_duration_seconds);
  auto& errors = counter(out, "pgsteer_errors_total",
                         "ErrorResponses sent to clients (the backend's and pgsteer's own), by "
                         "SQLSTATE class");
  for (std::size_t c = 0; c < sqlstate_class_count; ++c) {
    const double n = sum(shared_, [&](const auto& s) { return s.errors_by_class[c].get(); });
    if (n > 0) add_counter(errors, n, {{"class", sqlstate_class_name(c)}});
  }
  add_counter(counter(out, "pgsteer_client_received_bytes_total", "Bytes received from clients"),
              sum(shared_, [](const auto& s) { return s.bytes_received.get(); }));
  add_counter(counter(out, "pgsteer_client_sent_bytes_total", "Bytes sent to clients"),
              sum(shared_, [](const auto& s) { return s.bytes_sent.get(); }));
  auto& routed = counter(out, "pgsteer_backend_routed_transactions_total",
                         "Transactions run on each backend, by route");
  for (std::size_t b = 0; b < cfg.backends.size() && b < max_counted_backends; ++b) {
    for (std::size_t r = 0; r < route_label_count; ++r) {
      add_counter(routed, sum(shared_, [&](const auto& s) { return s.routed[b][r].get(); }),
                  {{"backend", cfg.backends[b].name}, {"route", route_names[r]}});
    }
  }
}

void scrape_collector::collect_servers(std::vector<pm::MetricFamily>& out) const {
  const auto& cfg = shared_.cfg();
  // Summed over workers: each has its share of every pool.
  std::map<std::tuple<std::string, std::string, std::size_t>, pool_count> pools;
  for (const auto& p : pools_) {
    auto& total = pools[{p.database, p.user, p.backend}];
    total.idle += p.idle;
    total.active += p.active;
    total.waiting += p.waiting;
  }
  auto& servers =
      gauge(out, "pgsteer_server_connections", "Server connections now, by pool and state");
  auto& waiting =
      gauge(out, "pgsteer_pool_waiting_clients", "Clients queued in a pool for a server now");
  for (const auto& [key, p] : pools) {
    const auto& [database, user, backend] = key;
    const std::string backend_name =
        backend < cfg.backends.size() ? cfg.backends[backend].name : std::to_string(backend);
    auto l = [&](const char* state) -> labels {
      labels result{{"database", database}, {"user", user}, {"backend", backend_name}};
      if (state) result.push_back({"state", state});
      return result;
    };
    add_gauge(servers, static_cast<double>(p.idle), l("idle"));
    add_gauge(servers, static_cast<double>(p.active), l("active"));
    add_gauge(waiting, static_cast<double>(p.waiting), l(nullptr));
  }
}

void scrape_collector::collect_topology(std::vector<pm::MetricFamily>& out) const {
  const auto& cfg = shared_.cfg();
  auto& role = gauge(out, "pgsteer_backend_role", "1 for each backend's current role");
  auto& up = gauge(out, "pgsteer_backend_up", "1 when the backend answers health checks");
  auto& eligible = gauge(out, "pgsteer_backend_eligible_for_reads",
                         "1 when the backend is a replica within the lag limits");
  auto& lag_bytes = gauge(out, "pgsteer_backend_lag_bytes", "Replica lag behind the primary");
  auto& lag_seconds = gauge(out, "pgsteer_backend_lag_seconds",
                            "Seconds since the replica's last replayed transaction (0 when "
                            "caught up)");
  constexpr std::array<backend_role, 5> roles{backend_role::primary, backend_role::replica,
                                              backend_role::down, backend_role::fenced,
                                              backend_role::unknown};
  std::size_t fenced = 0;
  for (std::size_t b = 0; b < cfg.backends.size(); ++b) {
    const backend_state* state =
        snapshot_ && b < snapshot_->backends.size() ? &snapshot_->backends[b] : nullptr;
    const auto current = state ? state->role : backend_role::unknown;
    const std::string& name = cfg.backends[b].name;
    for (const auto r : roles) {
      add_gauge(role, current == r ? 1 : 0, {{"backend", name}, {"role", to_string(r)}});
    }
    const bool answers = current == backend_role::primary || current == backend_role::replica ||
                         current == backend_role::fenced;
    add_gauge(up, answers ? 1 : 0, {{"backend", name}});
    add_gauge(eligible, state && state->eligible_for_reads ? 1 : 0, {{"backend", name}});
    if (state && state->lag_bytes) {
      add_gauge(lag_bytes, static_cast<double>(*state->lag_bytes), {{"backend", name}});
    }
    if (state && state->lag_seconds)
      add_gauge(lag_seconds, *state->lag_seconds, {{"backend", name}});
    if (current == backend_role::fenced) ++fenced;
  }
  add_gauge(gauge(out, "pgsteer_primary_available", "1 when a primary is known and reachable"),
            snapshot_ && snapshot_->primary ? 1 : 0);
  add_gauge(gauge(out, "pgsteer_eligible_replicas", "Replicas eligible for reads"),
            snapshot_ ? static_cast<double>(snapshot_->readable.size()) : 0);
  add_gauge(gauge(out, "pgsteer_fenced_backends", "Backends fenced (split brain)"),
            static_cast<double>(fenced));
  add_counter(counter(out, "pgsteer_failovers_total", "Times the primary moved to another backend"),
              static_cast<double>(failovers_));
}

metrics::metrics(shared_state& shared) : shared_(shared) {
  for (const auto& db : shared_.cfg().databases) shared_.database_names.index_of(db.name);
}

void metrics::on_topology(const topology& snapshot) {
  if (!snapshot.primary) return;
  if (last_primary_ && *last_primary_ != *snapshot.primary) ++failovers_;
  last_primary_ = snapshot.primary;
}

awaitable<std::string> metrics::scrape(const topology* snapshot) {
  // Pools live on the workers: each is asked on its own thread and answers by posting back here,
  // so no worker waits for this thread nor this thread for a worker.
  const auto executor = co_await asio::this_coro::executor;
  // What the answers share holds no I/O object: a request stuck in a stopped worker's queue may
  // be destroyed with that worker, after the control io_context is gone.
  struct gathering {
    std::vector<pool_count> pools;
    std::size_t pending = 0;
    asio::steady_timer* done = nullptr;  // null once the scrape stopped waiting
  };
  auto g = std::make_shared<gathering>();
  asio::steady_timer done(executor, std::chrono::seconds(1));
  g->pending = shared_.workers.size();
  g->done = &done;
  for (worker_context* w : shared_.workers) {
    asio::post(w->context(), [w, g, executor]() mutable {
      auto counts = w->pool_counts();
      asio::post(executor, [g = std::move(g), counts = std::move(counts)]() mutable {
        if (!g->done) return;  // too late for this scrape
        g->pools.insert(g->pools.end(), std::make_move_iterator(counts.begin()),
                        std::make_move_iterator(counts.end()));
        if (--g->pending == 0) g->done->cancel();
      });
    });
  }
  if (g->pending > 0) co_await done.async_wait(use_tuple);
  g->done = nullptr;
  // The lifecycle counts reloads; whether the last one succeeded follows from which count grew.
  const auto succeeded = shared_.reloads_succeeded.load(std::memory_order_relaxed);
  const auto failed = shared_.reloads_failed.load(std::memory_order_relaxed);
  if (succeeded != reloads_succeeded_ && failed == reloads_failed_) last_reload_ok_ = true;
  if (failed != reloads_failed_ && succeeded == reloads_succeeded_) last_reload_ok_ = false;
  reloads_succeeded_ = succeeded;
  reloads_failed_ = failed;
  const scrape_collector collector(shared_, snapshot, std::move(g->pools), failovers_,
                                   last_reload_ok_);
  co_return pm::TextSerializer().Serialize(collector.Collect());
}

std::optional<double> certificate_not_after(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "r");
  if (!file) return std::nullopt;
  X509* cert = PEM_read_X509(file, nullptr, nullptr, nullptr);
  std::fclose(file);
  if (!cert) return std::nullopt;
  std::optional<double> result;
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1) {
    result = static_cast<double>(timegm(&tm));
  }
  X509_free(cert);
  return result;
}

}  // namespace pgsteer::proxy
