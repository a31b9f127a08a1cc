// server_pool: acquiring, releasing and expiring one worker's servers for a (database, user,
// backend).
#include "server_pool.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "pgsteer/protocol/sqlstate.hpp"
#include "shared_state.hpp"

namespace pgsteer::proxy {

namespace p = protocol;

server_pool::server_pool(asio::any_io_executor executor, shared_state& shared,
                         std::shared_ptr<const config_snapshot> config, const config::database& db,
                         const config::user& user, std::size_t backend, std::size_t share,
                         going_away_fn on_going_away)
    : executor_(std::move(executor)),
      shared_(shared),
      on_going_away_(std::move(on_going_away)),
      config_(std::move(config)),
      db_(db),
      user_(user),
      backend_(config_->cfg.backends.at(backend)),
      backend_index_(backend),
      share_(share),
      min_idle_(std::min<std::size_t>(share, config_->cfg.pool.min_idle / shared.worker_count())) {}

void server_pool::reconfigure(std::shared_ptr<const config_snapshot> config, std::size_t share) {
  const auto* db = config->cfg.find_database(db_.name);
  const auto* user = config->cfg.find_user(user_.name);
  if (!db || !user || backend_index_ >= config->cfg.backends.size()) return;
  if (db->dbname != db_.dbname) {
    // Servers logged in to the old database must not serve the new one.
    spdlog::info("pool {}/{} on {}: dbname {} -> {}: replacing its servers", db->name, user->name,
                 backend_.name, db_.dbname, db->dbname);
    stale_before_ = steady_clock::now();
    while (!idle_.empty()) {
      auto server = std::move(idle_.back());
      idle_.pop_back();
      discard(std::move(server), "its database's dbname changed on reload");
    }
  }
  config_ = std::move(config);
  db_ = *db;
  user_ = *user;
  backend_ = config_->cfg.backends[backend_index_];
  if (share != share_) {
    spdlog::info("pool {}/{} on {}: size share {} -> {}", db_.name, user_.name, backend_.name,
                 share_, share);
  }
  share_ = share;
  min_idle_ = std::min<std::size_t>(share, config_->cfg.pool.min_idle / shared_.worker_count());
  while (open_ > share_ && !idle_.empty()) {
    auto server = std::move(idle_.front());  // the least recently used
    idle_.erase(idle_.begin());
    discard(std::move(server), "the pool shrank on reload");
  }
  while (open_ < share_ && hand_place_to_waiter()) {
  }
}

server_pool::~server_pool() {
  for (auto* w : waiters_) w->timer.cancel();
}

bool server_pool::expired(const server_connection& server, steady_clock::time_point now) const {
  const auto lifetime = config_->cfg.pool.server_lifetime;
  return lifetime.count() > 0 && now - server.created() >= lifetime;
}

std::unique_ptr<server_connection> server_pool::take_idle() {
  const auto now = steady_clock::now();
  while (!idle_.empty()) {
    auto server = std::move(idle_.back());
    idle_.pop_back();
    // A server that died or spoke while idle (a FATAL before closing) is not handed out.
    error_code ec;
    const bool spoke = read_available(server->socket, server->input, 512, ec) > 0;
    if (spoke || ec != asio::error::would_block || expired(*server, now)) {
      discard(std::move(server), spoke ? "it sent a message while idle"
                                 : ec  ? "while idle: " + ec.message()
                                       : "server_lifetime");
      continue;
    }
    return server;
  }
  return nullptr;
}

awaitable<acquire_result> server_pool::acquire() {
  if (auto server = take_idle()) co_return acquire_result{std::move(server), {}};
  if (open_ < share_) {
    ++open_;
    co_return co_await connect();
  }
  waiter w(executor_);
  w.timer.expires_after(config_->cfg.pool.query_wait_timeout);
  w.place = waiters_.insert(waiters_.end(), &w);
  w.queued = true;
  auto [ec] = co_await w.timer.async_wait(use_tuple);
  (void)ec;
  if (w.queued) waiters_.erase(w.place);  // timed out or cancelled, not served
  if (w.server) co_return acquire_result{std::move(w.server), {}};
  if (w.may_connect) co_return co_await connect();
  acquire_result timed_out;
  timed_out.error.code = std::string(p::sqlstate::query_canceled);
  timed_out.error.message = "no server connection became free within pool.query_wait_timeout";
  timed_out.error.hint = "The pool for database \"" + db_.name + "\" and user \"" + user_.name +
                         "\" is busy; raise pool.size or shorten transactions.";
  co_return timed_out;
}

awaitable<acquire_result> server_pool::connect() {
  const auto id = shared_.next_server_id.fetch_add(1, std::memory_order_relaxed);
  // Copies for the login: a reload during it may change the pool's own.
  auto config = config_;
  const config::database db_copy = db_;
  const config::user user_copy = user_;
  const config::backend backend_copy = backend_;
  const auto* db = &db_copy;
  const auto* user = &user_copy;
  const auto* backend = &backend_copy;
  auto login = co_await connect_server(shared_, config, *backend, db->dbname, user->name, id);
  acquire_result result;
  if (!login.connection) {
    --open_;
    hand_place_to_waiter();
    if (p::is_backend_going_away(login.error)) {
      spdlog::warn("backend {}: {} {}{}{}", backend->name, login.error.code, login.error.message,
                   login.error.detail.empty() ? "" : ": ", login.error.detail);
      if (on_going_away_) on_going_away_(login.error);
    }
    result.error = std::move(login.error);
    co_return result;
  }
  spdlog::info("server {} opened to {} ({}:{}) pid {} as {} for database {}", id, backend->name,
               backend->host, backend->port, login.connection->process_id, user->name, db->name);
  result.server = std::move(login.connection);
  if (!has_defaults_) {
    login_parameters_ = result.server->parameters.get();
    for (const auto& [name, value] : result.server->parameters.get()) {
      if (!is_server_property(name)) defaults_[name] = value;
    }
    has_defaults_ = true;
  }
  co_return result;
}

const std::string* server_pool::canonical(const std::string& name, const std::string& value) const {
  auto it = canonical_.find({name, value});
  return it == canonical_.end() ? nullptr : &it->second;
}

void server_pool::learn_canonical(const std::string& name, const std::string& value,
                                  std::string canonical) {
  // Bounded: a client population with endless distinct values is checked by a server each time.
  constexpr std::size_t max_entries = 4096;
  if (canonical_.size() < max_entries) canonical_[{name, value}] = std::move(canonical);
}

void server_pool::release(std::unique_ptr<server_connection> server) {
  if (retired_ || server->discard_on_release || server->tracker.desynchronized() ||
      open_ > share_ || server->created() < stale_before_ ||
      expired(*server, steady_clock::now())) {
    discard(std::move(server), retired_                            ? "its backend left its role"
                               : server->discard_on_release        ? "its session state is unknown"
                               : server->tracker.desynchronized()  ? "desynchronized"
                               : open_ > share_                    ? "the pool shrank on reload"
                               : server->created() < stale_before_ ? "its dbname changed on reload"
                                                                   : "server_lifetime");
    return;
  }
  server->idle_since = steady_clock::now();
  if (!waiters_.empty()) {
    waiter& w = take_first_waiter();
    w.server = std::move(server);
    w.timer.cancel();
    return;
  }
  idle_.push_back(std::move(server));
}

void server_pool::discard(std::unique_ptr<server_connection> server, std::string_view why) {
  const auto age = std::chrono::duration<double>(steady_clock::now() - server->created()).count();
  spdlog::info("server {} to {} pid {} closed after {:.3f}s: {}", server->id(),
               server->backend().name, server->process_id, age, why);
  error_code ec;
  server->socket.close(ec);
  server.reset();
  --open_;
  hand_place_to_waiter();
}

bool server_pool::hand_place_to_waiter() {
  if (waiters_.empty()) return false;
  waiter& w = take_first_waiter();
  ++open_;
  w.may_connect = true;
  w.timer.cancel();
  return true;
}

server_pool::waiter& server_pool::take_first_waiter() {
  waiter& w = *waiters_.front();
  waiters_.pop_front();
  w.queued = false;
  return w;
}

void server_pool::retire(bool retired, const char* why) {
  retired_ = retired;
  if (retired) close_idle(why);
}

void server_pool::close_idle(const char* why) {
  while (!idle_.empty()) {
    auto server = std::move(idle_.back());
    idle_.pop_back();
    discard(std::move(server), why);
  }
}

void server_pool::sweep() {
  const auto now = steady_clock::now();
  const auto idle_timeout = config_->cfg.pool.server_idle_timeout;
  // Oldest idle first; keep min_idle.
  for (auto it = idle_.begin(); it != idle_.end() && idle_.size() > min_idle_;) {
    const bool idle_too_long = idle_timeout.count() > 0 && now - (*it)->idle_since >= idle_timeout;
    if (idle_too_long || expired(**it, now)) {
      auto server = std::move(*it);
      it = idle_.erase(it);
      discard(std::move(server), idle_too_long ? "server_idle_timeout" : "server_lifetime");
    } else {
      ++it;
    }
  }
  while (idle_.size() + opening_for_min_idle_ < min_idle_ && open_ < share_) {
    ++open_;
    ++opening_for_min_idle_;
    asio::co_spawn(
        executor_,
        [this]() -> awaitable<void> {
          auto r = co_await connect();
          --opening_for_min_idle_;
          if (r.server) release(std::move(r.server));
        },
        [](std::exception_ptr e) {
          if (e) spdlog::error("bug: opening a min_idle server threw");
        });
  }
}

}  // namespace pgsteer::proxy
