// A result of a couple of hundred MB streams through pgsteer with bounded memory, and a client
// that stops reading it stalls only itself: others keep being served meanwhile.
#include <catch2/catch.hpp>

#include <libpq-fe.h>

#include <fstream>
#include <string>

#include "cluster.hpp"
#include "pg.hpp"
#include "pgsteer_process.hpp"

using pgsteer::test::cluster;
using pgsteer::test::pgsteer_options;
using pgsteer::test::pgsteer_process;
namespace pg = pgsteer::test::pg;

namespace {

// A /proc/<pid>/status field in kB (VmRSS, VmHWM), -1 if missing.
long status_kb(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

}  // namespace

TEST_CASE("a 200 MB result streams through with bounded memory while its reader stalls",
          "[proxy]") {
  auto& c = cluster::shared();
  pgsteer_options options;
  options.pool_size = 2;
  options.workers = 1;
  pgsteer_process proxy(c, options);
  pg::connection reader(proxy.conninfo("app_rw"));
  pg::connection other(proxy.conninfo("app_rw"));
  CHECK(other.scalar("select 1") == "1");
  // What pgsteer holds with its clients and servers connected, before the big result. Sanitizer
  // builds start higher (shadow memory), so the bound below is on growth, not on the total.
  const long baseline_kb = status_kb(proxy.pid(), "VmHWM");
  REQUIRE(baseline_kb > 0);

  constexpr long long rows = 200000;
  constexpr long long row_bytes = 1000;
  REQUIRE(PQsendQuery(reader.native(), ("select repeat('x', " + std::to_string(row_bytes) +
                                        ") from generate_series(1, " + std::to_string(rows) + ")")
                                           .c_str()) == 1);
  REQUIRE(PQsetSingleRowMode(reader.native()) == 1);

  // The reader reads nothing yet; the other client is served all the same.
  for (int i = 0; i < 20; ++i)
    CHECK(other.scalar("select " + std::to_string(i)) == std::to_string(i));

  // Now read it all, one row at a time.
  long long got_rows = 0;
  long long got_bytes = 0;
  std::string error;
  while (PGresult* res = PQgetResult(reader.native())) {
    const auto status = PQresultStatus(res);
    if (status == PGRES_SINGLE_TUPLE) {
      ++got_rows;
      got_bytes += PQgetlength(res, 0, 0);
    } else if (status != PGRES_TUPLES_OK) {
      error = PQresultErrorMessage(res);
    }
    PQclear(res);
  }
  INFO(error);
  CHECK(error.empty());
  CHECK(got_rows == rows);
  CHECK(got_bytes == rows * row_bytes);

  // pgsteer never held the result: its peak resident memory grew by far less than its size.
  const long peak_kb = status_kb(proxy.pid(), "VmHWM");
  INFO("pgsteer peak RSS " << peak_kb << " kB, " << baseline_kb << " kB before the query");
  REQUIRE(peak_kb > 0);
  CHECK(peak_kb - baseline_kb < 32 * 1024);
  CHECK(reader.scalar("select 'after'") == "after");
}

TEST_CASE("a single 300 MB value streams through without pgsteer holding it", "[proxy]") {
  auto& c = cluster::shared();
  pgsteer_options options;
  options.pool_size = 1;
  options.workers = 1;
  pgsteer_process proxy(c, options);
  pg::connection client(proxy.conninfo("app_rw"));
  CHECK(client.scalar("select 1") == "1");
  const long baseline_kb = status_kb(proxy.pid(), "VmHWM");
  REQUIRE(baseline_kb > 0);

  // One DataRow of 300 MB: a value this large used to be framed whole in pgsteer's buffer (and
  // copied again into the client's), growing pgsteer by twice its size.
  constexpr long long value_bytes = 300LL * 1024 * 1024;
  for (const char* mode : {"simple", "extended"}) {
    INFO(mode << " protocol");
    const std::string sql = "select repeat('x', " + std::to_string(value_bytes) + ") as v";
    const auto rows =
        std::string(mode) == "simple" ? client.exec(sql) : client.exec_params(sql, {});
    REQUIRE(rows.size() == 1);
    REQUIRE(rows[0][0]);
    CHECK(static_cast<long long>(rows[0][0]->size()) == value_bytes);
    CHECK(rows[0][0]->find_first_not_of('x') == std::string::npos);
  }
  const long peak_kb = status_kb(proxy.pid(), "VmHWM");
  INFO("pgsteer peak RSS " << peak_kb << " kB, " << baseline_kb << " kB before the query");
  CHECK(peak_kb - baseline_kb < 32 * 1024);
  // The server went back to the pool in a clean state: the next query on it works.
  CHECK(client.scalar("select 'after'") == "after");
  pg::connection other(proxy.conninfo("app_rw"));
  CHECK(other.scalar("select 2") == "2");
}
