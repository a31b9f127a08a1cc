// A client on a plain socket, for what libpq would not do: go silent, half-close, send a second
// SSLRequest, send a message larger than allowed. Reads bytes or whole messages with a limit.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>

#include "pgsteer/protocol/error_response.hpp"

namespace pgsteer::test {

// What a client sees of one SCRAM login, step by step.
struct scram_attempt {
  std::string server_first;  // AuthenticationSASLContinue data; empty if none came
  std::optional<protocol::error_fields> error;  // the ErrorResponse that ended it, if any
};

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
  // A SCRAM-SHA-256 login as `user` to `database`, up to the server's answer to the client's
  // proof (or its refusal before): REQUIREs that the server speaks SCRAM.
  scram_attempt scram_login(const std::string& user, const std::string& password,
                            const std::string& database);
  // scram_login, REQUIREd to succeed, read up to the first ReadyForQuery.
  void log_in(const std::string& user, const std::string& password, const std::string& database);

 private:
  // One recv into pending_ (after waiting up to 100 ms); false when the peer closed or reset.
  bool receive_some(bool& got);

  int fd_;
  bool closed_ = false;
  bool reset_ = false;
  std::string pending_;
};

}  // namespace pgsteer::test
