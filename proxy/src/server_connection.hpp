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

#include "parameter_sync.hpp"
#include "pg_stream.hpp"
#include "pgsteer/config/config.hpp"
#include "pgsteer/protocol/error_response.hpp"
#include "pgsteer/protocol/reply_filter.hpp"
#include "pgsteer/protocol/transaction_tracker.hpp"
#include "statement_registry.hpp"

namespace pgsteer::proxy {

class shared_state;
struct config_snapshot;

class server_connection {
 public:
  server_connection(tcp::socket socket, const config::backend& backend, std::uint64_t id);

  pg_stream socket;  // TCP, or TLS per tls.server.mode
  byte_buffer input;
  protocol::transaction_tracker tracker;
  protocol::reply_filter replies;
  server_parameters parameters;  // change them through edit()
  server_statements statements;  // prepared statements (by registry id) this server holds
  std::int32_t process_id = 0;   // the backend's BackendKeyData, for cancel requests
  std::int32_t secret_key = 0;
  bool in_hot_standby = false;
  bool needs_reset = false;       // session pooling: run server_reset_query before the next client
  bool stale_statements = false;  // a cached plan went stale: DEALLOCATE ALL before next use
  bool discard_on_release = false;  // its session state is unknown: close, do not pool

  const config::backend& backend() const { return backend_; }
  std::uint64_t id() const { return id_; }
  steady_clock::time_point created() const { return created_; }
  steady_clock::time_point idle_since;

 private:
  config::backend backend_;  // a copy: it outlives any configuration snapshot
  std::uint64_t id_;
  steady_clock::time_point created_;
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

}  // namespace pgsteer::proxy
