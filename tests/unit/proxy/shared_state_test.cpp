// auth_query's cache and dynamic users in shared_state: misses are cached like hits, entries
// expire after cache_ttl, a found user's secrets serve backend logins, and the user object a
// pool points to never moves.
#include <catch2/catch.hpp>

#include "pgsteer/protocol/md5.hpp"
#include "shared_state.hpp"

using namespace pgsteer;
using namespace std::chrono_literals;

namespace {

config::config auth_query_config() {
  config::config c;
  c.users.push_back({"app", "app-password", config::secret_kind::password, false});
  c.auth_query.query = "SELECT usename, passwd FROM pg_shadow WHERE usename = $1";
  c.auth_query.user = "app";
  c.auth_query.cache_ttl = 30s;
  return c;
}

}  // namespace

TEST_CASE("secrets_from reads passwords, SCRAM verifiers and md5 hashes", "[proxy][auth]") {
  const auto password = proxy::secrets_from("u", "pw");
  REQUIRE(password);
  CHECK(password->password == "pw");
  CHECK(password->verifier);
  CHECK(password->md5_stored == protocol::md5::stored_hash("u", "pw"));

  const auto hash = proxy::secrets_from("u", protocol::md5::stored_hash("u", "pw"));
  REQUIRE(hash);
  CHECK_FALSE(hash->verifier);
  CHECK(hash->md5_stored == protocol::md5::stored_hash("u", "pw"));

  const auto verifier = protocol::scram::verifier::from_password("pw", "0123456789abcdef");
  const auto scram = proxy::secrets_from("u", verifier.to_string());
  REQUIRE(scram);
  CHECK(scram->verifier);
  CHECK(scram->password.empty());  // backends are logged in to with the keys a client proves
  CHECK_FALSE(proxy::secrets_from("u", "SCRAM-SHA-256$garbage"));
}

TEST_CASE("auth_query results are cached, misses too, until cache_ttl", "[proxy][auth]") {
  proxy::shared_state shared(auth_query_config());
  const auto t0 = std::chrono::steady_clock::time_point{} + 1000s;
  CHECK_FALSE(shared.cached_lookup("dyn", t0));
  CHECK_FALSE(shared.secrets(*shared.config(), "dyn"));

  shared.cache_lookup("ghost", nullptr, t0);
  const auto miss = shared.cached_lookup("ghost", t0 + 1s);
  REQUIRE(miss);
  CHECK(*miss == nullptr);

  auto found = std::make_shared<const proxy::user_secrets>(*proxy::secrets_from("dyn", "pw"));
  shared.cache_lookup("dyn", found, t0);
  const auto hit = shared.cached_lookup("dyn", t0 + 29s);
  REQUIRE(hit);
  CHECK(*hit == found);
  CHECK_FALSE(shared.cached_lookup("dyn", t0 + 30s));  // expired: asked again
  CHECK(shared.secrets(*shared.config(), "dyn") ==
        found);                                    // backend logins still use what was found
  CHECK(shared.secrets(*shared.config(), "app"));  // configured users come first

  const config::user& a = shared.dynamic_user("dyn");
  const config::user& b = shared.dynamic_user("dyn");
  CHECK(&a == &b);
  CHECK(a.name == "dyn");
}
