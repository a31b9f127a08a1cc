// client_session, stage 4 (docs/architecture.md): parking. A client quiet for a while with
// nothing in flight hands its connection to the worker's parking_lot as a small parked_client
// and its session ends; its next bytes rebuild a session from that state (no login again).
#include "client_session.hpp"

#include <spdlog/spdlog.h>

#include "parked_client.hpp"
#include "server_pool.hpp"
#include "session_common.hpp"
#include "shared_state.hpp"
#include "worker_context.hpp"

namespace pgsteer::proxy {

namespace p = protocol;

client_session::client_session(parked_state state, tcp::socket socket, worker_context& owner)
    : worker_(owner),
      shared_(owner.shared()),
      config_(std::move(state.config)),
      client_(std::move(socket)),
      id_(state.id),
      mode_(state.mode),
      max_message_size_(config_->cfg.clients.max_message_size),
      input_(0),
      user_(state.user->name),
      database_(state.db->name),
      db_(state.db),
      user_config_(state.user),
      pool_(state.pool),
      statements_(owner.statements()),
      process_id_(state.process_id),
      secret_key_(state.secret_key),
      registered_(true),
      skip_until_sync_(state.skip_until_sync),
      looked_up_(state.looked_up),
      tracks_writes_(state.tracks_writes),
      connected_at_(state.connected_at),
      requests_answered_(state.requests_answered),
      quiet_since_(steady_clock::now()),  // it just spoke: quiet again from here
      connected_wall_(state.connected_wall),
      state_(client_state::idle),  // the gauges counted the parked client as idle
      db_index_(state.db_index),
      wake_timer_(client_.get_executor()),
      replay_gate_(client_.get_executor()) {
  if (state.rest) {
    params_ = parameter_sync::unpack(state.rest->parameters);
    if (state.rest->statements) statements_ = std::move(*state.rest->statements);
    wrote_at_ = state.rest->wrote_at;
    must_see_ = state.rest->must_see;
  }
  error_code ec;
  const auto remote = client_.socket().remote_endpoint(ec);
  peer_ = ec ? "unknown" : remote.address().to_string();
  client_.socket().non_blocking(true, ec);
  worker_.replace_session(process_id_, *this);
}

bool client_session::may_park() const {
  return relaying_ && !closing_ && !server_ && !lost_server_ && !attaching_ && !admin_ &&
         !client_tls_ && !input_closed_ && !retry_pending_ && !retried_ && !aborted_.active() &&
         input_.empty() && to_client_.empty() && to_server_.empty() &&
         // A statement whose Bind will create or end session state (session_pins.hpp): rare,
         // and its effects are not worth a place in the parked form.
         unnamed_effects_.empty() && named_effects_.empty();
}

void client_session::park_if_quiet(steady_clock::time_point now) {
  // Only a client that holds nothing and has waited a while: a busy client never parks, so the
  // path of a transaction does not pay for it. TLS clients do not: their TLS engine may hold
  // bytes the socket will not signal again. A client in a failed transaction block stays too
  // (rare, and its block's state is not worth a parked form). Both relay coroutines must be in
  // their waits (for the client's bytes, for a server): cancelling the client read of a plain
  // socket loses nothing (the reactor reads on this thread: a read is either not done, or done
  // and its bytes are in input_).
  if (park_ || !may_park() || !idle_waiting_ || !waiting_for_server_ ||
      now - quiet_since_ < park_after) {
    return;
  }
  park_ = true;
  error_code ec;
  client_.cancel(ec);  // ends client_to_server()'s wait
  wake();              // ends server_to_client()'s
}

bool client_session::hand_off(parking_lot& lot) {
  if (!park_ || !may_park()) return false;
  parked_state s;
  error_code ec;
  const auto local = client_.socket().local_endpoint(ec);
  s.v6 = !ec && local.protocol() == tcp::v6();
  // Out of Asio's reactor: a parked socket is watched by the lot, and costs Asio nothing.
  s.fd = client_.socket().release(ec);
  if (ec) {
    close("could not park: " + ec.message());
    return false;
  }
  s.config = config_;
  s.db = db_;
  s.user = user_config_;
  s.pool = pool_;
  s.id = id_;
  s.requests_answered = requests_answered_;
  s.connected_at = connected_at_;
  s.quiet_since = quiet_since_;
  s.connected_wall = connected_wall_;
  s.process_id = process_id_;
  s.secret_key = secret_key_;
  s.db_index = static_cast<std::uint32_t>(db_index_);
  s.mode = mode_;
  s.looked_up = looked_up_;
  s.tracks_writes = tracks_writes_;
  s.skip_until_sync = skip_until_sync_;
  auto parameters = params_.pack();
  if (!parameters.empty() || !statements_.empty() || wrote_at_ || must_see_) {
    s.rest = std::make_unique<parked_state::extras>();
    s.rest->parameters = std::move(parameters);
    if (!statements_.empty()) s.rest->statements.emplace(std::move(statements_));
    s.rest->wrote_at = wrote_at_;
    s.rest->must_see = must_see_;
  }
  set_state(client_state::idle);  // what the gauges count it as while parked
  auto parked = std::make_unique<parked_client>(lot, std::move(s));
  worker_.replace_session(process_id_, *parked);
  handed_off_ = true;
  spdlog::debug("client {} parked", id_);
  lot.park(std::move(parked));
  return true;
}

}  // namespace pgsteer::proxy
