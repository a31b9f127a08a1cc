// parameter_sync: what a shared server is told before a client's request, and what its
// ParameterStatus reports mean for the client.
// GCC 12 at -O3 warns about std::string assignments it inlines here (GCC bug 105329, a false
// positive of -Wrestrict).
#pragma GCC diagnostic ignored "-Wrestrict"

#include <catch2/catch.hpp>

#include <string>

#include "parameter_sync.hpp"

using pgsteer::proxy::parameter_map;
using pgsteer::proxy::parameter_sync;

namespace {

const parameter_map defaults = {{"DateStyle", "ISO, MDY"},
                                {"TimeZone", "Etc/UTC"},
                                {"IntervalStyle", "postgres"},
                                {"application_name", ""},
                                {"client_encoding", "UTF8"}};

std::string set(std::string_view name, std::string_view value) {
  std::string sql = "SELECT pg_catalog.set_config(E'";
  sql.append(name).append("', E'").append(value).append("', false);");
  return sql;
}

}  // namespace

TEST_CASE("parameter names ignore case, as PostgreSQL's do", "[proxy][parameter_sync]") {
  parameter_map m;
  m.emplace("datestyle", "a");
  m.insert_or_assign("DateStyle", std::string("b"));
  CHECK(m.size() == 1);
  CHECK(m.at("DATESTYLE") == "b");
  CHECK(pgsteer::proxy::is_server_property("server_version"));  // as servers spell it
  CHECK_FALSE(pgsteer::proxy::is_server_property("TimeZone"));
}

TEST_CASE("a fresh server gets the client's settings, spelled any way, and nothing else",
          "[proxy][parameter_sync]") {
  parameter_sync client;
  client.set("datestyle", "Postgres, MDY");  // PGDATESTYLE sends the lower-case name
  client.set("timezone", "PST8PDT");
  client.set("intervalstyle", "postgres_verbose");
  parameter_map server = defaults;
  const auto sql = client.sync(server, defaults);
  CHECK(sql == set("datestyle", "Postgres, MDY") + set("intervalstyle", "postgres_verbose") +
                   set("timezone", "PST8PDT"));
  CHECK(server.at("DateStyle") == "Postgres, MDY");
  CHECK(server.at("TimeZone") == "PST8PDT");
  // Now the server holds them: nothing to say the next time.
  CHECK(client.sync(server, defaults).empty());
}

TEST_CASE("a server another client used goes back to the defaults and drops foreign settings",
          "[proxy][parameter_sync]") {
  parameter_sync first;
  first.set("TimeZone", "Asia/Tokyo");
  first.set("search_path", "other");
  parameter_map server = defaults;
  first.sync(server, defaults);

  parameter_sync second;
  second.set("DateStyle", "SQL, DMY");
  const auto sql = second.sync(server, defaults);
  // In name order (one walk over the maps).
  CHECK(sql == set("DateStyle", "SQL, DMY") + "RESET search_path;" + set("TimeZone", "Etc/UTC"));
  CHECK(server.count("search_path") == 0);
  CHECK(server.at("TimeZone") == "Etc/UTC");
}

TEST_CASE("at login, a value the server already holds is reported in the server's spelling",
          "[proxy][parameter_sync]") {
  parameter_sync client;
  client.set("datestyle", "iso, mdy");
  parameter_map server = defaults;
  server["DateStyle"] = "Postgres, MDY";  // another client's
  parameter_map unchanged;
  client.sync(server, defaults, &unchanged);
  CHECK(unchanged.at("datestyle") == "Postgres, MDY");
}

TEST_CASE("a reset server holds its defaults again, server properties stay",
          "[proxy][parameter_sync]") {
  parameter_map server = defaults;
  server["TimeZone"] = "Asia/Tokyo";
  server["search_path"] = "x";
  server["server_version"] = "15.18";
  parameter_sync::server_was_reset(server, defaults);
  CHECK(server.at("TimeZone") == "Etc/UTC");
  CHECK(server.count("search_path") == 0);
  CHECK(server.at("server_version") == "15.18");
}

TEST_CASE("ParameterStatus: the client's SET is its own, pgsteer's sync gives the spelling",
          "[proxy][parameter_sync]") {
  parameter_sync client;
  client.set("datestyle", "postgres,mdy");
  // pgsteer's own set_config (swallowed): the server's spelling of the client's value.
  CHECK_FALSE(client.on_parameter_status("DateStyle", "Postgres, MDY", false, defaults));
  CHECK(client.values().at("DateStyle") == "Postgres, MDY");
  // A default pgsteer restores for it is not the client's setting.
  CHECK_FALSE(client.on_parameter_status("TimeZone", "Etc/UTC", false, defaults));
  CHECK(client.values().count("TimeZone") == 0);
  // The client's own SET TimeZone.
  CHECK_FALSE(client.on_parameter_status("TimeZone", "Asia/Tokyo", true, defaults));
  CHECK(client.values().at("TimeZone") == "Asia/Tokyo");
  // Server properties are never the client's.
  CHECK_FALSE(client.on_parameter_status("in_hot_standby", "on", true, defaults));
  CHECK(client.values().count("in_hot_standby") == 0);
}

TEST_CASE("RESET returns to the startup value, not to the shared server's",
          "[proxy][parameter_sync]") {
  parameter_sync client;
  client.set("TimeZone", "PST8PDT");
  client.login_done();
  client.on_parameter_status("TimeZone", "Asia/Tokyo", true, defaults);  // SET TimeZone

  SECTION("RESET: the client is told its startup value and the server gets it next") {
    client.note_request(pgsteer::protocol::find_triggers("RESET TimeZone"));
    const auto report = client.on_parameter_status("TimeZone", "Etc/UTC", true, defaults);
    REQUIRE(report);
    CHECK(*report == "PST8PDT");
    CHECK(client.values().at("TimeZone") == "PST8PDT");
    CHECK(client.needs_resync());
    parameter_map server = defaults;
    CHECK(client.sync(server, defaults) == set("TimeZone", "PST8PDT"));
    client.resynced();
    CHECK_FALSE(client.needs_resync());
  }
  SECTION("SET to the server's default value without a reset keyword is taken as it is") {
    CHECK_FALSE(client.on_parameter_status("TimeZone", "Etc/UTC", true, defaults));
    CHECK(client.values().at("TimeZone") == "Etc/UTC");
  }
  SECTION("the reset window ends with the request") {
    client.note_request(pgsteer::protocol::find_triggers("discard all"));
    client.request_done();
    CHECK_FALSE(client.on_parameter_status("TimeZone", "Etc/UTC", true, defaults));
  }
  SECTION("a setting the client did not connect with resets to the server's value") {
    client.note_request(pgsteer::protocol::find_triggers("SET DateStyle TO DEFAULT"));
    CHECK_FALSE(client.on_parameter_status("DateStyle", "ISO, MDY", true, defaults));
  }
}

TEST_CASE("a failed sync leaves the server's copy unknown: everything is set again",
          "[proxy][parameter_sync]") {
  parameter_sync client;
  client.set("TimeZone", "PST8PDT");
  parameter_map server = defaults;
  client.sync(server, defaults);
  client.sync_failed(server);
  CHECK(client.needs_resync());
  CHECK(server.count("TimeZone") == 0);
  CHECK(client.sync(server, defaults) == set("TimeZone", "PST8PDT"));
}

TEST_CASE("the login report is the server's set with the client's values",
          "[proxy][parameter_sync]") {
  parameter_sync client;
  client.set("timezone", "PST8PDT");
  client.set("geqo", "off");  // not reported by servers: not in the set
  parameter_map reported = defaults;
  reported["server_version"] = "15.18";
  const auto got = client.login_report(reported);
  CHECK(got.size() == reported.size());
  CHECK(got.at("TimeZone") == "PST8PDT");
  CHECK(got.find("TimeZone")->first == "TimeZone");  // the server's spelling of the name
  CHECK(got.count("geqo") == 0);
}

TEST_CASE("settings of other clients after the last known name are reset too",
          "[proxy][parameter_sync]") {
  parameter_sync client;
  client.set("application_name", "x");
  parameter_map server = defaults;
  server["zz_custom.setting"] = "1";
  server["work_mem"] = "8MB";
  server["server_version"] = "15.18";
  const auto sql = client.sync(server, defaults);
  CHECK(sql == set("application_name", "x") + "RESET work_mem;RESET zz_custom.setting;");
  CHECK(server.count("work_mem") == 0);
  CHECK(server.count("server_version") == 1);
  parameter_sync none;
  parameter_map empty_defaults;
  parameter_map bare = {{"a", "1"}};
  CHECK(none.sync(bare, empty_defaults) == "RESET a;");
  CHECK(bare.empty());
}

TEST_CASE("the reset words are found in any case, anywhere", "[proxy][parameter_sync]") {
  for (const char* sql :
       {"RESET timezone", "select 1; discard all", "set x to DEFAULT", "ReSeT all"}) {
    parameter_sync client;
    client.set("TimeZone", "PST8PDT");
    client.login_done();
    client.note_request(pgsteer::protocol::find_triggers(sql));
    INFO(sql);
    CHECK(client.on_parameter_status("TimeZone", "Etc/UTC", true, defaults));
  }
  parameter_sync client;
  client.set("TimeZone", "PST8PDT");
  client.login_done();
  client.note_request(pgsteer::protocol::find_triggers("select 'rese', 'discar', 'defaul'"));
  CHECK_FALSE(client.on_parameter_status("TimeZone", "Etc/UTC", true, defaults));
}

TEST_CASE("values are quoted so that any text is one literal", "[proxy][parameter_sync]") {
  CHECK(pgsteer::proxy::quote_literal("a'b\\c") == R"(E'a''b\\c')");
}

TEST_CASE("in_sync says in one comparison whether sync would change nothing",
          "[proxy][parameter_sync]") {
  pgsteer::proxy::server_parameters server;
  server.edit() = defaults;
  server.edit()["server_version"] = "15.18";  // a property: not a setting to compare
  parameter_sync plain;
  CHECK(plain.in_sync(server, defaults));
  CHECK(plain.sync(server.edit(), defaults).empty());

  parameter_sync tz;
  tz.set("timezone", "PST8PDT");
  CHECK_FALSE(tz.in_sync(server, defaults));
  CHECK_FALSE(tz.sync(server.edit(), defaults).empty());
  CHECK(tz.in_sync(server, defaults));
  // Another client with the same settings, spelled otherwise: nothing to do either.
  parameter_sync same;
  same.set("TimeZone", "PST8PDT");
  CHECK(same.in_sync(server, defaults));
  // The first client is out of step now, and a server marked unknown is too.
  CHECK_FALSE(plain.in_sync(server, defaults));
  tz.set("timezone", "UTC");
  CHECK_FALSE(tz.in_sync(server, defaults));
  tz.sync(server.edit(), defaults);
  CHECK(tz.in_sync(server, defaults));
  parameter_sync::mark_unknown("work_mem", server.edit());
  CHECK_FALSE(tz.in_sync(server, defaults));
  CHECK(tz.sync(server.edit(), defaults) == "RESET work_mem;");
  CHECK(tz.in_sync(server, defaults));
  // A client setting a name the server reports as a property never reads as in sync.
  parameter_sync odd;
  odd.set("server_version", "1");
  CHECK_FALSE(odd.in_sync(server, defaults));
}
