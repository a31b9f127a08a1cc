// pg_lsn text form and lag arithmetic.
#include <catch2/catch.hpp>

#include "pgsteer/protocol/lsn.hpp"

using pgsteer::protocol::bytes_between;
using pgsteer::protocol::lsn;

TEST_CASE("LSNs parse and print in PostgreSQL's X/Y form", "[protocol][lsn]") {
  const auto a = lsn::parse("16/B374D848");
  REQUIRE(a);
  CHECK(a->value == 0x16B374D848ull);
  CHECK(a->to_string() == "16/B374D848");
  CHECK(lsn::parse("0/0")->to_string() == "0/0");
  CHECK(lsn::parse("FFFFFFFF/FFFFFFFF")->value == ~0ull);
  for (const char* bad : {"", "/", "1/", "/1", "1/2/3", "G/0", "123456789/0", "1 /2", "-1/0"}) {
    CHECK_FALSE(lsn::parse(bad));
  }
}

TEST_CASE("lag is the byte distance, never negative", "[protocol][lsn]") {
  const auto replay = *lsn::parse("0/3000000");
  const auto primary = *lsn::parse("1/0");
  CHECK(replay < primary);
  CHECK(bytes_between(replay, primary) == 0x100000000ull - 0x3000000ull);
  CHECK(bytes_between(primary, replay) == 0);
}
