// The admin console: what a client connected to the virtual database `pgsteer` as an admin user
// talks to once client_session has authenticated it. Simple Query only; PgBouncer's commands
// (protocol/admin_command.hpp), answered from every worker's inspection and statistics (asked by
// posting to each worker, never blocking one) and the topology snapshot. Runs on the worker that
// accepted the client, inside that client_session's coroutine frame.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admin_results.hpp"
#include "io.hpp"
#include "pg_stream.hpp"
#include "pgsteer/config/config.hpp"
#include "pgsteer/protocol/admin_command.hpp"
#include "pgsteer/protocol/error_response.hpp"

namespace pgsteer::proxy {

class worker_context;
class shared_state;

class admin_console {
 public:
  static constexpr std::string_view database_name = "pgsteer";

  // Why `user` may not use the console (FATAL 42501), or nothing when it may.
  static std::optional<protocol::error_fields> refusal(const config::config& cfg,
                                                       const std::string& user);

  // Uses the session's socket and input buffer (which may already hold the client's first
  // messages); both outlive the console.
  admin_console(worker_context& owner, pg_stream& client, byte_buffer& input, std::string user);

  // Finishes the login (ParameterStatus, BackendKeyData, ReadyForQuery) and answers commands
  // until the client leaves or terminate() is called.
  awaitable<void> serve(std::int32_t process_id, std::int32_t secret_key);
  // Shutdown: the client gets `error`, then the connection closes (from the worker's thread).
  void terminate(const protocol::error_fields& error);
  const std::string& close_reason() const { return close_reason_; }

 private:
  // Runs one command; appends its result or its error to out_.
  awaitable<void> run(const protocol::admin_command& command);
  awaitable<void> pause(const std::string& database);
  void send_result(const admin_result& result);
  void send_error(std::string_view code, std::string message, std::string detail = {},
                  std::string hint = {});
  void send_complete(std::string_view tag);
  // An error for a database name PAUSE, RESUME or KILL cannot use; nothing when it can.
  bool refuse_database(const std::string& database, std::string_view verb);
  void close(std::string reason);
  // The configuration in use on this worker: the one place the console reads it.
  const config::config& cfg() const;

  worker_context& worker_;
  shared_state& shared_;
  pg_stream& client_;
  byte_buffer& input_;
  std::string user_;
  std::string out_;
  std::optional<protocol::error_fields> terminated_;
  bool closing_ = false;
  std::string close_reason_;
};

}  // namespace pgsteer::proxy
