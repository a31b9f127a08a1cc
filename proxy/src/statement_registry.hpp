// Named prepared statements in transaction pooling, sans I/O. statement_registry: one entry per
// distinct (query, parameter types) on a worker, with the name servers know it by.
// server_statements: which of them one server holds, least recently used first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

namespace pgsteer::proxy {

struct prepared_statement {
  std::string query;
  std::string parameter_types;  // raw Int32 OIDs
  std::uint16_t parameter_count = 0;
  std::string server_name;
  // A server accepted it once: a client's Parse of it can be answered without a server.
  bool validated = false;
};

class statement_registry {
 public:
  // `prefix` makes server names unique per worker ("pgsteer_<worker>_").
  explicit statement_registry(std::string prefix) : prefix_(std::move(prefix)) {}

  // The id for a Parse's query and parameter types (created on first sight; never 0).
  std::uint64_t id(std::string_view query, std::string_view parameter_types,
                   std::uint16_t parameter_count);
  const prepared_statement& at(std::uint64_t id) const { return statements_.at(id); }
  void mark_validated(std::uint64_t id) {
    if (auto it = statements_.find(id); it != statements_.end()) it->second.validated = true;
  }

 private:
  std::string prefix_;
  std::unordered_map<std::string, std::uint64_t> ids_;
  std::unordered_map<std::uint64_t, prepared_statement> statements_;
  std::uint64_t next_ = 1;
};

class server_statements {
 public:
  bool has(std::uint64_t statement) const { return index_.count(statement) != 0; }
  void touch(std::uint64_t statement);
  // Records a statement; returns the one to close first when the cache is full (0: none).
  std::uint64_t add(std::uint64_t statement, std::size_t capacity);
  void forget(std::uint64_t statement);
  void forget_all();
  std::size_t size() const { return lru_.size(); }

 private:
  std::list<std::uint64_t> lru_;
  std::unordered_map<std::uint64_t, std::list<std::uint64_t>::iterator> index_;
};

}  // namespace pgsteer::proxy
