// Parked clients (parked_client.hpp) against the real cluster: a client quiet long enough loses
// its session and keeps only a small parked form; what it set up before (settings, prepared
// statements, its cancel key) is there when it speaks again, and the admin console, KILL and
// clients.idle_timeout reach it while it is parked.
#include <libpq-fe.h>
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "cluster.hpp"
#include "eventually.hpp"
#include "pg.hpp"
#include "pgsteer_process.hpp"

using pgsteer::test::cluster;
using pgsteer::test::eventually;
using pgsteer::test::pgsteer_options;
using pgsteer::test::pgsteer_process;
namespace pg = pgsteer::test::pg;

namespace {

using record = std::map<std::string, std::string>;

pgsteer_options parking_options() {
  pgsteer_options o;
  o.workers = 1;
  o.log_level = "debug";  // "client N parked" / "client N woke"
  o.extra_users = {"{ name: admin, password: admin, admin: true }"};
  return o;
}

std::vector<record> show(pg::connection& console, const std::string& command) {
  PGresult* r = PQexec(console.native(), command.c_str());
  REQUIRE(PQresultStatus(r) == PGRES_TUPLES_OK);
  std::vector<record> out;
  for (int row = 0; row < PQntuples(r); ++row) {
    record rec;
    for (int col = 0; col < PQnfields(r); ++col) {
      rec[PQfname(r, col)] = PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col);
    }
    out.push_back(std::move(rec));
  }
  PQclear(r);
  return out;
}

std::size_t count(const std::string& text, const std::string& word) {
  std::size_t n = 0;
  for (auto at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("a parked client wakes with its settings, statements and key", "[admin]") {
  auto& c = cluster::shared();
  pgsteer_process proxy(c, parking_options());
  pg::connection client(proxy.conninfo("app_rw") + " application_name=parked-one");
  client.exec("set timezone = 'Asia/Tokyo'");
  PGresult* prepared = PQprepare(client.native(), "plus_one", "select $1::int + 1", 1, nullptr);
  REQUIRE(PQresultStatus(prepared) == PGRES_COMMAND_OK);
  PQclear(prepared);
  // Quiet for a second: it parks.
  REQUIRE(eventually([&] { return count(proxy.log(), " parked") >= 1; }));
  const auto woke_before = count(proxy.log(), " woke");
  {
    pg::connection console(proxy.conninfo("pgsteer", "admin", "admin"));
    bool listed = false;
    for (const auto& cl : show(console, "SHOW CLIENTS")) {
      if (cl.at("application_name") != "parked-one") continue;
      listed = true;
      CHECK(cl.at("database") == "app_rw");
      CHECK(cl.at("user") == "app");
      CHECK(cl.at("state") == "active");
      CHECK(cl.at("addr") == "127.0.0.1");
      CHECK(cl.at("local_port") == std::to_string(proxy.port()));
      CHECK(cl.at("pid") == std::to_string(PQbackendPID(client.native())));
    }
    CHECK(listed);
  }
  CHECK(client.scalar("show timezone") == "Asia/Tokyo");
  CHECK(count(proxy.log(), " woke") > woke_before);
  const char* one[] = {"41"};
  PGresult* r = PQexecPrepared(client.native(), "plus_one", 1, one, nullptr, nullptr, 0);
  REQUIRE(PQresultStatus(r) == PGRES_TUPLES_OK);
  CHECK(std::string(PQgetvalue(r, 0, 0)) == "42");
  PQclear(r);
  // RESET still returns to what it connected with (the server's default here).
  client.exec("reset timezone");
  CHECK(client.scalar("show timezone") != "Asia/Tokyo");
  // Parked again, then a cancel request with its key reaches the session it wakes into.
  const auto parked_before = count(proxy.log(), " parked");
  REQUIRE(eventually([&] { return count(proxy.log(), " parked") > parked_before; }));
  REQUIRE(PQsendQuery(client.native(), "select pg_sleep(30)") == 1);
  pg::connection primary(c.super_conninfo(0));
  CHECK(eventually([&] {
    return primary.scalar(
               "select count(*) from pg_stat_activity where query = "
               "'select pg_sleep(30)' and state = 'active'") == "1";
  }));
  PGcancel* cancel = PQgetCancel(client.native());
  char error[256];
  CHECK(PQcancel(cancel, error, sizeof error) == 1);
  PQfreeCancel(cancel);
  PGresult* cancelled = PQgetResult(client.native());
  const char* state = PQresultErrorField(cancelled, PG_DIAG_SQLSTATE);
  CHECK(std::string(state ? state : "") == "57014");
  PQclear(cancelled);
  while (PGresult* rest = PQgetResult(client.native())) PQclear(rest);
  CHECK(client.scalar("select 'still here'") == "still here");
}

TEST_CASE("KILL and clients.idle_timeout reach a parked client", "[admin]") {
  auto& c = cluster::shared();
  auto options = parking_options();
  options.client_idle_timeout = "3s";
  pgsteer_process proxy(c, options);
  pg::connection killed(proxy.conninfo("app_rw"));
  pg::connection timed_out(proxy.conninfo("app"));
  CHECK(killed.scalar("select 1") == "1");
  CHECK(timed_out.scalar("select 1") == "1");
  REQUIRE(eventually([&] { return count(proxy.log(), " parked") >= 2; }));
  {
    pg::connection console(proxy.conninfo("pgsteer", "admin", "admin"));
    PGresult* r = PQexec(console.native(), "KILL app_rw");
    CHECK(PQresultStatus(r) == PGRES_COMMAND_OK);
    PQclear(r);
  }
  for (auto [client, words] :
       {std::pair{&killed, "terminating connection due to administrator command"},
        std::pair{&timed_out, "57P05: terminating connection due to idle-session timeout"}}) {
    if (client == &timed_out) {
      CHECK(eventually(
          [&] { return proxy.log().find("clients.idle_timeout") != std::string::npos; }));
    }
    PQsetErrorVerbosity(client->native(), PQERRORS_VERBOSE);
    PQclear(PQexec(client->native(), "select 1"));
    const std::string message = PQerrorMessage(client->native());
    INFO(message);
    CHECK(message.find(words) != std::string::npos);
    CHECK(PQstatus(client->native()) == CONNECTION_BAD);
  }
}
