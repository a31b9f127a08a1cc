// SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it: the server side authenticates
// pgsteer's clients against a stored verifier, the client side logs pgsteer in to a backend.
// Both support tls-server-end-point channel binding (SCRAM-SHA-256-PLUS). Pure: nonces and salts
// are passed in, so exchanges are reproducible in tests. Passwords go through SASLprep
// (saslprep.hpp) before PBKDF2, as in PostgreSQL. Objects are plain values, used by one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgsteer::protocol::scram {

inline constexpr std::string_view mechanism = "SCRAM-SHA-256";
inline constexpr std::string_view mechanism_plus = "SCRAM-SHA-256-PLUS";
inline constexpr std::uint32_t default_iterations = 4096;  // PostgreSQL's scram_iterations default
inline constexpr std::size_t default_salt_length = 16;     // PostgreSQL's, in raw bytes
// The client side refuses a server-first asking for more iterations than this by default (one
// PBKDF2 at 10^6 iterations costs about 250 ms of a core): a hostile or misconfigured backend
// must not be able to stall a worker for longer (set_max_iterations() changes it per login).
inline constexpr std::uint32_t max_iterations = 1'000'000;
// PostgreSQL stores the iteration count as an int.
inline constexpr std::uint32_t max_stored_iterations = 2'147'483'647;

// The mechanisms to offer in AuthenticationSASL, PostgreSQL's order: SCRAM-SHA-256-PLUS first,
// only when the connection is TLS and the certificate hash is known.
std::vector<std::string_view> server_mechanisms(bool channel_binding_available);

// PostgreSQL's stored form: SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey> (base64).
struct verifier {
  std::uint32_t iterations = default_iterations;
  std::string salt;        // raw bytes
  std::string stored_key;  // 32 raw bytes
  std::string server_key;  // 32 raw bytes

  // nullopt unless the text is exactly PostgreSQL's form with 1..max_stored_iterations
  // iterations, a non-empty salt and 32-byte keys.
  static std::optional<verifier> parse(std::string_view text);
  // Derives a verifier from a password (SASLprep'd first) with the given raw salt; costs one
  // PBKDF2. To check clients against a plaintext password from the configuration, derive one
  // verifier when the configuration is loaded (salt: random_bytes(default_salt_length)) and
  // reuse it. `iterations` must be 1..max_stored_iterations; otherwise the verifier has empty
  // keys and every proof fails against it.
  static verifier from_password(std::string_view password, std::string_view salt,
                                std::uint32_t iterations = default_iterations);
  std::string to_string() const;
};

// A verifier for a user that does not exist, derived from the user name and a per-process
// secret (random_bytes(32) at start-up): the exchange runs to the end and fails exactly like a
// wrong password, with a salt that is stable per user name (no oracle). PostgreSQL does the same.
verifier mock_verifier(std::string_view user, std::string_view secret);

// The keys PBKDF2 yields for one (password, salt, iterations): enough to log in to a server
// whose verifier has that salt and iteration count, without the password.
struct client_keys {
  std::string salt;  // raw bytes
  std::uint32_t iterations = 0;
  std::string client_key;  // 32 raw bytes
  std::string server_key;  // 32 raw bytes
};

std::string base64_encode(std::string_view raw);
// Strict: length a multiple of 4, padding only at the end; nullopt otherwise.
std::optional<std::string> base64_decode(std::string_view text);

// The tls-server-end-point channel binding data (RFC 5929) of a DER-encoded certificate: its
// hash with the certificate's signature hash, SHA-256 when that is MD5 or SHA-1. nullopt when
// the DER does not parse or the signature has no single hash (Ed25519, say): then offer and use
// no channel binding, as PostgreSQL does.
std::optional<std::string> tls_server_end_point_hash(std::string_view certificate_der);

enum class result {
  ok,
  failed,     // wrong password or proof, channel binding mismatch: answer 28P01
  malformed,  // not a message of this step or not this grammar: answer 08P01
};

// One authentication of a client. Call client_first(), then client_final(); any call out of
// order, or after a failure, gives `malformed`.
class server_exchange {
 public:
  // `server_nonce`: printable, no ',' (random_nonce()). `tls_endpoint_hash`: the channel binding
  // data of pgsteer's certificate (tls_server_end_point_hash), or empty when the connection has
  // no TLS (then only the non-PLUS mechanism can succeed).
  server_exchange(verifier v, std::string server_nonce, std::string tls_endpoint_hash = {});

  // `mechanism_name` and `message` from SASLInitialResponse. On ok, `server_first` holds the
  // data for AuthenticationSASLContinue.
  result client_first(std::string_view mechanism_name, std::string_view message,
                      std::string& server_first);
  // `message` from SASLResponse. On ok, `server_final` holds the data for
  // AuthenticationSASLFinal.
  result client_final(std::string_view message, std::string& server_final);

  // After client_final() returned ok: the client's keys, recovered from its proof. A backend
  // whose verifier equals this one (same salt, iterations and keys) accepts them
  // (client_exchange::from_keys): how pgsteer logs in to backends when it only has verifiers.
  const client_keys& proven_keys() const { return proven_keys_; }
  // After ok: whether the client used SCRAM-SHA-256-PLUS.
  bool channel_bound() const { return plus_; }

 private:
  enum class exchange_state { expect_client_first, expect_client_final, done };

  verifier verifier_;
  std::string server_nonce_;
  std::string tls_hash_;
  std::string gs2_header_;
  std::string client_first_bare_;
  std::string server_first_;
  std::string nonce_;
  client_keys proven_keys_;
  bool plus_ = false;
  exchange_state state_ = exchange_state::expect_client_first;
};

// One login of pgsteer to a backend. Call client_first(), server_first(), server_final().
class client_exchange {
 public:
  // `client_nonce`: printable, no ',' (random_nonce()). `tls_endpoint_hash` non-empty selects
  // SCRAM-SHA-256-PLUS with tls-server-end-point (the backend certificate's
  // tls_server_end_point_hash). PostgreSQL ignores the SCRAM user name (the startup packet names
  // the user); libpq sends it empty, and so does pgsteer unless `user` is given.
  client_exchange(std::string password, std::string client_nonce,
                  std::string tls_endpoint_hash = {}, std::string user = {});
  // Logs in without a password: server_first() fails unless the server's salt and iteration
  // count are the keys'.
  static client_exchange from_keys(client_keys keys, std::string client_nonce,
                                   std::string tls_endpoint_hash = {}, std::string user = {});

  // Skips PBKDF2 when the server sends this salt and iteration count (keys cached from an
  // earlier login, see keys()); otherwise the password is used as usual. PostgreSQL draws a new
  // salt whenever a password is set, so a salt match means the same verifier; still, drop the
  // cache after a login with cached keys fails.
  void reuse_keys(client_keys keys) { keys_ = std::move(keys); }
  // Server-first messages asking for more iterations are `malformed`.
  void set_max_iterations(std::uint32_t n) { max_iterations_ = n; }

  std::string_view mechanism_name() const { return tls_hash_.empty() ? mechanism : mechanism_plus; }
  // The SASLInitialResponse data.
  std::string client_first();
  // From AuthenticationSASLContinue's data; on ok, `client_final` holds the SASLResponse data.
  result server_first(std::string_view message, std::string& client_final);
  // From AuthenticationSASLFinal's data: ok only when the server proved it knows the verifier.
  result server_final(std::string_view message);

  // After server_first() returned ok: the keys used, for reuse_keys() on the next login.
  const std::optional<client_keys>& keys() const { return keys_; }

 private:
  enum class exchange_state { start, expect_server_first, expect_server_final, done };

  std::optional<std::string> password_;
  std::string client_nonce_;
  std::string tls_hash_;
  std::string user_;
  std::string client_first_bare_;
  std::string auth_message_;
  std::optional<client_keys> keys_;
  std::uint32_t max_iterations_ = max_iterations;
  exchange_state state_ = exchange_state::start;
};

// Fills `n` bytes from OpenSSL's CSPRNG, for nonces, salts and the mock secret. A failing CSPRNG
// is a broken host, not bad input: it throws std::runtime_error rather than return guessable
// bytes.
std::string random_bytes(std::size_t n);
// A printable nonce (base64 of 18 random bytes), as PostgreSQL's.
std::string random_nonce();

}  // namespace pgsteer::protocol::scram
