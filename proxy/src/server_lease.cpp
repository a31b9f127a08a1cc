// client_session, the server lease: acquiring a server for a transaction (routing, PAUSE,
// failover waits), preparing it for this client (reset, parameters), releasing it at the
// boundary, and losing it (the client keeps its connection in transaction pooling).
#include "client_session.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <variant>

#include <boost/asio/bind_cancellation_slot.hpp>

#include "admin_console.hpp"
#include "auth_query.hpp"
#include "pgsteer/protocol/builder.hpp"
#include "pgsteer/protocol/classifier.hpp"
#include "pgsteer/protocol/framer.hpp"
#include "pgsteer/protocol/md5.hpp"
#include "pgsteer/protocol/scram.hpp"
#include "pgsteer/protocol/sqlstate.hpp"
#include "pgsteer/protocol/startup_options.hpp"
#include "pgsteer/protocol/wire.hpp"
#include "pgsteer/proxy/hba.hpp"
#include "server_pool.hpp"
#include "session_common.hpp"
#include "shared_state.hpp"
#include "worker_context.hpp"

namespace pgsteer::proxy {

namespace p = protocol;
namespace scram = protocol::scram;
namespace sqlstate = protocol::sqlstate;

awaitable<bool> client_session::attach_server(target want, bool at_login) {
  if (worker_.paused(db_->name)) {
    // PAUSE: new transactions wait for RESUME (the admin console's PAUSE waits for the ones
    // already running to end).
    waiting_since_ = steady_clock::now();
    while (worker_.paused(db_->name) && !closing_) co_await worker_.wait_for_resume();
    waiting_since_.reset();
    if (closing_) co_return false;
  }
  // A replica found unreachable is skipped for this transaction: the read goes to another
  // eligible backend before the monitor has noticed (nothing ran there, so nothing is retried).
  std::vector<std::size_t> unreachable;
  if (failed_replica_) {
    unreachable.push_back(*failed_replica_);
    failed_replica_.reset();
  }
  if (want == target::replica && wrote_at_ && !must_see_) {
    const auto* topology = worker_.current_topology();
    if (topology && topology->asked_at > *wrote_at_ && topology->primary) {
      must_see_ = topology->backends[*topology->primary].position;
    } else {
      want = target::primary;  // no snapshot is known to include the write yet
    }
  }
  // At login the client is refused (FATAL); later it gets an ERROR and keeps its connection.
  auto refuse = [&](p::error_fields& error, const char* what) {
    error.severity = at_login ? "FATAL" : "ERROR";
    if (at_login) close(std::string(what) + ": " + error.message);
    send_error(error);
  };
  acquire_result lease;
  const auto wait_started = steady_clock::now();
  const auto primary_deadline = wait_started + cfg().failover.wait_timeout;
  if (state_ != client_state::login) set_state(client_state::waiting);
  // Whatever way this ends, the client no longer waits: holding a server or idle again.
  struct settle_state {
    client_session& session;
    ~settle_state() {
      if (session.state_ != client_state::login) {
        session.set_state(session.server_ ? client_state::active : client_state::idle);
      }
    }
  } settle{*this};
  for (;;) {
    const auto must_see = want == target::replica ? must_see_ : std::nullopt;
    auto backend = worker_.choose_backend_now(*db_, *user_config_, want, unreachable, must_see);
    if (!backend) {
      auto chosen =
          co_await worker_.choose_backend(*db_, *user_config_, want, unreachable, must_see);
      if (auto* error = std::get_if<p::error_fields>(&chosen)) {
        if (error->code == sqlstate::admin_shutdown) {
          end_for_shutdown();  // woken by the drain while waiting for a primary
        } else {
          refuse(*error, "no backend");
        }
        co_return false;
      }
      if (closing_) co_return false;
      backend = std::get<std::size_t>(chosen);
    }
    // The pool of the last transaction, most of the time: no lookup by name.
    if (!pool_ || pool_->backend_index() != *backend || pool_->database().name != db_->name ||
        pool_->user().name != user_config_->name) {
      pool_ = &worker_.pool(*db_, *user_config_, *backend);
    }
    lease.server = pool_->take_idle();
    if (lease.server) break;
    waiting_since_ = steady_clock::now();
    lease = co_await pool_->acquire();
    waiting_since_.reset();
    if (lease.server) break;
    // Read after the wait: a snapshot may have come meanwhile (without the primary, say).
    const auto* topology = worker_.current_topology();
    const bool refused = p::is_backend_going_away(lease.error);
    if (refused && want == target::replica && !(topology && topology->primary == *backend)) {
      unreachable.push_back(*backend);
      continue;
    }
    if (refused && topology && steady_clock::now() < primary_deadline) {
      // The primary refuses connections or is going away before the monitor has said so: wait
      // for the monitor's next word, as for a primary that is known to be gone. Nothing ran.
      co_await worker_.wait_for_topology_after(topology->version, primary_deadline);
      if (closing_) co_return false;
      continue;
    }
    refuse(lease.error, "no server");
    co_return false;
  }
  if (closing_) {
    pool_->release(std::move(lease.server));
    co_return false;
  }
  server_ = std::move(lease.server);
  server_->input.consume(server_->input.size());
  {
    auto& stats = worker_.stats();
    const auto waited = steady_clock::now() - wait_started;
    stats.pool_wait_seconds.observe(std::chrono::duration<double>(waited).count());
    stats.wait_time_us.add(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(waited).count()));
    const auto* topology = worker_.current_topology();
    const bool on_primary =
        topology ? topology->primary == pool_->backend_index() : want == target::primary;
    route_ = on_primary ? route_label::primary : route_label::replica;
  }
  {
    // A read on a replica may be retried elsewhere while none of its replies reached the client.
    const auto* topology = worker_.current_topology();
    retry_log_active_ = want == target::replica && relaying_ && mode_ != p::pool_mode::session &&
                        !retried_ && topology && topology->primary != pool_->backend_index();
  }
  if (tracks_writes_) {
    const auto* topology = worker_.current_topology();
    on_primary_ = topology && topology->primary == pool_->backend_index();
  }
  std::string out;
  if (server_->needs_reset) {
    const auto& reset = cfg().pool.server_reset_query;
    if (!reset.empty()) {
      p::write_query(out, reset);
      inject(p::frontend::query, out);
      out.clear();
    }
    server_->statements.forget_all();
    // The reset returned the server's parameters to its defaults (the ParameterStatus it sends
    // says so again, after the fact).
    if (!reset.empty())
      parameter_sync::server_was_reset(server_->parameters.edit(), pool_->defaults());
    server_->needs_reset = false;
  }
  if (server_->stale_statements) {
    p::write_query(out, "DEALLOCATE ALL");
    inject(p::frontend::query, out);
    out.clear();
    server_->statements.forget_all();
    server_->stale_statements = false;
  }
  synchronize_parameters();
  wake();  // server_to_client() starts reading this server
  co_return true;
}

awaitable<bool> client_session::exchange_with_server() {
  while (server_ && !closing_) {
    if (!to_server_.empty()) {
      const auto ec = co_await write_all(server_->socket, to_server_);
      to_server_.clear();
      if (ec) {
        lose_server("could not send to the backend: " + ec.message());
        break;
      }
    }
    if (server_->replies.empty()) co_return true;
    if (const auto ec = co_await read_more(server_->socket, server_->input, read_chunk); ec) {
      lose_server(backend_read_failure(ec));
      break;
    }
    process_server_messages(*server_);
  }
  co_return false;
}

void client_session::synchronize_parameters() {
  params_.resynced();
  // Most transactions land on a server that already holds this client's settings.
  if (!observed_parameters_ && params_.in_sync(server_->parameters, pool_->defaults())) return;
  const std::string sql =
      params_.sync(server_->parameters.edit(), pool_->defaults(), observed_parameters_);
  if (sql.empty()) return;
  std::string out;
  p::write_query(out, sql);
  inject(p::frontend::query, out);
}

void client_session::maybe_release() {
  if (!server_ || closing_ || mode_ == p::pool_mode::session || writing_to_server_) return;
  if (!to_server_.empty() || !server_->input.empty() || !server_->replies.empty()) return;
  if (!server_->tracker.may_release(mode_)) return;
  if (pins_.pinned()) return;  // its session state lives on this server
  release_server();
}

std::vector<p::session_effect> client_session::session_effects_of(
    char type, std::string_view body, std::string_view sql, const p::sql_triggers& triggers,
    std::string_view parsed_statement) {
  auto forget_named = [this](std::string_view name) {
    std::erase_if(named_effects_, [&](const auto& entry) { return entry.first == name; });
  };
  switch (type) {
    case p::frontend::query:
      return p::session_effects(sql, triggers);
    case p::frontend::parse: {
      // A statement's effects happen when it runs: at its Bind, which may come much later.
      auto effects = p::session_effects(sql, triggers);
      if (parsed_statement.empty()) {
        unnamed_effects_ = std::move(effects);
      } else {
        if (!named_effects_.empty()) forget_named(parsed_statement);
        if (!effects.empty()) named_effects_.emplace_back(parsed_statement, std::move(effects));
      }
      return {};
    }
    case p::frontend::bind: {
      if (unnamed_effects_.empty() && named_effects_.empty()) return {};
      const auto bind = p::parse_bind(body);
      if (!bind) return {};
      if (bind->statement.empty()) return unnamed_effects_;
      for (const auto& [name, effects] : named_effects_) {
        if (name == bind->statement) return effects;
      }
      return {};
    }
    case p::frontend::close:
      if (!named_effects_.empty()) {
        if (auto close = p::parse_close(body); close && close->kind == 'S')
          forget_named(close->name);
      }
      return {};
    default:
      return {};
  }
}

void client_session::note_session_effects(const std::vector<p::session_effect>& effects) {
  const bool was_pinned = pins_.pinned();
  const auto added = pins_.on_sent(effects, server_->parameters.edit());
  auto& stats = worker_.stats();
  for (std::size_t kind = 0; kind < pin_kind_count; ++kind) {
    if (added & (1u << kind)) stats.pins_total[kind].add();
  }
  pinned_changed(was_pinned);
}

void client_session::pinned_changed(bool was_pinned) {
  if (was_pinned == pins_.pinned()) return;
  if (pins_.pinned()) {
    worker_.stats().clients_pinned.add();
    spdlog::info("client {} pinned to server {}: {}", id_, server_->id(), pins_.labels());
  } else {
    worker_.stats().clients_pinned.sub();
    spdlog::info("client {} unpinned from server {}", id_, server_->id());
  }
}

void client_session::release_server() {
  if (server_busy_) {
    release_asked_ = true;
    wake();
    return;
  }
  release_asked_ = false;
  stop_retry_log();
  quiet_since_ = steady_clock::now();
  if (on_primary_) {
    // Whatever this transaction wrote is now committed (or was rolled back: erring safe).
    wrote_at_ = quiet_since_;
    must_see_.reset();
    on_primary_ = false;
  }
  pool_->release(std::move(server_));
  if (state_ != client_state::login) set_state(client_state::idle);
  wake();
}

bool client_session::keeps_client_without_server() const {
  // A pinned client's session state was on that server: it is lost as on a direct connection.
  return relaying_ && mode_ != p::pool_mode::session && !pins_.pinned();
}

void client_session::lose_server(const std::string& why) {
  if (!server_) return;
  spdlog::warn("client {}: server {} on {} lost: {}", id_, server_->id(), server_->backend().name,
               why);
  // Part of a large message already reached the client: its stream cannot be continued with
  // anything but the rest, which will not come. It is closed, as a backend crash would close it.
  const bool mid_message = passthrough_left_ > 0 && passthrough_forward_;
  passthrough_left_ = 0;
  const bool keep_client = keeps_client_without_server() && !mid_message;
  if (pins_.pinned()) worker_.stats().clients_pinned.sub();
  pins_.forget();
  if (keep_client && retry_log_active_ && !retry_log_.empty()) {
    // Nothing of this read reached the client: it runs again on another eligible backend.
    failed_replica_ = pool_->backend_index();
    retry_pending_ = true;
    retry_log_active_ = false;
    wake();
  } else if (keep_client) {
    stop_retry_log();
    answer_for_lost_server(why);
  } else if (!server_said_fatal_ && !mid_message) {
    fatal(sqlstate::connection_failure, "the backend serving this session closed unexpectedly",
          why);
  }
  // The server object lives on until no read or write of its socket is pending.
  if (lost_server_) lost_pool_->discard(std::move(lost_server_), "lost");
  lost_server_ = std::move(server_);
  lost_pool_ = pool_;
  if (state_ != client_state::login) set_state(client_state::idle);
  if (!retry_pending_) {
    // The request ended here (pgsteer answered it): it is not timed.
    query_started_at_ = transaction_started_at_ = steady_clock::time_point{};
  }
  if (!writing_to_server_) to_server_.clear();
  if (server_busy_) {
    wake();
  } else {
    discard_lost_server();
  }
  if (!keep_client) close("backend lost: " + why);
}

void client_session::discard_lost_server() {
  if (!lost_server_ || server_busy_ || writing_to_server_) return;
  lost_pool_->discard(std::move(lost_server_), "lost");
  lost_pool_ = nullptr;
}

// In transaction and statement pooling a lost server ends the transaction, not the client's
// connection: the client gets an error for each request the server had not answered, as
// PostgreSQL answers a failed one, and its next transaction runs on another server.
void client_session::answer_for_lost_server(const std::string& why) {
  const auto& backend = server_->backend();
  auto error = make_error(
      "ERROR", sqlstate::connection_failure,
      "lost the connection to the backend during this transaction",
      "Backend " + backend.name + " (" + backend.host + ":" + std::to_string(backend.port) +
          "): " + why,
      "The transaction is over. If it was committing, check whether the commit took effect. "
      "This connection to pgsteer stays usable.");
  if (on_primary_) {
    // It may have committed: read-your-writes treats it as a write.
    wrote_at_ = steady_clock::now();
    must_see_.reset();
    on_primary_ = false;
  }
  params_.request_done();
  // Inside a transaction block the client is left where PostgreSQL leaves one after an error:
  // in a failed transaction, until it ends it (aborted_block.hpp).
  const bool in_block = server_->tracker.in_transaction();
  const auto owed = server_->replies.owed_to_client();
  if (owed.ready_for_query == 0 && !owed.open_batch) {
    // The client is between statements of its transaction: its next request gets the error.
    if (in_block) aborted_.begin(std::move(error));
    return;
  }
  if (in_block) aborted_.begin();
  std::string ready;
  p::write_ready_for_query(ready, aborted_.status());
  for (std::size_t i = 0; i < owed.ready_for_query; ++i) {
    send_error(error);
    send_to_client(ready);
  }
  if (owed.open_batch) {
    send_error(error);
    skip_until_sync_ = true;
  }
}

const p::function_policy& client_session::functions() const {
  const auto* topology = worker_.current_topology();
  return topology && topology->functions ? *topology->functions : config_->functions;
}

target client_session::target_for(char type, std::string_view body,
                                  const p::classification* sql) const {
  const bool session = mode_ == p::pool_mode::session;
  if (db_->route_mode != config::route::split || session) {
    return route_for(db_->route_mode, nullptr, session);
  }
  if (sql) return route_for(db_->route_mode, sql, false);
  // A Bind or Describe of a named statement: the statement's text decides.
  std::string_view name;
  if (type == p::frontend::bind) {
    if (auto bind = p::parse_bind(body)) name = bind->statement;
  } else if (type == p::frontend::describe) {
    if (auto describe = p::parse_describe(body); describe && describe->kind == 'S') {
      name = describe->name;
    }
  }
  if (!name.empty()) {
    if (const auto* st = statements_.find(name)) {
      const auto c = p::classify(st->query, functions());
      return route_for(db_->route_mode, &c, false);
    }
  }
  return target::primary;
}

}  // namespace pgsteer::proxy
