// A client on a plain socket, for what libpq would not do: go silent, half-close, send a second
// SSLRequest, send a message larger than allowed. Reads bytes or whole messages with a limit.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>

namespace pgsteer::test {

class raw_client {
 public:
  // Connects to 127.0.0.1:port (REQUIREs success).
  explicit raw_client(int port);
  ~raw_client();
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;

  void send(const std::string& bytes);
  // Sends as much of `bytes` as the peer takes; returns how much (stops at an error).
  std::size_t send_some(const std::string& bytes);
  // shutdown(SHUT_WR): the peer reads end of stream; this side can still read.
  void shutdown_write();
  // Everything the peer sends until it closes the connection (or `limit` passes).
  std::string read_until_closed(std::chrono::milliseconds limit);
  // Whether the peer closed the connection (seen by a read), and whether it reset it.
  bool closed() const { return closed_; }
  bool reset() const { return reset_; }
  // The next whole message (type, body); nullopt when the peer closes or goes silent.
  std::optional<std::pair<char, std::string>> read_message(std::chrono::milliseconds limit);
  // A SCRAM-SHA-256 login as `user` to `database`, read up to the first ReadyForQuery.
  // REQUIREs that it succeeds.
  void log_in(const std::string& user, const std::string& password, const std::string& database);

 private:
  int fd_;
  bool closed_ = false;
  bool reset_ = false;
  std::string pending_;
};

}  // namespace pgsteer::test
