// libpq pipeline mode through pgsteer in transaction mode: many Syncs in flight, an error in the
// middle aborting only its own segment, and the server released only when all is answered, so a
// second client sharing the single server sees none of it.
#include <catch2/catch.hpp>

#include <libpq-fe.h>

#include <string>
#include <vector>

#include "cluster.hpp"
#include "pg.hpp"
#include "pgsteer_process.hpp"

using pgsteer::test::cluster;
using pgsteer::test::pgsteer_options;
using pgsteer::test::pgsteer_process;
namespace pg = pgsteer::test::pg;

namespace {

// Sends `count` queries in pipeline mode, a Sync after each, query `failing` dividing by zero;
// returns one line per result: the value, "error <SQLSTATE>", "aborted" or "sync".
std::vector<std::string> run_pipeline(pg::connection& c, int count, int failing) {
  PGconn* conn = c.native();
  REQUIRE(PQenterPipelineMode(conn) == 1);
  for (int i = 0; i < count; ++i) {
    const std::string value = std::to_string(i);
    const char* params[] = {value.c_str()};
    const char* sql = i == failing ? "select $1::int / 0" : "select $1::int * 10";
    REQUIRE(PQsendQueryParams(conn, sql, 1, nullptr, params, nullptr, nullptr, 0) == 1);
    REQUIRE(PQpipelineSync(conn) == 1);
  }
  std::vector<std::string> out;
  int syncs = 0;
  while (syncs < count) {
    PGresult* res = PQgetResult(conn);
    if (res == nullptr) continue;  // end of one query's results
    switch (PQresultStatus(res)) {
      case PGRES_TUPLES_OK:
        out.emplace_back(PQgetvalue(res, 0, 0));
        break;
      case PGRES_FATAL_ERROR: {
        const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        out.push_back(std::string("error ") + (state != nullptr ? state : "none"));
        if (state == nullptr) {  // the connection is gone: no more results will come
          PQclear(res);
          return out;
        }
        break;
      }
      case PGRES_PIPELINE_ABORTED:
        out.emplace_back("aborted");
        break;
      case PGRES_PIPELINE_SYNC:
        out.emplace_back("sync");
        ++syncs;
        break;
      default:
        out.push_back(std::string("unexpected ") + PQresStatus(PQresultStatus(res)));
        break;
    }
    PQclear(res);
  }
  REQUIRE(PQexitPipelineMode(conn) == 1);
  return out;
}

}  // namespace

TEST_CASE("a libpq pipeline with 50 Syncs in flight gets PostgreSQL's answers through pgsteer",
          "[proxy]") {
  auto& c = cluster::shared();
  pgsteer_options options;
  options.pool_size = 1;
  options.workers = 1;
  pgsteer_process proxy(c, options);
  pg::connection direct(c.app_conninfo(0));
  pg::connection client(proxy.conninfo("app_rw"));
  pg::connection other(proxy.conninfo("app_rw"));

  const auto expected = run_pipeline(direct, 50, 20);
  REQUIRE(expected.size() == 100);
  REQUIRE(expected[40] == "error 22012");
  REQUIRE(expected[42] == "210");

  for (int round = 0; round < 3; ++round) {
    INFO("round " << round);
    CHECK(run_pipeline(client, 50, 20) == expected);
    // The single server went back to the pool clean: another client uses it at once.
    CHECK(other.scalar("select 'other'") == "other");
    CHECK(other.scalar("select count(*) from pg_prepared_statements") == "0");
  }
}
