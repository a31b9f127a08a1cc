// Decides whether a query string is certainly read-only, so that the router may send it to a
// replica. Whatever it cannot prove read-only is `write` or `unknown`, and goes to the primary.
// The rules are written for operators in docs/routing.md. Pure: no I/O, no exceptions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pgsteer::protocol {

enum class sql_kind : std::uint8_t {
  read,     // every statement is certainly read-only and may run on a hot standby
  write,    // some statement changes data or state that lives on the primary, or takes a lock
  unknown,  // not recognised, depends on session state, or the text is malformed
};

enum class statement_type : std::uint8_t {
  empty,            // nothing but comments, spaces and semicolons
  select_like,      // SELECT, VALUES, TABLE, WITH ..., (SELECT ...)
  show,             // SHOW
  explain,          // EXPLAIN
  begin,            // BEGIN, START TRANSACTION
  commit,           // COMMIT, END (not COMMIT PREPARED)
  rollback,         // ROLLBACK, ABORT (not ROLLBACK TO SAVEPOINT, not ROLLBACK PREPARED)
  savepoint,        // SAVEPOINT, RELEASE, ROLLBACK TO [SAVEPOINT]
  set_transaction,  // SET TRANSACTION, SET SESSION CHARACTERISTICS AS TRANSACTION
  set,              // SET, RESET
  discard,          // DISCARD
  deallocate,       // DEALLOCATE
  prepare,          // PREPARE name AS ...
  execute,          // EXECUTE
  copy,             // COPY
  cursor,           // DECLARE, FETCH, MOVE, CLOSE
  listen,           // LISTEN, UNLISTEN, NOTIFY
  dml,              // INSERT, UPDATE, DELETE, MERGE
  call,             // CALL, DO
  ddl,              // CREATE, ALTER, DROP, TRUNCATE, GRANT, VACUUM, ... every other known write
  two_phase,        // PREPARE TRANSACTION, COMMIT PREPARED, ROLLBACK PREPARED
  other,            // not recognised
};

enum class route_hint : std::uint8_t { none, primary, replica };

struct classification {
  // Over every statement: read only if all are read; any write makes it write; else unknown.
  sql_kind kind = sql_kind::read;
  // The first statement's type (`other` when the first statement is malformed).
  statement_type first = statement_type::empty;
  // The string opens a transaction that is READ ONLY (and not SERIALIZABLE, which a standby
  // refuses): `BEGIN READ ONLY`, `START TRANSACTION ... READ ONLY`, `BEGIN; SET TRANSACTION READ
  // ONLY`, or a first statement `SET TRANSACTION READ ONLY` (for a BEGIN that came alone).
  bool begins_read_only = false;
  // More than one non-empty statement.
  bool multi_statement = false;
  // Some statement is BEGIN/START, COMMIT/END, ROLLBACK/ABORT or a two-phase command.
  bool transaction_control = false;
  // `pgsteer:primary` or `pgsteer:replica` in a comment before the first statement (both: primary).
  route_hint hint = route_hint::none;
  // Non-empty statements seen.
  std::uint32_t statements = 0;
};

// Which function calls make a query a write. Built in: sequence functions (nextval, setval,
// currval, lastval), set_config, advisory locks (pg_advisory_*, pg_try_advisory_*), large objects
// (lo_*, loread, lowrite), pg_notify, transaction ids (txid_current*, pg_current_xact_id*), WAL
// and backup control, replication slots and origins, server signals (pg_cancel_backend,
// pg_terminate_backend, pg_reload_conf, ...), statistics resets, dblink*, and more; see
// docs/routing.md. Plus names added at run time (routing.write_functions) and, once the topology
// monitor provides them, every function the catalog marks VOLATILE that is not on a short built-in
// read-safe list (random, clock_timestamp, gen_random_uuid, pg_sleep, ...).
//
// Build it once (control thread) and share it immutably: the const members are safe to call from
// any number of threads at once.
class function_policy {
 public:
  function_policy();

  // A name from the configuration: `nextval`, `app.audit_write` (the schema is ignored: a
  // function of that name in any schema counts, which errs towards the primary) or `"MixedCase"`
  // (quoted: matched only as written). Unquoted names are case-folded like PostgreSQL does.
  void add_write_function(std::string_view name);

  // Names as the catalog stores them (pg_proc.proname, no schema) of the VOLATILE functions.
  // Replaces the previous set.
  void set_volatile_functions(std::vector<std::string> names);

  // `name` as the server resolves it: already case-folded if it was unquoted, exact if quoted.
  bool is_write(std::string_view name) const;

  // On the built-in list of VOLATILE functions that change nothing (exact, lower case).
  static bool is_read_safe(std::string_view name);

 private:
  std::vector<std::string> write_;     // sorted, as the server resolves them
  std::vector<std::string> volatile_;  // sorted, as in the catalog
};

// Classifies a simple-query string or one extended-protocol Parse text. `sql` may be anything:
// malformed input yields `unknown`, never a crash. Text from the first NUL on is ignored, as the
// server ignores it. Allocation-free; runs in time linear in sql.size().
classification classify(std::string_view sql, const function_policy& policy);

// Stable lower-case names, for logs, the admin console and test output.
std::string_view to_string(sql_kind kind);
std::string_view to_string(statement_type type);
std::string_view to_string(route_hint hint);

}  // namespace pgsteer::protocol
