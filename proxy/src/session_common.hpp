// What the files of client_session share: read sizes and the small helpers of its output.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "io.hpp"
#include "pgsteer/protocol/error_response.hpp"
#include "pgsteer/protocol/messages.hpp"
#include "stats.hpp"

namespace pgsteer::proxy {

using protocol::make_error;

// Largest message a server may send pgsteer (PostgreSQL's own limit on a value is 1 GB).
inline constexpr std::size_t max_server_message = std::size_t{1} << 30;
// Read size per wake-up: a large result streams through in pieces of this size. A client's
// requests are small, and its buffer exists only while it talks.
inline constexpr std::size_t read_chunk = 64 * 1024;
inline constexpr std::size_t client_read_chunk = 16 * 1024;
// During login the client sends a startup packet and a password message or two, each a few
// hundred bytes: a small read buffer (it grows for a larger packet) keeps the memory of many
// logins at once small.
inline constexpr std::size_t login_read_chunk = 1024;
// A server message larger than this streams through to the client instead of being framed whole.
inline constexpr std::size_t large_server_message = 1024 * 1024;

inline bool is_extended(char type) {
  namespace f = protocol::frontend;
  return type == f::parse || type == f::bind || type == f::describe || type == f::execute ||
         type == f::close;
}

// Why reading a server failed, for lose_server().
inline std::string backend_read_failure(const error_code& ec) {
  return ec == asio::error::eof ? "the backend closed the connection"
                                : "the backend connection failed: " + ec.message();
}

// An ErrorResponse on its way to the client, by SQLSTATE class. (Failed authentications are
// counted where they are decided: authentication_failed().)
inline void count_error(worker_stats& stats, std::string_view code) {
  stats.errors_by_class[sqlstate_class_index(code)].add();
}

}  // namespace pgsteer::proxy
