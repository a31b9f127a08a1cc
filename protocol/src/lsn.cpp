// pg_lsn parsing and formatting (see lsn.hpp).
#include "pgsteer/protocol/lsn.hpp"

#include <charconv>
#include <cstdio>

namespace pgsteer::protocol {
namespace {

std::optional<std::uint32_t> parse_hex32(std::string_view s) {
  if (s.empty() || s.size() > 8) return std::nullopt;
  std::uint32_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<lsn> lsn::parse(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const auto hi = parse_hex32(text.substr(0, slash));
  const auto lo = parse_hex32(text.substr(slash + 1));
  if (!hi || !lo) return std::nullopt;
  return lsn{(std::uint64_t{*hi} << 32) | *lo};
}

std::string lsn::to_string() const {
  char buf[24];
  const int n = std::snprintf(buf, sizeof buf, "%X/%X", static_cast<unsigned>(value >> 32),
                              static_cast<unsigned>(value & 0xffffffffu));
  return std::string(buf, static_cast<std::size_t>(n));
}

std::uint64_t bytes_between(lsn older, lsn newer) {
  return newer.value > older.value ? newer.value - older.value : 0;
}

}  // namespace pgsteer::protocol
