// Session state in transaction and statement pooling, with two clients sharing a pool of one
// server: a temporary table, a session advisory lock, a cursor WITH HOLD, LISTEN, an SQL-level
// PREPARE and a setting pgsteer cannot replay pin their client to the server (SHOW CLIENTS and
// the metrics say so) until the client ends the state or leaves; the other client never sees it.
// Session SETs of parameters the server does not report follow their client to every server
// and never reach the other client. docs/decisions/0018-session-state.md.
#include <catch2/catch.hpp>

#include <libpq-fe.h>

#include <map>
#include <string>
#include <vector>

#include "cluster.hpp"
#include "eventually.hpp"
#include "http_client.hpp"
#include "pg.hpp"
#include "pgsteer_process.hpp"

using pgsteer::test::cluster;
using pgsteer::test::eventually;
using pgsteer::test::free_port;
using pgsteer::test::http_get;
using pgsteer::test::pgsteer_options;
using pgsteer::test::pgsteer_process;
namespace pg = pgsteer::test::pg;

namespace {

pgsteer_options one_server(const char* mode, int http_port = 0) {
  pgsteer_options options;
  options.pool_mode = mode;
  options.pool_size = 1;
  options.workers = 1;
  options.http_port = http_port;
  options.extra_users = {"{ name: admin, password: admin, admin: true }"};
  return options;
}

// The `pinned` column of SHOW CLIENTS for the client with this application_name.
std::string pinned(const pgsteer_process& proxy, const std::string& application_name) {
  pg::connection console(proxy.conninfo("pgsteer", "admin", "admin"));
  PGresult* r = PQexec(console.native(), "SHOW CLIENTS");
  REQUIRE(PQresultStatus(r) == PGRES_TUPLES_OK);
  const int name_col = PQfnumber(r, "application_name");
  const int pinned_col = PQfnumber(r, "pinned");
  REQUIRE(pinned_col >= 0);
  std::string out = "(no such client)";
  for (int row = 0; row < PQntuples(r); ++row) {
    if (application_name == PQgetvalue(r, row, name_col)) out = PQgetvalue(r, row, pinned_col);
  }
  PQclear(r);
  return out;
}

// The value of an unlabelled sample in Prometheus text, or -1.
double metric(const std::string& text, const std::string& series) {
  const auto at = text.find("\n" + series + " ");
  return at == std::string::npos ? -1 : std::strtod(text.c_str() + at + series.size() + 2, nullptr);
}

struct state_kind {
  const char* label;   // SHOW CLIENTS' pinned column
  const char* create;  // makes the state
  const char* own;     // what its client reads of it in a later transaction...
  const char* own_want;
  const char* other;  // ...and what another client on the same server reads
  const char* other_want;
  const char* end;  // ends it
};

const std::vector<state_kind> kinds = {
    {"temp", "create temp table pin_t as select 7 as x", "select x from pin_t", "7",
     "select to_regclass('pg_temp.pin_t') is null", "t", "discard temp"},
    {"advisory_lock", "select pg_advisory_lock(4242)",
     "select count(*) from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()", "1",
     "select count(*) from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()", "0",
     "select pg_advisory_unlock_all()"},
    {"cursor", "declare pin_c cursor with hold for select generate_series(5, 9)",
     "select count(*) from pg_cursors where name = 'pin_c'", "1", "select count(*) from pg_cursors",
     "0", "close pin_c"},
    {"listen", "listen pin_channel", "select string_agg(c, ',') from pg_listening_channels() c",
     "pin_channel", "select count(*) from pg_listening_channels()", "0", "unlisten *"},
    {"prepare", "prepare pin_p (int) as select $1 * 2", "execute pin_p(21)", "42",
     "select count(*) from pg_prepared_statements where name = 'pin_p'", "0", "deallocate pin_p"},
    {"setting", "set search_path = 'Pin Schema'", "show search_path", "\"Pin Schema\"",
     "show search_path", "\"$user\", public", "reset search_path"},
};

// Sends `sql` from `c` without waiting; result() collects its single value.
struct pending_query {
  pg::connection& c;
  pending_query(pg::connection& connection, const std::string& sql) : c(connection) {
    REQUIRE(PQsendQuery(c.native(), sql.c_str()) == 1);
  }
  std::string result() {
    std::string value = "(no row)";
    while (PGresult* r = PQgetResult(c.native())) {
      if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) value = PQgetvalue(r, 0, 0);
      if (PQresultStatus(r) == PGRES_FATAL_ERROR) value = PQresultErrorMessage(r);
      PQclear(r);
    }
    return value;
  }
};

}  // namespace

TEST_CASE("session state pins its client to the server until it ends, and never leaks",
          "[proxy][session_state]") {
  auto& c = cluster::shared();
  // The reference: what a fresh direct connection reads, and what the owner reads of its state.
  for (const auto& k : kinds) {
    pg::connection direct(c.app_conninfo(0));
    pg::connection fresh(c.app_conninfo(0));
    direct.exec(k.create);
    REQUIRE(direct.scalar(k.own) == k.own_want);
    REQUIRE(fresh.scalar(k.other) == k.other_want);
  }
  for (const char* mode : {"transaction", "statement"}) {
    DYNAMIC_SECTION(mode << " pooling") {
      const int http_port = free_port();
      pgsteer_process proxy(c, one_server(mode, http_port));
      INFO(proxy.log());
      for (const auto& k : kinds) {
        INFO(k.label);
        // Ended by the client.
        {
          pg::connection a(proxy.conninfo("app_rw") + " application_name=owner");
          pg::connection b(proxy.conninfo("app_rw") + " application_name=other");
          a.exec(k.create);
          CHECK(pinned(proxy, "owner") == k.label);
          CHECK(pinned(proxy, "other").empty());
          const auto metrics = http_get(http_port, "/metrics").body;
          CHECK(metric(metrics, "pgsteer_clients_pinned") == 1);
          CHECK(metrics.find(std::string("pgsteer_client_pins_total{kind=\"") + k.label + "\"}") !=
                std::string::npos);
          for (int round = 0; round < 3; ++round) CHECK(a.scalar(k.own) == k.own_want);
          // The other client waits for the only server while the owner holds it, and gets it
          // once the owner ends its state.
          pending_query waiting(b, k.other);
          a.exec(k.end);
          CHECK(waiting.result() == k.other_want);
          CHECK(pinned(proxy, "owner").empty());
          CHECK(metric(http_get(http_port, "/metrics").body, "pgsteer_clients_pinned") == 0);
        }
        // Left behind by a client that disconnects: the server is reset before its next client.
        {
          pg::connection b(proxy.conninfo("app_rw") + " application_name=other");
          {
            pg::connection a(proxy.conninfo("app_rw") + " application_name=owner");
            a.exec(k.create);
            CHECK(a.scalar(k.own) == k.own_want);
          }
          CHECK(b.scalar(k.other) == k.other_want);
        }
      }
    }
  }
}

TEST_CASE("a session SET follows its client to every server and never reaches another client",
          "[proxy][session_state]") {
  auto& c = cluster::shared();
  pg::connection direct(c.app_conninfo(0));
  const std::string default_work_mem = direct.scalar("show work_mem");
  const std::string default_timeout = direct.scalar("show statement_timeout");
  REQUIRE(default_work_mem != "7MB");
  for (const char* mode : {"transaction", "statement"}) {
    DYNAMIC_SECTION(mode << " pooling") {
      // Two servers, so that the client's next transaction may land on the other one; each
      // check runs several times to use both.
      auto options = one_server(mode);
      options.pool_size = 2;
      pgsteer_process proxy(c, options);
      INFO(proxy.log());
      pg::connection a(proxy.conninfo("app_rw") + " application_name=setter");
      pg::connection b(proxy.conninfo("app_rw") + " application_name=other");
      a.exec("set work_mem = '7MB'");
      // The extended protocol (how pgjdbc sends its SETs).
      a.exec_params("set statement_timeout = '7s'", {});
      if (std::string(mode) == "transaction") {
        a.exec("begin; set work_mem = '9MB'; commit");
        a.exec("begin; set work_mem = '10MB'; rollback");
      } else {
        a.exec("set work_mem = '9MB'");
      }
      for (int round = 0; round < 4; ++round) {
        INFO("round " << round);
        pending_query busy(b, "select pg_sleep(0.05)");  // holds one server meanwhile
        CHECK(a.scalar("show work_mem") == "9MB");
        CHECK(a.scalar("show statement_timeout") == "7s");
        busy.result();
        CHECK(b.scalar("show work_mem") == default_work_mem);
        CHECK(b.scalar("show statement_timeout") == default_timeout);
      }
      CHECK(pinned(proxy, "setter").empty());
      a.exec("reset work_mem");
      a.exec("reset all");
      for (int round = 0; round < 3; ++round) {
        CHECK(a.scalar("show work_mem") == default_work_mem);
        CHECK(a.scalar("show statement_timeout") == default_timeout);
      }
    }
  }
}

TEST_CASE("a pinned client whose server is lost is disconnected, as on a direct connection",
          "[proxy][session_state]") {
  auto& c = cluster::shared();
  pg::connection super(c.super_conninfo(0));
  // Terminates the server session behind `client` and returns what its next query reads.
  auto after_termination = [&](pg::connection& client) {
    client.exec("listen pin_channel");
    const std::string server_pid = client.scalar("select pg_backend_pid()");
    REQUIRE(super.scalar("select pg_terminate_backend(" + server_pid + ")") == "t");
    REQUIRE(eventually([&] {
      return super.scalar("select count(*) from pg_stat_activity where pid = " + server_pid) == "0";
    }));
    PGresult* r = PQexec(client.native(), "select 1");
    const auto status = PQresultStatus(r);
    std::string message = PQresultErrorMessage(r);
    PQclear(r);
    CHECK(status == PGRES_FATAL_ERROR);
    CHECK(PQstatus(client.native()) == CONNECTION_BAD);
    return message;
  };
  pg::connection direct(c.app_conninfo(0));
  const std::string want = after_termination(direct);
  pgsteer_process proxy(c, one_server("transaction"));
  INFO(proxy.log());
  pg::connection a(proxy.conninfo("app_rw") + " application_name=owner");
  CHECK(after_termination(a) == want);
  // Others carry on, on a fresh server.
  pg::connection b(proxy.conninfo("app_rw"));
  CHECK(b.scalar("select count(*) from pg_listening_channels()") == "0");
}
