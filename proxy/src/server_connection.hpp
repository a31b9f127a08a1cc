// One authenticated connection from pgsteer to a PostgreSQL backend, and what pgsteer must know
// about it to share it between clients: where its conversation stands (tracker, replies), the
// parameters it runs with, and the prepared statements it holds. Owned by one worker's pool, or
// by the client session that leased it.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "pg_stream.hpp"
#include "pgsteer/config/config.hpp"
#include "pgsteer/protocol/error_response.hpp"
#include "pgsteer/protocol/reply_filter.hpp"
#include "pgsteer/protocol/transaction_tracker.hpp"

namespace pgsteer::proxy {

class shared_state;
struct config_snapshot;

// Session parameters by name, as the server reports them (ParameterStatus) or as pgsteer set
// them.
using parameter_map = std::map<std::string, std::string, std::less<>>;

class server_connection {
 public:
  server_connection(tcp::socket socket, const config::backend& backend, std::uint64_t id);

  pg_stream socket;  // TCP, or TLS per tls.server.mode
  byte_buffer input;
  protocol::transaction_tracker tracker;
  protocol::reply_filter replies;
  parameter_map parameters;
  std::int32_t process_id = 0;  // the backend's BackendKeyData, for cancel requests
  std::int32_t secret_key = 0;
  bool in_hot_standby = false;
  bool needs_reset = false;       // session pooling: run server_reset_query before the next client
  bool stale_statements = false;  // a cached plan went stale: DEALLOCATE ALL before next use
  bool discard_on_release = false;  // its session state is unknown: close, do not pool

  const config::backend& backend() const { return backend_; }
  std::uint64_t id() const { return id_; }
  steady_clock::time_point created() const { return created_; }
  steady_clock::time_point idle_since;

  // Prepared statements (by pgsteer's id) this server holds, least recently used first.
  bool has_statement(std::uint64_t statement) const { return lru_index_.count(statement) != 0; }
  void touch_statement(std::uint64_t statement);
  // Records a statement; returns the one to close first when the cache is full (0: none).
  std::uint64_t add_statement(std::uint64_t statement, std::size_t capacity);
  void forget_statement(std::uint64_t statement);
  void forget_all_statements();
  std::size_t statement_count() const { return lru_.size(); }

 private:
  config::backend backend_;  // a copy: it outlives any configuration snapshot
  std::uint64_t id_;
  steady_clock::time_point created_;
  std::list<std::uint64_t> lru_;
  std::unordered_map<std::uint64_t, std::list<std::uint64_t>::iterator> lru_index_;
};

// Why a login failed: the server's own error (to pass on to the client) or pgsteer's.
struct login_result {
  std::unique_ptr<server_connection> connection;
  protocol::error_fields error;  // set when connection is null
};

// Connects to `backend` and logs in as `user` to `dbname`: TCP, StartupMessage, the
// authentication the server asks for (SCRAM-SHA-256, md5, cleartext), then every ParameterStatus
// up to the first ReadyForQuery. Bounded by pool.server_connect_timeout.
// `application_name`, when not empty, is sent in the StartupMessage (what pg_stat_activity shows).
// `config` (held for the whole login) gives the user's secrets and the timeout; `backend` must
// outlive the call.
awaitable<login_result> connect_server(shared_state& shared,
                                       std::shared_ptr<const config_snapshot> config,
                                       const config::backend& backend, const std::string& dbname,
                                       const std::string& user, std::uint64_t id,
                                       const std::string& application_name = {});

// Parameters a server reports that describe the server, not the session: never synced.
bool is_server_property(std::string_view parameter);

}  // namespace pgsteer::proxy
