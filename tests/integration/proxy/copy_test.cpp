// COPY through pgsteer: 100k rows in with COPY FROM STDIN, the same rows back out with COPY TO
// STDOUT byte for byte, and a ~50 MB COPY out whose size is exact.
#include <catch2/catch.hpp>

#include <libpq-fe.h>

#include <string>

#include "cluster.hpp"
#include "pg.hpp"
#include "pgsteer_process.hpp"

using pgsteer::test::cluster;
using pgsteer::test::pgsteer_process;
namespace pg = pgsteer::test::pg;

namespace {

std::string row_text(int i) {
  return std::to_string(i) + "\tpayload number " + std::to_string(i) + " with a tab\\there\n";
}

// Runs a COPY ... TO STDOUT; returns rows and bytes received, or throws with the error.
std::pair<long long, long long> copy_out(pg::connection& c, const std::string& sql,
                                         std::string* keep = nullptr) {
  PGresult* res = PQexec(c.native(), sql.c_str());
  const auto status = PQresultStatus(res);
  PQclear(res);
  if (status != PGRES_COPY_OUT) throw pg::error(PQerrorMessage(c.native()), "");
  long long rows = 0;
  long long bytes = 0;
  char* buffer = nullptr;
  int n = 0;
  while ((n = PQgetCopyData(c.native(), &buffer, 0)) > 0) {
    ++rows;
    bytes += n;
    if (keep != nullptr) keep->append(buffer, static_cast<std::size_t>(n));
    PQfreemem(buffer);
  }
  REQUIRE(n == -1);  // end of COPY, not an error (-2)
  PGresult* done = PQgetResult(c.native());
  const auto final_status = PQresultStatus(done);
  const std::string message = PQresultErrorMessage(done);
  PQclear(done);
  while (PGresult* rest = PQgetResult(c.native())) PQclear(rest);
  if (final_status != PGRES_COMMAND_OK) throw pg::error(message, "");
  return {rows, bytes};
}

}  // namespace

TEST_CASE("COPY FROM STDIN and COPY TO STDOUT pass 100k rows through pgsteer", "[proxy]") {
  auto& c = cluster::shared();
  pg::connection direct(c.app_conninfo(0));
  direct.exec("drop table if exists copy_rows; create table copy_rows (id int, payload text)");

  pgsteer_process proxy(c);
  pg::connection client(proxy.conninfo("app_rw"));

  constexpr int count = 100000;
  std::string sent;
  for (int i = 1; i <= count; ++i) sent += row_text(i);

  PGresult* res = PQexec(client.native(), "copy copy_rows from stdin");
  REQUIRE(PQresultStatus(res) == PGRES_COPY_IN);
  PQclear(res);
  // Chunks that do not line up with rows, as a streaming client sends them.
  constexpr std::size_t chunk = 7919;
  for (std::size_t at = 0; at < sent.size(); at += chunk) {
    const auto n = std::min(chunk, sent.size() - at);
    REQUIRE(PQputCopyData(client.native(), sent.data() + at, static_cast<int>(n)) == 1);
  }
  REQUIRE(PQputCopyEnd(client.native(), nullptr) == 1);
  res = PQgetResult(client.native());
  INFO(PQresultErrorMessage(res));
  REQUIRE(PQresultStatus(res) == PGRES_COMMAND_OK);
  CHECK(std::string(PQcmdStatus(res)) == "COPY 100000");
  PQclear(res);
  while (PGresult* rest = PQgetResult(client.native())) PQclear(rest);

  CHECK(direct.scalar("select count(*) from copy_rows") == std::to_string(count));

  std::string received;
  const auto [rows, bytes] =
      copy_out(client, "copy (select * from copy_rows order by id) to stdout", &received);
  CHECK(rows == count);
  CHECK(bytes == static_cast<long long>(sent.size()));
  CHECK(received == sent);

  // The connection is in a normal state afterwards.
  CHECK(client.scalar("select count(*) from copy_rows where id % 1000 = 0") == "100");
}

TEST_CASE("a 50 MB COPY TO STDOUT streams through pgsteer whole", "[proxy]") {
  auto& c = cluster::shared();
  pgsteer_process proxy(c);
  pg::connection client(proxy.conninfo());
  // 50,000 rows of 1,000 characters and a newline.
  const auto [rows, bytes] =
      copy_out(client, "copy (select repeat('x', 1000) from generate_series(1, 50000)) to stdout");
  CHECK(rows == 50000);
  CHECK(bytes == 50000LL * 1001);
  CHECK(client.scalar("select 'after copy'") == "after copy");
}

TEST_CASE("a COPY FROM STDIN that fails reports PostgreSQL's error and the client goes on",
          "[proxy]") {
  auto& c = cluster::shared();
  pg::connection direct(c.app_conninfo(0));
  direct.exec("drop table if exists copy_bad; create table copy_bad (id int)");
  pgsteer_process proxy(c);
  pg::connection client(proxy.conninfo("app_rw"));

  PGresult* res = PQexec(client.native(), "copy copy_bad from stdin");
  REQUIRE(PQresultStatus(res) == PGRES_COPY_IN);
  PQclear(res);
  const std::string data = "1\n2\nnot a number\n4\n";
  REQUIRE(PQputCopyData(client.native(), data.data(), static_cast<int>(data.size())) == 1);
  REQUIRE(PQputCopyEnd(client.native(), nullptr) == 1);
  res = PQgetResult(client.native());
  REQUIRE(PQresultStatus(res) == PGRES_FATAL_ERROR);
  CHECK(std::string(PQresultErrorField(res, PG_DIAG_SQLSTATE)) == "22P02");
  CHECK(std::string(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)) ==
        "invalid input syntax for type integer: \"not a number\"");
  PQclear(res);
  while (PGresult* rest = PQgetResult(client.native())) PQclear(rest);
  CHECK(direct.scalar("select count(*) from copy_bad") == "0");
  CHECK(client.scalar("select 'after failed copy'") == "after failed copy");
}
