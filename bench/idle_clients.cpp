// Load tool for bench/run's idle-clients part: opens N authenticated client connections with
// libpq's non-blocking connect (PQconnectStart / PQconnectPoll driven by poll()), holds them idle
// while the harness measures the proxy's memory, and closes them when told (SIGTERM/SIGINT).
//
//   idle_clients [--clients N] [--parallel P] [--timeout S] [--hold S] CONNINFO
//
// The password comes from CONNINFO or PGPASSWORD. Prints one line `connected=N failed=M ...` on
// stdout once every connection is up or has failed (the harness waits for that line), and a
// `still_connected=K` line when it exits. Exit status 0 only if every client connected and stayed.
#include <libpq-fe.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

struct options {
  std::size_t clients = 5000;
  std::size_t parallel = 50;  // connection attempts in flight; bounded so listen backlogs hold
  int timeout_seconds = 300;  // for all connections to be up
  int hold_seconds = 600;     // the longest it holds them without being told to stop
  std::string conninfo;
};

// A connection attempt in progress: the direction PQconnectPoll last asked to wait for.
struct attempt {
  PGconn* conn;
  PostgresPollingStatusType want;
};

int usage() {
  std::fprintf(stderr,
               "usage: idle_clients [--clients N] [--parallel P] [--timeout S] [--hold S] "
               "CONNINFO\n");
  return 2;
}

bool parse_count(const char* text, long max, long& out) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < 1 || v > max) return false;
  out = v;
  return true;
}

bool parse_options(int argc, char** argv, options& opt) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    long v = 0;
    if (i + 1 < argc &&
        (arg == "--clients" || arg == "--parallel" || arg == "--timeout" || arg == "--hold")) {
      if (!parse_count(argv[++i], 1000000, v)) return false;
      if (arg == "--clients") opt.clients = static_cast<std::size_t>(v);
      if (arg == "--parallel") opt.parallel = static_cast<std::size_t>(v);
      if (arg == "--timeout") opt.timeout_seconds = static_cast<int>(v);
      if (arg == "--hold") opt.hold_seconds = static_cast<int>(v);
    } else if (opt.conninfo.empty() && arg.rfind("--", 0) != 0) {
      opt.conninfo = arg;
    } else {
      return false;
    }
  }
  return !opt.conninfo.empty();
}

// Each idle client is one descriptor here; the default soft limit (1024) is far too low.
void raise_fd_limit(std::size_t clients) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur < clients + 64) {
    std::fprintf(stderr, "idle_clients: fd limit %llu is below %zu clients; raise ulimit -Hn\n",
                 static_cast<unsigned long long>(lim.rlim_cur), clients);
  }
}

short events_for(PostgresPollingStatusType want) {
  return want == PGRES_POLLING_READING ? POLLIN : POLLOUT;
}

// Drives all attempts until every client is connected or failed, or the deadline passes.
// Returns the connected ones; counts failures and keeps the first error message.
std::vector<PGconn*> connect_all(const options& opt, std::size_t& failed,
                                 std::string& first_error) {
  std::vector<PGconn*> connected;
  connected.reserve(opt.clients);
  std::vector<attempt> in_flight;
  std::vector<pollfd> fds;
  std::size_t started = 0;
  const auto deadline = clock_type::now() + std::chrono::seconds(opt.timeout_seconds);

  const auto fail = [&](PGconn* conn) {
    if (first_error.empty()) first_error = PQerrorMessage(conn);
    ++failed;
    PQfinish(conn);
  };

  while ((started < opt.clients || !in_flight.empty()) && clock_type::now() < deadline) {
    while (started < opt.clients && in_flight.size() < opt.parallel) {
      ++started;
      PGconn* conn = PQconnectStart(opt.conninfo.c_str());
      if (conn == nullptr) {
        ++failed;
        if (first_error.empty()) first_error = "PQconnectStart: out of memory";
      } else if (PQstatus(conn) == CONNECTION_BAD) {
        fail(conn);
      } else {
        // libpq: act as if PQconnectPoll had just returned PGRES_POLLING_WRITING.
        in_flight.push_back({conn, PGRES_POLLING_WRITING});
      }
    }
    // The socket may change between polls (libpq tries addresses in turn): rebuild each time.
    fds.clear();
    for (const auto& a : in_flight) fds.push_back({PQsocket(a.conn), events_for(a.want), 0});
    if (fds.empty()) continue;
    if (poll(fds.data(), static_cast<nfds_t>(fds.size()), 100) < 0 && errno != EINTR) break;

    std::vector<attempt> still;
    still.reserve(in_flight.size());
    for (std::size_t i = 0; i < in_flight.size(); ++i) {
      attempt a = in_flight[i];
      if (fds[i].revents == 0) {
        still.push_back(a);
        continue;
      }
      a.want = PQconnectPoll(a.conn);
      if (a.want == PGRES_POLLING_OK) {
        connected.push_back(a.conn);
      } else if (a.want == PGRES_POLLING_FAILED) {
        fail(a.conn);
      } else {
        still.push_back(a);
      }
    }
    in_flight.swap(still);
  }
  for (const auto& a : in_flight) {  // the deadline passed
    if (first_error.empty()) first_error = "timed out connecting";
    ++failed;
    PQfinish(a.conn);
  }
  failed += opt.clients - started;
  return connected;
}

// Holds the clients idle until SIGTERM/SIGINT or hold_seconds, watching for connections the
// proxy closes (an idle timeout or a crash would show up here). Returns how many it closed.
std::size_t hold(std::vector<PGconn*>& conns, int signal_fd, int hold_seconds) {
  std::size_t closed = 0;
  std::vector<pollfd> fds;
  const auto deadline = clock_type::now() + std::chrono::seconds(hold_seconds);
  while (clock_type::now() < deadline) {
    fds.clear();
    fds.push_back({signal_fd, POLLIN, 0});
    for (PGconn* c : conns) fds.push_back({c == nullptr ? -1 : PQsocket(c), POLLIN, 0});
    const int n = poll(fds.data(), static_cast<nfds_t>(fds.size()), 1000);
    if (n < 0 && errno != EINTR) break;
    if (fds[0].revents != 0) break;
    for (std::size_t i = 1; i < fds.size(); ++i) {
      PGconn*& c = conns[i - 1];
      if (c == nullptr || fds[i].revents == 0) continue;
      // Input on an idle connection is a notice, a ParameterStatus, or the end of it.
      if (PQconsumeInput(c) == 0 || PQstatus(c) != CONNECTION_OK) {
        ++closed;
        PQfinish(c);
        c = nullptr;
      } else {
        while (PGnotify* note = PQnotifies(c)) PQfreemem(note);
      }
    }
  }
  return closed;
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  if (!parse_options(argc, argv, opt)) return usage();
  raise_fd_limit(opt.clients);

  // Signals arrive through a descriptor so the hold loop can poll them with the sockets.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  const int signal_fd = signalfd(-1, &mask, SFD_CLOEXEC);
  if (signal_fd < 0) {
    std::perror("idle_clients: signalfd");
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);

  const auto begin = clock_type::now();
  std::size_t failed = 0;
  std::string first_error;
  std::vector<PGconn*> conns = connect_all(opt, failed, first_error);
  const std::chrono::duration<double> took = clock_type::now() - begin;
  std::printf("connected=%zu failed=%zu seconds=%.1f\n", conns.size(), failed, took.count());
  std::fflush(stdout);
  if (!first_error.empty())
    std::fprintf(stderr, "idle_clients: first error: %s", first_error.c_str());

  const std::size_t closed = hold(conns, signal_fd, opt.hold_seconds);
  const std::size_t still = conns.size() - closed;
  std::printf("still_connected=%zu closed_by_peer=%zu\n", still, closed);
  std::fflush(stdout);
  for (PGconn* c : conns) {
    if (c != nullptr) PQfinish(c);
  }
  close(signal_fd);
  return failed == 0 && closed == 0 ? 0 : 1;
}
