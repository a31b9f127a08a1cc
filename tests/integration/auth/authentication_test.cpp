// Authentication through pgsteer as a client sees it: clients.hba decides by address (IPv4 and
// IPv6), database, user and TLS with PostgreSQL's own refusals; auth_query lets in roles that
// exist only in the database; clients.auth_timeout ends a silent client; too many failures from
// one address lock that address out for the minute; no secret ever reaches the log.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "cluster.hpp"
#include "eventually.hpp"
#include "pg.hpp"
#include "pgsteer/protocol/error_response.hpp"
#include "pgsteer/protocol/framer.hpp"
#include "pgsteer/protocol/messages.hpp"
#include "pgsteer/protocol/scram.hpp"
#include "pgsteer/protocol/startup.hpp"
#include "pgsteer_process.hpp"
#include "raw_client.hpp"

using pgsteer::test::cluster;
using pgsteer::test::connect_failure;
using pgsteer::test::eventually;
using pgsteer::test::pgsteer_options;
using pgsteer::test::pgsteer_process;
using pgsteer::test::raw_client;
using pgsteer::test::run_command;
using pgsteer::test::try_connect_verbose;
namespace pg = pgsteer::test::pg;
namespace p = pgsteer::protocol;
using namespace std::chrono_literals;

namespace {

std::string conninfo(const pgsteer_process& proxy, const std::string& host,
                     const std::string& database, const std::string& user,
                     const std::string& password) {
  return "host=" + host + " port=" + std::to_string(proxy.port()) + " dbname=" + database +
         " user=" + user + " password=" + password + " connect_timeout=10";
}

// A role that exists only in the database (not in pgsteer's users), and a SECURITY DEFINER
// function that reads its verifier, as PgBouncer's documentation suggests for auth_query: the
// lookup user need not be a superuser.
void create_database_only_roles(cluster& c) {
  pg::connection super(c.super_conninfo(0, "app"));
  super.exec(
      "DROP ROLE IF EXISTS auth_only; "
      "CREATE ROLE auth_only LOGIN PASSWORD 'Only-In-The-Database-7'; "
      "CREATE OR REPLACE FUNCTION public.pgsteer_lookup(name text, "
      "  OUT usename name, OUT passwd text) RETURNS record LANGUAGE sql SECURITY DEFINER "
      "  SET search_path = pg_catalog AS "
      "  'SELECT usename, passwd FROM pg_catalog.pg_shadow WHERE usename = name'; "
      "REVOKE ALL ON FUNCTION public.pgsteer_lookup(text) FROM public; "
      "GRANT EXECUTE ON FUNCTION public.pgsteer_lookup(text) TO app;");
  c.wait_caught_up();
}

const char* auth_query_yaml =
    "auth_query:\n"
    "  query: \"SELECT usename, passwd FROM public.pgsteer_lookup($1)\"\n"
    "  user: app\n"
    "  cache_ttl: 30s\n";

// One SCRAM login through pgsteer, step by step.
pgsteer::test::scram_attempt try_scram(int port, const std::string& user,
                                       const std::string& password) {
  raw_client client(port);
  return client.scram_login(user, password, "app");
}

// "r=<nonce>,s=<salt>,i=<iterations>" without the nonce, which differs every time.
std::string salt_and_iterations(const std::string& server_first) {
  const auto s = server_first.find(",s=");
  return s == std::string::npos ? std::string() : server_first.substr(s + 1);
}

// The ErrorResponse in a stream of backend messages, if any.
std::optional<p::error_fields> find_error(std::string_view stream) {
  while (true) {
    const auto frame = p::next_frame(stream, 1 << 20);
    if (frame.status != p::frame_status::complete) return std::nullopt;
    if (frame.type == 'E') {
      if (auto fields = p::parse_error_fields(frame.body)) return p::to_error_fields(*fields);
      return std::nullopt;
    }
    stream.remove_prefix(frame.size);
  }
}

void check_refusal(const std::optional<connect_failure>& refused, const std::string& sqlstate,
                   const std::string& message) {
  REQUIRE(refused.has_value());
  INFO(refused->raw);
  CHECK(refused->severity == "FATAL");
  CHECK(refused->sqlstate == sqlstate);
  CHECK(refused->message == message);
}

}  // namespace

TEST_CASE("clients.hba: first match wins, by address, database, user and TLS", "[auth]") {
  auto& c = cluster::shared();
  pgsteer_options o;
  o.listen_ipv6 = true;
  o.hba_rules = {
      // Never matches: no client here uses TLS.
      "{ type: hostssl, address: 127.0.0.0/8, database: app_ro, user: app, method: trust }",
      // Matches plain connections only: app_rw lets app in without a password.
      "{ type: hostnossl, address: 127.0.0.1/32, database: app_rw, user: app, method: trust }",
      "{ address: 127.0.0.0/8, database: [app, app_rw], user: [app], method: scram-sha-256 }",
      "{ address: 127.0.0.0/8, database: all, user: [mallory, eve], method: reject }",
      "{ address: ::1/128, database: app_ro, user: all, method: reject }",
      "{ address: ::1/128, database: all, user: all, method: md5 }",
  };
  pgsteer_process proxy(c, o);

  // Through real psql: the scram rule.
  const auto ok =
      run_command({"psql", "-X", "-At", "-c", "SELECT 40 + 2",
                   "host=127.0.0.1 port=" + std::to_string(proxy.port()) + " dbname=app user=app"},
                  {}, {"PGPASSWORD=app"});
  INFO(ok.output);
  CHECK(ok.exit_code == 0);
  CHECK(ok.output == "42\n");

  // hostnossl + trust: any password does.
  CHECK_FALSE(try_connect_verbose(conninfo(proxy, "127.0.0.1", "app_rw", "app", "whatever")));
  // The scram rule still checks the password on app.
  check_refusal(try_connect_verbose(conninfo(proxy, "127.0.0.1", "app", "app", "wrong")), "28P01",
                "password authentication failed for user \"app\"");
  // No rule for app_ro over IPv4 (the hostssl one needs TLS): PostgreSQL's words.
  check_refusal(try_connect_verbose(conninfo(proxy, "127.0.0.1", "app_ro", "app", "app")), "28000",
                "no pg_hba.conf entry for host \"127.0.0.1\", user \"app\", database \"app_ro\", "
                "no encryption");
  // A user list with reject.
  check_refusal(try_connect_verbose(conninfo(proxy, "127.0.0.1", "app", "eve", "x")), "28000",
                "pg_hba.conf rejects connection for host \"127.0.0.1\", user \"eve\", database "
                "\"app\", no encryption");
  // IPv6: reject for app_ro, md5 for the rest.
  check_refusal(try_connect_verbose(conninfo(proxy, "::1", "app_ro", "app", "app")), "28000",
                "pg_hba.conf rejects connection for host \"::1\", user \"app\", database "
                "\"app_ro\", no encryption");
  {
    pg::connection over_v6(conninfo(proxy, "::1", "app", "app", "app"));
    CHECK(over_v6.scalar("SELECT 1") == "1");
  }
  check_refusal(try_connect_verbose(conninfo(proxy, "::1", "app", "app", "wrong")), "28P01",
                "password authentication failed for user \"app\"");
}

TEST_CASE("auth_query: a role only the database knows logs in and works as itself", "[auth]") {
  auto& c = cluster::shared();
  create_database_only_roles(c);
  pgsteer_options o;
  o.extra_yaml = auth_query_yaml;
  pgsteer_process proxy(c, o);

  {
    pg::connection conn(conninfo(proxy, "127.0.0.1", "app", "auth_only", "Only-In-The-Database-7"));
    // Queries run on a backend as that role (pgsteer logs in with the keys the client proved),
    // on the primary and on a replica alike.
    CHECK(conn.scalar("SELECT current_user") == "auth_only");
    CHECK(conn.scalar("SELECT session_user") == "auth_only");
  }
  {
    pg::connection rw(
        conninfo(proxy, "127.0.0.1", "app_rw", "auth_only", "Only-In-The-Database-7"));
    CHECK(rw.scalar("SELECT current_user || ' ' || pg_is_in_recovery()") == "auth_only false");
  }
  {
    pg::connection ro(
        conninfo(proxy, "127.0.0.1", "app_ro", "auth_only", "Only-In-The-Database-7"));
    CHECK(ro.scalar("SELECT current_user || ' ' || pg_is_in_recovery()") == "auth_only true");
  }
  // A wrong password and a role that does not exist fail the same way (no oracle).
  const auto wrong = try_connect_verbose(conninfo(proxy, "127.0.0.1", "app", "auth_only", "nope"));
  check_refusal(wrong, "28P01", "password authentication failed for user \"auth_only\"");
  const auto ghost = try_connect_verbose(conninfo(proxy, "127.0.0.1", "app", "ghost", "nope"));
  check_refusal(ghost, "28P01", "password authentication failed for user \"ghost\"");
  // And again from the cache.
  check_refusal(try_connect_verbose(conninfo(proxy, "127.0.0.1", "app", "ghost", "nope")), "28P01",
                "password authentication failed for user \"ghost\"");
}

TEST_CASE("auth_query: an unknown role runs the whole SCRAM exchange, as a real one does",
          "[auth]") {
  auto& c = cluster::shared();
  create_database_only_roles(c);
  pgsteer_options o;
  o.extra_yaml = auth_query_yaml;
  pgsteer_process proxy(c, o);

  const auto wrong = try_scram(proxy.port(), "auth_only", "not-the-password");
  const auto ghost = try_scram(proxy.port(), "ghost_role", "not-the-password");
  const auto ghost_again = try_scram(proxy.port(), "ghost_role", "still-not-it");
  for (const auto* attempt : {&wrong, &ghost, &ghost_again}) {
    CHECK_FALSE(attempt->server_first.empty());  // a salt and iteration count were offered
    REQUIRE(attempt->error);
    CHECK(attempt->error->code == "28P01");
  }
  CHECK(wrong.error->message == "password authentication failed for user \"auth_only\"");
  CHECK(ghost.error->message == "password authentication failed for user \"ghost_role\"");
  // The real role is offered its real salt; an unknown one a stable made-up salt with the same
  // iteration count, so repeated tries show nothing different.
  std::string verifier;
  {
    pg::connection super(c.super_conninfo(0, "app"));
    verifier = super.scalar("SELECT rolpassword FROM pg_authid WHERE rolname = 'auth_only'");
  }
  const auto real = salt_and_iterations(wrong.server_first);
  CHECK(verifier.find(real.substr(2, real.find(',') - 2)) != std::string::npos);
  CHECK(salt_and_iterations(ghost.server_first) == salt_and_iterations(ghost_again.server_first));
  const auto made_up = salt_and_iterations(ghost.server_first);
  CHECK(made_up.substr(made_up.find(",i=")) == real.substr(real.find(",i=")));
  CHECK(made_up.find(",i=") == real.find(",i="));  // salts of the same length
}

TEST_CASE("auth_query: md5 rules take md5 secrets, and SCRAM ones by SCRAM", "[auth]") {
  auto& c = cluster::shared();
  create_database_only_roles(c);
  pgsteer_options o;
  o.extra_yaml = auth_query_yaml;
  o.hba_rules = {"{ address: 127.0.0.0/8, user: [app_md5, auth_only], method: md5 }",
                 "{ address: 127.0.0.0/8, user: trusted_ghost, method: trust }",
                 "{ address: 127.0.0.0/8, method: scram-sha-256 }"};
  pgsteer_process proxy(c, o);
  // app_md5 has an md5 password in the cluster (scripts/cluster) and is not in pgsteer's users.
  pg::connection conn(conninfo(proxy, "127.0.0.1", "app_rw", "app_md5", cluster::app_password));
  CHECK(conn.scalar("SELECT current_user") == "app_md5");
  check_refusal(try_connect_verbose(conninfo(proxy, "127.0.0.1", "app", "app_md5", "wrong")),
                "28P01", "password authentication failed for user \"app_md5\"");
  // An md5 rule for a role whose secret is a SCRAM verifier asks for SCRAM, as PostgreSQL does.
  {
    pg::connection scram_user(
        conninfo(proxy, "127.0.0.1", "app", "auth_only", "Only-In-The-Database-7"));
    CHECK(scram_user.scalar("SELECT current_user") == "auth_only");
  }
  // Under trust, a role neither pgsteer nor the database knows gets PostgreSQL's answer.
  check_refusal(try_connect_verbose(conninfo(proxy, "127.0.0.1", "app", "trusted_ghost", "unused")),
                "28000", "role \"trusted_ghost\" does not exist");
}

TEST_CASE("clients.auth_timeout ends a client that stops mid-login, and only that one", "[auth]") {
  auto& c = cluster::shared();
  pgsteer_options o;
  o.client_settings = {"auth_timeout: 1s"};
  pgsteer_process proxy(c, o);

  raw_client silent(proxy.port());
  std::string startup;
  p::write_startup_message(startup, {{"user", "app"}, {"database", "app"}});
  silent.send(startup);
  // Another client logs in and works meanwhile.
  pg::connection other(proxy.conninfo());
  CHECK(other.scalar("SELECT 1") == "1");

  const std::string received = silent.read_until_closed(20s);
  CHECK(silent.closed());
  const auto error = find_error(received);
  REQUIRE(error.has_value());
  CHECK(error->severity == "FATAL");
  CHECK(error->code == "57014");
  CHECK(error->message == "canceling authentication due to timeout");
  CHECK(other.scalar("SELECT 2") == "2");
}

TEST_CASE("too many failed logins from one address refuse it for the minute, not others",
          "[auth]") {
  auto& c = cluster::shared();
  pgsteer_options o;
  o.listen_ipv6 = true;
  o.client_settings = {"max_auth_failures_per_minute: 3"};
  o.hba_rules = {"{ address: 127.0.0.0/8, method: scram-sha-256 }",
                 "{ address: ::1/128, method: scram-sha-256 }"};
  pgsteer_process proxy(c, o);

  for (int i = 0; i < 3; ++i) {
    check_refusal(try_connect_verbose(conninfo(proxy, "127.0.0.1", "app", "app", "wrong")), "28P01",
                  "password authentication failed for user \"app\"");
  }
  // Now even the right password is refused from that address...
  const auto locked = try_connect_verbose(conninfo(proxy, "127.0.0.1", "app", "app", "app"));
  check_refusal(locked, "28000", "too many failed authentication attempts from host \"127.0.0.1\"");
  // ...while another address logs in.
  pg::connection over_v6(conninfo(proxy, "::1", "app", "app", "app"));
  CHECK(over_v6.scalar("SELECT 1") == "1");
}

TEST_CASE("no password or verifier reaches the log, even at debug level", "[auth]") {
  auto& c = cluster::shared();
  create_database_only_roles(c);
  std::string verifier;
  {
    pg::connection super(c.super_conninfo(0, "app"));
    verifier = super.scalar("SELECT rolpassword FROM pg_authid WHERE rolname = 'auth_only'");
  }
  REQUIRE(verifier.rfind("SCRAM-SHA-256$", 0) == 0);
  pgsteer_options o;
  o.log_level = "debug";
  o.extra_yaml = auth_query_yaml;
  pgsteer_process proxy(c, o);

  const std::string right = "Only-In-The-Database-7";
  const std::string wrong = "Wrong-Guess-Password-3";
  CHECK(try_connect_verbose(conninfo(proxy, "127.0.0.1", "app", "auth_only", wrong)));
  CHECK(try_connect_verbose(conninfo(proxy, "127.0.0.1", "app", "nobody_here", wrong)));
  {
    pg::connection conn(conninfo(proxy, "127.0.0.1", "app", "auth_only", right));
    CHECK(conn.scalar("SELECT current_user") == "auth_only");
  }
  {
    pg::connection conn(proxy.conninfo());
    CHECK(conn.scalar("SELECT 1") == "1");
  }
  const std::string log = proxy.log();
  REQUIRE(log.find("auth_only") != std::string::npos);  // the logins were logged
  CHECK(log.find(right) == std::string::npos);
  CHECK(log.find(wrong) == std::string::npos);
  CHECK(log.find("SCRAM-SHA-256$") == std::string::npos);
  // Each part of the verifier (salt, StoredKey, ServerKey), in case one is logged on its own.
  std::string part;
  for (char ch : verifier.substr(verifier.find(':') + 1) + "$") {
    if (ch == '$' || ch == ':') {
      if (part.size() >= 16) CHECK(log.find(part) == std::string::npos);
      part.clear();
    } else {
      part += ch;
    }
  }
}
