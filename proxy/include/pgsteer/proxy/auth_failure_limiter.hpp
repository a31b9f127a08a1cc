// Failed logins per source address (clients.max_auth_failures_per_minute): an address that failed
// too often in its current minute has its new connections refused until that minute is over.
// Shared by every worker; not on the data path (only logins touch it), so one mutex suffices.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace pgsteer::proxy {

class auth_failure_limiter {
 public:
  using clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds window{60};

  // `limit` failures per window; 0 turns the limiter off.
  explicit auth_failure_limiter(std::uint32_t limit) : limit_(limit) {}

  // How long `address` stays refused, or nullopt when it may try. Time is passed in (tests).
  std::optional<clock::duration> refused_for(std::string_view address, clock::time_point now);
  // Records one failed login from `address`. The window starts at an address's first failure.
  void record_failure(std::string_view address, clock::time_point now);
  std::uint32_t limit() const { return limit_; }
  // Addresses tracked now (expired entries go on the next record_failure).
  std::size_t tracked() const;

 private:
  struct entry {
    clock::time_point since;  // start of this address's window
    std::uint32_t failures = 0;
  };
  void forget_expired(clock::time_point now);

  std::uint32_t limit_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, entry> entries_;
  clock::time_point next_sweep_{};
};

}  // namespace pgsteer::proxy
