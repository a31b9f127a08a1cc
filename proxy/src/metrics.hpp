// /metrics: every metric family pgsteer exposes, declared here and built at scrape time from the
// per-worker statistics (stats.hpp, summed with relaxed reads), the pools (asked of each worker),
// the monitor's topology snapshot and the lifecycle counters. docs/metrics.md lists them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "io.hpp"
#include "worker_context.hpp"

namespace pgsteer::proxy {

class shared_state;
struct topology;

// What one scrape reports: a Collectable over values gathered just before (control thread).
class scrape_collector final : public prometheus::Collectable {
 public:
  scrape_collector(const shared_state& shared, const topology* snapshot,
                   std::vector<pool_count> pools, std::uint64_t failovers, bool last_reload_ok);
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  void collect_clients(std::vector<prometheus::MetricFamily>& out) const;
  void collect_traffic(std::vector<prometheus::MetricFamily>& out) const;
  void collect_servers(std::vector<prometheus::MetricFamily>& out) const;
  void collect_topology(std::vector<prometheus::MetricFamily>& out) const;
  void collect_process(std::vector<prometheus::MetricFamily>& out) const;

  const shared_state& shared_;
  const topology* snapshot_;
  std::vector<pool_count> pools_;
  std::uint64_t failovers_;
  bool last_reload_ok_;
};

// Owns what metrics remember between scrapes (failovers) and serves /metrics. Control thread only.
class metrics {
 public:
  // Registers the configured databases, so their counters show (as 0) before any client.
  explicit metrics(shared_state& shared);

  // Every snapshot the monitor publishes: a failover is the primary moving to another backend
  // (a gap with no primary in between does not matter).
  void on_topology(const topology& snapshot);
  // The exposition text: asks every worker for its pools (without blocking any; a worker that
  // does not answer within a second is left out of the server connection counts).
  awaitable<std::string> scrape(const topology* snapshot);

 private:
  shared_state& shared_;
  std::optional<std::size_t> last_primary_;
  std::uint64_t failovers_ = 0;
  // Reload counts at the last scrape (shared_state has the counts, not the last outcome).
  std::uint64_t reloads_succeeded_ = 0;
  std::uint64_t reloads_failed_ = 0;
  bool last_reload_ok_ = true;
};

// The notAfter of the PEM certificate in `path` as Unix time, or nothing if it cannot be read.
std::optional<double> certificate_not_after(const std::string& path);

}  // namespace pgsteer::proxy
