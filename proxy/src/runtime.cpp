// runtime: the control thread. Starts the workers, waits for a signal, stops them.
#include "pgsteer/proxy/runtime.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "health.hpp"
#include "http_server.hpp"
#include "metrics.hpp"
#include "shared_state.hpp"
#include "topology.hpp"
#include "worker.hpp"

namespace pgsteer::proxy {

namespace {

void set_up_logging(const config::log_settings& log) {
  auto logger = spdlog::stderr_color_mt("pgsteer");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(log.level));
  if (log.format == config::log_format::json) {
    spdlog::set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","thread":%t,"message":"%v"})");
  } else {
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ [%t] %v");
  }
}

// SO_REUSEPORT would let a second pgsteer share the port silently, each getting half the
// clients: bind once without it first, so an address in use is an error as with any server.
void check_addresses_free(const config::config& cfg) {
  asio::io_context probe;
  for (const auto& address : cfg.listen) {
    tcp::resolver resolver(probe);
    for (const auto& entry : resolver.resolve(address.host, std::to_string(address.port))) {
      tcp::acceptor acceptor(probe);
      acceptor.open(entry.endpoint().protocol());
      acceptor.set_option(tcp::acceptor::reuse_address(true));
      acceptor.bind(entry.endpoint());
      break;
    }
  }
}

}  // namespace

int run(const config::config& cfg) {
  set_up_logging(cfg.log);
  std::signal(SIGPIPE, SIG_IGN);
  shared_state shared(cfg);
  std::vector<std::unique_ptr<worker>> workers;
  for (std::uint32_t i = 0; i < shared.worker_count(); ++i) {
    workers.push_back(std::make_unique<worker>(shared, i));
    shared.workers.push_back(workers.back().get());
  }
  asio::io_context control;
  metrics stats(shared);
  // Every snapshot goes to every worker; each keeps its own pointer to the immutable value.
  topology_monitor monitor(control, shared, [&](std::shared_ptr<const topology> snapshot) {
    stats.on_topology(*snapshot);
    for (auto& w : workers) {
      asio::post(w->context(), [w = w.get(), snapshot] { w->set_topology(snapshot); });
    }
  });
  // Health checks and metrics on the control thread.
  std::optional<http_server> http;
  if (cfg.http.listen) {
    http.emplace(control, [&](std::string_view path) -> awaitable<http_reply> {
      // The snapshot is held for the whole answer: a scrape may outlive a publication.
      const auto snapshot = monitor.current();
      if (path == "/metrics") {
        // Not co_await inside a braced initializer: GCC 12 miscompiles that.
        http_reply reply;
        reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
        reply.body = co_await stats.scrape(snapshot.get());
        co_return reply;
      }
      co_return health_reply(path, shared, snapshot.get());
    });
  }
  try {
    check_addresses_free(cfg);
    for (auto& w : workers) w->listen();
    if (http) http->listen(*cfg.http.listen);
  } catch (const std::exception& e) {
    spdlog::critical("cannot listen: {}", e.what());
    return 1;
  }
  for (auto& w : workers) w->start();
  std::string addresses;
  for (const auto& a : cfg.listen) {
    addresses += (addresses.empty() ? "" : ", ") + a.host + ":" + std::to_string(a.port);
  }
  spdlog::info("pgsteer {} listening on {} with {} workers, pool mode {}", PGSTEER_VERSION,
               addresses, shared.worker_count(),
               cfg.pool.mode == protocol::pool_mode::session       ? "session"
               : cfg.pool.mode == protocol::pool_mode::transaction ? "transaction"
                                                                   : "statement");
  monitor.start();
  if (http) {
    http->start();
    spdlog::info("HTTP endpoints on {}:{}", cfg.http.listen->host, cfg.http.listen->port);
  }
  asio::signal_set signals(control, SIGINT, SIGTERM);
  signals.async_wait([&](const error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("signal {}: shutting down", signal);
    monitor.stop();
    if (http) http->stop();
    for (auto& w : workers) w->stop();
  });
  // The control thread waits for the signal; workers end once their sessions are gone.
  control.run();
  asio::steady_timer deadline_timer(control);
  const auto deadline = steady_clock::now() + cfg.shutdown_timeout;
  for (auto& w : workers) {
    while (!w->context().stopped() && steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    w->context().stop();
    w->join();
  }
  spdlog::info("pgsteer stopped");
  return 0;
}

}  // namespace pgsteer::proxy
