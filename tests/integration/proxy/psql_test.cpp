// psql, the client operators use by hand, through pgsteer: a one-off command and a script with
// psql variables and a catalog-driven \d, each printing what a direct connection prints.
#include <catch2/catch.hpp>

#include <string>

#include "cluster.hpp"
#include "pg.hpp"
#include "pgsteer_process.hpp"

using pgsteer::test::cluster;
using pgsteer::test::pgsteer_process;
using pgsteer::test::run_command;
namespace pg = pgsteer::test::pg;

namespace {

std::string conn_string(int port) {
  return "host=127.0.0.1 port=" + std::to_string(port) + " dbname=app user=app";
}

pgsteer::test::command_result psql(int port, const std::vector<std::string>& args,
                                   const std::string& input = {}) {
  std::vector<std::string> argv = {"psql", "-X", "-v", "ON_ERROR_STOP=1", conn_string(port)};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, input, {"PGPASSWORD=app", "PGCONNECT_TIMEOUT=10"});
}

}  // namespace

TEST_CASE("psql runs a command through pgsteer and prints what a direct connection prints",
          "[proxy]") {
  auto& c = cluster::shared();
  pgsteer_process proxy(c);

  const auto through = psql(proxy.port(), {"-c", "select 1"});
  INFO(through.output);
  REQUIRE(through.exit_code == 0);
  CHECK(through.output ==
        " ?column? \n"
        "----------\n"
        "        1\n"
        "(1 row)\n"
        "\n");
  const auto direct = psql(c.port(0), {"-c", "select 1"});
  CHECK(through.output == direct.output);
}

TEST_CASE("a psql script with variables, queries and \\d works through pgsteer", "[proxy]") {
  auto& c = cluster::shared();
  {
    pg::connection direct(c.app_conninfo(0));
    direct.exec(
        "drop table if exists psql_probe; "
        "create table psql_probe (id int primary key, note text not null default 'none')");
    direct.exec("insert into psql_probe values (1, 'one'), (2, 'two')");
  }
  c.wait_caught_up();  // the split route may send reads to a replica
  pgsteer_process proxy(c);

  const std::string script =
      "\\set answer 41\n"
      "select :answer + 1 as answer;\n"
      "select current_user, current_database();\n"
      "select note from psql_probe order by id;\n"
      "\\d psql_probe\n"
      "\\echo done\n";
  const auto through = psql(proxy.port(), {"-f", "-"}, script);
  INFO(through.output);
  REQUIRE(through.exit_code == 0);
  CHECK_THAT(through.output, Catch::Contains(" answer \n--------\n     42\n(1 row)\n"));
  CHECK_THAT(through.output, Catch::Contains(" current_user | current_database \n"
                                             "--------------+------------------\n"
                                             " app          | app\n"));
  CHECK_THAT(through.output, Catch::Contains(" note \n------\n one\n two\n(2 rows)\n"));
  CHECK_THAT(through.output, Catch::Contains("Table \"public.psql_probe\""));
  CHECK_THAT(through.output, Catch::Contains("\"psql_probe_pkey\" PRIMARY KEY, btree (id)"));
  CHECK_THAT(through.output, Catch::EndsWith("done\n"));

  // Byte for byte what psql prints against PostgreSQL itself.
  const auto direct = psql(c.port(0), {"-f", "-"}, script);
  REQUIRE(direct.exit_code == 0);
  CHECK(through.output == direct.output);
}

TEST_CASE("psql stops on an SQL error through pgsteer with PostgreSQL's message", "[proxy]") {
  auto& c = cluster::shared();
  pgsteer_process proxy(c);
  const std::string script = "select 1/0;\n\\echo not reached\n";
  const auto through = psql(proxy.port(), {"-f", "-"}, script);
  CHECK(through.exit_code == 3);  // ON_ERROR_STOP in a script
  CHECK_THAT(through.output, Catch::Contains("ERROR:  division by zero"));
  CHECK_THAT(through.output, !Catch::Contains("not reached"));
}
