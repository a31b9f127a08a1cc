// MD5 authentication, with expected values computed independently (Python's hashlib).
#include <catch2/catch.hpp>

#include <string>

#include "pgsteer/protocol/md5.hpp"

using namespace pgsteer::protocol;
using namespace std::string_literals;

TEST_CASE("md5 stored hash and salted response match PostgreSQL's definition", "[protocol][md5]") {
  // hashlib.md5(b"secretapp").hexdigest()
  const std::string stored = md5::stored_hash("app", "secret");
  CHECK(stored == "md56a422f785c9e20873908ce25d1736ae2");
  CHECK(md5::is_stored_hash(stored));
  const std::string salt = "\x01\x02\x03\x04"s;
  // "md5" + hashlib.md5(b"6a422f785c9e20873908ce25d1736ae2" + bytes([1,2,3,4])).hexdigest()
  CHECK(md5::response(stored, salt) == "md5911f527656472583a006e7727877b33e");
  CHECK(md5::verify(stored, salt, "md5911f527656472583a006e7727877b33e"));
  CHECK_FALSE(md5::verify(stored, salt, "md5911f527656472583a006e7727877b33f"));
  CHECK_FALSE(md5::verify(stored, "\x01\x02\x03\x05"s, "md5911f527656472583a006e7727877b33e"));
  CHECK_FALSE(md5::is_stored_hash("md5XYZ"));
  CHECK_FALSE(md5::is_stored_hash("SCRAM-SHA-256$4096:abc"));
}
