// Prints the logs of the running pgsteer processes at a test case's first failed assertion, while
// they are still running, so a failure report shows what the proxy said.
// Reporter and listener types are only visible with this defined.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>

#include <iostream>

#include "pgsteer_process.hpp"

namespace {

class pgsteer_log_listener : public Catch::TestEventListenerBase {
 public:
  using TestEventListenerBase::TestEventListenerBase;

  void testCaseStarting(const Catch::TestCaseInfo& info) override {
    TestEventListenerBase::testCaseStarting(info);
    printed_ = false;
  }

  bool assertionEnded(const Catch::AssertionStats& stats) override {
    if (!stats.assertionResult.isOk() && !printed_) {
      printed_ = true;
      std::cerr << pgsteer::test::pgsteer_process::running_logs() << std::flush;
    }
    return TestEventListenerBase::assertionEnded(stats);
  }

 private:
  bool printed_ = false;
};

}  // namespace

CATCH_REGISTER_LISTENER(pgsteer_log_listener)
