// pgsteer's configuration as a plain, immutable value. Loaded and validated from YAML by
// load_config(); every other part of pgsteer reads only this type (YAML never leaves config/src).
// Keys, defaults and reload behaviour are documented in docs/configuration.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pgsteer/protocol/transaction_tracker.hpp"

namespace pgsteer::config {

using duration = std::chrono::milliseconds;

struct listen_address {
  std::string host;  // IPv4 or IPv6 literal, or a name
  std::uint16_t port = 0;
};

struct backend {
  std::string name;
  std::string host;
  std::uint16_t port = 5432;
  std::uint32_t weight = 1;
};

enum class route { split, primary, replica };

struct database {
  std::string name;    // what clients ask for
  std::string dbname;  // the database on the backends
  route route_mode = route::split;
  std::optional<std::uint32_t> pool_size;  // overrides pool.size for this database
};

enum class secret_kind { password, scram_verifier, md5_hash };

struct user {
  std::string name;
  std::string secret;  // never logged
  secret_kind kind = secret_kind::password;
  bool admin = false;
};

struct pool_settings {
  protocol::pool_mode mode = protocol::pool_mode::transaction;
  std::uint32_t size = 20;
  std::uint32_t min_idle = 0;
  duration query_wait_timeout = std::chrono::seconds(5);
  duration server_idle_timeout = std::chrono::minutes(10);
  duration server_lifetime = std::chrono::hours(1);
  duration server_connect_timeout = std::chrono::seconds(5);
  std::uint32_t max_prepared_statements = 200;
  std::string server_reset_query = "DISCARD ALL";
};

enum class auth_method { scram_sha_256, md5, cert, trust, reject };
// As the configuration spells it: "scram-sha-256", "md5", "cert", "trust", "reject".
const char* to_string(auth_method method);
enum class hba_type { host, hostssl, hostnossl };

struct hba_rule {
  hba_type type = hba_type::host;
  std::string address;                 // CIDR, or "all"
  std::vector<std::string> databases;  // empty: all
  std::vector<std::string> users;      // empty: all
  auth_method method = auth_method::scram_sha_256;
};

struct client_settings {
  std::uint32_t max_connections = 10000;
  auth_method auth = auth_method::scram_sha_256;
  duration idle_timeout{0};  // 0: none
  duration auth_timeout = std::chrono::seconds(60);
  std::uint64_t max_message_size = 64ull << 20;
  // Failed logins per source address per minute before its new connections are refused; 0: off.
  std::uint32_t max_auth_failures_per_minute = 20;
  std::vector<hba_rule> hba;
};

struct health_settings {
  duration interval = std::chrono::milliseconds(500);
  duration timeout = std::chrono::seconds(2);
  std::string user;
};

enum class consistency { eventual, read_your_writes };

struct routing_settings {
  std::uint64_t max_lag_bytes = 16ull << 20;
  duration max_lag_seconds = std::chrono::seconds(5);
  bool reads_fall_back_to_primary = true;
  consistency consistency_mode = consistency::eventual;
  std::vector<std::string> write_functions;
};

struct failover_settings {
  duration wait_timeout = std::chrono::seconds(30);
};

enum class client_tls_mode { disable, allow, require };
enum class server_tls_mode { disable, prefer, require, verify_ca, verify_full };

struct tls_client_settings {
  client_tls_mode mode = client_tls_mode::disable;
  std::string cert_file, key_file, ca_file;
  std::string min_version = "TLSv1.2";
  std::string ciphers, ciphersuites;
};

struct tls_server_settings {
  server_tls_mode mode = server_tls_mode::disable;
  std::string ca_file, cert_file, key_file;
};

struct tls_settings {
  tls_client_settings client;
  tls_server_settings server;
};

struct http_settings {
  std::optional<listen_address> listen;
};

enum class log_format { text, json };

struct log_settings {
  std::string level = "info";  // trace, debug, info, warn, error, critical, off
  log_format format = log_format::text;
  duration slow_query_threshold{0};  // 0: off
};

struct auth_query_settings {
  std::string query;  // empty: auth_query off
  std::string user;
  std::string database;
  duration cache_ttl = std::chrono::seconds(60);
};

struct config {
  std::vector<listen_address> listen;
  std::optional<std::uint32_t> workers;  // nullopt: auto (one per core)
  std::vector<backend> backends;
  std::vector<database> databases;
  std::vector<user> users;
  pool_settings pool;
  client_settings clients;
  auth_query_settings auth_query;
  health_settings health;
  routing_settings routing;
  failover_settings failover;
  tls_settings tls;
  http_settings http;
  log_settings log;
  duration shutdown_timeout = std::chrono::seconds(30);

  // workers, with auto resolved to the number of cores (at least 1).
  std::uint32_t resolved_workers() const;
  const user* find_user(std::string_view name) const;
  const database* find_database(std::string_view name) const;
};

// One problem in a configuration file, printed as `file:line:col: key.path: message`.
struct config_error {
  std::string file;
  int line = 0;  // 1-based; 0 when unknown
  int column = 0;
  std::string path;
  std::string message;
  std::string to_string() const;
};

struct load_result {
  std::optional<config> value;  // set only when there are no errors
  std::vector<config_error> errors;
};

struct load_options {
  // Looks up ${NAME} in values; defaults to the process environment.
  std::function<std::optional<std::string>(const std::string&)> env;
};

// Reads, interpolates and validates; reports every error at once.
load_result load_config(const std::filesystem::path& file, const load_options& options = {});
load_result load_config_string(std::string_view yaml, const std::string& file_name,
                               const load_options& options = {});

// Parses `500ms`, `5s`, `10m`, `1h`, `0`; nullopt otherwise.
std::optional<duration> parse_duration(std::string_view text);
// Parses `16MB`, `64kB`, `1GB`, or plain bytes; nullopt otherwise.
std::optional<std::uint64_t> parse_size(std::string_view text);

}  // namespace pgsteer::config
