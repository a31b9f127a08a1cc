// Fuzzes the framer: any byte stream is split into frames or refused, never a read past the input,
// and a frame's verdict never depends on how the stream was cut into reads.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pgsteer/protocol/framer.hpp"

namespace fuzz_framer_detail {

using namespace pgsteer::protocol;

void check_frame(std::string_view buffer, const frame& f, std::size_t header, std::size_t max) {
  switch (f.status) {
    case frame_status::complete:
      if (f.size > buffer.size() || f.size != header - 4 + f.length || f.length > max ||
          f.body.size() + header != f.size || f.body.data() != buffer.data() + header) {
        __builtin_trap();
      }
      break;
    case frame_status::need_more:
      if (f.needed == 0) __builtin_trap();
      break;
    case frame_status::too_large:
      if (f.length <= max) __builtin_trap();
      break;
    case frame_status::bad_length:
      if (f.length >= 4) __builtin_trap();
      break;
  }
}

// The same verdict for the buffer cut anywhere: the whole frame once enough bytes are there,
// "need more" (and no more than is really missing) before.
void check_cuts(std::string_view buffer, bool typed, std::size_t max) {
  const auto next = [&](std::string_view b) {
    return typed ? next_frame(b, max) : next_startup_frame(b, max);
  };
  const frame whole = next(buffer);
  const std::size_t header = typed ? 5 : 4;
  for (std::size_t cut = 0; cut < buffer.size() && cut < 64; ++cut) {
    const frame part = next(buffer.substr(0, cut));
    check_frame(buffer.substr(0, cut), part, header, max);
    if (part.status == frame_status::need_more) {
      if (whole.status == frame_status::complete && cut + part.needed > whole.size) {
        __builtin_trap();
      }
    } else if (part.status != whole.status || part.size != whole.size) {
      __builtin_trap();
    }
  }
}

}  // namespace fuzz_framer_detail

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace fuzz_framer_detail;
  if (size < 1) return 0;
  // The first byte picks the maximum message size, so limits near the lengths get exercised.
  const std::size_t max = std::size_t{4} + std::size_t{data[0]} * 16;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  check_cuts(rest, true, max);
  check_cuts(rest, false, max);
  while (!rest.empty()) {
    const auto f = next_frame(rest, max);
    check_frame(rest, f, 5, max);
    if (f.status != frame_status::complete) break;
    rest.remove_prefix(f.size);
  }
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  check_frame(all, next_startup_frame(all, max_startup_packet_size), 4, max_startup_packet_size);
  return 0;
}
