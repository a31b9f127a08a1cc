// One client's named prepared statements in transaction and statement pooling, sans I/O: the
// client's names map to statements of the worker's registry, which live on servers under
// pgsteer's names and are prepared on each server when first needed there. Takes the client's
// Parse/Bind/Describe/Close and says what to send the server instead (into a request_sink) and
// which replies are pgsteer's own (swallowed). The session forwards the bytes.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "statement_registry.hpp"

namespace pgsteer::proxy {

// Where a piece's requests for the server go. `swallow`: the reply is pgsteer's, not the
// client's; `tag` comes back with the request's reply (reply_filter).
class request_sink {
 public:
  virtual ~request_sink() = default;
  virtual void send(char type, std::string_view message, bool swallow, std::uint32_t tag) = 0;
};

class statement_map {
 public:
  explicit statement_map(statement_registry& registry) : registry_(&registry) {}

  // Tags for reply_filter: which statement a Parse was for, and whether the client sent it.
  static std::uint32_t parse_tag(std::uint64_t statement, bool from_client) {
    return static_cast<std::uint32_t>(statement * 2 + (from_client ? 1 : 0));
  }

  // Outside a transaction, a Parse of a statement some server already accepted and a Close need
  // no server: appends the answer to `to_client` and returns true. false: it needs a server.
  bool answer_without_server(char type, std::string_view body, std::string& to_client);

  // A client message on its way to `server`: true when this sent what the server gets instead
  // (renamed, preceded by a re-prepare or an eviction), false when it goes as it is.
  // `capacity`: pool.max_prepared_statements.
  bool rewrite(char type, std::string_view message, std::string_view body,
               server_statements& server, std::size_t capacity, request_sink& sink);
  // The client's Sync was sent: a name held on the server for a duplicate-Parse error is freed.
  void after_sync(request_sink& sink);

  // A reply to a tagged Parse: the server accepted that statement.
  void on_parse_complete(std::uint32_t tag);
  // Parses that failed or were skipped: the server does not hold them, and a client's own
  // failed Parse leaves its name unused, as on PostgreSQL.
  void on_failed_parses(const std::vector<std::uint32_t>& tags, server_statements& server);

  // The client ran DEALLOCATE ALL (or DISCARD ALL) on `server`: the server holds none of the
  // worker's statements any more, and the client holds no names, as on PostgreSQL.
  void deallocated_all(server_statements& server);

  // The statement a client name stands for, or null.
  const prepared_statement* find(std::string_view client_name) const;
  std::size_t size() const { return names_.size(); }
  // No names and nothing held for the client: nothing to keep while it is parked.
  bool empty() const { return names_.empty() && close_after_sync_.empty(); }

 private:
  void ensure_prepared(std::uint64_t id, server_statements& server, std::size_t capacity,
                       request_sink& sink);
  void close_evicted(std::uint64_t evicted, request_sink& sink);

  statement_registry* registry_;
  std::map<std::string, std::uint64_t, std::less<>> names_;
  std::string close_after_sync_;  // a name pgsteer holds on the server until the client's Sync
};

}  // namespace pgsteer::proxy
