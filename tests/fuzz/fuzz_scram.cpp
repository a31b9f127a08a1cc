// Fuzzes SCRAM message parsing on both sides and the verifier parser. The first byte picks the
// step; the rest is the peer's message.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "pgsteer/protocol/scram.hpp"

using namespace pgsteer::protocol::scram;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  // Few iterations: the fuzzer should spend its time in the parsers, not in PBKDF2.
  static const verifier v = verifier::from_password("pw", "saltsaltsaltsalt", 2);
  std::string out;
  switch (data[0] % 5) {
    case 0: {
      server_exchange s(v, "servernonce", std::string(32, 'h'));
      (void)s.client_first(data[0] & 0x80 ? "SCRAM-SHA-256-PLUS" : "SCRAM-SHA-256", input, out);
      break;
    }
    case 1: {
      server_exchange s(v, "servernonce");
      if (s.client_first("SCRAM-SHA-256", "n,,n=,r=clientnonce", out) != result::ok)
        __builtin_trap();
      (void)s.client_final(input, out);
      break;
    }
    case 2: {
      // Bound the iteration count a fuzzed server-first can ask for to keep runs fast.
      if (input.find("i=") != std::string_view::npos && input.size() > 64) break;
      client_exchange c("pw", "clientnonce");
      (void)c.client_first();
      if (c.server_first(input, out) == result::ok) (void)c.server_final(input);
      break;
    }
    case 3:
      (void)verifier::parse(input);
      break;
    default:
      (void)base64_decode(input);
      break;
  }
  return 0;
}
