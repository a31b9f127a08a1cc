// Message builder (see builder.hpp).
#include "pgsteer/protocol/builder.hpp"

#include "pgsteer/protocol/wire.hpp"

namespace pgsteer::protocol {

message_builder::message_builder(std::string& out, char type) : out_(out) {
  if (type != '\0') out_.push_back(type);
  length_at_ = out_.size();
  out_.append(4, '\0');
}

message_builder& message_builder::u8(std::uint8_t v) {
  return put_u8(out_, v), *this;
}
message_builder& message_builder::u16(std::uint16_t v) {
  return put_u16(out_, v), *this;
}
message_builder& message_builder::i16(std::int16_t v) {
  return put_i16(out_, v), *this;
}
message_builder& message_builder::u32(std::uint32_t v) {
  return put_u32(out_, v), *this;
}
message_builder& message_builder::i32(std::int32_t v) {
  return put_i32(out_, v), *this;
}
message_builder& message_builder::cstring(std::string_view s) {
  return put_cstring(out_, s), *this;
}
message_builder& message_builder::bytes(std::string_view s) {
  return out_.append(s), *this;
}

void message_builder::finish() {
  if (finished_) return;
  finished_ = true;
  store_u32(out_.data() + length_at_, static_cast<std::uint32_t>(out_.size() - length_at_));
}

}  // namespace pgsteer::protocol
