// A small libpq wrapper for integration tests: connect, run SQL, read rows as strings.
// Tests may throw: every failure is a pg::error carrying libpq's message.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

struct pg_conn;

namespace pgsteer::test::pg {

class error : public std::runtime_error {
 public:
  error(const std::string& message, std::string sqlstate)
      : std::runtime_error(message), sqlstate_(std::move(sqlstate)) {}
  // Five-character SQLSTATE when the server sent one, empty for connection-level failures.
  const std::string& sqlstate() const { return sqlstate_; }

 private:
  std::string sqlstate_;
};

using row = std::vector<std::optional<std::string>>;
using rows = std::vector<row>;

class connection {
 public:
  // conninfo in libpq keyword form; throws pg::error when the connection fails.
  explicit connection(const std::string& conninfo);
  ~connection();
  connection(connection&& other) noexcept;
  connection& operator=(connection&&) = delete;
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // Runs SQL with the simple protocol (may hold several statements); returns the last result's
  // rows.
  rows exec(const std::string& sql);
  // Runs SQL with the extended protocol and text parameters.
  rows exec_params(const std::string& sql, const std::vector<std::string>& params);
  // The first column of the first row; throws when there is none or it is NULL.
  std::string scalar(const std::string& sql);
  // The backend's process id (the real server behind a proxy shows its own).
  int backend_pid() const;
  pg_conn* native() { return conn_; }

 private:
  pg_conn* conn_;
};

// Tries to connect; returns the error instead of throwing (for tests of refusals).
std::optional<error> try_connect(const std::string& conninfo);

}  // namespace pgsteer::test::pg
