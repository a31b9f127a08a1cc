// What deploy/ ships, checked against the real thing: the configuration files load in pgsteer,
// every metric the alerts and the Grafana dashboard name is on a running pgsteer's /metrics, and
// the real Prometheus with the shipped alerting rules fires PgsteerNoPrimary when the primary of
// the compose stack's topology (a primary, two replicas, pgsteer, Prometheus: local processes
// here) stops.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cluster.hpp"
#include "eventually.hpp"
#include "http_client.hpp"
#include "pg.hpp"
#include "pgsteer_process.hpp"

using pgsteer::test::cluster;
using pgsteer::test::eventually;
using pgsteer::test::free_port;
using pgsteer::test::http_get;
using pgsteer::test::pgsteer_options;
using pgsteer::test::pgsteer_process;
using pgsteer::test::run_command;
namespace fs = std::filesystem;
namespace pg = pgsteer::test::pg;
using namespace std::chrono_literals;

namespace {

const std::string source_dir = PGSTEER_SOURCE_DIR;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void write_file(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
}

fs::path temp_directory() {
  std::string pattern = (fs::temp_directory_path() / "pgsteer-deploy-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

// Names of the pgsteer metrics a file mentions (PromQL in alerts.yml and pgsteer.json, and the
// metric names their descriptions point the reader to).
std::set<std::string> metric_names_in(const std::string& text) {
  std::set<std::string> names;
  const std::regex name(R"(\bpgsteer_[a-z0-9_]+)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), name); it != std::sregex_iterator();
       ++it) {
    names.insert(it->str());
  }
  return names;
}

// Every series name a Prometheus text exposition offers: sample names, and the names a `# TYPE`
// line declares (for a histogram its _bucket, _sum and _count), so that a labelled family that
// has no sample yet (no error of a given class so far) still counts as exposed.
std::set<std::string> exposed_names(const std::string& exposition) {
  std::set<std::string> names;
  std::istringstream lines(exposition);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream fields(line.substr(7));
      std::string name;
      std::string type;
      fields >> name >> type;
      names.insert(name);
      if (type == "histogram") {
        for (const char* suffix : {"_bucket", "_sum", "_count"}) names.insert(name + suffix);
      } else if (type == "summary") {
        for (const char* suffix : {"_sum", "_count"}) names.insert(name + suffix);
      }
    } else if (!line.empty() && line[0] != '#') {
      names.insert(line.substr(0, line.find_first_of("{ ")));
    }
  }
  return names;
}

// The real Prometheus (Debian's `prometheus`), started in the background on a free loopback
// port; stopped (SIGTERM, then SIGKILL) by the destructor, and killed if the test process dies.
class prometheus_process {
 public:
  explicit prometheus_process(const fs::path& config_file, const fs::path& dir)
      : port_(free_port()), log_(dir / "prometheus.log") {
    const std::vector<std::string> argv = {
        "prometheus", "--config.file=" + config_file.string(),
        "--storage.tsdb.path=" + (dir / "data").string(),
        "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=warn"};
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int log_fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::dup2(log_fd, STDOUT_FILENO);
      ::dup2(log_fd, STDERR_FILENO);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
    ::close(log_fd);
    const bool ready = eventually(
        [&] { return http_get(port_, "/-/ready").status == 200 || exited(); }, 30s, 200ms);
    if (!ready || exited()) {
      throw std::runtime_error(
          "prometheus did not start (is the `prometheus` package installed?):\n" + log());
    }
  }
  ~prometheus_process() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    if (!eventually([&] { return exited(); }, 10s)) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  prometheus_process(const prometheus_process&) = delete;
  prometheus_process& operator=(const prometheus_process&) = delete;

  int port() const { return port_; }
  std::string log() const { return read_file(log_); }

 private:
  bool exited() {
    if (pid_ <= 0) return true;
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) pid_ = -1;
    return pid_ <= 0;
  }

  int port_;
  fs::path log_;
  pid_t pid_ = -1;
};

// The alerts in Prometheus's /api/v1/alerts answer whose alertname is `name` and whose state is
// `state` (pending, firing). The answer is a list of {"labels":{...},"annotations":{...},
// "state":...} objects; each is cut at the next "labels" key.
bool has_alert(const std::string& alerts_json, const std::string& name, const std::string& state) {
  std::size_t at = 0;
  while ((at = alerts_json.find("{\"labels\":", at)) != std::string::npos) {
    auto end = alerts_json.find("{\"labels\":", at + 1);
    const auto alert = alerts_json.substr(at, end == std::string::npos ? end : end - at);
    if (alert.find("\"alertname\":\"" + name + "\"") != std::string::npos &&
        alert.find("\"state\":\"" + state + "\"") != std::string::npos) {
      return true;
    }
    at += 1;
  }
  return false;
}

}  // namespace

TEST_CASE("the configuration files deploy/ ships load in pgsteer", "[deploy]") {
  // Each file refers to its passwords by password_file under /run/secrets (compose secrets, the
  // Kubernetes Secret): the test points them at files in a temporary directory, nothing else.
  for (const char* shipped : {"deploy/compose/pgsteer.yaml", "deploy/kubernetes/base/pgsteer.yaml",
                              "deploy/kubernetes/overlays/dev/pgsteer.yaml",
                              "deploy/kubernetes/overlays/prod/pgsteer.yaml"}) {
    INFO(shipped);
    const auto dir = temp_directory();
    std::string text = read_file(fs::path(source_dir) / shipped);
    const std::regex secret(R"(password_file: (/run/secrets/[A-Za-z0-9_/]+))");
    std::set<std::string> files;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), secret);
         it != std::sregex_iterator(); ++it) {
      files.insert((*it)[1].str());
    }
    REQUIRE_FALSE(files.empty());  // the shipped files never hold a password themselves
    for (const auto& f : files) write_file(dir / ("secrets" + f), "secret\n");
    text = std::regex_replace(text, std::regex("/run/secrets/"),
                              (dir / "secrets/run/secrets/").string());
    const auto config = dir / "pgsteer.yaml";
    write_file(config, text);
    const auto result = run_command({PGSTEER_BINARY, "--check", "-c", config.string()});
    INFO(result.output);
    CHECK(result.exit_code == 0);
    fs::remove_all(dir);
  }
}

TEST_CASE("every pgsteer metric the shipped alerts and dashboard name is on /metrics",
          "[deploy][metrics]") {
  auto& c = cluster::shared();
  const auto dir = temp_directory();
  // A client certificate, so that the TLS metrics (certificate expiry, handshakes) exist.
  const auto cert = dir / "server.crt";
  const auto key = dir / "server.key";
  const auto openssl =
      run_command({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                   "-subj", "/CN=localhost", "-keyout", key.string(), "-out", cert.string()});
  REQUIRE(openssl.exit_code == 0);
  const int http_port = free_port();
  pgsteer_options options;
  options.http_port = http_port;
  options.extra_yaml = "tls:\n  client: { mode: allow, cert_file: " + cert.string() +
                       ", key_file: " + key.string() + " }\n";
  pgsteer_process proxy(c, options);

  // Traffic that gives the labelled families samples: a write, a read, a TLS login, an error,
  // a failed login.
  REQUIRE(eventually([&] { return http_get(http_port, "/metrics").status == 200; }, 20s));
  {
    pg::connection writer(proxy.conninfo("app_rw"));
    writer.exec("select 1");
    pg::connection reader(proxy.conninfo("app_ro") + " sslmode=prefer");
    reader.exec("select 1");
    CHECK_THROWS_AS(reader.exec("select 1/0"), pg::error);
  }
  CHECK(pgsteer::test::try_connect_verbose(proxy.conninfo("app", "app", "wrong")).has_value());

  std::set<std::string> referenced;
  for (const char* file : {"deploy/prometheus/alerts.yml", "deploy/grafana/pgsteer.json"}) {
    const auto names = metric_names_in(read_file(fs::path(source_dir) / file));
    referenced.insert(names.begin(), names.end());
  }
  REQUIRE(referenced.size() > 10);

  std::set<std::string> missing;
  // The families with samples only after a monitor round (backend roles, lag) appear within a
  // few health intervals.
  eventually(
      [&] {
        const auto exposed = exposed_names(http_get(http_port, "/metrics").body);
        missing.clear();
        for (const auto& name : referenced) {
          if (exposed.count(name) == 0) missing.insert(name);
        }
        return missing.empty();
      },
      20s, 500ms);
  std::string list;
  for (const auto& name : missing) list += name + "\n";
  INFO("referenced in deploy/ but not exposed by pgsteer:\n" << list);
  CHECK(missing.empty());
  fs::remove_all(dir);
}

TEST_CASE("Prometheus with the shipped rules fires PgsteerNoPrimary when the primary stops",
          "[deploy][prometheus][failover]") {
  cluster c;
  const auto dir = temp_directory();
  const int http_port = free_port();
  pgsteer_options options;
  options.health_interval = "250ms";
  options.http_port = http_port;
  pgsteer_process proxy(c, options);

  // The shipped rules, with every `for:` shortened to 1s in this temporary copy: the real
  // durations (30s for this alert, minutes for others) would make the test slow, and what is
  // under test is that the expression and the metric fit together, not the duration (that is
  // alerts_test.yml's job, in promtool's simulated time).
  const auto rules =
      std::regex_replace(read_file(fs::path(source_dir) / "deploy/prometheus/alerts.yml"),
                         std::regex(R"((\n\s+)for: [0-9a-z]+)"), "$1for: 1s");
  REQUIRE(rules != read_file(fs::path(source_dir) / "deploy/prometheus/alerts.yml"));
  write_file(dir / "alerts.yml", rules);
  // As deploy/compose/prometheus/prometheus.yml, with a 1s scrape and evaluation interval.
  write_file(dir / "prometheus.yml",
             "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
             "rule_files:\n  - " +
                 (dir / "alerts.yml").string() +
                 "\n"
                 "scrape_configs:\n  - job_name: pgsteer\n    static_configs:\n"
                 "      - targets: [\"127.0.0.1:" +
                 std::to_string(http_port) + "\"]\n");
  prometheus_process prometheus(dir / "prometheus.yml", dir);

  // All ten shipped alerts are loaded, and Prometheus sees pgsteer's primary.
  const auto rules_answer = http_get(prometheus.port(), "/api/v1/rules").body;
  const auto count = [](const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  };
  CHECK(count(rules_answer, "\"type\":\"alerting\"") == count(rules, "\n      - alert: "));
  CHECK(count(rules_answer, "\"type\":\"alerting\"") == 10);
  const auto primary_query = "/api/v1/query?query=pgsteer_primary_available%3D%3D1";
  const bool scraped = eventually(
      [&] {
        return http_get(prometheus.port(), primary_query)
                   .body.find("\"pgsteer_primary_available\"") != std::string::npos;
      },
      30s, 500ms);
  INFO("prometheus log:\n" << prometheus.log() << "\npgsteer log:\n" << proxy.log());
  REQUIRE(scraped);
  // Every alerting rule evaluates without error against pgsteer's real series.
  CHECK(eventually(
      [&] {
        return count(http_get(prometheus.port(), "/api/v1/rules").body, "\"health\":\"ok\"") ==
               count(rules, "\n      - alert: ");
      },
      20s, 500ms));
  // So does every expression of the Grafana dashboard, its variables set as Grafana would.
  const auto dashboard = read_file(fs::path(source_dir) / "deploy/grafana/pgsteer.json");
  const std::regex expr_field(R"re("expr": "((?:[^"\\]|\\.)*)")re");
  int expressions = 0;
  for (auto it = std::sregex_iterator(dashboard.begin(), dashboard.end(), expr_field);
       it != std::sregex_iterator(); ++it) {
    std::string expr = std::regex_replace((*it)[1].str(), std::regex(R"(\\(.))"), "$1");
    for (const auto& [variable, value] :
         std::vector<std::pair<std::string, std::string>>{{"$__rate_interval", "1m"},
                                                          {"$__interval", "1m"},
                                                          {"$__range", "1h"},
                                                          {"$instance", ".*"}}) {
      for (auto at = expr.find(variable); at != std::string::npos; at = expr.find(variable)) {
        expr.replace(at, variable.size(), value);
      }
    }
    const auto answer =
        http_get(prometheus.port(), "/api/v1/query?query=" + pgsteer::test::url_encode(expr));
    INFO(expr << " -> " << answer.body);
    CHECK(answer.status == 200);
    ++expressions;
  }
  CHECK(expressions > 20);
  // A few evaluations with the primary up: the alert is neither pending nor firing.
  std::this_thread::sleep_for(3s);
  const auto before = http_get(prometheus.port(), "/api/v1/alerts").body;
  INFO("alerts before: " << before);
  CHECK_FALSE(has_alert(before, "PgsteerNoPrimary", "firing"));
  CHECK_FALSE(has_alert(before, "PgsteerNoPrimary", "pending"));

  c.stop(0, "immediate");
  std::string after;
  const bool fired = eventually(
      [&] {
        after = http_get(prometheus.port(), "/api/v1/alerts").body;
        return has_alert(after, "PgsteerNoPrimary", "firing");
      },
      60s, 500ms);
  INFO("alerts after the primary stopped: " << after);
  CHECK(fired);
  // The alert names its runbook section.
  CHECK(after.find("docs/runbooks/alerts.md#pgsteernoprimary") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("the image's HEALTHCHECK passes on a ready pgsteer and fails without one",
          "[deploy][docker]") {
  // deploy/docker/healthcheck is what the Dockerfile's HEALTHCHECK runs; the Kubernetes probes
  // ask the same two paths.
  auto& c = cluster::shared();
  const int http_port = free_port();
  pgsteer_options options;
  options.http_port = http_port;
  const auto script = source_dir + "/deploy/docker/healthcheck";
  const auto environment =
      std::vector<std::string>{"PGSTEER_HTTP_PORT=" + std::to_string(http_port)};
  {
    pgsteer_process proxy(c, options);
    CHECK(eventually(
        [&] {
          return run_command({script, "/health/ready"}, {}, environment).exit_code == 0;
        },
        20s));
    CHECK(run_command({script, "/health/live"}, {}, environment).exit_code == 0);
    CHECK(run_command({script, "/no/such/path"}, {}, environment).exit_code != 0);
  }
  // pgsteer stopped: nothing listens on its HTTP port.
  CHECK(run_command({script, "/health/ready"}, {}, environment).exit_code != 0);
}
