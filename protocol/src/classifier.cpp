// SQL read/write classification (see classifier.hpp and docs/routing.md). Works statement by
// statement over tokens; a statement is read only when its form is known read-only and nothing in
// it (a data-modifying CTE, a locking clause, SELECT INTO, a write function) makes it a write.
#include "pgsteer/protocol/classifier.hpp"

#include <algorithm>
#include <array>
#include <span>

#include "sql_lexer.hpp"

namespace pgsteer::protocol {
namespace {

using tokens = std::span<const token>;

constexpr std::array builtin_write_functions = {
    "currval",
    "dblink_exec",
    "lastval",
    "nextval",
    "pg_create_logical_replication_slot",
    "pg_create_physical_replication_slot",
    "pg_create_restore_point",
    "pg_current_xact_id",
    "pg_current_xact_id_if_assigned",
    "pg_drop_replication_slot",
    "pg_notify",
    "pg_replication_origin_create",
    "pg_switch_wal",
    "set_config",
    "setval",
    "txid_current",
    "txid_current_if_assigned",
};
constexpr std::array builtin_write_prefixes = {"lo_", "pg_advisory_", "pg_try_advisory_"};
// VOLATILE in the catalog, but they read or compute and change nothing.
constexpr std::array read_safe_volatile = {
    "clock_timestamp", "gen_random_uuid",  "pg_sleep",         "pg_sleep_for",
    "pg_sleep_until",  "random",           "random_normal",    "statement_timestamp",
    "timeofday",       "uuid_generate_v1", "uuid_generate_v4",
};

// Lower-cases an unquoted identifier into `buf` (identifiers are at most 63 bytes).
std::string_view fold(std::string_view name, std::array<char, 64>& buf) {
  const auto n = std::min(name.size(), buf.size());
  for (std::size_t i = 0; i < n; ++i) {
    const char c = name[i];
    buf[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return {buf.data(), n};
}

bool sorted_contains(const std::vector<std::string>& v, std::string_view name) {
  const auto it = std::lower_bound(v.begin(), v.end(), name,
                                   [](const std::string& a, std::string_view b) { return a < b; });
  return it != v.end() && *it == name;
}

bool is_word(const token& t, std::string_view kw) {
  return t.kind == token_kind::word && iequals(t.text, kw);
}
bool is_punct(const token& t, char c) {
  return t.kind == token_kind::punct && t.text.size() == 1 && t.text[0] == c;
}
bool word_at(tokens t, std::size_t i, std::string_view kw) {
  return i < t.size() && is_word(t[i], kw);
}

struct verdict {
  sql_kind kind = sql_kind::unknown;
  statement_type type = statement_type::other;
  bool read_only_transaction = false;
};

// Index just past the parenthesis that closes the one at `open`, or t.size().
std::size_t matching_paren(tokens t, std::size_t open) {
  int depth = 0;
  for (std::size_t i = open; i < t.size(); ++i) {
    if (is_punct(t[i], '(')) ++depth;
    if (is_punct(t[i], ')') && --depth == 0) return i + 1;
  }
  return t.size();
}

// A query that looks read-only: look for anything in it, at any depth, that writes.
sql_kind read_check(tokens t, const function_policy& policy) {
  for (std::size_t i = 0; i < t.size(); ++i) {
    const token& tok = t[i];
    const bool call = i + 1 < t.size() && is_punct(t[i + 1], '(');
    if (tok.kind == token_kind::quoted_identifier) {
      if (call && policy.is_write(tok.text)) return sql_kind::write;
      continue;
    }
    if (tok.kind != token_kind::word) continue;
    // INSERT/UPDATE/DELETE/MERGE anywhere: a data-modifying CTE or FOR [NO KEY] UPDATE.
    if (iequals(tok.text, "insert") || iequals(tok.text, "update") || iequals(tok.text, "delete") ||
        iequals(tok.text, "merge")) {
      return sql_kind::write;
    }
    // FOR SHARE / FOR KEY SHARE lock rows: only the primary can.
    if (iequals(tok.text, "share") && i > 0 &&
        (is_word(t[i - 1], "for") || is_word(t[i - 1], "key"))) {
      return sql_kind::write;
    }
    // SELECT ... INTO creates a table.
    if (iequals(tok.text, "into")) return sql_kind::write;
    if (call) {
      std::array<char, 64> buf;
      if (policy.is_write(fold(tok.text, buf))) return sql_kind::write;
    }
  }
  return sql_kind::read;
}

verdict classify_statement(tokens t, const function_policy& policy);

verdict classify_transaction_modes(tokens t, std::size_t from, statement_type type) {
  // READ ONLY makes it readable anywhere; READ WRITE (or nothing) means the primary.
  for (std::size_t i = from; i + 1 < t.size(); ++i) {
    if (is_word(t[i], "read") && is_word(t[i + 1], "only")) return {sql_kind::read, type, true};
    if (is_word(t[i], "read") && is_word(t[i + 1], "write")) return {sql_kind::write, type, false};
  }
  return {type == statement_type::begin ? sql_kind::write : sql_kind::read, type, false};
}

verdict classify_explain(tokens t, const function_policy& policy) {
  std::size_t i = 1;
  bool analyze = false;
  if (i < t.size() && is_punct(t[i], '(')) {
    const auto end = matching_paren(t, i);
    for (std::size_t k = i + 1; k + 1 < end; ++k) {
      if (is_word(t[k], "analyze") || is_word(t[k], "analyse")) {
        const bool off =
            k + 1 < end && (is_word(t[k + 1], "false") || is_word(t[k + 1], "off") ||
                            (t[k + 1].kind == token_kind::number && t[k + 1].text == "0"));
        analyze = analyze || !off;
      }
    }
    i = end;
  } else {
    while (i < t.size() &&
           (is_word(t[i], "analyze") || is_word(t[i], "analyse") || is_word(t[i], "verbose"))) {
      if (!is_word(t[i], "verbose")) analyze = true;
      ++i;
    }
  }
  const verdict inner = classify_statement(t.subspan(std::min(i, t.size())), policy);
  // Without ANALYZE the statement is only planned, which a replica can do for any statement.
  if (!analyze) {
    return {inner.type == statement_type::other ? sql_kind::unknown : sql_kind::read,
            statement_type::explain, false};
  }
  return {inner.kind, statement_type::explain, false};
}

verdict classify_copy(tokens t, const function_policy& policy) {
  // COPY (query) TO ...: as the query. COPY table [(cols)] FROM ...: a write. COPY table TO: read.
  if (t.size() > 1 && is_punct(t[1], '(')) {
    const auto end = matching_paren(t, 1);
    const verdict inner = classify_statement(t.subspan(2, end - 1 - 2), policy);
    if (inner.type != statement_type::select_like) return {sql_kind::write, statement_type::copy};
    return {inner.kind, statement_type::copy};
  }
  for (std::size_t i = 1; i < t.size(); ++i) {
    if (is_punct(t[i], '(')) {
      i = matching_paren(t, i) - 1;
      continue;
    }
    if (is_word(t[i], "from")) return {sql_kind::write, statement_type::copy};
    if (is_word(t[i], "to")) return {sql_kind::read, statement_type::copy};
  }
  return {sql_kind::unknown, statement_type::copy};
}

verdict classify_statement(tokens t, const function_policy& policy) {
  // Leading parentheses: (SELECT ...) UNION (SELECT ...).
  std::size_t i = 0;
  while (i < t.size() && is_punct(t[i], '(')) ++i;
  if (i >= t.size()) return {sql_kind::read, statement_type::empty};
  const token& head = t[i];
  if (head.kind != token_kind::word) return {};
  const auto rest = t.subspan(i);
  const auto& w = head.text;

  if (iequals(w, "select") || iequals(w, "values") || iequals(w, "table") || iequals(w, "with")) {
    return {read_check(rest, policy), statement_type::select_like};
  }
  if (iequals(w, "show")) return {sql_kind::read, statement_type::show};
  if (iequals(w, "explain")) return classify_explain(rest, policy);
  if (iequals(w, "begin")) return classify_transaction_modes(rest, 1, statement_type::begin);
  if (iequals(w, "start")) {
    if (!word_at(rest, 1, "transaction")) return {};
    return classify_transaction_modes(rest, 2, statement_type::begin);
  }
  if (iequals(w, "commit") || iequals(w, "end")) {
    if (word_at(rest, 1, "prepared")) return {sql_kind::write, statement_type::two_phase};
    return {sql_kind::read, statement_type::commit};
  }
  if (iequals(w, "rollback") || iequals(w, "abort")) {
    if (word_at(rest, 1, "prepared")) return {sql_kind::write, statement_type::two_phase};
    return {sql_kind::read, statement_type::rollback};
  }
  if (iequals(w, "savepoint") || iequals(w, "release"))
    return {sql_kind::read, statement_type::other};
  if (iequals(w, "set")) {
    std::size_t k = 1;
    if (word_at(rest, k, "session") && word_at(rest, k + 1, "characteristics")) k += 3;
    if (word_at(rest, 1, "local") || word_at(rest, 1, "session")) {
      if (!word_at(rest, 2, "characteristics")) k = 2;
    }
    if (word_at(rest, k, "transaction")) {
      return classify_transaction_modes(rest, k + 1, statement_type::set_transaction);
    }
    return {sql_kind::read, statement_type::set};
  }
  if (iequals(w, "reset")) return {sql_kind::read, statement_type::set};
  if (iequals(w, "discard")) return {sql_kind::read, statement_type::discard};
  if (iequals(w, "deallocate")) return {sql_kind::read, statement_type::deallocate};
  if (iequals(w, "prepare")) {
    if (word_at(rest, 1, "transaction")) return {sql_kind::write, statement_type::two_phase};
    for (std::size_t k = 1; k < rest.size(); ++k) {
      if (is_word(rest[k], "as")) {
        const verdict inner = classify_statement(rest.subspan(k + 1), policy);
        return {inner.kind, statement_type::prepare};
      }
    }
    return {sql_kind::unknown, statement_type::prepare};
  }
  if (iequals(w, "execute")) return {sql_kind::unknown, statement_type::execute};
  if (iequals(w, "copy")) return classify_copy(rest, policy);
  if (iequals(w, "declare")) {
    for (std::size_t k = 1; k < rest.size(); ++k) {
      if (is_word(rest[k], "for")) {
        const verdict inner = classify_statement(rest.subspan(k + 1), policy);
        return {inner.kind, statement_type::cursor};
      }
    }
    return {sql_kind::unknown, statement_type::cursor};
  }
  if (iequals(w, "fetch") || iequals(w, "move") || iequals(w, "close")) {
    return {sql_kind::read, statement_type::cursor};
  }
  if (iequals(w, "listen") || iequals(w, "unlisten") || iequals(w, "notify")) {
    return {sql_kind::write, statement_type::listen};
  }
  if (iequals(w, "insert") || iequals(w, "update") || iequals(w, "delete") || iequals(w, "merge")) {
    return {sql_kind::write, statement_type::dml};
  }
  if (iequals(w, "call") || iequals(w, "do")) return {sql_kind::write, statement_type::call};
  static constexpr std::array ddl = {
      "alter",  "analyze",  "analyse",  "checkpoint", "cluster",  "comment", "create",
      "drop",   "grant",    "import",   "lock",       "reassign", "refresh", "reindex",
      "revoke", "security", "truncate", "vacuum",     "load",
  };
  for (const auto kw : ddl) {
    if (iequals(w, kw)) return {sql_kind::write, statement_type::ddl};
  }
  return {};
}

route_hint hint_of(std::string_view comment) {
  const auto first = comment.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return route_hint::none;
  comment.remove_prefix(first);
  comment = comment.substr(0, comment.find_last_not_of(" \t\r\n") + 1);
  if (iequals(comment, "pgsteer:primary")) return route_hint::primary;
  if (iequals(comment, "pgsteer:replica")) return route_hint::replica;
  return route_hint::none;
}

}  // namespace

function_policy::function_policy() {
  for (const auto* name : builtin_write_functions) write_.emplace_back(name);
  std::sort(write_.begin(), write_.end());
}

void function_policy::add_write_function(std::string_view name) {
  std::array<char, 64> buf;
  const std::string folded(fold(name, buf));
  if (!sorted_contains(write_, folded)) {
    write_.insert(std::upper_bound(write_.begin(), write_.end(), folded), folded);
  }
}

void function_policy::set_volatile_functions(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  volatile_ = std::move(names);
}

bool function_policy::is_write(std::string_view name) const {
  if (sorted_contains(write_, name)) return true;
  for (const auto* prefix : builtin_write_prefixes) {
    if (name.starts_with(prefix)) return true;
  }
  if (!volatile_.empty() && sorted_contains(volatile_, name)) {
    return std::find(read_safe_volatile.begin(), read_safe_volatile.end(), name) ==
           read_safe_volatile.end();
  }
  return false;
}

classification classify(std::string_view sql, const function_policy& policy) {
  classification result;
  sql_lexer lexer(sql);
  auto on_comment = [&result](std::string_view comment) {
    if (result.hint == route_hint::none) result.hint = hint_of(comment);
  };
  lexer.on_comment(on_comment);

  // Reused per thread: classification runs for every transaction and must not allocate.
  thread_local std::vector<token> statement;
  int statements = 0;
  bool done = false;
  while (!done) {
    statement.clear();
    while (true) {
      const token t = lexer.next();
      if (t.kind == token_kind::error) {
        result.kind = sql_kind::unknown;
        if (statements == 0) result.first = statement_type::other;
        return result;
      }
      if (t.kind == token_kind::end) {
        done = true;
        break;
      }
      if (is_punct(t, ';')) break;
      statement.push_back(t);
    }
    if (statement.empty()) continue;
    const verdict v = classify_statement(statement, policy);
    if (statements == 0) {
      result.first = v.type;
      result.begins_read_only = v.read_only_transaction;
    }
    ++statements;
    switch (v.type) {
      case statement_type::begin:
      case statement_type::commit:
      case statement_type::rollback:
      case statement_type::two_phase:
        result.transaction_control = true;
        break;
      default:
        break;
    }
    if (v.kind == sql_kind::write) {
      result.kind = sql_kind::write;
    } else if (v.kind == sql_kind::unknown && result.kind == sql_kind::read) {
      result.kind = sql_kind::unknown;
    }
  }
  result.multi_statement = statements > 1;
  return result;
}

}  // namespace pgsteer::protocol
