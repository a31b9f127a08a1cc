// Named prepared statements in transaction mode: clients prepare with libpq (Parse with a name)
// and execute many times while their transactions land on different server connections; results
// are those of a direct connection. Also what happens after DDL changes a statement's result.
#include <catch2/catch.hpp>

#include <libpq-fe.h>

#include <algorithm>
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

// A PGresult with the facts a test checks, or the error it carried.
struct outcome {
  bool ok = false;
  std::string sqlstate;
  std::string message;
  int columns = 0;
  std::vector<std::string> values;  // first row
};

outcome take(PGresult* res, PGconn* conn) {
  outcome o;
  const auto status = res != nullptr ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  o.ok = status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK;
  if (!o.ok) {
    const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
    const char* primary =
        res != nullptr ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
    o.sqlstate = state != nullptr ? state : "";
    o.message = primary != nullptr ? primary : PQerrorMessage(conn);
  } else {
    o.columns = PQnfields(res);
    if (PQntuples(res) > 0) {
      for (int i = 0; i < o.columns; ++i) o.values.emplace_back(PQgetvalue(res, 0, i));
    }
  }
  if (res != nullptr) PQclear(res);
  return o;
}

outcome prepare(pg::connection& c, const std::string& name, const std::string& sql) {
  return take(PQprepare(c.native(), name.c_str(), sql.c_str(), 0, nullptr), c.native());
}

outcome execute(pg::connection& c, const std::string& name, const std::vector<std::string>& args) {
  std::vector<const char*> values;
  for (const auto& a : args) values.push_back(a.c_str());
  return take(PQexecPrepared(c.native(), name.c_str(), static_cast<int>(values.size()),
                             values.data(), nullptr, nullptr, 0),
              c.native());
}

std::string first(const outcome& o) {
  return o.values.empty() ? "(no row: " + o.sqlstate + " " + o.message + ")" : o.values.front();
}

}  // namespace

TEST_CASE("named prepared statements of two clients stay theirs across server connections",
          "[proxy]") {
  auto& c = cluster::shared();
  // One worker, so the pool of 2 is not split between workers.
  pgsteer_options options;
  options.pool_mode = "transaction";
  options.pool_size = 2;
  options.workers = 1;
  pgsteer_process proxy(c, options);
  pg::connection a(proxy.conninfo("app_rw"));
  pg::connection b(proxy.conninfo("app_rw"));
  pg::connection holder(proxy.conninfo("app_rw"));  // pins one server now and then

  // Same name, different SQL; and different names, same SQL.
  REQUIRE(prepare(a, "s1", "select $1::int + 1").ok);
  REQUIRE(prepare(b, "s1", "select $1::text || '-b'").ok);
  REQUIRE(prepare(a, "twice_a", "select $1::int * 2").ok);
  REQUIRE(prepare(b, "twice_b", "select $1::int * 2").ok);

  // Describe with a name answers for the client's own statement.
  PGresult* da = PQdescribePrepared(a.native(), "s1");
  PGresult* db = PQdescribePrepared(b.native(), "s1");
  REQUIRE(PQresultStatus(da) == PGRES_COMMAND_OK);
  REQUIRE(PQresultStatus(db) == PGRES_COMMAND_OK);
  CHECK(PQnparams(da) == 1);
  CHECK(PQparamtype(da, 0) == 23);  // int4
  CHECK(PQftype(da, 0) == 23);
  CHECK(PQparamtype(db, 0) == 25);  // text
  CHECK(PQftype(db, 0) == 25);
  PQclear(da);
  PQclear(db);

  // Every few iterations `holder` opens a transaction on the server `a` used last, so `a` and
  // `b` must run on the other one, where their statements may not exist yet.
  const auto pid_of = [](pg::connection& conn) {
    return std::stoi(conn.scalar("select pg_backend_pid()"));
  };
  const auto pin = [&](int server) {
    for (int attempt = 0; attempt < 8; ++attempt) {
      holder.exec("begin");
      if (pid_of(holder) == server) return true;
      holder.exec("commit");
    }
    return false;
  };
  std::vector<int> a_servers, b_servers;
  a_servers.push_back(pid_of(a));
  for (int i = 0; i < 60; ++i) {
    INFO("iteration " << i);
    if (i % 6 == 0) REQUIRE(pin(a_servers.back()));
    if (i % 6 == 3) holder.exec("commit");
    const std::string n = std::to_string(i);
    CHECK(first(execute(a, "s1", {n})) == std::to_string(i + 1));
    CHECK(first(execute(b, "s1", {n})) == n + "-b");
    CHECK(first(execute(a, "twice_a", {n})) == std::to_string(2 * i));
    CHECK(first(execute(b, "twice_b", {n})) == std::to_string(2 * i));
    a_servers.push_back(pid_of(a));
    b_servers.push_back(pid_of(b));
  }
  // Each client ran on both servers, so its statements really moved between servers.
  std::sort(a_servers.begin(), a_servers.end());
  std::sort(b_servers.begin(), b_servers.end());
  CHECK(std::unique(a_servers.begin(), a_servers.end()) - a_servers.begin() == 2);
  CHECK(std::unique(b_servers.begin(), b_servers.end()) - b_servers.begin() == 2);
}

TEST_CASE("unknown and duplicate statement names fail as on PostgreSQL, leaving the first",
          "[proxy]") {
  auto& c = cluster::shared();
  pgsteer_options options;
  options.pool_mode = "transaction";
  options.pool_size = 2;
  pgsteer_process proxy(c, options);
  pg::connection a(proxy.conninfo("app_rw"));
  REQUIRE(prepare(a, "s1", "select $1::int + 1").ok);
  CHECK(first(execute(a, "s1", {"1"})) == "2");

  // Unknown names fail as on PostgreSQL.
  const auto missing = execute(a, "nope", {});
  CHECK_FALSE(missing.ok);
  CHECK(missing.sqlstate == "26000");
  CHECK(missing.message == "prepared statement \"nope\" does not exist");
  // Preparing a name twice fails as on PostgreSQL, and the first statement stays usable.
  const auto again = prepare(a, "s1", "select 1");
  CHECK_FALSE(again.ok);
  CHECK(again.sqlstate == "42P05");
  CHECK(again.message == "prepared statement \"s1\" already exists");
  CHECK(first(execute(a, "s1", {"41"})) == "42");
}

TEST_CASE("a prepared select * keeps working after ALTER TABLE adds a column", "[proxy]") {
  auto& c = cluster::shared();
  pg::connection direct(c.app_conninfo(0));
  direct.exec(
      "drop table if exists prepared_alter; "
      "create table prepared_alter (id int, a text); "
      "insert into prepared_alter values (1, 'x')");

  // What PostgreSQL itself does: the statement's result type is fixed, so it fails.
  REQUIRE(prepare(direct, "all_columns", "select * from prepared_alter").ok);
  REQUIRE(execute(direct, "all_columns", {}).columns == 2);

  pgsteer_options options;
  options.pool_mode = "transaction";
  options.pool_size = 2;
  pgsteer_process proxy(c, options);
  pg::connection client(proxy.conninfo("app_rw"));
  REQUIRE(prepare(client, "all_columns", "select * from prepared_alter").ok);
  REQUIRE(execute(client, "all_columns", {}).columns == 2);

  direct.exec("alter table prepared_alter add column b int default 7");
  const auto direct_after = execute(direct, "all_columns", {});
  REQUIRE_FALSE(direct_after.ok);
  REQUIRE(direct_after.sqlstate == "0A000");
  REQUIRE(direct_after.message == "cached plan must not change result type");

  // pgsteer heals it: the first execution may report PostgreSQL's error, a retry works.
  auto after = execute(client, "all_columns", {});
  if (!after.ok) {
    CHECK(after.sqlstate == "0A000");
    CHECK(after.message == "cached plan must not change result type");
    after = execute(client, "all_columns", {});
  }
  REQUIRE(after.ok);
  CHECK(after.columns == 3);
  CHECK(after.values == std::vector<std::string>{"1", "x", "7"});
  // And it stays healed.
  CHECK(execute(client, "all_columns", {}).values == std::vector<std::string>{"1", "x", "7"});
}

TEST_CASE("session mode: DEALLOCATE removes a prepared statement as on PostgreSQL", "[proxy]") {
  auto& c = cluster::shared();
  pgsteer_options options;
  options.pool_mode = "session";
  options.pool_size = 2;
  pgsteer_process proxy(c, options);
  pg::connection client(proxy.conninfo("app_rw"));
  REQUIRE(prepare(client, "plus", "select $1::int + 1").ok);
  CHECK(first(execute(client, "plus", {"1"})) == "2");
  client.exec("deallocate plus");
  const auto gone = execute(client, "plus", {"1"});
  CHECK_FALSE(gone.ok);
  CHECK(gone.sqlstate == "26000");
  CHECK(gone.message == "prepared statement \"plus\" does not exist");
  REQUIRE(prepare(client, "plus", "select $1::int + 2").ok);
  CHECK(first(execute(client, "plus", {"1"})) == "3");
}
