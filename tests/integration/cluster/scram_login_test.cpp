// pgsteer's own client-side authentication (protocol/: startup packet, SCRAM-SHA-256, MD5,
// framing) logs in to a real PostgreSQL 15 over a plain socket, and fails as PostgreSQL says.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "cluster.hpp"
#include "pgsteer/protocol/error_response.hpp"
#include "pgsteer/protocol/framer.hpp"
#include "pgsteer/protocol/md5.hpp"
#include "pgsteer/protocol/messages.hpp"
#include "pgsteer/protocol/scram.hpp"
#include "pgsteer/protocol/startup.hpp"

using namespace pgsteer::protocol;
using pgsteer::test::cluster;

namespace {

// A blocking socket that reads whole messages with the protocol framer.
class raw_connection {
 public:
  explicit raw_connection(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  ~raw_connection() { ::close(fd_); }

  void send(const std::string& bytes) {
    REQUIRE(::write(fd_, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  }
  // The next whole message: its type and body.
  std::pair<char, std::string> receive() {
    while (true) {
      const frame f = next_frame(buffer_, 1 << 20);
      if (f.status == frame_status::complete) {
        std::pair<char, std::string> out{f.type, std::string(f.body)};
        buffer_.erase(0, f.size);
        return out;
      }
      REQUIRE(f.status == frame_status::need_more);
      char chunk[4096];
      const auto n = ::read(fd_, chunk, sizeof chunk);
      REQUIRE(n > 0);
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_;
  std::string buffer_;
};

std::string startup(const std::string& user) {
  std::string out;
  write_startup_message(out, {{"user", user}, {"database", "app"}});
  return out;
}

// Runs the SCRAM exchange; returns the message that followed the client's final message.
std::pair<char, std::string> scram_login(raw_connection& c, const std::string& password) {
  c.send(startup("app"));
  auto [type, body] = c.receive();
  REQUIRE(type == 'R');
  auto auth = parse_authentication(body);
  REQUIRE(auth);
  REQUIRE(auth->code == auth_code::sasl);
  const auto mechanisms = sasl_mechanisms(auth->data);
  REQUIRE(std::find(mechanisms.begin(), mechanisms.end(), "SCRAM-SHA-256") != mechanisms.end());

  scram::client_exchange client(password, scram::random_nonce());
  std::string out;
  write_sasl_initial_response(out, client.mechanism_name(), client.client_first());
  c.send(out);
  std::tie(type, body) = c.receive();
  REQUIRE(type == 'R');
  auth = parse_authentication(body);
  REQUIRE(auth->code == auth_code::sasl_continue);
  std::string client_final;
  REQUIRE(client.server_first(auth->data, client_final) == scram::result::ok);
  out.clear();
  write_sasl_response(out, client_final);
  c.send(out);
  std::tie(type, body) = c.receive();
  if (type == 'R') {
    auth = parse_authentication(body);
    REQUIRE(auth->code == auth_code::sasl_final);
    // The server proves it knows the verifier.
    CHECK(client.server_final(auth->data) == scram::result::ok);
    return c.receive();
  }
  return {type, body};
}

// Reads up to ReadyForQuery; returns its status.
char until_ready(raw_connection& c) {
  while (true) {
    auto [type, body] = c.receive();
    if (type == 'Z') return parse_ready_for_query(body).value_or('?');
    REQUIRE(type != 'E');
  }
}

}  // namespace

TEST_CASE("PostgreSQL accepts pgsteer's SCRAM-SHA-256 client", "[integration][scram]") {
  auto& pg = cluster::shared();
  raw_connection c(pg.port(0));
  auto [type, body] = scram_login(c, cluster::app_password);
  REQUIRE(type == 'R');
  CHECK(parse_authentication(body)->code == auth_code::ok);
  CHECK(until_ready(c) == 'I');

  std::string out;
  write_query(out, "select current_user");
  c.send(out);
  std::tie(type, body) = c.receive();
  REQUIRE(type == 'T');
  std::tie(type, body) = c.receive();
  REQUIRE(type == 'D');
  const auto row = parse_data_row(body);
  REQUIRE(row);
  CHECK((*row)[0] == "app");
}

TEST_CASE("a wrong SCRAM password gets PostgreSQL's 28P01", "[integration][scram]") {
  auto& pg = cluster::shared();
  raw_connection c(pg.port(0));
  auto [type, body] = scram_login(c, "not the password");
  REQUIRE(type == 'E');
  const auto fields = to_error_fields(*parse_error_fields(body));
  CHECK(fields.code == "28P01");
  CHECK(fields.message == "password authentication failed for user \"app\"");
}

TEST_CASE("PostgreSQL accepts pgsteer's MD5 client", "[integration][md5]") {
  auto& pg = cluster::shared();
  for (const bool right : {true, false}) {
    INFO("right password: " << right);
    raw_connection c(pg.port(0));
    c.send(startup("app_md5"));
    auto [type, body] = c.receive();
    REQUIRE(type == 'R');
    const auto auth = parse_authentication(body);
    REQUIRE(auth->code == auth_code::md5_password);
    const std::string stored = md5::stored_hash("app_md5", right ? cluster::app_password : "x");
    std::string out;
    write_password_message(out, md5::response(stored, auth->data));
    c.send(out);
    std::tie(type, body) = c.receive();
    if (right) {
      REQUIRE(type == 'R');
      CHECK(parse_authentication(body)->code == auth_code::ok);
      CHECK(until_ready(c) == 'I');
    } else {
      REQUIRE(type == 'E');
      CHECK(to_error_fields(*parse_error_fields(body)).code == "28P01");
    }
  }
}
