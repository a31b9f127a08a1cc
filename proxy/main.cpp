// The pgsteer executable: parse arguments, start, stop. Everything else lives in the libraries.
#include <cstdio>
#include <cstring>
#include <string>

#include "pgsteer/config/config.hpp"
#include "pgsteer/proxy/runtime.hpp"
#include "pgsteer/tls/contexts.hpp"

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: pgsteer -c FILE          run with the configuration in FILE\n"
               "       pgsteer --check -c FILE  validate FILE, print every error, exit 0 or 1\n"
               "       pgsteer --version\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  bool check = false;
  std::string file;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--version") == 0) {
      std::printf("pgsteer %s\n", PGSTEER_VERSION);
      return 0;
    }
    if (std::strcmp(argv[i], "--check") == 0) {
      check = true;
    } else if (std::strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
      file = argv[++i];
    } else {
      return usage();
    }
  }
  if (file.empty()) return usage();

  const auto loaded = pgsteer::config::load_config(file);
  for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
  if (!loaded.value) return 1;
  if (check) {
    // The files tls names must be usable too: pgsteer would refuse to start otherwise.
    const auto tls = pgsteer::tls::build_contexts(loaded.value->tls);
    if (const auto* error = std::get_if<std::string>(&tls)) {
      std::fprintf(stderr, "%s: %s\n", file.c_str(), error->c_str());
      return 1;
    }
    std::printf("%s: configuration is valid\n", file.c_str());
    return 0;
  }
  return pgsteer::proxy::run(*loaded.value, file);
}
