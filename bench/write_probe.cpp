// Write probe for bench/failover: one client connection, inserting rows as fast as it can until
// told to stop (SIGTERM/SIGINT), never reconnecting. Prints one line per insert on stdout:
//
//   o MS ID          the insert of ID was acknowledged at MS (Unix time, milliseconds)
//   e MS SQLSTATE    it failed
//
// and `lost MS` and exits 1 if the connection itself went bad (the proxy dropped the client).
//
//   write_probe CONNINFO TABLE
#include <libpq-fe.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>

namespace {

volatile std::sig_atomic_t stop = 0;

void on_signal(int) {
  stop = 1;
}

long long now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: write_probe CONNINFO TABLE\n");
    return 2;
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  PGconn* conn = PQconnectdb(argv[1]);
  if (PQstatus(conn) != CONNECTION_OK) {
    std::fprintf(stderr, "write_probe: %s", PQerrorMessage(conn));
    return 2;
  }
  const std::string insert = std::string("insert into ") + argv[2] + " values ($1)";
  int status = 0;
  for (long long id = 1; !stop; ++id) {
    const std::string value = std::to_string(id);
    const char* params[] = {value.c_str()};
    PGresult* res = PQexecParams(conn, insert.c_str(), 1, nullptr, params, nullptr, nullptr, 0);
    if (PQresultStatus(res) == PGRES_COMMAND_OK) {
      std::printf("o %lld %lld\n", now_ms(), id);
    } else {
      const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
      std::printf("e %lld %s\n", now_ms(), state ? state : "-");
    }
    PQclear(res);
    if (PQstatus(conn) != CONNECTION_OK) {
      std::printf("lost %lld\n", now_ms());
      status = 1;
      break;
    }
  }
  std::fflush(stdout);
  PQfinish(conn);
  return status;
}
