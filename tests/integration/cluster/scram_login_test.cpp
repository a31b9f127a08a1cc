// pgsteer's authentication code against the real thing, both ways: its client side (protocol/:
// startup packet, SCRAM-SHA-256, MD5, framing) logs in to a real PostgreSQL 15 over a plain
// socket, and libpq logs in to its server side, run by a one-connection fake server.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <thread>
#include <utility>

#include "cluster.hpp"
#include "pg.hpp"
#include "pgsteer/protocol/error_response.hpp"
#include "pgsteer/protocol/framer.hpp"
#include "pgsteer/protocol/md5.hpp"
#include "pgsteer/protocol/messages.hpp"
#include "pgsteer/protocol/scram.hpp"
#include "pgsteer/protocol/startup.hpp"

using namespace pgsteer::protocol;
using pgsteer::test::cluster;
namespace pg = pgsteer::test::pg;

namespace {

// Passwords PostgreSQL prepares with SASLprep before deriving the verifier: a soft hyphen
// (removed), a no-break space (mapped to a space) and precomposed Latin letters.
const std::string utf8_password = "I\xC2\xADX\xC2\xA0p\xC3\xA4ssw\xC3\xB6rd";
const std::string utf8_password_prepared = "IX p\xC3\xA4ssw\xC3\xB6rd";

// Blocking reads and writes of whole messages over a socket, with the protocol framer. Usable
// from any thread: failures are return values, not Catch2 assertions.
class wire {
 public:
  explicit wire(int fd) : fd_(fd) {
    timeval timeout{10, 0};  // a broken peer fails the test instead of hanging it
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  ~wire() { ::close(fd_); }
  wire(const wire&) = delete;
  wire& operator=(const wire&) = delete;

  bool send(const std::string& bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
  // The next typed message, or type 0 when the peer closed or sent garbage.
  std::pair<char, std::string> receive() { return next(false); }
  // The next untyped startup-phase packet, whole (length included).
  std::string receive_startup() { return next(true).second; }

 private:
  std::pair<char, std::string> next(bool startup) {
    while (true) {
      const frame f = startup ? next_startup_frame(buffer_, max_startup_packet_size)
                              : next_frame(buffer_, 1 << 20);
      if (f.status == frame_status::complete) {
        std::pair<char, std::string> out{f.type,
                                         startup ? buffer_.substr(0, f.size) : std::string(f.body)};
        buffer_.erase(0, f.size);
        return out;
      }
      if (f.status != frame_status::need_more) return {0, {}};
      char chunk[4096];
      const auto n = ::read(fd_, chunk, sizeof chunk);
      if (n <= 0) return {0, {}};
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  int fd_;
  std::string buffer_;
};

int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

std::string startup(const std::string& user) {
  std::string out;
  write_startup_message(out, {{"user", user}, {"database", cluster::app_database}});
  return out;
}

// What followed the client's last authentication message: AuthenticationOk or an ErrorResponse.
struct login_outcome {
  char type = 0;
  std::string body;
  scram::result server_final = scram::result::malformed;
};

// Runs pgsteer's SCRAM client against the server behind `c`.
login_outcome scram_login(wire& c, const std::string& user, scram::client_exchange client) {
  REQUIRE(c.send(startup(user)));
  auto [type, body] = c.receive();
  REQUIRE(type == 'R');
  auto auth = parse_authentication(body);
  REQUIRE(auth);
  REQUIRE(auth->code == auth_code::sasl);
  const auto mechanisms = sasl_mechanisms(auth->data);
  REQUIRE(std::find(mechanisms.begin(), mechanisms.end(), "SCRAM-SHA-256") != mechanisms.end());

  std::string out;
  write_sasl_initial_response(out, client.mechanism_name(), client.client_first());
  REQUIRE(c.send(out));
  std::tie(type, body) = c.receive();
  REQUIRE(type == 'R');
  auth = parse_authentication(body);
  REQUIRE(auth);
  REQUIRE(auth->code == auth_code::sasl_continue);
  std::string client_final;
  REQUIRE(client.server_first(auth->data, client_final) == scram::result::ok);
  out.clear();
  write_sasl_response(out, client_final);
  REQUIRE(c.send(out));
  login_outcome outcome;
  std::tie(type, body) = c.receive();
  if (type == 'R') {
    auth = parse_authentication(body);
    REQUIRE(auth);
    REQUIRE(auth->code == auth_code::sasl_final);
    // The server proves it knows the verifier.
    outcome.server_final = client.server_final(auth->data);
    std::tie(type, body) = c.receive();
  }
  outcome.type = type;
  outcome.body = body;
  return outcome;
}

bool is_authentication_ok(const login_outcome& o) {
  if (o.type != 'R') return false;
  const auto auth = parse_authentication(o.body);
  return auth && auth->code == auth_code::ok;
}

std::string error_code(const login_outcome& o) {
  if (o.type != 'E') return {};
  const auto fields = parse_error_fields(o.body);
  return fields ? to_error_fields(*fields).code : std::string();
}

// Reads up to ReadyForQuery; returns its status.
char until_ready(wire& c) {
  while (true) {
    auto [type, body] = c.receive();
    if (type == 'Z') return parse_ready_for_query(body).value_or('?');
    if (type == 'E' || type == 0) return '!';
  }
}

// The stored SCRAM verifier of a role on the primary.
std::string stored_verifier(const std::string& role) {
  pg::connection super(cluster::shared().super_conninfo(0));
  return super.exec_params("select rolpassword from pg_authid where rolname = $1", {role})
      .at(0)
      .at(0)
      .value();
}

void create_role(const std::string& role, const std::string& password) {
  pg::connection super(cluster::shared().super_conninfo(0));
  super.exec("set client_min_messages = warning; drop role if exists " + role);
  // The server SASLpreps the literal itself, as for any CREATE ROLE ... PASSWORD (UTF8 database).
  std::string quoted;
  for (const char ch : password) {
    quoted.push_back(ch);
    if (ch == '\'') quoted.push_back('\'');
  }
  super.exec("create role " + role + " login password '" + quoted + "'");
}

// A PostgreSQL server that knows one user's SCRAM verifier, speaks pgsteer's server side of the
// exchange and serves exactly one connection, on a thread of its own.
class fake_postgres {
 public:
  explicit fake_postgres(scram::verifier v) : verifier_(std::move(v)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener_, 1) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~fake_postgres() {
    if (thread_.joinable()) thread_.join();
    ::close(listener_);
  }
  fake_postgres(const fake_postgres&) = delete;
  fake_postgres& operator=(const fake_postgres&) = delete;

  std::string conninfo(const std::string& user, const std::string& password) const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " user=" + user +
           " dbname=app sslmode=disable gssencmode=disable connect_timeout=10 password='" +
           password + "'";
  }
  // Waits for the connection to end; then the results below are final.
  void wait() {
    if (thread_.joinable()) thread_.join();
  }

  scram::result client_first_result = scram::result::malformed;
  scram::result client_final_result = scram::result::malformed;
  scram::client_keys proven_keys;

 private:
  void serve() {
    pollfd p{listener_, POLLIN, 0};
    if (::poll(&p, 1, 10'000) != 1) return;
    wire c(::accept(listener_, nullptr, nullptr));
    const startup_packet packet = parse_startup_packet(c.receive_startup());
    if (packet.kind != startup_kind::startup_message) return;

    std::string out;
    write_authentication_sasl(out, scram::server_mechanisms(false));
    c.send(out);
    scram::server_exchange exchange(verifier_, scram::random_nonce());
    auto [type, body] = c.receive();
    const auto initial = parse_sasl_initial_response(body);
    if (type != 'p' || !initial || !initial->data) return;
    std::string server_first;
    client_first_result = exchange.client_first(initial->mechanism, *initial->data, server_first);
    if (client_first_result != scram::result::ok) return;
    out.clear();
    write_authentication_sasl_continue(out, server_first);
    c.send(out);

    std::tie(type, body) = c.receive();
    if (type != 'p') return;
    std::string server_final;
    client_final_result = exchange.client_final(body, server_final);
    out.clear();
    if (client_final_result != scram::result::ok) {
      write_error_response(
          out, {"FATAL",
                "28P01",
                "password authentication failed for user \"" + std::string(packet.user()) + "\"",
                {},
                {}});
      c.send(out);
      return;
    }
    proven_keys = exchange.proven_keys();
    write_authentication_sasl_final(out, server_final);
    write_authentication_ok(out);
    write_parameter_status(out, "server_version", "15.0");
    write_parameter_status(out, "client_encoding", "UTF8");
    write_backend_key_data(out, 4242, 1234);
    write_ready_for_query(out, 'I');
    c.send(out);
    while (c.receive().first != 0) {
      // until libpq's Terminate and close
    }
  }

  scram::verifier verifier_;
  int listener_ = -1;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace

TEST_CASE("PostgreSQL accepts pgsteer's SCRAM-SHA-256 client", "[integration][scram]") {
  auto& pg = cluster::shared();
  wire c(connect_to(pg.port(0)));
  const auto outcome =
      scram_login(c, cluster::app_user, {cluster::app_password, scram::random_nonce()});
  CHECK(outcome.server_final == scram::result::ok);
  REQUIRE(is_authentication_ok(outcome));
  CHECK(until_ready(c) == 'I');

  std::string out;
  write_query(out, "select current_user");
  REQUIRE(c.send(out));
  auto [type, body] = c.receive();
  REQUIRE(type == 'T');
  std::tie(type, body) = c.receive();
  REQUIRE(type == 'D');
  const auto row = parse_data_row(body);
  REQUIRE(row);
  CHECK((*row)[0] == "app");
}

TEST_CASE("a wrong SCRAM password gets PostgreSQL's 28P01", "[integration][scram]") {
  auto& pg = cluster::shared();
  wire c(connect_to(pg.port(0)));
  const auto outcome =
      scram_login(c, cluster::app_user, {"not the password", scram::random_nonce()});
  REQUIRE(error_code(outcome) == "28P01");
  const auto fields = to_error_fields(*parse_error_fields(outcome.body));
  CHECK(fields.message == "password authentication failed for user \"app\"");
}

TEST_CASE("pgsteer derives PostgreSQL's own verifier, SASLprep included", "[integration][scram]") {
  create_role("app_utf8", utf8_password);
  const std::string stored = stored_verifier("app_utf8");
  const auto parsed = scram::verifier::parse(stored);
  REQUIRE(parsed);
  CHECK(
      scram::verifier::from_password(utf8_password, parsed->salt, parsed->iterations).to_string() ==
      stored);
  CHECK(scram::verifier::from_password(utf8_password_prepared, parsed->salt, parsed->iterations)
            .to_string() == stored);

  // And pgsteer's client, given the unprepared password, logs in.
  wire c(connect_to(cluster::shared().port(0)));
  const auto outcome = scram_login(c, "app_utf8", {utf8_password, scram::random_nonce()});
  CHECK(outcome.server_final == scram::result::ok);
  CHECK(is_authentication_ok(outcome));
}

TEST_CASE("PostgreSQL accepts pgsteer's MD5 client", "[integration][md5]") {
  auto& pg = cluster::shared();
  // scripts/cluster creates app_md5 with password_encryption = 'md5' and an md5 pg_hba line.
  const std::string stored = stored_verifier("app_md5");
  CHECK(stored == md5::stored_hash("app_md5", cluster::app_password));
  for (const std::string& password :
       {std::string(cluster::app_password), stored, std::string("x")}) {
    INFO("password: " << password);
    wire c(connect_to(pg.port(0)));
    REQUIRE(c.send(startup("app_md5")));
    auto [type, body] = c.receive();
    REQUIRE(type == 'R');
    const auto auth = parse_authentication(body);
    REQUIRE(auth);
    REQUIRE(auth->code == auth_code::md5_password);
    std::string out;
    write_password_message(out, md5::client_response("app_md5", password, auth->data));
    REQUIRE(c.send(out));
    std::tie(type, body) = c.receive();
    if (password != "x") {
      REQUIRE(type == 'R');
      CHECK(parse_authentication(body)->code == auth_code::ok);
      CHECK(until_ready(c) == 'I');
    } else {
      REQUIRE(type == 'E');
      CHECK(to_error_fields(*parse_error_fields(body)).code == "28P01");
    }
  }
}

TEST_CASE("libpq logs in to pgsteer's SCRAM server side", "[integration][scram]") {
  SECTION("the right password, and libpq checks the server's signature") {
    fake_postgres server(scram::verifier::from_password("s3cret", scram::random_bytes(16)));
    const auto refused = pg::try_connect(server.conninfo("alice", "s3cret"));
    server.wait();
    CHECK_FALSE(refused);
    CHECK(server.client_final_result == scram::result::ok);
  }
  SECTION("a wrong password") {
    fake_postgres server(scram::verifier::from_password("s3cret", scram::random_bytes(16)));
    const auto refused = pg::try_connect(server.conninfo("alice", "guess"));
    server.wait();
    REQUIRE(refused);
    CHECK_THAT(std::string(refused->what()), Catch::Contains("password authentication failed"));
    CHECK(server.client_final_result == scram::result::failed);
  }
  SECTION("a non-ASCII password, which libpq and pgsteer both SASLprep") {
    fake_postgres server(scram::verifier::from_password(utf8_password, scram::random_bytes(16)));
    const auto refused = pg::try_connect(server.conninfo("alice", utf8_password_prepared));
    server.wait();
    CHECK_FALSE(refused);
    CHECK(server.client_final_result == scram::result::ok);
  }
  SECTION("an unknown user meets a mock verifier and fails like a wrong password") {
    fake_postgres server(scram::mock_verifier("nobody", scram::random_bytes(32)));
    const auto refused = pg::try_connect(server.conninfo("nobody", "s3cret"));
    server.wait();
    REQUIRE(refused);
    CHECK(server.client_first_result == scram::result::ok);
    CHECK(server.client_final_result == scram::result::failed);
  }
}

TEST_CASE("keys proven by a client log pgsteer in to PostgreSQL without the password",
          "[integration][scram]") {
  // pgsteer holds only PostgreSQL's verifier for app; a libpq client proves the password to it.
  const auto verifier = scram::verifier::parse(stored_verifier(cluster::app_user));
  REQUIRE(verifier);
  fake_postgres front(*verifier);
  REQUIRE_FALSE(pg::try_connect(front.conninfo(cluster::app_user, cluster::app_password)));
  front.wait();
  REQUIRE(front.client_final_result == scram::result::ok);

  // The keys recovered from that proof open a real backend connection.
  wire c(connect_to(cluster::shared().port(0)));
  const auto outcome =
      scram_login(c, cluster::app_user,
                  scram::client_exchange::from_keys(front.proven_keys, scram::random_nonce()));
  CHECK(outcome.server_final == scram::result::ok);
  REQUIRE(is_authentication_ok(outcome));
  CHECK(until_ready(c) == 'I');
}
