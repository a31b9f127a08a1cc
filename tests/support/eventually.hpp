// Waiting in integration tests for something that becomes true by itself (a pool sweep, a
// monitor round, statistics a server reports when idle). A bound on waiting, never a timing
// assertion: timings belong in bench/.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace pgsteer::test {

// Asks `done` every `every` until it holds or `limit` has passed; returns its last answer.
inline bool eventually(const std::function<bool()>& done,
                       std::chrono::milliseconds limit = std::chrono::seconds(10),
                       std::chrono::milliseconds every = std::chrono::milliseconds(100)) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < give_up) {
    if (done()) return true;
    std::this_thread::sleep_for(every);
  }
  return done();
}

}  // namespace pgsteer::test
