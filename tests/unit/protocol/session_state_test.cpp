// Session state a query string creates or ends (session_state.hpp).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "pgsteer/protocol/session_state.hpp"

using namespace pgsteer::protocol;
using k = session_effect_kind;
using effects = std::vector<session_effect>;

namespace {

struct row {
  const char* sql;
  effects want;
};

void check_table(const std::vector<row>& table) {
  for (const auto& r : table) {
    INFO(r.sql);
    const auto got = session_effects(r.sql);
    REQUIRE(got.size() == r.want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      INFO("effect " << i);
      CHECK(static_cast<int>(got[i].kind) == static_cast<int>(r.want[i].kind));
      CHECK(got[i].name == r.want[i].name);
      CHECK(got[i].value == r.want[i].value);
    }
  }
}

}  // namespace

TEST_CASE("statements that leave no session state have no effect", "[protocol][session_state]") {
  check_table({
      {"", {}},
      {"SELECT abalance FROM pgbench_accounts WHERE aid = 1", {}},
      {"UPDATE t SET v = 1 WHERE id = 2", {}},
      {"BEGIN; SET LOCAL work_mem = '1MB'; COMMIT", {}},
      {"SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", {}},
      {"DECLARE c CURSOR FOR SELECT 1", {}},
      {"DECLARE c NO SCROLL CURSOR WITHOUT HOLD FOR SELECT 1", {}},
      {"CREATE TEMP TABLE t (x int) ON COMMIT DROP", {}},
      {"CREATE TABLE t (temp int)", {}},
      {"SELECT pg_advisory_xact_lock(1)", {}},
      {"SELECT set_config('app.user', '42', true)", {}},
      {"PREPARE TRANSACTION 'tx1'", {}},
      {"DISCARD PLANS", {}},
      {"SELECT 'CREATE TEMP TABLE x' AS text, $$LISTEN x$$", {}},
      {"-- LISTEN x\nSELECT 1 /* PREPARE p AS SELECT 1 */", {}},
      {"INSERT INTO t SELECT * FROM u", {}},
  });
}

TEST_CASE("state that lives until the client ends it is found in every spelling",
          "[protocol][session_state]") {
  check_table({
      {"CREATE TEMP TABLE t (x int)", {{k::creates_temp}}},
      {"create temporary table t as select 1", {{k::creates_temp}}},
      {"CREATE GLOBAL TEMPORARY TABLE t (x int) ON COMMIT DELETE ROWS", {{k::creates_temp}}},
      {"CREATE OR REPLACE TEMP VIEW v AS SELECT 1", {{k::creates_temp}}},
      {"CREATE TABLE pg_temp.t (x int)", {{k::creates_temp}}},
      {"CREATE FUNCTION pg_temp.f() RETURNS int LANGUAGE sql AS 'select 1'", {{k::creates_temp}}},
      {"SELECT 1 AS x INTO TEMP t", {{k::creates_temp}}},
      {"SELECT pg_advisory_lock(42)", {{k::locks_advisory}}},
      {"select pg_catalog.pg_try_advisory_lock_shared(1, 2)", {{k::locks_advisory}}},
      {"DECLARE c CURSOR WITH HOLD FOR SELECT 1", {{k::holds_cursor, "c"}}},
      {"DECLARE \"Big\" BINARY INSENSITIVE SCROLL CURSOR WITH HOLD FOR SELECT 1",
       {{k::holds_cursor, "Big"}}},
      {"LISTEN Events", {{k::listens, "events"}}},
      {"PREPARE q (int) AS SELECT pg_advisory_lock($1)", {{k::prepares, "q"}}},
      {"SET ROLE reporting", {{k::sets_role, "role"}}},
      {"SET SESSION AUTHORIZATION alice", {{k::sets_role, "session_authorization"}}},
      {"SET role = 'reporting'", {{k::sets_role, "role"}}},
      {"SELECT set_config('role', 'reporting', false)", {{k::sets_role, "role"}}},
      {"SET session_authorization TO alice", {{k::sets_role, "session_authorization"}}},
      {"SELECT set_config(current_setting('x'), 'y', false)", {{k::sets_unknown}}},
      {"SET search_path = 'My Schema'", {{k::sets_unknown, "search_path"}}},
      {"SET work_mem = E'1\\MB'", {{k::sets_unknown, "work_mem"}}},
      {"SET work_mem = 1, 2", {{k::sets_unknown, "work_mem"}}},
      {"SET SESSION CHARACTERISTICS AS TRANSACTION SNAPSHOT x", {{k::sets_unknown}}},
  });
}

TEST_CASE("what ends session state is found", "[protocol][session_state]") {
  check_table({
      {"DISCARD ALL", {{k::discards_all}}},
      {"discard temp", {{k::drops_temp}}},
      {"DISCARD TEMPORARY", {{k::drops_temp}}},
      {"SELECT pg_advisory_unlock_all()", {{k::unlocks_advisory_all}}},
      {"CLOSE c", {{k::closes_cursor, "c"}}},
      {"CLOSE ALL", {{k::closes_cursor}}},
      {"UNLISTEN events", {{k::unlistens, "events"}}},
      {"UNLISTEN *", {{k::unlistens}}},
      {"DEALLOCATE q", {{k::deallocates, "q"}}},
      {"DEALLOCATE PREPARE q", {{k::deallocates, "q"}}},
      {"DEALLOCATE ALL", {{k::deallocates}}},
      {"RESET ROLE", {{k::resets_role, "role"}}},
      {"SET ROLE NONE", {{k::resets_role, "role"}}},
      {"RESET SESSION AUTHORIZATION", {{k::resets_role, "session_authorization"}}},
      {"SET SESSION AUTHORIZATION DEFAULT", {{k::resets_role, "session_authorization"}}},
      {"RESET session_authorization", {{k::resets_role, "session_authorization"}}},
      {"SET role TO DEFAULT", {{k::resets_role, "role"}}},
  });
}

TEST_CASE("session settings are read as the server receives them", "[protocol][session_state]") {
  check_table({
      {"SET work_mem = '64MB'", {{k::sets, "work_mem", "64MB"}}},
      {"set Work_Mem to 65536", {{k::sets, "work_mem", "65536"}}},
      {"SET SESSION statement_timeout TO '5s'", {{k::sets, "statement_timeout", "5s"}}},
      {"SET extra_float_digits = 3", {{k::sets, "extra_float_digits", "3"}}},
      {"SET extra_float_digits = -2", {{k::sets, "extra_float_digits", "-2"}}},
      {"SET geqo TO OFF", {{k::sets, "geqo", "off"}}},
      {"SET app.user_id = 'it''s'", {{k::sets, "app.user_id", "it's"}}},
      {"SET \"App\".tenant = $$a b$$", {{k::sets, "App.tenant", "a b"}}},
      {"SET search_path TO app, public", {{k::sets, "search_path", "app, public"}}},
      {"SET SCHEMA 'app'", {{k::sets, "search_path", "app"}}},
      {"SET TIME ZONE 'PST8PDT'", {{k::sets, "timezone", "PST8PDT"}}},
      {"SET TIME ZONE LOCAL", {{k::resets, "timezone"}}},
      {"SET NAMES 'UTF8'", {{k::sets, "client_encoding", "UTF8"}}},
      {"SET XML OPTION DOCUMENT", {{k::sets, "xmloption", "document"}}},
      {"SET work_mem TO DEFAULT", {{k::resets, "work_mem"}}},
      {"RESET work_mem", {{k::resets, "work_mem"}}},
      {"RESET app.user_id", {{k::resets, "app.user_id"}}},
      {"RESET TIME ZONE", {{k::resets, "timezone"}}},
      {"RESET ALL", {{k::resets_all}}},
      {"SELECT set_config('App.Tenant', '7', false)", {{k::sets, "app.tenant", "7"}}},
      {"SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
       {{k::sets, "default_transaction_isolation", "repeatable read"},
        {k::sets, "default_transaction_read_only", "on"}}},
      {"SET SESSION CHARACTERISTICS AS TRANSACTION NOT DEFERRABLE",
       {{k::sets, "default_transaction_deferrable", "off"}}},
  });
}

TEST_CASE("several statements give their effects in order", "[protocol][session_state]") {
  check_table({
      {"SET work_mem = '1MB'; LISTEN a; SELECT pg_advisory_lock(1); RESET work_mem",
       {{k::sets, "work_mem", "1MB"},
        {k::listens, "a"},
        {k::locks_advisory},
        {k::resets, "work_mem"}}},
      {"LISTEN a;;UNLISTEN *;", {{k::listens, "a"}, {k::unlistens}}},
      // A statement cut short right before its `;` does not read the next one as its own.
      {"SET SESSION CHARACTERISTICS AS TRANSACTION READ; LISTEN a",
       {{k::sets_unknown}, {k::listens, "a"}}},
      {"SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL; LISTEN a",
       {{k::sets_unknown}, {k::listens, "a"}}},
      {"SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ; LISTEN a",
       {{k::sets_unknown}, {k::listens, "a"}}},
      {"SET SESSION CHARACTERISTICS; LISTEN a", {{k::sets_unknown}, {k::listens, "a"}}},
  });
}

TEST_CASE("malformed text yields what could be read before the error, and never crashes",
          "[protocol][session_state]") {
  check_table({
      {"LISTEN a; SELECT 'unterminated", {{k::listens, "a"}}},
      {"SET", {}},
      {"SET x", {}},
      {"SET x =", {{k::sets_unknown, "x"}}},
      {"DECLARE", {}},
      {"SELECT set_config('a', 'b'", {}},
      {"SELECT set_config(", {}},
      {"CLOSE", {}},
      {"RESET", {}},
      {"SET SESSION CHARACTERISTICS AS", {{k::sets_unknown}}},
      {"SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL", {{k::sets_unknown}}},
  });
}

TEST_CASE("pin labels name the kinds that keep state", "[protocol][session_state]") {
  CHECK(pin_label(k::creates_temp) == "temp");
  CHECK(pin_label(k::locks_advisory) == "advisory_lock");
  CHECK(pin_label(k::holds_cursor) == "cursor");
  CHECK(pin_label(k::listens) == "listen");
  CHECK(pin_label(k::prepares) == "prepare");
  CHECK(pin_label(k::sets_role) == "role");
  CHECK(pin_label(k::sets_unknown) == "setting");
  CHECK(pin_label(k::sets).empty());
  CHECK(creates_session_state(k::sets_unknown));
  CHECK_FALSE(creates_session_state(k::discards_all));
}

TEST_CASE("one pass finds the words worth a closer look, and nothing in queries without them",
          "[protocol][session_state]") {
  struct trigger_row {
    const char* sql;
    bool effects;
    bool resets;
  };
  for (const auto& r : std::vector<trigger_row>{
           {"SELECT abalance FROM pgbench_accounts WHERE aid = 1", false, false},
           {"UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = 2", true, false},
           {"", false, false},
           {"create TEMPORARY table t (x int)", true, false},
           {"select * from pg_temp.t", true, false},
           {"select pg_advisory_lock(1)", true, false},
           {"DECLARE c CURSOR WITH HOLD FOR SELECT 1", true, false},
           {"deallocate all", true, false},
           {"close c", true, false},
           {"Listen x", true, false},
           {"PREPARE p AS SELECT 1", true, false},
           {"select set_config('a', 'b', false)", true, false},
           {"RESET TimeZone", true, true},
           {"DISCARD ALL", true, true},
           {"insert into t values (DEFAULT)", false, true},
           {"SET DateStyle TO DEFAULT", true, true},
           {"select 'rese', 'discar', 'defaul', 'tem', 'liste'", false, false},
       }) {
    INFO(r.sql);
    const auto found = find_triggers(r.sql);
    CHECK(found.effects == r.effects);
    CHECK(found.resets == r.resets);
    // Whatever the pass says, a query with effects is never passed over.
    if (!found.effects) CHECK(session_effects(r.sql).empty());
  }
}
