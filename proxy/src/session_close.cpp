// client_session, stages 5 and 6 (docs/architecture.md): drain and close. How a session ends:
// the client's own end, a FATAL and the drain after it, KILL, shutdown, clients.idle_timeout,
// and what becomes of its server.
#include "client_session.hpp"

#include <spdlog/spdlog.h>

#include "admin_console.hpp"
#include "pgsteer/protocol/sqlstate.hpp"
#include "server_pool.hpp"
#include "session_common.hpp"
#include "shared_state.hpp"
#include "worker_context.hpp"

namespace pgsteer::proxy {

namespace p = protocol;
namespace sqlstate = protocol::sqlstate;

client_session::~client_session() {
  if (handed_off_) return;  // the parked_client has the client now
  if (registered_) worker_.unregister_session(process_id_);
  if (lost_server_) lost_pool_->discard(std::move(lost_server_), "lost");
  if (server_) {
    // A server goes back only when it owes nothing and holds no transaction; anything else
    // is closed (a client that vanished mid-transaction leaves no trace on the next one).
    if (!server_said_fatal_ && server_->replies.empty() &&
        server_->tracker.may_release(p::pool_mode::transaction) && to_server_.empty()) {
      // A pinned client's state (session_pins.hpp) goes with it, as a session's does.
      if (mode_ == p::pool_mode::session || pins_.pinned()) server_->needs_reset = true;
      if (pins_.pinned() && cfg().pool.server_reset_query.empty()) {
        server_->discard_on_release = true;
      }
      pool_->release(std::move(server_));
    } else {
      pool_->discard(std::move(server_), "its client left mid-transaction");
    }
  }
  if (pins_.pinned()) worker_.stats().clients_pinned.sub();
  shared_.clients.fetch_sub(1, std::memory_order_relaxed);
  set_state(client_state::login);
  worker_.stats().clients_login.sub();
  worker_.session_ended();
  const auto lived = std::chrono::duration<double>(steady_clock::now() - connected_at_).count();
  spdlog::info("client {} {}{}{}from {} disconnected after {:.3f}s: {}", id_, user_,
               user_.empty() ? "" : "@", user_.empty() ? "" : database_ + " ", peer_, lived,
               close_reason_.empty() ? "closed" : close_reason_);
}

void client_session::close(std::string reason) {
  if (close_reason_.empty()) close_reason_ = std::move(reason);
  closing_ = true;
  wake();
}

void client_session::terminate(const p::error_fields& error, std::string reason) {
  if (admin_) {
    admin_->terminate(error);
    return;
  }
  if (server_) server_->discard_on_release = true;
  send_error(error);
  close(std::move(reason));
  error_code ec;
  client_.cancel(ec);
}

void client_session::end_for_shutdown() {
  if (closing_) return;
  terminate(make_error("FATAL", sqlstate::admin_shutdown,
                       "terminating connection due to administrator command"),
            "pgsteer is shutting down");
}

void client_session::drain() {
  if (admin_) {
    // The console answers no transactions: it ends at once.
    admin_->terminate(make_error("FATAL", sqlstate::admin_shutdown,
                                 "terminating connection due to administrator command"));
    return;
  }
  // A client that has not been answered yet connected a moment before the drain (pgbench -C, a
  // load balancer's last connections): its first request is about to arrive or already waits
  // for a server. It is served, and ends at that transaction's end, so no client fails for
  // connecting a moment early.
  if (requests_answered_ > 0 && at_transaction_boundary()) end_for_shutdown();
}

bool client_session::at_transaction_boundary() const {
  if (attaching_) return false;  // a request waits for a server: a transaction is starting
  if (!server_) return true;
  return server_->replies.empty() && to_server_.empty() && server_->input.empty() &&
         server_->tracker.may_release(p::pool_mode::transaction);
}

void client_session::end_idle_session() {
  fatal(sqlstate::idle_session_timeout, "terminating connection due to idle-session timeout");
  close("clients.idle_timeout");
}

awaitable<void> client_session::drain_client() {
  // pgsteer's last words are sent; the client may still be sending a request pgsteer refused.
  // Closing a socket with unread bytes resets the connection, and the reset can overtake the
  // error: stop sending, read and drop what still comes (bounded), then close.
  error_code ec;
  client_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) co_return;
  constexpr std::size_t max_dropped = std::size_t{64} << 20;
  const auto deadline = steady_clock::now() + std::chrono::seconds(5);
  std::size_t dropped = 0;
  auto drop_some = [this]() -> awaitable<std::size_t> {
    std::array<char, 4096> scratch;
    auto [read_ec, n] = co_await client_.socket().async_read_some(asio::buffer(scratch), use_tuple);
    co_return read_ec ? 0 : n;
  };
  while (dropped < max_dropped && steady_clock::now() < deadline) {
    auto [done, n] = co_await with_timeout(drop_some(), std::chrono::seconds(1));
    if (!done || n == 0) break;
    dropped += n;
  }
}

}  // namespace pgsteer::proxy
