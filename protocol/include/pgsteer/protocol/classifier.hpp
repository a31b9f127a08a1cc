// Decides whether SQL is certainly read-only, so that the router may send it to a replica.
// Anything it cannot prove read-only is `write` or `unknown`, and goes to the primary. The rules
// are written for operators in docs/routing.md.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pgsteer::protocol {

enum class sql_kind { read, write, unknown };

enum class statement_type {
  empty,        // nothing but comments and semicolons
  select_like,  // SELECT, VALUES, TABLE, WITH ... SELECT, (SELECT ...)
  show,
  explain,
  begin,            // BEGIN, START TRANSACTION
  commit,           // COMMIT, END
  rollback,         // ROLLBACK, ABORT
  set_transaction,  // SET TRANSACTION, SET SESSION CHARACTERISTICS AS TRANSACTION
  set,              // SET, RESET
  discard,
  deallocate,
  prepare,  // PREPARE name AS ...
  execute,
  copy,
  cursor,     // DECLARE, FETCH, MOVE, CLOSE
  listen,     // LISTEN, UNLISTEN, NOTIFY
  dml,        // INSERT, UPDATE, DELETE, MERGE
  call,       // CALL, DO
  ddl,        // CREATE, ALTER, DROP, TRUNCATE, GRANT, ... and other writes
  two_phase,  // PREPARE TRANSACTION, COMMIT PREPARED, ROLLBACK PREPARED
  other,      // not recognised
};

enum class route_hint { none, primary, replica };

struct classification {
  sql_kind kind = sql_kind::read;  // over every statement: read only if all are read
  statement_type first = statement_type::empty;
  // The first statement starts (or sets) a READ ONLY transaction.
  bool begins_read_only = false;
  bool multi_statement = false;
  // BEGIN/COMMIT/ROLLBACK/... appear in some statement.
  bool transaction_control = false;
  // A `/* pgsteer:primary */` or `/* pgsteer:replica */` comment.
  route_hint hint = route_hint::none;
};

// Which function calls make a statement a write. Built in: nextval, setval, currval, lastval,
// set_config, pg_advisory_*, pg_try_advisory_*, lo_*, pg_notify, txid_current*,
// pg_current_xact_id*, and a few administrative functions; plus names added at run time
// (routing.write_functions) and, when set, every function the catalog marks VOLATILE that is not
// on a short read-safe list (random, clock_timestamp, ...).
class function_policy {
 public:
  function_policy();
  // Names are matched case-insensitively, schema-qualified or not; a quoted name "Foo" only as
  // written.
  void add_write_function(std::string_view name);
  void set_volatile_functions(std::vector<std::string> names);
  bool is_write(std::string_view name) const;

 private:
  std::vector<std::string> write_;     // sorted, lower case
  std::vector<std::string> volatile_;  // sorted, as in the catalog
};

classification classify(std::string_view sql, const function_policy& policy);

}  // namespace pgsteer::protocol
