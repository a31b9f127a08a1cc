// SQL read/write classification (see classifier.hpp and docs/routing.md). Streams tokens from the
// lexer statement by statement, with one token of lookahead and nothing stored, so classifying
// the first statement of every transaction costs no allocation. A statement is read only when its
// form is known read-only and nothing in it (a data-modifying CTE, a locking clause, SELECT INTO,
// a call of a write function) makes it a write.
#include "pgsteer/protocol/classifier.hpp"

#include <algorithm>
#include <array>
#include <iterator>
#include <limits>

#include "pgsteer/protocol/sql_lexer.hpp"

namespace pgsteer::protocol {
namespace {

// PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes.
constexpr std::size_t max_identifier = 63;
using name_buffer = std::array<char, max_identifier>;

constexpr std::string_view builtin_write_functions[] = {
    // sequences: state lives on the primary (and currval/lastval in the session that called
    // nextval, which only ever runs there)
    "currval", "lastval", "nextval", "setval",
    // session settings that the query expects to persist
    "set_config",
    // large objects without the lo_ prefix
    "loread", "lowrite",
    // notifications and transaction ids: a standby cannot assign an xid
    "pg_notify", "txid_current", "txid_current_if_assigned", "pg_current_xact_id",
    "pg_current_xact_id_if_assigned",
    // WAL positions and control: refused during recovery
    "pg_current_wal_lsn", "pg_current_wal_insert_lsn", "pg_current_wal_flush_lsn",
    "pg_current_xlog_location", "pg_switch_wal", "pg_switch_xlog", "pg_create_restore_point",
    "pg_backup_start", "pg_backup_stop", "pg_start_backup", "pg_stop_backup",
    // replication slots: created, consumed or dropped on the server the client meant
    "pg_create_physical_replication_slot", "pg_create_logical_replication_slot",
    "pg_copy_physical_replication_slot", "pg_copy_logical_replication_slot",
    "pg_drop_replication_slot", "pg_replication_slot_advance", "pg_logical_slot_get_changes",
    "pg_logical_slot_get_binary_changes", "pg_logical_emit_message",
    // server-targeted actions: they act on whichever server runs them
    "pg_export_snapshot", "pg_cancel_backend", "pg_terminate_backend", "pg_reload_conf",
    "pg_rotate_logfile", "pg_promote", "pg_wal_replay_pause", "pg_wal_replay_resume",
    "pg_log_backend_memory_contexts",
    // catalog and index maintenance
    "pg_import_system_collations", "brin_summarize_new_values", "brin_summarize_range",
    "brin_desummarize_range", "gin_clean_pending_list", "pg_nextoid",
    "pg_stop_making_pinned_objects",
    // seeds random() for the session's later queries, which run on the primary
    "setseed"};

// Every function whose name starts with one of these.
constexpr std::string_view builtin_write_prefixes[] = {
    // large objects: lo_import, lo_create, lo_unlink, lo_put, ...
    "lo_",
    // advisory locks only exclude clients that take them on the same server
    "pg_advisory_",
    "pg_try_advisory_",
    // replication origins, statistics resets, pg_upgrade internals
    "pg_replication_origin_",
    "pg_stat_reset",
    "binary_upgrade_",
    // runs arbitrary SQL elsewhere, and keeps named connections in the session
    "dblink",
    // adminpack: pg_file_write, pg_file_unlink, ...
    "pg_file_",
};

// VOLATILE in the catalog, yet they change nothing and are fine on a hot standby. Sorted.
constexpr std::string_view read_safe_volatile[] = {
    "clock_timestamp",
    "current_query",
    "gen_random_uuid",
    "pg_blocking_pids",
    "pg_database_size",
    "pg_get_wal_replay_pause_state",
    "pg_indexes_size",
    "pg_is_in_recovery",
    "pg_is_wal_replay_paused",
    "pg_jit_available",
    "pg_last_wal_receive_lsn",
    "pg_last_wal_replay_lsn",
    "pg_last_xact_replay_timestamp",
    "pg_lock_status",
    "pg_notification_queue_usage",
    "pg_relation_size",
    "pg_safe_snapshot_blocking_pids",
    "pg_sleep",
    "pg_sleep_for",
    "pg_sleep_until",
    "pg_table_size",
    "pg_tablespace_size",
    "pg_total_relation_size",
    "random",
    "random_normal",
    "statement_timestamp",
    "timeofday",
    "uuid_generate_v1",
    "uuid_generate_v1mc",
    "uuid_generate_v4",
    "uuid_generate_v7",
};
static_assert(std::is_sorted(std::begin(read_safe_volatile), std::end(read_safe_volatile)));

// An unquoted identifier as the server resolves it: ASCII lower-cased, truncated.
std::string_view fold(std::string_view name, name_buffer& buf) {
  const auto n = std::min(name.size(), buf.size());
  for (std::size_t i = 0; i < n; ++i) {
    const char c = name[i];
    buf[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return {buf.data(), n};
}

// A quoted identifier's text with "" turned back into ", truncated.
std::string_view unquote(std::string_view text, name_buffer& buf) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < text.size() && n < buf.size(); ++i) {
    buf[n++] = text[i];
    if (text[i] == '"' && i + 1 < text.size() && text[i + 1] == '"') ++i;
  }
  return {buf.data(), n};
}

template <typename Container>
bool sorted_contains(const Container& v, std::string_view name) {
  const auto it = std::lower_bound(std::begin(v), std::end(v), name,
                                   [](const auto& a, std::string_view b) { return a < b; });
  return it != std::end(v) && *it == name;
}

bool is_word(const token& t, std::string_view lower_keyword) {
  return t.kind == token_kind::word && iequals(t.text, lower_keyword);
}
bool is_punct(const token& t, char c) {
  return t.kind == token_kind::punct && t.text.size() == 1 && t.text[0] == c;
}

sql_kind worst(sql_kind a, sql_kind b) {
  if (a == sql_kind::write || b == sql_kind::write) return sql_kind::write;
  if (a == sql_kind::unknown || b == sql_kind::unknown) return sql_kind::unknown;
  return sql_kind::read;
}

// One statement's tokens. At a boundary (';', the end, a lexer error, or a ')' closing the
// parenthesis a nested query sits in) peek() reports the boundary and take() does not move, so a
// handler can never run into the next statement.
class statement_reader {
 public:
  explicit statement_reader(sql_lexer& lexer) : lexer_(lexer) { advance(); }

  const token& peek() const { return at_boundary() ? boundary_ : current_; }

  bool at_boundary() const {
    switch (current_.kind) {
      case token_kind::end:
      case token_kind::error:
        return true;
      case token_kind::punct:
        return is_punct(current_, ';') || (is_punct(current_, ')') && depth_ == limit_);
      default:
        return false;
    }
  }

  token take() {
    if (at_boundary()) return boundary_;
    const token t = current_;
    if (is_punct(t, '(')) ++depth_;
    if (is_punct(t, ')') && depth_ > 0) --depth_;
    advance();
    return t;
  }

  bool take_word(std::string_view lower_keyword) {
    if (!is_word(peek(), lower_keyword)) return false;
    take();
    return true;
  }

  void skip_statement() {
    while (!at_boundary()) take();
  }

  // Makes a ')' at the current depth a boundary; returns the previous limit for restore_limit.
  std::size_t limit_to_current_depth() {
    const auto old = limit_;
    limit_ = depth_;
    return old;
  }
  void restore_limit(std::size_t old) { limit_ = old; }

  bool at_semicolon() const { return is_punct(current_, ';'); }
  bool at_closing_paren() const { return is_punct(current_, ')'); }
  // Steps over the boundary token itself (a ';' between statements, or a nested query's ')').
  void step_over_boundary() {
    if (is_punct(current_, ';')) depth_ = 0;
    if (is_punct(current_, ')') && depth_ > 0) --depth_;
    if (current_.kind != token_kind::end && current_.kind != token_kind::error) advance();
  }

  bool failed() const { return current_.kind == token_kind::error; }

  // Statements nest (EXPLAIN, PREPARE, DECLARE and COPY hold one); the depth is bounded so that
  // "explain explain explain ..." cannot exhaust the stack.
  bool enter_nested() {
    if (nesting_ >= max_nesting) return false;
    ++nesting_;
    return true;
  }
  void leave_nested() { --nesting_; }
  std::size_t depth() const { return depth_; }
  std::uint8_t flags_seen() const { return flags_seen_; }

 private:
  void advance() {
    current_ = lexer_.next();
    flags_seen_ = static_cast<std::uint8_t>(flags_seen_ | current_.flags);
  }

  static constexpr std::size_t no_limit = std::numeric_limits<std::size_t>::max();
  sql_lexer& lexer_;
  token current_;
  token boundary_{};  // kind end
  std::size_t depth_ = 0;
  std::size_t limit_ = no_limit;
  std::uint8_t flags_seen_ = token_flag_none;
  static constexpr int max_nesting = 16;
  int nesting_ = 0;
};

struct transaction_modes {
  bool read_only = false;
  bool read_write = false;
  bool serializable = false;  // a hot standby refuses SERIALIZABLE transactions
  bool snapshot = false;      // SET TRANSACTION SNAPSHOT imports a snapshot from one server
};

struct verdict {
  sql_kind kind = sql_kind::unknown;
  statement_type type = statement_type::other;
  transaction_modes modes{};
  bool session_level = false;  // SET SESSION CHARACTERISTICS: not about this transaction
};

bool name_is_write(const token& name, const function_policy& policy) {
  name_buffer buf;
  if (name.kind == token_kind::word) return policy.is_write(fold(name.text, buf));
  // U&"..." may spell any name with escapes; not worth decoding for a router.
  if ((name.flags & token_flag_unicode) != 0) return true;
  if ((name.flags & token_flag_doubled_quote) != 0) return policy.is_write(unquote(name.text, buf));
  return policy.is_write(name.text.substr(0, std::min(name.text.size(), max_identifier)));
}

// A query that looks read-only: look for anything in it, at any depth, that writes.
sql_kind scan_query(statement_reader& r, const function_policy& policy) {
  token prev{};
  while (!r.at_boundary()) {
    const token t = r.take();
    if (t.kind == token_kind::word) {
      // INSERT/UPDATE/DELETE/MERGE anywhere: a data-modifying CTE, or FOR [NO KEY] UPDATE.
      // SELECT ... INTO creates a table. Deliberately blunt: an unquoted column named "update"
      // costs a trip to the primary, never a wrong answer.
      if (iequals(t.text, "insert") || iequals(t.text, "update") || iequals(t.text, "delete") ||
          iequals(t.text, "merge") || iequals(t.text, "into")) {
        return sql_kind::write;
      }
      // FOR SHARE / FOR KEY SHARE lock rows, which only the primary can.
      if (iequals(t.text, "share") && (is_word(prev, "for") || is_word(prev, "key"))) {
        return sql_kind::write;
      }
    } else if (is_punct(t, '(') &&
               (prev.kind == token_kind::word || prev.kind == token_kind::quoted_identifier)) {
      if (name_is_write(prev, policy)) return sql_kind::write;
    }
    prev = t;
  }
  return sql_kind::read;
}

verdict classify_statement(statement_reader& r, const function_policy& policy);

// The modes after BEGIN, START TRANSACTION, SET TRANSACTION: consumes the rest of the statement.
transaction_modes parse_modes(statement_reader& r) {
  transaction_modes m;
  while (!r.at_boundary()) {
    const token t = r.take();
    if (is_word(t, "read")) {
      if (r.take_word("only")) m.read_only = true;
      if (r.take_word("write")) m.read_write = true;
    } else if (is_word(t, "serializable")) {
      m.serializable = true;
    } else if (is_word(t, "snapshot")) {
      m.snapshot = true;
    }
  }
  return m;
}

bool modes_read_only(const transaction_modes& m) {
  return m.read_only && !m.read_write && !m.serializable && !m.snapshot;
}

verdict classify_explain(statement_reader& r, const function_policy& policy) {
  bool analyze = false;
  if (is_punct(r.peek(), '(')) {
    const auto depth = r.depth();
    r.take();
    while (!r.at_boundary() && r.depth() > depth) {
      const token t = r.take();
      if (!is_word(t, "analyze") && !is_word(t, "analyse")) continue;
      // ANALYZE [boolean]: off only when spelled off.
      const token& v = r.peek();
      const bool off =
          is_word(v, "false") || is_word(v, "off") || is_word(v, "no") ||
          (v.kind == token_kind::number && v.text == "0") ||
          (v.kind == token_kind::string && (iequals(v.text, "false") || iequals(v.text, "off") ||
                                            iequals(v.text, "no") || v.text == "0"));
      analyze = !off;  // the last mention wins, as in the server
    }
  } else {
    while (is_word(r.peek(), "analyze") || is_word(r.peek(), "analyse") ||
           is_word(r.peek(), "verbose")) {
      if (!is_word(r.take(), "verbose")) analyze = true;
    }
  }
  const verdict inner = classify_statement(r, policy);
  if (inner.type == statement_type::other || inner.type == statement_type::empty) {
    return {sql_kind::unknown, statement_type::explain};
  }
  // Without ANALYZE the statement is only planned, which a standby can do for any statement;
  // EXPLAIN EXECUTE still needs the server that holds the prepared statement.
  if (!analyze) {
    return {inner.kind == sql_kind::unknown ? sql_kind::unknown : sql_kind::read,
            statement_type::explain};
  }
  return {inner.kind, statement_type::explain};
}

verdict classify_copy(statement_reader& r, const function_policy& policy) {
  // COPY (query) TO STDOUT reads as its query does; COPY table TO STDOUT reads. COPY ... FROM
  // loads data, and COPY ... TO 'file' / PROGRAM writes on the server's host: both the primary.
  sql_kind source = sql_kind::read;
  if (is_punct(r.peek(), '(')) {
    r.take();
    const auto old = r.limit_to_current_depth();
    const verdict inner = classify_statement(r, policy);
    r.skip_statement();
    r.restore_limit(old);
    if (!r.at_closing_paren()) return {sql_kind::unknown, statement_type::copy};
    r.step_over_boundary();
    source = (inner.type == statement_type::other || inner.type == statement_type::empty)
                 ? sql_kind::unknown
                 : inner.kind;
  }
  while (!r.at_boundary()) {
    const token t = r.take();
    if (is_word(t, "from")) return {sql_kind::write, statement_type::copy};
    if (is_word(t, "to")) {
      if (is_word(r.peek(), "stdout")) return {source, statement_type::copy};
      return {sql_kind::write, statement_type::copy};
    }
  }
  return {sql_kind::unknown, statement_type::copy};
}

verdict classify_set(statement_reader& r) {
  // SET [LOCAL | SESSION] TRANSACTION modes, SET [SESSION] SESSION CHARACTERISTICS AS
  // TRANSACTION modes, or SET [LOCAL | SESSION] name ..., SET ROLE, SET CONSTRAINTS ...
  const bool local = r.take_word("local");
  const bool session = !local && r.take_word("session");
  if (session) r.take_word("session");
  if (session && r.take_word("characteristics")) {
    // The session default for later transactions, not this one.
    const auto m = parse_modes(r);
    return {sql_kind::read, statement_type::set_transaction, m, true};
  }
  if (r.take_word("transaction")) {
    const auto m = parse_modes(r);
    const bool primary_only = m.read_write || m.serializable || m.snapshot;
    return {primary_only ? sql_kind::write : sql_kind::read, statement_type::set_transaction, m};
  }
  // Values after SET are literals or names, never expressions: nothing here calls a function.
  return {sql_kind::read, statement_type::set};
}

verdict classify_prepare(statement_reader& r, const function_policy& policy) {
  if (r.take_word("transaction") && r.peek().kind == token_kind::string) {
    return {sql_kind::write, statement_type::two_phase};
  }
  // PREPARE name [(types)] AS statement. The prepared statement lives on the server that
  // prepared it and EXECUTE goes to the primary, so a read is still `unknown` here.
  const auto depth = r.depth();
  while (!r.at_boundary()) {
    const token t = r.take();
    if (is_word(t, "as") && r.depth() == depth) {
      const verdict inner = classify_statement(r, policy);
      return {inner.kind == sql_kind::write ? sql_kind::write : sql_kind::unknown,
              statement_type::prepare};
    }
  }
  return {sql_kind::unknown, statement_type::prepare};
}

verdict classify_declare(statement_reader& r, const function_policy& policy) {
  // DECLARE name [BINARY] [INSENSITIVE] [[NO] SCROLL] CURSOR [{WITH | WITHOUT} HOLD] FOR query.
  // A cursor WITH HOLD outlives its transaction, so later FETCHes (sent to the primary) must find
  // it there.
  bool hold = false;
  token prev{};
  while (!r.at_boundary()) {
    const token t = r.take();
    if (is_word(t, "hold") && is_word(prev, "with")) hold = true;
    if (is_word(t, "for")) {
      const verdict inner = classify_statement(r, policy);
      if (!hold) return {inner.kind, statement_type::cursor};
      return {inner.kind == sql_kind::write ? sql_kind::write : sql_kind::unknown,
              statement_type::cursor};
    }
    prev = t;
  }
  return {sql_kind::unknown, statement_type::cursor};
}

bool is_ddl_keyword(std::string_view w) {
  static constexpr std::string_view ddl[] = {
      "alter",   "analyse", "analyze",  "checkpoint", "cluster", "comment",  "create",
      "drop",    "grant",   "import",   "load",       "lock",    "reassign", "refresh",
      "reindex", "revoke",  "security", "truncate",   "vacuum",
  };
  return std::any_of(std::begin(ddl), std::end(ddl),
                     [w](std::string_view kw) { return iequals(w, kw); });
}

verdict classify_statement_at(statement_reader& r, const function_policy& policy);

verdict classify_statement(statement_reader& r, const function_policy& policy) {
  if (!r.enter_nested()) return {};
  const verdict v = classify_statement_at(r, policy);
  r.leave_nested();
  return v;
}

verdict classify_statement_at(statement_reader& r, const function_policy& policy) {
  if (r.at_boundary()) return {sql_kind::read, statement_type::empty};
  // (SELECT ...) UNION (SELECT ...): parentheses may only open a query.
  bool parenthesised = false;
  while (is_punct(r.peek(), '(')) {
    r.take();
    parenthesised = true;
  }
  const token& head = r.peek();
  if (head.kind != token_kind::word) return {};
  const auto w = head.text;

  if (iequals(w, "select") || iequals(w, "values") || iequals(w, "table") || iequals(w, "with")) {
    return {scan_query(r, policy), statement_type::select_like};
  }
  if (parenthesised) return {};
  r.take();

  if (iequals(w, "show")) return {sql_kind::read, statement_type::show};
  if (iequals(w, "explain")) return classify_explain(r, policy);
  if (iequals(w, "begin") || (iequals(w, "start") && r.take_word("transaction"))) {
    const auto m = parse_modes(r);
    return {modes_read_only(m) ? sql_kind::read : sql_kind::write, statement_type::begin, m};
  }
  if (iequals(w, "start")) return {};
  if (iequals(w, "commit") || iequals(w, "end")) {
    if (r.take_word("prepared")) return {sql_kind::write, statement_type::two_phase};
    return {sql_kind::read, statement_type::commit};
  }
  if (iequals(w, "rollback") || iequals(w, "abort")) {
    if (r.take_word("prepared")) return {sql_kind::write, statement_type::two_phase};
    while (!r.at_boundary()) {
      if (is_word(r.take(), "to")) return {sql_kind::read, statement_type::savepoint};
    }
    return {sql_kind::read, statement_type::rollback};
  }
  if (iequals(w, "savepoint") || iequals(w, "release")) {
    return {sql_kind::read, statement_type::savepoint};
  }
  if (iequals(w, "set")) return classify_set(r);
  if (iequals(w, "reset")) return {sql_kind::read, statement_type::set};
  if (iequals(w, "discard")) return {sql_kind::read, statement_type::discard};
  if (iequals(w, "deallocate")) {
    r.take_word("prepare");
    // DEALLOCATE name must reach the server that prepared it; DEALLOCATE ALL runs anywhere.
    return {r.take_word("all") ? sql_kind::read : sql_kind::unknown, statement_type::deallocate};
  }
  if (iequals(w, "prepare")) return classify_prepare(r, policy);
  if (iequals(w, "execute")) return {sql_kind::unknown, statement_type::execute};
  if (iequals(w, "copy")) return classify_copy(r, policy);
  if (iequals(w, "declare")) return classify_declare(r, policy);
  if (iequals(w, "fetch") || iequals(w, "move")) {
    return {sql_kind::unknown, statement_type::cursor};
  }
  if (iequals(w, "close")) {
    return {r.take_word("all") ? sql_kind::read : sql_kind::unknown, statement_type::cursor};
  }
  if (iequals(w, "listen") || iequals(w, "unlisten") || iequals(w, "notify")) {
    return {sql_kind::write, statement_type::listen};  // a hot standby refuses them
  }
  if (iequals(w, "insert") || iequals(w, "update") || iequals(w, "delete") || iequals(w, "merge")) {
    return {sql_kind::write, statement_type::dml};
  }
  if (iequals(w, "call") || iequals(w, "do")) return {sql_kind::write, statement_type::call};
  if (is_ddl_keyword(w)) return {sql_kind::write, statement_type::ddl};
  return {};
}

// `pgsteer:primary` / `pgsteer:replica` as a word of a comment, any case.
route_hint hint_of(std::string_view comment) {
  constexpr std::string_view prefix = "pgsteer:";
  auto is_word_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == ':';
  };
  route_hint found = route_hint::none;
  for (std::size_t i = 0; i + prefix.size() <= comment.size(); ++i) {
    if (i > 0 && is_word_char(comment[i - 1])) continue;
    if (!iequals(comment.substr(i, prefix.size()), prefix)) continue;
    std::size_t end = i + prefix.size();
    while (end < comment.size() && is_word_char(comment[end])) ++end;
    const auto value = comment.substr(i + prefix.size(), end - i - prefix.size());
    if (iequals(value, "primary")) return route_hint::primary;
    if (iequals(value, "replica")) found = route_hint::replica;
  }
  return found;
}

struct pass_result {
  classification c;
  std::uint8_t flags_seen = token_flag_none;
};

// One pass over the string. The leading BEGIN / SET TRANSACTION statements are judged together
// at the end, because `BEGIN; SET TRANSACTION READ ONLY` opens a read-only transaction.
pass_result run_pass(std::string_view sql, bool standard_conforming_strings,
                     const function_policy& policy) {
  pass_result out;
  classification& result = out.c;
  sql_lexer lexer(sql, standard_conforming_strings);
  bool leading = true;
  auto on_comment = [&](std::string_view comment) {
    if (!leading) return;
    const auto h = hint_of(comment);
    if (h == route_hint::primary || (h == route_hint::replica && result.hint == route_hint::none)) {
      result.hint = h;
    }
  };
  lexer.on_comment(on_comment);
  statement_reader r(lexer);  // reads the first token: the leading comments are behind us
  leading = false;

  sql_kind body = sql_kind::read;  // every statement after the leading transaction setup
  bool setup_open = false;         // still inside the leading BEGIN / SET TRANSACTION run
  transaction_modes setup{};
  while (true) {
    const verdict v = classify_statement(r, policy);
    r.skip_statement();
    if (r.failed()) {
      // The server rejects the whole string when it ends inside a quote or comment.
      result.kind = sql_kind::unknown;
      if (result.statements == 0) result.first = statement_type::other;
      if (v.type != statement_type::empty) ++result.statements;
      result.begins_read_only = false;
      result.multi_statement = result.statements > 1;
      out.flags_seen = r.flags_seen();
      return out;
    }
    if (v.type != statement_type::empty) {
      ++result.statements;
      if (result.statements == 1) result.first = v.type;
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
      const bool sets_transaction = v.type == statement_type::set_transaction && !v.session_level;
      if (result.statements == 1 && (v.type == statement_type::begin || sets_transaction)) {
        setup_open = true;
        setup = v.modes;
      } else if (setup_open && sets_transaction) {
        // A later SET TRANSACTION overrides the access mode given so far.
        if (v.modes.read_only || v.modes.read_write) {
          setup.read_only = v.modes.read_only;
          setup.read_write = v.modes.read_write;
        }
        setup.serializable = setup.serializable || v.modes.serializable;
        setup.snapshot = setup.snapshot || v.modes.snapshot;
      } else {
        setup_open = false;
        body = worst(body, v.kind);
      }
    }
    if (!r.at_semicolon()) break;
    r.step_over_boundary();
  }

  if (result.first == statement_type::begin || result.first == statement_type::set_transaction) {
    result.begins_read_only = modes_read_only(setup);
    const bool primary_only = result.first == statement_type::begin
                                  ? !result.begins_read_only
                                  : (setup.read_write || setup.serializable || setup.snapshot);
    body = worst(body, primary_only ? sql_kind::write : sql_kind::read);
  }
  result.kind = body;
  result.multi_statement = result.statements > 1;
  out.flags_seen = r.flags_seen();
  return out;
}

}  // namespace

function_policy::function_policy() {
  write_.reserve(std::size(builtin_write_functions));
  for (const auto name : builtin_write_functions) write_.emplace_back(name);
  std::sort(write_.begin(), write_.end());
  write_.erase(std::unique(write_.begin(), write_.end()), write_.end());
}

void function_policy::add_write_function(std::string_view name) {
  // Drop the schema: the last '.' outside double quotes.
  bool quoted = false;
  std::size_t dot = std::string_view::npos;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '"') quoted = !quoted;
    if (name[i] == '.' && !quoted) dot = i;
  }
  if (dot != std::string_view::npos) name.remove_prefix(dot + 1);
  while (!name.empty() && (name.front() == ' ' || name.front() == '\t')) name.remove_prefix(1);
  while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
  if (name.empty()) return;

  name_buffer buf;
  std::string_view resolved;
  if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
    resolved = unquote(name.substr(1, name.size() - 2), buf);
  } else {
    resolved = fold(name, buf);
  }
  if (resolved.empty() || sorted_contains(write_, resolved)) return;
  const auto at = std::lower_bound(write_.begin(), write_.end(), resolved,
                                   [](const std::string& a, std::string_view b) { return a < b; });
  write_.emplace(at, resolved);
}

void function_policy::set_volatile_functions(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  volatile_ = std::move(names);
}

bool function_policy::is_read_safe(std::string_view name) {
  return sorted_contains(read_safe_volatile, name);
}

bool function_policy::is_write(std::string_view name) const {
  if (sorted_contains(write_, name)) return true;
  for (const auto prefix : builtin_write_prefixes) {
    if (name.starts_with(prefix)) return true;
  }
  return !volatile_.empty() && sorted_contains(volatile_, name) && !is_read_safe(name);
}

classification classify(std::string_view sql, const function_policy& policy) {
  // The server reads a query string up to its first NUL.
  sql = sql.substr(0, sql.find('\0'));
  pass_result first = run_pass(sql, true, policy);
  // A backslash in a plain string is an escape on a server running with
  // standard_conforming_strings off, where `'\' ; DELETE ...'` hides or reveals statements.
  // Judge such text both ways and keep the more cautious verdict.
  if ((first.flags_seen & token_flag_backslash) != 0) {
    const pass_result other = run_pass(sql, false, policy);
    first.c.kind = worst(first.c.kind, other.c.kind);
  }
  return first.c;
}

std::string_view to_string(sql_kind kind) {
  switch (kind) {
    case sql_kind::read:
      return "read";
    case sql_kind::write:
      return "write";
    case sql_kind::unknown:
      return "unknown";
  }
  return "unknown";
}

std::string_view to_string(statement_type type) {
  switch (type) {
    case statement_type::empty:
      return "empty";
    case statement_type::select_like:
      return "select_like";
    case statement_type::show:
      return "show";
    case statement_type::explain:
      return "explain";
    case statement_type::begin:
      return "begin";
    case statement_type::commit:
      return "commit";
    case statement_type::rollback:
      return "rollback";
    case statement_type::savepoint:
      return "savepoint";
    case statement_type::set_transaction:
      return "set_transaction";
    case statement_type::set:
      return "set";
    case statement_type::discard:
      return "discard";
    case statement_type::deallocate:
      return "deallocate";
    case statement_type::prepare:
      return "prepare";
    case statement_type::execute:
      return "execute";
    case statement_type::copy:
      return "copy";
    case statement_type::cursor:
      return "cursor";
    case statement_type::listen:
      return "listen";
    case statement_type::dml:
      return "dml";
    case statement_type::call:
      return "call";
    case statement_type::ddl:
      return "ddl";
    case statement_type::two_phase:
      return "two_phase";
    case statement_type::other:
      return "other";
  }
  return "other";
}

std::string_view to_string(route_hint hint) {
  switch (hint) {
    case route_hint::none:
      return "none";
    case route_hint::primary:
      return "primary";
    case route_hint::replica:
      return "replica";
  }
  return "none";
}

}  // namespace pgsteer::protocol
