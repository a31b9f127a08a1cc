// What the sessions, the admin console and auth_query use of the worker they run on: its
// io_context, configuration snapshot, share of every pool, topology snapshot, pause state,
// statement registry, session registry (cancel requests, SHOW CLIENTS, KILL) and statistics.
// The worker (worker.hpp) adds the thread and the acceptors; nothing here knows a session but
// through session_handle, so nothing below the worker includes it. Nothing here is touched by
// another thread except through post().
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <variant>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "inspection.hpp"
#include "io.hpp"
#include "pgsteer/protocol/error_response.hpp"
#include "pgsteer/protocol/messages.hpp"
#include "router.hpp"
#include "server_pool.hpp"
#include "statement_registry.hpp"
#include "stats.hpp"
#include "topology.hpp"

namespace pgsteer::proxy {

class shared_state;
struct config_snapshot;

// Where a cancel request for a session must go right now.
struct cancel_target {
  std::string host;
  std::uint16_t port = 0;
  std::int32_t process_id = 0;
  std::int32_t secret_key = 0;
};

// A client session as its worker's registry sees it (client_session implements it): what SHOW
// CLIENTS, KILL, cancel requests and a drain ask of a session. Worker thread only.
class session_handle {
 public:
  virtual std::int32_t secret_key() const = 0;
  // The backend serving this client at this moment, if any.
  virtual std::optional<cancel_target> cancel_target_now() const = 0;
  // Ends the session (shutdown, KILL): the client gets `error` before the connection closes, and
  // the server it holds is closed, not pooled.
  virtual void terminate(const protocol::error_fields& error, std::string reason) = 0;
  // The worker drains: the session ends with 57P01 now if it is between transactions, else at
  // the end of the transaction it is in.
  virtual void drain() = 0;
  virtual client_info describe() const = 0;
  virtual const server_pool* pool() const = 0;
  virtual const server_connection* server() const = 0;
  // The worker's sweep: a session quiet long enough may give up what it holds while it waits.
  virtual void park_if_quiet(steady_clock::time_point now) = 0;

 protected:
  ~session_handle() = default;
};

// One pool's server connections on one worker at one moment (worker_context::pool_counts()).
struct pool_count {
  std::string database, user;
  std::size_t backend = 0;  // index in config.backends
  std::size_t idle = 0;
  std::size_t active = 0;   // leased to clients, or connecting for one
  std::size_t waiting = 0;  // clients queued for a server
};

class worker_context {
 public:
  worker_context(shared_state& shared, std::uint32_t index);
  worker_context(const worker_context&) = delete;
  worker_context& operator=(const worker_context&) = delete;

  // stop() was called: no new transaction starts on this worker (worker thread only).
  bool draining() const { return stopping_; }

  // This worker's configuration (worker thread only): replaced whole by set_config(), so a
  // reference taken from it is valid until the next co_await. Sessions keep their own snapshot.
  const config_snapshot& config() const { return *config_; }
  const std::shared_ptr<const config_snapshot>& config_ptr() const { return config_; }
  // A reloaded configuration (from the control thread, posted): pools take their new sizes;
  // sessions move to it at their next transaction boundary.
  void set_config(std::shared_ptr<const config_snapshot> snapshot);

  shared_state& shared() { return shared_; }
  std::uint32_t index() const { return index_; }
  asio::io_context& context() { return context_; }
  // Written only on this worker's thread; read from any thread (stats.hpp).
  worker_stats& stats() { return stats_; }
  const worker_stats& stats() const { return stats_; }

  // Every pool of this worker now (on this worker's thread only: post to it from elsewhere).
  std::vector<pool_count> pool_counts() const;

  // This worker's share of the pool for (database, user) on one backend.
  server_pool& pool(const config::database& db, const config::user& user, std::size_t backend);

  // The backend a transaction for `want` runs on now, or the error its client gets. With no
  // primary (failover under way, or the topology not known yet) it waits up to
  // failover.wait_timeout for one; a read with no eligible replica and no fallback fails at once.
  awaitable<std::variant<std::size_t, protocol::error_fields>> choose_backend(
      const config::database& db, const config::user& user, target want,
      const std::vector<std::size_t>& excluded = {},
      std::optional<protocol::lsn> must_see = std::nullopt);
  // The same choice when the topology gives one now (the usual case, and no coroutine for it);
  // nothing when choose_backend() would wait or fail.
  std::optional<std::size_t> choose_backend_now(const config::database& db,
                                                const config::user& user, target want,
                                                const std::vector<std::size_t>& excluded,
                                                std::optional<protocol::lsn> must_see);
  // A login to `backend` failed because it is going away (protocol::is_backend_going_away), so
  // nothing of a transaction ran: no new transaction of this worker goes there until a topology
  // snapshot asked after now arrives, and the monitor is asked for one at once (posted).
  void mark_suspect(std::size_t backend, const protocol::error_fields& why);
  bool suspect(std::size_t backend) const { return suspects_.count(backend) != 0; }
  // Waits until a topology snapshot newer than `version` arrives, or until `deadline`.
  awaitable<void> wait_for_topology_after(std::uint64_t version, steady_clock::time_point deadline);
  // A new topology snapshot (from the control thread, posted): wakes clients waiting for a
  // primary and closes idle servers on backends that can no longer serve their role.
  void set_topology(std::shared_ptr<const topology> snapshot);
  const topology* current_topology() const { return topology_.get(); }

  // Named prepared statements in transaction pooling, shared by this worker's sessions.
  statement_registry& statements() { return statements_; }

  // Client sessions by the process id pgsteer gave them (BackendKeyData), for CancelRequest.
  // The worker index is in the top bits, so any worker can route a cancel to the right one.
  // Every session, registered or still starting up, counts itself here while it runs.
  void session_started() { ++active_sessions_; }
  void session_ended() { --active_sessions_; }
  std::int32_t register_session(session_handle& session);
  void unregister_session(std::int32_t process_id);
  // The client of `process_id` parked or woke up: another object answers for it now.
  void replace_session(std::int32_t process_id, session_handle& session) {
    sessions_[process_id] = &session;
  }
  // Runs on any thread: forwards the cancel to the worker that owns `process_id`.
  static void route_cancel(shared_state& shared, std::int32_t process_id, std::int32_t secret_key);

  // For the admin console, on this worker's thread (the console posts here from its own worker).
  // A copy of what lives here now: sessions, servers, pools.
  worker_inspection inspect() const;
  // Servers of `database`'s pools (every database when empty) leased or being connected.
  std::size_t busy_servers(const std::string& database) const;
  // PAUSE/RESUME: while a database is paused, a client starting a transaction waits (see
  // client_session::attach_server) until it is resumed. Empty: every database.
  void pause(const std::string& database);
  void resume(const std::string& database);
  bool paused(const std::string& database) const {
    return all_paused_ || paused_databases_.count(database) != 0;
  }
  bool all_paused() const { return all_paused_; }
  // Returns at the next RESUME, KILL or stop (the caller checks whether it still has to wait).
  awaitable<void> wait_for_resume();
  // KILL: ends every session of `database` with `error` and closes its pools' idle servers.
  // Returns how many sessions were ended.
  std::size_t kill(const std::string& database, const protocol::error_fields& error);

 protected:
  ~worker_context() = default;
  void cancel(std::int32_t process_id, std::int32_t secret_key);
  // The sweep's look at every registered session (session_handle::park_if_quiet()).
  void park_quiet_sessions();
  void shutdown_sessions();
  // This worker's share of the pool size `cfg` gives `db` (the shares of all workers add up).
  std::size_t share_of(const config::config& cfg, const config::database& db) const;
  void wake_paused();

  shared_state& shared_;
  std::uint32_t index_;
  // One thread runs it and owns every socket on it (other threads only post): no locking of
  // per-socket I/O state.
  asio::io_context context_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  std::map<std::tuple<std::string, std::string, std::size_t>, std::unique_ptr<server_pool>> pools_;
  std::shared_ptr<const config_snapshot> config_;
  std::shared_ptr<const topology> topology_;
  std::list<asio::steady_timer*> topology_waiters_;
  // Suspect backends (mark_suspect) and when each was marked.
  std::map<std::size_t, steady_clock::time_point> suspects_;
  bool all_paused_ = false;
  std::set<std::string> paused_databases_;
  std::list<asio::steady_timer*> pause_waiters_;
  std::mt19937_64 random_;
  statement_registry statements_;
  std::unordered_map<std::int32_t, session_handle*> sessions_;
  std::uint32_t next_session_ = 1;
  bool stopping_ = false;
  std::size_t active_sessions_ = 0;
  worker_stats stats_;
};

}  // namespace pgsteer::proxy
