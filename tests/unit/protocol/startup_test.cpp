// Startup packets: what the client asked for, and PostgreSQL's answer to bad ones.
#include <catch2/catch.hpp>

#include <string>

#include "pgsteer/protocol/framer.hpp"
#include "pgsteer/protocol/startup.hpp"

using namespace pgsteer::protocol;
using namespace std::string_literals;

TEST_CASE("a StartupMessage yields its parameters, database defaults to the user",
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

TEST_CASE("replication connections are recognised with PostgreSQL's spellings",
          "[protocol][startup]") {
  const auto with = [](const char* value) {
    std::string packet;
    write_startup_message(packet, {{"user", "app"}, {"replication", value}});
    return parse_startup_packet(packet);
  };
  CHECK(with("database").replication == replication_mode::logical);
  for (const char* on : {"true", "t", "TRUE", "yes", "y", "on", "1"}) {
    INFO(on);
    CHECK(with(on).replication == replication_mode::physical);
  }
  for (const char* off : {"false", "f", "no", "off", "of", "0"}) {
    INFO(off);
    CHECK(with(off).kind == startup_kind::startup_message);
    CHECK(with(off).replication == replication_mode::none);
  }
  for (const char* bad : {"o", "truex", "2", "databases", "yess"}) {
    INFO(bad);
    const auto p = with(bad);
    CHECK(p.kind == startup_kind::invalid);
    CHECK(p.error.code == "22023");
  }
}

TEST_CASE("parameters sent twice: the last wins, accessors", "[protocol][startup]") {
  std::string packet;
  write_startup_message(packet, {{"user", "a"},
                                 {"user", "b"},
                                 {"database", "db"},
                                 {"options", "-c search_path=x"},
                                 {"application_name", "psql"}});
  const auto p = parse_startup_packet(packet);
  REQUIRE(p.kind == startup_kind::startup_message);
  CHECK(p.user() == "b");
  CHECK(p.database() == "db");
  CHECK(p.options() == "-c search_path=x");
  CHECK(p.application_name() == "psql");
  CHECK(p.replication == replication_mode::none);
}

TEST_CASE("NegotiateProtocolVersion names the options pgsteer does not know",
          "[protocol][startup]") {
  // length | 0x00030001 | user\0app\0 | _pq_.a\0x\0 | _pq_.b\0y\0 | \0
  std::string packet = "\x00\x00\x00\x00\x00\x03\x00\x01user\0app\0_pq_.a\0x\0_pq_.b\0y\0\0"s;
  packet[3] = static_cast<char>(packet.size());
  const auto p = parse_startup_packet(packet);
  REQUIRE(p.kind == startup_kind::startup_message);
  REQUIRE(p.needs_negotiation());
  std::string out;
  write_negotiate_protocol_version(out, p);
  // 'v' | len 26 | Int32 newest minor 0 | Int32 2 | "_pq_.a\0" | "_pq_.b\0"
  CHECK(out == "v\x00\x00\x00\x1a\x00\x00\x00\x00\x00\x00\x00\x02_pq_.a\0_pq_.b\0"s);
  // The options count against the parameter limit.
  CHECK(parse_startup_packet(packet, startup_limits{.max_parameters = 2}).kind ==
        startup_kind::invalid);
  CHECK(parse_startup_packet(packet, startup_limits{.max_parameters = 3}).kind ==
        startup_kind::startup_message);
}

TEST_CASE("startup packets of every length below the minimum are refused cleanly",
          "[protocol][startup]") {
  std::string ssl;
  write_ssl_request(ssl);
  std::string cancel;
  write_cancel_request(cancel, 1, 2);
  std::string startup;
  write_startup_message(startup, {{"user", "app"}});
  for (const std::string* whole : {&ssl, &cancel, &startup}) {
    for (std::size_t cut = 0; cut < whole->size(); ++cut) {
      // The packet cut short, with its length field patched to match (when there is one).
      std::string packet = whole->substr(0, cut);
      if (cut >= 4) packet[3] = static_cast<char>(cut);
      INFO(cut);
      CHECK(parse_startup_packet(packet).kind == startup_kind::invalid);
    }
  }
}
