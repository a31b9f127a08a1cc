// Message framing (see framer.hpp).
#include "pgsteer/protocol/framer.hpp"

#include "pgsteer/protocol/wire.hpp"

namespace pgsteer::protocol {
namespace {

frame frame_at(std::string_view buffer, std::size_t header, std::size_t max_size, char type) {
  frame f;
  f.type = type;
  if (buffer.size() < header) {
    f.needed = header - buffer.size();
    return f;
  }
  f.length = load_u32(buffer.data() + header - 4);
  if (f.length < 4) {
    f.status = frame_status::bad_length;
    return f;
  }
  if (f.length > max_size) {
    f.status = frame_status::too_large;
    return f;
  }
  f.size = header - 4 + f.length;
  if (buffer.size() < f.size) {
    f.needed = f.size - buffer.size();
    return f;
  }
  f.status = frame_status::complete;
  f.body = buffer.substr(header, f.size - header);
  return f;
}

}  // namespace

frame next_frame(std::string_view buffer, std::size_t max_size) {
  return frame_at(buffer, 5, max_size, buffer.empty() ? '\0' : buffer[0]);
}

frame next_startup_frame(std::string_view buffer, std::size_t max_size) {
  return frame_at(buffer, 4, max_size, '\0');
}

}  // namespace pgsteer::protocol
