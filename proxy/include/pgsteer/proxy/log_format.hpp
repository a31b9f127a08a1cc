// How pgsteer's log lines look: plain text for people, or one JSON object per line for log
// collectors (log.format: json). Pure; the runtime installs it into spdlog.
#pragma once

#include <string>
#include <string_view>

#include "pgsteer/config/config.hpp"

namespace pgsteer::proxy {

// Appends `text` as the inside of a JSON string: quotes, backslashes and control characters are
// escaped, and bytes that are not valid UTF-8 (a client's SQL may hold any) become U+FFFD, so
// every line is valid JSON whatever a message contains.
void append_json_escaped(std::string_view text, std::string& out);

// Creates the `pgsteer` logger (once) and applies log.level and log.format; called again on
// reload with the new settings.
void apply_log_settings(const config::log_settings& log);

}  // namespace pgsteer::proxy
