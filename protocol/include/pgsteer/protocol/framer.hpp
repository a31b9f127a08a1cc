// Splits a byte stream into whole protocol messages without copying. The length field is
// bounded before anything trusts it: a length outside 4..max is a protocol violation, never an
// allocation of that size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pgsteer::protocol {

enum class frame_status {
  complete,   // a whole message is at the front of the buffer
  need_more,  // not yet: read at least `needed` more bytes
  too_large,  // the declared length exceeds the configured maximum
  bad_length  // the declared length is below the minimum (4)
};

struct frame {
  frame_status status = frame_status::need_more;
  char type = 0;             // typed messages only
  std::size_t size = 0;      // whole message: type byte (if any) + length field + body
  std::size_t needed = 0;    // need_more: bytes still missing (at least 1)
  std::uint32_t length = 0;  // the declared length field
  std::string_view body;     // complete: the body, a view into the input buffer
};

// A typed message (1-byte type, 4-byte length including itself, body), as both sides send after
// the startup phase. `max_size` bounds the length field.
frame next_frame(std::string_view buffer, std::size_t max_size);

// An untyped startup-phase packet (4-byte length including itself, then the body), as a client
// sends first: StartupMessage, SSLRequest, GSSENCRequest, CancelRequest.
frame next_startup_frame(std::string_view buffer, std::size_t max_size);

// PostgreSQL's own limit for the startup packet (MAX_STARTUP_PACKET_LENGTH).
inline constexpr std::size_t max_startup_packet_size = 10000;

}  // namespace pgsteer::protocol
