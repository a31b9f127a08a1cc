// Whole frontend messages as a client sends them, and a reply or two, for the tests of the
// session's sans-I/O pieces (statement_map, aborted_block): one line per message in a test.
#pragma once

#include <string>
#include <string_view>

#include "pgsteer/protocol/messages.hpp"

namespace pgsteer::proxy::test_messages {

namespace p = protocol;

// A message's body: what the pieces take beside its type byte.
inline std::string_view body(const std::string& message) {
  return std::string_view(message).substr(5);
}
// Any message a builder without arguments writes (Sync, Flush, ParseComplete, ...).
inline std::string message(void (*write)(std::string&)) {
  std::string out;
  write(out);
  return out;
}
inline std::string query(std::string_view sql) {
  std::string out;
  p::write_query(out, sql);
  return out;
}
inline std::string parse(std::string_view name, std::string_view sql) {
  std::string out;
  p::write_parse(out, name, sql);
  return out;
}
inline std::string bind(std::string_view statement) {
  std::string out;
  p::write_bind(out, "", statement);
  return out;
}
inline std::string describe(std::string_view statement) {
  std::string out;
  p::write_describe(out, 'S', statement);
  return out;
}
inline std::string close(std::string_view statement) {
  std::string out;
  p::write_close(out, 'S', statement);
  return out;
}
inline std::string ready(char status) {
  std::string out;
  p::write_ready_for_query(out, status);
  return out;
}
inline std::string complete(std::string_view tag) {
  std::string out;
  p::write_command_complete(out, tag);
  return out;
}

}  // namespace pgsteer::proxy::test_messages
