// The pgsteer executable: parse arguments, start, stop. Everything else lives in pgsteer_proxy.
#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--version") == 0) {
      std::printf("pgsteer %s\n", PGSTEER_VERSION);
      return 0;
    }
  }
  std::fprintf(stderr, "usage: pgsteer -c FILE | --check -c FILE | --version\n");
  return 2;
}
