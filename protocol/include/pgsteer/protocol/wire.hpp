// Reading and writing the PostgreSQL wire's primitive types (network-order integers, NUL-terminated
// strings). Every parser in protocol/ reads through `wire_reader`, which never reads past its
// input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pgsteer::protocol {

// A cursor over bytes it does not own. Each read returns nullopt, and the reader stays failed,
// when the input is too short; views it returns point into the original buffer.
class wire_reader {
 public:
  explicit wire_reader(std::string_view data) : data_(data) {}

  std::optional<std::uint8_t> u8();
  std::optional<std::uint16_t> u16();
  std::optional<std::int16_t> i16();
  std::optional<std::uint32_t> u32();
  std::optional<std::int32_t> i32();
  // A NUL-terminated string, without its NUL.
  std::optional<std::string_view> cstring();
  std::optional<std::string_view> bytes(std::size_t n);
  // Everything not read yet.
  std::string_view rest();

  bool ok() const { return ok_; }
  bool at_end() const { return ok_ && pos_ == data_.size(); }
  std::size_t remaining() const { return data_.size() - pos_; }
  std::size_t position() const { return pos_; }

 private:
  std::string_view data_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

std::uint32_t load_u32(const char* p);
std::uint16_t load_u16(const char* p);
void store_u32(char* p, std::uint32_t v);

void put_u8(std::string& out, std::uint8_t v);
void put_u16(std::string& out, std::uint16_t v);
void put_i16(std::string& out, std::int16_t v);
void put_u32(std::string& out, std::uint32_t v);
void put_i32(std::string& out, std::int32_t v);
void put_cstring(std::string& out, std::string_view s);

}  // namespace pgsteer::protocol
