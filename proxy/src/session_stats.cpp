// client_session, statistics: the client-state gauges, per-request and per-transaction counts and
// times, the slow-query log, and what SHOW CLIENTS shows of a session.
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

void client_session::time_request(char type, std::string_view sql, std::string_view body) {
  if (timing_request_) return;
  if (type == p::frontend::bind && sql.empty()) {
    if (auto bind = p::parse_bind(body); bind && !bind->statement.empty()) {
      if (const auto* st = statements_.find(bind->statement)) sql = st->query;
    }
  }
  timing_request_ = true;
  request_started_ = steady_clock::now();
  // The first 200 characters (not bytes: a cut never splits a UTF-8 sequence), on one line.
  request_sql_.clear();
  std::size_t characters = 0;
  for (char c : sql) {
    const bool continuation = (static_cast<unsigned char>(c) & 0xC0) == 0x80;
    if (!continuation && ++characters > 200) break;
    request_sql_ += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  }
}

void client_session::log_if_slow(const server_connection& server) {
  timing_request_ = false;
  const auto took = steady_clock::now() - request_started_;
  if (took < cfg().log.slow_query_threshold) return;
  const auto* topology = worker_.current_topology();
  const bool primary = topology && topology->primary == pool_->backend_index();
  spdlog::warn("client {}: slow query: {:.3f} ms, database {}, user {}, route {} ({}): {}", id_,
               std::chrono::duration<double, std::milli>(took).count(), database_, user_,
               primary ? "primary" : "replica", server.backend().name, request_sql_);
}

client_info client_session::describe() const {
  client_info c;
  c.id = id_;
  c.process_id = process_id_;
  c.user = user_;
  c.database = database_;
  c.admin = admin_ != nullptr;
  c.state = waiting_since_ ? proxy::client_state::waiting : proxy::client_state::active;
  error_code ec;
  if (const auto remote = client_.socket().remote_endpoint(ec); !ec) {
    c.addr = remote.address().to_string();
    c.port = remote.port();
  }
  if (const auto local = client_.socket().local_endpoint(ec); !ec) {
    c.local_addr = local.address().to_string();
    c.local_port = local.port();
  }
  c.connect_time = connected_wall_;
  if (waiting_since_) {
    c.wait = std::chrono::duration_cast<std::chrono::microseconds>(steady_clock::now() -
                                                                   *waiting_since_);
  }
  if (auto it = params_.values().find("application_name"); it != params_.values().end()) {
    c.application_name = it->second;
  }
  c.pinned = pins_.labels();
  if (server_) {
    c.server_id = server_->id();
    c.backend = server_->backend().name;
  }
  return c;
}

void client_session::set_state(client_state next) {
  if (next == state_) return;
  auto& stats = worker_.stats();
  auto gauge = [&](client_state state) -> stat_counter& {
    switch (state) {
      case client_state::login:
        return stats.clients_login;
      case client_state::idle:
        return stats.clients_idle;
      case client_state::waiting:
        return stats.clients_waiting;
      case client_state::active:
        break;
    }
    return stats.clients_active;
  };
  gauge(state_).sub();
  gauge(next).add();
  state_ = next;
}

// One request of the client's finished (its ReadyForQuery is on the way); with status 'I' its
// transaction did too. Counted on the route and backend of the server that ran it.
void client_session::count_request_done(char status, const server_connection& server) {
  auto& stats = worker_.stats();
  const auto route = static_cast<std::size_t>(route_);
  const bool database_counted = db_index_ < max_counted_databases;
  stats.queries_total[route].add();
  if (database_counted) stats.queries_by_database[db_index_][route].add();
  const auto now = steady_clock::now();
  if (query_started_at_ != steady_clock::time_point{}) {
    const auto took = now - query_started_at_;
    stats.query_duration_seconds.observe(std::chrono::duration<double>(took).count());
    stats.query_time_us.add(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(took).count()));
    if (transaction_started_at_ == steady_clock::time_point{}) {
      transaction_started_at_ = query_started_at_;
    }
  }
  // Pipelined requests already sent: the next one's answer is timed from this one's end.
  query_started_at_ = server.replies.empty() ? steady_clock::time_point{} : now;
  if (status != 'I') return;
  stats.transactions_total[route].add();
  if (database_counted) stats.transactions_by_database[db_index_][route].add();
  if (pool_ && pool_->backend_index() < max_counted_backends) {
    stats.routed[pool_->backend_index()][route].add();
  }
  if (transaction_started_at_ != steady_clock::time_point{}) {
    stats.transaction_time_us.add(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(now - transaction_started_at_)
            .count()));
    transaction_started_at_ = steady_clock::time_point{};
  }
}

}  // namespace pgsteer::proxy
