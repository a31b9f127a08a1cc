// Fuzzes the framer: any byte stream is split into frames or refused; never a read past the input.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pgsteer/protocol/framer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  while (!rest.empty()) {
    const auto f = pgsteer::protocol::next_frame(rest, 1 << 16);
    if (f.status != pgsteer::protocol::frame_status::complete) break;
    if (f.size > rest.size() || f.body.size() + 5 != f.size) __builtin_trap();
    rest.remove_prefix(f.size);
  }
  (void)pgsteer::protocol::next_startup_frame(
      std::string_view(reinterpret_cast<const char*>(data), size), 10000);
  return 0;
}
