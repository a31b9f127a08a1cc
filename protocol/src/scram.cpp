// SCRAM-SHA-256 exchanges (see scram.hpp). Message grammar from RFC 5802 section 7; PostgreSQL
// ignores the user name in client-first-message (the startup packet names the user) and does not
// support authzid, and neither does pgsteer.
#include "pgsteer/protocol/scram.hpp"

#include <openssl/rand.h>

#include <charconv>

#include "crypto.hpp"

namespace pgsteer::protocol::scram {
namespace {

constexpr std::string_view b64_chars =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view cbind_name = "tls-server-end-point";

// Splits "a=1,b=2" one attribute at a time.
class attribute_reader {
 public:
  explicit attribute_reader(std::string_view s) : s_(s) {}
  // The value of the next attribute if its name is `name`.
  std::optional<std::string_view> expect(char name) {
    if (pos_ > s_.size() || s_.size() - pos_ < 2 || s_[pos_] != name || s_[pos_ + 1] != '=') {
      return std::nullopt;
    }
    const auto start = pos_ + 2;
    auto end = s_.find(',', start);
    if (end == std::string_view::npos) end = s_.size();
    pos_ = end + 1;
    return s_.substr(start, end - start);
  }
  bool at_end() const { return pos_ >= s_.size(); }
  std::size_t position() const { return pos_; }
  // Skips optional extension attributes up to one named `name`; PostgreSQL refuses none of them.
  void skip_extensions_until(char name) {
    while (pos_ + 1 < s_.size() && !(s_[pos_] == name && s_[pos_ + 1] == '=')) {
      auto end = s_.find(',', pos_);
      pos_ = end == std::string_view::npos ? s_.size() : end + 1;
    }
  }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

bool printable_nonce(std::string_view nonce) {
  if (nonce.empty()) return false;
  for (const char c : nonce) {
    if (c < 0x21 || c > 0x7e || c == ',') return false;
  }
  return true;
}

std::string xor_bytes(std::string_view a, std::string_view b) {
  std::string out(a);
  for (std::size_t i = 0; i < out.size() && i < b.size(); ++i) {
    out[i] = static_cast<char>(out[i] ^ b[i]);
  }
  return out;
}

std::optional<std::uint32_t> parse_u32(std::string_view s) {
  std::uint32_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

std::string base64_encode(std::string_view raw) {
  std::string out;
  out.reserve((raw.size() + 2) / 3 * 4);
  std::size_t i = 0;
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(raw[k]); };
  for (; i + 2 < raw.size(); i += 3) {
    const unsigned v = (unsigned{byte(i)} << 16) | (unsigned{byte(i + 1)} << 8) | byte(i + 2);
    out.push_back(b64_chars[(v >> 18) & 63]);
    out.push_back(b64_chars[(v >> 12) & 63]);
    out.push_back(b64_chars[(v >> 6) & 63]);
    out.push_back(b64_chars[v & 63]);
  }
  if (i < raw.size()) {
    unsigned v = unsigned{byte(i)} << 16;
    if (i + 1 < raw.size()) v |= unsigned{byte(i + 1)} << 8;
    out.push_back(b64_chars[(v >> 18) & 63]);
    out.push_back(b64_chars[(v >> 12) & 63]);
    out.push_back(i + 1 < raw.size() ? b64_chars[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    unsigned v = 0;
    int pad = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const char c = text[i + k];
      if (c == '=') {
        // Padding only in the last group, only at its end.
        if (i + 4 != text.size() || k < 2) return std::nullopt;
        ++pad;
        v <<= 6;
        continue;
      }
      if (pad > 0) return std::nullopt;
      const auto pos = b64_chars.find(c);
      if (pos == std::string_view::npos) return std::nullopt;
      v = (v << 6) | static_cast<unsigned>(pos);
    }
    out.push_back(static_cast<char>((v >> 16) & 0xff));
    if (pad < 2) out.push_back(static_cast<char>((v >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(v & 0xff));
  }
  return out;
}

std::optional<verifier> verifier::parse(std::string_view text) {
  constexpr std::string_view prefix = "SCRAM-SHA-256$";
  if (!text.starts_with(prefix)) return std::nullopt;
  text.remove_prefix(prefix.size());
  const auto colon1 = text.find(':');
  const auto dollar = text.find('$');
  if (colon1 == std::string_view::npos || dollar == std::string_view::npos || dollar < colon1) {
    return std::nullopt;
  }
  const auto colon2 = text.find(':', dollar);
  if (colon2 == std::string_view::npos) return std::nullopt;
  const auto iterations = parse_u32(text.substr(0, colon1));
  auto salt = base64_decode(text.substr(colon1 + 1, dollar - colon1 - 1));
  auto stored = base64_decode(text.substr(dollar + 1, colon2 - dollar - 1));
  auto server = base64_decode(text.substr(colon2 + 1));
  if (!iterations || *iterations == 0 || !salt || salt->empty() || !stored ||
      stored->size() != 32 || !server || server->size() != 32) {
    return std::nullopt;
  }
  return verifier{*iterations, std::move(*salt), std::move(*stored), std::move(*server)};
}

verifier verifier::from_password(std::string_view password, std::string_view salt,
                                 std::uint32_t iterations) {
  const std::string salted = crypto::pbkdf2_sha256(password, salt, iterations);
  return verifier{iterations, std::string(salt),
                  crypto::sha256(crypto::hmac_sha256(salted, "Client Key")),
                  crypto::hmac_sha256(salted, "Server Key")};
}

std::string verifier::to_string() const {
  return "SCRAM-SHA-256$" + std::to_string(iterations) + ":" + base64_encode(salt) + "$" +
         base64_encode(stored_key) + ":" + base64_encode(server_key);
}

verifier mock_verifier(std::string_view user, std::string_view secret) {
  std::string seed(secret);
  seed.push_back('\0');
  seed.append(user);
  return verifier{default_iterations, crypto::sha256("salt" + seed).substr(0, 16),
                  crypto::sha256("stored" + seed), crypto::sha256("server" + seed)};
}

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n));
  return out;
}

std::string random_nonce() {
  return base64_encode(random_bytes(18));
}

// ---- server side ----

server_exchange::server_exchange(verifier v, std::string server_nonce,
                                 std::string tls_endpoint_hash)
    : verifier_(std::move(v)),
      server_nonce_(std::move(server_nonce)),
      tls_hash_(std::move(tls_endpoint_hash)) {}

result server_exchange::client_first(std::string_view mechanism_name, std::string_view message,
                                     std::string& server_first) {
  if (step_ != 0) return result::malformed;
  step_ = 1;
  if (mechanism_name == mechanism_plus) {
    if (tls_hash_.empty()) return result::malformed;
    plus_ = true;
  } else if (mechanism_name != mechanism) {
    return result::malformed;
  }

  // gs2-header: cbind-flag "," [authzid] ","
  const auto comma1 = message.find(',');
  if (comma1 == std::string_view::npos) return result::malformed;
  const auto flag = message.substr(0, comma1);
  if (plus_) {
    if (flag != "p=tls-server-end-point") return result::malformed;
  } else if (flag == "y") {
    // The client could bind but believes we cannot: when we could, that is a downgrade.
    if (!tls_hash_.empty()) return result::failed;
  } else if (flag != "n") {
    return result::malformed;
  }
  const auto comma2 = message.find(',', comma1 + 1);
  if (comma2 == std::string_view::npos || comma2 != comma1 + 1) return result::malformed;
  gs2_header_ = message.substr(0, comma2 + 1);
  client_first_bare_ = message.substr(comma2 + 1);

  attribute_reader r(client_first_bare_);
  const auto user = r.expect('n');
  const auto nonce = r.expect('r');
  if (!user || !nonce || !printable_nonce(*nonce)) return result::malformed;

  nonce_ = std::string(*nonce) + server_nonce_;
  server_first_ = "r=" + nonce_ + ",s=" + base64_encode(verifier_.salt) +
                  ",i=" + std::to_string(verifier_.iterations);
  server_first = server_first_;
  return result::ok;
}

result server_exchange::client_final(std::string_view message, std::string& server_final) {
  if (step_ != 1) return result::malformed;
  step_ = 2;
  attribute_reader r(message);
  const auto cbind = r.expect('c');
  const auto nonce = r.expect('r');
  if (!cbind || !nonce) return result::malformed;
  r.skip_extensions_until('p');
  const auto proof_at = r.position();
  const auto proof_b64 = r.expect('p');
  if (!proof_b64 || !r.at_end() || proof_at == 0) return result::malformed;
  const auto proof = base64_decode(*proof_b64);
  if (!proof || proof->size() != 32) return result::malformed;

  std::string expected_cbind = gs2_header_;
  if (plus_) expected_cbind += tls_hash_;
  if (*cbind != base64_encode(expected_cbind)) return result::failed;
  if (*nonce != nonce_) return result::failed;

  const auto without_proof = message.substr(0, proof_at - 1);
  const std::string auth_message =
      client_first_bare_ + "," + server_first_ + "," + std::string(without_proof);
  const std::string client_signature = crypto::hmac_sha256(verifier_.stored_key, auth_message);
  const std::string client_key = xor_bytes(*proof, client_signature);
  if (!crypto::constant_time_equal(crypto::sha256(client_key), verifier_.stored_key)) {
    return result::failed;
  }
  server_final = "v=" + base64_encode(crypto::hmac_sha256(verifier_.server_key, auth_message));
  return result::ok;
}

// ---- client side ----

client_exchange::client_exchange(std::string password, std::string client_nonce,
                                 std::string tls_endpoint_hash, std::string user)
    : password_(std::move(password)),
      client_nonce_(std::move(client_nonce)),
      tls_hash_(std::move(tls_endpoint_hash)),
      user_(std::move(user)) {}

std::string client_exchange::client_first() {
  step_ = 1;
  client_first_bare_ = "n=" + user_ + ",r=" + client_nonce_;
  const std::string gs2 = tls_hash_.empty() ? "n,," : "p=" + std::string(cbind_name) + ",,";
  return gs2 + client_first_bare_;
}

result client_exchange::server_first(std::string_view message, std::string& client_final) {
  if (step_ != 1) return result::malformed;
  step_ = 2;
  attribute_reader r(message);
  const auto nonce = r.expect('r');
  const auto salt_b64 = r.expect('s');
  const auto iterations_text = r.expect('i');
  if (!nonce || !salt_b64 || !iterations_text) return result::malformed;
  if (!nonce->starts_with(client_nonce_) || nonce->size() == client_nonce_.size() ||
      !printable_nonce(*nonce)) {
    return result::malformed;
  }
  const auto salt = base64_decode(*salt_b64);
  const auto iterations = parse_u32(*iterations_text);
  if (!salt || salt->empty() || !iterations || *iterations == 0 || *iterations > max_iterations) {
    return result::malformed;
  }

  const std::string gs2 = tls_hash_.empty() ? "n,," : "p=" + std::string(cbind_name) + ",,";
  const std::string without_proof =
      "c=" + base64_encode(gs2 + tls_hash_) + ",r=" + std::string(*nonce);
  auth_message_ = client_first_bare_ + "," + std::string(message) + "," + without_proof;

  const std::string salted = crypto::pbkdf2_sha256(password_, *salt, *iterations);
  const std::string client_key = crypto::hmac_sha256(salted, "Client Key");
  const std::string stored_key = crypto::sha256(client_key);
  server_key_ = crypto::hmac_sha256(salted, "Server Key");
  const std::string proof = xor_bytes(client_key, crypto::hmac_sha256(stored_key, auth_message_));
  client_final = without_proof + ",p=" + base64_encode(proof);
  return result::ok;
}

result client_exchange::server_final(std::string_view message) {
  if (step_ != 2) return result::malformed;
  step_ = 3;
  if (message.starts_with("e=")) return result::failed;
  attribute_reader r(message);
  const auto signature = r.expect('v');
  if (!signature) return result::malformed;
  const auto decoded = base64_decode(*signature);
  if (!decoded) return result::malformed;
  return crypto::constant_time_equal(*decoded, crypto::hmac_sha256(server_key_, auth_message_))
             ? result::ok
             : result::failed;
}

}  // namespace pgsteer::protocol::scram
