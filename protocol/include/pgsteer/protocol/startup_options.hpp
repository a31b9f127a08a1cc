// The `options` startup parameter, read as PostgreSQL's backend reads it (pg_split_opts and
// process_postgres_switches): words split at whitespace, a backslash taking the next character
// literally, and `-c name=value`, `-cname=value` or `--name=value` settings. Pure: the session
// turns the result into session parameters.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pgsteer/protocol/error_response.hpp"

namespace pgsteer::protocol {

struct startup_options {
  // name -> value in the order given; names as written, with '-' turned into '_' (as
  // PostgreSQL's ParseLongOption does). A later setting of the same name wins.
  std::vector<std::pair<std::string, std::string>> settings;
  // Set when the options cannot be taken as they are: the FATAL a client gets at login.
  std::optional<error_fields> error;
};

// Splits `options` into words the way pg_split_opts does.
std::vector<std::string> split_startup_options(std::string_view options);

// Reads the settings. Only `-c`/`--` settings can be pooled: another backend switch (-B, -e,
// -F, ...) is refused with an error naming it, since pgsteer cannot replay it on shared servers.
startup_options parse_startup_options(std::string_view options);

}  // namespace pgsteer::protocol
