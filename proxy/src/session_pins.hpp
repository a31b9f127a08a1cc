// A client's session state on a shared server, sans I/O (transaction and statement pooling).
// State that lives on the server connection (a temporary table, a session advisory lock, a
// cursor WITH HOLD, LISTEN, an SQL-level PREPARE, a role, a setting pgsteer cannot replay) pins
// the client to its server until the client ends it; a session SET or RESET of a parameter the
// server does not report is handed to parameter_sync, which replays it on the next server.
// docs/decisions/0018-session-state.md says why each kind is treated so.
//
// The session feeds it the effects of each request it sends (protocol/session_state.hpp) and the
// replies the client gets; it says whether the server may go back to the pool.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "parameter_sync.hpp"
#include "pgsteer/protocol/session_state.hpp"

namespace pgsteer::proxy {

class session_pins {
 public:
  // The kinds that pin, as bits of on_sent()'s answer (1 << kind).
  static constexpr std::size_t kind_count =
      static_cast<std::size_t>(protocol::session_effect_kind::sets_unknown) + 1;

  // The client sent a request whose SQL has these effects, to `server`. State it creates pins at
  // once: a statement that turns out to fail pins too, which costs only pooling. Settings, and
  // what ends state, wait for the request's outcome; what `server` holds of those settings is
  // unknown until then. Returns the kinds of state newly held (bits), for the metrics.
  std::uint32_t on_sent(const std::vector<protocol::session_effect>& effects,
                        parameter_map& server);

  // What the client is told about the request. Anything that waits is dropped when the
  // transaction it ran in saw an error or a ROLLBACK (of a savepoint, too: erring towards
  // keeping the pin, never towards sharing state).
  void on_error() { failed_ |= waiting(); }
  void on_command_complete(std::string_view tag) {
    if (waiting() && tag == "ROLLBACK") failed_ = true;
  }
  // A ReadyForQuery for the client: at 'I' (outside a transaction block) what waited takes
  // effect on `params` and `server`.
  void on_ready(char status, parameter_sync& params, parameter_map& server);

  bool pinned() const { return !held_.empty(); }
  bool waiting() const { return !pending_.empty(); }
  // The kinds held, for SHOW CLIENTS: "listen,temp", empty when not pinned.
  std::string labels() const;
  // The server is gone, and its state with it.
  void forget() {
    held_.clear();
    pending_.clear();
    failed_ = false;
  }

 private:
  void hold(protocol::session_effect_kind kind, const std::string& name);
  // Drops what `kind` holds of `name` (empty: all of that kind).
  void release(protocol::session_effect_kind kind, const std::string& name);
  void apply(const protocol::session_effect& effect, parameter_sync& params, parameter_map& server);

  std::vector<protocol::session_effect> held_;     // kinds that pin, with their names
  std::vector<protocol::session_effect> pending_;  // sent, waiting for their outcome
  bool failed_ = false;
};

}  // namespace pgsteer::proxy
