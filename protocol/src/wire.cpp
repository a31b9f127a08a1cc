// Network-order primitives and the bounded reader used by every parser (see wire.hpp).
#include "pgsteer/protocol/wire.hpp"

namespace pgsteer::protocol {

std::uint32_t load_u32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (std::uint32_t{u[0]} << 24) | (std::uint32_t{u[1]} << 16) | (std::uint32_t{u[2]} << 8) |
         std::uint32_t{u[3]};
}

std::uint16_t load_u16(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<std::uint16_t>((u[0] << 8) | u[1]);
}

void store_u32(char* p, std::uint32_t v) {
  p[0] = static_cast<char>((v >> 24) & 0xff);
  p[1] = static_cast<char>((v >> 16) & 0xff);
  p[2] = static_cast<char>((v >> 8) & 0xff);
  p[3] = static_cast<char>(v & 0xff);
}

std::optional<std::uint8_t> wire_reader::u8() {
  if (!ok_ || remaining() < 1) return ok_ = false, std::nullopt;
  return static_cast<std::uint8_t>(data_[pos_++]);
}

std::optional<std::uint16_t> wire_reader::u16() {
  if (!ok_ || remaining() < 2) return ok_ = false, std::nullopt;
  const auto v = load_u16(data_.data() + pos_);
  pos_ += 2;
  return v;
}

std::optional<std::int16_t> wire_reader::i16() {
  const auto v = u16();
  if (!v) return std::nullopt;
  return static_cast<std::int16_t>(*v);
}

std::optional<std::uint32_t> wire_reader::u32() {
  if (!ok_ || remaining() < 4) return ok_ = false, std::nullopt;
  const auto v = load_u32(data_.data() + pos_);
  pos_ += 4;
  return v;
}

std::optional<std::int32_t> wire_reader::i32() {
  const auto v = u32();
  if (!v) return std::nullopt;
  return static_cast<std::int32_t>(*v);
}

std::optional<std::string_view> wire_reader::cstring() {
  if (!ok_) return std::nullopt;
  const auto nul = data_.find('\0', pos_);
  if (nul == std::string_view::npos) return ok_ = false, std::nullopt;
  const auto s = data_.substr(pos_, nul - pos_);
  pos_ = nul + 1;
  return s;
}

std::optional<std::string_view> wire_reader::bytes(std::size_t n) {
  if (!ok_ || remaining() < n) return ok_ = false, std::nullopt;
  const auto s = data_.substr(pos_, n);
  pos_ += n;
  return s;
}

std::string_view wire_reader::rest() {
  const auto s = data_.substr(pos_);
  pos_ = data_.size();
  return s;
}

void put_u8(std::string& out, std::uint8_t v) {
  out.push_back(static_cast<char>(v));
}

void put_u16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}

void put_i16(std::string& out, std::int16_t v) {
  put_u16(out, static_cast<std::uint16_t>(v));
}

void put_u32(std::string& out, std::uint32_t v) {
  char b[4];
  store_u32(b, v);
  out.append(b, 4);
}

void put_i32(std::string& out, std::int32_t v) {
  put_u32(out, static_cast<std::uint32_t>(v));
}

void put_cstring(std::string& out, std::string_view s) {
  out.append(s);
  out.push_back('\0');
}

}  // namespace pgsteer::protocol
