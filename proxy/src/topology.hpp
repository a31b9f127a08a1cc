// What pgsteer knows about its backends at one moment: who is primary, who is a replica and how
// far behind, who is down or fenced. The monitor (control thread) builds a new immutable snapshot
// whenever something changes and hands it to every worker; workers only read snapshots.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io.hpp"
#include "pgsteer/config/config.hpp"
#include "pgsteer/protocol/classifier.hpp"
#include "pgsteer/protocol/lsn.hpp"

namespace pgsteer::proxy {

class shared_state;

enum class backend_role : std::uint8_t {
  unknown,  // not asked yet (start-up)
  primary,  // not in recovery, and the writable backend
  replica,  // in recovery
  down,     // no answer within health.timeout, or the connection failed
  fenced,   // not in recovery but on a lower timeline than the primary: split brain, no traffic
};

const char* to_string(backend_role role);

struct backend_state {
  std::size_t index = 0;  // position in config.backends
  std::string name;
  std::string host;
  std::uint16_t port = 0;
  backend_role role = backend_role::unknown;
  std::uint32_t timeline = 0;
  // Primary: pg_current_wal_lsn(); replica: pg_last_wal_replay_lsn().
  protocol::lsn position{};
  // Replicas, when a primary is known: primary position - replay position, and seconds since
  // the last replayed transaction (0 when caught up).
  std::optional<std::uint64_t> lag_bytes;
  std::optional<double> lag_seconds;
  // A replica that is up and within routing.max_lag_bytes and routing.max_lag_seconds.
  bool eligible_for_reads = false;
  std::string last_error;  // why it is down or fenced
};

struct topology {
  std::uint64_t version = 0;            // grows with every published snapshot
  std::vector<backend_state> backends;  // the order of config.backends
  std::optional<std::size_t> primary;   // index of the writable backend, if any
  std::vector<std::size_t> readable;    // indexes of replicas eligible for reads
  // When this round's questions were sent: every position in it is at least that recent.
  steady_clock::time_point asked_at{};
  // The write functions for the classifier: the built-in list, routing.write_functions and the
  // names of the primary's VOLATILE functions (loaded once a primary is known, refreshed every
  // minute). Null until first loaded: shared_state::functions() applies then.
  std::shared_ptr<const protocol::function_policy> functions;
};

// Polls every backend each health.interval over one persistent connection per backend, logged
// in as health.user to the first configured database (pgsteer's own backend login,
// connect_server(), so SCRAM verifiers work), and publishes a new snapshot after every round, so
// lag values stay fresh. Everything runs on the control io_context, which must be single-threaded.
// The query and the rules: docs/decisions/0007-topology-monitor.md.
class topology_monitor {
 public:
  using publish_fn = std::function<void(std::shared_ptr<const topology>)>;

  topology_monitor(asio::io_context& control, shared_state& shared, publish_fn publish);
  // Stops (see stop()): destroy it on the control thread, or once that io_context has stopped.
  ~topology_monitor();
  topology_monitor(const topology_monitor&) = delete;
  topology_monitor& operator=(const topology_monitor&) = delete;

  // Starts polling on the control io_context; the first snapshot is published after the first
  // round (every backend answered or timed out).
  void start();
  // Stops polling and closes the connections (from the control thread). Safe during a round;
  // nothing is published afterwards. Coroutines still unwinding finish on the control io_context.
  void stop();
  // The last published snapshot (never null after the first round; control thread only).
  std::shared_ptr<const topology> current() const;
  // Asks for a round now instead of at the next health.interval: from any thread, posted to the
  // control thread, never blocks. `suspect` (a backend a worker just failed to log in to) is
  // asked over a fresh login, not the kept connection, which may outlive the server's taking new
  // ones (a smart shutdown). A round under way when the request arrives is followed by another
  // at once, since its answers may predate what the worker saw. However often this is called,
  // rounds start at least 20 ms apart.
  void poll_soon(std::optional<std::size_t> suspect = std::nullopt);

 private:
  struct impl;
  // Shared with the monitor's coroutines: stop() may come during a round, and the monitor may be
  // destroyed before the cancelled coroutines have unwound on the control io_context.
  std::shared_ptr<impl> impl_;
};

}  // namespace pgsteer::proxy
