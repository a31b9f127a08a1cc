// Fuzzes startup-packet parsing: every input is a known packet kind or an error to send, and a
// packet that parses is rebuilt byte for byte from what was parsed. The same bytes, read as the
// `options` parameter, give settings with names or a FATAL to send.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "pgsteer/protocol/startup.hpp"
#include "pgsteer/protocol/startup_options.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pgsteer::protocol;
  const std::string_view packet(reinterpret_cast<const char*>(data), size);
  const auto p = parse_startup_packet(packet, startup_limits{.max_parameters = 8});
  std::string rebuilt;
  switch (p.kind) {
    case startup_kind::invalid:
      if (p.error.code.size() != 5 || p.error.severity != "FATAL" || p.error.message.empty()) {
        __builtin_trap();
      }
      break;
    case startup_kind::startup_message:
      if (p.user().empty() || p.database().empty() || p.major != 3) __builtin_trap();
      if (p.parameters.size() + p.unrecognized_options.size() > 8) __builtin_trap();
      if (p.minor == 0 && p.unrecognized_options.empty()) {
        write_startup_message(rebuilt, p.parameters);
        if (rebuilt != packet) __builtin_trap();
      }
      if (p.needs_negotiation()) write_negotiate_protocol_version(rebuilt, p);
      break;
    case startup_kind::ssl_request:
      write_ssl_request(rebuilt);
      if (rebuilt != packet) __builtin_trap();
      break;
    case startup_kind::cancel_request:
      write_cancel_request(rebuilt, p.process_id, p.secret_key);
      if (rebuilt != packet) __builtin_trap();
      break;
    case startup_kind::gssenc_request:
      if (size != 8) __builtin_trap();
      break;
  }
  const auto options = parse_startup_options(packet);
  if (options.error) {
    if (options.error->code.size() != 5 || options.error->severity != "FATAL") __builtin_trap();
  } else {
    for (const auto& [name, value] : options.settings) {
      if (name.empty() || name.find('-') != std::string::npos) __builtin_trap();
    }
  }
  return 0;
}
