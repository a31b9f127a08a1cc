// runtime: the control thread. Starts the workers, then handles the lifecycle: SIGHUP and RELOAD
// (re-read, validate, publish a new configuration snapshot), SIGTERM and SHUTDOWN (drain, then
// 57P01 for whoever is left at shutdown_timeout), a second SIGTERM/SIGINT (end at once).
#include "pgsteer/proxy/runtime.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <future>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "health.hpp"
#include "http_server.hpp"
#include "metrics.hpp"
#include "pgsteer/proxy/log_format.hpp"
#include "shared_state.hpp"
#include "topology.hpp"
#include "worker.hpp"

namespace pgsteer::proxy {

namespace {

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

std::string describe(const std::optional<config::listen_address>& a) {
  return a ? a->host + ":" + std::to_string(a->port) : "none";
}

std::string describe(const std::vector<config::listen_address>& list) {
  std::string out;
  for (const auto& a : list) out += (out.empty() ? "" : ", ") + describe(std::optional(a));
  return out;
}

std::string describe(const std::vector<config::backend>& list) {
  std::string out;
  for (const auto& b : list) {
    out += (out.empty() ? "" : ", ") + b.name + "=" + b.host + ":" + std::to_string(b.port);
  }
  return out;
}

const char* describe(protocol::pool_mode mode) {
  return mode == protocol::pool_mode::session       ? "session"
         : mode == protocol::pool_mode::transaction ? "transaction"
                                                    : "statement";
}

// Keys a running pgsteer cannot change (sockets, threads, the backend list the topology is
// indexed by, how sessions hold servers): a reload logs each change as needing a restart and
// keeps the running value, so the new snapshot describes what really runs.
void keep_restart_only_keys(const config::config& running, config::config& next) {
  auto keep = [](const char* key, std::string was, std::string wants, auto& field,
                 const auto& value) {
    if (was == wants) return;
    spdlog::warn("reload: {} changed from {} to {}: needs a restart; keeping {}", key, was, wants,
                 was);
    field = value;
  };
  keep("listen", describe(running.listen), describe(next.listen), next.listen, running.listen);
  keep("workers", running.workers ? std::to_string(*running.workers) : "auto",
       next.workers ? std::to_string(*next.workers) : "auto", next.workers, running.workers);
  // Weights may change (describe() leaves them out); names, addresses and order may not.
  keep("backends", describe(running.backends), describe(next.backends), next.backends,
       running.backends);
  keep("pool.mode", describe(running.pool.mode), describe(next.pool.mode), next.pool.mode,
       running.pool.mode);
  keep("http.listen", describe(running.http.listen), describe(next.http.listen), next.http.listen,
       running.http.listen);
}

// Owns the workers and the monitor for the life of run(), on the control thread.
class lifecycle {
 public:
  lifecycle(shared_state& shared, std::vector<std::unique_ptr<worker>>& workers,
            std::filesystem::path config_file)
      : shared_(shared),
        workers_(workers),
        config_file_(std::move(config_file)),
        signals_(control_, SIGINT, SIGTERM, SIGHUP),
        deadline_(control_),
        watch_(control_),
        stats_(shared),
        monitor_(control_, shared, [this](std::shared_ptr<const topology> snapshot) {
          stats_.on_topology(*snapshot);
          // Every snapshot goes to every worker; each keeps its own pointer to the value.
          for (auto& w : workers_) {
            asio::post(w->context(), [w = w.get(), snapshot] { w->set_topology(snapshot); });
          }
        }) {
    shared_.reload = [this] { return reload_from_any_thread(); };
    shared_.shutdown = [this] { asio::post(control_, [this] { begin_shutdown(); }); };
    shared_.look_again = [this](std::size_t backend) { monitor_.poll_soon(backend); };
    // Health checks and metrics on the control thread.
    if (shared_.cfg().http.listen) {
      http_.emplace(control_, [this](std::string_view path) -> awaitable<http_reply> {
        // The snapshot is held for the whole answer: a scrape may outlive a publication.
        const auto snapshot = monitor_.current();
        if (path == "/metrics") {
          // Not co_await inside a braced initializer: GCC 12 miscompiles that.
          http_reply reply;
          reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
          reply.body = co_await stats_.scrape(snapshot.get());
          co_return reply;
        }
        co_return health_reply(path, shared_, snapshot.get());
      });
    }
  }

  // Throws when http.listen cannot be bound.
  void listen() {
    if (http_) http_->listen(*shared_.cfg().http.listen);
  }

  // Runs the control thread until every worker has stopped.
  void run() {
    monitor_.start();
    if (http_) {
      http_->start();
      const auto& address = *shared_.cfg().http.listen;
      spdlog::info("HTTP endpoints on {}:{}", address.host, address.port);
    }
    wait_for_signal();
    control_.run();
  }

 private:
  void wait_for_signal() {
    signals_.async_wait([this](const error_code& ec, int signal) {
      if (ec) return;
      if (signal == SIGHUP) {
        spdlog::info("SIGHUP: reloading {}", config_file_.string());
        reload();
      } else if (!draining_) {
        spdlog::info("signal {}: shutting down", signal);
        begin_shutdown();
      } else {
        spdlog::warn("signal {} while draining: ending every session now", signal);
        end_now(std::chrono::milliseconds(500));
      }
      if (!finished_) wait_for_signal();
    });
  }

  std::vector<std::string> reload_from_any_thread() {
    if (control_.get_executor().running_in_this_thread()) return reload();
    // Reloads run on the control thread, the only one that replaces the current configuration.
    auto task = std::make_shared<std::packaged_task<std::vector<std::string>()>>(
        [this] { return reload(); });
    auto result = task->get_future();
    asio::post(control_, [task] { (*task)(); });
    if (result.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
      return {"the reload did not finish within 30 s (is pgsteer shutting down?)"};
    }
    return result.get();
  }

  std::vector<std::string> reload() {
    std::vector<std::string> errors;
    auto loaded = config::load_config(config_file_);
    for (const auto& e : loaded.errors) errors.push_back(e.to_string());
    const auto running = shared_.config();
    if (loaded.value) {
      keep_restart_only_keys(running->cfg, *loaded.value);
      const auto smallest = shared_state::smallest_pool(*loaded.value);
      if (smallest < shared_.worker_count()) {
        errors.push_back(config_file_.string() + ": pool.size: a pool of " +
                         std::to_string(smallest) + " is smaller than the " +
                         std::to_string(shared_.worker_count()) +
                         " workers running (each needs a share); restart to change workers");
      }
    }
    // Certificates and keys are read again; new connections use them, existing ones keep theirs.
    // A bad one rejects the reload: the running configuration and certificates stay.
    if (errors.empty()) {
      if (auto error = shared_.reload_tls(*loaded.value)) errors.push_back("tls: " + *error);
    }
    if (!errors.empty()) {
      shared_.reloads_failed.fetch_add(1, std::memory_order_relaxed);
      for (const auto& e : errors) spdlog::error("reload rejected: {}", e);
      spdlog::error("reload rejected ({} errors); the running configuration stays", errors.size());
      return errors;
    }
    auto next = make_config_snapshot(std::move(*loaded.value), running->generation + 1);
    apply_log_settings(next->cfg.log);
    shared_.set_config(next);
    for (auto& w : workers_) {
      asio::post(w->context(), [w = w.get(), next] { w->set_config(next); });
    }
    shared_.reloads_succeeded.fetch_add(1, std::memory_order_relaxed);
    spdlog::info("configuration reloaded from {} (generation {}): {} databases, {} users",
                 config_file_.string(), next->generation, next->cfg.databases.size(),
                 next->cfg.users.size());
    return errors;
  }

  void begin_shutdown() {
    if (draining_) return;
    draining_ = true;
    shared_.draining.store(true);
    const auto timeout = shared_.cfg().shutdown_timeout;
    spdlog::info("draining: no new connections; transactions in progress have {} ms to finish",
                 timeout.count());
    for (auto& w : workers_) w->stop();
    deadline_.expires_after(timeout);
    deadline_.async_wait([this](const error_code& ec) {
      if (ec) return;
      spdlog::warn("shutdown_timeout reached: ending the remaining sessions");
      end_now(std::chrono::seconds(2));
    });
    watch();
  }

  // Every session gets 57P01 now; a worker still running after `grace` is stopped regardless.
  void end_now(std::chrono::milliseconds grace) {
    if (!draining_) {
      draining_ = true;
      shared_.draining.store(true);
      for (auto& w : workers_) w->stop();
      watch();
    }
    for (auto& w : workers_) w->terminate_sessions();
    deadline_.expires_after(grace);
    deadline_.async_wait([this](const error_code& ec) {
      if (ec) return;
      for (auto& w : workers_) w->context().stop();
    });
  }

  // Ends the control loop once every worker's loop has ended (its last session gone).
  void watch() {
    watch_.expires_after(std::chrono::milliseconds(20));
    watch_.async_wait([this](const error_code& ec) {
      if (ec) return;
      for (auto& w : workers_) {
        if (!w->context().stopped()) {
          watch();
          return;
        }
      }
      finished_ = true;
      monitor_.stop();
      // Until here /health/ready has answered 503 (draining), so load balancers moved away.
      if (http_) http_->stop();
      error_code ignored;
      signals_.cancel(ignored);
      deadline_.cancel();
    });
  }

  asio::io_context control_;
  shared_state& shared_;
  std::vector<std::unique_ptr<worker>>& workers_;
  std::filesystem::path config_file_;
  asio::signal_set signals_;
  asio::steady_timer deadline_;
  asio::steady_timer watch_;
  metrics stats_;
  topology_monitor monitor_;
  std::optional<http_server> http_;
  bool draining_ = false;
  bool finished_ = false;
};

}  // namespace

int run(const config::config& cfg, const std::filesystem::path& config_file) {
  apply_log_settings(cfg.log);
  std::signal(SIGPIPE, SIG_IGN);
  shared_state shared(cfg);
  if (auto error = shared.reload_tls(cfg)) {
    spdlog::critical("cannot set up TLS: {}", *error);
    return 1;
  }
  std::vector<std::unique_ptr<worker>> workers;
  for (std::uint32_t i = 0; i < shared.worker_count(); ++i) {
    workers.push_back(std::make_unique<worker>(shared, i));
    shared.workers.push_back(workers.back().get());
  }
  // The signal set exists before any worker runs, so a SIGTERM from then on drains.
  lifecycle control(shared, workers, config_file);
  try {
    check_addresses_free(cfg);
    for (auto& w : workers) w->listen();
    control.listen();
  } catch (const std::exception& e) {
    spdlog::critical("cannot listen: {}", e.what());
    return 1;
  }
  for (auto& w : workers) w->start();
  spdlog::info("pgsteer {} listening on {} with {} workers, pool mode {}", PGSTEER_VERSION,
               describe(cfg.listen), shared.worker_count(), describe(cfg.pool.mode));
  control.run();
  for (auto& w : workers) w->join();
  spdlog::info("pgsteer stopped");
  return 0;
}

}  // namespace pgsteer::proxy
