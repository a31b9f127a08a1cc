// The admin console's result sets and the text forms they use, from values: pure (no socket, no
// worker), so SHOW STATS and SHOW CONFIG can be tested without a connection.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "inspection.hpp"
#include "pgsteer/config/config.hpp"
#include "stats.hpp"

namespace pgsteer::proxy {

inline constexpr std::uint32_t text_oid = 25;
inline constexpr std::uint32_t int8_oid = 20;

// A result set as the console sends it: column names with type OIDs (text or int8), text values.
struct admin_result {
  std::vector<std::pair<std::string, std::uint32_t>> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;
  std::string tag = "SHOW";
};

// The console's result sets, from values: pure, so they can be tested without sockets.
struct stats_totals {
  std::uint64_t xact_count = 0, query_count = 0, received = 0, sent = 0;
  std::uint64_t xact_time_us = 0, query_time_us = 0, wait_time_us = 0, wait_count = 0;
};
admin_result show_stats(const stats_totals& totals, double uptime_seconds);
admin_result show_config(const config::config& cfg);

namespace admin_text {

// Text forms of values, as PgBouncer's console prints them.
std::string number(std::uint64_t v);
std::string timestamp(system_time t);  // 2026-11-29 17:40:00 UTC
std::string duration_text(config::duration d);
std::string size_text(std::uint64_t bytes);
const char* pool_mode_name(protocol::pool_mode mode);
const char* route_name(config::route r);
const char* client_tls_name(config::client_tls_mode m);
const char* server_tls_name(config::server_tls_mode m);
std::string address_text(const config::listen_address& a);
// (key, value, changeable by RELOAD) for every scalar setting; lists are joined with ", ".
std::vector<std::tuple<std::string, std::string, bool>> settings(const config::config& c);
// The version the console reports: libpq's, with "(pgsteer X)".
std::string server_version();

}  // namespace admin_text

}  // namespace pgsteer::proxy
