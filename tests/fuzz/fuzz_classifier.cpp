// Fuzzes the SQL lexer and classifier with properties, not only for crashes: tokens stay inside
// the input and the lexer always reaches the end; a write next to any text is never called read;
// a leading hint comment changes nothing but the hint. Also replayed by the unit tests
// (tests/unit/protocol/fuzz_regressions_test.cpp), so names stay in their own namespace.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "pgsteer/protocol/classifier.hpp"
#include "pgsteer/protocol/session_state.hpp"
#include "pgsteer/protocol/sql_lexer.hpp"

namespace fuzz_classifier_detail {

using namespace pgsteer::protocol;

void check_lexer(std::string_view sql, bool standard_strings) {
  sql_lexer lexer(sql, standard_strings);
  std::size_t last = 0;
  // Every token consumes at least one byte, so size + 1 calls must reach the end.
  for (std::size_t i = 0; i <= sql.size() + 1; ++i) {
    const token t = lexer.next();
    if (!t.text.empty() &&
        (t.text.data() < sql.data() || t.text.data() + t.text.size() > sql.data() + sql.size())) {
      __builtin_trap();
    }
    if (lexer.position() < last || lexer.position() > sql.size()) __builtin_trap();
    last = lexer.position();
    if (t.kind == token_kind::end) return;
    if (t.kind == token_kind::error) {
      if (lexer.next().kind != token_kind::end) __builtin_trap();
      return;
    }
  }
  __builtin_trap();
}

void check_classifier(std::string_view sql) {
  static const function_policy policy = [] {
    function_policy p;
    p.add_write_function("fuzz_write");
    p.set_volatile_functions({"fuzz_volatile", "random"});
    return p;
  }();
  const classification c = classify(sql, policy);
  const classification again = classify(sql, policy);
  if (c.kind != again.kind || c.first != again.first || c.hint != again.hint ||
      c.statements != again.statements) {
    __builtin_trap();
  }
  if (c.multi_statement != (c.statements > 1)) __builtin_trap();
  if (c.begins_read_only && c.first != statement_type::begin &&
      c.first != statement_type::set_transaction) {
    __builtin_trap();
  }

  // The server stops at a NUL, and so does classify(): text appended after one is not seen.
  if (sql.find('\0') != std::string_view::npos) return;

  // Whatever precedes or follows it, a DELETE is never routed to a replica. The newline ends a
  // trailing -- comment; an open quote or block comment makes the whole text unknown.
  std::string with_write(sql);
  with_write += "\n;delete from t";
  if (classify(with_write, policy).kind == sql_kind::read) __builtin_trap();
  std::string write_first = "delete from t;";
  write_first += sql;
  if (classify(write_first, policy).kind == sql_kind::read) __builtin_trap();

  // A leading hint comment is reported and changes nothing else.
  std::string hinted = "/* pgsteer:primary */ ";
  hinted += sql;
  const classification h = classify(hinted, policy);
  if (h.hint != route_hint::primary || h.kind != c.kind || h.first != c.first ||
      h.begins_read_only != c.begins_read_only || h.statements != c.statements) {
    __builtin_trap();
  }
}

// Session effects: never a crash, and every statement's effects are found whatever precedes
// it: a LISTEN after any well-formed text (a line comment ends at the newline) still pins.
void check_session_effects(std::string_view sql) {
  // The one-pass trigger scan agrees with the plain way: fold ASCII case, look for each word.
  std::string folded(sql);
  for (auto& c : folded) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  auto has = [&](std::string_view word) { return folded.find(word) != std::string::npos; };
  const bool want_effects = has("temp") || has("advisory") || has("declare") || has("deallocate") ||
                            has("discard") || has("close") || has("listen") || has("prepare") ||
                            has("set");
  const bool want_resets = has("reset") || has("discard") || has("default");
  const auto found = find_triggers(sql);
  if (found.effects != want_effects || found.resets != want_resets) __builtin_trap();

  const auto effects = session_effects(sql);
  for (const auto& e : effects) {
    if (e.kind != session_effect_kind::sets && !e.value.empty()) __builtin_trap();
  }
  if (sql.find('\0') != std::string_view::npos) return;
  // Malformed text (an open quote, comment or dollar string) swallows what follows: classify()
  // calls such text a write, not unknown, so ask the lexer whether the text ends cleanly.
  sql_lexer lexer(sql, true);
  for (token t = lexer.next(); t.kind != token_kind::end; t = lexer.next()) {
    if (t.kind == token_kind::error) return;
  }
  const auto more = session_effects(std::string(sql) + "\n;LISTEN fuzz_channel");
  if (more.empty() || more.back().kind != session_effect_kind::listens ||
      more.back().name != "fuzz_channel") {
    __builtin_trap();
  }
}

}  // namespace fuzz_classifier_detail

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view sql(reinterpret_cast<const char*>(data), size);
  fuzz_classifier_detail::check_lexer(sql, true);
  fuzz_classifier_detail::check_lexer(sql, false);
  fuzz_classifier_detail::check_classifier(sql);
  fuzz_classifier_detail::check_session_effects(sql);
  return 0;
}
