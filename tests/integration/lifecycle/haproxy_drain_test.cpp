// The deployment pgsteer replaces PgBouncer + HAProxy in, seen from HAProxy: the real Debian
// haproxy in front of two pgsteer instances, checking `GET /health/ready` on each one's
// http.listen. SIGTERM one of them while pgbench opens a new connection per transaction through
// HAProxy: the draining one answers 503 and refuses new connections, HAProxy sends everything to
// the other, and pgbench sees no failed transaction.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>

#include "cluster.hpp"
#include "eventually.hpp"
#include "http_client.hpp"
#include "lifecycle.hpp"
#include "pg.hpp"
#include "pgsteer_process.hpp"

using namespace std::chrono_literals;
using pgsteer::test::cluster;
using pgsteer::test::command_result;
using pgsteer::test::eventually;
using pgsteer::test::free_port;
using pgsteer::test::parse_count;
using pgsteer::test::pgsteer_options;
using pgsteer::test::pgsteer_process;
using pgsteer::test::run_command;
using pgsteer::test::send_signal;
namespace pg = pgsteer::test::pg;

namespace {

// haproxy in the foreground (-db) with a configuration file; stopped by the destructor, and
// killed with the test process.
class haproxy_process {
 public:
  haproxy_process(const std::string& config) {
    char dir_template[] = "/tmp/pgsteer-haproxy-XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = dir_template;
    const std::string config_file = dir_ + "/haproxy.cfg";
    log_file_ = dir_ + "/haproxy.log";
    std::ofstream(config_file) << config;
    const int log_fd = ::open(log_file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log_fd < 0) throw std::runtime_error("cannot open " + log_file_);
    const char* argv[] = {"haproxy", "-db", "-f", config_file.c_str(), nullptr};
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::dup2(log_fd, STDOUT_FILENO);
      ::dup2(log_fd, STDERR_FILENO);
      ::execvp(argv[0], const_cast<char* const*>(argv));
      ::_exit(127);
    }
    ::close(log_fd);
  }
  ~haproxy_process() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  haproxy_process(const haproxy_process&) = delete;
  haproxy_process& operator=(const haproxy_process&) = delete;

  std::string log() const { return pgsteer::test::read_file(log_file_); }

 private:
  std::string dir_;
  std::string log_file_;
  pid_t pid_ = -1;
};

pgsteer_options instance(int http_port) {
  pgsteer_options options;
  options.workers = 1;
  options.pool_size = 4;
  options.query_wait_timeout = "30s";
  options.shutdown_timeout = "20s";
  options.health_interval = "250ms";
  options.http_port = http_port;
  return options;
}

}  // namespace

TEST_CASE("HAProxy stops sending connections to a draining pgsteer, pgbench -C sees no failure",
          "[lifecycle][haproxy]") {
  auto& c = cluster::shared();
  const auto init = run_command({"pgbench", "-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p",
                                 std::to_string(c.port(0)), "-U", "app", "app"},
                                {}, {"PGPASSWORD=app"});
  REQUIRE(init.exit_code == 0);

  const int http_a = free_port();
  const int http_b = free_port();
  pgsteer_process a(c, instance(http_a));
  pgsteer_process b(c, instance(http_b));
  const int front = free_port();
  const std::string config =
      "global\n"
      "  maxconn 500\n"
      "defaults\n"
      "  mode tcp\n"
      "  timeout connect 2s\n"
      "  timeout client 60s\n"
      "  timeout server 60s\n"
      "  timeout check 1s\n"
      "  retries 3\n"
      "  option redispatch\n"
      "frontend postgres\n"
      "  bind 127.0.0.1:" +
      std::to_string(front) +
      "\n"
      "  default_backend pgsteer\n"
      "backend pgsteer\n"
      "  balance roundrobin\n"
      "  option httpchk GET /health/ready\n"
      "  http-check expect status 200\n"
      "  default-server inter 200ms fall 1 rise 1\n"
      "  server a 127.0.0.1:" +
      std::to_string(a.port()) + " check port " + std::to_string(http_a) +
      "\n"
      "  server b 127.0.0.1:" +
      std::to_string(b.port()) + " check port " + std::to_string(http_b) + "\n";
  haproxy_process haproxy(config);
  INFO(haproxy.log());

  // Both instances ready (a primary known), and HAProxy passes connections to them.
  for (int port : {http_a, http_b}) {
    CHECK(eventually([&] { return pgsteer::test::http_get(port, "/health/ready").status == 200; }));
  }
  const std::string through_haproxy = "host=127.0.0.1 port=" + std::to_string(front) +
                                      " dbname=app_rw user=app password=app connect_timeout=5";
  REQUIRE(eventually([&] { return !pg::try_connect(through_haproxy).has_value(); }));
  // Round robin: both take connections before the drain.
  CHECK(eventually([&] {
    pg::connection probe(through_haproxy);
    return a.log().find("logged in") != std::string::npos &&
           b.log().find("logged in") != std::string::npos;
  }));

  command_result bench;
  std::thread load([&] {
    bench = run_command({"pgbench", "-n", "-C", "-S", "-c", "4", "-j", "2", "-T", "6", "-h",
                         "127.0.0.1", "-p", std::to_string(front), "-U", "app", "app_rw"},
                        {}, {"PGPASSWORD=app"});
  });
  // Once pgbench's clients reach a, it drains.
  CHECK(eventually(
      [&] { return pgsteer::test::occurrences(a.log(), "logged in as user app") > 20; }));
  send_signal(a, SIGTERM);
  CHECK(eventually([&] { return pgsteer::test::http_get(http_a, "/health/ready").status != 200; },
                   5s, 20ms));
  const auto code = a.wait_exit(20s);
  const int a_logins = pgsteer::test::occurrences(a.log(), "logged in as user app");
  const int b_logins_at_exit = pgsteer::test::occurrences(b.log(), "logged in as user app");
  load.join();

  INFO(bench.output);
  INFO(a.log());
  CHECK(code == std::optional<int>(0));
  CHECK(bench.exit_code == 0);
  CHECK(parse_count(bench.output, R"(number of failed transactions: (\d+))") == 0);
  CHECK(parse_count(bench.output, R"(number of transactions actually processed: (\d+))") > 0);
  // After a exited, every connection went to b.
  CHECK(pgsteer::test::occurrences(b.log(), "logged in as user app") > b_logins_at_exit);
  CHECK(a_logins > 20);
}
