// SQL tokenizer (see sql_lexer.hpp). Follows PostgreSQL's scan.l where it decides token
// boundaries: nested block comments, '' inside strings, backslashes in E'' strings, "" inside
// identifiers, dollar quotes with optional tags, and numbers that never swallow a '$'.
#include "pgsteer/protocol/sql_lexer.hpp"

#include <array>

namespace pgsteer::protocol {
namespace {

// Character classes by table: the lexer asks for every byte of every query.
enum : std::uint8_t {
  cc_space = 1,
  cc_ident_start = 2,  // letters, '_', and every byte >= 0x80 (scan.l's ident_start)
  cc_digit = 4,
  cc_dollar = 8,
};

constexpr std::array<std::uint8_t, 256> char_classes = [] {
  std::array<std::uint8_t, 256> t{};
  for (const char c : {' ', '\t', '\n', '\r', '\f', '\v'})
    t[static_cast<unsigned char>(c)] = cc_space;
  for (int c = 'a'; c <= 'z'; ++c) t[static_cast<std::size_t>(c)] = cc_ident_start;
  for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<std::size_t>(c)] = cc_ident_start;
  t['_'] = cc_ident_start;
  for (std::size_t c = 0x80; c < 0x100; ++c) t[c] = cc_ident_start;
  for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = cc_digit;
  t['$'] = cc_dollar;
  return t;
}();

std::uint8_t char_class(char c) {
  return char_classes[static_cast<unsigned char>(c)];
}
bool is_space(char c) {
  return (char_class(c) & cc_space) != 0;
}
bool is_ident_start(char c) {
  return (char_class(c) & cc_ident_start) != 0;
}
bool is_digit(char c) {
  return (char_class(c) & cc_digit) != 0;
}
// Unquoted identifiers may contain '$' after the first character (scan.l's ident_cont).
bool is_ident_char(char c) {
  return (char_class(c) & (cc_ident_start | cc_digit | cc_dollar)) != 0;
}
// Dollar-quote tags may not contain '$' (scan.l's dolq_cont).
bool is_tag_char(char c) {
  return (char_class(c) & (cc_ident_start | cc_digit)) != 0;
}

}  // namespace

bool sql_lexer::skip_space_and_comments() {
  while (pos_ < s_.size()) {
    const char c = s_[pos_];
    const char n = pos_ + 1 < s_.size() ? s_[pos_ + 1] : '\0';
    if (is_space(c)) {
      ++pos_;
    } else if (c == '-' && n == '-') {
      const auto start = pos_ + 2;
      auto end = s_.find_first_of("\r\n", start);
      if (end == std::string_view::npos) end = s_.size();
      if (comment_handler_ != nullptr)
        comment_handler_(comment_ctx_, s_.substr(start, end - start));
      pos_ = end;
    } else if (c == '/' && n == '*') {
      // Block comments nest in PostgreSQL, unlike in the SQL standard.
      const auto start = pos_ + 2;
      std::size_t depth = 1;
      std::size_t i = start;
      while (i < s_.size()) {
        const char d = s_[i];
        const char e = i + 1 < s_.size() ? s_[i + 1] : '\0';
        if (d == '/' && e == '*') {
          ++depth;
          i += 2;
        } else if (d == '*' && e == '/') {
          i += 2;
          if (--depth == 0) break;
        } else {
          ++i;
        }
      }
      if (depth > 0) {
        pos_ = s_.size();
        return false;
      }
      pos_ = i;
      if (comment_handler_ != nullptr) {
        comment_handler_(comment_ctx_, s_.substr(start, i - 2 - start));
      }
    } else {
      break;
    }
  }
  return true;
}

token sql_lexer::lex_quoted(std::size_t start, std::size_t body, char quote, bool backslash_escapes,
                            token_kind kind, std::uint8_t flags) {
  std::size_t i = body;
  while (i < s_.size()) {
    const char c = s_[i];
    if (c == '\\' && quote == '\'' && kind == token_kind::string) {
      if (!backslash_escapes) {
        flags = static_cast<std::uint8_t>(flags | token_flag_backslash);
      } else {
        i += 2;  // the escaped character, whatever it is, cannot end the string
        continue;
      }
    }
    if (c == quote) {
      if (i + 1 < s_.size() && s_[i + 1] == quote) {
        if (kind == token_kind::quoted_identifier) {
          flags = static_cast<std::uint8_t>(flags | token_flag_doubled_quote);
        }
        i += 2;
        continue;
      }
      pos_ = i + 1;
      return {kind, flags, s_.substr(body, i - body)};
    }
    ++i;
  }
  pos_ = s_.size();
  return {token_kind::error, token_flag_none, s_.substr(start)};
}

token sql_lexer::lex_dollar(std::size_t start) {
  // $n is a parameter; $tag$ or $$ opens a dollar quote; any other '$' is a stray character.
  std::size_t i = start + 1;
  if (i < s_.size() && is_digit(s_[i])) {
    while (i < s_.size() && is_digit(s_[i])) ++i;
    pos_ = i;
    return {token_kind::parameter, token_flag_none, s_.substr(start, i - start)};
  }
  if (i < s_.size() && is_ident_start(s_[i])) {
    while (i < s_.size() && is_tag_char(s_[i])) ++i;
  }
  if (i >= s_.size() || s_[i] != '$') {
    pos_ = start + 1;
    return {token_kind::op, token_flag_none, s_.substr(start, 1)};
  }
  const auto tag = s_.substr(start, i + 1 - start);  // "$tag$" or "$$"
  const auto body = i + 1;
  // Linear: the tag holds no '$' but its ends, so each candidate match fails by the next '$'.
  const auto close = s_.find(tag, body);
  if (close == std::string_view::npos) {
    pos_ = s_.size();
    return {token_kind::error, token_flag_none, s_.substr(start)};
  }
  pos_ = close + tag.size();
  return {token_kind::string, token_flag_none, s_.substr(body, close - body)};
}

token sql_lexer::lex_number(std::size_t start) {
  // digits [. digits] [e [+-] digits], or . digits ...; trailing letters start a new token,
  // which PostgreSQL 15 rejects as junk and older versions read as an alias: either way no '$'
  // or quote is swallowed here.
  std::size_t i = start;
  while (i < s_.size() && is_digit(s_[i])) ++i;
  if (i < s_.size() && s_[i] == '.' && !(i + 1 < s_.size() && s_[i + 1] == '.')) {
    ++i;
    while (i < s_.size() && is_digit(s_[i])) ++i;
  }
  if (i < s_.size() && (s_[i] == 'e' || s_[i] == 'E')) {
    std::size_t j = i + 1;
    if (j < s_.size() && (s_[j] == '+' || s_[j] == '-')) ++j;
    if (j < s_.size() && is_digit(s_[j])) {
      while (j < s_.size() && is_digit(s_[j])) ++j;
      i = j;
    }
  }
  pos_ = i;
  return {token_kind::number, token_flag_none, s_.substr(start, i - start)};
}

token sql_lexer::next() {
  if (!skip_space_and_comments()) return {token_kind::error, token_flag_none, {}};
  if (pos_ >= s_.size()) return {token_kind::end, token_flag_none, {}};
  const std::size_t start = pos_;
  const char c = s_[pos_];
  const char n = pos_ + 1 < s_.size() ? s_[pos_ + 1] : '\0';
  const char n2 = pos_ + 2 < s_.size() ? s_[pos_ + 2] : '\0';

  if (c == '\'') {
    return lex_quoted(start, start + 1, '\'', !standard_strings_, token_kind::string,
                      token_flag_none);
  }
  if (c == '"') {
    return lex_quoted(start, start + 1, '"', false, token_kind::quoted_identifier, token_flag_none);
  }
  if ((c == 'e' || c == 'E') && n == '\'') {
    return lex_quoted(start, start + 2, '\'', true, token_kind::string, token_flag_none);
  }
  if ((c == 'b' || c == 'B' || c == 'x' || c == 'X' || c == 'n' || c == 'N') && n == '\'') {
    return lex_quoted(start, start + 2, '\'', !standard_strings_, token_kind::string,
                      token_flag_none);
  }
  if ((c == 'u' || c == 'U') && n == '&') {
    // In U&'...' a backslash starts a Unicode escape and never escapes the quote.
    if (n2 == '\'') {
      return lex_quoted(start, start + 3, '\'', false, token_kind::string, token_flag_unicode);
    }
    if (n2 == '"') {
      return lex_quoted(start, start + 3, '"', false, token_kind::quoted_identifier,
                        token_flag_unicode);
    }
  }
  if (c == '$') return lex_dollar(start);
  if (is_ident_start(c)) {
    while (pos_ < s_.size() && is_ident_char(s_[pos_])) ++pos_;
    return {token_kind::word, token_flag_none, s_.substr(start, pos_ - start)};
  }
  if (is_digit(c) || (c == '.' && is_digit(n))) return lex_number(start);
  ++pos_;
  switch (c) {
    case '(':
    case ')':
    case ',':
    case ';':
    case '[':
    case ']':
    case '.':
    case ':':
      return {token_kind::punct, token_flag_none, s_.substr(start, 1)};
    default:
      // One operator character at a time, so that a comment start inside an operator run is
      // still seen as a comment (scan.l stops an operator at "--" and "/*" too).
      return {token_kind::op, token_flag_none, s_.substr(start, 1)};
  }
}

}  // namespace pgsteer::protocol
