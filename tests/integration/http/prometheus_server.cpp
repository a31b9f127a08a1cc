// prometheus_server: see prometheus_server.hpp.
#include "prometheus_server.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "http_client.hpp"
#include "pgsteer_process.hpp"

namespace pgsteer::test {

using namespace std::chrono_literals;

prometheus_server::prometheus_server(int target_port) : port_(free_port()) {
  char pattern[] = "/tmp/pgsteer-prometheus-XXXXXX";
  if (!::mkdtemp(pattern)) throw std::runtime_error("prometheus_server: mkdtemp failed");
  dir_ = pattern;
  const std::string config = dir_ + "/prometheus.yml";
  {
    std::ofstream out(config);
    out << "global:\n"
        << "  scrape_interval: 1s\n"
        << "  scrape_timeout: 1s\n"
        << "  evaluation_interval: 1s\n"
        << "scrape_configs:\n"
        << "  - job_name: pgsteer\n"
        << "    static_configs:\n"
        << "      - targets: ['127.0.0.1:" << target_port << "']\n";
  }
  const std::string config_flag = "--config.file=" + config;
  const std::string storage_flag = "--storage.tsdb.path=" + dir_ + "/data";
  const std::string listen_flag = "--web.listen-address=127.0.0.1:" + std::to_string(port_);
  const std::string log_file = dir_ + "/prometheus.log";
  const char* argv[] = {"/usr/bin/prometheus", config_flag.c_str(), storage_flag.c_str(),
                        listen_flag.c_str(),   "--log.level=warn",  nullptr};
  const int log_fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::runtime_error("prometheus_server: cannot open " + log_file);
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) {
    ::close(log_fd);
    throw std::runtime_error("prometheus_server: fork failed");
  }
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    ::execv(argv[0], const_cast<char* const*>(argv));
    ::_exit(127);
  }
  ::close(log_fd);
  const auto give_up = std::chrono::steady_clock::now() + 30s;
  for (;;) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("prometheus exited at start; log:\n" + log());
    }
    if (http_get(port_, "/-/ready").status == 200) break;
    if (std::chrono::steady_clock::now() > give_up) {
      throw std::runtime_error("prometheus not ready within 30 s; log:\n" + log());
    }
    std::this_thread::sleep_for(100ms);
  }
}

prometheus_server::~prometheus_server() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    while (::waitpid(pid_, &status, WNOHANG) != pid_) {
      if (std::chrono::steady_clock::now() > give_up) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(50ms);
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string prometheus_server::query_json(const std::string& promql) const {
  return http_get(port_, "/api/v1/query?query=" + url_encode(promql)).body;
}

std::optional<double> prometheus_server::query(const std::string& promql) const {
  // {"status":"success","data":{"resultType":"vector","result":[{"metric":{..},"value":[t,"v"]}]}}
  const std::string json = query_json(promql);
  if (json.find(R"("status":"success")") == std::string::npos) return std::nullopt;
  const auto value = json.find(R"("value":[)");
  if (value == std::string::npos) return std::nullopt;
  if (json.find(R"("value":[)", value + 1) != std::string::npos) return std::nullopt;  // several
  const auto open = json.find(",\"", value);
  if (open == std::string::npos) return std::nullopt;
  return std::strtod(json.c_str() + open + 2, nullptr);
}

std::string prometheus_server::log() const {
  std::ifstream in(dir_ + "/prometheus.log");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace pgsteer::test
