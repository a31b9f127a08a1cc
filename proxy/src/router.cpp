// router: the routing decision (see router.hpp). Pure: no I/O, no clocks.
#include "router.hpp"

#include <algorithm>

namespace pgsteer::proxy {

namespace p = protocol;

const char* to_string(target t) {
  return t == target::primary ? "primary" : "replica";
}

target route_for(config::route route, const p::classification* first, bool session_mode) {
  switch (route) {
    case config::route::primary:
      return target::primary;
    case config::route::replica:
      return target::replica;
    case config::route::split:
      break;
  }
  if (session_mode || first == nullptr) return target::primary;
  if (first->hint == p::route_hint::primary) return target::primary;
  if (first->hint == p::route_hint::replica) return target::replica;
  if (first->first == p::statement_type::begin ||
      first->first == p::statement_type::set_transaction) {
    // An explicit transaction: the primary unless it says READ ONLY from the start.
    return first->begins_read_only ? target::replica : target::primary;
  }
  if (first->transaction_control) return target::primary;
  return first->kind == p::sql_kind::read ? target::replica : target::primary;
}

std::optional<std::size_t> choose_backend(
    const topology& topology, target want, bool fall_back,
    const std::vector<config::backend>& backends, const std::vector<std::size_t>& excluded,
    std::optional<protocol::lsn> must_see, const std::function<std::size_t(std::size_t)>& load,
    const std::function<std::uint64_t(std::uint64_t)>& random) {
  if (want == target::replica) {
    std::vector<std::size_t> candidates;
    for (auto k : topology.readable) {
      if (std::find(excluded.begin(), excluded.end(), k) != excluded.end()) continue;
      if (must_see &&
          (k >= topology.backends.size() || topology.backends[k].position < *must_see)) {
        continue;
      }
      candidates.push_back(k);
    }
    if (!candidates.empty()) {
      // Two candidates drawn by weight; the one with fewer leased servers per unit of weight
      // wins. (The configuration keeps weights in 1..1000.)
      auto weight = [&](std::size_t k) -> std::uint64_t {
        return k < backends.size() ? backends[k].weight : 1;
      };
      std::uint64_t total = 0;
      for (auto k : candidates) total += weight(k);
      auto draw = [&] {
        std::uint64_t r = random(total);
        for (auto k : candidates) {
          if (r < weight(k)) return k;
          r -= weight(k);
        }
        return candidates.back();
      };
      const std::size_t a = draw();
      const std::size_t b = draw();
      auto cost = [&](std::size_t k) {
        return static_cast<double>(load(k)) / static_cast<double>(weight(k));
      };
      return cost(b) < cost(a) ? b : a;
    }
    if (!fall_back) return std::nullopt;
  }
  if (topology.primary &&
      std::find(excluded.begin(), excluded.end(), *topology.primary) != excluded.end()) {
    return std::nullopt;
  }
  return topology.primary;
}

}  // namespace pgsteer::proxy
