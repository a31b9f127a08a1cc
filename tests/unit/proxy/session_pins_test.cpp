// session_pins: which session state keeps a client on its server, and which settings follow it
// to the next server (through parameter_sync).
// GCC 12 at -O3 warns about std::string assignments it inlines here (GCC bug 105329, a false
// positive of -Wrestrict).
#pragma GCC diagnostic ignored "-Wrestrict"

#include <catch2/catch.hpp>

#include <string>

#include "parameter_sync.hpp"
#include "session_pins.hpp"

using pgsteer::protocol::session_effects;
using pgsteer::proxy::parameter_map;
using pgsteer::proxy::parameter_sync;
using pgsteer::proxy::session_pins;

namespace {

// One client with its server, sending requests and getting their outcome.
struct client {
  session_pins pins;
  parameter_sync params;
  parameter_map server;

  // A request that succeeds, outside a transaction block.
  std::uint32_t run(std::string_view sql) {
    const auto added = pins.on_sent(session_effects(sql), server);
    pins.on_ready('I', params, server);
    return added;
  }
  void fail(std::string_view sql) {
    pins.on_sent(session_effects(sql), server);
    pins.on_error();
    pins.on_ready('I', params, server);
  }
};

}  // namespace

TEST_CASE("each kind of session state pins until the client ends it", "[proxy][session_pins]") {
  struct row {
    const char* begin;
    const char* label;
    const char* end;
  };
  const row table[] = {
      {"CREATE TEMP TABLE t (x int)", "temp", "DISCARD TEMP"},
      {"SELECT pg_advisory_lock(7)", "advisory_lock", "SELECT pg_advisory_unlock_all()"},
      {"DECLARE c CURSOR WITH HOLD FOR SELECT 1", "cursor", "CLOSE c"},
      {"DECLARE c CURSOR WITH HOLD FOR SELECT 1", "cursor", "CLOSE ALL"},
      {"LISTEN events", "listen", "UNLISTEN events"},
      {"LISTEN events", "listen", "UNLISTEN *"},
      {"PREPARE q AS SELECT 1", "prepare", "DEALLOCATE q"},
      {"PREPARE q AS SELECT 1", "prepare", "DEALLOCATE ALL"},
      {"SET ROLE reporting", "role", "RESET ROLE"},
      {"SET search_path = 'My Schema'", "setting", "RESET search_path"},
      {"SET search_path = 'My Schema'", "setting", "SET search_path = public"},
      {"SELECT set_config(current_user, 'x', false)", "setting", "RESET ALL"},
  };
  for (const auto& r : table) {
    INFO(r.begin << " / " << r.end);
    client c;
    CHECK(c.run(r.begin) != 0);
    CHECK(c.pins.pinned());
    CHECK(c.pins.labels() == r.label);
    c.run("SELECT 1");
    CHECK(c.pins.pinned());
    c.run(r.end);
    CHECK_FALSE(c.pins.pinned());
    CHECK(c.pins.labels().empty());
  }
}

TEST_CASE("DISCARD ALL ends every kind, and names are kept apart", "[proxy][session_pins]") {
  client c;
  c.run("LISTEN a; LISTEN b; PREPARE p AS SELECT 1; CREATE TEMP TABLE t (x int)");
  CHECK(c.pins.labels() == "listen,prepare,temp");
  CHECK(c.run("LISTEN a") == 0);  // nothing new
  c.run("UNLISTEN a");
  CHECK(c.pins.labels() == "listen,prepare,temp");
  c.run("UNLISTEN b; DEALLOCATE p");
  CHECK(c.pins.labels() == "temp");
  c.run("SET ROLE x; DISCARD ALL");
  CHECK_FALSE(c.pins.pinned());
}

TEST_CASE("state ends only when the request that ends it succeeds", "[proxy][session_pins]") {
  client c;
  c.run("LISTEN a");
  c.fail("UNLISTEN a");
  CHECK(c.pins.pinned());
  // In a transaction block: the end waits for the block, and a ROLLBACK (of a savepoint too)
  // keeps the pin.
  c.pins.on_sent(session_effects("BEGIN; UNLISTEN a"), c.server);
  c.pins.on_ready('T', c.params, c.server);
  CHECK(c.pins.pinned());
  c.pins.on_command_complete("ROLLBACK");
  c.pins.on_ready('I', c.params, c.server);
  CHECK(c.pins.pinned());
  c.pins.on_sent(session_effects("BEGIN; UNLISTEN a"), c.server);
  c.pins.on_ready('T', c.params, c.server);
  c.pins.on_command_complete("COMMIT");
  c.pins.on_ready('I', c.params, c.server);
  CHECK_FALSE(c.pins.pinned());
}

TEST_CASE("a statement that creates state pins even when it fails", "[proxy][session_pins]") {
  client c;
  c.fail("PREPARE q AS SELECT nonsense");
  CHECK(c.pins.labels() == "prepare");
  c.pins.forget();  // its server was lost
  CHECK_FALSE(c.pins.pinned());
  CHECK_FALSE(c.pins.waiting());
}

TEST_CASE("a session SET follows the client; the server it ran on is known to hold it",
          "[proxy][session_pins]") {
  client c;
  CHECK(c.run("SET work_mem = '64MB'; SET statement_timeout TO 5000") == 0);
  CHECK_FALSE(c.pins.pinned());
  CHECK(c.params.values().at("work_mem") == "64MB");
  CHECK(c.params.values().at("statement_timeout") == "5000");
  CHECK(c.server.at("work_mem") == "64MB");
  // The next server gets them; this one already holds them.
  const parameter_map defaults;
  CHECK(c.params.sync(c.server, defaults).empty());
  parameter_map next;
  CHECK(c.params.sync(next, defaults) ==
        "SELECT pg_catalog.set_config(E'statement_timeout', E'5000', false);"
        "SELECT pg_catalog.set_config(E'work_mem', E'64MB', false);");
  // RESET returns to what the client connected with (nothing here).
  c.run("RESET work_mem");
  CHECK(c.params.values().count("work_mem") == 0);
  CHECK(c.server.count("work_mem") == 0);
  CHECK(c.params.sync(next, defaults) == "RESET work_mem;");
}

TEST_CASE("a SET whose outcome is not known leaves the server to be reset by the next client",
          "[proxy][session_pins]") {
  client c;
  c.fail("SET work_mem = '64MB'");
  CHECK(c.params.values().count("work_mem") == 0);
  // Another client on this server: the setting is reset, whatever it became.
  parameter_sync other;
  CHECK(other.sync(c.server, {}) == "RESET work_mem;");
  // A SET inside a block that rolls back does not follow the client either.
  client d;
  d.pins.on_sent(session_effects("BEGIN; SET work_mem = '1MB'"), d.server);
  d.pins.on_ready('T', d.params, d.server);
  d.pins.on_command_complete("ROLLBACK");
  d.pins.on_ready('I', d.params, d.server);
  CHECK(d.params.values().count("work_mem") == 0);
  CHECK(other.sync(d.server, {}) == "RESET work_mem;");
}

TEST_CASE("RESET ALL returns the client to its startup settings, which the server then gets",
          "[proxy][session_pins]") {
  client c;
  c.params.set("geqo", "off");  // from options at login
  c.params.login_done();
  c.server["geqo"] = "off";
  c.run("SET geqo = on; SET work_mem = '1MB'");
  CHECK(c.params.values().at("geqo") == "on");
  c.run("RESET ALL");
  CHECK(c.params.values().at("geqo") == "off");
  CHECK(c.params.values().count("work_mem") == 0);
  CHECK(c.params.needs_resync());
  CHECK(c.params.sync(c.server, {}) == "SELECT pg_catalog.set_config(E'geqo', E'off', false);");
}

TEST_CASE("reported parameters are left to ParameterStatus", "[proxy][session_pins]") {
  client c;
  c.run("SET TIME ZONE 'PST8PDT'; SET application_name = 'x'; SET TIME ZONE INTERVAL '+1' HOUR");
  CHECK_FALSE(c.pins.pinned());
  CHECK(c.params.values().empty());
  CHECK(c.server.empty());
}
