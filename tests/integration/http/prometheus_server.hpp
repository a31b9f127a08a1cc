// The real Prometheus server (Debian's `prometheus`) scraping one target every second, with its
// own storage in a temporary directory and a free port, for tests of what a PromQL query over
// pgsteer's metrics returns.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace pgsteer::test {

class prometheus_server {
 public:
  // Starts Prometheus scraping http://127.0.0.1:target_port/metrics; returns once it is ready
  // (throws, with its log, if it is not within 30 s). The destructor stops it and removes its
  // files; it also dies with the test process.
  explicit prometheus_server(int target_port);
  ~prometheus_server();
  prometheus_server(const prometheus_server&) = delete;
  prometheus_server& operator=(const prometheus_server&) = delete;

  int port() const { return port_; }
  // The value of an instant query whose result is one sample (nothing when the result is empty
  // or the query failed).
  std::optional<double> query(const std::string& promql) const;
  // The raw JSON answer of an instant query.
  std::string query_json(const std::string& promql) const;
  std::string log() const;

 private:
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace pgsteer::test
