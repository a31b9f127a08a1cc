// Read/write splitting through pgsteer on the real three-node cluster: which server ran each
// statement is what PostgreSQL says (inet_server_port()), never what pgsteer says.
#include <catch2/catch.hpp>

#include <libpq-fe.h>

#include <chrono>
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

int port_of(pg::connection& c, const std::string& sql) {
  return std::stoi(c.scalar(sql));
}

}  // namespace

TEST_CASE("split: reads go to both replicas, writes and write-like reads to the primary",
          "[routing]") {
  auto& c = cluster::shared();
  pgsteer_process proxy(c);
  pg::connection admin(c.app_conninfo(0));
  admin.exec("create table if not exists routed (id serial primary key, port int)");
  admin.exec("create sequence if not exists routed_seq");
  c.wait_caught_up();
  pg::connection client(proxy.conninfo("app"));
  const int primary = c.port(0);
  const std::set<int> replicas{c.port(1), c.port(2)};
  // The table just created put the replicas behind; reads go to them once the monitor has seen
  // each replay it. A round can find one replica caught up and the other not yet (the probes run
  // side by side, not at one instant), so wait until both have answered a hinted read.
  std::set<int> hinted;
  REQUIRE(eventually([&] {
    hinted.insert(port_of(client, "/* pgsteer:replica */ select inet_server_port()"));
    return hinted == replicas;
  }));

  std::set<int> read_ports;
  for (int i = 0; i < 60; ++i) read_ports.insert(port_of(client, "select inet_server_port()"));
  CHECK(read_ports == replicas);

  // Extended protocol: the same.
  std::set<int> extended_ports;
  for (int i = 0; i < 60; ++i) {
    extended_ports.insert(std::stoi(*client.exec_params("select inet_server_port()", {})[0][0]));
  }
  CHECK(extended_ports == replicas);

  // Writes, and reads that are not certainly read-only, run on the primary.
  for (const char* sql : {
           "insert into routed (port) values (inet_server_port()) returning port",
           "select inet_server_port() from (select nextval('routed_seq')) s",
           "with w as (insert into routed (port) values (0) returning id) "
           "select inet_server_port() from w",
           "select inet_server_port() from routed for update limit 1",
           "/* pgsteer:primary */ select inet_server_port()",
           "select inet_server_port() where pg_advisory_xact_lock(1) is not null",
       }) {
    INFO(sql);
    CHECK(port_of(client, sql) == primary);
  }
  // A hint sends a read-looking statement to a replica on request.
  CHECK(replicas.count(port_of(client, "/* pgsteer:replica */ select inet_server_port()")) == 1);
}

TEST_CASE("split: an explicit transaction runs on the primary unless it begins READ ONLY",
          "[routing]") {
  auto& c = cluster::shared();
  pgsteer_process proxy(c);
  pg::connection client(proxy.conninfo("app"));
  const std::set<int> replicas{c.port(1), c.port(2)};

  client.exec("begin");
  const int in_transaction = port_of(client, "select inet_server_port()");
  CHECK(port_of(client, "select inet_server_port()") == in_transaction);
  client.exec("commit");
  CHECK(in_transaction == c.port(0));

  client.exec("begin read only");
  const int read_only = port_of(client, "select inet_server_port()");
  CHECK(port_of(client, "select inet_server_port()") == read_only);
  client.exec("commit");
  CHECK(replicas.count(read_only) == 1);
}

TEST_CASE("routes primary and replica send everything to that role", "[routing]") {
  auto& c = cluster::shared();
  pgsteer_process proxy(c);
  pg::connection rw(proxy.conninfo("app_rw"));
  pg::connection ro(proxy.conninfo("app_ro"));
  const std::set<int> replicas{c.port(1), c.port(2)};
  std::set<int> rw_ports;
  std::set<int> ro_ports;
  for (int i = 0; i < 40; ++i) {
    rw_ports.insert(port_of(rw, "select inet_server_port()"));
    ro_ports.insert(port_of(ro, "select inet_server_port()"));
  }
  CHECK(rw_ports == std::set<int>{c.port(0)});
  CHECK(ro_ports == replicas);
}

TEST_CASE("split: named prepared statements route by their text", "[routing]") {
  auto& c = cluster::shared();
  pgsteer_process proxy(c);
  pg::connection client(proxy.conninfo("app"));
  const std::set<int> replicas{c.port(1), c.port(2)};
  PGresult* res = PQprepare(client.native(), "where_am_i", "select inet_server_port()", 0, nullptr);
  REQUIRE(PQresultStatus(res) == PGRES_COMMAND_OK);
  PQclear(res);
  std::set<int> ports;
  for (int i = 0; i < 40; ++i) {
    res = PQexecPrepared(client.native(), "where_am_i", 0, nullptr, nullptr, nullptr, 0);
    REQUIRE(PQresultStatus(res) == PGRES_TUPLES_OK);
    ports.insert(std::stoi(PQgetvalue(res, 0, 0)));
    PQclear(res);
  }
  CHECK(ports == replicas);
}

TEST_CASE("read_your_writes: a client's next read sees its write even when replicas lag",
          "[routing]") {
  cluster c;
  pgsteer_options options;
  options.health_interval = "100ms";
  options.workers = 1;
  // Lag limits out of the way: only read-your-writes keeps reads off the stale replicas.
  options.extra_yaml =
      "routing:\n  consistency: read_your_writes\n  max_lag_bytes: 1GB\n  max_lag_seconds: 1h\n";
  pgsteer_process proxy(c, options);
  pg::connection admin(c.app_conninfo(0));
  admin.exec("create table ryw (id int primary key)");
  c.wait_caught_up();
  pg::connection client(proxy.conninfo("app"));
  pg::connection other(proxy.conninfo("app"));
  const std::set<int> replicas{c.port(1), c.port(2)};

  c.pause_replay(1);
  c.pause_replay(2);
  int missed = 0;
  for (int i = 0; i < 1000; ++i) {
    client.exec("insert into ryw values (" + std::to_string(i) + ")");
    if (client.scalar("select count(*) from ryw where id = " + std::to_string(i)) != "1") ++missed;
  }
  CHECK(missed == 0);
  // A client that wrote nothing still reads from the (stale) replicas.
  CHECK(replicas.count(std::stoi(other.scalar("select inet_server_port()"))) == 1);

  c.resume_replay(1);
  c.resume_replay(2);
  c.wait_caught_up();
  // Once the replicas have replayed the writes, this client's reads go back to them.
  std::set<int> ports;
  for (int i = 0; i < 100 && ports.empty(); ++i) {
    const int port = std::stoi(client.scalar("select inet_server_port()"));
    if (replicas.count(port)) ports.insert(port);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK_FALSE(ports.empty());
}

TEST_CASE(
    "split: a SELECT calling a user-defined VOLATILE function that writes runs on the primary",
    "[routing]") {
  auto& c = cluster::shared();
  pg::connection admin(c.app_conninfo(0));
  admin.exec("create table if not exists audit_log (at timestamptz default now())");
  admin.exec(
      "create or replace function audit_touch() returns int language sql volatile as "
      "$$ insert into audit_log default values returning 1 $$");
  admin.exec(
      "create or replace function audit_count() returns bigint language sql stable as "
      "$$ select count(*) from audit_log $$");
  c.wait_caught_up();
  pgsteer_process proxy(c);
  // The monitor loads the catalog's VOLATILE functions once it knows the primary.
  REQUIRE(
      eventually([&] { return proxy.log().find("VOLATILE function names") != std::string::npos; },
                 std::chrono::seconds(10), std::chrono::milliseconds(50)));

  pg::connection client(proxy.conninfo("app"));
  const std::set<int> replicas{c.port(1), c.port(2)};
  // A replica would refuse the insert ("cannot execute INSERT in a read-only transaction").
  for (int i = 0; i < 10; ++i) {
    CHECK(client.scalar("select audit_touch() + inet_server_port() * 0") == "1");
  }
  CHECK(port_of(client, "select inet_server_port() from (select audit_touch()) t") == c.port(0));
  // A STABLE function stays a read.
  CHECK(replicas.count(port_of(client, "select inet_server_port() + audit_count() * 0")) == 1);
}

namespace {

// Transactions committed in database app on `node`, as PostgreSQL counts them.
long long commits(const cluster& c, int node) {
  pg::connection super(c.super_conninfo(node, "app"));
  super.exec("select pg_stat_clear_snapshot()");
  return std::stoll(super.scalar("select xact_commit from pg_stat_database where datname = 'app'"));
}

}  // namespace

TEST_CASE("split: pgbench select-only spreads over both replicas, TPC-B runs on the primary",
          "[routing]") {
  auto& c = cluster::shared();
  const auto init =
      pgsteer::test::run_command({"pgbench", "-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p",
                                  std::to_string(c.port(0)), "-U", "app", "app"},
                                 {}, {"PGPASSWORD=app"});
  REQUIRE(init.exit_code == 0);
  c.wait_caught_up();
  pgsteer_process proxy(c);
  auto pgbench = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {"pgbench", "-n",        "-c", "8",
                                     "-j",      "2",         "-t", "200",
                                     "-h",      "127.0.0.1", "-p", std::to_string(proxy.port()),
                                     "-U",      "app"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("app");
    return pgsteer::test::run_command(argv, {}, {"PGPASSWORD=app"});
  };

  for (const char* mode : {"simple", "extended", "prepared"}) {
    INFO("select-only -M " << mode);
    const long long before1 = commits(c, 1);
    const long long before2 = commits(c, 2);
    const auto run = pgbench({"-S", "-M", mode});
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    CHECK(run.output.find("number of transactions actually processed: 1600/1600") !=
          std::string::npos);
    // 1,600 read transactions: each replica ran a good share of them. A pooled server reports
    // its counts when idle, within PostgreSQL's stats interval (up to 10 s).
    long long on1 = 0;
    long long on2 = 0;
    eventually(
        [&] {
          on1 = commits(c, 1) - before1;
          on2 = commits(c, 2) - before2;
          return on1 > 200 && on2 > 200;
        },
        std::chrono::seconds(20), std::chrono::milliseconds(250));
    INFO("replica 1 ran " << on1 << ", replica 2 ran " << on2);
    CHECK(on1 > 200);
    CHECK(on2 > 200);
  }

  const long long before_primary = commits(c, 0);
  const auto tpcb = pgbench({"-M", "prepared"});
  INFO(tpcb.output);
  REQUIRE(tpcb.exit_code == 0);
  CHECK(tpcb.output.find("number of failed transactions: 0") != std::string::npos);
  eventually([&] { return commits(c, 0) - before_primary >= 1600; }, std::chrono::seconds(20),
             std::chrono::milliseconds(250));
  CHECK(commits(c, 0) - before_primary >= 1600);
}

TEST_CASE("split: a read whose replica fails before answering runs again on another backend",
          "[routing]") {
  cluster c;
  pgsteer_options options;
  options.workers = 1;
  pgsteer_process proxy(c, options);
  pg::connection client(proxy.conninfo("app"));
  const std::string sql = "select pg_sleep(2), inet_server_port()";

  for (const bool extended : {false, true}) {
    INFO((extended ? "extended protocol" : "simple protocol"));
    const int sent = extended ? PQsendQueryParams(client.native(), sql.c_str(), 0, nullptr, nullptr,
                                                  nullptr, nullptr, 0)
                              : PQsendQuery(client.native(), sql.c_str());
    REQUIRE(sent == 1);
    // Find the replica running it, and end that backend before it answers.
    int victim_node = 0;
    std::string pid;
    REQUIRE(eventually([&] {
      for (int node : {1, 2}) {
        pg::connection super(c.super_conninfo(node));
        pid = super.scalar(
            "select coalesce(max(pid)::text, '') from pg_stat_activity where query = '" + sql +
            "' and state = 'active'");
        if (!pid.empty()) {
          victim_node = node;
          return true;
        }
      }
      return false;
    }));
    pg::connection super(c.super_conninfo(victim_node));
    REQUIRE(super.scalar("select pg_terminate_backend(" + pid + ")") == "t");

    // The client sees one ordinary answer, from another backend.
    std::string port;
    std::string error;
    while (PGresult* res = PQgetResult(client.native())) {
      if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        port = PQgetvalue(res, 0, 1);
      } else {
        error = PQresultErrorMessage(res);
      }
      PQclear(res);
    }
    INFO("error: " << error);
    CHECK(error.empty());
    CHECK(!port.empty());
    CHECK(port != std::to_string(c.port(victim_node)));
    CHECK(PQstatus(client.native()) == CONNECTION_OK);
  }
}
