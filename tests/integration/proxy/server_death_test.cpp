// Server connections that die under pgsteer: mid-transaction the client gets PostgreSQL's error
// and others are untouched; an idle pooled one is replaced without any client noticing.
#include <catch2/catch.hpp>

#include <libpq-fe.h>

#include <chrono>
#include <string>
#include <thread>

#include "cluster.hpp"
#include "pg.hpp"
#include "pgsteer_process.hpp"

using pgsteer::test::cluster;
using pgsteer::test::pgsteer_options;
using pgsteer::test::pgsteer_process;
namespace pg = pgsteer::test::pg;
using namespace std::chrono_literals;

namespace {

// Terminates a backend and waits until it is gone, so its goodbye has been sent.
void terminate_backend(const cluster& c, const std::string& pid) {
  pg::connection super(c.super_conninfo(0));
  REQUIRE(super.scalar("select pg_terminate_backend(" + pid + ")") == "t");
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (super.scalar("select count(*) from pg_stat_activity where pid = " + pid) != "0") {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(20ms);
  }
}

// Runs `sql` (with the extended protocol when `extended`) and returns the SQLSTATE of the
// failure ("" for a failure without one, "ok" when it worked).
std::string outcome_of(pg::connection& c, const std::string& sql, std::string* message,
                       bool extended = false) {
  try {
    if (extended) {
      c.exec_params(sql, {});
    } else {
      c.exec(sql);
    }
    return "ok";
  } catch (const pg::error& e) {
    *message = e.what();
    return e.sqlstate();
  }
}

}  // namespace

TEST_CASE("a server killed mid-transaction fails that client's transaction only",
          "[proxy][destructive]") {
  cluster own({.replicas = 1});
  pg::connection(own.app_conninfo(0))
      .exec("create table death_rows (id int primary key, note text)");

  // What PostgreSQL itself tells a client whose backend is terminated inside a transaction.
  {
    pg::connection direct(own.app_conninfo(0));
    direct.exec("begin");
    terminate_backend(own, direct.scalar("select pg_backend_pid()"));
    std::string message;
    const auto state = outcome_of(direct, "select 1", &message);
    INFO("direct: " << message);
    REQUIRE(state == "57P01");
  }

  pgsteer_options options;
  options.pool_size = 2;
  options.workers = 1;
  pgsteer_process proxy(own, options);
  pg::connection victim(proxy.conninfo("app_rw"));
  pg::connection bystander(proxy.conninfo("app_rw"));

  victim.exec("begin");
  victim.exec("insert into death_rows values (1, 'victim')");
  const std::string victim_pid = victim.scalar("select pg_backend_pid()");
  bystander.exec("begin");
  bystander.exec("insert into death_rows values (2, 'bystander')");
  REQUIRE(bystander.scalar("select pg_backend_pid()") != victim_pid);

  terminate_backend(own, victim_pid);

  // The victim's transaction is over and its next statement says why. Its connection to
  // pgsteer stays (transaction pooling gives it another server), but like a PostgreSQL
  // transaction after an error, the block stays failed until the client ends it: nothing the
  // client sends next can run outside the transaction it believes it is in.
  std::string message;
  const auto state = outcome_of(victim, "select 1", &message);
  INFO("victim: " << message);
  CHECK(state == "08006");
  CHECK(message.find("lost the connection to the backend") != std::string::npos);
  REQUIRE(PQstatus(victim.native()) == CONNECTION_OK);
  CHECK(PQtransactionStatus(victim.native()) == PQTRANS_INERROR);
  std::string second;
  CHECK(outcome_of(victim, "insert into death_rows values (3, 'after the loss')", &second) ==
        "25P02");
  victim.exec("rollback");
  CHECK(PQtransactionStatus(victim.native()) == PQTRANS_IDLE);
  CHECK(victim.scalar("select 'victim again'") == "victim again");

  // The other client's transaction is untouched.
  CHECK(bystander.scalar("select note from death_rows where id = 2") == "bystander");
  bystander.exec("commit");
  pg::connection direct(own.app_conninfo(0));
  CHECK(direct.scalar("select string_agg(note, ',' order by id) from death_rows") == "bystander");

  // A COMMIT is what comes next: it fails with the loss, since the client saw no error before,
  // and the block is over, as after a COMMIT that could not commit. Answered ROLLBACK, it would
  // look like success.
  for (const bool extended : {false, true}) {
    INFO((extended ? "extended protocol" : "simple protocol"));
    const std::string id = extended ? "5" : "4";
    victim.exec("begin");
    victim.exec("insert into death_rows values (" + id + ", 'lost before commit')");
    terminate_backend(own, victim.scalar("select pg_backend_pid()"));
    std::string commit_error;
    const auto committed = outcome_of(victim, "commit", &commit_error, extended);
    INFO(commit_error);
    CHECK(committed == "08006");
    CHECK(PQtransactionStatus(victim.native()) == PQTRANS_IDLE);
    CHECK(direct.scalar("select count(*) from death_rows where id = " + id) == "0");
  }

  // The dead server is never handed out again: every new client's queries work.
  for (int i = 0; i < 6; ++i) {
    INFO("fresh client " << i);
    pg::connection fresh(proxy.conninfo("app_rw"));
    CHECK(fresh.scalar("select 'fresh " + std::to_string(i) + "'") == "fresh " + std::to_string(i));
    CHECK(fresh.scalar("select pg_backend_pid()") != victim_pid);
  }
  CHECK(bystander.scalar("select 'bystander still here'") == "bystander still here");
}

TEST_CASE("an idle pooled server that dies is replaced without the client noticing", "[proxy]") {
  auto& c = cluster::shared();
  pgsteer_options options;
  options.pool_size = 1;
  options.workers = 1;
  pgsteer_process proxy(c, options);
  pg::connection client(proxy.conninfo("app_rw"));
  const std::string first_pid = client.scalar("select pg_backend_pid()");

  terminate_backend(c, first_pid);

  // The only server of the pool is dead; the next transaction runs on a new one.
  std::string message;
  CHECK(outcome_of(client, "select 1", &message) == "ok");
  INFO(message);
  const std::string second_pid = client.scalar("select pg_backend_pid()");
  CHECK(second_pid != first_pid);
  CHECK(client.scalar("select 'still fine'") == "still fine");
}

TEST_CASE("a statement whose server dies under it fails, and the client carries on",
          "[proxy][destructive]") {
  cluster own({.replicas = 0});
  pgsteer_options options;
  options.pool_size = 2;
  options.workers = 1;
  pgsteer_process proxy(own, options);
  pg::connection client(proxy.conninfo("app_rw"));
  pg::connection super(own.super_conninfo(0));

  for (const bool extended : {false, true}) {
    INFO((extended ? "extended protocol" : "simple protocol"));
    const int sent = extended ? PQsendQueryParams(client.native(), "select pg_sleep(60)", 0,
                                                  nullptr, nullptr, nullptr, nullptr, 0)
                              : PQsendQuery(client.native(), "select pg_sleep(60)");
    REQUIRE(sent == 1);
    // Wait until the statement runs, then end its backend.
    std::string pid;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (pid.empty()) {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      pid = super.scalar(
          "select coalesce(max(pid)::text, '') from pg_stat_activity "
          "where query = 'select pg_sleep(60)' and state = 'active'");
      if (pid.empty()) std::this_thread::sleep_for(20ms);
    }
    REQUIRE(super.scalar("select pg_terminate_backend(" + pid + ")") == "t");
    std::string state;
    while (PGresult* res = PQgetResult(client.native())) {
      if (PQresultStatus(res) == PGRES_FATAL_ERROR) {
        const char* s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        state = s ? s : "";
      }
      PQclear(res);
    }
    CHECK(state == "08006");
    REQUIRE(PQstatus(client.native()) == CONNECTION_OK);
    CHECK(PQtransactionStatus(client.native()) == PQTRANS_IDLE);
    // Not in a transaction block: the next statement simply runs, on another server.
    CHECK(client.scalar("select pg_backend_pid()") != pid);
  }
}
