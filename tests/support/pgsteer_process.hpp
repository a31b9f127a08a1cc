// The real `pgsteer` binary, configured in front of a test cluster, for integration tests that
// talk to it as clients do. Also small process helpers those tests need: running psql/pgbench,
// and reading the SQLSTATE of a refused connection, which libpq does not expose directly.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "cluster.hpp"

namespace pgsteer::test {

struct pgsteer_options {
  std::string pool_mode = "transaction";  // session | transaction | statement
  int pool_size = 10;
  int max_connections = 10000;
  std::string client_auth = "scram-sha-256";
  int workers = 2;
  std::string query_wait_timeout = "5s";
  std::string log_level = "info";
  std::string client_idle_timeout;  // clients.idle_timeout; empty: not written (the default)
  int min_idle = 0;                 // pool.min_idle
  std::string server_idle_timeout;  // pool.server_idle_timeout; empty: not written
  std::string server_lifetime;      // pool.server_lifetime; empty: not written
  std::string health_interval = "500ms";
  std::string failover_wait_timeout;  // failover.wait_timeout; empty: not written
  // More entries under `users:`, one flow mapping per line without the dash, e.g.
  // "{ name: admin, password: admin, admin: true }".
  std::vector<std::string> extra_users;
  // clients.hba rules as YAML flow maps ("{ address: ::1/128, method: trust }"); empty: one
  // rule admitting 127.0.0.0/8 with client_auth.
  std::vector<std::string> hba_rules;
  // More `key: value` lines under clients (auth_timeout, max_auth_failures_per_minute, ...).
  std::vector<std::string> client_settings;
  bool listen_ipv6 = false;          // also listen on [::1] at the same port
  std::string log_format = "text";   // log.format
  std::string slow_query_threshold;  // log.slow_query_threshold; empty: not written
  std::string shutdown_timeout = "2s";
  int http_port = 0;  // http.listen on 127.0.0.1 at this port; 0: no HTTP endpoints
  // Top-level YAML appended to the generated file, for keys it does not write itself.
  std::string extra_yaml;
};

// Writes a configuration shaped like docs/pgsteer.yaml (the cluster's nodes as backends;
// databases app (split), app_rw (primary), app_ro (replica), all on dbname app; user app/app),
// starts `pgsteer -c FILE` and returns once its port accepts TCP connections. Throws, with the
// process's log, if it exits or is not listening within 10 s. The destructor sends SIGTERM,
// then SIGKILL after 5 s; the process also dies if the test process dies.
class pgsteer_process {
 public:
  explicit pgsteer_process(const cluster& backends, pgsteer_options options = {});
  ~pgsteer_process();
  pgsteer_process(const pgsteer_process&) = delete;
  pgsteer_process& operator=(const pgsteer_process&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& config_file() const { return config_file_; }
  // libpq keyword conninfo for connecting through pgsteer.
  std::string conninfo(const std::string& database = "app", const std::string& user = "app",
                       const std::string& password = "app") const;
  // SIGKILL now and reap; later calls and the destructor do nothing.
  void kill();
  // Waits up to `limit` for pgsteer to exit by itself (after a signal the test sent); returns
  // its exit code (128 + signal when killed), or nothing if it still runs.
  std::optional<int> wait_exit(std::chrono::milliseconds limit);
  bool running() const { return pid_ > 0; }
  // Everything pgsteer wrote to stdout and stderr so far.
  std::string log() const;
  // Local ports of pgsteer's established TCP connections to 127.0.0.1:`backend_port`, i.e. the
  // client_port values its server connections show in pg_stat_activity.
  std::vector<int> server_ports(int backend_port) const;
  // pgsteer's pooled server connections on `node` (database app, user app), as PostgreSQL's
  // pg_stat_activity shows them: the health monitor's own connection is not one of them.
  int pooled_servers(const cluster& backends, int node) const;

  // The logs of every pgsteer this test process started and has not stopped, each under a
  // header line: for printing when an assertion fails.
  static std::string running_logs();

 private:
  void stop();

  std::string dir_;
  std::string config_file_;
  std::string log_file_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// A loopback TCP port that was free a moment ago.
int free_port();

struct command_result {
  int exit_code = -1;  // -1 when killed by a signal
  std::string output;  // stdout and stderr interleaved
};

// Runs argv[0] (searched in PATH) with `environment` entries ("NAME=value") added to this
// process's environment and `input` on stdin; waits for it to finish.
command_result run_command(const std::vector<std::string>& argv, const std::string& input = {},
                           const std::vector<std::string>& environment = {});

// What a client is told when its connection is refused, parsed from libpq's verbose message.
struct connect_failure {
  std::string severity;  // FATAL, ERROR
  std::string sqlstate;  // empty when the server sent no ErrorResponse (socket-level failure)
  std::string message;   // the primary message, without severity and SQLSTATE
  std::string raw;       // libpq's whole message
};

// Connects; returns nothing on success, the failure otherwise.
std::optional<connect_failure> try_connect_verbose(const std::string& conninfo);

}  // namespace pgsteer::test
