// The SQL tokenizer under the classifier: where each token starts and ends, which is all that
// keeps a keyword inside a string or comment from being read as a keyword.
#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "pgsteer/protocol/sql_lexer.hpp"

using namespace pgsteer::protocol;

namespace {

// "k:text" per token, k = w(ord) q(uoted identifier) s(tring) n(umber) p(arameter) .(punct)
// o(p) E(rror); the end token is left out.
std::vector<std::string> lex(std::string_view sql, bool standard_strings = true) {
  sql_lexer lexer(sql, standard_strings);
  std::vector<std::string> out;
  for (int guard = 0; guard < 10000; ++guard) {
    const token t = lexer.next();
    char k = '?';
    switch (t.kind) {
      case token_kind::word:
        k = 'w';
        break;
      case token_kind::quoted_identifier:
        k = 'q';
        break;
      case token_kind::string:
        k = 's';
        break;
      case token_kind::number:
        k = 'n';
        break;
      case token_kind::parameter:
        k = 'p';
        break;
      case token_kind::punct:
        k = '.';
        break;
      case token_kind::op:
        k = 'o';
        break;
      case token_kind::error:
        k = 'E';
        break;
      case token_kind::end:
        return out;
    }
    out.push_back(std::string(1, k) + ":" + std::string(t.text));
    if (t.kind == token_kind::error) return out;
  }
  FAIL("the lexer did not reach the end");
  return out;
}

using v = std::vector<std::string>;

}  // namespace

TEST_CASE("words, numbers, parameters and punctuation", "[protocol][sql_lexer]") {
  CHECK(lex("SELECT a, b1 FROM t;") == v{"w:SELECT", "w:a", ".:,", "w:b1", "w:FROM", "w:t", ".:;"});
  CHECK(lex("select foo$bar, x$$y") == v{"w:select", "w:foo$bar", ".:,", "w:x$$y"});
  CHECK(lex("1 1.5 .5 1e10 1.5E-3 2e+4 1..10") ==
        v{"n:1", "n:1.5", "n:.5", "n:1e10", "n:1.5E-3", "n:2e+4", "n:1", ".:.", "n:.10"});
  CHECK(lex("1e") == v{"n:1", "w:e"});
  CHECK(lex("$1 + $23") == v{"p:$1", "o:+", "p:$23"});
  CHECK(lex("a::int[]") == v{"w:a", ".::", ".::", "w:int", ".:[", ".:]"});
  CHECK(lex("a<>b") == v{"w:a", "o:<", "o:>", "w:b"});
  CHECK(lex("\xc3\xa9t\xc3\xa9") == v{"w:\xc3\xa9t\xc3\xa9"});
  CHECK(lex("") == v{});
  CHECK(lex(" \t\r\n\f\v") == v{});
}

TEST_CASE("a number never swallows a dollar quote", "[protocol][sql_lexer]") {
  // PostgreSQL reads 1$a$...$a$ as the number 1 then a dollar-quoted string.
  CHECK(lex("1$a$ x $a$") == v{"n:1", "s: x "});
  CHECK(lex("1$$;delete$$") == v{"n:1", "s:;delete"});
}

TEST_CASE("strings and their escapes", "[protocol][sql_lexer]") {
  CHECK(lex("'abc'") == v{"s:abc"});
  CHECK(lex("'it''s'") == v{"s:it''s"});
  CHECK(lex("''") == v{"s:"});
  CHECK(lex("'a\\'") == v{"s:a\\"});  // standard strings: backslash is a character
  CHECK(lex("E'a\\'b'") == v{"s:a\\'b"});
  CHECK(lex("e'\\\\' x") == v{"s:\\\\", "w:x"});
  CHECK(lex("E'a''b'") == v{"s:a''b"});
  CHECK(lex("U&'d\\0061t'") == v{"s:d\\0061t"});
  CHECK(lex("u&'\\'") == v{"s:\\"});  // in U& strings a backslash never escapes the quote
  CHECK(lex("B'101' X'ff' n'x'") == v{"s:101", "s:ff", "s:x"});
  CHECK(lex("date'2020-01-01'") == v{"w:date", "s:2020-01-01"});
  CHECK(lex("type'x'") == v{"w:type", "s:x"});
  CHECK(lex("'a' 'b'") == v{"s:a", "s:b"});
}

TEST_CASE("standard_conforming_strings off makes backslash an escape", "[protocol][sql_lexer]") {
  CHECK(lex("'a\\'b'", false) == v{"s:a\\'b"});
  CHECK(lex("'a\\'", false) == v{"E:'a\\'"});
  CHECK(lex("N'a\\'b'", false) == v{"s:a\\'b"});
  sql_lexer lexer("'a\\b' 'c'");
  CHECK((lexer.next().flags & token_flag_backslash) != 0);
  CHECK((lexer.next().flags & token_flag_backslash) == 0);
  sql_lexer e_string("E'a\\b'");
  CHECK((e_string.next().flags & token_flag_backslash) == 0);
}

TEST_CASE("quoted identifiers", "[protocol][sql_lexer]") {
  CHECK(lex("\"update\"") == v{"q:update"});
  CHECK(lex("\"a\"\"b\"") == v{"q:a\"\"b"});
  CHECK(lex("\"a;b\".\"c\"") == v{"q:a;b", ".:.", "q:c"});
  CHECK(lex("U&\"d\\0061t\"") == v{"q:d\\0061t"});
  sql_lexer doubled("\"a\"\"b\" \"c\" U&\"d\"");
  CHECK((doubled.next().flags & token_flag_doubled_quote) != 0);
  CHECK(doubled.next().flags == token_flag_none);
  CHECK((doubled.next().flags & token_flag_unicode) != 0);
}

TEST_CASE("dollar quotes", "[protocol][sql_lexer]") {
  CHECK(lex("$$ ; delete $$") == v{"s: ; delete "});
  CHECK(lex("$tag$ $$ x $$ $tag$") == v{"s: $$ x $$ "});
  CHECK(lex("$a$ $b$ $a$ $b$") == v{"s: $b$ ", "E:$b$"});
  CHECK(lex("$_1$x$_1$") == v{"s:x"});
  CHECK(lex("$1$") == v{"p:$1", "o:$"});
  CHECK(lex("$ a") == v{"o:$", "w:a"});
  CHECK(lex("$a b$") == v{"o:$", "w:a", "w:b$"});
  CHECK(lex("$$") == v{"E:$$"});
  CHECK(lex("$Tag$x$tag$") == v{"E:$Tag$x$tag$"});  // tags are case-sensitive
}

TEST_CASE("comments", "[protocol][sql_lexer]") {
  CHECK(lex("a -- delete\nb") == v{"w:a", "w:b"});
  CHECK(lex("a -- delete\rb") == v{"w:a", "w:b"});
  CHECK(lex("a -- delete") == v{"w:a"});
  CHECK(lex("a /* x */ b") == v{"w:a", "w:b"});
  CHECK(lex("a /* x /* y */ z */ b") == v{"w:a", "w:b"});
  CHECK(lex("a /**/ b") == v{"w:a", "w:b"});
  CHECK(lex("a /*/ b */ c") == v{"w:a", "w:c"});
  CHECK(lex("1+--x\n2") == v{"n:1", "o:+", "n:2"});
  CHECK(lex("1*/*x*/2") == v{"n:1", "o:*", "n:2"});
  CHECK(lex("'--' \"/*\"") == v{"s:--", "q:/*"});
  CHECK(lex("/* -- */ a") == v{"w:a"});
  CHECK(lex("-- /*\na") == v{"w:a"});

  std::vector<std::string> seen;
  auto record = [&seen](std::string_view c) { seen.emplace_back(c); };
  sql_lexer lexer("/* one */ a -- two\n /* x /* y */ */ b");
  lexer.on_comment(record);
  while (lexer.next().kind != token_kind::end) {
  }
  CHECK(seen == v{" one ", " two", " x /* y */ "});
}

TEST_CASE("unterminated input ends in an error token, never past the end",
          "[protocol][sql_lexer]") {
  CHECK(lex("select 'abc") == v{"w:select", "E:'abc"});
  CHECK(lex("'it''") == v{"E:'it''"});
  CHECK(lex("E'abc\\'") == v{"E:E'abc\\'"});
  CHECK(lex("E'\\") == v{"E:E'\\"});
  CHECK(lex("\"abc") == v{"E:\"abc"});
  CHECK(lex("$$abc") == v{"E:$$abc"});
  CHECK(lex("$t$abc$t") == v{"E:$t$abc$t"});
  CHECK(lex("a /* b") == v{"w:a", "E:"});
  CHECK(lex("/* /* */") == v{"E:"});
  CHECK(lex("/*") == v{"E:"});
  CHECK(lex("U&'") == v{"E:U&'"});
  CHECK(lex("U&") == v{"w:U", "o:&"});
  CHECK(lex("E") == v{"w:E"});

  // After an error the lexer stays at the end.
  sql_lexer lexer("'x");
  CHECK(lexer.next().kind == token_kind::error);
  CHECK(lexer.next().kind == token_kind::end);
  CHECK(lexer.position() == 2);
}

TEST_CASE("keyword comparison folds ASCII only", "[protocol][sql_lexer]") {
  CHECK(iequals("SeLeCt", "select"));
  CHECK_FALSE(iequals("selec", "select"));
  CHECK_FALSE(iequals("selects", "select"));
  CHECK_FALSE(iequals("S\xc3\x89LECT", "s\xc3\xa9lect"));
  CHECK(iequals("", ""));
}
