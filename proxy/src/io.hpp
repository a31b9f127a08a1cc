// The small vocabulary every coroutine in proxy/ shares: the Asio names, a read buffer that holds
// whole protocol messages, and the one timeout helper. Reading and writing a connection, TCP or
// TLS, is pg_stream.hpp's.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace pgsteer::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using steady_clock = std::chrono::steady_clock;
template <typename T = void>
using awaitable = asio::awaitable<T>;
// I/O errors are values: `auto [ec, n] = co_await op(..., use_tuple);`
inline constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Bytes read from a socket and not yet consumed: whole messages are framed in place, a partial
// one waits at the front for the rest. Grows only to the largest message seen (bounded by the
// caller's maximum message size) and compacts instead of growing when it can.
class byte_buffer {
 public:
  explicit byte_buffer(std::size_t initial = 0) : data_(initial) {}

  std::string_view view() const { return {data_.data() + begin_, end_ - begin_}; }
  std::size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  void consume(std::size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  // Room for at least `n` more bytes after the data (at least a read's worth).
  asio::mutable_buffer prepare(std::size_t n) {
    if (data_.size() - end_ < n) {
      if (end_ > begin_) std::memmove(data_.data(), data_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
      if (data_.size() - end_ < n) data_.resize(end_ + n);
    }
    return asio::buffer(data_.data() + end_, data_.size() - end_);
  }
  void commit(std::size_t n) { end_ += n; }
  // Gives memory back after a large message has passed (to 0: all of it).
  void shrink(std::size_t to) {
    if (empty() && data_.size() > to) {
      data_.resize(to);
      data_.shrink_to_fit();
    }
  }
  bool holds_memory() const { return !data_.empty(); }

 private:
  std::vector<char> data_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

// Runs `op` with a deadline: the result, or asio::error::timed_out when the timer fired first
// (the operation is then cancelled). The one timeout helper (STYLE.md).
template <typename T>
awaitable<std::pair<bool, T>> with_timeout(awaitable<T> op, steady_clock::duration limit) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(co_await asio::this_coro::executor, limit);
  auto result = co_await (std::move(op) || timer.async_wait(use_tuple));
  if (result.index() == 0) co_return std::pair<bool, T>{true, std::move(std::get<0>(result))};
  co_return std::pair<bool, T>{false, T{}};
}

}  // namespace pgsteer::proxy
