// JSON escaping for log.format json: whatever a message holds, the line stays one valid JSON
// object (RFC 8259 string escapes; invalid UTF-8 replaced).
#include <catch2/catch.hpp>

#include <string>

#include "pgsteer/proxy/log_format.hpp"

namespace {

std::string escaped(std::string_view text) {
  std::string out;
  pgsteer::proxy::append_json_escaped(text, out);
  return out;
}

}  // namespace

TEST_CASE("append_json_escaped escapes what JSON requires and keeps the rest", "[log]") {
  struct row {
    std::string in, out;
  };
  const row rows[] = {
      {"plain text", "plain text"},
      {R"(said "hi")", R"(said \"hi\")"},
      {R"(C:\dir)", R"(C:\\dir)"},
      {"two\nlines\r\n\tend", R"(two\nlines\r\n\tend)"},
      {std::string("nul\0byte", 8), R"(nul\u0000byte)"},
      {"bell\x07 del\x7f", R"(bell\u0007 del\u007f)"},
      {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
      {"bad \xff byte", R"(bad \ufffd byte)"},
      {"cut \xc3", R"(cut \ufffd)"},
      {"overlong \xc0\xaf", R"(overlong \ufffd\ufffd)"},
      {"surrogate \xed\xa0\x80", R"(surrogate \ufffd\ufffd\ufffd)"},
  };
  for (const auto& r : rows) {
    INFO(r.in);
    CHECK(escaped(r.in) == r.out);
  }
}
