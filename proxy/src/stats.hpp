// Per-worker statistics. Every value has one writer, its worker's thread, and is read by the
// control thread (metrics, admin console) at any time: relaxed atomics, summed over workers on
// read. Objects with a life of their own (sessions, pools, servers) are not counted here; readers
// ask the worker for them (worker::inspect).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace pgsteer::proxy {

// A value with one writer: add/sub are a load and a store, not a locked read-modify-write.
class stat_counter {
 public:
  void add(std::uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void sub(std::uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  }
  std::uint64_t get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// Durations in seconds, in fixed buckets (upper bounds); Prometheus's cumulative form is made on
// read.
class stat_histogram {
 public:
  static constexpr std::array<double, 16> bounds{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                 0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                                 1,      2.5,     5,      10};
  void observe(double seconds) {
    std::size_t i = 0;
    while (i < bounds.size() && seconds > bounds[i]) ++i;
    buckets_[i].add();  // the last bucket is +Inf
    sum_us_.add(static_cast<std::uint64_t>(seconds * 1e6));
  }
  std::uint64_t bucket(std::size_t i) const { return buckets_[i].get(); }
  std::uint64_t count() const {
    std::uint64_t n = 0;
    for (const auto& b : buckets_) n += b.get();
    return n;
  }
  double sum_seconds() const { return static_cast<double>(sum_us_.get()) / 1e6; }

 private:
  std::array<stat_counter, bounds.size() + 1> buckets_;
  stat_counter sum_us_;
};

enum class route_label : std::uint8_t { primary = 0, replica = 1 };
constexpr std::size_t route_label_count = 2;

// The SQLSTATE class (first two characters, [0-9A-Z]) as an index, for errors by class.
constexpr std::size_t sqlstate_class_count = 36 * 36;
inline std::size_t sqlstate_class_index(std::string_view code) {
  auto digit = [](char c) -> std::size_t {
    if (c >= '0' && c <= '9') return static_cast<std::size_t>(c - '0');
    if (c >= 'A' && c <= 'Z') return static_cast<std::size_t>(c - 'A' + 10);
    return 0;
  };
  if (code.size() < 2) return 0;
  return digit(code[0]) * 36 + digit(code[1]);
}

// Backends are counted by their index in config.backends, up to this many.
constexpr std::size_t max_counted_backends = 64;
// Databases likewise, by an index from stat_database_names.
constexpr std::size_t max_counted_databases = 64;

// The database names behind the per-database counters. A name keeps its index for the life of
// the process, so a reload that adds, removes or reorders databases never moves counts from one
// name to another. Asked once per client login (a lock), never per request.
class stat_database_names {
 public:
  // The index counting `name`; max_counted_databases (not counted) once the table is full.
  std::size_t index_of(std::string_view name) {
    const std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < names_.size(); ++i) {
      if (names_[i] == name) return i;
    }
    if (names_.size() == max_counted_databases) return max_counted_databases;
    names_.emplace_back(name);
    return names_.size() - 1;
  }
  // Every name with an index, in index order.
  std::vector<std::string> names() const {
    const std::lock_guard lock(mutex_);
    return names_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> names_;
};

// Kinds of session state that pin a client to its server (protocol::session_effect_kind up to
// sets_unknown; session_pins.hpp), counted by kind.
constexpr std::size_t pin_kind_count = 7;

struct worker_stats {
  // Client connections now, by state (gauges): logging in; idle (no server and not waiting);
  // waiting for a server; active (holding a server).
  stat_counter clients_login, clients_idle, clients_waiting, clients_active;
  stat_counter client_connections_total;  // accepted
  // Clients pinned to their server by session state now (gauge), and pins begun by kind.
  stat_counter clients_pinned;
  std::array<stat_counter, pin_kind_count> pins_total;
  stat_counter auth_failures_total;
  stat_counter tls_handshakes_total;          // completed (successful)
  stat_counter tls_handshake_failures_total;  // started and failed
  // By route_label: transactions (xact_count) and statements (query_count) relayed.
  std::array<stat_counter, route_label_count> transactions_total;
  std::array<stat_counter, route_label_count> queries_total;
  // The same by database (index from stat_database_names) and route.
  std::array<std::array<stat_counter, route_label_count>, max_counted_databases>
      transactions_by_database, queries_by_database;
  stat_counter bytes_received;  // from clients
  stat_counter bytes_sent;      // to clients
  // PgBouncer's SHOW STATS sums, in microseconds.
  stat_counter transaction_time_us, query_time_us, wait_time_us;
  stat_histogram pool_wait_seconds;       // from wanting a server to holding one
  stat_histogram query_duration_seconds;  // from a request to its ReadyForQuery
  std::array<stat_counter, sqlstate_class_count> errors_by_class;  // ErrorResponses to clients
  // Transactions routed to each backend (SHOW BACKENDS, metrics), by the route they took.
  std::array<std::array<stat_counter, route_label_count>, max_counted_backends> routed;
};

}  // namespace pgsteer::proxy
