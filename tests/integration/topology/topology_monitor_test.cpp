// The topology monitor against real PostgreSQL 15 nodes: roles as the servers report them, lag
// from a paused replica, a stopped backend going down and coming back, a promotion after the
// primary died, a split brain after a promotion while the old primary still runs, and a backend
// that never answers. The monitor runs in-process on its own io_context thread, as the control
// thread will run it; the tests only read the snapshots it publishes.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "cluster.hpp"
#include "pg.hpp"
#include "pgsteer/config/config.hpp"
#include "shared_state.hpp"
#include "topology.hpp"

namespace {

using namespace std::chrono_literals;
using pgsteer::proxy::backend_role;
using pgsteer::proxy::topology;
using pgsteer::test::cluster;
namespace asio = boost::asio;
namespace pg = pgsteer::test::pg;
namespace config = pgsteer::config;
namespace proxy = pgsteer::proxy;

constexpr std::uint64_t max_lag_bytes = 1 << 20;

// Three backends pg1..pg3 (nodes 0..2), polled every 200 ms. Lag in seconds is set high so that
// the lag test is decided by bytes alone: an idle replica's "seconds since the last replayed
// commit" grows without it being behind.
// `extra_port`, when set, adds a fourth backend pg4 there.
config::config monitor_config(const cluster& c, int extra_port = 0) {
  std::ostringstream y;
  y << "backends:\n";
  for (int node = 0; node < c.nodes(); ++node) {
    y << "  - { name: pg" << node + 1 << ", host: 127.0.0.1, port: " << c.port(node) << " }\n";
  }
  if (extra_port != 0) y << "  - { name: pg4, host: 127.0.0.1, port: " << extra_port << " }\n";
  y << "databases:\n"
    << "  app: { dbname: " << cluster::app_database << " }\n"
    << "users:\n"
    << "  - { name: " << cluster::app_user << ", password: \"" << cluster::app_password << "\" }\n"
    << "health: { interval: 200ms, timeout: 1s }\n"
    << "routing: { max_lag_bytes: 1MB, max_lag_seconds: 1h }\n";
  auto loaded = config::load_config_string(y.str(), "topology_monitor_test.yaml");
  if (!loaded.value) {
    std::string errors;
    for (const auto& e : loaded.errors) errors += e.to_string() + "\n";
    throw std::runtime_error("test configuration refused:\n" + errors);
  }
  return *loaded.value;
}

std::string describe(const topology& t) {
  std::ostringstream out;
  out << "version " << t.version << ", primary "
      << (t.primary ? std::to_string(*t.primary) : std::string("none")) << ", readable [";
  for (auto i : t.readable) out << ' ' << i;
  out << " ]";
  for (const auto& b : t.backends) {
    out << "\n  " << b.name << ": " << proxy::to_string(b.role) << ", timeline " << b.timeline
        << ", position " << b.position.to_string();
    if (b.lag_bytes) out << ", lag " << *b.lag_bytes << " bytes";
    if (b.lag_seconds) out << " / " << *b.lag_seconds << " s";
    if (b.eligible_for_reads) out << ", eligible";
    if (!b.last_error.empty()) out << ", error: " << b.last_error;
  }
  return out.str();
}

// The monitor on its own control io_context and thread, as runtime.cpp will run it.
class running_monitor {
 public:
  explicit running_monitor(config::config cfg)
      : shared_(std::move(cfg)),
        work_(asio::make_work_guard(control_)),
        monitor_(control_, shared_, [this](std::shared_ptr<const topology> t) {
          std::lock_guard lock(mutex_);
          latest_ = std::move(t);
        }) {
    asio::post(control_, [this] { monitor_.start(); });
    thread_ = std::thread([this] {
      control_.run();
      finished_ = true;
    });
  }

  ~running_monitor() { stop(); }
  running_monitor(const running_monitor&) = delete;
  running_monitor& operator=(const running_monitor&) = delete;

  // Stops the monitor on its thread; true when every coroutine ended within 10 s.
  bool stop() {
    if (!thread_.joinable()) return true;
    asio::post(control_, [this] { monitor_.stop(); });
    work_.reset();
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!finished_ && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    const bool clean = finished_;
    if (!clean) control_.stop();
    thread_.join();
    return clean;
  }

  std::shared_ptr<const topology> latest() {
    std::lock_guard lock(mutex_);
    return latest_;
  }

  // The first published snapshot for which `holds` is true, within 60 s; fails the test with the
  // last snapshot seen otherwise.
  std::shared_ptr<const topology> wait_for(const std::string& what,
                                           const std::function<bool(const topology&)>& holds) {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    std::shared_ptr<const topology> t;
    while (std::chrono::steady_clock::now() < deadline) {
      t = latest();
      if (t && holds(*t)) return t;
      std::this_thread::sleep_for(50ms);
    }
    FAIL("waited 60 s for: " << what << "\nlast snapshot: "
                             << (t ? describe(*t) : std::string("none published")));
    return t;
  }

 private:
  proxy::shared_state shared_;
  asio::io_context control_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::mutex mutex_;
  std::shared_ptr<const topology> latest_;
  proxy::topology_monitor monitor_;
  std::atomic<bool> finished_{false};
  std::thread thread_;
};

// A TCP port that completes the handshake (the kernel does, from the listen backlog) and never
// says a word: a backend that hangs.
class silent_listener {
 public:
  silent_listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof addr;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 64) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
      throw std::runtime_error("silent_listener: cannot listen on loopback");
    }
    port_ = ntohs(addr.sin_port);
  }
  ~silent_listener() { ::close(fd_); }
  silent_listener(const silent_listener&) = delete;
  silent_listener& operator=(const silent_listener&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

bool is_replica(const topology& t, std::size_t i) {
  return t.backends[i].role == backend_role::replica;
}

bool readable_is(const topology& t, std::vector<std::size_t> expected) {
  return t.readable == expected;
}

// Node 0 primary, nodes 1 and 2 replicas taking reads.
bool healthy_start(const topology& t) {
  return t.backends.size() == 3 && t.primary == 0u && is_replica(t, 1) && is_replica(t, 2) &&
         readable_is(t, {1, 2});
}

// Resumes replay however the test ends, so the shared cluster is left as it was found.
struct replay_resumer {
  cluster& c;
  int node;
  ~replay_resumer() {
    try {
      c.resume_replay(node);
    } catch (const std::exception&) {
    }
  }
};

}  // namespace

TEST_CASE("the monitor reports the primary and its replicas, caught up",
          "[integration][topology]") {
  auto& c = cluster::shared();
  c.wait_caught_up();
  running_monitor m(monitor_config(c));

  auto t = m.wait_for("node 0 primary, nodes 1 and 2 replicas with no lag", [](const topology& s) {
    return healthy_start(s) && s.backends[1].lag_bytes == 0u && s.backends[2].lag_bytes == 0u;
  });
  INFO(describe(*t));
  CHECK(t->version >= 1);
  CHECK(t->backends[0].name == "pg1");
  CHECK(t->backends[0].port == c.port(0));
  CHECK(t->backends[0].role == backend_role::primary);
  CHECK(t->backends[0].timeline == 1);
  CHECK_FALSE(t->backends[0].eligible_for_reads);
  for (std::size_t i : {1u, 2u}) {
    CHECK(t->backends[i].eligible_for_reads);
    CHECK(t->backends[i].lag_seconds == 0.0);
    CHECK(t->backends[i].position == t->backends[0].position);
    CHECK(t->backends[i].last_error.empty());
  }

  // Snapshots keep coming, each with a higher version.
  const auto later =
      m.wait_for("a newer snapshot", [&](const topology& s) { return s.version > t->version; });
  CHECK(healthy_start(*later));
  CHECK(m.stop());
}

TEST_CASE("a replica whose replay is paused loses reads until it catches up",
          "[integration][topology]") {
  auto& c = cluster::shared();
  c.wait_caught_up();
  running_monitor m(monitor_config(c));
  m.wait_for("node 0 primary, both replicas readable", healthy_start);

  c.pause_replay(1);
  replay_resumer resume{c, 1};
  pg::connection primary(c.app_conninfo(0));
  primary.exec("drop table if exists topology_lag");
  // About 7 MB of heap, and as much WAL: well past max_lag_bytes (1 MB).
  primary.exec(
      "create table topology_lag as "
      "select g, repeat('x', 200) as filler from generate_series(1, 30000) g");

  auto t = m.wait_for("replica 1 behind, replica 2 still readable", [](const topology& s) {
    return s.primary == 0u && is_replica(s, 1) && !s.backends[1].eligible_for_reads &&
           s.backends[1].lag_bytes > max_lag_bytes && s.backends[2].eligible_for_reads &&
           readable_is(s, {2});
  });
  INFO(describe(*t));
  CHECK(t->backends[2].lag_bytes <= max_lag_bytes);

  c.resume_replay(1);
  m.wait_for("replica 1 readable again", [](const topology& s) {
    return healthy_start(s) && s.backends[1].lag_bytes <= max_lag_bytes;
  });
  primary.exec("drop table topology_lag");
  CHECK(m.stop());
}

TEST_CASE("a stopped replica is down, and a replica again once it is back",
          "[integration][topology]") {
  cluster c;
  running_monitor m(monitor_config(c));
  m.wait_for("node 0 primary, both replicas readable", healthy_start);

  c.stop(2, "fast");
  auto t = m.wait_for("replica 2 down",
                      [](const topology& s) { return s.backends[2].role == backend_role::down; });
  INFO(describe(*t));
  CHECK_FALSE(t->backends[2].last_error.empty());
  CHECK_FALSE(t->backends[2].eligible_for_reads);
  // The others are untouched; once replica 1 is measured again it is the only readable one.
  m.wait_for("the primary and replica 1 unchanged, only replica 1 readable", [](const topology& s) {
    return s.backends[2].role == backend_role::down && s.primary == 0u && is_replica(s, 1) &&
           readable_is(s, {1});
  });

  c.start(2);
  t = m.wait_for("replica 2 back", healthy_start);
  CHECK(t->backends[2].last_error.empty());
  CHECK(m.stop());
}

TEST_CASE("after the primary dies and a replica is promoted, the replica is primary",
          "[integration][topology]") {
  cluster c;
  running_monitor m(monitor_config(c));
  m.wait_for("node 0 primary, both replicas readable", healthy_start);

  c.stop(0, "immediate");
  auto t = m.wait_for("the primary down, no primary", [](const topology& s) {
    return s.backends[0].role == backend_role::down && !s.primary;
  });
  INFO(describe(*t));
  // With no primary there is nothing to measure lag against: replicas keep serving reads.
  CHECK(readable_is(*t, {1, 2}));

  c.promote(1);
  t = m.wait_for("replica 1 primary", [](const topology& s) {
    return s.primary == 1u && s.backends[1].role == backend_role::primary;
  });
  INFO(describe(*t));
  CHECK(t->backends[0].role == backend_role::down);
  CHECK(t->backends[1].timeline == 2);  // a promotion starts a new timeline
  CHECK(is_replica(*t, 2));
  CHECK(m.stop());
}

TEST_CASE("a promoted replica beside a running primary wins, and the old primary is fenced",
          "[integration][topology]") {
  cluster c;
  running_monitor m(monitor_config(c));
  m.wait_for("node 0 primary, both replicas readable", healthy_start);

  c.promote(1);  // node 0 keeps running and accepting writes: split brain
  auto t = m.wait_for("replica 1 primary, node 0 fenced", [](const topology& s) {
    return s.primary == 1u && s.backends[0].role == backend_role::fenced;
  });
  INFO(describe(*t));
  CHECK(t->backends[1].timeline > t->backends[0].timeline);
  CHECK_THAT(t->backends[0].last_error, Catch::Contains("split brain"));
  CHECK_FALSE(t->backends[0].eligible_for_reads);
  for (auto i : t->readable) CHECK(i != 0u);

  // The fence holds round after round.
  const auto later =
      m.wait_for("a newer snapshot", [&](const topology& s) { return s.version > t->version; });
  CHECK(later->primary == 1u);
  CHECK(later->backends[0].role == backend_role::fenced);
  CHECK(m.stop());
}

TEST_CASE("a backend that never answers is down after health.timeout, and stop() ends a round",
          "[integration][topology]") {
  auto& c = cluster::shared();
  silent_listener silent;
  running_monitor m(monitor_config(c, silent.port()));

  auto t = m.wait_for("pg4 down, the others as they are", [](const topology& s) {
    return s.backends.size() == 4 && s.backends[3].role == backend_role::down && s.primary == 0u &&
           readable_is(s, {1, 2});
  });
  INFO(describe(*t));
  CHECK_THAT(t->backends[3].last_error, Catch::Contains("health.timeout"));

  // Every round now waits health.timeout (1 s) for pg4, with 200 ms between rounds: the stop
  // lands in the middle of one, while pg4's login is pending.
  std::this_thread::sleep_for(300ms);
  CHECK(m.stop());
}
