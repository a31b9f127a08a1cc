// admin_results: the console's pure result sets (see admin_results.hpp).
#include "admin_results.hpp"

#include <libpq-fe.h>

#include <ctime>

namespace pgsteer::proxy {

namespace p = protocol;

namespace admin_text {

std::string number(std::uint64_t v) {
  return std::to_string(v);
}

// PgBouncer's timestamp form: 2026-11-29 17:40:00 UTC.
std::string timestamp(system_time t) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return text;
}

std::string duration_text(config::duration d) {
  const auto ms = d.count();
  if (ms == 0) return "0";
  if (ms % 3600000 == 0) return std::to_string(ms / 3600000) + "h";
  if (ms % 60000 == 0) return std::to_string(ms / 60000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string size_text(std::uint64_t bytes) {
  if (bytes != 0 && bytes % (1ull << 30) == 0) return std::to_string(bytes >> 30) + "GB";
  if (bytes != 0 && bytes % (1ull << 20) == 0) return std::to_string(bytes >> 20) + "MB";
  if (bytes != 0 && bytes % (1ull << 10) == 0) return std::to_string(bytes >> 10) + "kB";
  return std::to_string(bytes);
}

const char* pool_mode_name(p::pool_mode mode) {
  switch (mode) {
    case p::pool_mode::session:
      return "session";
    case p::pool_mode::transaction:
      return "transaction";
    case p::pool_mode::statement:
      return "statement";
  }
  return "transaction";
}

const char* route_name(config::route r) {
  switch (r) {
    case config::route::split:
      return "split";
    case config::route::primary:
      return "primary";
    case config::route::replica:
      return "replica";
  }
  return "split";
}

const char* client_tls_name(config::client_tls_mode m) {
  switch (m) {
    case config::client_tls_mode::disable:
      return "disable";
    case config::client_tls_mode::allow:
      return "allow";
    case config::client_tls_mode::require:
      return "require";
  }
  return "disable";
}

const char* server_tls_name(config::server_tls_mode m) {
  switch (m) {
    case config::server_tls_mode::disable:
      return "disable";
    case config::server_tls_mode::prefer:
      return "prefer";
    case config::server_tls_mode::require:
      return "require";
    case config::server_tls_mode::verify_ca:
      return "verify-ca";
    case config::server_tls_mode::verify_full:
      return "verify-full";
  }
  return "disable";
}

std::string address_text(const config::listen_address& a) {
  const bool v6 = a.host.find(':') != std::string::npos;
  return (v6 ? "[" + a.host + "]" : a.host) + ":" + std::to_string(a.port);
}

// (key, value, changeable by RELOAD) for every scalar setting; lists are joined with ", ".
std::vector<std::tuple<std::string, std::string, bool>> settings(const config::config& c) {
  std::string listen;
  // Appended piece by piece: GCC 12 -O3 wrongly flags "literal" + std::string&& (-Wrestrict).
  for (const auto& a : c.listen) {
    if (!listen.empty()) listen += ", ";
    listen += address_text(a);
  }
  std::string write_functions;
  for (const auto& f : c.routing.write_functions) {
    if (!write_functions.empty()) write_functions += ", ";
    write_functions += f;
  }
  return {
      {"listen", listen, false},
      {"workers", c.workers ? std::to_string(*c.workers) : "auto", false},
      {"shutdown_timeout", duration_text(c.shutdown_timeout), true},
      {"pool.mode", pool_mode_name(c.pool.mode), true},
      {"pool.size", number(c.pool.size), true},
      {"pool.min_idle", number(c.pool.min_idle), true},
      {"pool.query_wait_timeout", duration_text(c.pool.query_wait_timeout), true},
      {"pool.server_idle_timeout", duration_text(c.pool.server_idle_timeout), true},
      {"pool.server_lifetime", duration_text(c.pool.server_lifetime), true},
      {"pool.server_connect_timeout", duration_text(c.pool.server_connect_timeout), true},
      {"pool.max_prepared_statements", number(c.pool.max_prepared_statements), true},
      {"pool.server_reset_query", c.pool.server_reset_query, true},
      {"clients.max_connections", number(c.clients.max_connections), true},
      {"clients.auth", config::to_string(c.clients.auth), true},
      {"clients.idle_timeout", duration_text(c.clients.idle_timeout), true},
      {"clients.auth_timeout", duration_text(c.clients.auth_timeout), true},
      {"clients.max_message_size", size_text(c.clients.max_message_size), true},
      {"health.interval", duration_text(c.health.interval), true},
      {"health.timeout", duration_text(c.health.timeout), true},
      {"health.user", c.health.user, true},
      {"routing.max_lag_bytes", size_text(c.routing.max_lag_bytes), true},
      {"routing.max_lag_seconds", duration_text(c.routing.max_lag_seconds), true},
      {"routing.reads_fall_back_to_primary", c.routing.reads_fall_back_to_primary ? "on" : "off",
       true},
      {"routing.consistency",
       c.routing.consistency_mode == config::consistency::read_your_writes ? "read_your_writes"
                                                                           : "eventual",
       true},
      {"routing.write_functions", write_functions, true},
      {"failover.wait_timeout", duration_text(c.failover.wait_timeout), true},
      {"tls.client.mode", client_tls_name(c.tls.client.mode), true},
      {"tls.server.mode", server_tls_name(c.tls.server.mode), true},
      {"http.listen", c.http.listen ? address_text(*c.http.listen) : "", false},
      {"log.level", c.log.level, true},
      {"log.format", c.log.format == config::log_format::json ? "json" : "text", true},
      {"log.slow_query_threshold", duration_text(c.log.slow_query_threshold), true},
  };
}

std::string server_version() {
  // What psql compares with its own version: the libpq pgsteer was built with, so the psql
  // next to it prints no version warning. The suffix says who answers.
  const int v = PQlibVersion();
  return std::to_string(v / 10000) + "." + std::to_string(v % 10000) + " (pgsteer " +
         PGSTEER_VERSION + ")";
}

}  // namespace admin_text

using namespace admin_text;

// ---- pure result sets ----

admin_result show_stats(const stats_totals& t, double uptime_seconds) {
  admin_result r;
  r.columns = {{"database", text_oid},          {"total_xact_count", int8_oid},
               {"total_query_count", int8_oid}, {"total_received", int8_oid},
               {"total_sent", int8_oid},        {"total_xact_time", int8_oid},
               {"total_query_time", int8_oid},  {"total_wait_time", int8_oid},
               {"avg_xact_count", int8_oid},    {"avg_query_count", int8_oid},
               {"avg_recv", int8_oid},          {"avg_sent", int8_oid},
               {"avg_xact_time", int8_oid},     {"avg_query_time", int8_oid},
               {"avg_wait_time", int8_oid}};
  const double up = std::max(uptime_seconds, 1.0);
  auto per_second = [&](std::uint64_t v) {
    return number(static_cast<std::uint64_t>(static_cast<double>(v) / up));
  };
  auto mean = [](std::uint64_t total, std::uint64_t count) {
    return number(count == 0 ? 0 : total / count);
  };
  r.rows.push_back({"*", number(t.xact_count), number(t.query_count), number(t.received),
                    number(t.sent), number(t.xact_time_us), number(t.query_time_us),
                    number(t.wait_time_us), per_second(t.xact_count), per_second(t.query_count),
                    per_second(t.received), per_second(t.sent), mean(t.xact_time_us, t.xact_count),
                    mean(t.query_time_us, t.query_count), mean(t.wait_time_us, t.wait_count)});
  return r;
}

admin_result show_config(const config::config& cfg) {
  admin_result r;
  r.columns = {
      {"key", text_oid}, {"value", text_oid}, {"default", text_oid}, {"changeable", text_oid}};
  const auto now = settings(cfg);
  config::config fresh;
  fresh.listen = {{"127.0.0.1", 6432}};  // the loader's default; the plain value has none
  const auto defaults = settings(fresh);
  for (std::size_t i = 0; i < now.size(); ++i) {
    const auto& [key, value, changeable] = now[i];
    r.rows.push_back({key, value, std::get<1>(defaults[i]), changeable ? "yes" : "no"});
  }
  return r;
}

}  // namespace pgsteer::proxy
