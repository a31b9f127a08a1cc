// Code point tables for saslprep.cpp, generated into saslprep_table.cpp by saslprep_table.py.
#pragma once

#include <algorithm>
#include <span>

namespace pgsteer::protocol::saslprep_table {

struct code_range {
  char32_t first;
  char32_t last;
};

// Each table is sorted, its ranges disjoint.
extern const std::span<const code_range> non_ascii_space;
extern const std::span<const code_range> mapped_to_nothing;
extern const std::span<const code_range> prohibited;
extern const std::span<const code_range> rand_al_cat;
extern const std::span<const code_range> nfkc_stable;

inline bool contains(std::span<const code_range> table, char32_t c) {
  const auto it = std::upper_bound(table.begin(), table.end(), c,
                                   [](char32_t v, const code_range& r) { return v < r.first; });
  return it != table.begin() && c <= std::prev(it)->last;
}

}  // namespace pgsteer::protocol::saslprep_table
