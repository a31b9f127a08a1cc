// Which login failures make a client wait for the topology instead of failing.
#include <catch2/catch.hpp>

#include <string>

#include "pgsteer/protocol/backend_going_away.hpp"

using pgsteer::protocol::error_fields;
using pgsteer::protocol::is_backend_going_away;

namespace {

error_fields with_code(const std::string& code, const std::string& message = {}) {
  error_fields e;
  e.severity = "FATAL";
  e.code = code;
  e.message = message;
  return e;
}

}  // namespace

TEST_CASE("a server going away or not there yet is a reason to wait", "[protocol][failover]") {
  const char* going_away[][2] = {
      {"57P03", "the database system is shutting down"},
      {"57P03", "the database system is starting up"},
      {"57P03", "the database system is in recovery mode"},
      {"57P03", "the database system is not yet accepting connections"},
      {"57P01", "terminating connection due to administrator command"},
      {"57P02", "terminating connection because of crash of another server process"},
      {"08001", "could not connect to backend \"pg1\" at 127.0.0.1:5432"},
      {"08001", "the backend closed the connection during login"},
      {"08001", "timed out connecting to backend \"pg1\""},
      {"08006", "connection failure"},
  };
  for (const auto& [code, message] : going_away) {
    INFO(code << " " << message);
    CHECK(is_backend_going_away(with_code(code, message)));
  }
}

TEST_CASE("a login that is wrong is the client's error at once", "[protocol][failover]") {
  for (const char* code : {"28P01", "28000", "3D000", "53300", "08004", "08P01", "57014", "42501",
                           "XX000", "", "57P0", "57P033", "08"}) {
    INFO("'" << code << "'");
    CHECK_FALSE(is_backend_going_away(with_code(code)));
  }
}
