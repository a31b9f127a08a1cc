// SCRAM-SHA-256 exchanges (see scram.hpp). Message grammar from RFC 5802 section 7. Like
// PostgreSQL, pgsteer ignores the user name in client-first-message (the startup packet names the
// user), refuses an authzid and mandatory extensions (m=), and accepts optional extensions.
#include "pgsteer/protocol/scram.hpp"

#include <openssl/rand.h>

#include <charconv>
#include <climits>
#include <stdexcept>

#include "crypto.hpp"
#include "pgsteer/protocol/saslprep.hpp"

namespace pgsteer::protocol::scram {
namespace {

constexpr std::string_view b64_chars =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view cbind_name = "tls-server-end-point";
constexpr std::size_t key_size = 32;

// Walks a message one comma-separated field at a time; "a=1,,b=2" has an empty middle field.
class field_reader {
 public:
  explicit field_reader(std::string_view s) : s_(s) {}

  bool at_end() const { return pos_ > s_.size(); }
  // Offset of the field next() returns next.
  std::size_t position() const { return pos_; }

  std::optional<std::string_view> next() {
    if (at_end()) return std::nullopt;
    auto end = s_.find(',', pos_);
    if (end == std::string_view::npos) end = s_.size();
    const auto field = s_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return field;
  }
  // The value of the next field if it is the attribute `name`.
  std::optional<std::string_view> attribute(char name) {
    const auto field = next();
    if (!field || !is_attribute(*field) || (*field)[0] != name) return std::nullopt;
    return field->substr(2);
  }

  static bool is_attribute(std::string_view field) {
    return field.size() >= 2 &&
           ((field[0] >= 'a' && field[0] <= 'z') || (field[0] >= 'A' && field[0] <= 'Z')) &&
           field[1] == '=';
  }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

// Optional extensions: each must at least be an attribute; none may be mandatory (m=) or repeat
// the attributes that are mandatory.
bool skip_extensions(field_reader& r) {
  while (!r.at_end()) {
    const auto field = r.next();
    if (!field || !field_reader::is_attribute(*field) || (*field)[0] == 'm') return false;
  }
  return true;
}

// RFC 5802: printable = %x21-2B / %x2D-7E (no ',').
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
  if (s.empty() || s[0] < '0' || s[0] > '9') return std::nullopt;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// SCRAM's saslname: ',' and '=' are escaped as =2C and =3D.
std::string escape_saslname(std::string_view name) {
  std::string out;
  for (const char c : name) {
    if (c == ',') {
      out += "=2C";
    } else if (c == '=') {
      out += "=3D";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string gs2_header_for(std::string_view tls_hash) {
  return tls_hash.empty() ? std::string("n,,") : "p=" + std::string(cbind_name) + ",,";
}

client_keys derive_keys(std::string_view password, std::string_view salt,
                        std::uint32_t iterations) {
  const std::string salted = crypto::pbkdf2_sha256(saslprep(password).password, salt, iterations);
  if (salted.empty()) return client_keys{std::string(salt), iterations, {}, {}};
  return client_keys{std::string(salt), iterations, crypto::hmac_sha256(salted, "Client Key"),
                     crypto::hmac_sha256(salted, "Server Key")};
}

}  // namespace

std::vector<std::string_view> server_mechanisms(bool channel_binding_available) {
  if (channel_binding_available) return {mechanism_plus, mechanism};
  return {mechanism};
}

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

std::optional<std::string> tls_server_end_point_hash(std::string_view certificate_der) {
  return crypto::certificate_end_point_hash(certificate_der);
}

// ---- verifiers ----

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
  if (!iterations || *iterations == 0 || *iterations > max_stored_iterations || !salt ||
      salt->empty() || !stored || stored->size() != key_size || !server ||
      server->size() != key_size) {
    return std::nullopt;
  }
  return verifier{*iterations, std::move(*salt), std::move(*stored), std::move(*server)};
}

verifier verifier::from_password(std::string_view password, std::string_view salt,
                                 std::uint32_t iterations) {
  if (iterations == 0 || iterations > max_stored_iterations) {
    return verifier{iterations, std::string(salt), {}, {}};
  }
  client_keys keys = derive_keys(password, salt, iterations);
  if (keys.client_key.size() != key_size) return verifier{iterations, std::string(salt), {}, {}};
  return verifier{iterations, std::string(salt), crypto::sha256(keys.client_key),
                  std::move(keys.server_key)};
}

std::string verifier::to_string() const {
  return "SCRAM-SHA-256$" + std::to_string(iterations) + ":" + base64_encode(salt) + "$" +
         base64_encode(stored_key) + ":" + base64_encode(server_key);
}

verifier mock_verifier(std::string_view user, std::string_view secret) {
  // Domain-separated hashes of (secret, user): the salt must look like a real one and stay the
  // same for the same user name; the keys only need to be unguessable.
  std::string seed(secret);
  seed.push_back('\0');
  seed.append(user);
  return verifier{default_iterations, crypto::sha256("salt" + seed).substr(0, default_salt_length),
                  crypto::sha256("stored" + seed), crypto::sha256("server" + seed)};
}

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  if (n > INT_MAX ||
      RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    throw std::runtime_error("OpenSSL's RAND_bytes failed");
  }
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
  if (state_ != exchange_state::expect_client_first) return result::malformed;
  state_ = exchange_state::done;  // until this step succeeds
  if (mechanism_name == mechanism_plus) {
    if (tls_hash_.empty()) return result::malformed;
    plus_ = true;
  } else if (mechanism_name != mechanism) {
    return result::malformed;
  }

  // gs2-header = cbind-flag "," [authzid] ","
  field_reader r(message);
  const auto flag = r.next();
  const auto authzid = r.next();
  if (!flag || !authzid || r.at_end()) return result::malformed;
  if (plus_) {
    if (*flag != "p=" + std::string(cbind_name)) return result::malformed;
  } else if (*flag == "y") {
    // The client could bind but believes we cannot: when we could, someone stripped the PLUS
    // mechanism from our offer (RFC 5802 section 6).
    if (!tls_hash_.empty()) return result::failed;
  } else if (*flag != "n") {
    return result::malformed;  // "p=..." with the non-PLUS mechanism, or garbage
  }
  if (!authzid->empty()) return result::malformed;  // PostgreSQL supports no authzid either
  const auto bare_at = r.position();
  gs2_header_ = message.substr(0, bare_at);
  client_first_bare_ = message.substr(bare_at);

  // client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
  const auto user = r.attribute('n');
  const auto nonce = r.attribute('r');
  if (!user || !nonce || !printable_nonce(*nonce) || !skip_extensions(r)) {
    return result::malformed;
  }
  if (!printable_nonce(server_nonce_)) return result::malformed;

  nonce_ = std::string(*nonce) + server_nonce_;
  server_first_ = "r=" + nonce_ + ",s=" + base64_encode(verifier_.salt) +
                  ",i=" + std::to_string(verifier_.iterations);
  server_first = server_first_;
  state_ = exchange_state::expect_client_final;
  return result::ok;
}

result server_exchange::client_final(std::string_view message, std::string& server_final) {
  if (state_ != exchange_state::expect_client_final) return result::malformed;
  state_ = exchange_state::done;

  // client-final-message = channel-binding "," nonce ["," extensions] "," proof
  field_reader r(message);
  const auto cbind_b64 = r.attribute('c');
  const auto nonce = r.attribute('r');
  if (!cbind_b64 || !nonce) return result::malformed;
  std::size_t proof_at = 0;
  std::optional<std::string_view> proof_b64;
  while (!r.at_end()) {
    proof_at = r.position();
    const auto field = r.next();
    if (!field || !field_reader::is_attribute(*field) || (*field)[0] == 'm') {
      return result::malformed;
    }
    if ((*field)[0] == 'p') {
      proof_b64 = field->substr(2);
      break;
    }
  }
  if (!proof_b64 || !r.at_end()) return result::malformed;  // the proof comes last
  const auto proof = base64_decode(*proof_b64);
  const auto cbind = base64_decode(*cbind_b64);
  if (!proof || proof->size() != key_size || !cbind) return result::malformed;
  if (*nonce != nonce_) return result::malformed;  // PostgreSQL: a protocol violation

  const std::string expected_cbind = plus_ ? gs2_header_ + tls_hash_ : gs2_header_;
  if (!crypto::constant_time_equal(*cbind, expected_cbind)) return result::failed;

  const std::string auth_message =
      client_first_bare_ + "," + server_first_ + "," + std::string(message.substr(0, proof_at - 1));
  const std::string client_signature = crypto::hmac_sha256(verifier_.stored_key, auth_message);
  const std::string client_key = xor_bytes(*proof, client_signature);
  if (verifier_.stored_key.size() != key_size ||
      !crypto::constant_time_equal(crypto::sha256(client_key), verifier_.stored_key)) {
    return result::failed;
  }
  proven_keys_ =
      client_keys{verifier_.salt, verifier_.iterations, client_key, verifier_.server_key};
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

client_exchange client_exchange::from_keys(client_keys keys, std::string client_nonce,
                                           std::string tls_endpoint_hash, std::string user) {
  client_exchange c({}, std::move(client_nonce), std::move(tls_endpoint_hash), std::move(user));
  c.password_.reset();
  c.keys_ = std::move(keys);
  return c;
}

std::string client_exchange::client_first() {
  state_ = exchange_state::expect_server_first;
  client_first_bare_ = "n=" + escape_saslname(user_) + ",r=" + client_nonce_;
  return gs2_header_for(tls_hash_) + client_first_bare_;
}

result client_exchange::server_first(std::string_view message, std::string& client_final) {
  if (state_ != exchange_state::expect_server_first) return result::malformed;
  state_ = exchange_state::done;  // until this step succeeds

  // server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count
  //                        ["," extensions]
  field_reader r(message);
  const auto nonce = r.attribute('r');
  const auto salt_b64 = r.attribute('s');
  const auto iterations_text = r.attribute('i');
  if (!nonce || !salt_b64 || !iterations_text || !skip_extensions(r)) return result::malformed;
  // The server must extend our nonce, not replace it.
  if (!nonce->starts_with(client_nonce_) || nonce->size() == client_nonce_.size() ||
      !printable_nonce(*nonce)) {
    return result::malformed;
  }
  const auto salt = base64_decode(*salt_b64);
  const auto iterations = parse_u32(*iterations_text);
  if (!salt || salt->empty() || !iterations || *iterations == 0 || *iterations > max_iterations_ ||
      *iterations > max_stored_iterations) {
    return result::malformed;
  }

  if (!keys_ || keys_->salt != *salt || keys_->iterations != *iterations) {
    // Without the password, keys for another salt cannot be made: the backend's verifier is
    // not the one pgsteer's keys came from.
    if (!password_) return result::failed;
    keys_ = derive_keys(*password_, *salt, *iterations);
  }
  if (keys_->client_key.size() != key_size || keys_->server_key.size() != key_size) {
    return result::failed;
  }

  const std::string without_proof =
      "c=" + base64_encode(gs2_header_for(tls_hash_) + tls_hash_) + ",r=" + std::string(*nonce);
  auth_message_ = client_first_bare_ + "," + std::string(message) + "," + without_proof;
  const std::string stored_key = crypto::sha256(keys_->client_key);
  const std::string proof =
      xor_bytes(keys_->client_key, crypto::hmac_sha256(stored_key, auth_message_));
  client_final = without_proof + ",p=" + base64_encode(proof);
  state_ = exchange_state::expect_server_final;
  return result::ok;
}

result client_exchange::server_final(std::string_view message) {
  if (state_ != exchange_state::expect_server_final) return result::malformed;
  state_ = exchange_state::done;
  // server-final-message = (server-error / verifier) ["," extensions]
  field_reader r(message);
  const auto first = r.next();
  if (!first || !field_reader::is_attribute(*first) || !skip_extensions(r)) {
    return result::malformed;
  }
  if ((*first)[0] == 'e') return result::failed;
  if ((*first)[0] != 'v') return result::malformed;
  const auto signature = base64_decode(first->substr(2));
  if (!signature) return result::malformed;
  return crypto::constant_time_equal(*signature,
                                     crypto::hmac_sha256(keys_->server_key, auth_message_))
             ? result::ok
             : result::failed;
}

}  // namespace pgsteer::protocol::scram
