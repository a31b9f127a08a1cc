// SASLprep of passwords (see saslprep.hpp). Follows PostgreSQL's src/common/saslprep.c step for
// step (map, normalise, prohibit, bidi), so the same bytes reach PBKDF2 on both sides; the
// normalise step is exact only for characters that NFKC leaves alone (saslprep_table.py).
#include "pgsteer/protocol/saslprep.hpp"

#include <cstdint>
#include <optional>
#include <vector>

#include "saslprep_table.hpp"

namespace pgsteer::protocol {
namespace {

namespace table = saslprep_table;

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF, which is
// what PostgreSQL's pg_utf8_islegal accepts.
std::optional<std::vector<char32_t>> decode_utf8(std::string_view s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    char32_t c = 0;
    char32_t min = 0;
    if (b0 < 0x80) {
      len = 1;
      c = b0;
    } else if ((b0 & 0xE0) == 0xC0) {
      len = 2;
      c = b0 & 0x1Fu;
      min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
      len = 3;
      c = b0 & 0x0Fu;
      min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
      len = 4;
      c = b0 & 0x07u;
      min = 0x10000;
    } else {
      return std::nullopt;
    }
    if (s.size() - i < len) return std::nullopt;
    for (std::size_t k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return std::nullopt;
      c = (c << 6) | (b & 0x3Fu);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return std::nullopt;
    out.push_back(c);
    i += len;
  }
  return out;
}

void encode_utf8(char32_t c, std::string& out) {
  const auto put = [&](std::uint32_t v) { out.push_back(static_cast<char>(v)); };
  const auto v = static_cast<std::uint32_t>(c);
  if (v < 0x80) {
    put(v);
  } else if (v < 0x800) {
    put(0xC0 | (v >> 6));
    put(0x80 | (v & 0x3F));
  } else if (v < 0x10000) {
    put(0xE0 | (v >> 12));
    put(0x80 | ((v >> 6) & 0x3F));
    put(0x80 | (v & 0x3F));
  } else {
    put(0xF0 | (v >> 18));
    put(0x80 | ((v >> 12) & 0x3F));
    put(0x80 | ((v >> 6) & 0x3F));
    put(0x80 | (v & 0x3F));
  }
}

bool is_ascii_letter(char32_t c) {
  return (c >= U'A' && c <= U'Z') || (c >= U'a' && c <= U'z');
}

// Printable ASCII is its own NFKC form and never composes with a neighbour.
bool is_ascii_printable(char32_t c) {
  return c >= 0x20 && c < 0x7F;
}

}  // namespace

saslprep_result saslprep(std::string_view password) {
  const auto raw = [&](saslprep_status status) {
    return saslprep_result{std::string(password), status};
  };

  // PostgreSQL passes pure ASCII through untouched, control characters included.
  bool ascii = true;
  for (const char c : password) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  if (ascii) return raw(saslprep_status::unchanged);

  const auto input = decode_utf8(password);
  if (!input) return raw(saslprep_status::raw);

  // 1) Map.
  std::vector<char32_t> mapped;
  mapped.reserve(input->size());
  for (const char32_t c : *input) {
    if (table::contains(table::non_ascii_space, c)) {
      mapped.push_back(U' ');
    } else if (!table::contains(table::mapped_to_nothing, c)) {
      mapped.push_back(c);
    }
  }
  if (mapped.empty()) return raw(saslprep_status::raw);

  // 3) Prohibit, and 4) bidi: any sure violation sends PostgreSQL to the raw bytes. Its checks
  // run on the mapped characters, before normalisation, and so do these. (PostgreSQL also
  // prohibits code points unassigned in Unicode 3.2; those are not in nfkc_stable, so such a
  // password is `unsupported` below and gets its raw bytes, the same outcome.)
  bool any_rand_al = false;
  bool any_known_l = false;
  bool all_known = true;
  for (const char32_t c : mapped) {
    if (table::contains(table::prohibited, c)) return raw(saslprep_status::raw);
    const bool rand_al = table::contains(table::rand_al_cat, c);
    const bool stable = table::contains(table::nfkc_stable, c);
    any_rand_al = any_rand_al || rand_al;
    // Every character of nfkc_stable that is not right-to-left is left-to-right (LCat).
    any_known_l = any_known_l || is_ascii_letter(c) || (stable && !rand_al);
    all_known = all_known && (is_ascii_printable(c) || stable);
  }
  if (any_rand_al && (any_known_l || !table::contains(table::rand_al_cat, mapped.front()) ||
                      !table::contains(table::rand_al_cat, mapped.back()))) {
    return raw(saslprep_status::raw);
  }

  // 2) Normalise: NFKC leaves a string of these characters as it is.
  if (!all_known) return raw(saslprep_status::unsupported);

  std::string out;
  out.reserve(password.size());
  for (const char32_t c : mapped) encode_utf8(c, out);
  const auto status = out == password ? saslprep_status::unchanged : saslprep_status::prepared;
  return saslprep_result{std::move(out), status};
}

}  // namespace pgsteer::protocol
