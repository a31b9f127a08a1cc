// worker_context: the pools, topology, pause state, statement names and session registry of one
// worker (see worker_context.hpp).
#include "worker_context.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include "pgsteer/protocol/sqlstate.hpp"
#include "pgsteer/protocol/startup.hpp"
#include "shared_state.hpp"

namespace pgsteer::proxy {

namespace {

constexpr int session_bits = 24;  // the low bits of a client process id; the worker is above

}  // namespace

worker_context::worker_context(shared_state& shared, std::uint32_t index)
    : shared_(shared),
      index_(index),
      config_(shared.config()),
      random_(std::random_device{}()),
      statements_("pgsteer_" + std::to_string(index) + "_") {}

void worker_context::set_config(std::shared_ptr<const config_snapshot> snapshot) {
  config_ = std::move(snapshot);
  for (auto& [key, pool] : pools_) {
    const auto* db = config_->cfg.find_database(std::get<0>(key));
    if (db) pool->reconfigure(config_, share_of(config_->cfg, *db));
  }
}

std::size_t worker_context::share_of(const config::config& cfg, const config::database& db) const {
  const std::size_t size = db.pool_size.value_or(cfg.pool.size);
  const std::size_t workers = shared_.worker_count();
  return size / workers + (index_ < size % workers ? 1 : 0);
}

std::vector<pool_count> worker_context::pool_counts() const {
  std::vector<pool_count> counts;
  counts.reserve(pools_.size());
  for (const auto& [key, pool] : pools_) {
    counts.push_back({std::get<0>(key), std::get<1>(key), std::get<2>(key), pool->idle(),
                      pool->open() - pool->idle(), pool->waiting()});
  }
  return counts;
}

server_pool& worker_context::pool(const config::database& db, const config::user& user,
                                  std::size_t backend) {
  auto key = std::make_tuple(db.name, user.name, backend);
  auto it = pools_.find(key);
  if (it != pools_.end()) return *it->second;
  // A session may still run on an older snapshot than the worker's: the pool takes the
  // worker's, where `db` and `user` have their current settings (or the session's, when a reload
  // removed them meanwhile: the pool copies them).
  const auto* current_db = config_->cfg.find_database(db.name);
  const auto* current_user = config_->cfg.find_user(user.name);
  auto config = config_;
  if (!current_db || !current_user) {
    current_db = &db;
    current_user = &user;
  }
  auto pool = std::make_unique<server_pool>(
      context_.get_executor(), shared_, std::move(config), *current_db, *current_user, backend,
      share_of(config_->cfg, *current_db),
      [this, backend](const protocol::error_fields& why) { mark_suspect(backend, why); });
  return *pools_.emplace(std::move(key), std::move(pool)).first->second;
}

std::optional<std::size_t> worker_context::choose_backend_now(
    const config::database& db, const config::user& user, target want,
    const std::vector<std::size_t>& excluded, std::optional<protocol::lsn> must_see) {
  if (!topology_) return std::nullopt;
  // Read-your-writes never fails a read for want of a fresh replica: the primary has the write.
  const bool fall_back = config_->cfg.routing.reads_fall_back_to_primary || must_see.has_value();
  const auto leased = [this, &db, &user](std::size_t k) { return pool(db, user, k).leased(); };
  // One reference each: small enough for std::function to hold without allocating.
  auto load = [&leased](std::size_t k) { return leased(k); };
  auto random = [this](std::uint64_t bound) {
    return std::uniform_int_distribution<std::uint64_t>(0, bound - 1)(random_);
  };
  if (suspects_.empty()) {
    return proxy::choose_backend(*topology_, want, fall_back, config_->cfg.backends, excluded,
                                 must_see, load, random);
  }
  std::vector<std::size_t> skipped = excluded;
  for (const auto& [k, since] : suspects_) skipped.push_back(k);
  return proxy::choose_backend(*topology_, want, fall_back, config_->cfg.backends, skipped,
                               must_see, load, random);
}

awaitable<std::variant<std::size_t, protocol::error_fields>> worker_context::choose_backend(
    const config::database& db, const config::user& user, target want,
    const std::vector<std::size_t>& excluded, std::optional<protocol::lsn> must_see) {
  // Read before the first wait: a reload may replace config_ while this coroutine waits.
  const auto deadline = steady_clock::now() + config_->cfg.failover.wait_timeout;
  const bool fall_back = config_->cfg.routing.reads_fall_back_to_primary || must_see.has_value();
  for (;;) {
    if (const auto backend = choose_backend_now(db, user, want, excluded, must_see)) {
      co_return *backend;
    }
    if (topology_ && want == target::replica && !fall_back) {
      protocol::error_fields e;
      e.code = std::string(protocol::sqlstate::cannot_connect_now);
      e.message = "no replica is eligible for reads";
      e.detail =
          "Every replica is down or further behind than routing.max_lag_bytes or "
          "routing.max_lag_seconds, and routing.reads_fall_back_to_primary is off.";
      co_return e;
    }
    if (steady_clock::now() >= deadline) {
      protocol::error_fields e;
      e.code = std::string(protocol::sqlstate::cannot_connect_now);
      e.message = "no primary backend is available";
      e.detail = topology_ ? "No backend is out of recovery; waited failover.wait_timeout."
                           : "pgsteer has not heard from any backend yet.";
      co_return e;
    }
    if (stopping_) {
      // Draining: a client waiting for a primary is between transactions, and goes.
      protocol::error_fields e;
      e.severity = "FATAL";
      e.code = std::string(protocol::sqlstate::admin_shutdown);
      e.message = "terminating connection due to administrator command";
      co_return e;
    }
    co_await wait_for_topology_after(topology_ ? topology_->version : 0, deadline);
  }
}

awaitable<void> worker_context::wait_for_topology_after(std::uint64_t version,
                                                        steady_clock::time_point deadline) {
  while ((!topology_ || topology_->version <= version) && steady_clock::now() < deadline &&
         !stopping_) {
    asio::steady_timer timer(context_, deadline);
    topology_waiters_.push_back(&timer);
    co_await timer.async_wait(use_tuple);
    topology_waiters_.remove(&timer);
  }
}

void worker_context::mark_suspect(std::size_t backend, const protocol::error_fields& why) {
  // Marked again: the monitor's word must come after this failure too. The monitor makes one
  // round of many requests.
  const auto [it, added] = suspects_.insert_or_assign(backend, steady_clock::now());
  (void)it;
  if (added) {
    const auto& backends = config_->cfg.backends;
    spdlog::info("worker {}: no new transactions to backend {} until the monitor looks again ({})",
                 index_, backend < backends.size() ? backends[backend].name : "?", why.message);
  }
  if (shared_.look_again) shared_.look_again(backend);
}

void worker_context::set_topology(std::shared_ptr<const topology> snapshot) {
  const topology* before = topology_.get();
  // The monitor's word on a suspect counts when it was asked after the suspicion.
  std::erase_if(suspects_, [&](const auto& entry) { return entry.second <= snapshot->asked_at; });
  for (auto& [key, pool] : pools_) {
    const auto k = pool->backend_index();
    if (k >= snapshot->backends.size()) continue;
    const auto role = snapshot->backends[k].role;
    const bool was_primary = before && before->primary == k;
    if (role == backend_role::down || role == backend_role::fenced) {
      pool->retire(true,
                   role == backend_role::down ? "its backend is down" : "its backend is fenced");
    } else if (was_primary && snapshot->primary != k) {
      pool->retire(true, "its backend is no longer the primary");
    } else {
      pool->retire(false, "");
    }
  }
  topology_ = std::move(snapshot);
  for (auto* timer : topology_waiters_) timer->cancel();
}

std::int32_t worker_context::register_session(session_handle& session) {
  for (;;) {
    const std::uint32_t low = next_session_++ & ((1u << session_bits) - 1);
    if (low == 0) continue;
    const auto pid = static_cast<std::int32_t>((index_ << session_bits) | low);
    if (sessions_.emplace(pid, &session).second) return pid;
  }
}

void worker_context::unregister_session(std::int32_t process_id) {
  sessions_.erase(process_id);
}

void worker_context::park_quiet_sessions() {
  const auto now = steady_clock::now();
  // A parked client past clients.idle_timeout ends here and leaves the registry: copy first.
  std::vector<session_handle*> sessions;
  sessions.reserve(sessions_.size());
  for (auto& [pid, s] : sessions_) sessions.push_back(s);
  for (auto* s : sessions) s->park_if_quiet(now);
}

void worker_context::route_cancel(shared_state& shared, std::int32_t process_id,
                                  std::int32_t secret_key) {
  const auto index = static_cast<std::uint32_t>(process_id) >> session_bits;
  if (index >= shared.workers.size()) return;
  worker_context* owner = shared.workers[index];
  asio::post(owner->context_,
             [owner, process_id, secret_key] { owner->cancel(process_id, secret_key); });
}

void worker_context::cancel(std::int32_t process_id, std::int32_t secret_key) {
  auto it = sessions_.find(process_id);
  if (it == sessions_.end() || it->second->secret_key() != secret_key) return;
  auto target = it->second->cancel_target_now();
  if (!target) return;  // nothing runs for this client now: nothing to cancel
  asio::co_spawn(
      context_,
      [t = *target]() -> awaitable<void> {
        auto executor = co_await asio::this_coro::executor;
        tcp::resolver resolver(executor);
        auto [rec, endpoints] =
            co_await resolver.async_resolve(t.host, std::to_string(t.port), use_tuple);
        if (rec) co_return;
        tcp::socket socket(executor);
        auto [cec, ep] = co_await asio::async_connect(socket, endpoints, use_tuple);
        (void)ep;
        if (cec) co_return;
        std::string packet;
        protocol::write_cancel_request(packet, t.process_id, t.secret_key);
        co_await write_all(socket, packet);
        // PostgreSQL closes the connection once it has read the request.
        char byte;
        co_await socket.async_read_some(asio::buffer(&byte, 1), use_tuple);
      },
      [](std::exception_ptr) {});
}

void worker_context::shutdown_sessions() {
  protocol::error_fields e;
  e.severity = "FATAL";
  e.code = "57P01";
  e.message = "terminating connection due to administrator command";
  // terminate() may unregister nothing synchronously; copy first.
  std::vector<session_handle*> sessions;
  for (auto& [pid, s] : sessions_) sessions.push_back(s);
  for (auto* s : sessions) s->terminate(e, "pgsteer is shutting down");
  wake_paused();
}

namespace {

system_time wall_clock_of(steady_clock::time_point t) {
  const auto age = steady_clock::now() - t;
  return std::chrono::time_point_cast<system_time::duration>(std::chrono::system_clock::now() -
                                                             age);
}

server_info describe_server(const server_connection& server, const server_pool& pool,
                            server_state state) {
  server_info s;
  s.id = server.id();
  s.user = pool.user().name;
  s.database = pool.database().name;
  s.backend = server.backend().name;
  s.state = state;
  error_code ec;
  if (const auto remote = server.socket.socket().remote_endpoint(ec); !ec) {
    s.addr = remote.address().to_string();
    s.port = remote.port();
  }
  if (const auto local = server.socket.socket().local_endpoint(ec); !ec) {
    s.local_addr = local.address().to_string();
    s.local_port = local.port();
  }
  s.connect_time = wall_clock_of(server.created());
  s.remote_pid = server.process_id;
  s.prepared_statements = server.statements.size();
  return s;
}

}  // namespace

worker_inspection worker_context::inspect() const {
  worker_inspection out;
  std::map<const server_pool*, pool_info> pools;
  for (const auto& [key, pool] : pools_) {
    pool_info& p = pools[pool.get()];
    p.database = pool->database().name;
    p.user = pool->user().name;
    p.backend_index = pool->backend_index();
    p.backend = config().cfg.backends.at(pool->backend_index()).name;
    p.sv_idle = pool->idle();
    for (const auto& server : pool->idle_servers()) {
      out.servers.push_back(describe_server(*server, *pool, server_state::idle));
    }
  }
  for (const auto& [pid, session] : sessions_) {
    out.clients.push_back(session->describe());
    const client_info& c = out.clients.back();
    auto it = pools.find(session->pool());
    pool_info* p = it == pools.end() ? nullptr : &it->second;
    if (const auto* server = session->server(); server && session->pool()) {
      out.servers.push_back(describe_server(*server, *session->pool(), server_state::active));
      out.servers.back().client_id = c.id;
      if (p) {
        ++p->sv_active;
        ++p->cl_active;
      }
    } else if (c.state == client_state::waiting && p) {
      // A client waiting for RESUME has no pool yet: it counts under the one it used last.
      ++p->cl_waiting;
      if (c.wait && *c.wait > p->maxwait) p->maxwait = *c.wait;
    }
  }
  for (auto& [pool, p] : pools) {
    const std::size_t busy = pool->open() - pool->idle();
    p.sv_login = busy > p.sv_active ? busy - p.sv_active : 0;
    out.pools.push_back(std::move(p));
  }
  return out;
}

std::size_t worker_context::busy_servers(const std::string& database) const {
  std::size_t busy = 0;
  for (const auto& [key, pool] : pools_) {
    if (database.empty() || pool->database().name == database) busy += pool->leased();
  }
  return busy;
}

void worker_context::pause(const std::string& database) {
  if (database.empty()) {
    all_paused_ = true;
  } else {
    paused_databases_.insert(database);
  }
}

void worker_context::resume(const std::string& database) {
  if (database.empty()) {
    all_paused_ = false;
    paused_databases_.clear();
  } else {
    paused_databases_.erase(database);
  }
  wake_paused();
}

awaitable<void> worker_context::wait_for_resume() {
  asio::steady_timer timer(context_, steady_clock::time_point::max());
  pause_waiters_.push_back(&timer);
  co_await timer.async_wait(use_tuple);
  pause_waiters_.remove(&timer);
}

void worker_context::wake_paused() {
  for (auto* timer : pause_waiters_) timer->cancel();
}

std::size_t worker_context::kill(const std::string& database, const protocol::error_fields& error) {
  // terminate() may unregister nothing synchronously; copy first.
  std::vector<session_handle*> doomed;
  for (auto& [pid, s] : sessions_) {
    if (s->describe().database == database) doomed.push_back(s);
  }
  for (auto* s : doomed) s->terminate(error, "KILL " + database);
  for (auto& [key, pool] : pools_) {
    if (pool->database().name == database) pool->close_idle("KILL by an admin");
  }
  wake_paused();  // killed clients waiting for RESUME leave now
  return doomed.size();
}

}  // namespace pgsteer::proxy
