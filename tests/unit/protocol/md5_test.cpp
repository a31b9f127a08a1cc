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
  CHECK_FALSE(md5::verify(stored, salt, ""));
  CHECK_FALSE(md5::verify(stored, salt, "md5911f527656472583a006e7727877b33e\0"s));
}

TEST_CASE("md5 hashes bytes as they are: no SASLprep, NUL salt bytes kept", "[protocol][md5]") {
  // hashlib.md5("pässword".encode() + b"user"), then with salt b"\0\0\0\0".
  const std::string stored = md5::stored_hash("user", "p\xC3\xA4ssword");
  CHECK(stored == "md59c63c6fafbdb69058cec8914eee98cee");
  CHECK(md5::response(stored, "\0\0\0\0"s) == "md5b57b1a13d44cd5d3e0761917462e0b25");
}

TEST_CASE("the md5 client answers from a plaintext or a stored password", "[protocol][md5]") {
  // hashlib: stored = md5(b"app" + b"app_md5"), response with salt de ad be ef.
  const std::string salt = "\xde\xad\xbe\xef"s;
  CHECK(md5::client_response("app_md5", "app", salt) == "md5c7cf44c8f5a8877f3946d82be31fdc17");
  CHECK(md5::client_response("app_md5", "md545432f4ccba729829724f2588b3cfa27", salt) ==
        "md5c7cf44c8f5a8877f3946d82be31fdc17");
  CHECK(md5::verify(md5::stored_hash("app_md5", "app"), salt,
                    md5::client_response("app_md5", "app", salt)));
}

TEST_CASE("only PostgreSQL's exact stored form counts as an md5 hash", "[protocol][md5]") {
  for (const char* bad : {"", "md5", "md5XYZ", "SCRAM-SHA-256$4096:abc",
                          "md56A422F785C9E20873908CE25D1736AE2",   // upper case
                          "md56a422f785c9e20873908ce25d1736ae",    // 31 digits
                          "md56a422f785c9e20873908ce25d1736ae22",  // 33 digits
                          "MD56a422f785c9e20873908ce25d1736ae2"}) {
    INFO(bad);
    CHECK_FALSE(md5::is_stored_hash(bad));
    CHECK(md5::response(bad, "salt").empty());
    CHECK_FALSE(md5::verify(bad, "salt", md5::response(bad, "salt")));
  }
}
