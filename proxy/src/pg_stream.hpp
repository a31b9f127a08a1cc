// A PostgreSQL connection's byte stream, either leg: plain TCP, or TLS over that same socket
// once an SSLRequest (or a direct TLS ClientHello) upgraded it. The plain path costs one
// predictable branch per operation: no virtual call, no allocation (the TLS stream is allocated
// once, at the upgrade). With it, the reads and writes every connection in proxy/ uses: whole
// writes, and readiness-based reads (a wait for "readable" can be cancelled without losing
// bytes, a read cannot).
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <utility>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>

#include "io.hpp"

namespace pgsteer::proxy {

class pg_stream {
 public:
  using tls_stream = asio::ssl::stream<tcp::socket&>;
  using executor_type = tcp::socket::executor_type;

  explicit pg_stream(tcp::socket socket) : socket_(std::move(socket)) {}
  // The TLS stream refers to socket_: the object stays where it was made.
  pg_stream(const pg_stream&) = delete;
  pg_stream& operator=(const pg_stream&) = delete;

  // Layers TLS on the socket; the handshake is the caller's (tls()->async_handshake). The
  // stream keeps `context` alive for as long as it lives (a reload may replace it meanwhile).
  tls_stream& start_tls(std::shared_ptr<asio::ssl::context> context) {
    context_ = std::move(context);
    tls_ = std::make_unique<tls_stream>(socket_, *context_);
    return *tls_;
  }
  bool is_tls() const { return tls_ != nullptr; }
  tls_stream* tls() { return tls_.get(); }
  SSL* native_tls() const { return tls_ ? tls_->native_handle() : nullptr; }

  tcp::socket& socket() { return socket_; }
  const tcp::socket& socket() const { return socket_; }
  executor_type get_executor() { return socket_.get_executor(); }

  // Same result type either way for awaitable tokens, which is all pgsteer uses.
  template <typename Buffers, typename Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    if (tls_) return tls_->async_read_some(buffers, std::forward<Token>(token));
    return socket_.async_read_some(buffers, std::forward<Token>(token));
  }
  template <typename Buffers>
  std::size_t read_some(const Buffers& buffers, error_code& ec) {
    if (tls_) return tls_->read_some(buffers, ec);
    return socket_.read_some(buffers, ec);
  }

  // Cancels pending operations. A TLS read cancelled while waiting for the socket loses no
  // bytes: what arrived stays in the TLS engine for the next read.
  void cancel(error_code& ec) { socket_.cancel(ec); }
  void close(error_code& ec) { socket_.close(ec); }
  bool is_open() const { return socket_.is_open(); }

 private:
  tcp::socket socket_;
  std::shared_ptr<asio::ssl::context> context_;
  std::unique_ptr<tls_stream> tls_;
};

// Reads what is available without blocking (the socket is non-blocking). Returns bytes read;
// 0 with ec = would_block when nothing was ready; an error or eof otherwise.
inline std::size_t read_available(pg_stream& stream, byte_buffer& buffer, std::size_t want,
                                  error_code& ec) {
  const std::size_t n = stream.read_some(buffer.prepare(want), ec);
  buffer.commit(n);
  return n;
}

// Reads what is there, waiting until something is. Cancelled (the coroutine's cancellation
// slot), it returns operation_aborted having read nothing: no bytes are lost. A buffer without
// memory (an idle connection's, see byte_buffer::shrink) gets it only once there is something to
// read. Asio tries the read before it waits, so a busy connection costs one recv per call. Over
// TLS there is no wait for readability first: the TLS engine may already hold bytes the socket
// will not signal again.
inline awaitable<error_code> read_more(pg_stream& stream, byte_buffer& buffer,
                                       std::size_t want = 16 * 1024) {
  if (auto* tls = stream.tls()) {
    auto [ec, n] = co_await tls->async_read_some(buffer.prepare(want), use_tuple);
    buffer.commit(n);
    if (n > 0) co_return error_code{};
    co_return ec ? ec : asio::error::eof;
  }
  if (!buffer.holds_memory()) {
    auto [wait_ec] = co_await stream.socket().async_wait(tcp::socket::wait_read, use_tuple);
    if (wait_ec) co_return wait_ec;
  }
  auto [ec, n] = co_await stream.socket().async_read_some(buffer.prepare(want), use_tuple);
  buffer.commit(n);
  if (n > 0) co_return error_code{};
  co_return ec ? ec : asio::error::eof;
}

// Writes what a non-blocking socket takes at once: true when `bytes` all went, or on an error (in
// `ec`); false, with `bytes` shortened to what is left, when the socket's buffer is full (or the
// socket is a blocking one). On loopback and on most links a reply or a query goes whole: no
// asynchronous operation is started, nothing is posted through the scheduler, the coroutine does
// not suspend.
inline bool write_now(tcp::socket& socket, std::string_view& bytes, error_code& ec) {
  if (!socket.non_blocking()) return false;
  const std::size_t n = socket.write_some(asio::buffer(bytes), ec);
  bytes.remove_prefix(n);
  if (ec == asio::error::would_block) {
    ec = {};
    return false;
  }
  return ec || bytes.empty();
}

// The same for either leg: a TLS stream's writes go through its engine, so never at once.
inline bool write_now(pg_stream& stream, std::string_view& bytes, error_code& ec) {
  return !stream.is_tls() && write_now(stream.socket(), bytes, ec);
}

inline awaitable<error_code> write_all(tcp::socket& socket, std::string_view bytes) {
  error_code ec;
  if (write_now(socket, bytes, ec)) co_return ec;
  auto [write_ec, n] = co_await asio::async_write(socket, asio::buffer(bytes), use_tuple);
  (void)n;
  co_return write_ec;
}

inline awaitable<error_code> write_all(pg_stream& stream, std::string_view bytes) {
  if (auto* tls = stream.tls()) {
    auto [ec, n] = co_await asio::async_write(*tls, asio::buffer(bytes), use_tuple);
    (void)n;
    co_return ec;
  }
  // Not through write_all(tcp::socket&): a nested coroutine would cost a frame per write on the
  // data path.
  error_code ec;
  if (write_now(stream.socket(), bytes, ec)) co_return ec;
  auto [write_ec, n] = co_await asio::async_write(stream.socket(), asio::buffer(bytes), use_tuple);
  (void)n;
  co_return write_ec;
}

}  // namespace pgsteer::proxy
