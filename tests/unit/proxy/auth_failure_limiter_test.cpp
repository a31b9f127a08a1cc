// Failed logins per address per minute: refused past the limit until the window ends, other
// addresses unaffected, 0 = off, old entries forgotten.
#include <catch2/catch.hpp>

#include "pgsteer/proxy/auth_failure_limiter.hpp"

using pgsteer::proxy::auth_failure_limiter;
using namespace std::chrono_literals;

TEST_CASE("an address is refused after `limit` failures until its minute ends", "[proxy][auth]") {
  auth_failure_limiter limiter(3);
  const auto t0 = auth_failure_limiter::clock::time_point{} + 1000s;
  for (int i = 0; i < 2; ++i) limiter.record_failure("10.0.0.1", t0 + std::chrono::seconds(i));
  CHECK_FALSE(limiter.refused_for("10.0.0.1", t0 + 5s));
  limiter.record_failure("10.0.0.1", t0 + 10s);
  const auto refused = limiter.refused_for("10.0.0.1", t0 + 10s);
  REQUIRE(refused);
  CHECK(*refused == 50s);  // the window started at the first failure
  CHECK_FALSE(limiter.refused_for("10.0.0.2", t0 + 10s));  // other addresses are not affected
  CHECK(limiter.refused_for("10.0.0.1", t0 + 59s));
  CHECK_FALSE(limiter.refused_for("10.0.0.1", t0 + 60s));  // the minute passed
  // A new window starts from scratch.
  limiter.record_failure("10.0.0.1", t0 + 61s);
  CHECK_FALSE(limiter.refused_for("10.0.0.1", t0 + 61s));
}

TEST_CASE("a failure after the window restarts the count", "[proxy][auth]") {
  auth_failure_limiter limiter(2);
  const auto t0 = auth_failure_limiter::clock::time_point{} + 1000s;
  limiter.record_failure("::1", t0);
  limiter.record_failure("::1", t0 + 70s);  // the first window has ended
  CHECK_FALSE(limiter.refused_for("::1", t0 + 71s));
  limiter.record_failure("::1", t0 + 72s);
  CHECK(limiter.refused_for("::1", t0 + 72s));
}

TEST_CASE("limit 0 turns the limiter off", "[proxy][auth]") {
  auth_failure_limiter limiter(0);
  const auto t0 = auth_failure_limiter::clock::time_point{} + 1000s;
  for (int i = 0; i < 100; ++i) limiter.record_failure("10.0.0.1", t0);
  CHECK_FALSE(limiter.refused_for("10.0.0.1", t0));
  CHECK(limiter.tracked() == 0);
}

TEST_CASE("expired addresses are forgotten", "[proxy][auth]") {
  auth_failure_limiter limiter(5);
  const auto t0 = auth_failure_limiter::clock::time_point{} + 1000s;
  for (int i = 0; i < 50; ++i) limiter.record_failure("10.0.0." + std::to_string(i), t0);
  CHECK(limiter.tracked() == 50);
  limiter.record_failure("10.0.1.1", t0 + 61s);
  CHECK(limiter.tracked() == 1);
}
