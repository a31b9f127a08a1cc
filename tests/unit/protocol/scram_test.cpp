// SCRAM-SHA-256 against RFC 7677's example exchange, both sides, and the ways it must fail.
#include <catch2/catch.hpp>

#include <string>

#include "pgsteer/protocol/scram.hpp"

using namespace pgsteer::protocol::scram;

namespace {
// RFC 7677 section 3.
constexpr const char* rfc_client_nonce = "rOprNGfwEbeRWgbNEkqO";
constexpr const char* rfc_server_nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr const char* rfc_client_first = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr const char* rfc_server_first =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr const char* rfc_client_final =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr const char* rfc_server_final = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

verifier rfc_verifier() {
  return verifier::from_password("pencil", *base64_decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);
}
}  // namespace

TEST_CASE("client side reproduces RFC 7677 byte for byte", "[protocol][scram]") {
  client_exchange client("pencil", rfc_client_nonce, {}, "user");
  CHECK(client.mechanism_name() == "SCRAM-SHA-256");
  CHECK(client.client_first() == rfc_client_first);
  std::string final_message;
  REQUIRE(client.server_first(rfc_server_first, final_message) == result::ok);
  CHECK(final_message == rfc_client_final);
  CHECK(client.server_final(rfc_server_final) == result::ok);
}

TEST_CASE("server side reproduces RFC 7677 byte for byte", "[protocol][scram]") {
  server_exchange server(rfc_verifier(), rfc_server_nonce);
  std::string server_first;
  REQUIRE(server.client_first("SCRAM-SHA-256", rfc_client_first, server_first) == result::ok);
  CHECK(server_first == rfc_server_first);
  std::string server_final;
  REQUIRE(server.client_final(rfc_client_final, server_final) == result::ok);
  CHECK(server_final == rfc_server_final);
}

TEST_CASE("a stored verifier parses and prints in PostgreSQL's form", "[protocol][scram]") {
  const verifier v = rfc_verifier();
  const std::string text = v.to_string();
  CHECK(text.starts_with("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"));
  const auto parsed = verifier::parse(text);
  REQUIRE(parsed);
  CHECK(parsed->stored_key == v.stored_key);
  CHECK(parsed->server_key == v.server_key);
  for (const char* bad : {"", "SCRAM-SHA-256$", "SCRAM-SHA-256$4096:abc", "md5abcdef",
                          "SCRAM-SHA-256$0:W22ZaJ0SNY7soEsUEjb6gQ==$AAAA:AAAA",
                          "SCRAM-SHA-256$x:W22ZaJ0SNY7soEsUEjb6gQ==$AAAA:AAAA"}) {
    CHECK_FALSE(verifier::parse(bad));
  }
}

TEST_CASE("our client and our server agree, with and without channel binding",
          "[protocol][scram]") {
  const std::string hash(32, '\x5a');
  for (const bool plus : {false, true}) {
    INFO("plus " << plus);
    const verifier v = verifier::from_password("s3cret", "0123456789abcdef");
    client_exchange client("s3cret", random_nonce(), plus ? hash : "");
    server_exchange server(v, random_nonce(), hash);
    std::string server_first, client_final, server_final;
    REQUIRE(server.client_first(client.mechanism_name(), client.client_first(), server_first) ==
            result::ok);
    REQUIRE(client.server_first(server_first, client_final) == result::ok);
    REQUIRE(server.client_final(client_final, server_final) == result::ok);
    CHECK(client.server_final(server_final) == result::ok);
  }
}

TEST_CASE("a wrong password fails the proof", "[protocol][scram]") {
  const verifier v = verifier::from_password("right", "salt-salt-salt!!");
  client_exchange client("wrong", "clientnonce");
  server_exchange server(v, "servernonce");
  std::string server_first, client_final, server_final;
  REQUIRE(server.client_first("SCRAM-SHA-256", client.client_first(), server_first) == result::ok);
  REQUIRE(client.server_first(server_first, client_final) == result::ok);
  CHECK(server.client_final(client_final, server_final) == result::failed);
  CHECK(server_final.empty());
}

TEST_CASE("an unknown user fails exactly like a wrong password", "[protocol][scram]") {
  const verifier mock = mock_verifier("nobody", "process secret");
  CHECK(mock.salt.size() == 16);
  CHECK(mock_verifier("nobody", "process secret").salt == mock.salt);  // stable per user
  CHECK(mock_verifier("somebody", "process secret").salt != mock.salt);
  client_exchange client("anything", "clientnonce");
  server_exchange server(mock, "servernonce");
  std::string server_first, client_final, server_final;
  REQUIRE(server.client_first("SCRAM-SHA-256", client.client_first(), server_first) == result::ok);
  REQUIRE(client.server_first(server_first, client_final) == result::ok);
  CHECK(server.client_final(client_final, server_final) == result::failed);
}

TEST_CASE("tampering is detected", "[protocol][scram]") {
  SECTION("the nonce is changed") {
    server_exchange server(rfc_verifier(), rfc_server_nonce);
    std::string first, final_message;
    REQUIRE(server.client_first("SCRAM-SHA-256", rfc_client_first, first) == result::ok);
    std::string tampered = rfc_client_final;
    tampered.replace(tampered.find("%hv"), 3, "%hw");
    // PostgreSQL treats a foreign nonce as a protocol violation, not as a wrong password.
    CHECK(server.client_final(tampered, final_message) == result::malformed);
  }
  SECTION("the server's signature is wrong") {
    client_exchange client("pencil", rfc_client_nonce, {}, "user");
    client.client_first();
    std::string final_message;
    REQUIRE(client.server_first(rfc_server_first, final_message) == result::ok);
    CHECK(client.server_final("v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=") == result::failed);
  }
  SECTION("channel binding data does not match") {
    const verifier v = verifier::from_password("pw", "saltsaltsaltsalt");
    client_exchange client("pw", "cn", std::string(32, 'a'));
    server_exchange server(v, "sn", std::string(32, 'b'));
    std::string first, client_final, server_final;
    REQUIRE(server.client_first(client.mechanism_name(), client.client_first(), first) ==
            result::ok);
    REQUIRE(client.server_first(first, client_final) == result::ok);
    CHECK(server.client_final(client_final, server_final) == result::failed);
  }
  SECTION("a client that could bind but was told we cannot (downgrade)") {
    server_exchange server(rfc_verifier(), "sn", std::string(32, 'b'));
    std::string first;
    CHECK(server.client_first("SCRAM-SHA-256", "y,,n=,r=abc", first) == result::failed);
  }
  SECTION("PLUS without TLS") {
    server_exchange server(rfc_verifier(), "sn");
    std::string first;
    CHECK(server.client_first("SCRAM-SHA-256-PLUS", "p=tls-server-end-point,,n=,r=abc", first) ==
          result::malformed);
  }
}

TEST_CASE("malformed messages are refused, never crash", "[protocol][scram]") {
  for (const char* bad : {"", "n", "n,", "x,,n=,r=a", "n,a=admin,n=,r=a", "n,,r=a", "n,,n=,",
                          "n,,n=,r=", "n,,n=,r=a,b"}) {
    INFO(bad);
    server_exchange server(rfc_verifier(), "sn");
    std::string first;
    const auto r = server.client_first("SCRAM-SHA-256", bad, first);
    CHECK(r == result::malformed);  // "b" is not an attribute
  }
  client_exchange client("pw", "abc");
  client.client_first();
  std::string out;
  CHECK(client.server_first("r=xyz,s=AAAA,i=4096", out) == result::malformed);  // foreign nonce
  client_exchange c2("pw", "abc");
  c2.client_first();
  CHECK(c2.server_first("r=abcd,s=AAAA,i=99999999", out) == result::malformed);  // iterations
  client_exchange c3("pw", "abc");
  c3.client_first();
  CHECK(c3.server_first("r=abcd,s=!!!!,i=4096", out) == result::malformed);  // salt
}

TEST_CASE("base64 round-trips and rejects garbage", "[protocol][scram]") {
  for (const std::string raw : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    CHECK(*base64_decode(base64_encode(raw)) == raw);
  }
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  CHECK_FALSE(base64_decode("Zm9"));
  CHECK_FALSE(base64_decode("Zm=v"));
  CHECK_FALSE(base64_decode("Z==="));
  CHECK_FALSE(base64_decode("Zm9v!mFy"));
}
