// `options` in a StartupMessage, read as PostgreSQL's backend reads it.
#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include "pgsteer/protocol/startup_options.hpp"

using namespace pgsteer::protocol;
using settings = std::vector<std::pair<std::string, std::string>>;

TEST_CASE("options split at whitespace, a backslash keeps the next character",
          "[protocol][startup]") {
  using words = std::vector<std::string>;
  CHECK(split_startup_options("") == words{});
  CHECK(split_startup_options("   ") == words{});
  CHECK(split_startup_options("-c a=1") == words{"-c", "a=1"});
  CHECK(split_startup_options("  -c\ta=1 \n --b=2 ") == words{"-c", "a=1", "--b=2"});
  CHECK(split_startup_options(R"(-c search_path=a\ b)") == words{"-c", "search_path=a b"});
  CHECK(split_startup_options(R"(-c x=a\\b)") == words{"-c", R"(x=a\b)"});
  CHECK(split_startup_options(R"(-c x=trailing\)") == words{"-c", R"(x=trailing\)"});
}

TEST_CASE("settings given as -c, -cname and --name are read in order", "[protocol][startup]") {
  struct row {
    const char* options;
    settings want;
  };
  const std::vector<row> table = {
      {"", {}},
      {"-c intervalstyle=postgres_verbose", {{"intervalstyle", "postgres_verbose"}}},
      {"-cgeqo=off", {{"geqo", "off"}}},
      {"--extra-float-digits=3", {{"extra_float_digits", "3"}}},
      {"-c a=1 --b=2 -cc=3", {{"a", "1"}, {"b", "2"}, {"c", "3"}}},
      {R"(-c DateStyle=Postgres,\ MDY)", {{"DateStyle", "Postgres, MDY"}}},
      {"-c x=", {{"x", ""}}},
      {"-c x=a=b", {{"x", "a=b"}}},
      {"-c a=1 -c a=2", {{"a", "1"}, {"a", "2"}}},
  };
  for (const auto& r : table) {
    INFO(r.options);
    const auto got = parse_startup_options(r.options);
    REQUIRE_FALSE(got.error);
    CHECK(got.settings == r.want);
  }
}

TEST_CASE("options that cannot be pooled or lack a value are refused as PostgreSQL words it",
          "[protocol][startup]") {
  struct row {
    const char* options;
    const char* code;
    const char* message;
  };
  const std::vector<row> table = {
      {"-c", "42601", "-c requires a value"},
      {"-c geqo", "42601", "-c geqo requires a value"},
      {"--geqo", "42601", "--geqo requires a value"},
      {"-c =1", "42601", "-c =1 requires a value"},
      {"-e", "0A000", "pgsteer does not pass the command-line switch \"-e\" in options"},
      {"-c a=1 -B 100", "0A000", "pgsteer does not pass the command-line switch \"-B\" in options"},
      {"plain", "0A000", "pgsteer does not pass the command-line switch \"plain\" in options"},
  };
  for (const auto& r : table) {
    INFO(r.options);
    const auto got = parse_startup_options(r.options);
    REQUIRE(got.error);
    CHECK(got.error->severity == "FATAL");
    CHECK(got.error->code == r.code);
    CHECK(got.error->message == r.message);
  }
}
