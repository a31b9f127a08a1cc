// A client's session parameters against the servers it uses, sans I/O: which settings a server
// must be given before the client's next request (as SQL), and what a server's ParameterStatus
// means for the client. The session runs the SQL and forwards the reports; this decides.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

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

// Parameters a server reports that describe the server, not the session: never synced. Names as
// the server spells them.
bool is_server_property(std::string_view parameter);

// An SQL string literal that reads the same whatever standard_conforming_strings is.
std::string quote_literal(std::string_view value);

class parameter_sync {
 public:
  // At login: a setting the client connected with (a startup parameter or one from `options`).
  void set(std::string_view name, std::string value) {
    values_[std::string(name)] = std::move(value);
  }
  // The client's parameters now; at login, rewritten to the server's spelling of each value.
  parameter_map& values() { return values_; }
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

  // A server was reset (server_reset_query): it holds its defaults again.
  static void server_was_reset(parameter_map& server, const parameter_map& defaults);

  // The request the client sends may RESET settings (RESET, DISCARD ALL, SET ... TO DEFAULT):
  // looked for in its SQL; cleared when its ReadyForQuery comes.
  void note_request(std::string_view sql);
  void request_done() { may_reset_ = false; }

  // A ParameterStatus from the client's server; `forwarded`: it answers the client's own request
  // (else pgsteer's sync, swallowed). Returns the value the client must be told instead of the
  // server's (a RESET on a direct connection returns to the startup value, which this shared
  // server does not hold: the client gets it, and needs_resync() says the server does next).
  std::optional<std::string> on_parameter_status(const std::string& name, const std::string& value,
                                                 bool forwarded, const parameter_map& defaults);

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
  parameter_map values_;
  parameter_map startup_;
  bool may_reset_ = false;
  bool resync_ = false;
};

}  // namespace pgsteer::proxy
