// Runs the pgsteer binary for integration tests (see pgsteer_process.hpp): writes its YAML,
// fork/execs it with output to a log file, waits for its port, and stops it however the test ends.
#include "pgsteer_process.hpp"

#include "pg.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace pgsteer::test {
namespace {

using namespace std::chrono_literals;

std::string make_directory() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/pgsteer-proc-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("pgsteer_process: mkdtemp");
  return pattern;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

bool accepts_connections(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

std::string config_text(const cluster& backends, const pgsteer_options& o, int port) {
  std::ostringstream y;
  y << "# Written by tests/support/pgsteer_process.cpp, shaped like docs/pgsteer.yaml.\n"
    << "listen: [\"127.0.0.1:" << port << "\""
    << (o.listen_ipv6 ? ", \"[::1]:" + std::to_string(port) + "\"" : std::string()) << "]\n"
    << "workers: " << o.workers << "\n"
    << "shutdown_timeout: " << o.shutdown_timeout << "\n"
    << "backends:\n";
  for (int node = 0; node < backends.nodes(); ++node) {
    y << "  - { name: pg" << node + 1 << ", host: 127.0.0.1, port: " << backends.port(node)
      << " }\n";
  }
  y << "databases:\n"
    << "  app:    { dbname: app, route: split }\n"
    << "  app_rw: { dbname: app, route: primary }\n"
    << "  app_ro: { dbname: app, route: replica }\n"
    << "users:\n"
    << "  - { name: " << cluster::app_user << ", password: \"" << cluster::app_password << "\" }\n"
    <<
      [&] {
        std::string users;
        for (const auto& u : o.extra_users) users += "  - " + u + "\n";
        return users;
      }()
    << "pool:\n"
    << "  mode: " << o.pool_mode << "\n"
    << "  size: " << o.pool_size << "\n"
    << "  min_idle: " << o.min_idle << "\n"
    << (o.server_idle_timeout.empty() ? ""
                                      : "  server_idle_timeout: " + o.server_idle_timeout + "\n")
    << (o.server_lifetime.empty() ? "" : "  server_lifetime: " + o.server_lifetime + "\n")
    << "  query_wait_timeout: " << o.query_wait_timeout << "\n"
    << "clients:\n"
    << "  max_connections: " << o.max_connections << "\n"
    << "  auth: " << o.client_auth << "\n"
    << (o.client_idle_timeout.empty() ? "" : "  idle_timeout: " + o.client_idle_timeout + "\n");
  for (const auto& line : o.client_settings) y << "  " << line << "\n";
  y << "  hba:\n";
  if (o.hba_rules.empty()) {
    y << "    - { address: 127.0.0.0/8, database: all, user: all, method: " << o.client_auth
      << " }\n";
  }
  for (const auto& rule : o.hba_rules) y << "    - " << rule << "\n";
  y << "health:\n"
    << "  interval: " << o.health_interval << "\n"
    << "  timeout: 2s\n"
    << "  user: " << cluster::app_user << "\n"
    << (o.failover_wait_timeout.empty()
            ? ""
            : "failover:\n  wait_timeout: " + o.failover_wait_timeout + "\n")
    << "log: { level: " << o.log_level << ", format: " << o.log_format
    << (o.slow_query_threshold.empty() ? "" : ", slow_query_threshold: " + o.slow_query_threshold)
    << " }\n";
  if (o.http_port != 0) y << "http:\n  listen: \"127.0.0.1:" << o.http_port << "\"\n";
  y << o.extra_yaml;
  if (!o.extra_yaml.empty() && o.extra_yaml.back() != '\n') y << "\n";
  return y.str();
}

// Waits up to `limit` for `pid` to exit; true once it is reaped.
bool reap_within(pid_t pid, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (true) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
}

// Socket inodes held by a process.
std::set<unsigned long> socket_inodes(pid_t pid) {
  std::set<unsigned long> out;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (const dirent* e = ::readdir(d)) {
    char target[128];
    const std::string link = dir + "/" + e->d_name;
    const auto n = ::readlink(link.c_str(), target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = '\0';
    unsigned long inode = 0;
    if (std::sscanf(target, "socket:[%lu]", &inode) == 1) out.insert(inode);
  }
  ::closedir(d);
  return out;
}

std::mutex running_mutex;
std::set<const pgsteer_process*> running_processes;

}  // namespace

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("free_port: socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("free_port: bind");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

pgsteer_process::pgsteer_process(const cluster& backends, pgsteer_options options)
    : dir_(make_directory()),
      config_file_(dir_ + "/pgsteer.yaml"),
      log_file_(dir_ + "/pgsteer.log"),
      port_(free_port()) {
  {
    std::ofstream out(config_file_);
    out << config_text(backends, options, port_);
    if (!out) throw std::runtime_error("pgsteer_process: cannot write " + config_file_);
  }

  // Everything the child needs is prepared before fork: after it only async-signal-safe calls.
  const std::string binary = PGSTEER_BINARY;
  const char* argv[] = {binary.c_str(), "-c", config_file_.c_str(), nullptr};
  const int log_fd = ::open(log_file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::runtime_error("pgsteer_process: cannot open " + log_file_);
  const pid_t parent = ::getpid();

  pid_ = ::fork();
  if (pid_ < 0) {
    ::close(log_fd);
    throw std::runtime_error("pgsteer_process: fork failed");
  }
  if (pid_ == 0) {
    // Dies with the test process, even when that one is SIGKILLed.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    const int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    ::execv(argv[0], const_cast<char* const*>(argv));
    ::_exit(127);
  }
  ::close(log_fd);

  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (true) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      throw std::runtime_error("pgsteer exited with " + std::to_string(code) +
                               " before accepting connections; log:\n" + log());
    }
    if (accepts_connections(port_)) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      stop();
      throw std::runtime_error("pgsteer did not accept connections on port " +
                               std::to_string(port_) + " within 10 s; log:\n" + log());
    }
    std::this_thread::sleep_for(50ms);
  }
  const std::lock_guard lock(running_mutex);
  running_processes.insert(this);
}

pgsteer_process::~pgsteer_process() {
  stop();
  ::unlink(config_file_.c_str());
  ::unlink(log_file_.c_str());
  ::rmdir(dir_.c_str());
}

void pgsteer_process::stop() {
  if (pid_ <= 0) return;
  {
    const std::lock_guard lock(running_mutex);
    running_processes.erase(this);
  }
  ::kill(pid_, SIGTERM);
  if (!reap_within(pid_, 5s)) {
    ::kill(pid_, SIGKILL);
    reap_within(pid_, 5s);
  }
  pid_ = -1;
}

std::optional<int> pgsteer_process::wait_exit(std::chrono::milliseconds limit) {
  if (pid_ <= 0) return std::nullopt;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (true) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      {
        const std::lock_guard lock(running_mutex);
        running_processes.erase(this);
      }
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(20ms);
  }
}

void pgsteer_process::kill() {
  if (pid_ <= 0) return;
  {
    const std::lock_guard lock(running_mutex);
    running_processes.erase(this);
  }
  ::kill(pid_, SIGKILL);
  reap_within(pid_, 5s);
  pid_ = -1;
}

std::string pgsteer_process::conninfo(const std::string& database, const std::string& user,
                                      const std::string& password) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=" + database + " user=" + user +
         " password=" + password + " connect_timeout=10";
}

std::string pgsteer_process::log() const {
  return read_file(log_file_);
}

std::string pgsteer_process::running_logs() {
  const std::lock_guard lock(running_mutex);
  std::string out;
  for (const auto* p : running_processes) {
    out += "---- log of pgsteer on port " + std::to_string(p->port_) + " (pid " +
           std::to_string(p->pid_) + ", config " + p->config_file_ + ") ----\n" + p->log() +
           "---- end of pgsteer log ----\n";
  }
  return out;
}

std::vector<int> pgsteer_process::server_ports(int backend_port) const {
  std::vector<int> out;
  if (pid_ <= 0) return out;
  const auto inodes = socket_inodes(pid_);
  std::ifstream tcp("/proc/" + std::to_string(pid_) + "/net/tcp");
  std::string line;
  std::getline(tcp, line);  // header
  while (std::getline(tcp, line)) {
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
    unsigned local_ip = 0, local_port = 0, remote_ip = 0, remote_port = 0, state = 0;
    unsigned long inode = 0;
    if (std::sscanf(line.c_str(), " %*u: %8X:%4X %8X:%4X %2X %*s %*s %*s %*u %*u %lu", &local_ip,
                    &local_port, &remote_ip, &remote_port, &state, &inode) != 6) {
      continue;
    }
    constexpr unsigned established = 1;
    if (state == established && static_cast<int>(remote_port) == backend_port &&
        inodes.count(inode) != 0) {
      out.push_back(static_cast<int>(local_port));
    }
  }
  return out;
}

int pgsteer_process::pooled_servers(const cluster& backends, int node) const {
  const auto ports = server_ports(backends.port(node));
  if (ports.empty()) return 0;
  std::string list;
  for (const int p : ports) {
    if (!list.empty()) list += ',';
    list += std::to_string(p);
  }
  pg::connection super(backends.super_conninfo(node, "app"));
  return std::stoi(super.scalar(
      "select count(*) from pg_stat_activity where datname = 'app' and usename = 'app' "
      "and backend_type = 'client backend' and client_addr = '127.0.0.1' "
      "and application_name <> 'pgsteer health check' and client_port in (" +
      list + ")"));
}

command_result run_command(const std::vector<std::string>& argv, const std::string& input,
                           const std::vector<std::string>& environment) {
  std::vector<const char*> args;
  for (const auto& a : argv) args.push_back(a.c_str());
  args.push_back(nullptr);
  // The child's environment is built here: after fork only async-signal-safe calls.
  std::vector<const char*> env;
  // Given entries come first: getenv returns the first match.
  for (const auto& e : environment) env.push_back(e.c_str());
  for (char** e = environ; *e != nullptr; ++e) env.push_back(*e);
  env.push_back(nullptr);

  int in_pipe[2];
  int out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) throw std::runtime_error("run_command: pipe");
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("run_command: pipe");

  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("run_command: fork");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(in_pipe[0], STDIN_FILENO);
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(out_pipe[1], STDERR_FILENO);
    ::execvpe(args[0], const_cast<char* const*>(args.data()), const_cast<char* const*>(env.data()));
    ::_exit(127);
  }
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);

  // Feed stdin and drain stdout together, so a large output never blocks a large input.
  command_result result;
  std::size_t written = 0;
  int in_fd = in_pipe[1];
  if (input.empty()) {
    ::close(in_fd);
    in_fd = -1;
  }
  while (true) {
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {in_fd, POLLOUT, 0}};
    if (::poll(fds, in_fd >= 0 ? 2 : 1, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (in_fd >= 0 && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
      const auto n = ::write(in_fd, input.data() + written, input.size() - written);
      if (n > 0) written += static_cast<std::size_t>(n);
      if (n < 0 || written == input.size()) {
        ::close(in_fd);
        in_fd = -1;
      }
    }
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      char buffer[65536];
      const auto n = ::read(out_pipe[0], buffer, sizeof buffer);
      if (n <= 0) break;
      result.output.append(buffer, static_cast<std::size_t>(n));
    }
  }
  if (in_fd >= 0) ::close(in_fd);
  ::close(out_pipe[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::optional<connect_failure> try_connect_verbose(const std::string& conninfo) {
  PGconn* conn = PQconnectStart(conninfo.c_str());
  if (conn == nullptr) return connect_failure{"", "", "out of memory", ""};
  // Verbose messages carry the SQLSTATE ("FATAL:  28P01: ..."), which libpq keeps nowhere else
  // for a failed connection attempt.
  PQsetErrorVerbosity(conn, PQERRORS_VERBOSE);
  PostgresPollingStatusType state = PGRES_POLLING_WRITING;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (state != PGRES_POLLING_OK && state != PGRES_POLLING_FAILED &&
         PQstatus(conn) != CONNECTION_BAD) {
    if (std::chrono::steady_clock::now() >= deadline) break;
    pollfd p{PQsocket(conn), static_cast<short>(state == PGRES_POLLING_READING ? POLLIN : POLLOUT),
             0};
    if (p.fd >= 0) ::poll(&p, 1, 1000);
    state = PQconnectPoll(conn);
  }
  if (state == PGRES_POLLING_OK && PQstatus(conn) == CONNECTION_OK) {
    PQfinish(conn);
    return std::nullopt;
  }
  connect_failure failure;
  failure.raw = PQerrorMessage(conn);
  PQfinish(conn);
  if (failure.raw.empty()) failure.raw = "connection attempt timed out";
  // The server's part follows "failed: " (libpq 15) and reads "SEVERITY:  CODE: message".
  for (const char* severity : {"FATAL:  ", "ERROR:  ", "PANIC:  "}) {
    const auto at = failure.raw.find(severity);
    if (at == std::string::npos) continue;
    failure.severity = std::string(severity, std::strlen(severity) - 3);
    std::string rest = failure.raw.substr(at + std::strlen(severity));
    if (rest.size() > 7 && rest[5] == ':' && rest[6] == ' ') {
      failure.sqlstate = rest.substr(0, 5);
      rest = rest.substr(7);
    }
    failure.message = rest.substr(0, rest.find('\n'));
    break;
  }
  if (failure.severity.empty()) failure.message = failure.raw.substr(0, failure.raw.find('\n'));
  return failure;
}

}  // namespace pgsteer::test
