// Fuzzes startup-packet parsing: every input is a known packet kind or an error to send.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pgsteer/protocol/startup.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pgsteer::protocol;
  const auto p = parse_startup_packet(std::string_view(reinterpret_cast<const char*>(data), size));
  if (p.kind == startup_kind::invalid && p.error.code.size() != 5) __builtin_trap();
  if (p.kind == startup_kind::startup_message && p.user().empty()) __builtin_trap();
  (void)p.database();
  return 0;
}
