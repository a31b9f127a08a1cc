// HBA matching (see hba.hpp).
#include "pgsteer/proxy/hba.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <string>

namespace pgsteer::proxy {
namespace {

// The address as 16 bytes (IPv4 as an IPv4-mapped IPv6 address) and whether it was IPv4.
struct parsed_address {
  std::array<unsigned char, 16> bytes{};
  bool v4 = false;
};

std::optional<parsed_address> parse_address(std::string_view text) {
  const std::string s(text);
  parsed_address out;
  in_addr v4{};
  if (::inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    out.v4 = true;
    out.bytes[10] = 0xff;
    out.bytes[11] = 0xff;
    std::memcpy(out.bytes.data() + 12, &v4, 4);
    return out;
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    std::memcpy(out.bytes.data(), &v6, 16);
    // An IPv4-mapped IPv6 client matches IPv4 rules, as it is an IPv4 client.
    out.v4 = std::all_of(out.bytes.begin(), out.bytes.begin() + 10,
                         [](unsigned char b) { return b == 0; }) &&
             out.bytes[10] == 0xff && out.bytes[11] == 0xff;
    return out;
  }
  return std::nullopt;
}

bool listed(const std::vector<std::string>& names, std::string_view name) {
  return names.empty() || std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

bool address_in(std::string_view address, std::string_view cidr) {
  if (cidr == "all") return true;
  const auto slash = cidr.find('/');
  const auto net = parse_address(cidr.substr(0, slash));
  const auto addr = parse_address(address);
  if (!net || !addr || net->v4 != addr->v4) return false;
  unsigned bits = net->v4 ? 32 : 128;
  if (slash != std::string_view::npos) {
    const auto b = cidr.substr(slash + 1);
    const auto [end, ec] = std::from_chars(b.data(), b.data() + b.size(), bits);
    if (ec != std::errc() || end != b.data() + b.size() || bits > (net->v4 ? 32u : 128u))
      return false;
  }
  if (net->v4) bits += 96;  // compare within the IPv4-mapped form
  for (unsigned i = 0; i < 16; ++i) {
    const unsigned take = bits >= (i + 1) * 8 ? 8 : (bits > i * 8 ? bits - i * 8 : 0);
    if (take == 0) break;
    const auto mask = static_cast<unsigned char>(0xff << (8 - take));
    if ((net->bytes[i] & mask) != (addr->bytes[i] & mask)) return false;
  }
  return true;
}

std::optional<config::auth_method> match_hba(const std::vector<config::hba_rule>& rules,
                                             const hba_request& request) {
  for (const auto& rule : rules) {
    if (rule.type == config::hba_type::hostssl && !request.ssl) continue;
    if (rule.type == config::hba_type::hostnossl && request.ssl) continue;
    if (!address_in(request.address, rule.address)) continue;
    if (!listed(rule.databases, request.database)) continue;
    if (!listed(rule.users, request.user)) continue;
    return rule.method;
  }
  return std::nullopt;
}

}  // namespace pgsteer::proxy
