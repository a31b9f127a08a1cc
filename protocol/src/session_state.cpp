// Session state a query string creates or ends (see session_state.hpp). Reads tokens from the
// lexer statement by statement with one token of lookahead; a statement's first words say what
// it is, and every function call in it is looked at for advisory locks and set_config.
#include "pgsteer/protocol/session_state.hpp"

#include <algorithm>
#include <array>
#include <iterator>

#include "pgsteer/protocol/sql_lexer.hpp"

namespace pgsteer::protocol {
namespace {

using kind = session_effect_kind;

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string folded(std::string_view word) {
  std::string out(word);
  for (char& c : out) c = lower(c);
  return out;
}

bool is_word(const token& t, std::string_view lower_word) {
  return t.kind == token_kind::word && iequals(t.text, lower_word);
}

bool is_punct(const token& t, char c) {
  return (t.kind == token_kind::punct || t.kind == token_kind::op) && t.text.size() == 1 &&
         t.text[0] == c;
}

bool ends_statement(const token& t) {
  return t.kind == token_kind::end || t.kind == token_kind::error || is_punct(t, ';');
}

// Parameters whose list values PostgreSQL quotes as identifiers (GUC_LIST_QUOTE): their value
// read back is not the text of a string given to SET.
bool quotes_list_items(std::string_view name) {
  static constexpr std::array<std::string_view, 6> names{"search_path",
                                                         "temp_tablespaces",
                                                         "session_preload_libraries",
                                                         "local_preload_libraries",
                                                         "shared_preload_libraries",
                                                         "unix_socket_directories"};
  return std::find(names.begin(), names.end(), name) != names.end();
}

// A bare identifier PostgreSQL would neither fold nor quote: a-z, 0-9, _ and $, not first a digit.
bool is_plain_identifier(std::string_view text) {
  if (text.empty() || (text[0] >= '0' && text[0] <= '9') || text[0] == '$') return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '$';
  });
}

// The settings that are the session's role: SET of them pins, whatever the spelling.
bool is_role(std::string_view name) {
  return name == "role" || name == "session_authorization";
}

// Tokens of one statement at a time: once a statement's `;` (or the end) has been read, next()
// and peek() keep returning it until resume(), so a reader that takes one token too many stops
// at its own statement's end instead of reading into the next statement.
class reader {
 public:
  explicit reader(std::string_view sql) : sql_(sql), lex_(sql) {}

  token next() {
    if (at_end_) return end_;
    token t;
    if (has_peeked_) {
      has_peeked_ = false;
      t = peeked_;
    } else {
      t = lex_.next();
    }
    if (ends_statement(t)) {
      at_end_ = true;
      end_ = t;
    }
    return t;
  }
  const token& peek() {
    if (at_end_) return end_;
    if (!has_peeked_) {
      peeked_ = lex_.next();
      has_peeked_ = true;
    }
    return peeked_;
  }

  // The text of a string token as the server reads it, or false when pgsteer cannot be sure
  // (escapes of E'', bit strings, Unicode escapes).
  bool string_value(const token& t, std::string& out) const {
    if (t.flags & token_flag_unicode) return false;
    const auto at = static_cast<std::size_t>(t.text.data() - sql_.data());
    if (at >= 1 && sql_[at - 1] == '$') {  // $tag$body$tag$: as written
      out.assign(t.text);
      return true;
    }
    const char prefix = at >= 2 ? lower(sql_[at - 2]) : ' ';
    if (prefix == 'b' || prefix == 'x') return false;
    if (prefix == 'e' && t.text.find('\\') != std::string_view::npos) return false;
    out.clear();
    for (std::size_t i = 0; i < t.text.size(); ++i) {
      out += t.text[i];
      if (t.text[i] == '\'' && i + 1 < t.text.size() && t.text[i + 1] == '\'') ++i;
    }
    return true;
  }

  // The next statement's tokens, after the `;` that ended this one.
  void resume() { at_end_ = false; }

 private:
  std::string_view sql_;
  sql_lexer lex_;
  token peeked_;
  token end_;
  bool has_peeked_ = false;
  bool at_end_ = false;
};

// An identifier as the server resolves it: folded unless quoted. false for anything else.
bool identifier(const token& t, std::string& out) {
  if (t.kind == token_kind::word) {
    out = folded(t.text);
    return true;
  }
  if (t.kind == token_kind::quoted_identifier && !(t.flags & token_flag_unicode)) {
    out.assign(t.text);
    if (t.flags & token_flag_doubled_quote) {
      std::string undone;
      for (std::size_t i = 0; i < out.size(); ++i) {
        undone += out[i];
        if (out[i] == '"' && i + 1 < out.size() && out[i + 1] == '"') ++i;
      }
      out = std::move(undone);
    }
    return true;
  }
  return false;
}

class statement_reader {
 public:
  statement_reader(reader& in, std::vector<session_effect>& out) : in_(in), out_(out) {}

  // Reads one statement whose first token is `first`, through its `;` (or the end).
  void read(const token& first) {
    if (first.kind != token_kind::word) {
      scan_rest(first);
      return;
    }
    const std::string_view w = first.text;
    if (iequals(w, "create")) return create();
    if (iequals(w, "declare")) return declare();
    if (iequals(w, "close")) return named(kind::closes_cursor, "all");
    if (iequals(w, "listen")) return named(kind::listens, {});
    if (iequals(w, "unlisten")) return named(kind::unlistens, "*");
    if (iequals(w, "prepare")) return prepare();
    if (iequals(w, "deallocate")) {
      if (is_word(in_.peek(), "prepare")) in_.next();
      return named(kind::deallocates, "all");
    }
    if (iequals(w, "discard")) return discard();
    if (iequals(w, "set")) return set();
    if (iequals(w, "reset")) return reset();
    if (iequals(w, "select") || iequals(w, "with")) return select();
    scan_rest(in_.next());
  }

 private:
  void emit(kind k, std::string name = {}, std::string value = {}) {
    // The role is a setting too (SET role = x, set_config('role', ...)): state that pins.
    if (k != kind::resets_role && k != kind::sets_role && is_role(name)) {
      if (k == kind::sets || k == kind::sets_unknown) k = kind::sets_role;
      if (k == kind::resets) k = kind::resets_role;
      value.clear();
    }
    out_.push_back({k, std::move(name), std::move(value)});
  }

  // The rest of the statement from `t`: function calls that lock or set.
  void scan_rest(token t) {
    while (!ends_statement(t)) {
      t = call_at(t);
    }
  }
  void skip_rest(token t) {
    while (!ends_statement(t)) t = in_.next();
  }

  // Looks at `t` as a possible function name; returns the token after what it read.
  token call_at(const token& t) {
    if (t.kind != token_kind::word || !is_punct(in_.peek(), '(')) return in_.next();
    const std::string_view name = t.text;
    if (iequals(name, "pg_advisory_lock") || iequals(name, "pg_advisory_lock_shared") ||
        iequals(name, "pg_try_advisory_lock") || iequals(name, "pg_try_advisory_lock_shared")) {
      emit(kind::locks_advisory);
    } else if (iequals(name, "pg_advisory_unlock_all")) {
      emit(kind::unlocks_advisory_all);
    } else if (iequals(name, "set_config")) {
      in_.next();  // (
      return set_config();
    }
    return in_.next();
  }

  // set_config(name, value, is_local) with literal arguments is a SET (or nothing, when local);
  // anything else is a setting pgsteer cannot follow. Reads through the closing parenthesis.
  token set_config() {
    std::array<std::vector<token>, 3> args;
    std::size_t arg = 0;
    int depth = 1;
    token t = in_.next();
    for (; !ends_statement(t); t = in_.next()) {
      if (is_punct(t, '(')) ++depth;
      if (is_punct(t, ')') && --depth == 0) break;
      if (depth == 1 && is_punct(t, ',')) {
        ++arg;
        continue;
      }
      if (arg < args.size()) args[arg].push_back(t);
    }
    if (ends_statement(t)) return t;
    const auto& local = args[2];
    if (local.size() == 1 && (is_word(local[0], "true") || is_word(local[0], "on"))) {
      return in_.next();
    }
    std::string name, value;
    const bool literal = arg == 2 && args[0].size() == 1 && args[1].size() == 1 &&
                         local.size() == 1 && is_word(local[0], "false") &&
                         args[0][0].kind == token_kind::string &&
                         args[1][0].kind == token_kind::string && in_string(args[0][0], name) &&
                         in_string(args[1][0], value);
    if (literal && !quotes_list_items(folded(name))) {
      emit(kind::sets, folded(name), std::move(value));
    } else {
      emit(kind::sets_unknown, literal ? folded(name) : std::string());
    }
    return in_.next();
  }
  bool in_string(const token& t, std::string& out) const { return in_.string_value(t, out); }

  // CREATE [OR REPLACE] [GLOBAL | LOCAL] {TEMP | TEMPORARY} [UNLOGGED] ..., or an object in
  // pg_temp; not when the table goes at commit (ON COMMIT DROP).
  void create() {
    bool temp = false;
    token t = in_.next();
    while (is_word(t, "or") || is_word(t, "replace") || is_word(t, "global") ||
           is_word(t, "local") || is_word(t, "temp") || is_word(t, "temporary") ||
           is_word(t, "unlogged")) {
      temp = temp || is_word(t, "temp") || is_word(t, "temporary");
      t = in_.next();
    }
    bool on = false, commit = false, drop_at_commit = false;
    while (!ends_statement(t)) {
      if (is_word(t, "pg_temp") && is_punct(in_.peek(), '.')) temp = true;
      drop_at_commit = drop_at_commit || (commit && is_word(t, "drop"));
      commit = on && is_word(t, "commit");
      on = is_word(t, "on");
      t = call_at(t);
    }
    if (temp && !drop_at_commit) emit(kind::creates_temp);
  }

  // SELECT ... INTO [TEMP | TEMPORARY] table
  void select() {
    token t = in_.next();
    while (!ends_statement(t)) {
      if (is_word(t, "into")) {
        t = in_.next();
        if (is_word(t, "local") || is_word(t, "global")) t = in_.next();
        if (is_word(t, "temp") || is_word(t, "temporary")) emit(kind::creates_temp);
        continue;
      }
      t = call_at(t);
    }
  }

  // DECLARE name [BINARY] [ASENSITIVE | INSENSITIVE] [[NO] SCROLL] CURSOR [WITH | WITHOUT HOLD]
  // FOR query
  void declare() {
    std::string name;
    token t = in_.next();
    if (!identifier(t, name)) return skip_rest(t);
    bool with = false;
    for (t = in_.next(); !ends_statement(t) && !is_word(t, "for"); t = in_.next()) {
      if (with && is_word(t, "hold")) {
        emit(kind::holds_cursor, name);
        break;
      }
      with = is_word(t, "with");
    }
    scan_rest(t);
  }

  // A statement naming one thing, or all of them (`all`: that word, or "*").
  void named(kind k, std::string_view all) {
    token t = in_.next();
    std::string name;
    if (!all.empty() && (all == "*" ? is_punct(t, '*') : is_word(t, all))) {
      emit(k);
    } else if (identifier(t, name)) {
      emit(k, std::move(name));
    }
    if (!ends_statement(t)) skip_rest(in_.next());
  }

  // PREPARE name [(types)] AS statement; PREPARE TRANSACTION is two-phase commit, not this. The
  // statement runs only at EXECUTE, on this pinned server: nothing in it is looked at here.
  void prepare() {
    token t = in_.next();
    std::string name;
    if (!is_word(t, "transaction") && identifier(t, name)) emit(kind::prepares, std::move(name));
    skip_rest(t);
  }

  void discard() {
    token t = in_.next();
    if (is_word(t, "all")) emit(kind::discards_all);
    if (is_word(t, "temp") || is_word(t, "temporary")) emit(kind::drops_temp);
    skip_rest(t);
  }

  void reset() {
    token t = in_.next();
    if (is_word(t, "all")) {
      emit(kind::resets_all);
    } else if (is_word(t, "role")) {
      emit(kind::resets_role, "role");
    } else if (is_word(t, "session") && is_word(in_.peek(), "authorization")) {
      t = in_.next();
      emit(kind::resets_role, "session_authorization");
    } else if (is_word(t, "time") && is_word(in_.peek(), "zone")) {
      t = in_.next();
      emit(kind::resets, "timezone");
    } else if (std::string name; dotted_name(t, name)) {
      emit(kind::resets, std::move(name));
      return skip_rest(t);
    }
    skip_rest(t);
  }

  // name[.name...] from `t` on; `t` is left at the token after it.
  bool dotted_name(token& t, std::string& name) {
    if (!identifier(t, name)) return false;
    t = in_.next();
    std::string part;
    while (is_punct(t, '.')) {
      t = in_.next();
      if (!identifier(t, part)) return false;
      name += '.';
      name += part;
      t = in_.next();
    }
    return true;
  }

  void set() {
    token t = in_.next();
    if (is_word(t, "local") || is_word(t, "transaction")) return skip_rest(t);
    if (is_word(t, "session")) {
      if (is_word(in_.peek(), "characteristics")) return characteristics();
      t = in_.next();  // SET SESSION name ..., SET SESSION AUTHORIZATION ...
      if (is_word(t, "authorization")) {
        t = in_.next();
        emit(is_word(t, "default") ? kind::resets_role : kind::sets_role, "session_authorization");
        return skip_rest(t);
      }
    }
    if (is_word(t, "role")) {  // SET ROLE name | NONE, or as a setting: SET role TO name | DEFAULT
      t = in_.next();
      if (is_word(t, "to") || is_punct(t, '=')) t = in_.next();
      const bool back = is_word(t, "none") || is_word(t, "default");
      emit(back ? kind::resets_role : kind::sets_role, "role");
      return skip_rest(t);
    }
    std::string name;
    if (is_word(t, "time") && is_word(in_.peek(), "zone")) {
      in_.next();
      name = "timezone";
      t = in_.next();
      if (is_word(t, "local")) t = {token_kind::word, token_flag_none, "default"};
    } else if (is_word(t, "names") || is_word(t, "schema")) {
      name = is_word(t, "names") ? "client_encoding" : "search_path";
      t = in_.next();
    } else if (is_word(t, "xml") && is_word(in_.peek(), "option")) {
      in_.next();
      name = "xmloption";
      t = in_.next();
    } else {
      if (!dotted_name(t, name)) return skip_rest(t);
      if (!is_word(t, "to") && !is_punct(t, '=')) return skip_rest(t);
      t = in_.next();
    }
    value(name, t);
  }

  // The value list of a SET from `t`; emits sets, resets or sets_unknown.
  void value(const std::string& name, token t) {
    if (is_word(t, "default")) {
      emit(kind::resets, name);
      return skip_rest(in_.next());
    }
    const bool list_quoted = quotes_list_items(name);
    std::string joined, item;
    std::size_t items = 0;
    bool readable = true;
    for (;;) {
      std::string sign;
      if (is_punct(t, '-') || is_punct(t, '+')) {
        if (t.text[0] == '-') sign = "-";
        t = in_.next();
      }
      if (t.kind == token_kind::string && sign.empty()) {
        readable = readable && in_.string_value(t, item);
      } else if (t.kind == token_kind::number) {
        item = sign + std::string(t.text);
      } else if (t.kind == token_kind::word && sign.empty()) {
        item = folded(t.text);
      } else {
        readable = false;
      }
      // Items PostgreSQL would quote (a list parameter, or any list) are not read here.
      if (list_quoted && !is_plain_identifier(item)) readable = false;
      ++items;
      joined += (items > 1 ? ", " : "") + item;
      t = in_.next();
      if (!is_punct(t, ',')) break;
      t = in_.next();
    }
    if (items > 1 && !list_quoted) readable = false;
    if (!ends_statement(t)) readable = false;
    if (readable) {
      emit(kind::sets, name, std::move(joined));
    } else {
      emit(kind::sets_unknown, name);
    }
    skip_rest(t);
  }

  // SET SESSION CHARACTERISTICS AS TRANSACTION mode [, ...]: the default_transaction_* settings.
  void characteristics() {
    in_.next();  // characteristics
    token t = in_.next();
    if (!is_word(t, "as") || !is_word(t = in_.next(), "transaction")) {
      emit(kind::sets_unknown);
      return skip_rest(t);
    }
    std::vector<session_effect> modes;
    bool known = true;
    for (t = in_.next(); !ends_statement(t); t = in_.next()) {
      if (is_punct(t, ',')) continue;
      if (is_word(t, "isolation") && is_word(in_.peek(), "level")) {
        in_.next();
        std::string level = folded(in_.next().text);
        if (level == "read" || level == "repeatable") {
          level += ' ' + folded(in_.next().text);
        }
        known = known && (level == "serializable" || level == "repeatable read" ||
                          level == "read committed" || level == "read uncommitted");
        modes.push_back({kind::sets, "default_transaction_isolation", level});
      } else if (is_word(t, "read")) {
        const token mode = in_.next();
        known = known && (is_word(mode, "only") || is_word(mode, "write"));
        modes.push_back(
            {kind::sets, "default_transaction_read_only", is_word(mode, "only") ? "on" : "off"});
      } else if (is_word(t, "deferrable")) {
        modes.push_back({kind::sets, "default_transaction_deferrable", "on"});
      } else if (is_word(t, "not") && is_word(in_.peek(), "deferrable")) {
        in_.next();
        modes.push_back({kind::sets, "default_transaction_deferrable", "off"});
      } else {
        known = false;
      }
    }
    if (!known || modes.empty()) {
      emit(kind::sets_unknown);
      return;
    }
    for (auto& m : modes) out_.push_back(std::move(m));
  }

  reader& in_;
  std::vector<session_effect>& out_;
};

// The words find_triggers() looks for, and what finding one means; by first letter.
struct trigger_word {
  std::string_view word;
  bool effects;
  bool resets;
};
constexpr trigger_word trigger_words[] = {
    {"advisory", true, false}, {"close", true, false},   {"deallocate", true, false},
    {"declare", true, false},  {"default", false, true}, {"discard", true, true},
    {"listen", true, false},   {"prepare", true, false}, {"reset", true, true},
    {"set", true, false},   // SET, set_config
    {"temp", true, false},  // TEMP, TEMPORARY, pg_temp
};
// For each byte: the second letters (bit k: 'a' + k, either case) that begin a trigger word
// after it, and where its words are in trigger_words. Most bytes of a query begin none, and are
// passed over with one load.
struct trigger_start {
  std::uint32_t pairs = 0;
  std::uint8_t begin = 0;
  std::uint8_t end = 0;
};
constexpr std::array<trigger_start, 256> trigger_starts = [] {
  std::array<trigger_start, 256> t{};
  for (std::uint8_t i = 0; i < std::size(trigger_words); ++i) {
    const auto word = trigger_words[i].word;
    for (const char c : {word[0], static_cast<char>(word[0] - 'a' + 'A')}) {
      auto& start = t[static_cast<unsigned char>(c)];
      if (start.pairs == 0) start.begin = i;
      start.end = static_cast<std::uint8_t>(i + 1);
      start.pairs |= std::uint32_t{1} << (word[1] - 'a');
    }
  }
  return t;
}();
static_assert(std::is_sorted(std::begin(trigger_words), std::end(trigger_words),
                             [](const auto& a, const auto& b) { return a.word[0] < b.word[0]; }),
              "trigger_words is kept by first letter: a letter's words are one run");

}  // namespace

sql_triggers find_triggers(std::string_view sql) {
  sql_triggers found;
  auto at = [&](std::size_t i, std::string_view word) {  // word[0] already matched
    if (sql.size() - i < word.size()) return false;
    for (std::size_t k = 1; k < word.size(); ++k) {
      if (static_cast<char>(sql[i + k] | 0x20) != word[k]) return false;
    }
    return true;
  };
  for (std::size_t i = 0; i + 1 < sql.size(); ++i) {
    const trigger_start& start = trigger_starts[static_cast<unsigned char>(sql[i])];
    if (start.pairs == 0) continue;
    const unsigned second = static_cast<unsigned char>(sql[i + 1] | 0x20) - unsigned{'a'};
    if (second >= 26 || ((start.pairs >> second) & 1) == 0) continue;
    for (auto k = start.begin; k < start.end; ++k) {
      const auto& trigger = trigger_words[k];
      if (at(i, trigger.word)) {
        found.effects |= trigger.effects;
        found.resets |= trigger.resets;
      }
    }
    if (found.effects && found.resets) break;
  }
  return found;
}

std::vector<session_effect> session_effects(std::string_view sql) {
  return session_effects(sql, find_triggers(sql));
}

std::vector<session_effect> session_effects(std::string_view sql, const sql_triggers& found) {
  std::vector<session_effect> out;
  if (!found.effects) return out;
  reader in(sql.substr(0, sql.find('\0')));
  statement_reader statement(in, out);
  for (;;) {
    in.resume();
    const token t = in.next();
    if (t.kind == token_kind::end || t.kind == token_kind::error) break;
    if (is_punct(t, ';')) continue;
    statement.read(t);
  }
  return out;
}

std::string_view pin_label(session_effect_kind k) {
  switch (k) {
    case kind::creates_temp:
      return "temp";
    case kind::locks_advisory:
      return "advisory_lock";
    case kind::holds_cursor:
      return "cursor";
    case kind::listens:
      return "listen";
    case kind::prepares:
      return "prepare";
    case kind::sets_role:
      return "role";
    case kind::sets_unknown:
      return "setting";
    default:
      return {};
  }
}

}  // namespace pgsteer::protocol
