// Helpers the lifecycle tests share: editing a running pgsteer's configuration file and sending
// it signals, as an operator does.
#pragma once

#include <signal.h>

#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>

#include <libpq-fe.h>

#include <vector>

#include "pg.hpp"
#include "pgsteer_process.hpp"

namespace pgsteer::test {

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Replaces the first `from` in pgsteer's configuration file with `to` (throws when absent).
inline void edit_config(const pgsteer_process& proxy, const std::string& from,
                        const std::string& to) {
  std::string text = read_file(proxy.config_file());
  const auto at = text.find(from);
  if (at == std::string::npos) throw std::runtime_error("edit_config: no \"" + from + "\"");
  text.replace(at, from.size(), to);
  std::ofstream(proxy.config_file()) << text;
}

inline void send_signal(const pgsteer_process& proxy, int signal) {
  if (::kill(proxy.pid(), signal) != 0) throw std::runtime_error("kill failed");
}

// The number the first group of `pattern` captures in `output` (pgbench's summary), -1 when absent.
inline long long parse_count(const std::string& output, const std::string& pattern) {
  std::smatch m;
  if (!std::regex_search(output, m, std::regex(pattern))) return -1;
  return std::stoll(m[1].str());
}

// How many times `needle` occurs in `text`.
inline int occurrences(const std::string& text, const std::string& needle) {
  int n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// What libpq received outside a query (a FATAL that arrived while the client was idle, as psql
// prints before "server closed the connection unexpectedly"): "SQLSTATE message" per entry.
// `into` must outlive the connection.
inline void capture_notices(pg::connection& client, std::vector<std::string>& into) {
  PQsetNoticeReceiver(
      client.native(),
      [](void* arg, const PGresult* result) {
        const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
        const char* text = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
        static_cast<std::vector<std::string>*>(arg)->push_back(std::string(state ? state : "") +
                                                               " " + (text ? text : ""));
      },
      &into);
}

}  // namespace pgsteer::test
