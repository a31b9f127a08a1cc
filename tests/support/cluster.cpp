// Integration-test cluster fixture: scripts/cluster does the PostgreSQL work, this file picks
// ports, owns the temporary directory and guarantees tear-down (see cluster.hpp).
#include "cluster.hpp"

#include "pg.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace pgsteer::test {
namespace {

const std::string script = std::string(PGSTEER_SOURCE_DIR) + "/scripts/cluster";

bool port_free(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// Finds `count` consecutive free loopback ports, starting from a per-process offset so that
// test processes running side by side rarely race for the same ones. Below Linux's ephemeral
// range (32768 and up): a port free now there may be taken by some outgoing connection before
// PostgreSQL binds it.
int free_port_range(int count) {
  constexpr int low = 20000, high = 32768;
  const int start = low + (static_cast<int>(::getpid()) % 1200) * 10;
  for (int tried = 0; tried < high - low; tried += count + 1) {
    const int base = low + (start - low + tried) % (high - low - count);
    bool all = true;
    for (int i = 0; i < count && all; ++i) all = port_free(base + i);
    if (all) return base;
  }
  throw std::runtime_error("cluster: no free loopback port range");
}

std::string make_directory() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/pgsteer-cluster-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("cluster: mkdtemp failed");
  // The servers run as `postgres` when the tests run as root: they must reach the directory.
  ::chmod(pattern.c_str(), 0755);
  return pattern;
}

}  // namespace

cluster::cluster(cluster_options options)
    : replicas_(options.replicas), rewindable_(options.rewindable), dir_(make_directory()) {
  base_port_ = free_port_range(replicas_ + 1);

  // The reaper is a shell blocked reading a pipe whose only writer is this process (O_CLOEXEC
  // keeps the write end out of every other child); when this process ends, however it ends, the
  // read returns and the reaper stops the nodes and removes the directory. It runs in its own
  // process group so that a Ctrl-C aimed at the test run does not stop it before it works.
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("cluster: pipe2 failed");
  const std::string cluster_dir = dir_ + "/c";
  const char* argv[] = {"bash",
                        "-c",
                        "cat >/dev/null; bash \"$0\" stop \"$1\" --remove; rmdir \"$2\"",
                        script.c_str(),
                        cluster_dir.c_str(),
                        dir_.c_str(),
                        nullptr};
  reaper_ = ::fork();
  if (reaper_ == 0) {
    ::setpgid(0, 0);
    ::dup2(fds[0], STDIN_FILENO);  // dup2 clears O_CLOEXEC on the copy
    ::execvp("bash", const_cast<char* const*>(argv));
    ::_exit(127);
  }
  ::close(fds[0]);
  reaper_pipe_ = fds[1];

  run_script("start " + cluster_dir + " --base-port " + std::to_string(base_port_) +
             " --replicas " + std::to_string(replicas_) + (rewindable_ ? " --rewindable" : "") +
             " >/dev/null");
}

cluster::~cluster() {
  if (reaper_pipe_ >= 0) ::close(reaper_pipe_);
  if (reaper_ > 0) {
    int status = 0;
    ::waitpid(reaper_, &status, 0);
  }
}

cluster& cluster::shared() {
  static cluster instance;
  return instance;
}

void cluster::run_script(const std::string& args) const {
  const std::string command = "bash " + script + " " + args;
  const int rc = std::system(command.c_str());
  if (rc != 0) throw std::runtime_error("cluster: failed (" + std::to_string(rc) + "): " + command);
}

std::string cluster::app_conninfo(int node) const {
  return "host=127.0.0.1 port=" + std::to_string(port(node)) + " user=" + app_user +
         " password=" + app_password + " dbname=" + app_database + " connect_timeout=5";
}

std::string cluster::super_conninfo(int node, const std::string& database) const {
  return "host=127.0.0.1 port=" + std::to_string(port(node)) + " user=" + superuser +
         " password=" + superuser_password + " dbname=" + database + " connect_timeout=5";
}

void cluster::stop(int node, const std::string& mode) {
  run_script("stop-node " + dir_ + "/c " + std::to_string(node) + " " + mode);
}

void cluster::start(int node) {
  run_script("start-node " + dir_ + "/c " + std::to_string(node));
}

void cluster::promote(int node) {
  run_script("promote " + dir_ + "/c " + std::to_string(node));
}

void cluster::rejoin(int node, int primary) {
  run_script("rejoin " + dir_ + "/c " + std::to_string(node) + " " + std::to_string(primary));
}

void cluster::pause_replay(int node) {
  pg::connection(super_conninfo(node)).exec("select pg_wal_replay_pause()");
}

void cluster::resume_replay(int node) {
  pg::connection(super_conninfo(node)).exec("select pg_wal_replay_resume()");
}

bool cluster::is_in_recovery(int node) {
  return pg::connection(super_conninfo(node)).scalar("select pg_is_in_recovery()") == "t";
}

void cluster::wait_replayed(int node, const std::string& lsn) {
  pg::connection conn(super_conninfo(node));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (conn.scalar("select pg_last_wal_replay_lsn() >= '" + lsn + "'::pg_lsn") != "t") {
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("cluster: node " + std::to_string(node) + " did not replay up to " +
                               lsn + " within 30 s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void cluster::wait_caught_up(int primary) {
  const std::string target =
      pg::connection(super_conninfo(primary)).scalar("select pg_current_wal_insert_lsn()");
  for (int node = 0; node < nodes(); ++node) {
    if (node == primary) continue;
    try {
      pg::connection conn(super_conninfo(node));
      if (conn.scalar("select pg_is_in_recovery() and pg_is_wal_replay_paused()") == "t") continue;
    } catch (const pg::error&) {
      continue;  // a stopped node has nothing to catch up
    }
    wait_replayed(node, target);
  }
}

void cluster::make_synchronous(int replica, int primary_node) {
  const std::string name = "node" + std::to_string(replica);
  pg::connection primary(super_conninfo(primary_node));
  primary.exec("alter system set synchronous_standby_names = '" + name + "'");
  primary.exec("select pg_reload_conf()");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (primary.scalar("select count(*) from pg_stat_replication where application_name = '" +
                        name + "' and sync_state = 'sync'") != "1") {
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("cluster: " + name + " did not become a synchronous standby");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace pgsteer::test
