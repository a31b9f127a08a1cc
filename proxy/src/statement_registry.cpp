// statement_registry and server_statements (see statement_registry.hpp).
#include "statement_registry.hpp"

namespace pgsteer::proxy {

std::uint64_t statement_registry::id(std::string_view query, std::string_view parameter_types,
                                     std::uint16_t parameter_count) {
  std::string key;
  key.reserve(query.size() + parameter_types.size() + 1);
  key.append(query).push_back('\0');
  key.append(parameter_types);
  auto it = ids_.find(key);
  if (it != ids_.end()) return it->second;
  const auto id = next_++;
  ids_.emplace(std::move(key), id);
  statements_.emplace(id, prepared_statement{std::string(query), std::string(parameter_types),
                                             parameter_count, prefix_ + std::to_string(id)});
  return id;
}

void server_statements::touch(std::uint64_t statement) {
  auto it = index_.find(statement);
  if (it != index_.end()) lru_.splice(lru_.end(), lru_, it->second);
}

std::uint64_t server_statements::add(std::uint64_t statement, std::size_t capacity) {
  std::uint64_t evicted = 0;
  if (capacity > 0 && lru_.size() >= capacity) {
    evicted = lru_.front();
    index_.erase(evicted);
    lru_.pop_front();
  }
  index_[statement] = lru_.insert(lru_.end(), statement);
  return evicted;
}

void server_statements::forget(std::uint64_t statement) {
  auto it = index_.find(statement);
  if (it == index_.end()) return;
  lru_.erase(it->second);
  index_.erase(it);
}

void server_statements::forget_all() {
  lru_.clear();
  index_.clear();
}

}  // namespace pgsteer::proxy
