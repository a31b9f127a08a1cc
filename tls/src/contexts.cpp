// contexts: building the OpenSSL contexts of both legs from tls_settings (see contexts.hpp).
#include "pgsteer/tls/contexts.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "pgsteer/protocol/scram.hpp"

namespace pgsteer::tls {

namespace ssl = boost::asio::ssl;

namespace {

using config::client_tls_mode;
using config::server_tls_mode;

// OpenSSL's reasons queued by the last failed call, oldest first.
std::string openssl_errors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    if (!out.empty()) out += "; ";
    const char* reason = ERR_reason_error_string(e);
    out += reason ? std::string(reason) : "unknown OpenSSL error " + std::to_string(e);
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

// A file OpenSSL cannot open reports a terse reason: say first whether it is readable at all.
std::optional<std::string> unreadable(const std::string& key, const std::string& file) {
  std::ifstream in(file);
  if (in) return std::nullopt;
  return key + ": cannot read \"" + file + "\": " + std::strerror(errno);
}

// Selects "postgresql" when the client offers it. A client offering only other protocols is
// talking to the wrong service: the handshake fails (no_application_protocol), as in PostgreSQL
// 17. A client offering none (libpq before 17, after an SSLRequest) is not asked about ALPN.
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* in,
                unsigned int in_length, void*) {
  for (unsigned int i = 0; i < in_length;) {
    const unsigned int length = in[i];
    if (i + 1 + length > in_length) break;
    if (std::string_view(reinterpret_cast<const char*>(in + i + 1), length) == alpn_protocol) {
      *out = in + i + 1;
      *out_length = static_cast<unsigned char>(length);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + length;
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

std::optional<std::string> load_key_pair(ssl::context& ctx, const std::string& prefix,
                                         const std::string& cert_file,
                                         const std::string& key_file) {
  if (auto e = unreadable(prefix + ".cert_file", cert_file)) return e;
  if (auto e = unreadable(prefix + ".key_file", key_file)) return e;
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx.native_handle(), cert_file.c_str()) != 1) {
    return prefix + ".cert_file: \"" + cert_file +
           "\" is not a usable PEM certificate: " + openssl_errors();
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.native_handle(), key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return prefix + ".key_file: \"" + key_file +
           "\" is not a usable PEM private key: " + openssl_errors();
  }
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
    ERR_clear_error();
    return prefix + ".key_file: \"" + key_file + "\" does not match the certificate in \"" +
           cert_file + "\"";
  }
  return std::nullopt;
}

std::optional<std::string> load_ca(ssl::context& ctx, const std::string& key,
                                   const std::string& ca_file) {
  if (auto e = unreadable(key, ca_file)) return e;
  ERR_clear_error();
  if (SSL_CTX_load_verify_locations(ctx.native_handle(), ca_file.c_str(), nullptr) != 1) {
    return key + ": \"" + ca_file + "\" holds no usable PEM certificate: " + openssl_errors();
  }
  return std::nullopt;
}

// Settings both legs share: no compression, no renegotiation, TLS 1.2 at least, and OpenSSL
// gives its per-connection buffers back while a connection is idle.
void common_settings(ssl::context& ctx) {
  SSL_CTX* native = ctx.native_handle();
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
}

std::optional<std::string> build_client_side(const config::tls_client_settings& s, contexts& out) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  common_settings(*ctx);
  SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
  // Sessions are not resumed (as in PostgreSQL): every connection proves its certificate again.
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  if (s.min_version == "TLSv1.3") SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION);
  if (auto e = load_key_pair(*ctx, "tls.client", s.cert_file, s.key_file)) return e;
  ERR_clear_error();
  if (!s.ciphers.empty() && SSL_CTX_set_cipher_list(native, s.ciphers.c_str()) != 1) {
    return "tls.client.ciphers: \"" + s.ciphers + "\" selects no cipher: " + openssl_errors();
  }
  if (!s.ciphersuites.empty() && SSL_CTX_set_ciphersuites(native, s.ciphersuites.c_str()) != 1) {
    return "tls.client.ciphersuites: \"" + s.ciphersuites +
           "\" selects no TLS 1.3 cipher suite: " + openssl_errors();
  }
  if (!s.ca_file.empty()) {
    if (auto e = load_ca(*ctx, "tls.client.ca_file", s.ca_file)) return e;
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(s.ca_file.c_str());
    if (!names) {
      return "tls.client.ca_file: \"" + s.ca_file + "\" holds no CA names: " + openssl_errors();
    }
    SSL_CTX_set_client_CA_list(native, names);
    // Asked for, not required: `cert` in clients.hba decides who must present one. A
    // certificate that is presented and does not verify fails the handshake (as in PostgreSQL).
    SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
    out.verifies_client_certificates = true;
  }
  SSL_CTX_set_alpn_select_cb(native, select_alpn, nullptr);
  if (X509* leaf = SSL_CTX_get0_certificate(native)) {
    const int length = i2d_X509(leaf, nullptr);
    if (length > 0) {
      std::string der(static_cast<std::size_t>(length), '\0');
      auto* p = reinterpret_cast<unsigned char*>(der.data());
      i2d_X509(leaf, &p);
      out.client_end_point_hash = protocol::scram::tls_server_end_point_hash(der).value_or("");
    }
  }
  out.client = std::move(ctx);
  return std::nullopt;
}

std::optional<std::string> build_server_side(const config::tls_server_settings& s, contexts& out) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  common_settings(*ctx);
  if (!s.cert_file.empty() || !s.key_file.empty()) {
    if (s.cert_file.empty() || s.key_file.empty()) {
      return std::string("tls.server: cert_file and key_file go together");
    }
    if (auto e = load_key_pair(*ctx, "tls.server", s.cert_file, s.key_file)) return e;
  }
  const bool verify =
      s.mode == server_tls_mode::verify_ca || s.mode == server_tls_mode::verify_full;
  if (!s.ca_file.empty()) {
    if (auto e = load_ca(*ctx, "tls.server.ca_file", s.ca_file)) return e;
  }
  // prefer and require encrypt without checking who answers, as libpq's sslmode does.
  SSL_CTX_set_verify(ctx->native_handle(), verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  out.server = std::move(ctx);
  return std::nullopt;
}

bool is_ip_address(const std::string& host) {
  unsigned char buffer[16];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

}  // namespace

std::variant<std::shared_ptr<const contexts>, std::string> build_contexts(
    const config::tls_settings& settings) {
  auto out = std::make_shared<contexts>();
  out->client_mode = settings.client.mode;
  out->server_mode = settings.server.mode;
  if (settings.client.mode != client_tls_mode::disable) {
    if (auto e = build_client_side(settings.client, *out)) return *e;
  }
  if (settings.server.mode != server_tls_mode::disable) {
    if (auto e = build_server_side(settings.server, *out)) return *e;
  }
  return std::shared_ptr<const contexts>(std::move(out));
}

void prepare_server_handshake(SSL* ssl, const std::string& host, config::server_tls_mode mode) {
  const bool ip = is_ip_address(host);
  if (!ip) {
    // SSL_set_tlsext_host_name, without the macro's C cast.
    SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(host.c_str()));
  }
  if (mode != server_tls_mode::verify_full) return;
  if (ip) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str());
  } else {
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    SSL_set1_host(ssl, host.c_str());
  }
}

std::string_view negotiated_alpn(const SSL* ssl) {
  const unsigned char* data = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(ssl, &data, &length);
  if (!data) return {};
  return {reinterpret_cast<const char*>(data), length};
}

std::string verify_failure(const SSL* ssl) {
  const long result = SSL_get_verify_result(ssl);
  if (result == X509_V_OK) return {};
  return X509_verify_cert_error_string(result);
}

std::optional<std::string> verified_peer_common_name(const SSL* ssl) {
  if (SSL_get_verify_result(ssl) != X509_V_OK) return std::nullopt;
  X509* peer = SSL_get0_peer_certificate(ssl);
  if (!peer) return std::nullopt;
  X509_NAME* subject = X509_get_subject_name(peer);
  const int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (at < 0 || X509_NAME_get_index_by_NID(subject, NID_commonName, at) >= 0) return std::nullopt;
  const ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at));
  unsigned char* utf8 = nullptr;
  const int length = ASN1_STRING_to_UTF8(&utf8, value);
  if (length < 0) return std::nullopt;
  std::string cn(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(length));
  OPENSSL_free(utf8);
  if (cn.find('\0') != std::string::npos) return std::nullopt;
  return cn;
}

std::string_view protocol_version(const SSL* ssl) {
  return SSL_get_version(ssl);
}

}  // namespace pgsteer::tls
