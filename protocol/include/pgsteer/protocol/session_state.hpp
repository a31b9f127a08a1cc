// What a query string does to the state of the server session that runs it, beyond its
// transaction: temporary objects, session advisory locks, cursors WITH HOLD, LISTEN, SQL-level
// prepared statements, roles and session settings. In transaction and statement pooling that
// state belongs to a server connection that other clients share, so the proxy pins the client to
// its server while such state exists, or replays a setting on the next server
// (docs/decisions/0018-session-state.md). Pure: no I/O; the lexer does the reading.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pgsteer::protocol {

enum class session_effect_kind : std::uint8_t {
  // State that exists until the client ends it (each kind pins the client to its server):
  creates_temp,    // a temporary table, view, sequence or function (also SELECT ... INTO TEMP)
  locks_advisory,  // pg_advisory_lock, pg_try_advisory_lock and their _shared forms
  holds_cursor,    // DECLARE name ... WITH HOLD: `name`
  listens,         // LISTEN `name`
  prepares,        // PREPARE `name`
  sets_role,       // SET ROLE, SET SESSION AUTHORIZATION: `name` is role / session_authorization
  // A session setting pgsteer cannot replay (set_config(..., false), a value it does not read,
  // SET SESSION CHARACTERISTICS with a mode it does not know): `name`, empty for set_config.
  sets_unknown,

  // What ends such state (once the request that carries it succeeds):
  drops_temp,            // DISCARD TEMP
  unlocks_advisory_all,  // pg_advisory_unlock_all()
  closes_cursor,         // CLOSE `name` (empty: CLOSE ALL)
  unlistens,             // UNLISTEN `name` (empty: UNLISTEN *)
  deallocates,           // DEALLOCATE `name` (empty: DEALLOCATE ALL)
  resets_role,           // RESET ROLE, SET ROLE NONE, ... (`name` as for sets_role)
  discards_all,          // DISCARD ALL: everything above, and RESET ALL

  // Session settings that can be replayed on another server:
  sets,        // SET `name` TO `value` (the value as the server receives it, quotes undone)
  resets,      // RESET `name`, SET `name` TO DEFAULT
  resets_all,  // RESET ALL
};

struct session_effect {
  session_effect_kind kind = session_effect_kind::sets;
  std::string name = {};   // identifiers case-folded as PostgreSQL folds them, unless quoted
  std::string value = {};  // for `sets`
  bool operator==(const session_effect&) const = default;
};

// Whether an effect of this kind keeps state alive on the server (the first group above).
constexpr bool creates_session_state(session_effect_kind kind) {
  return kind <= session_effect_kind::sets_unknown;
}

// What one case-insensitive pass over a query string found (strings and comments included, so a
// word in a literal counts too): whether it may have session effects (temp, pg_temp, advisory,
// declare, deallocate, discard, close, listen, prepare, set, reset, set_config) and whether it may
// reset settings (reset, discard, default). Most queries have neither, and this one pass is all
// they cost; it runs on every query in transaction pooling.
struct sql_triggers {
  bool effects = false;
  bool resets = false;
};
sql_triggers find_triggers(std::string_view sql);

// The effects of every statement of `sql` (a simple query or one Parse text), in order.
// Transaction-scoped forms have none: SET LOCAL, SET TRANSACTION, DECLARE without HOLD, a
// temporary table ON COMMIT DROP, pg_advisory_xact_lock. What runs inside a function or a DO
// block cannot be seen. Malformed text yields what could be read before the error. Allocates
// only when there is an effect to return.
std::vector<session_effect> session_effects(std::string_view sql);
// The same, with find_triggers(sql) already known.
std::vector<session_effect> session_effects(std::string_view sql, const sql_triggers& found);

// A stable name for SHOW CLIENTS, metrics labels and logs: "temp", "advisory_lock", "cursor",
// "listen", "prepare", "role", "setting"; empty for the kinds that end or replay state.
std::string_view pin_label(session_effect_kind kind);

}  // namespace pgsteer::protocol
