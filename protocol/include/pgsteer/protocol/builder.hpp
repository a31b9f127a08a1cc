// Writes one protocol message into an output buffer, computing the length while writing: the
// constructor reserves the length field, finish() (or the destructor) patches it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pgsteer::protocol {

class message_builder {
 public:
  // A typed message; `type` 0 starts an untyped startup-phase packet.
  message_builder(std::string& out, char type);
  ~message_builder() { finish(); }
  message_builder(const message_builder&) = delete;
  message_builder& operator=(const message_builder&) = delete;

  message_builder& u8(std::uint8_t v);
  message_builder& u16(std::uint16_t v);
  message_builder& i16(std::int16_t v);
  message_builder& u32(std::uint32_t v);
  message_builder& i32(std::int32_t v);
  message_builder& cstring(std::string_view s);
  message_builder& bytes(std::string_view s);
  // Patches the length field; idempotent.
  void finish();

 private:
  std::string& out_;
  std::size_t length_at_;
  bool finished_ = false;
};

}  // namespace pgsteer::protocol
