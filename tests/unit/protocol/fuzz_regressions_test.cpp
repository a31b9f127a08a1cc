// Replays every fuzz corpus seed and every saved crashing input (tests/fuzz/regressions/<target>/)
// through the fuzz targets' own entry points, so a fixed crash stays fixed in every build.
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#define LLVMFuzzerTestOneInput fuzz_framer_one
#include "../../fuzz/fuzz_framer.cpp"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_startup_one
#include "../../fuzz/fuzz_startup.cpp"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_messages_one
#include "../../fuzz/fuzz_messages.cpp"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_scram_one
#include "../../fuzz/fuzz_scram.cpp"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_classifier_one
#include "../../fuzz/fuzz_classifier.cpp"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_transaction_tracker_one
#include "../../fuzz/fuzz_transaction_tracker.cpp"
#undef LLVMFuzzerTestOneInput

namespace {

using entry = int (*)(const std::uint8_t*, std::size_t);

std::size_t replay(const std::string& target, entry fn) {
  namespace fs = std::filesystem;
  std::size_t n = 0;
  for (const char* kind : {"corpus", "regressions"}) {
    const fs::path dir = fs::path(PGSTEER_SOURCE_DIR) / "tests/fuzz" / kind / target;
    if (!fs::is_directory(dir)) continue;
    for (const auto& file : fs::directory_iterator(dir)) {
      std::ifstream in(file.path(), std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
      INFO(file.path().string());
      CHECK(fn(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()) == 0);
      ++n;
    }
  }
  return n;
}

}  // namespace

TEST_CASE("fuzz corpora and crash regressions replay cleanly", "[protocol][fuzz]") {
  CHECK(replay("framer", fuzz_framer_one) > 0);
  CHECK(replay("startup", fuzz_startup_one) > 0);
  CHECK(replay("messages", fuzz_messages_one) > 0);
  CHECK(replay("scram", fuzz_scram_one) > 0);
  CHECK(replay("classifier", fuzz_classifier_one) > 0);
  CHECK(replay("transaction_tracker", fuzz_transaction_tracker_one) > 0);
}
