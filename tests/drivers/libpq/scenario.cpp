// The driver scenario (tests/drivers/README.md) on libpq's C API: simple and extended protocol,
// a named prepared statement, COPY both ways, PQcancel and TLS verify-full. Prints the transcript
// on stdout; tests/integration/drivers compares it direct and through pgsteer.
#include <libpq-fe.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

const char* const table = "drivers_libpq";
// What the session runs with: libpq sends TimeZone from PGTZ, and application_name, at startup.
const char* const settings_query =
    "select current_setting('DateStyle'), current_setting('TimeZone'), "
    "current_setting('application_name'), current_setting('extra_float_digits'), "
    "'2024-01-02 03:04:05+00'::timestamptz::text";
const char* const sleep_query = "select pg_sleep(20) /* drivers cancel libpq */";

std::string env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) throw std::runtime_error(std::string("missing environment ") + name);
  return value;
}

struct conn_deleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct result_deleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using connection = std::unique_ptr<PGconn, conn_deleter>;
using result = std::unique_ptr<PGresult, result_deleter>;

std::string base_conninfo() {
  return "user=" + env("DRIVER_USER") + " password=" + env("DRIVER_PASSWORD") +
         " dbname=" + env("DRIVER_DATABASE") + " connect_timeout=10 application_name=drivers-libpq";
}

connection open(const std::string& conninfo) {
  connection c(PQconnectdb(conninfo.c_str()));
  if (PQstatus(c.get()) != CONNECTION_OK) {
    throw std::runtime_error("connection failed: " + std::string(PQerrorMessage(c.get())));
  }
  return c;
}

connection open_plain() {
  return open("host=" + env("DRIVER_HOST") + " port=" + env("DRIVER_PORT") + " sslmode=disable " +
              base_conninfo());
}

std::string field(const PGresult* r, int row, int column) {
  return PQgetisnull(r, row, column) ? "NULL" : PQgetvalue(r, row, column);
}

std::string row_text(const PGresult* r, int row) {
  std::string out;
  for (int c = 0; c < PQnfields(r); ++c) {
    if (c > 0) out += '|';
    out += field(r, row, c);
  }
  return out;
}

// "SQLSTATE primary message" of a failed result.
std::string error_text(const PGresult* r) {
  const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  const char* message = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
  return std::string(state ? state : "?????") + " " + (message ? message : "");
}

// Runs and requires `expected`; throws with the server's message otherwise.
result checked(PGresult* raw, ExecStatusType expected, PGconn* c) {
  result r(raw);
  if (PQresultStatus(r.get()) != expected) {
    throw std::runtime_error("unexpected result: " + std::string(PQerrorMessage(c)));
  }
  return r;
}

result exec(PGconn* c, const std::string& sql, ExecStatusType expected = PGRES_TUPLES_OK) {
  return checked(PQexec(c, sql.c_str()), expected, c);
}

result exec_params(PGconn* c, const std::string& sql, const std::vector<const char*>& params,
                   ExecStatusType expected = PGRES_TUPLES_OK) {
  return checked(PQexecParams(c, sql.c_str(), static_cast<int>(params.size()), nullptr,
                              params.data(), nullptr, nullptr, 0),
                 expected, c);
}

// A statement expected to fail: its "SQLSTATE message".
std::string failure(PGconn* c, const std::string& sql) {
  result r(PQexec(c, sql.c_str()));
  if (PQresultStatus(r.get()) != PGRES_FATAL_ERROR) return "no error";
  return error_text(r.get());
}

void copy_steps(PGconn* c) {
  const std::string t = table;
  exec(c, "copy " + t + " (id, name, amount) from stdin", PGRES_COPY_IN);
  for (int id = 101; id <= 105; ++id) {
    const std::string line = std::to_string(id) + "\tcopy-" + std::to_string(id) + "\t1.0" +
                             std::to_string(id - 100) + "\n";
    if (PQputCopyData(c, line.data(), static_cast<int>(line.size())) != 1) {
      throw std::runtime_error("PQputCopyData failed");
    }
  }
  if (PQputCopyEnd(c, nullptr) != 1) throw std::runtime_error("PQputCopyEnd failed");
  result in = checked(PQgetResult(c), PGRES_COMMAND_OK, c);
  while (PGresult* extra = PQgetResult(c)) PQclear(extra);
  std::cout << "copy in: " << PQcmdTuples(in.get()) << "\n";

  exec(c, "copy (select id, name, amount from " + t + " where id > 100 order by id) to stdout",
       PGRES_COPY_OUT);
  std::string rows;
  for (;;) {
    char* buffer = nullptr;
    const int n = PQgetCopyData(c, &buffer, 0);
    if (n < 0) break;
    std::string line(buffer, static_cast<std::size_t>(n));
    PQfreemem(buffer);
    if (!line.empty() && line.back() == '\n') line.pop_back();
    for (auto& ch : line) {
      if (ch == '\t') ch = ',';
    }
    if (!rows.empty()) rows += ';';
    rows += line;
  }
  checked(PQgetResult(c), PGRES_COMMAND_OK, c);
  while (PGresult* extra = PQgetResult(c)) PQclear(extra);
  std::cout << "copy out: " << rows << "\n";
}

// pg_sleep on `c`, cancelled with PQcancel once a second connection sees it running.
void cancel_steps(PGconn* c) {
  std::string seen = "not seen";
  std::thread canceller([&] {
    connection monitor = open_plain();
    const std::string probe = std::string("select count(*) from pg_stat_activity where query = '") +
                              sleep_query + "' and state = 'active'";
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (field(exec(monitor.get(), probe).get(), 0, 0) != "0") {
        PGcancel* cancel = PQgetCancel(c);
        char message[256];
        seen = PQcancel(cancel, message, sizeof message) ? "sent" : message;
        PQfreeCancel(cancel);
        return;
      }
      std::this_thread::sleep_for(20ms);
    }
  });
  const std::string outcome = failure(c, sleep_query);
  canceller.join();
  if (seen != "sent") std::cout << "cancel request: " << seen << "\n";
  std::cout << "cancel: " << outcome << "\n";
  std::cout << "after cancel: " << field(exec(c, "select 1").get(), 0, 0) << "\n";
}

void tls_steps() {
  const std::string tls = "host=" + env("DRIVER_TLS_HOST") + " port=" + env("DRIVER_PORT") + " " +
                          base_conninfo() + " sslmode=verify-full sslrootcert=";
  {
    connection c = open(tls + env("DRIVER_CA"));
    std::cout << "tls verify-full: ssl_in_use=" << PQsslInUse(c.get()) << " "
              << field(exec(c.get(), "select 'over ' || 'tls'").get(), 0, 0) << "\n";
  }
  connection untrusted(PQconnectdb((tls + env("DRIVER_WRONG_CA")).c_str()));
  std::cout << "tls untrusted: "
            << (PQstatus(untrusted.get()) == CONNECTION_OK ? "accepted" : "refused") << "\n";
}

void run() {
  const int v = PQlibVersion();
  std::cout << "driver: libpq " << v / 10000 << "." << v % 10000 << "\n";
  connection owned = open_plain();
  PGconn* c = owned.get();
  std::cout << "connect: ok\n";
  {
    // libpq keeps no SQLSTATE for a refused login: the FATAL line of its message it is.
    connection refused(PQconnectdb(("host=" + env("DRIVER_HOST") + " port=" + env("DRIVER_PORT") +
                                    " sslmode=disable user=" + env("DRIVER_USER") +
                                    " password=wrong dbname=" + env("DRIVER_DATABASE"))
                                       .c_str()));
    const std::string message = PQerrorMessage(refused.get());
    const auto fatal = message.find("FATAL:  ");
    std::cout << "bad password: "
              << (PQstatus(refused.get()) == CONNECTION_OK ? "accepted"
                  : fatal == std::string::npos
                      ? "refused without FATAL"
                      : "refused " +
                            message.substr(fatal + 8, message.find('\n', fatal) - fatal - 8))
              << "\n";
  }
  std::cout << "simple: " << row_text(exec(c, "select 1 as a, 'two' as b").get(), 0) << "\n";

  const std::string t = table;
  exec(c,
       "drop table if exists " + t + "; create table " + t +
           " (id int primary key, name text, amount numeric(6,2))",
       PGRES_COMMAND_OK);
  std::cout << "setup: ok\n";

  const std::string insert = "insert into " + t + " (id, name, amount) values ($1, $2, $3)";
  int inserted = 0;
  inserted +=
      std::atoi(PQcmdTuples(exec_params(c, insert, {"1", "one", "1.50"}, PGRES_COMMAND_OK).get()));
  inserted +=
      std::atoi(PQcmdTuples(exec_params(c, insert, {"2", "two", "2.50"}, PGRES_COMMAND_OK).get()));
  inserted += std::atoi(
      PQcmdTuples(exec_params(c, insert, {"3", nullptr, nullptr}, PGRES_COMMAND_OK).get()));
  std::cout << "extended insert: " << inserted << "\n";
  const std::string select = "select id, name, amount from " + t + " where id = $1";
  std::cout << "extended select: " << row_text(exec_params(c, select, {"2"}).get(), 0) << "\n";
  std::cout << "extended null: " << row_text(exec_params(c, select, {"3"}).get(), 0) << "\n";

  checked(PQprepare(c, "double_it", "select $1::int * 2", 1, nullptr), PGRES_COMMAND_OK, c);
  long sum = 0;
  int answers = 0;
  for (int i = 1; i <= 100; ++i) {
    const std::string value = std::to_string(i);
    const char* params[] = {value.c_str()};
    result r =
        checked(PQexecPrepared(c, "double_it", 1, params, nullptr, nullptr, 0), PGRES_TUPLES_OK, c);
    sum += std::atol(PQgetvalue(r.get(), 0, 0));
    ++answers;
  }
  std::cout << "prepared: " << answers << " " << sum << "\n";
  std::cout << "settings: " << row_text(exec(c, settings_query).get(), 0) << "\n";

  exec(c, "begin", PGRES_COMMAND_OK);
  exec(c, "insert into " + t + " (id, name) values (10, 'ten')", PGRES_COMMAND_OK);
  std::cout << "transaction error: "
            << failure(c, "insert into " + t + " (id, name) values (10, 'again')") << "\n";
  std::cout << "transaction aborted: " << failure(c, "select 1").substr(0, 5) << "\n";
  exec(c, "rollback", PGRES_COMMAND_OK);
  std::cout << "transaction rollback: " << field(exec(c, "select count(*) from " + t).get(), 0, 0)
            << "\n";

  copy_steps(c);
  cancel_steps(c);
  std::cout << "error: " << failure(c, "select * from drivers_missing") << "\n";
  tls_steps();
}

}  // namespace

int main() {
  try {
    run();
  } catch (const std::exception& e) {
    std::cout << std::flush;
    std::cerr << "scenario failed: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
