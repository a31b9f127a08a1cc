// A PostgreSQL SQL tokenizer just deep enough for classification: it knows where comments,
// strings, quoted identifiers and dollar quotes begin and end, so that nothing inside them is
// mistaken for a keyword. It never reads past the end; unterminated input yields an error token.
#pragma once

#include <string_view>

namespace pgsteer::protocol {

enum class token_kind {
  word,               // keyword or identifier, unquoted
  quoted_identifier,  // "..." (text without the quotes, escapes not undone)
  string,             // '...', E'...', $tag$...$tag$, U&'...', B'...', X'...'
  number,
  parameter,  // $1
  punct,      // ( ) , ; [ ] . :
  op,         // operator characters
  end,
  error,  // unterminated string, identifier or comment
};

struct token {
  token_kind kind = token_kind::end;
  std::string_view text;
};

class sql_lexer {
 public:
  explicit sql_lexer(std::string_view sql) : s_(sql) {}
  token next();
  // Comments seen so far are reported here, in order, without their delimiters.
  // `f` must outlive the lexer.
  template <typename F>
  void on_comment(F& f) {
    comment_handler_ = +[](void* ctx, std::string_view c) { (*static_cast<F*>(ctx))(c); };
    comment_ctx_ = &f;
  }

 private:
  bool skip_space_and_comments();  // false on an unterminated comment
  token lex_quoted(std::size_t start, std::size_t body, char quote, bool backslash_escapes,
                   token_kind kind);
  token lex_dollar(std::size_t start);

  std::string_view s_;
  std::size_t pos_ = 0;
  void (*comment_handler_)(void*, std::string_view) = nullptr;
  void* comment_ctx_ = nullptr;
};

// ASCII case-insensitive comparison with a lower-case keyword.
bool iequals(std::string_view text, std::string_view lower);

}  // namespace pgsteer::protocol
