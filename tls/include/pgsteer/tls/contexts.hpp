// OpenSSL contexts for both legs, built from the `tls` section of the configuration: the client
// side (pgsteer terminates its clients' TLS) and the server side (pgsteer originates TLS to its
// backends). A `contexts` value is immutable once built and shared through shared_ptr: a reload
// builds a new one and swaps the pointer, connections keep the one they started with.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <boost/asio/ssl/context.hpp>

#include "pgsteer/config/config.hpp"

namespace pgsteer::tls {

// The ALPN protocol name PostgreSQL 17 clients send (sslnegotiation=direct requires it).
inline constexpr std::string_view alpn_protocol = "postgresql";

struct contexts {
  config::client_tls_mode client_mode = config::client_tls_mode::disable;
  config::server_tls_mode server_mode = config::server_tls_mode::disable;
  // Termination; null when tls.client.mode is disable. Never changed after build: SSL objects
  // made from it may be used on any worker.
  std::shared_ptr<boost::asio::ssl::context> client;
  // Whether tls.client.ca_file is set (client certificates are asked for and verified).
  bool verifies_client_certificates = false;
  // tls-server-end-point channel binding data of pgsteer's certificate for clients, for
  // SCRAM-SHA-256-PLUS; empty when the certificate's signature has no single hash (no -PLUS).
  std::string client_end_point_hash;
  // Origination; null when tls.server.mode is disable.
  std::shared_ptr<boost::asio::ssl::context> server;
};

// Builds both contexts, reading every file now. On failure the message names the key and the
// file and says what is wrong with it (OpenSSL's reason); nothing is half-built.
std::variant<std::shared_ptr<const contexts>, std::string> build_contexts(
    const config::tls_settings& settings);

// Prepares an outgoing SSL object for `host` before the handshake: SNI for a name, and for
// verify-full the name or IP address the certificate must match.
void prepare_server_handshake(SSL* ssl, const std::string& host, config::server_tls_mode mode);

// The negotiated ALPN protocol, empty when none was.
std::string_view negotiated_alpn(const SSL* ssl);

// Why the peer's certificate was not accepted (OpenSSL's verify result), empty when it was or
// when there was no verification.
std::string verify_failure(const SSL* ssl);

// The verified client certificate's subject common name: nullopt when the client sent no
// certificate, it did not verify, or its CN is missing, repeated or holds a NUL byte.
std::optional<std::string> verified_peer_common_name(const SSL* ssl);

// The TLS version a connection negotiated ("TLSv1.3"), for logs.
std::string_view protocol_version(const SSL* ssl);

}  // namespace pgsteer::tls
