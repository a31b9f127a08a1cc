// Failing over again and again under load: a writer on one persistent connection and 8 clients
// run through pgsteer (transaction pooling) while the primary is stopped (immediate) and its
// synchronous replica promoted, cycle after cycle; the old primary rejoins as the new one's
// replica (pg_rewind) before the next cycle. A client may see only 08006, and only for a
// transaction pgsteer had already sent to the server that died; every acknowledged write is on
// the final primary exactly once. PGSTEER_FAILOVER_CYCLES sets the number of cycles (default 20).
#include <catch2/catch.hpp>

#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cluster.hpp"
#include "eventually.hpp"
#include "pg.hpp"
#include "pgsteer_process.hpp"

using pgsteer::test::cluster;
using pgsteer::test::cluster_options;
using pgsteer::test::eventually;
using pgsteer::test::pgsteer_options;
using pgsteer::test::pgsteer_process;
namespace pg = pgsteer::test::pg;
using namespace std::chrono_literals;

namespace {

using steady = std::chrono::steady_clock;

int cycles_to_run() {
  const char* text = std::getenv("PGSTEER_FAILOVER_CYCLES");
  if (text == nullptr || *text == '\0') return 20;
  return std::max(1, std::atoi(text));
}

double seconds_since(steady::time_point start) {
  return std::chrono::duration<double>(steady::now() - start).count();
}

// What became of one write the test attempted, and in which cycle.
enum class outcome { acknowledged, uncertain, absent };
struct write_record {
  outcome what = outcome::absent;
  int cycle = 0;
};

struct failure {
  int client = 0;
  int cycle = 0;
  std::string step;
  std::string sqlstate;
  std::string message;
};

// Everything the load threads report; each thread writes only its own slot until joined.
struct load_state {
  std::atomic<bool> stop{false};
  std::atomic<int> cycle{0};
  std::atomic<long> acknowledged{0};    // commits acknowledged so far, every client
  std::atomic<long> lost_in_flight{0};  // 08006 answers: the transaction was on the dead server
  std::mutex failures_mutex;
  std::vector<failure> failures;  // every other error: none may happen
  // Per client: seq -> what became of that write.
  std::vector<std::map<int, write_record>> writes;
};

// One step of a client's transaction. Returns the SQLSTATE of an error ("" for none, "?" for a
// failure without one); nothing else goes wrong silently. A COMMIT answered ROLLBACK (a
// transaction that was aborted, as far as the server knows) is "ROLLBACK".
std::string run_step(PGconn* conn, const std::string& sql, std::string& message) {
  PGresult* res = PQexec(conn, sql.c_str());
  const auto status = PQresultStatus(res);
  std::string state;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    const char* code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    state = code != nullptr ? code : "?";
    message = PQresultErrorMessage(res);
    if (message.empty()) message = PQerrorMessage(conn);
  } else if (sql == "commit" && std::string(PQcmdStatus(res)) != "COMMIT") {
    state = "ROLLBACK";
    message = "COMMIT answered " + std::string(PQcmdStatus(res)) + " without an error before";
  }
  PQclear(res);
  return state;
}

// A client of pgsteer: client 0 is the writer (autocommit inserts on app_rw); the others run
// BEGIN; INSERT; COMMIT on app (split), and every fourth request a read that the split route
// sends to the replica.
void run_client(load_state& state, const std::string& conninfo, int client) {
  pg::connection conn(conninfo);
  auto& writes = state.writes[static_cast<std::size_t>(client)];
  auto report = [&](const std::string& step, const std::string& sqlstate,
                    const std::string& message) {
    std::lock_guard<std::mutex> lock(state.failures_mutex);
    state.failures.push_back({client, state.cycle.load(), step, sqlstate, message});
  };
  // True when the step succeeded; 08006 counts as the loss of a transaction in flight.
  auto step = [&](const std::string& name, const std::string& sql, bool& lost) {
    std::string message;
    const auto sqlstate = run_step(conn.native(), sql, message);
    if (sqlstate.empty()) return true;
    if (sqlstate == "08006") {
      ++state.lost_in_flight;
      lost = true;
    } else {
      report(name, sqlstate, message);
    }
    if (PQstatus(conn.native()) != CONNECTION_OK) {
      report(name, "connection", "the connection to pgsteer was lost");
      PQreset(conn.native());
    }
    return false;
  };
  for (int seq = 0, request = 0; !state.stop; ++request) {
    bool lost = false;
    // Appended, not `"(" + ...`: GCC 12 warns falsely (-Wrestrict) on that form.
    std::string values = "(";
    values.append(std::to_string(client)).append(", ").append(std::to_string(seq)).append(")");
    if (client == 0) {
      const bool ok = step("insert", "insert into cycle_writes values " + values, lost);
      writes[seq] = {ok     ? outcome::acknowledged
                     : lost ? outcome::uncertain
                            : outcome::absent,
                     state.cycle};
      if (ok) ++state.acknowledged;
      ++seq;
      continue;
    }
    if (request % 4 == 3) {
      step("read", "select count(*) from cycle_writes where writer = " + std::to_string(client),
           lost);
      continue;
    }
    writes[seq] = {outcome::absent, state.cycle};
    if (step("begin", "begin", lost) &&
        step("insert", "insert into cycle_writes values " + values, lost)) {
      if (step("commit", "commit", lost)) {
        writes[seq].what = outcome::acknowledged;
        ++state.acknowledged;
      } else if (lost) {
        writes[seq].what = outcome::uncertain;  // it may have committed before the server died
      }
    }
    if (lost) {
      // pgsteer leaves the client in a failed transaction block, as PostgreSQL would (after a
      // lost BEGIN, not in a block: then the ROLLBACK runs, and may find a dying server too).
      bool lost_again = false;
      step("rollback", "rollback", lost_again);
    }
    ++seq;
  }
}

}  // namespace

TEST_CASE("repeated failovers under load: no client sees an error for a transaction not started",
          "[routing][failover]") {
  const auto test_started = steady::now();
  const int cycles = cycles_to_run();
  cluster_options cluster_setup;
  cluster_setup.replicas = 1;
  cluster_setup.rewindable = true;
  cluster c(cluster_setup);
  // No unique key: a write run twice would show as two rows.
  pg::connection(c.app_conninfo(0))
      .exec("create table cycle_writes (writer int not null, seq int not null)");
  c.make_synchronous(1, 0);
  c.wait_caught_up(0);

  pgsteer_options options;
  options.health_interval = "100ms";
  options.pool_size = 20;
  pgsteer_process proxy(c, options);

  constexpr int clients = 9;  // the writer and 8 clients
  load_state state;
  state.writes.resize(clients);
  std::vector<std::thread> threads;
  for (int client = 0; client < clients; ++client) {
    const auto conninfo = proxy.conninfo(client == 0 ? "app_rw" : "app");
    threads.emplace_back([&state, conninfo, client] { run_client(state, conninfo, client); });
  }
  struct join_all {
    load_state& state;
    std::vector<std::thread>& threads;
    ~join_all() {
      state.stop = true;
      for (auto& t : threads) {
        if (t.joinable()) t.join();
      }
    }
  } joiner{state, threads};

  auto commits_after = [&](long count, std::chrono::seconds limit) {
    return eventually([&] { return state.acknowledged > count; }, limit, 5ms);
  };
  int primary = 0;
  int passed = 0;
  for (int cycle = 0; cycle < cycles; ++cycle) {
    INFO("cycle " << cycle << " of " << cycles << ", " << passed << " passed in a row");
    state.cycle = cycle;
    const int replica = 1 - primary;
    const auto cycle_started = steady::now();
    // The load runs on this primary before it goes.
    REQUIRE(commits_after(state.acknowledged + 50, 20s));
    // A checkpoint shortly before the crash keeps what the rejoin replays small: the WAL from
    // the last checkpoint both nodes share, which the new primary must still hold, and which
    // pg_rewind copies in whole files (scripts/cluster keeps little WAL for that reason).
    pg::connection(c.super_conninfo(primary)).exec("checkpoint");
    const auto stopping_at = steady::now();
    c.stop(primary, "immediate");
    c.promote(replica);
    const auto promoted_at = steady::now();
    const long before = state.acknowledged;
    REQUIRE(commits_after(before, 20s));
    const double resumed = seconds_since(promoted_at);
    // The old primary follows the new one, synchronously, before the next cycle stops that.
    const auto rejoin_started = steady::now();
    c.rejoin(primary, replica);
    const double rejoined = seconds_since(rejoin_started);
    c.make_synchronous(primary, replica);
    c.wait_caught_up(replica);
    primary = replica;
    {
      std::lock_guard<std::mutex> lock(state.failures_mutex);
      CHECK(state.failures.empty());
      if (state.failures.empty()) ++passed;
    }
    std::printf(
        "failover cycle %d: stop and promote %.2f s, writes resumed %.3f s later, rejoin %.2f s, "
        "cycle %.2f s\n",
        cycle, std::chrono::duration<double>(promoted_at - stopping_at).count(), resumed, rejoined,
        seconds_since(cycle_started));
  }

  // A replica shutting down (fast: its sessions end, new logins are refused with 57P03): reads
  // go to the primary meanwhile. The primary must stop waiting for it as a synchronous standby.
  {
    pg::connection admin(c.super_conninfo(primary));
    admin.exec("alter system reset synchronous_standby_names");
    admin.exec("select pg_reload_conf()");
  }
  state.cycle = cycles;
  c.stop(1 - primary, "fast");
  CHECK(commits_after(state.acknowledged + 100, 20s));

  state.stop = true;
  for (auto& t : threads) t.join();

  std::printf(
      "%d failover cycles in %.1f s, %ld commits acknowledged, %ld transactions lost in "
      "flight (08006)\n",
      cycles, seconds_since(test_started), state.acknowledged.load(), state.lost_in_flight.load());
  CHECK(passed == cycles);
  for (std::size_t i = 0; i < state.failures.size() && i < 20; ++i) {
    const auto& f = state.failures[i];
    INFO("client " << f.client << " in cycle " << f.cycle << " at " << f.step << ": " << f.sqlstate
                   << " " << f.message);
    CHECK(false);
  }
  CHECK(state.failures.empty());

  // Every acknowledged write is on the final primary once; a write whose commit was lost in
  // flight at most once; one that never reached COMMIT not at all.
  std::map<std::pair<int, int>, int> stored;
  for (const auto& row :
       pg::connection(c.app_conninfo(primary)).exec("select writer, seq from cycle_writes")) {
    ++stored[{std::stoi(*row[0]), std::stoi(*row[1])}];
  }
  std::size_t acknowledged = 0, missing = 0, duplicated = 0, unexpected = 0;
  for (int client = 0; client < clients; ++client) {
    for (const auto& [seq, record] : state.writes[static_cast<std::size_t>(client)]) {
      const auto it = stored.find({client, seq});
      const int count = it == stored.end() ? 0 : it->second;
      const char* wrong = nullptr;
      if (count > 1) {
        ++duplicated;
        wrong = "stored twice";
      }
      if (record.what == outcome::acknowledged) {
        ++acknowledged;
        if (count == 0) {
          ++missing;
          wrong = "acknowledged, missing";
        }
      } else if (record.what == outcome::absent && count != 0) {
        ++unexpected;
        wrong = "never committed, stored";
      }
      if (wrong != nullptr && missing + duplicated + unexpected <= 10) {
        UNSCOPED_INFO("client " << client << " seq " << seq << " (cycle " << record.cycle
                                << "): " << wrong);
      }
    }
  }
  for (const auto& [key, count] : stored) {
    const auto& [client, seq] = key;
    if (client < 0 || client >= clients ||
        state.writes[static_cast<std::size_t>(client)].count(seq) == 0) {
      ++unexpected;
    }
  }
  INFO(acknowledged << " acknowledged writes, " << stored.size() << " stored");
  CHECK(acknowledged == static_cast<std::size_t>(state.acknowledged.load()));
  CHECK(missing == 0);
  CHECK(duplicated == 0);
  CHECK(unexpected == 0);
}
