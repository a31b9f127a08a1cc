// SCRAM-SHA-256 against RFC 7677's example exchange, both sides, and the ways it must fail.
// Expected verifiers were computed independently with Python's hashlib.pbkdf2_hmac and hmac.
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
constexpr const char* rfc_final_without_proof =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr const char* rfc_proof = "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";

verifier rfc_verifier() {
  return verifier::from_password("pencil", *base64_decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);
}

// A server that has accepted RFC 7677's client-first-message.
server_exchange rfc_server_after_first() {
  server_exchange server(rfc_verifier(), rfc_server_nonce);
  std::string first;
  REQUIRE(server.client_first("SCRAM-SHA-256", rfc_client_first, first) == result::ok);
  return server;
}

// A client that has sent RFC 7677's client-first-message.
client_exchange rfc_client_after_first() {
  client_exchange client("pencil", rfc_client_nonce, {}, "user");
  REQUIRE(client.client_first() == rfc_client_first);
  return client;
}

struct outcome {
  result first = result::malformed;
  result final_ = result::malformed;
  result server_final = result::malformed;
};

// Runs our client against our server.
outcome run(client_exchange& client, server_exchange& server) {
  outcome o;
  std::string server_first, client_final, server_final;
  o.first = server.client_first(client.mechanism_name(), client.client_first(), server_first);
  if (o.first != result::ok) return o;
  if (client.server_first(server_first, client_final) != result::ok) return o;
  o.final_ = server.client_final(client_final, server_final);
  if (o.final_ != result::ok) return o;
  o.server_final = client.server_final(server_final);
  return o;
}

std::string unhex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
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
  CHECK_FALSE(server.channel_bound());
}

TEST_CASE("a stored verifier parses and prints in PostgreSQL's form", "[protocol][scram]") {
  // Python: pbkdf2_hmac('sha256', b'IX', b'0123456789abcdef', 4096) -> StoredKey, ServerKey.
  const std::string python =
      "SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$w8BKFJL+iPDCA6QJz7ppAW4jPKiyJ62aIffAhgWQ2KU=:"
      "2iwiFsNsJUOcxyRv8AAXWij6Fkx6Dme2WsTE+/SN7BQ=";
  CHECK(verifier::from_password("IX", "0123456789abcdef").to_string() == python);
  const auto parsed = verifier::parse(python);
  REQUIRE(parsed);
  CHECK(parsed->iterations == 4096);
  CHECK(parsed->salt == "0123456789abcdef");
  CHECK(parsed->to_string() == python);

  const verifier v = rfc_verifier();
  CHECK(v.to_string().starts_with("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"));
  const std::string key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";  // 32 zero bytes
  CHECK(verifier::parse("SCRAM-SHA-256$1:c2FsdA==$" + key + ":" + key));
  CHECK(verifier::parse("SCRAM-SHA-256$2147483647:c2FsdA==$" + key + ":" + key));
  for (const std::string& bad :
       {std::string(), std::string("SCRAM-SHA-256$"), std::string("SCRAM-SHA-256$4096:abc"),
        std::string("md5abcdef"), "SCRAM-SHA-256$0:c2FsdA==$" + key + ":" + key,
        "SCRAM-SHA-256$2147483648:c2FsdA==$" + key + ":" + key,
        "SCRAM-SHA-256$x:c2FsdA==$" + key + ":" + key,
        "SCRAM-SHA-256$+4096:c2FsdA==$" + key + ":" + key,
        "SCRAM-SHA-256$4096:$" + key + ":" + key,                   // empty salt
        "SCRAM-SHA-256$4096:c2FsdA==$AAAA:" + key,                  // short StoredKey
        "SCRAM-SHA-256$4096:c2FsdA==$" + key + ":" + key + "AAAA",  // long ServerKey
        "SCRAM-SHA-256$4096:c2FsdA=$" + key + ":" + key,            // bad base64
        "SCRAM-SHA-1$4096:c2FsdA==$" + key + ":" + key}) {
    INFO(bad);
    CHECK_FALSE(verifier::parse(bad));
  }
}

TEST_CASE("passwords are SASLprep'd before PBKDF2, as PostgreSQL does", "[protocol][scram]") {
  // Python: pbkdf2_hmac('sha256', 'pässwörd'.encode(), b'0123456789abcdef', 4096).
  CHECK(verifier::from_password("p\xC3\xA4ssw\xC3\xB6rd", "0123456789abcdef").to_string() ==
        "SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$3fAV27j/YomKockTpuTuKl8RWKrwUX4tGo6Bmy3IHkQ=:"
        "LakBVUYurAovdTX6//mRi+yyjfF4zqUVQreGOY7pUPI=");
  // A soft hyphen is mapped to nothing: "I<U+00AD>X" is the password "IX".
  const verifier v = verifier::from_password("IX", "0123456789abcdef");
  CHECK(verifier::from_password("I\xC2\xADX", "0123456789abcdef").stored_key == v.stored_key);
  client_exchange client("I\xC2\xADX", "cn");
  server_exchange server(v, "sn");
  CHECK(run(client, server).server_final == result::ok);
}

TEST_CASE("the mechanisms offered follow PostgreSQL's order", "[protocol][scram]") {
  CHECK(server_mechanisms(false) == std::vector<std::string_view>{"SCRAM-SHA-256"});
  CHECK(server_mechanisms(true) ==
        std::vector<std::string_view>{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"});
}

TEST_CASE("our client and our server agree, with and without channel binding",
          "[protocol][scram]") {
  const std::string hash(32, '\x5a');
  for (const bool plus : {false, true}) {
    INFO("plus " << plus);
    const verifier v = verifier::from_password("s3cret", "0123456789abcdef");
    client_exchange client("s3cret", random_nonce(), plus ? hash : "");
    server_exchange server(v, random_nonce(), hash);
    const outcome o = run(client, server);
    CHECK(o.first == result::ok);
    CHECK(o.final_ == result::ok);
    CHECK(o.server_final == result::ok);
    CHECK(server.channel_bound() == plus);
  }
}

TEST_CASE("the SCRAM user name is escaped and ignored", "[protocol][scram]") {
  client_exchange client("pw", "cn", {}, "a,b=c");
  CHECK(client.client_first() == "n,,n=a=2Cb=3Dc,r=cn");
  // The server authenticates the startup packet's user: any SCRAM user name is accepted.
  server_exchange server(verifier::from_password("pw", "saltsaltsaltsalt"), "sn");
  client_exchange again("pw", "cn", {}, "a,b=c");
  CHECK(run(again, server).server_final == result::ok);
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
  // A failed exchange stays failed.
  CHECK(server.client_final(client_final, server_final) == result::malformed);
}

TEST_CASE("an unknown user fails exactly like a wrong password", "[protocol][scram]") {
  const verifier mock = mock_verifier("nobody", "process secret");
  CHECK(mock.salt.size() == default_salt_length);
  CHECK(mock.iterations == default_iterations);
  CHECK(mock_verifier("nobody", "process secret").salt == mock.salt);  // stable per user
  CHECK(mock_verifier("somebody", "process secret").salt != mock.salt);
  CHECK(mock_verifier("nobody", "another secret").salt != mock.salt);
  // The server-first-message has the shape of a real user's.
  server_exchange real(verifier::from_password("pw", random_bytes(16)), "sn");
  server_exchange fake(mock, "sn");
  std::string real_first, fake_first;
  REQUIRE(real.client_first("SCRAM-SHA-256", "n,,n=,r=cn", real_first) == result::ok);
  REQUIRE(fake.client_first("SCRAM-SHA-256", "n,,n=,r=cn", fake_first) == result::ok);
  CHECK(real_first.size() == fake_first.size());
  for (const char* password : {"anything", ""}) {
    client_exchange client(password, "clientnonce");
    server_exchange server(mock, "servernonce");
    const outcome o = run(client, server);
    CHECK(o.first == result::ok);
    CHECK(o.final_ == result::failed);
  }
}

TEST_CASE("the server recovers the client's keys, which log in to an identical verifier",
          "[protocol][scram]") {
  const verifier v = verifier::from_password("pencil", "backend-salt-xyz");
  client_exchange client("pencil", "cn1");
  server_exchange server(v, "sn1");
  REQUIRE(run(client, server).server_final == result::ok);
  const client_keys keys = server.proven_keys();
  CHECK(keys.salt == v.salt);
  CHECK(keys.client_key.size() == 32);

  // pgsteer, holding only the verifier, logs in to a backend with the same verifier.
  client_exchange pass_through = client_exchange::from_keys(keys, "cn2");
  server_exchange backend(v, "sn2");
  CHECK(run(pass_through, backend).server_final == result::ok);

  // A backend whose verifier has another salt cannot be reached without the password.
  client_exchange stranger = client_exchange::from_keys(keys, "cn3");
  server_exchange other(verifier::from_password("pencil", "another-salt-123"), "sn3");
  std::string first, final_message;
  REQUIRE(other.client_first("SCRAM-SHA-256", stranger.client_first(), first) == result::ok);
  CHECK(stranger.server_first(first, final_message) == result::failed);
}

TEST_CASE("cached keys skip PBKDF2 and are only used for their salt", "[protocol][scram]") {
  const verifier v = verifier::from_password("pencil", "backend-salt-xyz");
  client_exchange first_login("pencil", "cn1");
  server_exchange s1(v, "sn1");
  REQUIRE(run(first_login, s1).server_final == result::ok);
  REQUIRE(first_login.keys());
  CHECK(first_login.keys()->client_key == s1.proven_keys().client_key);

  // Cached keys make a login succeed even with a wrong password: proof they were used.
  client_exchange cached("wrong", "cn2");
  cached.reuse_keys(*first_login.keys());
  server_exchange s2(v, "sn2");
  CHECK(run(cached, s2).server_final == result::ok);

  // For another salt the password is used again.
  const verifier rotated = verifier::from_password("pencil", "rotated-salt-abc");
  client_exchange stale("pencil", "cn3");
  stale.reuse_keys(*first_login.keys());
  server_exchange s3(rotated, "sn3");
  CHECK(run(stale, s3).server_final == result::ok);
  CHECK(stale.keys()->salt == "rotated-salt-abc");
}

TEST_CASE("tampering is detected", "[protocol][scram]") {
  SECTION("the nonce is changed") {
    server_exchange server = rfc_server_after_first();
    std::string tampered = rfc_client_final, final_message;
    tampered.replace(tampered.find("%hv"), 3, "%hw");
    // PostgreSQL treats a foreign nonce as a protocol violation, not as a wrong password.
    CHECK(server.client_final(tampered, final_message) == result::malformed);
  }
  SECTION("one bit of the proof is flipped") {
    server_exchange server = rfc_server_after_first();
    std::string tampered = rfc_client_final, final_message;
    tampered[tampered.find("p=dH") + 2] = 'e';
    CHECK(server.client_final(tampered, final_message) == result::failed);
  }
  SECTION("an extension is slipped in, so the signed message differs") {
    server_exchange server = rfc_server_after_first();
    std::string final_message;
    CHECK(server.client_final(std::string(rfc_final_without_proof) + ",x=1," + rfc_proof,
                              final_message) == result::failed);
  }
  SECTION("the server's signature is wrong") {
    client_exchange client = rfc_client_after_first();
    std::string final_message;
    REQUIRE(client.server_first(rfc_server_first, final_message) == result::ok);
    CHECK(client.server_final("v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=") == result::failed);
  }
  SECTION("the server reports an error") {
    client_exchange client = rfc_client_after_first();
    std::string final_message;
    REQUIRE(client.server_first(rfc_server_first, final_message) == result::ok);
    CHECK(client.server_final("e=invalid-proof") == result::failed);
  }
  SECTION("channel binding data does not match") {
    const verifier v = verifier::from_password("pw", "saltsaltsaltsalt");
    client_exchange client("pw", "cn", std::string(32, 'a'));
    server_exchange server(v, "sn", std::string(32, 'b'));
    const outcome o = run(client, server);
    CHECK(o.first == result::ok);
    CHECK(o.final_ == result::failed);
  }
  SECTION("the gs2 header in c= is not the one sent first") {
    server_exchange server = rfc_server_after_first();
    std::string final_message;
    // "eSws" is "y,,": the client claimed "n,," first.
    std::string tampered = rfc_client_final;
    tampered.replace(2, 4, "eSws");
    CHECK(server.client_final(tampered, final_message) == result::failed);
  }
  SECTION("a client that could bind but was told we cannot (downgrade)") {
    server_exchange server(rfc_verifier(), "sn", std::string(32, 'b'));
    std::string first;
    CHECK(server.client_first("SCRAM-SHA-256", "y,,n=,r=abc", first) == result::failed);
  }
  SECTION("y,, is fine when the server really cannot bind") {
    server_exchange server(rfc_verifier(), "sn");
    std::string first;
    CHECK(server.client_first("SCRAM-SHA-256", "y,,n=,r=abc", first) == result::ok);
  }
  SECTION("PLUS without TLS") {
    server_exchange server(rfc_verifier(), "sn");
    std::string first;
    CHECK(server.client_first("SCRAM-SHA-256-PLUS", "p=tls-server-end-point,,n=,r=abc", first) ==
          result::malformed);
  }
  SECTION("PLUS chosen but no binding requested, or binding with the plain mechanism") {
    server_exchange a(rfc_verifier(), "sn", std::string(32, 'b'));
    server_exchange b(rfc_verifier(), "sn", std::string(32, 'b'));
    server_exchange c(rfc_verifier(), "sn", std::string(32, 'b'));
    std::string first;
    CHECK(a.client_first("SCRAM-SHA-256-PLUS", "n,,n=,r=abc", first) == result::malformed);
    CHECK(b.client_first("SCRAM-SHA-256", "p=tls-server-end-point,,n=,r=abc", first) ==
          result::malformed);
    CHECK(c.client_first("SCRAM-SHA-256-PLUS", "p=tls-unique,,n=,r=abc", first) ==
          result::malformed);
  }
}

TEST_CASE("malformed client messages are refused, never crash", "[protocol][scram]") {
  for (const char* bad : {"", "n", "n,", "n,,", "x,,n=,r=a", "n,a=admin,n=,r=a", "n,,r=a", "n,,n=,",
                          "n,,n=,r=", "n,,n=,r=a,b", "n,,n=,r=a b", "n,,n=,r=a,", "n,,m=ext,n=,r=a",
                          "n,,n=,r=a,m=x", "n,,n=", "n,,n=,r=\x01"}) {
    INFO(bad);
    server_exchange server(rfc_verifier(), "sn");
    std::string first;
    CHECK(server.client_first("SCRAM-SHA-256", bad, first) == result::malformed);
  }
  {
    server_exchange server(rfc_verifier(), "sn");
    std::string first;
    CHECK(server.client_first("SCRAM-SHA-1", "n,,n=,r=a", first) == result::malformed);
  }
  {
    // Optional extensions after the nonce are allowed, as in PostgreSQL.
    server_exchange server(rfc_verifier(), "sn");
    std::string first;
    CHECK(server.client_first("SCRAM-SHA-256", "n,,n=,r=a,x=1", first) == result::ok);
  }

  const std::string without_proof = rfc_final_without_proof;
  for (const std::string& bad :
       {std::string(), std::string("c=biws"), without_proof, without_proof + ",p=",
        without_proof + ",p=AAAA",                 // proof too short
        without_proof + "," + rfc_proof + ",",     // trailing comma
        without_proof + "," + rfc_proof + ",x=1",  // proof not last
        without_proof + ",m=1," + rfc_proof,       // mandatory extension
        without_proof + ",garbage," + rfc_proof,   // not an attribute
        "c=b!ws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," + std::string(rfc_proof),
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,c=biws," + std::string(rfc_proof),
        "c=biws,r=rOprNGfwEbeRWgbNEkqO," + std::string(rfc_proof)}) {  // nonce without ours
    INFO(bad);
    server_exchange server = rfc_server_after_first();
    std::string final_message;
    CHECK(server.client_final(bad, final_message) == result::malformed);
    CHECK(final_message.empty());
  }
  {
    // Out of order.
    server_exchange server(rfc_verifier(), "sn");
    std::string out;
    CHECK(server.client_final(rfc_client_final, out) == result::malformed);
    server_exchange again = rfc_server_after_first();
    CHECK(again.client_first("SCRAM-SHA-256", rfc_client_first, out) == result::malformed);
  }
}

TEST_CASE("malformed server messages are refused, never crash", "[protocol][scram]") {
  for (const char* bad :
       {"", "r=xyz,s=AAAA,i=4096",  // foreign nonce
        "r=abc,s=AAAA,i=4096",      // nonce not extended
        "r=abcd,s=!!!!,i=4096",     // salt not base64
        "r=abcd,s=,i=4096",         // empty salt
        "r=abcd,s=AAAA,i=0", "r=abcd,s=AAAA,i=-1", "r=abcd,s=AAAA,i=4096x",
        "r=abcd,s=AAAA,i=", "r=abcd,s=AAAA", "s=AAAA,r=abcd,i=4096", "m=1,r=abcd,s=AAAA,i=4096",
        "r=abcd,s=AAAA,i=4096,", "r=abcd,s=AAAA,i=4096,m=1", "r=ab cd,s=AAAA,i=4096",
        "r=abcd,s=AAAA,i=99999999999"}) {
    INFO(bad);
    client_exchange client("pw", "abc");
    client.client_first();
    std::string out;
    CHECK(client.server_first(bad, out) == result::malformed);
    CHECK(out.empty());
  }
  {
    client_exchange client("pw", "abc");
    client.client_first();
    std::string out;
    CHECK(client.server_first("r=abcd,s=AAAA,i=1,x=ext", out) == result::ok);
  }
  {
    // Out of order.
    client_exchange client("pw", "abc");
    std::string out;
    CHECK(client.server_first("r=abcd,s=AAAA,i=1", out) == result::malformed);
    CHECK(client.server_final("v=AAAA") == result::malformed);
  }
  for (const char* bad : {"", "v=", "v=!!!!", "x=1", "garbage", "v"}) {
    INFO(bad);
    client_exchange client = rfc_client_after_first();
    std::string out;
    REQUIRE(client.server_first(rfc_server_first, out) == result::ok);
    const result r = client.server_final(bad);
    CHECK(r != result::ok);
  }
}

TEST_CASE("the client bounds the iteration count a server may ask for", "[protocol][scram]") {
  std::string out;
  client_exchange at_limit("pw", "abc");
  at_limit.set_max_iterations(5000);
  at_limit.client_first();
  CHECK(at_limit.server_first("r=abcd,s=AAAA,i=5000", out) == result::ok);
  client_exchange over("pw", "abc");
  over.set_max_iterations(5000);
  over.client_first();
  CHECK(over.server_first("r=abcd,s=AAAA,i=5001", out) == result::malformed);
  client_exchange by_default("pw", "abc");
  by_default.client_first();
  CHECK(by_default.server_first("r=abcd,s=AAAA,i=" + std::to_string(max_iterations + 1), out) ==
        result::malformed);
}

TEST_CASE("a verifier derived with an impossible iteration count never verifies",
          "[protocol][scram]") {
  const verifier v = verifier::from_password("pw", "saltsaltsaltsalt", 0);
  CHECK(v.stored_key.empty());
  client_exchange client("pw", "cn");
  server_exchange server(v, "sn");
  CHECK(run(client, server).final_ != result::ok);
}

TEST_CASE("tls-server-end-point data follows RFC 5929", "[protocol][scram]") {
  // openssl req -x509 -new -key <P-256 key> -subj /CN=a -sha1|-sha384 -outform DER; expected
  // values from coreutils sha256sum / sha384sum of the DER files.
  const std::string ecdsa_sha1 = unhex(
      "3082016a30820111a003020102021452f0a8be383e2ecc0f4a8da6bd7f7c2b1abf7b91300906072a8648ce3d0401"
      "300c"
      "310a300806035504030c01613020170d3236313132323138353132375a180f32313236313032393138353132375a"
      "300c"
      "310a300806035504030c01613059301306072a8648ce3d020106082a8648ce3d030107034200044e15924fd4b474"
      "9a81"
      "e043fb9db08931f0ab4c9536a32e8fcb0decf7f4e8d04e8149a97b024c6e955e38f3aa61f525f10c121727d1134f"
      "799d"
      "d9868dbb0d3a0ea350304e301d0603551d0e04160414736b3e523d13ec667b81bd0248682e052f78f39b301f0603"
      "551d"
      "23041830168014736b3e523d13ec667b81bd0248682e052f78f39b300c0603551d130101ff04023000300906072a"
      "8648"
      "ce3d04010348003045022100eb126fd3b52cfb7b1b9160f0839a45a51a52cf3f1a0ea89419f6d97c849234360220"
      "42e3"
      "23050d50b87a6c3df1f492215465867cc68fbcdb5fed5a1f98bc4b0430c0");
  const std::string ecdsa_sha384 = unhex(
      "3082017030820115a0030201020214708d0068167ea03286f9a4f69696f6d33a0258f0300a06082a8648ce3d0403"
      "0330"
      "0c310a300806035504030c01613020170d3236313132323138353132375a180f3231323631303239313835313237"
      "5a30"
      "0c310a300806035504030c01613059301306072a8648ce3d020106082a8648ce3d030107034200044e15924fd4b4"
      "749a"
      "81e043fb9db08931f0ab4c9536a32e8fcb0decf7f4e8d04e8149a97b024c6e955e38f3aa61f525f10c121727d113"
      "4f79"
      "9dd9868dbb0d3a0ea3533051301d0603551d0e04160414736b3e523d13ec667b81bd0248682e052f78f39b301f06"
      "0355"
      "1d23041830168014736b3e523d13ec667b81bd0248682e052f78f39b300f0603551d130101ff040530030101ff30"
      "0a06"
      "082a8648ce3d04030303490030460221009850c696273e49379b89a26d9d20124f75cd82d65060022d572126aa25"
      "b35b"
      "150221009e42773f229a8b5f496843da3c05e1ac513284e0068462e312fc75060bdd3f2f");
  const std::string ed25519 = unhex(
      "3082012e3081e1a00302010202146c0e92055f929e57f7948f3ac6554eec0ab44385300506032b6570300c310a30"
      "0806"
      "035504030c01613020170d3236313132323138353132375a180f32313236313032393138353132375a300c310a30"
      "0806"
      "035504030c0161302a300506032b6570032100fc0485248e1a95784e0de81ab1f197cbaa2a2eaadf989ed5477e31"
      "d10e"
      "2b7b55a3533051301d0603551d0e0416041430f0d8e8697476ed804b89417bd00b9a7d669d99301f0603551d2304"
      "1830"
      "16801430f0d8e8697476ed804b89417bd00b9a7d669d99300f0603551d130101ff040530030101ff300506032b65"
      "7003"
      "410068385821614e78d8eb538de75789fd273abecfd8f7928b4c5ff77a461c2a4983ef8d3816c45c7c2302b43c78"
      "0944"
      "46a8ff877a5c605a00515452789b1f543908");

  // SHA-1 signatures are bound with SHA-256.
  CHECK(tls_server_end_point_hash(ecdsa_sha1) ==
        unhex("cb12df1d3a7e52082316bdc1b227999917a2a8cb6fa1760960b5aaaa6e235950"));
  CHECK(tls_server_end_point_hash(ecdsa_sha384) ==
        unhex("4a346f0e4d53d311e5cfd8b79a4be392df3db6bfa66969a883fd9abe8832138137f9cc83604c80"
              "2235275fa7c6abc075"));
  // Ed25519 signs without a separate hash: no tls-server-end-point binding is defined.
  CHECK_FALSE(tls_server_end_point_hash(ed25519));
  CHECK_FALSE(tls_server_end_point_hash(""));
  CHECK_FALSE(tls_server_end_point_hash(ecdsa_sha1.substr(0, 100)));
  CHECK_FALSE(tls_server_end_point_hash("not a certificate"));
}

TEST_CASE("base64 round-trips and rejects garbage", "[protocol][scram]") {
  for (const std::string raw : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    CHECK(*base64_decode(base64_encode(raw)) == raw);
  }
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK_FALSE(base64_decode("Zm9"));
  CHECK_FALSE(base64_decode("Zm=v"));
  CHECK_FALSE(base64_decode("Z==="));
  CHECK_FALSE(base64_decode("Zm9v!mFy"));
  CHECK_FALSE(base64_decode("Zm8=Zm8="));
}

TEST_CASE("random nonces are printable and differ", "[protocol][scram]") {
  const std::string a = random_nonce();
  const std::string b = random_nonce();
  CHECK(a.size() == 24);
  CHECK(a != b);
  CHECK(a.find(',') == std::string::npos);
  CHECK(random_bytes(16).size() == 16);
}
