// A real PostgreSQL 15 primary with streaming replicas on 127.0.0.1, for integration tests.
// It drives scripts/cluster, so tests, the demo and the benchmarks share one setup. The cluster
// is torn down by the destructor and, if the test process dies (even by SIGKILL), by a reaper
// child that notices the process is gone.
#pragma once

#include <sys/types.h>
#include <string>

namespace pgsteer::test {

struct cluster_options {
  int replicas = 2;
  // Nodes can rejoin() after a failover (scripts/cluster start --rewindable): for tests that
  // fail over again and again.
  bool rewindable = false;
};

class cluster {
 public:
  explicit cluster(cluster_options options = {});
  ~cluster();
  cluster(const cluster&) = delete;
  cluster& operator=(const cluster&) = delete;

  // A process-wide cluster started on first use and stopped at exit, for tests that leave the
  // topology as they found it (no stop, no promote).
  static cluster& shared();

  static constexpr const char* host = "127.0.0.1";
  static constexpr const char* superuser = "postgres";
  static constexpr const char* superuser_password = "postgres";
  static constexpr const char* app_user = "app";
  static constexpr const char* app_password = "app";
  static constexpr const char* app_database = "app";

  // Node 0 is the primary the cluster started with, nodes 1..replicas its replicas.
  int nodes() const { return replicas_ + 1; }
  int port(int node) const { return base_port_ + node; }
  const std::string& directory() const { return dir_; }

  // libpq keyword conninfo for a node: as the app user on database app, or as the superuser.
  std::string app_conninfo(int node) const;
  std::string super_conninfo(int node, const std::string& database = "postgres") const;

  void stop(int node, const std::string& mode = "fast");
  void start(int node);
  void promote(int node);  // returns once the node accepts writes
  // Stopped `node` (an old primary) follows `primary` again, as a streaming replica, by
  // pg_rewind: only a rewindable cluster. Returns once it runs; see wait_caught_up().
  void rejoin(int node, int primary);
  // Commits on `primary` wait until `replica` has flushed them: with the primary lost, promoting
  // that replica loses no acknowledged commit (asynchronous replication may).
  void make_synchronous(int replica, int primary = 0);
  void pause_replay(int node);
  void resume_replay(int node);
  bool is_in_recovery(int node);
  // Waits until every running replica whose replay is not paused has replayed the primary's
  // current WAL position.
  void wait_caught_up(int primary = 0);
  // Waits until `node` has replayed WAL up to `lsn` (text form X/Y); throws after 30 s.
  void wait_replayed(int node, const std::string& lsn);

 private:
  void run_script(const std::string& args) const;

  int replicas_;
  bool rewindable_;
  int base_port_ = 0;
  std::string dir_;
  int reaper_pipe_ = -1;
  pid_t reaper_ = -1;
};

}  // namespace pgsteer::test
