// tls::build_contexts: which contexts a configuration gets, and that a bad file is refused with
// a message naming the key and the file (what a reload reports when it keeps the old contexts).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "pgsteer/tls/contexts.hpp"

namespace config = pgsteer::config;
namespace tls = pgsteer::tls;

namespace {

std::string error_of(const config::tls_settings& s) {
  auto built = tls::build_contexts(s);
  auto* error = std::get_if<std::string>(&built);
  return error ? *error : std::string();
}

struct temp_file {
  std::string path = "/tmp/pgsteer-tls-unit-" + std::to_string(::getpid()) + ".pem";
  explicit temp_file(const std::string& text) { std::ofstream(path) << text; }
  ~temp_file() { std::remove(path.c_str()); }
};

}  // namespace

TEST_CASE("TLS off on both legs builds no OpenSSL context", "[tls]") {
  auto built = tls::build_contexts({});
  REQUIRE(std::holds_alternative<std::shared_ptr<const tls::contexts>>(built));
  const auto& c = std::get<std::shared_ptr<const tls::contexts>>(built);
  CHECK(c->client == nullptr);
  CHECK(c->server == nullptr);
  CHECK(c->client_mode == config::client_tls_mode::disable);
}

TEST_CASE("a missing or unusable certificate file is refused, naming key and file", "[tls]") {
  config::tls_settings s;
  s.client.mode = config::client_tls_mode::require;
  s.client.cert_file = "/nonexistent/server.pem";
  s.client.key_file = "/nonexistent/server.key";
  const auto missing = error_of(s);
  CHECK(missing.rfind("tls.client.cert_file: cannot read \"/nonexistent/server.pem\"", 0) == 0);

  temp_file garbage("this is not a certificate\n");
  s.client.cert_file = garbage.path;
  s.client.key_file = garbage.path;
  const auto not_pem = error_of(s);
  CHECK(not_pem.rfind("tls.client.cert_file: \"" + garbage.path + "\" is not a usable PEM", 0) ==
        0);
}

TEST_CASE("the server leg's CA file is checked when verification needs it", "[tls]") {
  config::tls_settings s;
  s.server.mode = config::server_tls_mode::verify_full;
  s.server.ca_file = "/nonexistent/ca.pem";
  CHECK(error_of(s).rfind("tls.server.ca_file: cannot read", 0) == 0);

  s.server.mode = config::server_tls_mode::prefer;
  s.server.ca_file.clear();
  auto built = tls::build_contexts(s);
  REQUIRE(std::holds_alternative<std::shared_ptr<const tls::contexts>>(built));
  CHECK(std::get<std::shared_ptr<const tls::contexts>>(built)->server != nullptr);
}
