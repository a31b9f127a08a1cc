// The admin console's command language: PgBouncer's vocabulary (SHOW POOLS, PAUSE db, ...) parsed
// from the text of a simple Query. Pure: the console (proxy/src/admin_console.cpp) runs what this
// returns.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pgsteer::protocol {

enum class admin_verb { empty, show, pause, resume, kill, reload, shutdown };

enum class admin_subject {
  none,
  pools,
  clients,
  servers,
  stats,
  databases,
  backends,
  config,
  version,
  help,
};

struct admin_command {
  admin_verb verb = admin_verb::empty;
  admin_subject subject = admin_subject::none;  // SHOW only
  std::string database;  // PAUSE/RESUME (empty: every database), KILL (required)
};

struct admin_parse_result {
  std::optional<admin_command> command;
  std::string error;  // when command is empty: a sentence for the ErrorResponse (SQLSTATE 42601)
};

// One command, keywords in any case, an optional trailing semicolon, SQL comments and whitespace
// anywhere. A database name is an identifier, or a double-quoted one ("" for a quote), taken as
// written (no case folding: it must match a key under `databases`). An empty or
// comment-only text gives admin_verb::empty.
admin_parse_result parse_admin_command(std::string_view sql);

// The commands the console knows, for error hints and SHOW HELP.
inline constexpr std::string_view admin_command_list =
    "SHOW POOLS | CLIENTS | SERVERS | STATS | DATABASES | BACKENDS | CONFIG | VERSION | HELP; "
    "PAUSE [db]; RESUME [db]; KILL db; RELOAD; SHUTDOWN";

}  // namespace pgsteer::protocol
