// auth_failure_limiter: fixed one-minute windows per source address (see auth_failure_limiter.hpp).
#include "pgsteer/proxy/auth_failure_limiter.hpp"

namespace pgsteer::proxy {

std::optional<auth_failure_limiter::clock::duration> auth_failure_limiter::refused_for(
    std::string_view address, clock::time_point now) {
  if (limit_ == 0) return std::nullopt;
  std::lock_guard lock(mutex_);
  auto it = entries_.find(std::string(address));
  if (it == entries_.end()) return std::nullopt;
  const auto ends = it->second.since + window;
  if (now >= ends) {
    entries_.erase(it);
    return std::nullopt;
  }
  if (it->second.failures < limit_) return std::nullopt;
  return ends - now;
}

void auth_failure_limiter::record_failure(std::string_view address, clock::time_point now) {
  if (limit_ == 0) return;
  std::lock_guard lock(mutex_);
  forget_expired(now);
  auto [it, fresh] = entries_.try_emplace(std::string(address), entry{now, 0});
  if (!fresh && now >= it->second.since + window) it->second = entry{now, 0};
  ++it->second.failures;
}

std::size_t auth_failure_limiter::tracked() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

void auth_failure_limiter::forget_expired(clock::time_point now) {
  // At most once a second: many addresses failing at once must not make each failure O(n).
  if (now < next_sweep_) return;
  next_sweep_ = now + std::chrono::seconds(1);
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = now >= it->second.since + window ? entries_.erase(it) : std::next(it);
  }
}

}  // namespace pgsteer::proxy
