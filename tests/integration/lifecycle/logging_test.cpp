// log.format: json writes one JSON object per line whatever the messages hold (quotes,
// backslashes, newlines from a client's SQL), with a line per connection event and a slow-query
// line above log.slow_query_threshold. Parsed by Python's json module, a real parser.
#include <catch2/catch.hpp>

#include <string>

#include "cluster.hpp"
#include "eventually.hpp"
#include "pg.hpp"
#include "pgsteer_process.hpp"

using pgsteer::test::cluster;
using pgsteer::test::eventually;
using pgsteer::test::pgsteer_options;
using pgsteer::test::pgsteer_process;
using pgsteer::test::run_command;
namespace pg = pgsteer::test::pg;

namespace {

// Parses every line of stdin as JSON (exit 1 naming the first bad line) and prints the
// "message" of each, one per line, with newlines inside shown as \n.
constexpr const char* parse_lines = R"(
import json, sys
for number, line in enumerate(sys.stdin, 1):
    try:
        entry = json.loads(line)
    except ValueError as e:
        print(f"line {number} is not JSON ({e}): {line}")
        sys.exit(1)
    for key in ("time", "level", "thread", "message"):
        if key not in entry:
            print(f"line {number} has no {key}: {line}")
            sys.exit(1)
    print(entry["level"] + " " + entry["message"].replace("\n", "\\n"))
)";

}  // namespace

TEST_CASE("log.format json: every line parses, with connection events and slow queries",
          "[lifecycle][logging]") {
  auto& c = cluster::shared();
  pgsteer_options options;
  options.workers = 1;
  options.log_format = "json";
  options.slow_query_threshold = "100ms";
  pgsteer_process proxy(c, options);
  {
    pg::connection client(proxy.conninfo("app_rw"));
    CHECK(client.scalar("select 1") == "1");
    // Quotes, a backslash and a newline in the SQL: all must survive into valid JSON.
    const std::string sql = R"(select pg_sleep(0.3)::text || 'said "slow" \' as "q""uoted")"
                            "\n-- end";
    CHECK(client.scalar(sql) == R"(said "slow" \)");
  }
  CHECK(eventually(
      [&] { return proxy.log().find("app_rw from 127.0.0.1 disconnected") != std::string::npos; }));

  const auto parsed = run_command({"python3", "-c", parse_lines}, proxy.log());
  INFO(proxy.log());
  INFO(parsed.output);
  REQUIRE(parsed.exit_code == 0);
  const auto& m = parsed.output;
  // Client 1 is pgsteer_process's check that the port is open; the test's client is 2.
  CHECK(m.find("info client 2 connected from 127.0.0.1") != std::string::npos);
  CHECK(m.find("info client 2 logged in as user app to database app_rw") != std::string::npos);
  CHECK(m.find("info client 2 app@app_rw from 127.0.0.1 disconnected after") != std::string::npos);
  CHECK(m.find(": client terminated") != std::string::npos);
  CHECK(m.find("opened to pg1") != std::string::npos);
  CHECK(m.find(" pid ") != std::string::npos);
  // The slow one is logged with its SQL as sent (on one line), the quick one is not.
  CHECK(m.find("slow query") != std::string::npos);
  CHECK(m.find(R"(database app_rw, user app, route primary (pg1): select pg_sleep(0.3)::text || )"
               R"('said "slow" \' as "q""uoted" -- end)") != std::string::npos);
  CHECK(m.find("select 1") == std::string::npos);
}

TEST_CASE("log.slow_query_threshold: long SQL is cut to its first 200 characters",
          "[lifecycle][logging]") {
  auto& c = cluster::shared();
  pgsteer_options options;
  options.workers = 1;
  options.slow_query_threshold = "50ms";
  pgsteer_process proxy(c, options);
  // 'é' is two bytes: the cut counts characters, and never splits one.
  const std::string padding(300, 'x');
  const std::string sql = "select pg_sleep(0.2), 'ééééé" + padding + "'";
  {
    pg::connection client(proxy.conninfo("app_rw"));
    client.exec(sql);
  }
  CHECK(eventually([&] { return proxy.log().find("slow query") != std::string::npos; }));
  const auto log = proxy.log();
  INFO(log);
  // 200 characters of the statement, then the line ends.
  const std::string logged = sql.substr(0, 200 + 5) + "\n";
  CHECK(log.find(logged) != std::string::npos);
}
