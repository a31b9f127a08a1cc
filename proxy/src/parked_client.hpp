// A logged-in client that holds no server and has been quiet, in the smallest form that can take
// it back: its client_session and every coroutine frame of it ended when it parked (the worker's
// sweep, client_session::park_if_quiet). The parking_lot watches every parked socket of a worker
// through one epoll instance of its own; the client's next bytes (or its end of stream) rebuild a
// client_session from the parked state. Meanwhile the parked client answers the worker's registry
// itself: cancel requests, SHOW CLIENTS, KILL, a drain and clients.idle_timeout. Worker thread
// only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/posix/stream_descriptor.hpp>

#include "inspection.hpp"
#include "io.hpp"
#include "pgsteer/config/config.hpp"
#include "pgsteer/protocol/lsn.hpp"
#include "pgsteer/protocol/transaction_tracker.hpp"
#include "statement_map.hpp"
#include "worker_context.hpp"

namespace pgsteer::proxy {

class parking_lot;
class server_pool;
struct config_snapshot;

// What a client_session hands over when it parks and takes back when its client speaks: what
// must outlive the session, and no more. The socket is a bare descriptor: while parked it is not
// registered with Asio's reactor (no descriptor_state, no pending operation).
struct parked_state {
  // The session's configuration: `db` and `user` point into it (or `user` into shared_state's
  // auth_query users), and their names are the client's user and database.
  std::shared_ptr<const config_snapshot> config;
  const config::database* db = nullptr;
  const config::user* user = nullptr;
  server_pool* pool = nullptr;  // the pool it used last (where SHOW POOLS counts it)
  std::uint64_t id = 0;
  std::uint64_t requests_answered = 0;  // 0: the drain lets its first transaction run
  steady_clock::time_point connected_at{};
  steady_clock::time_point quiet_since{};  // for clients.idle_timeout
  system_time connected_wall{};            // for SHOW CLIENTS
  int fd = -1;
  std::int32_t process_id = 0;  // its BackendKeyData, and its key in the worker's registry
  std::int32_t secret_key = 0;
  std::uint32_t db_index = 0;  // its per-database counters (stats.hpp)
  protocol::pool_mode mode = protocol::pool_mode::transaction;
  bool v6 = false;
  bool looked_up = false;  // auth_query found its user
  bool tracks_writes = false;
  bool skip_until_sync = false;  // a failed request's batch is being skipped up to its Sync

  // What most idle clients do not have, in one allocation only when one of them is set.
  struct extras {
    std::string parameters;  // parameter_sync::pack()
    std::optional<statement_map> statements;
    std::optional<steady_clock::time_point> wrote_at;  // consistency: read_your_writes
    std::optional<protocol::lsn> must_see;
  };
  std::unique_ptr<extras> rest;
};

class parked_client final : public session_handle {
 public:
  parked_client(parking_lot& lot, parked_state state) : lot_(lot), state_(std::move(state)) {}
  parked_client(const parked_client&) = delete;
  parked_client& operator=(const parked_client&) = delete;
  ~parked_client() = default;

  std::int32_t secret_key() const override { return state_.secret_key; }
  // Nothing runs for a parked client: there is nothing to cancel.
  std::optional<cancel_target> cancel_target_now() const override { return std::nullopt; }
  // Sends `error` (the socket's send buffer is empty: the client is idle) and ends the client.
  void terminate(const protocol::error_fields& error, std::string reason) override;
  // A client that was answered before is between transactions: it ends now, with 57P01. One that
  // connected just before the drain stays parked, and its first transaction runs (as in
  // client_session::drain()).
  void drain() override;
  client_info describe() const override;
  const server_pool* pool() const override { return state_.pool; }
  const server_connection* server() const override { return nullptr; }
  // The sweep, once a second: clients.idle_timeout (FATAL 57P05) is checked on its clock.
  void park_if_quiet(steady_clock::time_point now) override;

  // clients.idle_timeout (0: none) has passed at `now` for a client quiet since `quiet_since`.
  static bool idle_too_long(steady_clock::duration idle_timeout,
                            steady_clock::time_point quiet_since, steady_clock::time_point now) {
    return idle_timeout.count() > 0 && now - quiet_since >= idle_timeout;
  }

 private:
  friend class parking_lot;
  // Ends the client: its counts and registry entry go, its socket closes, and it is destroyed.
  void finish(std::string_view reason);

  parking_lot& lot_;
  parked_client* prev_ = nullptr;  // the lot's list
  parked_client* next_ = nullptr;
  parked_state state_;
};

// One worker's parked clients: their sockets are in an epoll instance of the lot's own, which
// Asio watches as one descriptor. A parked socket that becomes readable (bytes, its end of stream,
// an error) wakes its client: a client_session is rebuilt from it and its relay runs again.
class parking_lot {
 public:
  // What wakes a client: a session rebuilt from its state (resume_client_session(), which only
  // the worker knows), given the socket back in Asio's reactor.
  using resume_function = void (*)(parked_state state, tcp::socket socket, worker_context& worker,
                                   parking_lot& lot);
  parking_lot(worker_context& worker, resume_function resume);
  ~parking_lot();
  parking_lot(const parking_lot&) = delete;
  parking_lot& operator=(const parking_lot&) = delete;

  // Takes a client whose session just parked. Its registry entry must already point to it.
  void park(std::unique_ptr<parked_client> client);
  worker_context& worker() { return worker_; }
  std::size_t size() const { return size_; }

 private:
  friend class parked_client;
  void watch();
  void wake_ready();
  void wake(parked_client& client);
  // Takes `client` off the list and out of the epoll instance.
  void remove(parked_client& client);

  worker_context& worker_;
  resume_function resume_;
  asio::posix::stream_descriptor events_;
  parked_client* first_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace pgsteer::proxy
