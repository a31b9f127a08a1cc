// One worker's share of the server connections for one (database, user, backend): idle servers,
// clients waiting for one, and the count that never exceeds the share. Worker-local: no locks. A
// server's state is the list that holds it: idle here, leased by a session, or closed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "io.hpp"
#include "pgsteer/config/config.hpp"
#include "pgsteer/protocol/backend_going_away.hpp"
#include "server_connection.hpp"

namespace pgsteer::proxy {

class shared_state;
struct config_snapshot;

struct acquire_result {
  std::unique_ptr<server_connection> server;
  // When server is null. Nothing was sent for the client then: protocol::is_backend_going_away()
  // tells a backend going away (worth waiting for the topology) from a login that is wrong.
  protocol::error_fields error;
};

class server_pool {
 public:
  // Called when a login to the backend fails because it is going away
  // (protocol::is_backend_going_away), with the reason.
  using going_away_fn = std::function<void(const protocol::error_fields&)>;

  // `config` gives the pool's settings and its backend login; `db` and `user` are copied.
  server_pool(asio::any_io_executor executor, shared_state& shared,
              std::shared_ptr<const config_snapshot> config, const config::database& db,
              const config::user& user, std::size_t backend, std::size_t share,
              going_away_fn on_going_away = {});
  ~server_pool();

  // An idle server, a new one while under the share, or the first one released within
  // pool.query_wait_timeout; otherwise an error for the client.
  awaitable<acquire_result> acquire();
  // The idle server acquire() would hand out first, without waiting: null when none is idle (or
  // none of the idle ones may be reused). The way most transactions get their server.
  std::unique_ptr<server_connection> take_idle();
  // Back to the pool: to the longest-waiting client, or to the idle list. Servers that cannot be
  // reused (desynchronized, past their lifetime) are closed instead.
  void release(std::unique_ptr<server_connection> server);
  // Closes a server that must not be reused and frees its place; logs why.
  void discard(std::unique_ptr<server_connection> server, std::string_view why);
  // Closes idle servers past server_idle_timeout or server_lifetime (keeping min_idle), opens
  // servers up to min_idle. Called by the worker about once a second.
  void sweep();
  // A reload: the pool follows its database and user in `config` (size, timeouts, backend
  // login); `share` is its new share of the size. A smaller share closes idle servers now and
  // leased ones as they come back; a larger one lets waiting clients open servers. A pool whose
  // database or user is gone from `config` keeps its old settings (its sessions end at their
  // next transaction boundary, see client_session::adopt_latest_config).
  void reconfigure(std::shared_ptr<const config_snapshot> config, std::size_t share);

  // The session parameters of the first server this pool logged in to: what a client is told
  // at login, and what a server returns to when a client changed nothing.
  const parameter_map& defaults() const { return defaults_; }
  bool has_defaults() const { return has_defaults_; }
  // Everything that first server reported, server properties included: a client's login set.
  const parameter_map& login_parameters() const { return login_parameters_; }
  // How a server spells a client's startup setting (DateStyle "SQL,DMY" is "SQL, DMY"), once a
  // server accepted it for some client of this pool; null until then.
  const std::string* canonical(const std::string& name, const std::string& value) const;
  void learn_canonical(const std::string& name, const std::string& value, std::string canonical);

  const config::database& database() const { return db_; }
  const config::user& user() const { return user_; }
  std::size_t backend_index() const { return backend_index_; }
  // Servers leased to clients right now (the load the router balances).
  std::size_t leased() const { return open_ - idle_.size(); }
  // The backend went down, was fenced or stopped being the primary: idle servers are closed
  // now, leased ones when they come back. `false` when it serves again.
  void retire(bool retired, const char* why);
  std::size_t open() const { return open_; }
  std::size_t idle() const { return idle_.size(); }
  std::size_t waiting() const { return waiters_.size(); }
  // For SHOW SERVERS: the idle servers, most recently used last.
  const std::vector<std::unique_ptr<server_connection>>& idle_servers() const { return idle_; }
  // Closes every idle server now (KILL, retire).
  void close_idle(const char* why);

 private:
  struct waiter {
    explicit waiter(asio::any_io_executor ex) : timer(ex) {}
    asio::steady_timer timer;
    std::unique_ptr<server_connection> server;
    bool may_connect = false;  // a place became free: the waiter opens a server itself
    bool queued = false;       // in waiters_; the one that serves it takes it out
    std::list<waiter*>::iterator place;
  };

  awaitable<acquire_result> connect();
  bool expired(const server_connection& server, steady_clock::time_point now) const;
  // Gives a free place to the first waiter, if any; returns whether one took it.
  bool hand_place_to_waiter();
  // Takes the longest-waiting client out of the queue (which must not be empty), in O(1): with
  // hundreds of clients queued for a small pool, every release serves one.
  waiter& take_first_waiter();

  asio::any_io_executor executor_;
  shared_state& shared_;
  going_away_fn on_going_away_;
  std::shared_ptr<const config_snapshot> config_;
  // Copies (updated by reconfigure()): a pool may outlive the snapshot its session logged in with.
  config::database db_;
  config::user user_;
  config::backend backend_;
  std::size_t backend_index_;
  std::size_t share_;
  std::size_t min_idle_;
  std::size_t open_ = 0;                                  // idle + leased + connecting
  std::size_t opening_for_min_idle_ = 0;                  // connecting on sweep()'s behalf
  std::vector<std::unique_ptr<server_connection>> idle_;  // most recently used last
  std::list<waiter*> waiters_;                            // not yet served, longest-waiting first
  parameter_map defaults_;
  parameter_map login_parameters_;
  std::map<std::pair<std::string, std::string>, std::string> canonical_;
  bool has_defaults_ = false;
  bool retired_ = false;
  // Servers opened before this (a reload changed the dbname) are closed when released.
  steady_clock::time_point stale_before_{};
};

}  // namespace pgsteer::proxy
