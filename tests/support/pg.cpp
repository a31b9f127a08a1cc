// libpq wrapper for integration tests (see pg.hpp).
#include "pg.hpp"

#include <libpq-fe.h>

#include <utility>

namespace pgsteer::test::pg {
namespace {

error result_error(const PGresult* res, PGconn* conn) {
  const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string message = res != nullptr ? PQresultErrorMessage(res) : PQerrorMessage(conn);
  if (message.empty()) message = PQerrorMessage(conn);
  return error(message, state != nullptr ? state : "");
}

rows collect(PGresult* res, PGconn* conn) {
  const auto status = PQresultStatus(res);
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK && status != PGRES_EMPTY_QUERY) {
    error e = result_error(res, conn);
    PQclear(res);
    throw e;
  }
  rows out;
  const int n = PQntuples(res);
  const int cols = PQnfields(res);
  out.reserve(static_cast<std::size_t>(n));
  for (int r = 0; r < n; ++r) {
    row values;
    values.reserve(static_cast<std::size_t>(cols));
    for (int c = 0; c < cols; ++c) {
      if (PQgetisnull(res, r, c)) {
        values.emplace_back(std::nullopt);
      } else {
        values.emplace_back(
            std::string(PQgetvalue(res, r, c), static_cast<std::size_t>(PQgetlength(res, r, c))));
      }
    }
    out.push_back(std::move(values));
  }
  PQclear(res);
  return out;
}

}  // namespace

connection::connection(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str())) {
  if (PQstatus(conn_) != CONNECTION_OK) {
    // libpq keeps no SQLSTATE for a failed connect; the message carries the server's text.
    std::string message = PQerrorMessage(conn_);
    PQfinish(conn_);
    throw error(message, "");
  }
}

connection::~connection() {
  if (conn_ != nullptr) PQfinish(conn_);
}

connection::connection(connection&& other) noexcept : conn_(std::exchange(other.conn_, nullptr)) {}

rows connection::exec(const std::string& sql) {
  PGresult* last = nullptr;
  if (PQsendQuery(conn_, sql.c_str()) == 0) throw error(PQerrorMessage(conn_), "");
  while (PGresult* res = PQgetResult(conn_)) {
    if (last != nullptr) PQclear(last);
    last = res;
    const auto status = PQresultStatus(res);
    if (status == PGRES_FATAL_ERROR) {
      error e = result_error(res, conn_);
      PQclear(res);
      while (PGresult* rest = PQgetResult(conn_)) PQclear(rest);
      throw e;
    }
  }
  if (last == nullptr) throw error(PQerrorMessage(conn_), "");
  return collect(last, conn_);
}

rows connection::exec_params(const std::string& sql, const std::vector<std::string>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p.c_str());
  PGresult* res = PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                               values.data(), nullptr, nullptr, 0);
  return collect(res, conn_);
}

std::string connection::scalar(const std::string& sql) {
  auto result = exec(sql);
  if (result.empty() || result.front().empty() || !result.front().front()) {
    throw error("no value returned by: " + sql, "");
  }
  return *result.front().front();
}

int connection::backend_pid() const {
  return PQbackendPID(conn_);
}

std::optional<error> try_connect(const std::string& conninfo) {
  try {
    connection c(conninfo);
    return std::nullopt;
  } catch (const error& e) {
    return e;
  }
}

}  // namespace pgsteer::test::pg
