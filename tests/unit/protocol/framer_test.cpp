// Framing: whole messages out of arbitrary byte runs, bounded lengths.
#include <catch2/catch.hpp>

#include <string>

#include "pgsteer/protocol/framer.hpp"
#include "pgsteer/protocol/messages.hpp"

using namespace pgsteer::protocol;
using namespace std::string_literals;

TEST_CASE("a whole typed message is framed with its body", "[protocol][framer]") {
  // 'Z' | length 5 | 'I'
  const std::string bytes = "Z\x00\x00\x00\x05I"s;
  const frame f = next_frame(bytes, 1024);
  REQUIRE(f.status == frame_status::complete);
  CHECK(f.type == 'Z');
  CHECK(f.size == 6);
  CHECK(f.body == "I");
}

TEST_CASE("a partial message asks for exactly what is missing", "[protocol][framer]") {
  const std::string bytes = "Z\x00\x00\x00\x05I"s;
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    const frame f = next_frame(std::string_view(bytes).substr(0, cut), 1024);
    CHECK(f.status == frame_status::need_more);
    CHECK(f.needed >= 1);
    CHECK(f.needed <= bytes.size() - cut);
  }
}

TEST_CASE("several messages in one buffer come out one by one", "[protocol][framer]") {
  std::string buffer;
  write_parse_complete(buffer);
  write_bind_complete(buffer);
  write_command_complete(buffer, "SELECT 1");
  write_ready_for_query(buffer, 'I');
  std::string_view rest = buffer;
  std::string types;
  while (!rest.empty()) {
    const frame f = next_frame(rest, 1024);
    REQUIRE(f.status == frame_status::complete);
    types.push_back(f.type);
    rest.remove_prefix(f.size);
  }
  CHECK(types == "12CZ");
}

TEST_CASE("lengths below 4 or above the maximum are violations, not allocations",
          "[protocol][framer]") {
  CHECK(next_frame("Q\x00\x00\x00\x03"s, 1024).status == frame_status::bad_length);
  CHECK(next_frame("Q\x00\x00\x00\x00"s, 1024).status == frame_status::bad_length);
  // 0x7fffffff declared: refused before any byte of the body is awaited.
  CHECK(next_frame("Q\x7f\xff\xff\xff"s, 1 << 20).status == frame_status::too_large);
  CHECK(next_frame("Q\xff\xff\xff\xff"s, 1 << 20).status == frame_status::too_large);
  CHECK(next_frame("Q\x00\x00\x04\x01"s, 1024).status == frame_status::too_large);
  CHECK(next_frame("Q\x00\x00\x04\x00"s, 1024).status == frame_status::need_more);
}

TEST_CASE("startup packets are framed by their leading length", "[protocol][framer]") {
  // length 8 | SSLRequest code 80877103 (0x04d2162f)
  const std::string ssl = "\x00\x00\x00\x08\x04\xd2\x16\x2f"s;
  const frame f = next_startup_frame(ssl, max_startup_packet_size);
  REQUIRE(f.status == frame_status::complete);
  CHECK(f.size == 8);
  CHECK(next_startup_frame(ssl.substr(0, 3), max_startup_packet_size).status ==
        frame_status::need_more);
  CHECK(next_startup_frame("\x00\x01\x00\x00"s, max_startup_packet_size).status ==
        frame_status::too_large);
}
