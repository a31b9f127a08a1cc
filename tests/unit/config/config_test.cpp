// Configuration loading: the reference file loads as written, and every kind of mistake is
// reported at once with `file:line:col: key.path: message`.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include "pgsteer/config/config.hpp"

using namespace pgsteer::config;
using namespace std::chrono_literals;

namespace {

load_options env(std::map<std::string, std::string> vars) {
  return {[vars](const std::string& name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  }};
}

std::vector<std::string> lines(const load_result& r) {
  std::vector<std::string> out;
  for (const auto& e : r.errors) out.push_back(e.to_string());
  return out;
}

const char* minimal =
    "backends: [{ name: pg1, host: 127.0.0.1 }]\n"
    "databases: { app: {} }\n"
    "users: [{ name: app, password: secret }]\n";

}  // namespace

TEST_CASE("the reference configuration loads as written", "[config]") {
  const std::string secret_file = "/tmp/pgsteer_config_test_admin";
  std::ofstream(secret_file) << "admin-secret\n";
  std::ifstream in(std::string(PGSTEER_SOURCE_DIR) + "/docs/pgsteer.yaml");
  std::string yaml((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto at = yaml.find("/run/secrets/pgsteer_admin");
  REQUIRE(at != std::string::npos);
  yaml.replace(at, std::string("/run/secrets/pgsteer_admin").size(), secret_file);

  const auto r = load_config_string(yaml, "pgsteer.yaml", env({{"APP_PASSWORD", "s3cret"}}));
  INFO(Catch::Detail::stringify(lines(r)));
  REQUIRE(r.value);
  const config& c = *r.value;
  REQUIRE(c.listen.size() == 1);
  CHECK(c.listen[0].host == "127.0.0.1");
  CHECK(c.listen[0].port == 6432);
  CHECK_FALSE(c.workers.has_value());
  CHECK(c.resolved_workers() >= 1);
  REQUIRE(c.backends.size() == 3);
  CHECK(c.backends[2].port == 5434);
  CHECK(c.find_database("app_ro")->route_mode == route::replica);
  CHECK(c.find_database("app_rw")->dbname == "app");
  CHECK(c.find_user("app")->secret == "s3cret");
  CHECK(c.find_user("admin")->secret == "admin-secret");  // trailing newline trimmed
  CHECK(c.find_user("admin")->admin);
  CHECK(c.pool.mode == pgsteer::protocol::pool_mode::transaction);
  CHECK(c.pool.size == 20);
  CHECK(c.pool.server_idle_timeout == 10min);
  CHECK(c.pool.server_lifetime == 1h);
  CHECK(c.clients.hba.size() == 1);
  CHECK(c.clients.hba[0].databases.empty());  // all
  CHECK(c.health.interval == 500ms);
  CHECK(c.routing.max_lag_bytes == 16u << 20);
  CHECK(c.routing.write_functions.size() == 4);
  CHECK(c.http.listen->port == 9930);
  CHECK(c.failover.wait_timeout == 30s);
  std::remove(secret_file.c_str());
}

TEST_CASE("a missing environment variable is an error naming it", "[config]") {
  const auto r = load_config_string(
      "backends: [{ name: pg1, host: 127.0.0.1 }]\n"
      "databases: { app: {} }\n"
      "users:\n"
      "  - { name: app, password: \"${NOT_SET}\" }\n",
      "p.yaml", env({}));
  REQUIRE_FALSE(r.value);
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].to_string() ==
        "p.yaml:4:28: users[0].password: environment variable NOT_SET is not set");
}

TEST_CASE("$${ stays a literal ${", "[config]") {
  const auto r = load_config_string(
      "backends: [{ name: pg1, host: 127.0.0.1 }]\ndatabases: { app: {} }\n"
      "users: [{ name: app, password: \"a$${b}\" }]\n",
      "p.yaml", env({}));
  REQUIRE(r.value);
  CHECK(r.value->users[0].secret == "a${b}");
}

TEST_CASE("every error is reported at once, in file order", "[config]") {
  const auto r = load_config_string(
      "listen: [\"127.0.0.1\"]\n"                                       // 1: no port
      "workers: many\n"                                                 // 2
      "backends:\n"                                                     // 3
      "  - { name: pg1, host: 127.0.0.1, port: 70000 }\n"               // 4
      "  - { name: pg1, host: 127.0.0.1 }\n"                            // 5: duplicate
      "databases: { app: { route: sideways } }\n"                       // 6
      "users: [{ name: app, password: x, password_file: y }]\n"         // 7
      "pool: { mode: transactions, size: 0, query_wait_timeout: 5 }\n"  // 8
      "poool: {}\n"                                                     // 9
      "routing: { max_lag_bytes: 16 MB }\n",                            // 10
      "bad.yaml", env({}));
  REQUIRE_FALSE(r.value);
  const auto got = lines(r);
  INFO(Catch::Detail::stringify(got));
  const std::vector<std::string> expected = {
      "bad.yaml:1:10: listen[0]: expected host:port (IPv6 as [addr]:port), got \"127.0.0.1\"",
      "bad.yaml:2:10: workers: expected a whole number from 1 to 1024, got \"many\"",
      "bad.yaml:4:41: backends[0].port: expected a whole number from 1 to 65535, got \"70000\"",
      "bad.yaml:5:13: backends[1].name: duplicate backend name pg1",
      "bad.yaml:6:28: databases.app.route: expected one of split | primary | replica, got "
      "\"sideways\"",
      "bad.yaml:7:9: users[0]: give exactly one of password or password_file",
      "bad.yaml:8:15: pool.mode: expected one of session | transaction | statement, got "
      "\"transactions\"",
      "bad.yaml:8:35: pool.size: expected a whole number from 1 to 100000, got \"0\"",
      "bad.yaml:8:58: pool.query_wait_timeout: expected a duration such as 500ms, 5s, 10m or 1h, "
      "got \"5\"",
      "bad.yaml:9:1: poool: unknown key (did you mean pool?)",
      "bad.yaml:10:27: routing.max_lag_bytes: expected a size such as 64kB, 16MB or 1GB, got \"16 "
      "MB\"",
  };
  CHECK(got == expected);
}

TEST_CASE("cross-field checks", "[config]") {
  const auto r = load_config_string(std::string(minimal) +
                                        "health: { user: monitor }\n"
                                        "tls: { server: { mode: verify-full } }\n"
                                        "clients: { hba: [{ address: 10.0.0.0/33 }] }\n",
                                    "x.yaml", env({}));
  REQUIRE_FALSE(r.value);
  const auto got = lines(r);
  INFO(Catch::Detail::stringify(got));
  CHECK(got.size() == 3);
  CHECK(std::find(got.begin(), got.end(),
                  "x.yaml:4:17: health.user: user monitor is not in users") != got.end());
}

TEST_CASE("secrets: SCRAM verifiers, md5 hashes and password files", "[config]") {
  const auto r = load_config_string(
      "backends: [{ name: pg1, host: 127.0.0.1 }]\ndatabases: { app: {} }\n"
      "users:\n"
      "  - { name: a, password: \"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
      "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=\" "
      "}\n"
      "  - { name: b, password: md5b84d1ac1d2bdaa1b96e8e5d5d6cc3b50 }\n"
      "  - { name: c, password_file: /nonexistent/pgsteer/secret }\n"
      "  - { name: d, password: \"SCRAM-SHA-256$broken\" }\n",
      "s.yaml", env({}));
  const auto got = lines(r);
  INFO(Catch::Detail::stringify(got));
  REQUIRE(got.size() == 2);
  CHECK(got[0] ==
        "s.yaml:6:31: users[2].password_file: cannot read password file "
        "/nonexistent/pgsteer/secret");
  CHECK(got[1] == "s.yaml:7:26: users[3].password: looks like a SCRAM verifier but is malformed");
}

TEST_CASE("durations and sizes", "[config]") {
  CHECK(parse_duration("500ms") == 500ms);
  CHECK(parse_duration("5s") == 5s);
  CHECK(parse_duration("10m") == 10min);
  CHECK(parse_duration("1h") == 1h);
  CHECK(parse_duration("0") == 0ms);
  CHECK(parse_duration("0s") == 0ms);
  for (const char* bad : {"", "5", "s", "-1s", "1.5s", "5 s", "5sec", "99999999h"}) {
    CHECK_FALSE(parse_duration(bad));
  }
  CHECK(parse_size("16MB") == 16u << 20);
  CHECK(parse_size("64kB") == 64u << 10);
  CHECK(parse_size("1GB") == 1u << 30);
  CHECK(parse_size("123") == 123u);
  for (const char* bad : {"", "MB", "16mb", "16 MB", "-1", "1TB"}) CHECK_FALSE(parse_size(bad));
}

TEST_CASE("YAML syntax errors carry their position", "[config]") {
  const auto r = load_config_string("backends: [\n  - {", "y.yaml", env({}));
  REQUIRE_FALSE(r.value);
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].to_string().starts_with("y.yaml:"));
  CHECK(r.errors[0].message.starts_with("YAML syntax: "));
}

TEST_CASE("an unreadable file is one clear error", "[config]") {
  const auto r = load_config("/nonexistent/pgsteer.yaml");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].to_string() == "/nonexistent/pgsteer.yaml: cannot read the configuration file");
}

TEST_CASE("authentication keys: failure limit, auth_timeout, auth_query", "[config]") {
  SECTION("defaults") {
    const auto r = load_config_string(minimal, "x.yaml", env({}));
    REQUIRE(r.value);
    CHECK(r.value->clients.max_auth_failures_per_minute == 20);
    CHECK(r.value->clients.auth_timeout == 60s);
  }
  SECTION("valid values") {
    const auto r = load_config_string(std::string(minimal) +
                                          "clients: { max_auth_failures_per_minute: 0, "
                                          "auth_timeout: 3s }\n"
                                          "auth_query: { query: 'SELECT usename, passwd FROM "
                                          "pg_shadow WHERE usename = $1', user: app, "
                                          "database: app, cache_ttl: 10s }\n",
                                      "x.yaml", env({}));
    REQUIRE(r.value);
    CHECK(r.value->clients.max_auth_failures_per_minute == 0);
    CHECK(r.value->clients.auth_timeout == 3s);
    CHECK(r.value->auth_query.user == "app");
    CHECK(r.value->auth_query.cache_ttl == 10s);
  }
  SECTION("mistakes") {
    const auto r = load_config_string(std::string(minimal) +
                                          "clients: { max_auth_failures_per_minute: -1, "
                                          "auth_timeout: 0 }\n"
                                          "auth_query: { query: 'SELECT 1', user: nobody, "
                                          "database: nope }\n",
                                      "x.yaml", env({}));
    REQUIRE_FALSE(r.value);
    const auto got = lines(r);
    INFO(Catch::Detail::stringify(got));
    CHECK(got.size() == 4);
    auto has = [&](const std::string& text) {
      return std::any_of(got.begin(), got.end(),
                         [&](const std::string& line) { return line.find(text) != line.npos; });
    };
    CHECK(has("clients.max_auth_failures_per_minute"));
    CHECK(has("clients.auth_timeout: must be more than 0"));
    CHECK(has("auth_query.user: user nobody is not in users"));
    CHECK(has("auth_query.database: database nope is not in databases"));
  }
}
