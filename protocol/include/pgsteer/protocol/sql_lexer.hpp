// A PostgreSQL SQL tokenizer just deep enough for the read/write classifier: it knows where
// comments, strings, quoted identifiers and dollar quotes begin and end, so that nothing inside
// them is mistaken for a keyword. It never reads past the end, never allocates, and reports text
// that ends inside a quote or a comment as an error token.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pgsteer::protocol {

enum class token_kind : std::uint8_t {
  word,               // keyword or identifier, unquoted, as written (not case-folded)
  quoted_identifier,  // "..." or U&"...": the text between the quotes, escapes not undone
  string,             // '...', E'...', U&'...', B'...', X'...', N'...', $tag$...$tag$: the body
  number,
  parameter,  // $1
  punct,      // ( ) , ; [ ] . :
  op,         // one operator character, or any other stray byte
  end,
  error,  // unterminated string, quoted identifier, dollar quote or block comment
};

// Facts about a token's spelling that matter to callers.
enum token_flag : std::uint8_t {
  token_flag_none = 0,
  // U&"..." or U&'...': the text may contain \XXXX escapes, so it is not the name it spells.
  token_flag_unicode = 1,
  // A quoted identifier that contains "" (the text still has both quotes).
  token_flag_doubled_quote = 2,
  // A plain '...' string containing a backslash: with standard_conforming_strings off the
  // server would read it differently.
  token_flag_backslash = 4,
};

struct token {
  token_kind kind = token_kind::end;
  std::uint8_t flags = token_flag_none;
  std::string_view text;  // a view into the lexer's input
};

// Reads tokens one at a time from a view the caller keeps alive. Not thread-safe (one lexer per
// call), cheap to construct.
class sql_lexer {
 public:
  // `standard_conforming_strings` false makes backslash an escape inside plain '...' strings, as
  // a server with that setting off (or escape_string_warning-era clients) reads them.
  explicit sql_lexer(std::string_view sql, bool standard_conforming_strings = true)
      : s_(sql), standard_strings_(standard_conforming_strings) {}

  token next();

  // Every comment skipped is reported to `f(std::string_view body)`, in order, without its
  // delimiters. `f` must outlive the lexer.
  template <typename F>
  void on_comment(F& f) {
    comment_handler_ = +[](void* ctx, std::string_view c) { (*static_cast<F*>(ctx))(c); };
    comment_ctx_ = &f;
  }

  // Byte offset of the next unread character.
  std::size_t position() const { return pos_; }

 private:
  bool skip_space_and_comments();  // false on an unterminated block comment
  token lex_quoted(std::size_t start, std::size_t body, char quote, bool backslash_escapes,
                   token_kind kind, std::uint8_t flags);
  token lex_dollar(std::size_t start);
  token lex_number(std::size_t start);

  std::string_view s_;
  std::size_t pos_ = 0;
  bool standard_strings_ = true;
  void (*comment_handler_)(void*, std::string_view) = nullptr;
  void* comment_ctx_ = nullptr;
};

// ASCII case-insensitive comparison of `text` with a lower-case keyword. Inline: the classifier
// calls it for every word it reads.
constexpr bool iequals(std::string_view text, std::string_view lower) {
  if (text.size() != lower.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

}  // namespace pgsteer::protocol
