// Startup packets: what the client asked for, and PostgreSQL's answer to bad ones.
#include <catch2/catch.hpp>

#include <string>

#include "pgsteer/protocol/framer.hpp"
#include "pgsteer/protocol/startup.hpp"

using namespace pgsteer::protocol;
using namespace std::string_literals;

TEST_CASE("a StartupMessage yields its parameters; database defaults to the user",
          "[protocol][startup]") {
  std::string packet;
  write_startup_message(packet, {{"user", "app"}, {"application_name", "psql"}});
  const auto p = parse_startup_packet(packet);
  REQUIRE(p.kind == startup_kind::startup_message);
  CHECK(p.major == 3);
  CHECK(p.minor == 0);
  CHECK(p.user() == "app");
  CHECK(p.database() == "app");
  CHECK(p.parameter("application_name") == "psql");
  CHECK_FALSE(p.needs_negotiation());
}

TEST_CASE("SSLRequest, GSSENCRequest and CancelRequest are recognised", "[protocol][startup]") {
  std::string ssl;
  write_ssl_request(ssl);
  CHECK(ssl == "\x00\x00\x00\x08\x04\xd2\x16\x2f"s);
  CHECK(parse_startup_packet(ssl).kind == startup_kind::ssl_request);
  CHECK(parse_startup_packet("\x00\x00\x00\x08\x04\xd2\x16\x30"s).kind ==
        startup_kind::gssenc_request);
  std::string cancel;
  write_cancel_request(cancel, 1234, -99);
  const auto c = parse_startup_packet(cancel);
  REQUIRE(c.kind == startup_kind::cancel_request);
  CHECK(c.process_id == 1234);
  CHECK(c.secret_key == -99);
}

TEST_CASE("protocol 3.2 and _pq_ options ask for NegotiateProtocolVersion", "[protocol][startup]") {
  // length | 0x00030002 | user\0app\0 | _pq_.compression\0on\0 | \0
  std::string body = "\x00\x03\x00\x02user\0app\0_pq_.compression\0on\0\0"s;
  std::string packet = "\x00\x00\x00\x00"s + body;
  packet[3] = static_cast<char>(packet.size());
  const auto p = parse_startup_packet(packet);
  REQUIRE(p.kind == startup_kind::startup_message);
  CHECK(p.minor == 2);
  CHECK(p.needs_negotiation());
  REQUIRE(p.unrecognized_options.size() == 1);
  CHECK(p.unrecognized_options[0] == "_pq_.compression");
  CHECK(p.user() == "app");
}

TEST_CASE("bad startup packets get PostgreSQL's errors", "[protocol][startup]") {
  SECTION("protocol 2.0 is not supported") {
    const auto p = parse_startup_packet("\x00\x00\x00\x08\x00\x02\x00\x00"s);
    CHECK(p.kind == startup_kind::invalid);
    CHECK(p.error.code == "0A000");
    CHECK(p.error.message == "unsupported frontend protocol 2.0: server supports 3.0 to 3.0");
  }
  SECTION("no user") {
    std::string packet;
    write_startup_message(packet, {{"database", "app"}});
    const auto p = parse_startup_packet(packet);
    CHECK(p.kind == startup_kind::invalid);
    CHECK(p.error.code == "28000");
    CHECK(p.error.message == "no PostgreSQL user name specified in startup packet");
  }
  SECTION("missing terminator") {
    const auto p = parse_startup_packet("\x00\x00\x00\x0d\x00\x03\x00\x00user\0"s);
    CHECK(p.kind == startup_kind::invalid);
    CHECK(p.error.code == "08P01");
  }
  SECTION("length field disagrees with the packet") {
    CHECK(parse_startup_packet("\x00\x00\x00\x09\x04\xd2\x16\x2f"s).kind == startup_kind::invalid);
    CHECK(parse_startup_packet("\x00\x00"s).kind == startup_kind::invalid);
  }
  SECTION("too many parameters") {
    std::vector<std::pair<std::string, std::string>> params{{"user", "app"}};
    for (int i = 0; i < 10; ++i)
      params.emplace_back(std::string("p").append(std::to_string(i)), "v");
    std::string packet;
    write_startup_message(packet, params);
    const auto p = parse_startup_packet(packet, startup_limits{.max_parameters = 5});
    CHECK(p.kind == startup_kind::invalid);
    CHECK(p.error.code == "54000");
  }
}
