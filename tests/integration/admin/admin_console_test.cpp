// The admin console (database `pgsteer`) against the real cluster: what SHOW ... answers is
// compared with what the clients and PostgreSQL themselves see (pg_stat_activity, backend pids),
// and PAUSE / RESUME / KILL are watched from the clients' side.
#include <libpq-fe.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
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

using record = std::map<std::string, std::string>;  // column name -> value ("" for NULL)

pgsteer_options admin_options(int workers = 2) {
  pgsteer_options o;
  o.workers = workers;
  o.extra_users = {"{ name: admin, password: admin, admin: true }"};
  return o;
}

pg::connection admin(const pgsteer_process& proxy) {
  return pg::connection(proxy.conninfo("pgsteer", "admin", "admin"));
}

// Runs an admin command and returns its rows by column name; throws pg::error on an error.
std::vector<record> show(pg::connection& console, const std::string& command) {
  PGresult* r = PQexec(console.native(), command.c_str());
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    pg::error e(PQresultErrorMessage(r), state ? state : "");
    PQclear(r);
    throw e;
  }
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

// Runs a command that returns no rows; its command tag.
std::string command(pg::connection& console, const std::string& sql) {
  PGresult* r = PQexec(console.native(), sql.c_str());
  if (PQresultStatus(r) != PGRES_COMMAND_OK) {
    const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    pg::error e(PQresultErrorMessage(r), state ? state : "");
    PQclear(r);
    throw e;
  }
  std::string tag = PQcmdStatus(r);
  PQclear(r);
  return tag;
}

std::string sqlstate_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const pg::error& e) {
    return e.sqlstate();
  }
  return "none";
}

// The pids PostgreSQL shows for pgsteer's pooled connections on `node` (not the monitor's).
std::set<std::string> pooled_pids(const cluster& c, int node) {
  pg::connection super(c.super_conninfo(node, "app"));
  std::set<std::string> pids;
  for (const auto& row : super.exec(
           "select pid from pg_stat_activity where usename = 'app' and backend_type = 'client "
           "backend' and application_name <> 'pgsteer health check'")) {
    pids.insert(*row[0]);
  }
  return pids;
}

std::set<std::string> shown_pids(pg::connection& console, const std::string& backend) {
  std::set<std::string> pids;
  for (const auto& s : show(console, "SHOW SERVERS")) {
    if (s.at("backend") == backend) pids.insert(s.at("remote_pid"));
  }
  return pids;
}

// Reads what has arrived on an async connection; true while its query has not finished.
bool busy(pg::connection& conn) {
  PQconsumeInput(conn.native());
  return PQisBusy(conn.native()) != 0;
}

// The result of an async query once it is complete: its status, then drains the rest.
ExecStatusType finish(pg::connection& conn, std::string* error = nullptr) {
  ExecStatusType status = PGRES_COMMAND_OK;
  bool first = true;
  while (PGresult* r = PQgetResult(conn.native())) {
    if (first) {
      status = PQresultStatus(r);
      if (error) *error = PQresultErrorMessage(r);
      first = false;
    }
    PQclear(r);
  }
  return status;
}

}  // namespace

TEST_CASE("The admin console refuses non-admin users, unknown commands and extended protocol",
          "[admin]") {
  auto& c = cluster::shared();
  pgsteer_process proxy(c, admin_options());

  const auto refused = pgsteer::test::try_connect_verbose(proxy.conninfo("pgsteer", "app", "app"));
  REQUIRE(refused);
  CHECK(refused->severity == "FATAL");
  CHECK(refused->sqlstate == "42501");
  CHECK(refused->message.find("admin console") != std::string::npos);

  // A wrong password is refused as anywhere else, before the admin check.
  const auto wrong = pgsteer::test::try_connect_verbose(proxy.conninfo("pgsteer", "admin", "x"));
  REQUIRE(wrong);
  CHECK(wrong->sqlstate == "28P01");

  auto console = admin(proxy);
  try {
    show(console, "SHOW MEMORY");
    FAIL("SHOW MEMORY succeeded");
  } catch (const pg::error& e) {
    CHECK(e.sqlstate() == "42601");
    const std::string text = e.what();
    CHECK(text.find("unknown admin command \"SHOW MEMORY\"") != std::string::npos);
    CHECK(text.find("SHOW POOLS") != std::string::npos);  // the hint lists the commands
    CHECK(text.find("KILL db") != std::string::npos);
  }
  CHECK(sqlstate_of([&] { console.exec_params("SHOW POOLS", {}); }) == "0A000");
  CHECK(sqlstate_of([&] { command(console, "KILL nosuchdb"); }) == "3D000");
  CHECK(sqlstate_of([&] { command(console, "RESUME"); }) == "55000");  // nothing is paused
  // The session is still usable after each error.
  const auto version = show(console, "show version;");
  REQUIRE(version.size() == 1);
  CHECK(version[0].at("version").rfind("pgsteer ", 0) == 0);

  const auto config = show(console, "SHOW CONFIG");
  std::map<std::string, record> by_key;
  for (const auto& row : config) by_key[row.at("key")] = row;
  CHECK(by_key.at("pool.mode").at("value") == "transaction");
  CHECK(by_key.at("pool.size").at("value") == "10");
  CHECK(by_key.at("pool.size").at("default") == "20");
  CHECK(by_key.at("workers").at("changeable") == "no");

  // psql, as an operator would use it.
  const auto psql = pgsteer::test::run_command(
      {"psql", proxy.conninfo("pgsteer", "admin", "admin"), "-X", "-c", "SHOW DATABASES"});
  INFO(psql.output);
  CHECK(psql.exit_code == 0);
  CHECK(psql.output.find("app_ro") != std::string::npos);
  CHECK(psql.output.find("replica") != std::string::npos);
}

TEST_CASE("SHOW SERVERS matches pg_stat_activity on every backend", "[admin]") {
  auto& c = cluster::shared();
  pgsteer_process proxy(c, admin_options());
  // Servers on the primary held by open transactions, idle ones, and servers on the replicas.
  std::vector<pg::connection> holders;
  std::set<std::string> holder_pids;
  for (int i = 0; i < 3; ++i) {
    holders.emplace_back(proxy.conninfo("app_rw"));
    holders.back().exec("begin");
    holder_pids.insert(holders.back().scalar("select pg_backend_pid()"));
  }
  for (int i = 0; i < 4; ++i) {
    pg::connection reader(proxy.conninfo("app_ro"));
    CHECK(reader.scalar("select 1") == "1");
  }
  auto console = admin(proxy);
  for (int node = 0; node < c.nodes(); ++node) {
    const std::string backend = "pg" + std::to_string(node + 1);
    INFO("backend " << backend);
    CHECK(eventually([&] { return shown_pids(console, backend) == pooled_pids(c, node); }));
    if (node > 0) continue;
    CHECK(shown_pids(console, backend).size() >= 3);
  }
  // The servers held by the open transactions are the active ones, linked to their clients.
  std::set<std::string> active;
  for (const auto& s : show(console, "SHOW SERVERS")) {
    if (s.at("state") == "active") {
      active.insert(s.at("remote_pid"));
      CHECK_FALSE(s.at("link").empty());
      CHECK(s.at("database") == "app_rw");
      CHECK(s.at("user") == "app");
      CHECK(s.at("port") == std::to_string(c.port(0)));
    }
  }
  CHECK(active == holder_pids);
  for (auto& h : holders) h.exec("commit");
}

TEST_CASE("SHOW POOLS counts clients holding transactions and clients waiting", "[admin]") {
  auto& c = cluster::shared();
  auto options = admin_options(1);
  options.pool_size = 2;
  options.query_wait_timeout = "30s";
  pgsteer_process proxy(c, options);
  auto console = admin(proxy);

  auto pool_row = [&] {
    for (const auto& p : show(console, "SHOW POOLS")) {
      if (p.at("database") == "app_rw" && p.at("backend") == "pg1") return p;
    }
    return record{};
  };
  pg::connection a(proxy.conninfo("app_rw")), b(proxy.conninfo("app_rw"));
  a.exec("begin; select 1");
  b.exec("begin; select 1");
  auto row = pool_row();
  REQUIRE_FALSE(row.empty());
  CHECK(row.at("user") == "app");
  CHECK(row.at("cl_active") == "2");
  CHECK(row.at("sv_active") == "2");
  CHECK(row.at("cl_waiting") == "0");
  CHECK(row.at("pool_mode") == "transaction");

  // A third client finds the pool full and waits.
  pg::connection waiter(proxy.conninfo("app_rw"));
  REQUIRE(PQsendQuery(waiter.native(), "select 3") == 1);
  CHECK(eventually([&] { return pool_row().at("cl_waiting") == "1"; }));
  row = pool_row();
  CHECK(row.at("sv_active") == "2");
  std::set<std::string> states;
  for (const auto& cl : show(console, "SHOW CLIENTS")) {
    if (cl.at("database") == "app_rw") states.insert(cl.at("state"));
  }
  CHECK(states == std::set<std::string>{"active", "waiting"});

  a.exec("commit");  // its server goes to the waiter
  CHECK(finish(waiter) == PGRES_TUPLES_OK);
  b.exec("commit");
  CHECK(eventually([&] {
    const auto r = pool_row();
    return r.at("cl_waiting") == "0" && r.at("sv_active") == "0" && r.at("sv_idle") == "2";
  }));
}

TEST_CASE("SHOW CLIENTS lists the connected clients", "[admin]") {
  auto& c = cluster::shared();
  pgsteer_process proxy(c, admin_options());
  pg::connection one(proxy.conninfo("app") + " application_name=admin-test-one");
  pg::connection two(proxy.conninfo("app_ro") + " application_name=admin-test-two");
  CHECK(one.scalar("select 1") == "1");
  auto console = admin(proxy);
  const auto clients = show(console, "SHOW CLIENTS");
  std::map<std::string, record> by_name;
  for (const auto& cl : clients) by_name[cl.at("application_name") + "/" + cl.at("database")] = cl;
  REQUIRE(by_name.count("admin-test-one/app"));
  REQUIRE(by_name.count("admin-test-two/app_ro"));
  REQUIRE(by_name.count("/pgsteer"));  // the console itself
  const auto& first = by_name["admin-test-one/app"];
  CHECK(first.at("type") == "C");
  CHECK(first.at("user") == "app");
  CHECK(first.at("state") == "active");
  CHECK(first.at("addr") == "127.0.0.1");
  CHECK(first.at("local_port") == std::to_string(proxy.port()));
  // The process id pgsteer gave the client (its BackendKeyData).
  CHECK(first.at("pid") == std::to_string(PQbackendPID(one.native())));
  CHECK(by_name["/pgsteer"].at("user") == "admin");
  CHECK(clients.size() == 3);
}

TEST_CASE("SHOW BACKENDS shows the primary and the replicas with routed transactions", "[admin]") {
  auto& c = cluster::shared();
  pgsteer_process proxy(c, admin_options());
  auto console = admin(proxy);
  auto backends = [&] {
    std::map<std::string, record> by_name;
    for (const auto& b : show(console, "SHOW BACKENDS")) by_name[b.at("name")] = b;
    return by_name;
  };
  CHECK(eventually([&] {
    auto b = backends();
    return b["pg1"]["role"] == "primary" && b["pg2"]["role"] == "replica" &&
           b["pg3"]["role"] == "replica" && b["pg2"]["state"] == "readable" &&
           b["pg3"]["state"] == "readable";
  }));
  {
    pg::connection writer(proxy.conninfo("app_rw"));
    pg::connection reader(proxy.conninfo("app_ro"));
    for (int i = 0; i < 10; ++i) {
      writer.exec("select 1");
      reader.exec("select 1");
    }
  }
  auto b = backends();
  REQUIRE(b.size() == 3);
  for (int node = 0; node < 3; ++node) {
    const auto& row = b["pg" + std::to_string(node + 1)];
    CHECK(row.at("host") == "127.0.0.1");
    CHECK(row.at("port") == std::to_string(c.port(node)));
    CHECK_FALSE(row.at("timeline").empty());
  }
  CHECK(b["pg1"]["state"] == "writable");
  CHECK(b["pg1"]["lag_bytes"].empty());  // a primary has no lag
  CHECK_FALSE(b["pg2"]["lag_bytes"].empty());
  CHECK(std::stoi(b["pg1"]["routed_writes"]) >= 10);
  CHECK(std::stoi(b["pg2"]["routed_reads"]) + std::stoi(b["pg3"]["routed_reads"]) >= 10);
  CHECK(b["pg1"]["routed_reads"] == "0");
}

TEST_CASE("PAUSE waits for open transactions, holds new ones, and RESUME lets them go", "[admin]") {
  auto& c = cluster::shared();
  auto options = admin_options();
  options.query_wait_timeout = "2s";  // a paused client is held longer than this
  pgsteer_process proxy(c, options);
  auto console = admin(proxy);
  auto watcher = admin(proxy);

  pg::connection open(proxy.conninfo("app_rw"));
  open.exec("begin; select 1");
  pg::connection other_db(proxy.conninfo("app_ro"));

  // Logged in before the pause: a login that needs a server of a paused pool waits too.
  pg::connection held(proxy.conninfo("app_rw") + " application_name=held");
  REQUIRE(PQsendQuery(console.native(), "PAUSE app_rw") == 1);
  // Once the pause is in effect (else the query could slip through before it), a new
  // transaction is held.
  CHECK(eventually([&] {
    for (const auto& d : show(watcher, "SHOW DATABASES")) {
      if (d.at("name") == "app_rw") return d.at("paused") == "1";
    }
    return false;
  }));
  REQUIRE(PQsendQuery(held.native(), "select 'went through'") == 1);
  CHECK(eventually([&] {
    for (const auto& cl : show(watcher, "SHOW CLIENTS")) {
      if (cl.at("application_name") == "held" && cl.at("state") == "waiting") return true;
    }
    return false;
  }));
  // The open transaction goes on and PAUSE is still waiting for it; another database is not
  // paused.
  CHECK(open.scalar("select 2") == "2");
  CHECK(other_db.scalar("select 3") == "3");
  CHECK(busy(console));
  const auto databases = show(watcher, "SHOW DATABASES");
  for (const auto& d : databases) {
    CHECK(d.at("paused") == (d.at("name") == "app_rw" ? "1" : "0"));
  }
  open.exec("commit");
  CHECK(eventually([&] { return !busy(console); }));
  CHECK(finish(console) == PGRES_COMMAND_OK);
  // Held beyond query_wait_timeout: pausing is the operator's choice, not a busy pool.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  const bool still_held = busy(held);
  std::string early;
  if (!still_held) finish(held, &early);
  INFO("the held query finished early: " << early);
  REQUIRE(still_held);
  CHECK(sqlstate_of([&] { command(watcher, "PAUSE app_rw"); }) == "55000");

  CHECK(command(watcher, "RESUME app_rw") == "RESUME");
  CHECK(eventually([&] { return !busy(held); }));
  std::string error;
  CHECK(finish(held, &error) == PGRES_TUPLES_OK);
  INFO(error);
  CHECK(held.scalar("select 'after'") == "after");
}

TEST_CASE("KILL drops every client and server of one database", "[admin]") {
  auto& c = cluster::shared();
  pgsteer_process proxy(c, admin_options());
  auto console = admin(proxy);
  pg::connection in_transaction(proxy.conninfo("app_rw"));
  in_transaction.exec("begin");
  const std::string doomed_pid = in_transaction.scalar("select pg_backend_pid()");
  pg::connection idle(proxy.conninfo("app_rw"));
  CHECK(idle.scalar("select 1") == "1");
  pg::connection survivor(proxy.conninfo("app_ro"));
  CHECK(survivor.scalar("select 1") == "1");

  CHECK(command(console, "KILL app_rw") == "KILL");
  for (auto* killed : {&in_transaction, &idle}) {
    try {
      killed->exec("select 1");
      FAIL("a killed client could still run a query");
    } catch (const pg::error& e) {
      const std::string text = e.what();
      INFO(text);
      CHECK(text.find("terminating connection due to administrator command") != std::string::npos);
    }
  }
  CHECK(survivor.scalar("select 2") == "2");
  // The servers are gone on PostgreSQL's side too (the open transaction's backend ended).
  CHECK(eventually([&] { return pooled_pids(c, 0).count(doomed_pid) == 0; }));
  CHECK(eventually([&] {
    for (const auto& s : show(console, "SHOW SERVERS")) {
      if (s.at("database") == "app_rw") return false;
    }
    return true;
  }));
  for (const auto& cl : show(console, "SHOW CLIENTS")) CHECK(cl.at("database") != "app_rw");
  // New clients of that database are served again (KILL does not pause).
  pg::connection again(proxy.conninfo("app_rw"));
  CHECK(again.scalar("select 4") == "4");
}

TEST_CASE("RELOAD and SHUTDOWN answer, and RELOAD of a broken file keeps serving", "[admin]") {
  auto& c = cluster::shared();
  pgsteer_process proxy(c, admin_options());
  auto console = admin(proxy);
  // A file with errors is never taken: the error says so (F0000), or, in a build without the
  // lifecycle hooks, RELOAD says it is not available (0A000).
  {
    std::FILE* f = std::fopen(proxy.config_file().c_str(), "a");
    REQUIRE(f);
    std::fputs("no_such_key: 1\n", f);
    std::fclose(f);
  }
  const auto state = sqlstate_of([&] { command(console, "RELOAD"); });
  CHECK((state == "F0000" || state == "0A000"));
  pg::connection client(proxy.conninfo("app"));
  CHECK(client.scalar("select 1") == "1");
  CHECK(show(console, "SHOW VERSION").size() == 1);
}

TEST_CASE("SHOW STATS counts a known workload", "[admin][stats]") {
  // Needs the per-worker counters the metrics work fills in (stats.hpp).
  auto& c = cluster::shared();
  pgsteer_process proxy(c, admin_options());
  {
    pg::connection client(proxy.conninfo("app_rw"));
    for (int i = 0; i < 20; ++i) client.exec("select " + std::to_string(i));
  }
  auto console = admin(proxy);
  const auto stats = show(console, "SHOW STATS");
  REQUIRE(stats.size() == 1);
  const auto& s = stats[0];
  CHECK(s.at("database") == "*");
  CHECK(std::stoll(s.at("total_xact_count")) >= 20);
  CHECK(std::stoll(s.at("total_query_count")) >= 20);
  CHECK(std::stoll(s.at("total_received")) > 0);
  CHECK(std::stoll(s.at("total_sent")) > 0);
  CHECK(std::stoll(s.at("total_query_time")) > 0);
}
