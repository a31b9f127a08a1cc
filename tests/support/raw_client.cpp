// raw_client (see raw_client.hpp).
#include "raw_client.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "pgsteer/protocol/framer.hpp"
#include "pgsteer/protocol/messages.hpp"
#include "pgsteer/protocol/scram.hpp"
#include "pgsteer/protocol/startup.hpp"

namespace pgsteer::test {

namespace p = protocol;

raw_client::raw_client(int port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
}

raw_client::~raw_client() {
  ::close(fd_);
}

void raw_client::send(const std::string& bytes) {
  REQUIRE(send_some(bytes) == bytes.size());
}

std::size_t raw_client::send_some(const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const auto n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  return sent;
}

void raw_client::shutdown_write() {
  REQUIRE(::shutdown(fd_, SHUT_WR) == 0);
}

bool raw_client::receive_some(bool& got) {
  got = false;
  pollfd pfd{fd_, POLLIN, 0};
  if (::poll(&pfd, 1, 100) <= 0) return true;
  char buf[16384];
  const auto n = ::recv(fd_, buf, sizeof buf, 0);
  if (n <= 0) {
    closed_ = true;
    reset_ = n < 0 && errno == ECONNRESET;
    return false;
  }
  pending_.append(buf, static_cast<std::size_t>(n));
  got = true;
  return true;
}

std::string raw_client::read_until_closed(std::chrono::milliseconds limit) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  bool got = false;
  while (std::chrono::steady_clock::now() < give_up && receive_some(got)) {
  }
  return std::exchange(pending_, std::string());
}

std::optional<std::pair<char, std::string>> raw_client::read_message(
    std::chrono::milliseconds limit) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  bool got = false;
  for (;;) {
    const auto frame = p::next_frame(pending_, 1 << 20);
    if (frame.status == p::frame_status::complete) {
      std::pair<char, std::string> out{frame.type, std::string(frame.body)};
      pending_.erase(0, frame.size);
      return out;
    }
    if (frame.status != p::frame_status::need_more) return std::nullopt;
    if (std::chrono::steady_clock::now() >= give_up || !receive_some(got)) return std::nullopt;
  }
}

scram_attempt raw_client::scram_login(const std::string& user, const std::string& password,
                                      const std::string& database) {
  using namespace std::chrono_literals;
  scram_attempt attempt;
  auto error_in = [&](const std::pair<char, std::string>& m) {
    if (m.first != p::backend::error_response) return false;
    if (auto fields = p::parse_error_fields(m.second)) attempt.error = p::to_error_fields(*fields);
    return true;
  };
  std::string out;
  p::write_startup_message(out, {{"user", user}, {"database", database}});
  send(out);
  auto m = read_message(20s);
  REQUIRE(m);
  if (error_in(*m)) return attempt;
  REQUIRE(m->first == p::backend::authentication);
  auto auth = p::parse_authentication(m->second);
  REQUIRE(auth);
  REQUIRE(auth->code == p::auth_code::sasl);
  p::scram::client_exchange exchange(password, p::scram::random_nonce());
  out.clear();
  p::write_sasl_initial_response(out, p::scram::mechanism, exchange.client_first());
  send(out);
  m = read_message(20s);
  REQUIRE(m);
  if (error_in(*m)) return attempt;
  REQUIRE(m->first == p::backend::authentication);
  auth = p::parse_authentication(m->second);
  REQUIRE(auth);
  REQUIRE(auth->code == p::auth_code::sasl_continue);
  attempt.server_first = std::string(auth->data);
  std::string client_final;
  REQUIRE(exchange.server_first(auth->data, client_final) == p::scram::result::ok);
  out.clear();
  p::write_sasl_response(out, client_final);
  send(out);
  m = read_message(20s);
  REQUIRE(m);
  error_in(*m);
  return attempt;
}

void raw_client::log_in(const std::string& user, const std::string& password,
                        const std::string& database) {
  using namespace std::chrono_literals;
  const auto attempt = scram_login(user, password, database);
  INFO((attempt.error ? attempt.error->message : std::string()));
  REQUIRE_FALSE(attempt.error);
  for (;;) {
    const auto m = read_message(10s);
    REQUIRE(m);
    REQUIRE(m->first != p::backend::error_response);
    if (m->first == p::backend::ready_for_query) return;
  }
}

}  // namespace pgsteer::test
