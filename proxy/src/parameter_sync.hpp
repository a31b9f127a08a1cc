// A client's session parameters against the servers it uses, sans I/O: which settings a server
// must be given before the client's next request (as SQL), and what a server's ParameterStatus
// means for the client. The session runs the SQL and forwards the reports; this decides.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "pgsteer/protocol/session_state.hpp"

namespace pgsteer::proxy {

// PostgreSQL's parameter names ignore case (`datestyle` from PGDATESTYLE is `DateStyle`).
// Names are identifiers (ASCII letters, digits, `_`, `.`): folding is `| 0x20`.
int compare_parameter_names(std::string_view a, std::string_view b);
struct parameter_name_less {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const {
    return compare_parameter_names(a, b) < 0;
  }
};

// Session parameters by name, as a server reports them (ParameterStatus) or as pgsteer set them.
using parameter_map = std::map<std::string, std::string, parameter_name_less>;

// A server's parameters, with a canonical form that says in one comparison whether a client's
// settings already hold on it (parameter_sync::in_sync()). Every change goes through edit().
class server_parameters {
 public:
  parameter_map& edit() {
    dirty_ = true;
    return map_;
  }
  const parameter_map& get() const { return map_; }
  // "name=value\0" for each setting but the server properties, names in lower case, in the map's
  // order.
  const std::string& canonical() const;

 private:
  parameter_map map_;
  mutable std::string canonical_;
  mutable bool dirty_ = true;
};

// Parameters a server reports that describe the server, not the session: never synced. Names as
// the server spells them.
bool is_server_property(std::string_view parameter);

// Parameters the server reports in ParameterStatus when they change (GUC_REPORT in PostgreSQL
// 14 to 17): their changes reach pgsteer without reading the client's SQL.
bool is_reported_parameter(std::string_view parameter);

// An SQL string literal that reads the same whatever standard_conforming_strings is.
std::string quote_literal(std::string_view value);

class parameter_sync {
 public:
  // At login: a setting the client connected with (a startup parameter or one from `options`).
  void set(std::string_view name, std::string value) {
    values_[std::string(name)] = std::move(value);
    ++version_;
  }
  // The client's parameters now; at login, rewritten to the server's spelling of each value.
  parameter_map& values() {
    ++version_;
    return values_;
  }
  const parameter_map& values() const { return values_; }
  // The login is over: what the client holds now is what RESET returns it to.
  void login_done() { startup_ = values_; }

  // The SQL that makes a server holding `server` (updated to what it will hold) run with this
  // client's settings: the client's values, the pool's `defaults` for the rest, and a RESET of
  // settings another client left that this one never made. Empty when nothing differs.
  // `unchanged`, when given, collects the server's current value of each setting it is sent
  // again (at login: a value the server keeps is not reported anew, so this is its spelling).
  std::string sync(parameter_map& server, const parameter_map& defaults,
                   parameter_map* unchanged = nullptr) const;
  // Whether sync() would find nothing to change on `server`: one string comparison, which is
  // what most transactions need (a server that last ran a client with the same settings).
  bool in_sync(const server_parameters& server, const parameter_map& defaults) const {
    return server.canonical() == wanted(defaults);
  }

  // A server was reset (server_reset_query): it holds its defaults again.
  static void server_was_reset(parameter_map& server, const parameter_map& defaults);

  // The request the client sends may RESET settings (RESET, DISCARD ALL, SET ... TO DEFAULT):
  // what protocol::find_triggers() found in its SQL; cleared when its ReadyForQuery comes.
  void note_request(const protocol::sql_triggers& found) { may_reset_ |= found.resets; }
  void request_done() { may_reset_ = false; }

  // A ParameterStatus from the client's server; `forwarded`: it answers the client's own request
  // (else pgsteer's sync, swallowed). Returns the value the client must be told instead of the
  // server's (a RESET on a direct connection returns to the startup value, which this shared
  // server does not hold: the client gets it, and needs_resync() says the server does next).
  std::optional<std::string> on_parameter_status(const std::string& name, const std::string& value,
                                                 bool forwarded, const parameter_map& defaults);

  // The client's own SET, RESET and RESET ALL of parameters the server does not report, once the
  // request that carried them succeeded on `server` (session_pins.hpp reads them from its SQL).
  // Reported parameters are left to on_parameter_status(). A RESET returns the client to the
  // value it connected with, as on a direct connection: needs_resync() then says the server,
  // back at its own default, gets that value before the next request.
  void client_set(const std::string& name, std::string value, parameter_map& server);
  void client_reset(const std::string& name, parameter_map& server);
  void client_reset_all(parameter_map& server);
  // The client sent a SET of `name` whose outcome is not known yet: whatever `server` holds of it
  // is unknown until client_set() says, so another client's sync() sets or resets it again.
  static void mark_unknown(const std::string& name, parameter_map& server);
  static void mark_all_unknown(parameter_map& server);

  // pgsteer's own sync failed on a server: what it holds of this client's settings is unknown.
  void sync_failed(parameter_map& server);
  // The server's settings no longer match the client's: sync() before its next request.
  bool needs_resync() const { return resync_; }
  void resynced() { resync_ = false; }

  // The ParameterStatus set a client gets at login: the server's reported parameters, with the
  // client's values where it set them.
  parameter_map login_report(const parameter_map& reported) const;

  // A parked client's parameters in one string (parked_client.hpp): a few bytes per setting
  // instead of two map nodes, and empty when there is nothing to keep. unpack(pack()) is the
  // same state.
  std::string pack() const;
  static parameter_sync unpack(std::string_view packed);

 private:
  // The canonical form (server_parameters::canonical()) of what sync() makes a server hold:
  // the client's values, the defaults for the rest. Cached for a version of values_ and defaults.
  const std::string& wanted(const parameter_map& defaults) const;

  parameter_map values_;
  parameter_map startup_;
  std::uint64_t version_ = 1;  // changes with values_
  mutable std::uint64_t wanted_version_ = 0;
  mutable const parameter_map* wanted_defaults_ = nullptr;
  mutable std::string wanted_;
  bool may_reset_ = false;
  bool resync_ = false;
};

}  // namespace pgsteer::proxy
