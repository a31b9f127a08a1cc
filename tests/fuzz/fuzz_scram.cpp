// Fuzzes every parser of the authentication code with peer-chosen bytes: SCRAM messages on both
// sides, stored verifiers, base64, SASLprep, md5 responses and certificates for channel binding.
// The first byte picks the target; the rest is the input. Properties that must hold on any input
// are checked with __builtin_trap() so the fuzzer reports them as crashes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "pgsteer/protocol/md5.hpp"
#include "pgsteer/protocol/saslprep.hpp"
#include "pgsteer/protocol/scram.hpp"

namespace fuzz_scram {

namespace scram = pgsteer::protocol::scram;

// Two iterations: the fuzzer should spend its time in the parsers, not in PBKDF2.
inline const scram::verifier& test_verifier() {
  static const scram::verifier v = scram::verifier::from_password("pw", "saltsaltsaltsalt", 2);
  return v;
}

inline void check(bool ok) {
  if (!ok) __builtin_trap();
}

inline void server_side(std::uint8_t selector, std::string_view input) {
  const std::string tls_hash(32, 'h');
  std::string out;
  if (selector % 8 == 0) {
    scram::server_exchange s(test_verifier(), "servernonce", selector & 0x80 ? tls_hash : "");
    const auto mech = selector & 0x40 ? scram::mechanism_plus : scram::mechanism;
    if (s.client_first(mech, input, out) != scram::result::ok) check(out.empty());
    return;
  }
  // client_final after a well-formed client_first.
  scram::server_exchange s(test_verifier(), "servernonce", selector & 0x80 ? tls_hash : "");
  check(s.client_first(
            selector & 0x80 ? scram::mechanism_plus : scram::mechanism,
            selector & 0x80 ? "p=tls-server-end-point,,n=,r=clientnonce" : "n,,n=,r=clientnonce",
            out) == scram::result::ok);
  out.clear();
  if (s.client_final(input, out) == scram::result::ok) {
    check(out.starts_with("v="));
    check(s.proven_keys().client_key.size() == 32);
  } else {
    check(out.empty());
  }
}

// server-first, then (after the first '\n') server-final.
inline void client_side(std::uint8_t selector, std::string_view input) {
  const auto newline = input.find('\n');
  const auto first = input.substr(0, newline);
  const auto final_message =
      newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);
  scram::client_exchange c("pw", "clientnonce", selector & 0x80 ? std::string(32, 'h') : "");
  c.set_max_iterations(16);
  (void)c.client_first();
  std::string out;
  if (c.server_first(first, out) != scram::result::ok) {
    check(out.empty());
    return;
  }
  check(out.starts_with("c="));
  (void)c.server_final(final_message);
}

inline void base64(std::string_view input) {
  const auto decoded = scram::base64_decode(input);
  if (decoded) check(scram::base64_decode(scram::base64_encode(*decoded)) == decoded);
  check(scram::base64_decode(scram::base64_encode(input)) == std::string(input));
}

inline void saslprep(std::string_view input) {
  using pgsteer::protocol::saslprep_status;
  const auto r = pgsteer::protocol::saslprep(input);
  if (r.status == saslprep_status::unchanged || r.status == saslprep_status::raw ||
      r.status == saslprep_status::unsupported) {
    check(r.password == input);
  } else {
    // A prepared password is a fixed point.
    const auto again = pgsteer::protocol::saslprep(r.password);
    check(again.status == saslprep_status::unchanged && again.password == r.password);
  }
}

inline void md5(std::string_view input) {
  namespace md5 = pgsteer::protocol::md5;
  const auto salt = input.substr(0, 4);
  const auto rest = input.substr(salt.size());
  (void)md5::verify(rest, salt, md5::response(rest, salt));
  check(
      md5::verify(md5::stored_hash("user", rest), salt, md5::client_response("user", rest, salt)) ||
      md5::is_stored_hash(rest));
}

}  // namespace fuzz_scram

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 8) {
    case 0:
    case 1:
      fuzz_scram::server_side(data[0], input);
      break;
    case 2:
      fuzz_scram::client_side(data[0], input);
      break;
    case 3:
      if (const auto v = pgsteer::protocol::scram::verifier::parse(input)) {
        fuzz_scram::check(v->to_string().size() <= input.size());
      }
      break;
    case 4:
      fuzz_scram::base64(input);
      break;
    case 5:
      fuzz_scram::saslprep(input);
      break;
    case 6:
      fuzz_scram::md5(input);
      break;
    default:
      (void)pgsteer::protocol::scram::tls_server_end_point_hash(input);
      break;
  }
  return 0;
}
