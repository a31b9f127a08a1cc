// statement_map: a client's prepared statement names on shared servers (see statement_map.hpp).
#include "statement_map.hpp"

#include "pgsteer/protocol/builder.hpp"
#include "pgsteer/protocol/messages.hpp"

namespace pgsteer::proxy {

namespace p = protocol;

bool statement_map::answer_without_server(char type, std::string_view body,
                                          std::string& to_client) {
  if (type == p::frontend::parse) {
    auto parse = p::parse_parse(body);
    if (!parse || parse->statement.empty() || names_.count(parse->statement)) return false;
    const auto id = registry_->id(parse->query, parse->parameter_types, parse->parameter_count);
    if (!registry_->at(id).validated) return false;
    names_[std::string(parse->statement)] = id;
    p::write_parse_complete(to_client);
    return true;
  }
  if (type == p::frontend::close) {
    auto close = p::parse_close(body);
    if (!close) return false;
    if (close->kind == 'S') {
      if (auto it = names_.find(close->name); it != names_.end()) names_.erase(it);
    }
    p::write_close_complete(to_client);
    return true;
  }
  return false;
}

bool statement_map::rewrite(char type, std::string_view message, std::string_view body,
                            server_statements& server, std::size_t capacity, request_sink& sink) {
  std::string out;
  switch (type) {
    case p::frontend::parse: {
      auto parse = p::parse_parse(body);
      if (!parse || parse->statement.empty()) return false;
      if (names_.count(parse->statement)) {
        // The name is taken: PostgreSQL refuses the Parse, after checking its text. The server
        // holds the client's name for a moment so that it gives exactly that error, in order.
        p::write_parse(out, parse->statement, "SELECT NULL");
        sink.send(p::frontend::parse, out, true, 0);
        sink.send(type, message, false, 0);
        close_after_sync_ = std::string(parse->statement);
        return true;
      }
      const auto id = registry_->id(parse->query, parse->parameter_types, parse->parameter_count);
      names_[std::string(parse->statement)] = id;
      const auto& st = registry_->at(id);
      if (server.has(id)) {
        // Already there (another client prepared the same text): re-prepare so the client gets
        // its own ParseComplete, or its own error, in order.
        p::write_close(out, 'S', st.server_name);
        sink.send(p::frontend::close, out, true, 0);
        out.clear();
        server.forget(id);
      }
      close_evicted(server.add(id, capacity), sink);
      p::write_parse(out, *parse, st.server_name);
      sink.send(type, out, false, parse_tag(id, true));
      return true;
    }
    case p::frontend::bind: {
      auto bind = p::parse_bind(body);
      if (!bind || bind->statement.empty()) return false;
      auto it = names_.find(bind->statement);
      if (it == names_.end()) return false;  // the server's "does not exist" is right
      ensure_prepared(it->second, server, capacity, sink);
      p::write_bind(out, *bind, registry_->at(it->second).server_name);
      sink.send(type, out, false, 0);
      return true;
    }
    case p::frontend::describe: {
      auto describe = p::parse_describe(body);
      if (!describe || describe->kind != 'S' || describe->name.empty()) return false;
      auto it = names_.find(describe->name);
      if (it == names_.end()) return false;
      ensure_prepared(it->second, server, capacity, sink);
      p::write_describe(out, 'S', registry_->at(it->second).server_name);
      sink.send(type, out, false, 0);
      return true;
    }
    case p::frontend::close: {
      auto close = p::parse_close(body);
      if (!close || close->kind != 'S' || close->name.empty()) return false;
      // The server's copy stays for others; closing the client's name there is a no-op that
      // still answers CloseComplete in order.
      if (auto it = names_.find(close->name); it != names_.end()) names_.erase(it);
      sink.send(type, message, false, 0);
      return true;
    }
    default:
      return false;
  }
}

void statement_map::after_sync(request_sink& sink) {
  if (close_after_sync_.empty()) return;
  std::string out;
  p::write_close(out, 'S', close_after_sync_);
  sink.send(p::frontend::close, out, true, 0);
  out.clear();
  p::write_sync(out);
  sink.send(p::frontend::sync, out, true, 0);
  close_after_sync_.clear();
}

void statement_map::ensure_prepared(std::uint64_t id, server_statements& server,
                                    std::size_t capacity, request_sink& sink) {
  if (server.has(id)) {
    server.touch(id);
    return;
  }
  close_evicted(server.add(id, capacity), sink);
  const auto& st = registry_->at(id);
  std::string out;
  {
    p::message_builder m(out, p::frontend::parse);
    m.cstring(st.server_name).cstring(st.query).u16(st.parameter_count).bytes(st.parameter_types);
  }
  sink.send(p::frontend::parse, out, true, parse_tag(id, false));
}

void statement_map::close_evicted(std::uint64_t evicted, request_sink& sink) {
  if (evicted == 0) return;
  std::string out;
  p::write_close(out, 'S', registry_->at(evicted).server_name);
  sink.send(p::frontend::close, out, true, 0);
}

void statement_map::on_parse_complete(std::uint32_t tag) {
  if (tag != 0) registry_->mark_validated(tag / 2);
}

void statement_map::on_failed_parses(const std::vector<std::uint32_t>& tags,
                                     server_statements& server) {
  for (const auto tag : tags) {
    const std::uint64_t id = tag / 2;
    server.forget(id);
    if (tag % 2 == 1) {
      for (auto it = names_.begin(); it != names_.end();) {
        it = it->second == id ? names_.erase(it) : std::next(it);
      }
    }
  }
}

void statement_map::deallocated_all(server_statements& server) {
  server.forget_all();
  names_.clear();
  close_after_sync_.clear();
}

const prepared_statement* statement_map::find(std::string_view client_name) const {
  auto it = names_.find(client_name);
  return it == names_.end() ? nullptr : &registry_->at(it->second);
}

}  // namespace pgsteer::proxy
