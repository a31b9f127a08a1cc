// A WAL position (pg_lsn): parsed from and printed as PostgreSQL's `X/Y` hex form; the
// difference of two is a byte count (replication lag).
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pgsteer::protocol {

struct lsn {
  std::uint64_t value = 0;

  static std::optional<lsn> parse(std::string_view text);
  std::string to_string() const;
  auto operator<=>(const lsn&) const = default;
};

// Bytes from `older` to `newer`; 0 when `older` is not behind.
std::uint64_t bytes_between(lsn older, lsn newer);

}  // namespace pgsteer::protocol
