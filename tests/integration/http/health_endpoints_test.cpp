// The load-balancer and probe endpoints on http.listen, against a real cluster: what HAProxy's
// `option httpchk` and Kubernetes probes would see as the topology changes.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
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
using pgsteer::test::http_raw;
using pgsteer::test::pgsteer_options;
using pgsteer::test::pgsteer_process;
namespace pg = pgsteer::test::pg;

namespace {

pgsteer_options with_http(int http_port) {
  pgsteer_options options;
  options.health_interval = "250ms";
  options.http_port = http_port;
  return options;
}

int status_of(int port, const std::string& path) {
  return http_get(port, path).status;
}

}  // namespace

TEST_CASE("the health endpoints answer 200 with a healthy cluster, 404 elsewhere",
          "[http][health]") {
  auto& c = cluster::shared();
  const int http_port = free_port();
  pgsteer_process proxy(c, with_http(http_port));
  INFO(proxy.log());

  const auto live = http_get(http_port, "/health/live");
  CHECK(live.status == 200);
  CHECK(live.body.find(R"("status":"ok")") != std::string::npos);
  CHECK(live.headers.find("application/json") != std::string::npos);

  // Ready once the first monitor round has found the primary.
  CHECK(eventually([&] { return status_of(http_port, "/health/ready") == 200; }));
  const auto primary = http_get(http_port, "/primary");
  CHECK(primary.status == 200);
  CHECK(primary.body.find(R"("primary":"pg1")") != std::string::npos);
  CHECK(eventually([&] { return status_of(http_port, "/replica") == 200; }));
  const auto replica = http_get(http_port, "/replica");
  CHECK(replica.body.find("pg2") != std::string::npos);
  CHECK(http_get(http_port, "/health/ready?verbose=1").status == 200);

  const auto missing = http_get(http_port, "/nope");
  CHECK(missing.status == 404);
  CHECK(missing.body.find("not found") != std::string::npos);

  // HEAD, as some checkers send, gets the headers only.
  const auto head = http_raw(http_port, "HEAD /health/live HTTP/1.0\r\n\r\n");
  CHECK(head.status == 200);
  CHECK(head.body.empty());
  CHECK(http_raw(http_port, "POST /health/live HTTP/1.0\r\nContent-Length: 0\r\n\r\n").status ==
        405);

  // The proxy keeps serving SQL while all this goes on.
  pg::connection client(proxy.conninfo());
  CHECK(client.scalar("select 1") == "1");
}

TEST_CASE("a malformed request or a silent client does not stop the HTTP endpoints",
          "[http][health]") {
  auto& c = cluster::shared();
  const int http_port = free_port();
  pgsteer_process proxy(c, with_http(http_port));
  INFO(proxy.log());

  CHECK(http_raw(http_port, "this is not http\r\n\r\n").status == 400);
  // An oversized header is refused, not buffered.
  CHECK(http_raw(http_port,
                 "GET /health/live HTTP/1.1\r\nX-Big: " + std::string(20000, 'x') + "\r\n\r\n")
            .status == 400);

  // Clients that connect and say nothing (or half a request) do not hold up the others.
  std::vector<int> silent;
  for (int i = 0; i < 5; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(http_port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    if (i % 2 == 0) ::send(fd, "GET /health/li", 14, MSG_NOSIGNAL);
    silent.push_back(fd);
  }
  CHECK(status_of(http_port, "/health/live") == 200);
  CHECK(eventually([&] { return status_of(http_port, "/health/ready") == 200; }));
  for (const int fd : silent) ::close(fd);
  CHECK(status_of(http_port, "/health/live") == 200);
  CHECK(proxy.running());
}

TEST_CASE(
    "/replica and /primary follow the cluster: replicas stopped, primary lost, a "
    "promotion",
    "[http][health][failover]") {
  cluster c;
  const int http_port = free_port();
  pgsteer_process proxy(c, with_http(http_port));
  INFO(proxy.log());
  REQUIRE(eventually([&] { return status_of(http_port, "/replica") == 200; }));
  REQUIRE(status_of(http_port, "/primary") == 200);

  c.stop(1, "immediate");
  c.stop(2, "immediate");
  CHECK(eventually([&] { return status_of(http_port, "/replica") == 503; },
                   std::chrono::seconds(30)));
  CHECK(http_get(http_port, "/replica").body.find("no eligible replica") != std::string::npos);
  // The primary still serves everything: the instance stays ready.
  CHECK(status_of(http_port, "/primary") == 200);
  CHECK(status_of(http_port, "/health/ready") == 200);

  c.stop(0, "immediate");
  CHECK(eventually([&] { return status_of(http_port, "/primary") == 503; },
                   std::chrono::seconds(30)));
  CHECK(http_get(http_port, "/primary").body.find(R"("reason":"no primary")") != std::string::npos);
  // Nothing can serve: not ready, but alive.
  CHECK(eventually([&] { return status_of(http_port, "/health/ready") == 503; },
                   std::chrono::seconds(30)));
  CHECK(status_of(http_port, "/health/live") == 200);

  c.start(1);
  c.promote(1);
  CHECK(eventually([&] { return status_of(http_port, "/primary") == 200; },
                   std::chrono::seconds(30)));
  CHECK(http_get(http_port, "/primary").body.find(R"("primary":"pg2")") != std::string::npos);
  CHECK(eventually([&] { return status_of(http_port, "/health/ready") == 200; },
                   std::chrono::seconds(30)));

  // What /metrics says about it: one failover, pg2 primary, pg1 down.
  const auto metrics = http_get(http_port, "/metrics").body;
  INFO(metrics);
  CHECK(metrics.find("\npgsteer_failovers_total 1\n") != std::string::npos);
  CHECK(metrics.find("\npgsteer_backend_role{backend=\"pg2\",role=\"primary\"} 1\n") !=
        std::string::npos);
  CHECK(metrics.find("\npgsteer_backend_role{backend=\"pg1\",role=\"down\"} 1\n") !=
        std::string::npos);
  CHECK(metrics.find("\npgsteer_backend_up{backend=\"pg1\"} 0\n") != std::string::npos);
}
