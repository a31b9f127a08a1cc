// SASLprep of passwords. Expected values follow PostgreSQL's src/common/saslprep.c and were
// checked against a Python model of it (stringprep + unicodedata.normalize('NFKC')); RFC 4013
// section 3 examples where they apply.
#include <catch2/catch.hpp>

#include <string>

#include "pgsteer/protocol/saslprep.hpp"

using namespace pgsteer::protocol;
using namespace std::string_literals;

namespace {
struct sample {
  const char* what;
  std::string input;
  std::string expected;
  saslprep_status status;
};
}  // namespace

TEST_CASE("SASLprep maps, prohibits and passes through as PostgreSQL does",
          "[protocol][saslprep]") {
  using enum saslprep_status;
  const sample samples[] = {
      {"ASCII is never touched", "pencil", "pencil", unchanged},
      {"ASCII control characters too (PostgreSQL's quick path)", "a\tb\x7f", "a\tb\x7f", unchanged},
      {"empty", "", "", unchanged},
      {"precomposed Latin", "p\xC3\xA4ssw\xC3\xB6rd", "p\xC3\xA4ssw\xC3\xB6rd", unchanged},
      {"Cyrillic", "\xD0\xBF\xD0\xB0\xD1\x80\xD0\xBE\xD0\xBB\xD1\x8C",
       "\xD0\xBF\xD0\xB0\xD1\x80\xD0\xBE\xD0\xBB\xD1\x8C", unchanged},
      {"CJK", "\xE5\xAF\x86\xE7\xA0\x81", "\xE5\xAF\x86\xE7\xA0\x81", unchanged},
      {"Hangul syllables", "\xEB\xB9\x84\xEB\xB0\x80", "\xEB\xB9\x84\xEB\xB0\x80", unchanged},
      {"RFC 4013: soft hyphen mapped to nothing", "I\xC2\xADX", "IX", prepared},
      {"no-break and ideographic spaces become U+0020", "a\xC2\xA0\xC3\xA4\xE3\x80\x80z",
       "a \xC3\xA4 z", prepared},
      {"zero width space is a space (C.1.2 before B.1)", "\xC3\xA4\xE2\x80\x8B", "\xC3\xA4 ",
       prepared},
      {"byte order mark removed", "\xEF\xBB\xBFp\xC3\xA4", "p\xC3\xA4", prepared},
      {"Hebrew, right-to-left throughout", "\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D",
       "\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D", unchanged},
      {"RFC 4013: U+0627 U+0031 breaks the bidi rule",
       "\xD8\xA7"
       "1",
       "\xD8\xA7"
       "1",
       raw},
      {"RandALCat with a Latin letter",
       "\xD8\xA7"
       "a\xD8\xA8",
       "\xD8\xA7"
       "a\xD8\xA8",
       raw},
      {"RFC 4013: U+0007 is prohibited (in a non-ASCII string)", "\xC3\xA4\x07", "\xC3\xA4\x07",
       raw},
      {"private use is prohibited", "\xEE\x80\x80\xC3\xA4", "\xEE\x80\x80\xC3\xA4", raw},
      {"only mapped-to-nothing characters", "\xC2\xAD", "\xC2\xAD", raw},
      {"not UTF-8", "\xFF\xFEpw", "\xFF\xFEpw", raw},
      {"overlong UTF-8", "\xC0\xAFpw", "\xC0\xAFpw", raw},
      {"UTF-8 surrogate", "\xED\xA0\x80", "\xED\xA0\x80", raw},
      {"truncated UTF-8", "pw\xC3", "pw\xC3", raw},
      {"above U+10FFFF", "\xF4\x90\x80\x80", "\xF4\x90\x80\x80", raw},
      // PostgreSQL would normalise these (to "a", "IX", "fi", "pä..."): pgsteer says so.
      {"RFC 4013: U+00AA needs NFKC", "\xC2\xAA", "\xC2\xAA", unsupported},
      {"RFC 4013: U+2168 needs NFKC", "\xE2\x85\xA8", "\xE2\x85\xA8", unsupported},
      {"ligature needs NFKC", "\xEF\xAC\x81", "\xEF\xAC\x81", unsupported},
      {"combining diaeresis needs composition", "pa\xCC\x88", "pa\xCC\x88", unsupported},
  };
  for (const auto& s : samples) {
    INFO(s.what);
    const auto r = saslprep(s.input);
    CHECK(r.password == s.expected);
    CHECK(r.status == s.status);
  }
}
