// parked_client: what a parked client keeps of its session (packed parameters, the statement
// map only when it holds something) and when its idle timeout has passed.
// GCC 12 at -O3 warns about std::string assignments it inlines here (GCC bug 105329, a false
// positive of -Wrestrict).
#pragma GCC diagnostic ignored "-Wrestrict"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include "parameter_sync.hpp"
#include "parked_client.hpp"
#include "statement_map.hpp"

using pgsteer::proxy::parameter_map;
using pgsteer::proxy::parameter_sync;
using pgsteer::proxy::parked_client;
using pgsteer::proxy::statement_map;
using pgsteer::proxy::statement_registry;
using namespace std::chrono_literals;

namespace {

const parameter_map defaults = {{"DateStyle", "ISO, MDY"}, {"application_name", ""}};

}  // namespace

TEST_CASE("a client without settings packs to nothing", "[parked_client]") {
  parameter_sync params;
  params.login_done();
  CHECK(params.pack().empty());
  CHECK(parameter_sync::unpack("").values().empty());
}

TEST_CASE("packed settings come back as they were", "[parked_client]") {
  parameter_sync params;
  params.set("application_name", "psql");
  params.set("datestyle", "ISO, DMY");
  params.login_done();
  const auto packed = params.pack();
  // Two settings of a few bytes each in one string, not two maps of nodes.
  CHECK(packed.size() < 48);
  const auto back = parameter_sync::unpack(packed);
  CHECK(back.values() == params.values());
  CHECK(back.pack() == packed);
  CHECK_FALSE(back.needs_resync());
}

TEST_CASE("packed settings keep what RESET returns to", "[parked_client]") {
  parameter_sync params;
  params.set("DateStyle", "ISO, DMY");
  params.login_done();
  // The client's own SET after login: its value now differs from its startup value.
  CHECK_FALSE(params.on_parameter_status("DateStyle", "SQL, DMY", true, defaults));
  auto back = parameter_sync::unpack(params.pack());
  CHECK(back.values().at("DateStyle") == "SQL, DMY");
  // RESET DateStyle on a shared server reports the pool's default; the client is told its
  // startup value, kept through the park.
  back.note_request(pgsteer::protocol::find_triggers("RESET DateStyle"));
  const auto report = back.on_parameter_status("DateStyle", "ISO, MDY", true, defaults);
  REQUIRE(report);
  CHECK(*report == "ISO, DMY");
  CHECK(back.needs_resync());
  // The flags survive a second park too.
  CHECK(parameter_sync::unpack(back.pack()).needs_resync());
}

TEST_CASE("a statement map is kept only when it holds something", "[parked_client]") {
  statement_registry registry("pgsteer_0_");
  statement_map statements(registry);
  CHECK(statements.empty());
}

TEST_CASE("a parked client's idle timeout is checked on the sweep's clock", "[parked_client]") {
  const std::chrono::steady_clock::time_point quiet{std::chrono::seconds(100)};
  CHECK_FALSE(parked_client::idle_too_long(0s, quiet, quiet + 1h));  // 0: no timeout
  CHECK_FALSE(parked_client::idle_too_long(5s, quiet, quiet + 4900ms));
  CHECK(parked_client::idle_too_long(5s, quiet, quiet + 5s));
  CHECK(parked_client::idle_too_long(5s, quiet, quiet + 6s));
}
