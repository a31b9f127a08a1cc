// choose_backend's exclusions: a replica found going away is skipped for another or the primary,
// and an excluded (suspect) primary serves nothing, so that the caller waits for the topology.
#include <catch2/catch.hpp>

#include "router.hpp"

using namespace pgsteer;
using proxy::backend_role;
using proxy::target;

namespace {

// Backend 0 the primary, 1 and 2 replicas eligible for reads.
proxy::topology three_backends() {
  proxy::topology t;
  for (std::size_t i = 0; i < 3; ++i) {
    proxy::backend_state b;
    b.index = i;
    b.name = "pg" + std::to_string(i + 1);
    b.role = i == 0 ? backend_role::primary : backend_role::replica;
    b.eligible_for_reads = i != 0;
    t.backends.push_back(b);
  }
  t.primary = 0;
  t.readable = {1, 2};
  return t;
}

std::optional<std::size_t> choose(const proxy::topology& t, target want, bool fall_back,
                                  const std::vector<std::size_t>& excluded) {
  const std::vector<config::backend> backends(3);
  return proxy::choose_backend(
      t, want, fall_back, backends, excluded, std::nullopt, [](std::size_t) { return 0; },
      [](std::uint64_t) { return 0; });
}

}  // namespace

TEST_CASE("excluded backends get no new transactions", "[proxy][routing]") {
  const auto t = three_backends();
  CHECK(choose(t, target::primary, true, {}) == 0u);
  CHECK(choose(t, target::replica, true, {1}) == 2u);
  CHECK(choose(t, target::replica, true, {2}) == 1u);
  // No replica left: the primary, when reads may fall back to it.
  CHECK(choose(t, target::replica, true, {1, 2}) == 0u);
  CHECK_FALSE(choose(t, target::replica, false, {1, 2}));
  // A suspect primary serves neither writes nor fallen-back reads: the caller waits.
  CHECK_FALSE(choose(t, target::primary, true, {0}));
  CHECK_FALSE(choose(t, target::replica, true, {0, 1, 2}));
  CHECK(choose(t, target::replica, true, {0, 1}) == 2u);
}
