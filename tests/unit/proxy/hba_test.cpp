// HBA: first match wins, addresses by CIDR (IPv4, IPv6, IPv4-mapped), lists, TLS-only rules.
#include <catch2/catch.hpp>

#include "pgsteer/proxy/hba.hpp"

using namespace pgsteer;
using config::auth_method;
using config::hba_rule;
using config::hba_type;

TEST_CASE("addresses match CIDR blocks", "[proxy][hba]") {
  CHECK(proxy::address_in("127.0.0.1", "127.0.0.0/8"));
  CHECK(proxy::address_in("127.255.0.9", "127.0.0.0/8"));
  CHECK_FALSE(proxy::address_in("128.0.0.1", "127.0.0.0/8"));
  CHECK(proxy::address_in("10.1.2.3", "10.1.2.3"));
  CHECK_FALSE(proxy::address_in("10.1.2.4", "10.1.2.3/32"));
  CHECK(proxy::address_in("10.1.2.4", "10.1.2.0/29"));
  CHECK_FALSE(proxy::address_in("10.1.2.4", "10.1.2.0/30"));
  CHECK(proxy::address_in("192.168.7.1", "0.0.0.0/0"));
  CHECK(proxy::address_in("::1", "::1/128"));
  CHECK(proxy::address_in("fd00::1:2", "fd00::/8"));
  CHECK_FALSE(proxy::address_in("fe80::1", "fd00::/8"));
  CHECK(proxy::address_in("::ffff:127.0.0.1", "127.0.0.0/8"));  // IPv4-mapped
  CHECK_FALSE(proxy::address_in("::1", "127.0.0.0/8"));
  CHECK_FALSE(proxy::address_in("127.0.0.1", "::1/128"));
  CHECK(proxy::address_in("anything", "all"));
  CHECK_FALSE(proxy::address_in("not an address", "127.0.0.0/8"));
  CHECK_FALSE(proxy::address_in("127.0.0.1", "127.0.0.0/33"));
}

TEST_CASE("the first matching rule decides", "[proxy][hba]") {
  const std::vector<hba_rule> rules = {
      {hba_type::host, "10.0.0.0/8", {}, {"mallory"}, auth_method::reject},
      {hba_type::hostssl, "0.0.0.0/0", {"app"}, {}, auth_method::cert},
      {hba_type::host, "127.0.0.0/8", {"app", "app_ro"}, {}, auth_method::scram_sha_256},
      {hba_type::hostnossl, "::1/128", {}, {"local"}, auth_method::trust},
  };
  using proxy::hba_request;
  CHECK(proxy::match_hba(rules, hba_request{"10.2.3.4", "app", "mallory", false}) ==
        auth_method::reject);
  CHECK(proxy::match_hba(rules, hba_request{"10.2.3.4", "app", "alice", true}) ==
        auth_method::cert);
  CHECK(proxy::match_hba(rules, hba_request{"127.0.0.1", "app", "alice", true}) ==
        auth_method::cert);
  CHECK(proxy::match_hba(rules, hba_request{"127.0.0.1", "app", "alice", false}) ==
        auth_method::scram_sha_256);
  CHECK(proxy::match_hba(rules, hba_request{"127.0.0.1", "app_ro", "bob", false}) ==
        auth_method::scram_sha_256);
  CHECK(proxy::match_hba(rules, hba_request{"::1", "other", "local", false}) == auth_method::trust);
  // No match: refused.
  CHECK_FALSE(proxy::match_hba(rules, hba_request{"::1", "other", "local", true}));
  CHECK_FALSE(proxy::match_hba(rules, hba_request{"127.0.0.1", "other", "alice", false}));
  CHECK_FALSE(proxy::match_hba(rules, hba_request{"10.2.3.4", "app", "alice", false}));
  CHECK_FALSE(proxy::match_hba({}, hba_request{"127.0.0.1", "app", "alice", false}));
}

TEST_CASE("the reference configuration's rule admits loopback clients only", "[proxy][hba]") {
  const std::vector<hba_rule> rules = {
      {hba_type::host, "127.0.0.0/8", {}, {}, auth_method::scram_sha_256}};
  CHECK(proxy::match_hba(rules, {"127.0.0.1", "app", "app", false}) == auth_method::scram_sha_256);
  CHECK_FALSE(proxy::match_hba(rules, {"192.168.1.10", "app", "app", false}));
}
