// The admin console's command parser: PgBouncer's words in any case, one command per query, and
// an error sentence for everything else.
#include <catch2/catch.hpp>

#include "pgsteer/protocol/admin_command.hpp"

using namespace pgsteer::protocol;

TEST_CASE("SHOW commands parse in any case, with comments and a semicolon", "[protocol][admin]") {
  struct row {
    const char* sql;
    admin_subject subject;
  };
  const row rows[] = {
      {"SHOW POOLS", admin_subject::pools},
      {"show pools;", admin_subject::pools},
      {"  Show\n\tClients ;  ", admin_subject::clients},
      {"SHOW SERVERS;;", admin_subject::servers},
      {"/* monitoring */ SHOW STATS -- every worker", admin_subject::stats},
      {"SHOW /* a /* nested */ comment */ DATABASES", admin_subject::databases},
      {"SHOW BACKENDS", admin_subject::backends},
      {"show config", admin_subject::config},
      {"SHOW VERSION", admin_subject::version},
      {"SHOW HELP", admin_subject::help},
  };
  for (const auto& r : rows) {
    INFO(r.sql);
    const auto parsed = parse_admin_command(r.sql);
    REQUIRE(parsed.command);
    CHECK(parsed.command->verb == admin_verb::show);
    CHECK(parsed.command->subject == r.subject);
  }
}

TEST_CASE("PAUSE, RESUME and KILL take a database name as written", "[protocol][admin]") {
  auto p = parse_admin_command("PAUSE");
  REQUIRE(p.command);
  CHECK(p.command->verb == admin_verb::pause);
  CHECK(p.command->database.empty());

  p = parse_admin_command("pause app;");
  REQUIRE(p.command);
  CHECK(p.command->verb == admin_verb::pause);
  CHECK(p.command->database == "app");

  p = parse_admin_command("RESUME App_RW");
  REQUIRE(p.command);
  CHECK(p.command->verb == admin_verb::resume);
  CHECK(p.command->database == "App_RW");  // no case folding: it names a configuration key

  p = parse_admin_command("KILL \"my \"\"odd\"\" db\"");
  REQUIRE(p.command);
  CHECK(p.command->verb == admin_verb::kill);
  CHECK(p.command->database == "my \"odd\" db");

  p = parse_admin_command("RELOAD");
  REQUIRE(p.command);
  CHECK(p.command->verb == admin_verb::reload);
  p = parse_admin_command("shutdown;");
  REQUIRE(p.command);
  CHECK(p.command->verb == admin_verb::shutdown);
}

TEST_CASE("An empty query is the empty command", "[protocol][admin]") {
  for (const char* sql : {"", "   ", ";", "-- nothing", "/* nothing */ ;"}) {
    INFO(sql);
    const auto p = parse_admin_command(sql);
    REQUIRE(p.command);
    CHECK(p.command->verb == admin_verb::empty);
  }
}

TEST_CASE("Everything else is refused with a sentence", "[protocol][admin]") {
  struct row {
    const char* sql;
    const char* error;
  };
  const row rows[] = {
      {"SELECT 1", "unknown admin command \"SELECT 1\""},
      {"SHOW", "unknown admin command \"SHOW\""},
      {"SHOW MEM", "unknown admin command \"SHOW MEM\""},
      {"SHOW POOLS extra", "unknown admin command \"SHOW POOLS extra\""},
      {"show \"pools\"", "unknown admin command \"show \"pools\"\""},
      {"KILL", "KILL needs a database name, as in KILL app"},
      {"PAUSE a b", "PAUSE takes at most one database name"},
      {"RELOAD now", "RELOAD takes no argument"},
      {"SHUTDOWN now", "SHUTDOWN takes no argument"},
      {"SHOW POOLS; SHOW CLIENTS", "the admin console runs one command at a time"},
      {"KILL \"app", "unterminated quoted identifier"},
      {"KILL \"\"", "zero-length delimited identifier"},
      {"SHOW /* POOLS", "unterminated /* comment"},
      {"PAUSE 'app'", "syntax error at \"'\""},
  };
  for (const auto& r : rows) {
    INFO(r.sql);
    const auto p = parse_admin_command(r.sql);
    CHECK_FALSE(p.command);
    CHECK(p.error == r.error);
  }
}
