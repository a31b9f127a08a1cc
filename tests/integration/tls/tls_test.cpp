// TLS on both legs with real clients: psql and libpq through pgsteer's termination (SSLRequest,
// verify-full, require, TLS 1.1 refused, client certificates, SCRAM-SHA-256-PLUS), a small
// OpenSSL client for direct TLS with ALPN, and pgsteer's origination to a PostgreSQL with
// ssl=on in verify-full. The certificates come from a test CA made with `openssl` at start.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "cluster.hpp"
#include "eventually.hpp"
#include "pg.hpp"
#include "pgsteer/protocol/framer.hpp"
#include "pgsteer/protocol/messages.hpp"
#include "pgsteer/protocol/startup.hpp"
#include "pgsteer_process.hpp"

using pgsteer::test::cluster;
using pgsteer::test::eventually;
using pgsteer::test::pgsteer_options;
using pgsteer::test::pgsteer_process;
using pgsteer::test::run_command;
using pgsteer::test::try_connect_verbose;
namespace pg = pgsteer::test::pg;
namespace p = pgsteer::protocol;
using namespace std::chrono_literals;

namespace {

// A CA, a server certificate for localhost and 127.0.0.1, one for another name, a client
// certificate with CN=app from the CA, and one with CN=app from a second CA. EC keys: fast.
struct test_ca {
  std::string dir;
  std::string file(const std::string& name) const { return dir + "/" + name; }
};

const test_ca& certificates() {
  static const test_ca ca = [] {
    char pattern[] = "/tmp/pgsteer-tls-XXXXXX";
    if (!::mkdtemp(pattern)) throw std::runtime_error("mkdtemp failed");
    ::chmod(pattern, 0755);
    const std::string script = R"(set -e
cd ")" + std::string(pattern) + R"("
key() { echo "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout $1.key"; }
ca() { openssl req -x509 $(key $1) -out $1.pem -days 2 -subj "/CN=$2"; }
cert() {  # name CN issuer [extfile]
  openssl req -new $(key $1) -out $1.csr -subj "/CN=$2"
  openssl x509 -req -in $1.csr -CA $3.pem -CAkey $3.key -CAcreateserial -out $1.pem -days 2 \
    ${4:+-extfile $4}
}
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > server.ext
printf 'subjectAltName=DNS:wrong.example\n' > wrong.ext
ca ca "pgsteer test CA"
ca other-ca "another CA"
cert server localhost ca server.ext
cert wrong wrong.example ca wrong.ext
cert client app ca
cert stranger app other-ca
chmod 600 *.key
chmod 644 *.pem
)";
    const auto r = run_command({"bash", "-c", script});
    if (r.exit_code != 0) throw std::runtime_error("making the test CA failed:\n" + r.output);
    return test_ca{pattern};
  }();
  return ca;
}

// tls.client for pgsteer, with the test CA for client certificates.
std::string client_tls_yaml(const std::string& mode, const std::string& extra = {}) {
  const auto& ca = certificates();
  return "tls:\n  client: { mode: " + mode + ", cert_file: " + ca.file("server.pem") +
         ", key_file: " + ca.file("server.key") + ", ca_file: " + ca.file("ca.pem") + extra +
         " }\n";
}

std::string through(const pgsteer_process& proxy, const std::string& options,
                    const std::string& user = "app", const std::string& database = "app") {
  return "host=localhost port=" + std::to_string(proxy.port()) + " dbname=" + database +
         " user=" + user + " password=app connect_timeout=10 " + options;
}

// A blocking TCP connection to pgsteer with an optional TLS layer, speaking the protocol by hand:
// what libpq 15 cannot do (direct TLS, ALPN, TLS 1.1, bytes after SSLRequest).
class raw_client {
 public:
  explicit raw_client(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval timeout{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      throw std::runtime_error("cannot connect to pgsteer");
    }
  }
  ~raw_client() {
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
    ::close(fd_);
  }
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;

  // TLS handshake on the socket as it is; `alpn` empty sends none. True when it completed.
  bool handshake(const std::string& alpn, int max_version = 0) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (max_version) {
      // Old versions need security level 0 in OpenSSL 3: this client must really offer them,
      // so that it is pgsteer that refuses.
      SSL_CTX_set_security_level(ctx_, 0);
      SSL_CTX_set_min_proto_version(ctx_, TLS1_VERSION);
      SSL_CTX_set_max_proto_version(ctx_, max_version);
    }
    SSL_CTX_load_verify_locations(ctx_, certificates().file("ca.pem").c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    SSL_set1_host(ssl_, "localhost");
    if (!alpn.empty()) {
      std::string wire(1, static_cast<char>(alpn.size()));
      wire += alpn;
      SSL_set_alpn_protos(ssl_, reinterpret_cast<const unsigned char*>(wire.data()),
                          static_cast<unsigned int>(wire.size()));
    }
    const bool ok = SSL_connect(ssl_) == 1;
    ERR_clear_error();
    return ok;
  }

  void send(const std::string& bytes) {
    if (ssl_) {
      SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()));
    } else {
      ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    }
  }
  // shutdown(SHUT_WR) on the socket, under TLS: a client that half-closes without close_notify.
  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }
  // One byte before any message (the answer to SSLRequest); 0 on EOF or error.
  char read_byte() {
    char c = 0;
    return ::recv(fd_, &c, 1, 0) == 1 ? c : 0;
  }
  // The next whole message; type 0 when the connection ended first.
  p::frame read_message() {
    for (;;) {
      auto f = p::next_frame(buffer_, 1 << 20);
      if (f.status == p::frame_status::complete) {
        last_ = buffer_.substr(0, f.size);
        buffer_.erase(0, f.size);
        return p::next_frame(last_, 1 << 20);
      }
      char chunk[4096];
      const long n =
          ssl_ ? SSL_read(ssl_, chunk, sizeof chunk) : ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) return {};
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }
  // Reads until a message of `type` (or the end): its body, or nullopt.
  std::optional<std::string> read_until(char type) {
    for (;;) {
      const auto f = read_message();
      if (f.status != p::frame_status::complete) return std::nullopt;
      if (f.type == type) return std::string(f.body);
    }
  }

 private:
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string buffer_;
  std::string last_;
};

std::string startup_message(const std::string& user) {
  std::string out;
  p::write_startup_message(out, {{"user", user}, {"database", "app"}});
  return out;
}

std::string ssl_request() {
  std::string out;
  p::write_ssl_request(out);
  return out;
}

}  // namespace

TEST_CASE("psql verifies pgsteer's certificate, plaintext and TLS 1.1 are refused in require mode",
          "[tls]") {
  auto& backends = cluster::shared();
  pgsteer_options options;
  options.extra_yaml = client_tls_yaml("require");
  pgsteer_process proxy(backends, options);
  const auto& ca = certificates();

  const auto psql =
      run_command({"psql", through(proxy, "sslmode=verify-full sslrootcert=" + ca.file("ca.pem")),
                   "-Atc", "select 'over ' || 'tls'"});
  INFO(psql.output);
  CHECK(psql.exit_code == 0);
  CHECK(psql.output.find("over tls") != std::string::npos);

  pg::connection verified(through(proxy, "sslmode=verify-full sslrootcert=" + ca.file("ca.pem")));
  CHECK(PQsslInUse(verified.native()) == 1);
  CHECK(verified.scalar("select 40 + 2") == "42");

  // Plaintext: refused with 28000 and a message that says why.
  const auto plain = try_connect_verbose(through(proxy, "sslmode=disable"));
  REQUIRE(plain);
  CHECK(plain->sqlstate == "28000");
  CHECK(plain->message.find("SSL is required") != std::string::npos);

  // libpq capped at TLS 1.1 cannot connect...
  CHECK(pg::try_connect(through(proxy, "sslmode=require ssl_max_protocol_version=TLSv1.1")));
  // ...and an OpenSSL client that really offers TLS 1.1 is refused by pgsteer, while the same
  // client allowed TLS 1.2 gets in.
  {
    raw_client old(proxy.port());
    old.send(ssl_request());
    REQUIRE(old.read_byte() == 'S');
    CHECK_FALSE(old.handshake("", TLS1_1_VERSION));
  }
  {
    raw_client current(proxy.port());
    current.send(ssl_request());
    REQUIRE(current.read_byte() == 'S');
    CHECK(current.handshake("", TLS1_2_VERSION));
  }
}

TEST_CASE("direct TLS with ALPN postgresql carries the startup message, without ALPN it is refused",
          "[tls]") {
  auto& backends = cluster::shared();
  pgsteer_options options;
  options.client_auth = "trust";
  options.extra_yaml = client_tls_yaml("require");
  pgsteer_process proxy(backends, options);

  {
    raw_client client(proxy.port());
    REQUIRE(client.handshake("postgresql"));
    client.send(startup_message("app"));
    REQUIRE(client.read_until('Z'));
    std::string query;
    p::write_query(query, "select 'direct'");
    client.send(query);
    const auto row = client.read_until('D');
    REQUIRE(row);
    CHECK(row->find("direct") != std::string::npos);
  }
  {
    raw_client client(proxy.port());
    REQUIRE(client.handshake(""));
    client.send(startup_message("app"));
    const auto error = client.read_until('E');
    REQUIRE(error);
    CHECK(error->find("08P01") != std::string::npos);
    CHECK(error->find("ALPN") != std::string::npos);
  }
  {
    // ALPN naming another protocol: the handshake itself fails.
    raw_client client(proxy.port());
    CHECK_FALSE(client.handshake("http/1.1"));
  }
}

TEST_CASE("a TLS client that half-closes after its request gets the whole answer in both modes",
          "[tls]") {
  // OpenSSL may still write on this socket after pgsteer closed it (this client shut its side
  // down without close_notify): an EPIPE, not a signal, as libpq arranges for itself.
  std::signal(SIGPIPE, SIG_IGN);
  auto& backends = cluster::shared();
  for (const char* mode : {"transaction", "session"}) {
    DYNAMIC_SECTION(mode << " pooling") {
      pgsteer_options options;
      options.client_auth = "trust";
      options.pool_mode = mode;
      options.pool_size = 1;
      options.workers = 1;
      options.extra_yaml = client_tls_yaml("require");
      pgsteer_process proxy(backends, options);
      for (int run = 0; run < 20; ++run) {
        INFO("run " << run);
        raw_client client(proxy.port());
        client.send(ssl_request());
        REQUIRE(client.read_byte() == 'S');
        REQUIRE(client.handshake(""));
        client.send(startup_message("app"));
        REQUIRE(client.read_until('Z'));
        std::string query;
        p::write_query(query, "select 'answered' from pg_sleep(0.01)");
        client.send(query);
        client.shutdown_write();
        const auto row = client.read_until('D');
        REQUIRE(row);
        CHECK(row->find("answered") != std::string::npos);
        CHECK(client.read_until('Z'));
        // Then pgsteer closes.
        CHECK(client.read_message().status != p::frame_status::complete);
      }
      // The pool's one server serves the next client.
      pg::connection next(through(proxy, "sslmode=require"));
      CHECK(next.scalar("select 1") == "1");
    }
  }
}

TEST_CASE("with tls.client.mode disable, SSLRequest is answered N and plaintext works", "[tls]") {
  auto& backends = cluster::shared();
  pgsteer_process proxy(backends);

  raw_client client(proxy.port());
  client.send(ssl_request());
  CHECK(client.read_byte() == 'N');
  CHECK(pg::try_connect(through(proxy, "sslmode=require")));
  pg::connection plain(through(proxy, "sslmode=prefer"));
  CHECK(PQsslInUse(plain.native()) == 0);
}

TEST_CASE("bytes sent after SSLRequest, before the handshake, are refused", "[tls]") {
  auto& backends = cluster::shared();
  pgsteer_options options;
  options.extra_yaml = client_tls_yaml("allow");
  pgsteer_process proxy(backends, options);

  raw_client client(proxy.port());
  client.send(ssl_request() + startup_message("app"));
  const auto error = client.read_until('E');
  REQUIRE(error);
  CHECK(error->find("08P01") != std::string::npos);
  CHECK(error->find("unencrypted data after SSL request") != std::string::npos);
}

TEST_CASE("cert authentication maps the certificate CN to the user", "[tls]") {
  auto& backends = cluster::shared();
  pgsteer_options options;
  options.client_auth = "cert";
  options.extra_yaml = client_tls_yaml("require");
  pgsteer_process proxy(backends, options);
  const auto& ca = certificates();
  const std::string verify = "sslmode=verify-full sslrootcert=" + ca.file("ca.pem");

  pg::connection c(through(
      proxy, verify + " sslcert=" + ca.file("client.pem") + " sslkey=" + ca.file("client.key")));
  CHECK(c.scalar("select current_user") == "app");

  // The certificate names app, the client claims another user.
  const auto other_user = try_connect_verbose(through(
      proxy, verify + " sslcert=" + ca.file("client.pem") + " sslkey=" + ca.file("client.key"),
      "postgres"));
  REQUIRE(other_user);
  CHECK(other_user->sqlstate == "28000");
  CHECK(other_user->message == "certificate authentication failed for user \"postgres\"");

  // No certificate at all.
  const auto none = try_connect_verbose(through(proxy, verify));
  REQUIRE(none);
  CHECK(none->sqlstate == "28000");
  CHECK(none->message.find("client certificate") != std::string::npos);

  // CN=app, but from a CA pgsteer does not trust.
  CHECK(pg::try_connect(through(proxy, verify + " sslcert=" + ca.file("stranger.pem") +
                                           " sslkey=" + ca.file("stranger.key"))));
  CHECK(eventually(
      [&] { return proxy.log().find("client certificate not accepted") != std::string::npos; }));
}

TEST_CASE("SCRAM-SHA-256-PLUS: libpq's channel_binding=require succeeds over TLS", "[tls]") {
  auto& backends = cluster::shared();
  pgsteer_options options;
  options.extra_yaml = client_tls_yaml("allow");
  pgsteer_process proxy(backends, options);

  pg::connection bound(through(proxy, "sslmode=require channel_binding=require"));
  CHECK(bound.scalar("select 1") == "1");
  // A wrong password is still wrong with channel binding.
  const auto wrong = try_connect_verbose(
      "host=localhost port=" + std::to_string(proxy.port()) +
      " dbname=app user=app password=nope sslmode=require channel_binding=require");
  REQUIRE(wrong);
  CHECK(wrong->sqlstate == "28P01");
  // allow: plaintext clients still get in, with plain SCRAM.
  pg::connection plain(through(proxy, "sslmode=disable"));
  CHECK(PQsslInUse(plain.native()) == 0);
  CHECK(plain.scalar("select 1") == "1");
}

TEST_CASE("pgsteer to a PostgreSQL with ssl=on in verify-full, a name mismatch is logged",
          "[tls]") {
  auto& backends = cluster::shared();
  const auto& ca = certificates();
  // The primary serves `name`.pem: copied into its data directory, owned by its user (PostgreSQL
  // refuses a key others can read).
  auto serve = [&](const std::string& name) {
    const std::string data = backends.directory() + "/c/node0";
    const auto copy =
        run_command({"bash", "-c",
                     "set -e; cp " + ca.file(name + ".pem") + " " + ca.file(name + ".key") + " " +
                         data + "; chown --reference=" + data + " " + data + "/" + name + ".pem " +
                         data + "/" + name + ".key; chmod 600 " + data + "/" + name + ".key"});
    REQUIRE(copy.exit_code == 0);
    pg::connection super(backends.super_conninfo(0));
    super.exec("alter system set ssl_cert_file = '" + data + "/" + name + ".pem'");
    super.exec("alter system set ssl_key_file = '" + data + "/" + name + ".key'");
    super.exec("alter system set ssl = on");
    super.exec("select pg_reload_conf()");
  };
  auto tls_yaml = [&] {
    return "tls:\n  server: { mode: verify-full, ca_file: " + ca.file("ca.pem") + " }\n";
  };

  serve("server");
  {
    pgsteer_options options;
    options.failover_wait_timeout = "2s";
    options.extra_yaml = tls_yaml();
    pgsteer_process proxy(backends, options);
    // The backend session pgsteer opened is TLS, as the server itself reports.
    std::string ssl;
    CHECK(eventually(
        [&] {
          auto r = pg::try_connect(proxy.conninfo("app_rw"));
          if (r) return false;
          pg::connection c(proxy.conninfo("app_rw"));
          ssl = c.scalar("select ssl::text from pg_stat_ssl where pid = pg_backend_pid()");
          return true;
        },
        20s));
    CHECK(ssl == "true");
  }

  serve("wrong");
  pgsteer_options options;
  options.failover_wait_timeout = "1s";
  options.extra_yaml = tls_yaml();
  pgsteer_process proxy(backends, options);
  CHECK(pg::try_connect(proxy.conninfo("app_rw")));
  CHECK(eventually([&] {
    const auto log = proxy.log();
    return log.find("TLS to backend \"pg1\"") != std::string::npos &&
           log.find("certificate verification failed") != std::string::npos &&
           log.find("IP address mismatch") != std::string::npos;
  }));

  // Leave the primary as other tests expect it: no TLS.
  pg::connection super(backends.super_conninfo(0));
  super.exec("alter system reset ssl");
  super.exec("alter system reset ssl_cert_file");
  super.exec("alter system reset ssl_key_file");
  super.exec("select pg_reload_conf()");
}

TEST_CASE("a reload reads the certificate again, a bad one is refused and the old one stays",
          "[tls][reload]") {
  auto& backends = cluster::shared();
  const auto& ca = certificates();
  // The files pgsteer is configured with, replaced under it as an operator renewing them would.
  const std::string live = ca.dir + "/live";
  const auto made = run_command({"bash", "-c", R"(set -e
mkdir -p ")" + live + R"("
cd ")" + ca.dir + R"("
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout renewed.key \
  -out renewed.csr -subj /CN=localhost
openssl x509 -req -in renewed.csr -CA other-ca.pem -CAkey other-ca.key -CAcreateserial \
  -out renewed.pem -days 2 -extfile server.ext
chmod 644 renewed.key
cp server.pem live/cert.pem; cp server.key live/cert.key
)"});
  REQUIRE(made.exit_code == 0);
  pgsteer_options options;
  options.extra_yaml = "tls:\n  client: { mode: require, cert_file: " + live +
                       "/cert.pem, key_file: " + live + "/cert.key }\n";
  pgsteer_process proxy(backends, options);
  const auto verified_by = [&](const std::string& root) {
    return through(proxy, "sslmode=verify-full sslrootcert=" + root);
  };

  pg::connection before(verified_by(ca.file("ca.pem")));
  CHECK(before.scalar("select 1") == "1");

  // Renewed by another CA: after SIGHUP new clients see the new certificate, the connected one
  // keeps its session.
  REQUIRE(run_command({"bash", "-c",
                       "cp " + ca.file("renewed.pem") + " " + live + "/cert.pem && cp " +
                           ca.file("renewed.key") + " " + live + "/cert.key"})
              .exit_code == 0);
  REQUIRE(::kill(proxy.pid(), SIGHUP) == 0);
  CHECK(eventually([&] { return !pg::try_connect(verified_by(ca.file("other-ca.pem"))); }));
  CHECK(pg::try_connect(verified_by(ca.file("ca.pem"))));
  CHECK(before.scalar("select 2") == "2");

  // A broken certificate: the reload is refused, the log says why, the renewed one stays.
  REQUIRE(run_command({"bash", "-c", "echo broken > " + live + "/cert.pem"}).exit_code == 0);
  REQUIRE(::kill(proxy.pid(), SIGHUP) == 0);
  CHECK(eventually([&] { return proxy.log().find("reload rejected") != std::string::npos; }));
  INFO(proxy.log());
  CHECK_FALSE(pg::try_connect(verified_by(ca.file("other-ca.pem"))));
  CHECK(before.scalar("select 3") == "3");
}
