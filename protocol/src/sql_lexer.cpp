// SQL tokenizer (see sql_lexer.hpp). Follows PostgreSQL's scan.l where it matters for finding
// token boundaries: nested block comments, '' inside strings, backslashes in E'' strings, ""
// inside identifiers, and dollar quotes with optional tags.
#include "sql_lexer.hpp"

namespace pgsteer::protocol {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_ident_char(char c) {
  return is_ident_start(c) || is_digit(c) || c == '$';
}
bool is_op_char(char c) {
  switch (c) {
    case '+':
    case '-':
    case '*':
    case '/':
    case '<':
    case '>':
    case '=':
    case '~':
    case '!':
    case '@':
    case '#':
    case '%':
    case '^':
    case '&':
    case '|':
    case '`':
    case '?':
      return true;
    default:
      return false;
  }
}

}  // namespace

bool iequals(std::string_view text, std::string_view lower) {
  if (text.size() != lower.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

bool sql_lexer::skip_space_and_comments() {
  while (pos_ < s_.size()) {
    const char c = s_[pos_];
    if (is_space(c)) {
      ++pos_;
    } else if (c == '-' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '-') {
      const auto start = pos_ + 2;
      auto end = s_.find('\n', start);
      if (end == std::string_view::npos) end = s_.size();
      if (comment_handler_ != nullptr)
        comment_handler_(comment_ctx_, s_.substr(start, end - start));
      pos_ = end;
    } else if (c == '/' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '*') {
      const auto start = pos_ + 2;
      int depth = 1;
      pos_ += 2;
      while (pos_ < s_.size() && depth > 0) {
        if (s_[pos_] == '/' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '*') {
          ++depth;
          pos_ += 2;
        } else if (s_[pos_] == '*' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '/') {
          --depth;
          pos_ += 2;
        } else {
          ++pos_;
        }
      }
      if (depth > 0) return false;
      if (comment_handler_ != nullptr) {
        comment_handler_(comment_ctx_, s_.substr(start, pos_ - 2 - start));
      }
    } else {
      break;
    }
  }
  return true;
}

token sql_lexer::lex_quoted(std::size_t start, std::size_t body, char quote, bool backslash_escapes,
                            token_kind kind) {
  std::size_t i = body;
  while (i < s_.size()) {
    const char c = s_[i];
    if (backslash_escapes && c == '\\') {
      i += 2;
      continue;
    }
    if (c == quote) {
      if (i + 1 < s_.size() && s_[i + 1] == quote) {
        i += 2;
        continue;
      }
      pos_ = i + 1;
      return {kind, s_.substr(body, i - body)};
    }
    ++i;
  }
  pos_ = s_.size();
  return {token_kind::error, s_.substr(start)};
}

token sql_lexer::lex_dollar(std::size_t start) {
  // $n is a parameter; $tag$ or $$ opens a dollar quote; anything else is an operator-ish '$'.
  std::size_t i = start + 1;
  if (i < s_.size() && is_digit(s_[i])) {
    while (i < s_.size() && is_digit(s_[i])) ++i;
    pos_ = i;
    return {token_kind::parameter, s_.substr(start, i - start)};
  }
  if (i < s_.size() && is_ident_start(s_[i])) {
    while (i < s_.size() && is_ident_char(s_[i]) && s_[i] != '$') ++i;
  }
  if (i >= s_.size() || s_[i] != '$') {
    pos_ = start + 1;
    return {token_kind::op, s_.substr(start, 1)};
  }
  const auto tag = s_.substr(start, i + 1 - start);  // "$tag$"
  const auto body = i + 1;
  const auto close = s_.find(tag, body);
  if (close == std::string_view::npos) {
    pos_ = s_.size();
    return {token_kind::error, s_.substr(start)};
  }
  pos_ = close + tag.size();
  return {token_kind::string, s_.substr(body, close - body)};
}

token sql_lexer::next() {
  if (!skip_space_and_comments()) {
    pos_ = s_.size();
    return {token_kind::error, {}};
  }
  if (pos_ >= s_.size()) return {token_kind::end, {}};
  const std::size_t start = pos_;
  const char c = s_[pos_];
  const char n = pos_ + 1 < s_.size() ? s_[pos_ + 1] : '\0';

  if (c == '\'') return lex_quoted(start, start + 1, '\'', false, token_kind::string);
  if (c == '"') return lex_quoted(start, start + 1, '"', false, token_kind::quoted_identifier);
  if ((c == 'e' || c == 'E') && n == '\'') {
    return lex_quoted(start, start + 2, '\'', true, token_kind::string);
  }
  if ((c == 'b' || c == 'B' || c == 'x' || c == 'X' || c == 'n' || c == 'N') && n == '\'') {
    return lex_quoted(start, start + 2, '\'', false, token_kind::string);
  }
  if ((c == 'u' || c == 'U') && n == '&' && pos_ + 2 < s_.size()) {
    if (s_[pos_ + 2] == '\'') return lex_quoted(start, start + 3, '\'', false, token_kind::string);
    if (s_[pos_ + 2] == '"') {
      return lex_quoted(start, start + 3, '"', false, token_kind::quoted_identifier);
    }
  }
  if (c == '$') return lex_dollar(start);
  if (is_ident_start(c)) {
    while (pos_ < s_.size() && is_ident_char(s_[pos_])) ++pos_;
    return {token_kind::word, s_.substr(start, pos_ - start)};
  }
  if (is_digit(c) || (c == '.' && is_digit(n))) {
    ++pos_;
    while (pos_ < s_.size() && (is_ident_char(s_[pos_]) || s_[pos_] == '.')) ++pos_;
    return {token_kind::number, s_.substr(start, pos_ - start)};
  }
  switch (c) {
    case '(':
    case ')':
    case ',':
    case ';':
    case '[':
    case ']':
    case '.':
    case ':':
      ++pos_;
      return {token_kind::punct, s_.substr(start, 1)};
    default:
      break;
  }
  if (is_op_char(c)) {
    // One character at a time: a comment start inside an operator run is still a comment.
    ++pos_;
    return {token_kind::op, s_.substr(start, 1)};
  }
  ++pos_;  // anything else (stray bytes) is an operator-like token
  return {token_kind::op, s_.substr(start, 1)};
}

}  // namespace pgsteer::protocol
