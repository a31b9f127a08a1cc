// SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it: the server side authenticates
// pgsteer's clients against a stored verifier, the client side logs pgsteer in to a backend.
// Both support tls-server-end-point channel binding (SCRAM-SHA-256-PLUS). Pure: randomness is
// passed in, so exchanges are reproducible in tests.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pgsteer::protocol::scram {

inline constexpr std::string_view mechanism = "SCRAM-SHA-256";
inline constexpr std::string_view mechanism_plus = "SCRAM-SHA-256-PLUS";
inline constexpr std::uint32_t default_iterations = 4096;
// Iteration counts above this are refused on the client side: a hostile server could otherwise
// make pgsteer burn CPU for every login.
inline constexpr std::uint32_t max_iterations = 1'000'000;

// PostgreSQL's stored form: SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey> (base64).
struct verifier {
  std::uint32_t iterations = default_iterations;
  std::string salt;        // raw bytes
  std::string stored_key;  // 32 raw bytes
  std::string server_key;  // 32 raw bytes

  static std::optional<verifier> parse(std::string_view text);
  // Derives a verifier from a password with the given raw salt.
  static verifier from_password(std::string_view password, std::string_view salt,
                                std::uint32_t iterations = default_iterations);
  std::string to_string() const;
};

// A verifier for a user that does not exist, derived from the user name and a per-process
// secret: the exchange runs to the end and fails exactly like a wrong password (no oracle).
verifier mock_verifier(std::string_view user, std::string_view secret);

std::string base64_encode(std::string_view raw);
std::optional<std::string> base64_decode(std::string_view text);

enum class result { ok, failed, malformed };

// One authentication of a client. Call client_first(), then client_final().
class server_exchange {
 public:
  // `tls_endpoint_hash`: the hash of the server certificate for tls-server-end-point, or empty
  // when the connection has no TLS (then only the non-PLUS mechanism can succeed).
  server_exchange(verifier v, std::string server_nonce, std::string tls_endpoint_hash = {});

  // `mechanism_name` from SASLInitialResponse. On ok, `server_first` holds the reply for
  // AuthenticationSASLContinue.
  result client_first(std::string_view mechanism_name, std::string_view message,
                      std::string& server_first);
  // On ok, `server_final` holds the reply for AuthenticationSASLFinal. `failed` means the proof
  // (password) or the channel binding was wrong: answer 28P01.
  result client_final(std::string_view message, std::string& server_final);

 private:
  verifier verifier_;
  std::string server_nonce_;
  std::string tls_hash_;
  std::string gs2_header_;
  std::string client_first_bare_;
  std::string server_first_;
  std::string nonce_;
  bool plus_ = false;
  int step_ = 0;
};

// One login of pgsteer to a backend. Call client_first(), server_first(), server_final().
class client_exchange {
 public:
  // `tls_endpoint_hash` non-empty selects SCRAM-SHA-256-PLUS with tls-server-end-point.
  // PostgreSQL ignores the SCRAM user name (the startup packet names the user); libpq sends it
  // empty, and so does pgsteer unless `user` is given.
  client_exchange(std::string password, std::string client_nonce,
                  std::string tls_endpoint_hash = {}, std::string user = {});

  std::string_view mechanism_name() const { return tls_hash_.empty() ? mechanism : mechanism_plus; }
  // The SASLInitialResponse data.
  std::string client_first();
  // From AuthenticationSASLContinue's data; on ok, `client_final` holds the SASLResponse data.
  result server_first(std::string_view message, std::string& client_final);
  // From AuthenticationSASLFinal's data: ok only when the server proved it knows the verifier.
  result server_final(std::string_view message);

 private:
  std::string password_;
  std::string client_nonce_;
  std::string tls_hash_;
  std::string user_;
  std::string client_first_bare_;
  std::string auth_message_;
  std::string server_key_;
  int step_ = 0;
};

// Fills `n` bytes from OpenSSL's CSPRNG; for nonces and salts.
std::string random_bytes(std::size_t n);
// A printable nonce (base64 of 18 random bytes), as PostgreSQL's.
std::string random_nonce();

}  // namespace pgsteer::protocol::scram
