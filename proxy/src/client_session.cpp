// client_session: the relay shell. Frames the client's messages, hands each to the pieces that
// decide (parameter_sync, statement_map, aborted_block, the router), and moves bytes between the
// client and its leased server; see client_session.hpp for the lifecycle.
#include "client_session.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <variant>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/ssl/error.hpp>

#include "admin_console.hpp"
#include "auth_query.hpp"
#include "parked_client.hpp"
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

namespace {

awaitable<void> run_client_session(tcp::socket socket, worker_context& owner, parking_lot& lot) {
  client_session session(std::move(socket), owner);
  co_await session.serve();
  session.hand_off(lot);
}

awaitable<void> run_resumed_session(parked_state state, tcp::socket socket, worker_context& owner,
                                    parking_lot& lot) {
  client_session session(std::move(state), std::move(socket), owner);
  co_await session.relay();
  session.hand_off(lot);
}

void spawn(worker_context& owner, awaitable<void> session) {
  asio::co_spawn(owner.context(), std::move(session), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::critical("bug: a client session threw: {}", ex.what());
    }
  });
}

}  // namespace

void start_client_session(tcp::socket socket, worker_context& owner, parking_lot& lot) {
  spawn(owner, run_client_session(std::move(socket), owner, lot));
}

void resume_client_session(parked_state state, tcp::socket socket, worker_context& owner,
                           parking_lot& lot) {
  spawn(owner, run_resumed_session(std::move(state), std::move(socket), owner, lot));
}

client_session::client_session(tcp::socket socket, worker_context& owner)
    : worker_(owner),
      shared_(owner.shared()),
      config_(owner.config_ptr()),
      client_(std::move(socket)),
      id_(owner.shared().next_client_id.fetch_add(1, std::memory_order_relaxed)),
      mode_(config_->cfg.pool.mode),
      max_message_size_(config_->cfg.clients.max_message_size),
      input_(0),
      statements_(owner.statements()),
      connected_at_(steady_clock::now()),
      connected_wall_(std::chrono::system_clock::now()),
      wake_timer_(client_.get_executor()),
      replay_gate_(client_.get_executor()) {
  const std::string key = scram::random_bytes(4);
  secret_key_ = static_cast<std::int32_t>(p::load_u32(key.data()));
  error_code ec;
  const auto remote = client_.socket().remote_endpoint(ec);
  peer_ = ec ? "unknown" : remote.address().to_string();
  shared_.clients.fetch_add(1, std::memory_order_relaxed);
  worker_.stats().client_connections_total.add();
  worker_.stats().clients_login.add();
  worker_.session_started();
  client_.socket().set_option(tcp::no_delay(true), ec);
  client_.socket().non_blocking(true, ec);
  spdlog::info("client {} connected from {}", id_, peer_);
}

const config::config& client_session::cfg() const {
  return config_->cfg;
}

std::optional<cancel_target> client_session::cancel_target_now() const {
  if (!server_) return std::nullopt;
  return cancel_target{server_->backend().host, server_->backend().port, server_->process_id,
                       server_->secret_key};
}

bool client_session::adopt_latest_config() {
  const auto& latest = worker_.config_ptr();
  if (config_ == latest) return true;
  const auto* db = latest->cfg.find_database(database_);
  const auto* user = latest->cfg.find_user(user_);
  // A user auth_query let in is not in the file; it stays while auth_query is configured.
  if (!user && looked_up_ && !latest->cfg.auth_query.query.empty()) {
    user = &shared_.dynamic_user(user_);
  }
  if (!db || !user) {
    // Removing a user or database is how an operator revokes access: its clients go at a
    // boundary, never inside a transaction.
    if (!user) {
      fatal(sqlstate::invalid_authorization_specification,
            "role \"" + user_ + "\" was removed from pgsteer's configuration");
    } else {
      fatal(sqlstate::invalid_catalog_name,
            "database \"" + database_ + "\" was removed from pgsteer's configuration");
    }
    close("removed from the configuration by a reload");
    return false;
  }
  config_ = latest;
  db_ = db;
  db_index_ = shared_.database_names.index_of(db_->name);
  user_config_ = user;
  max_message_size_ = config_->cfg.clients.max_message_size;
  tracks_writes_ = config_->cfg.routing.consistency_mode == config::consistency::read_your_writes &&
                   db_->route_mode == config::route::split && mode_ != p::pool_mode::session;
  return true;
}

void client_session::send_to_client(std::string_view bytes) {
  to_client_.append(bytes);
  wake();
}

void client_session::send_error(const p::error_fields& error) {
  p::write_error_response(to_client_, error);
  count_error(worker_.stats(), error.code);
  wake();
}

void client_session::fatal(std::string_view code, std::string message, std::string detail) {
  send_error(make_error("FATAL", code, std::move(message), std::move(detail)));
}

awaitable<void> client_session::flush_to_client() {
  if (client_.is_tls() && !client_tls_) {
    // The TLS handshake did not finish: nothing can be said to this client, and a write would
    // wait for the handshake.
    to_client_.clear();
    co_return;
  }
  while (!to_client_.empty()) {
    writing_to_client_.clear();
    writing_to_client_.swap(to_client_);
    if (auto ec = co_await write_all(client_, writing_to_client_); ec) {
      close("client connection lost: " + ec.message());
      to_client_.clear();
      co_return;
    }
    worker_.stats().bytes_sent.add(writing_to_client_.size());
  }
}

bool client_session::flush_now() {
  if (to_client_.empty()) return true;
  std::string_view rest = to_client_;
  error_code ec;
  const bool done = write_now(client_, rest, ec);
  if (ec) {
    close("client connection lost: " + ec.message());
    to_client_.clear();
    return true;
  }
  const std::size_t written = to_client_.size() - rest.size();
  worker_.stats().bytes_sent.add(written);
  to_client_.erase(0, written);  // nothing when done: the whole string
  return done;
}

void client_session::wake() {
  if (waiting_for_server_) wake_signal_.emit(asio::cancellation_type::terminal);
}

awaitable<void> client_session::serve() {
  auto [done, ok] = co_await with_timeout(start_up(), cfg().clients.auth_timeout);
  if (!done) {
    // The cancelled start-up may have queued its own error or close reason on its way out (a
    // wait for a server or a lookup that was cut short): the timeout is what the client is told.
    to_client_.clear();
    close_reason_.clear();
    // PostgreSQL's words and code for authentication_timeout; it closes without sending them,
    // pgsteer tells the client why (decisions/0010).
    authentication_failed(sqlstate::query_canceled, "canceling authentication due to timeout",
                          "clients.auth_timeout");
  }
  if (!done || !ok) {
    co_await flush_to_client();
    co_return;
  }
  spdlog::info("client {} logged in as user {} to database {}", id_, user_, database_);
  if (wants_admin_console_) {
    // The console answers from here on; the session stays registered so that SHOW CLIENTS
    // lists it and shutdown reaches it.
    admin_console console(worker_, client_, input_, user_);
    admin_ = &console;
    process_id_ = worker_.register_session(*this);
    registered_ = true;
    co_await console.serve(process_id_, secret_key_);
    admin_ = nullptr;
    close_reason_ = console.close_reason();
    co_return;
  }
  co_await relay();
}

awaitable<void> client_session::relay() {
  relaying_ = true;
  set_state(server_ ? client_state::active : client_state::idle);
  for (;;) {
    {
      using namespace asio::experimental::awaitable_operators;
      co_await (client_to_server() && server_to_client());
    }
    if (!park_ || closing_) break;
    if (may_park()) co_return;  // hand_off() takes the client from here
    park_ = false;              // bytes came as it parked: relay them
  }
  if (closing_) co_await flush_to_client();  // an error queued as the relay ended
  if (drain_before_close_) co_await drain_client();
}

awaitable<void> client_session::client_to_server() {
  while (!closing_) {
    const auto idle_timeout = cfg().clients.idle_timeout;  // a reload may change it
    while (retry_pending_ || retried_) {
      // A read is being retried (server_to_client()): its messages go first.
      replay_gate_.expires_at(steady_clock::time_point::max());
      co_await replay_gate_.async_wait(use_tuple);
    }
    for (;;) {
      const auto frame = p::next_frame(input_.view(), max_message_size_);
      if (frame.status == p::frame_status::need_more) break;
      if (frame.status == p::frame_status::too_large) {
        fatal(sqlstate::program_limit_exceeded,
              "message of " + std::to_string(frame.length) +
                  " bytes exceeds pgsteer's clients.max_message_size of " +
                  std::to_string(max_message_size_) + " bytes");
        close("message too large");
        drain_before_close_ = true;  // the client is still sending it
        break;
      }
      if (frame.status == p::frame_status::bad_length) {
        fatal(sqlstate::protocol_violation, "invalid message length");
        close("invalid message length");
        drain_before_close_ = true;
        break;
      }
      const std::string_view message = input_.view().substr(0, frame.size);
      co_await handle_client_message(frame.type, message, frame.body);
      input_.consume(frame.size);
      if (closing_) break;
    }
    if (!to_server_.empty() && server_) {
      std::string_view rest = to_server_;
      error_code ec;
      if (!write_now(server_->socket, rest, ec)) {
        writing_to_server_ = true;
        ec = co_await write_all(server_->socket, rest);
        writing_to_server_ = false;
      }
      to_server_.clear();
      discard_lost_server();  // lost while this write was pending
      if (ec) {
        lose_server("could not send to the backend: " + ec.message());
        if (closing_) break;
        continue;
      }
      maybe_release();
    }
    if (closing_) break;
    if (!server_) {
      // Nothing in flight: an idle client holds no buffers.
      input_.shrink(0);
      to_server_ = std::string();
    } else {
      input_.shrink(client_read_chunk);
    }
    error_code ec;
    const auto before = input_.size();
    if (idle_timeout.count() > 0) {
      // Idle means holding no server (a query or a transaction in progress is not idleness),
      // counted from the last request or from when the server went back to the pool.
      quiet_since_ = steady_clock::now();
      for (;;) {
        const auto quiet_for = steady_clock::now() - quiet_since_;
        if (!server_ && quiet_for >= idle_timeout) {
          end_idle_session();
          break;
        }
        const auto limit = server_ ? idle_timeout : idle_timeout - quiet_for;
        idle_waiting_ = true;
        auto [done, read_ec] =
            co_await with_timeout(read_more(client_, input_, client_read_chunk), limit);
        idle_waiting_ = false;
        if (done) {
          ec = read_ec;
          break;
        }
      }
      if (closing_) break;
      if (park_ && ec == asio::error::operation_aborted) break;
    } else {
      // Parking (park_if_quiet()) cancels this wait or read: whatever had not been read stays in
      // the socket and wakes the parked client; what had is relayed (relay()).
      idle_waiting_ = true;
      if (!input_.holds_memory() && !client_tls_) {
        // Idle: wait here, in this frame, so an idle client holds nothing more than it. (A TLS
        // engine may hold bytes the socket will not signal again: TLS reads at once.)
        auto [wait_ec] = co_await client_.socket().async_wait(tcp::socket::wait_read, use_tuple);
        ec = wait_ec;
      }
      if (!ec && !park_) ec = co_await read_more(client_, input_, client_read_chunk);
      idle_waiting_ = false;
    }
    worker_.stats().bytes_received.add(input_.size() - before);
    if (park_) break;  // bytes read as the client parked: relay() goes on with them
    if (ec) {
      const bool end_of_stream = ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
      if (end_of_stream && server_ && !server_->replies.empty()) {
        // The client half-closed after its last request. PostgreSQL runs what came before the
        // end of the stream and sends the replies, then closes: server_to_client() does.
        input_closed_ = true;
        break;
      }
      close(end_of_stream ? "client closed the connection"
                          : "client connection lost: " + ec.message());
    }
  }
  wake();
}

awaitable<void> client_session::handle_client_message(char type, std::string_view message,
                                                      std::string_view body) {
  if (skip_until_sync_) {
    // A request failed before any server saw it: drop the rest up to Sync, as PostgreSQL does.
    if (type == p::frontend::sync) {
      skip_until_sync_ = false;
      std::string out;
      p::write_ready_for_query(out, aborted_.status());
      send_to_client(out);
    } else if (type == p::frontend::terminate) {
      close("client terminated");
    }
    co_return;
  }
  if (aborted_.active() && !server_ && type != p::frontend::terminate) {
    auto answer = aborted_.on_request(type, body, statements_, functions());
    if (answer.error) send_error(*answer.error);
    if (!answer.then.empty()) send_to_client(answer.then);
    if (answer.skip_until_sync) skip_until_sync_ = true;
    co_return;
  }
  switch (type) {
    case p::frontend::terminate:
      close("client terminated");
      co_return;
    case p::frontend::flush:
      if (server_) forward(type, message);
      co_return;
    case p::frontend::sync:
      if (!server_) {  // nothing to synchronise: answer as an idle server would
        std::string out;
        p::write_ready_for_query(out, 'I');
        send_to_client(out);
        co_return;
      }
      break;
    case p::frontend::copy_data:
    case p::frontend::copy_done:
    case p::frontend::copy_fail:
      // Outside a COPY (the server already ended it with an error) PostgreSQL ignores these.
      if (!server_) co_return;
      break;
    case p::frontend::query:
    case p::frontend::parse:
    case p::frontend::bind:
    case p::frontend::describe:
    case p::frontend::execute:
    case p::frontend::close:
    case p::frontend::function_call:
      break;
    default:
      fatal(sqlstate::protocol_violation,
            std::string("invalid frontend message type ") + std::to_string(int(type)));
      close("invalid message type");
      co_return;
  }
  std::string_view sql;
  std::string_view parsed_statement;
  if (type == p::frontend::query) {
    if (auto q = p::parse_query(body)) sql = q->sql;
  } else if (type == p::frontend::parse) {
    if (auto parse = p::parse_parse(body)) {
      sql = parse->query;
      parsed_statement = parse->statement;
    }
  }
  // One pass over the SQL tells whether it may reset settings or have session effects.
  const auto triggers = p::find_triggers(sql);
  params_.note_request(triggers);
  // Session state the request creates or ends on its server (session_pins.hpp).
  std::vector<p::session_effect> effects;
  if (mode_ != p::pool_mode::session)
    effects = session_effects_of(type, body, sql, triggers, parsed_statement);
  if (!server_ && mode_ != p::pool_mode::session) {
    // A Parse some server already accepted and a Close need no server (statement_map.hpp):
    // a client that prepares synchronously does not wait for a server it does not need yet.
    std::string out;
    if (statements_.answer_without_server(type, body, out)) {
      send_to_client(out);
      co_return;
    }
  }
  if (!server_) {
    // A transaction boundary: no new transaction starts while pgsteer shuts down, and a
    // reloaded configuration applies from here.
    if (worker_.draining() && requests_answered_ > 0) {
      end_for_shutdown();
      co_return;
    }
    if (!adopt_latest_config()) co_return;
    const bool split = db_->route_mode == config::route::split && mode_ != p::pool_mode::session;
    std::optional<p::classification> c;
    if ((type == p::frontend::query || type == p::frontend::parse) &&
        (split || mode_ == p::pool_mode::statement)) {
      c = p::classify(sql, functions());
    }
    if (mode_ == p::pool_mode::statement && c) {
      if (c->first == p::statement_type::begin && !c->multi_statement) {
        send_error(make_error("ERROR", sqlstate::feature_not_supported,
                              "transaction blocks are not allowed in statement pooling mode", {},
                              "Run each statement on its own, or use pool.mode transaction."));
        if (type == p::frontend::query) {
          std::string out;
          p::write_ready_for_query(out, 'I');
          send_to_client(out);
        } else {
          skip_until_sync_ = true;
        }
        co_return;
      }
    }
    // State that pins is made on the primary, where the client's writes can follow it.
    const bool pins = std::any_of(effects.begin(), effects.end(),
                                  [](const auto& e) { return p::creates_session_state(e.kind); });
    attaching_ = true;
    const bool attached =
        co_await attach_server(pins ? target::primary : target_for(type, body, c ? &*c : nullptr));
    attaching_ = false;
    if (!attached) {
      if (worker_.draining()) end_for_shutdown();
      if (type == p::frontend::query || type == p::frontend::function_call) {
        std::string out;
        p::write_ready_for_query(out, 'I');
        send_to_client(out);
      } else if (is_extended(type)) {
        skip_until_sync_ = true;
      } else if (type == p::frontend::sync) {
        std::string out;
        p::write_ready_for_query(out, 'I');
        send_to_client(out);
      }
      co_return;
    }
  }
  if (params_.needs_resync() && server_->replies.empty()) synchronize_parameters();
  if (!effects.empty()) note_session_effects(effects);
  if (retry_log_active_) {
    if (retry_log_.size() + message.size() > max_retry_log) {
      stop_retry_log();
    } else {
      retry_log_.append(message);
    }
  }
  if (query_started_at_ == steady_clock::time_point{}) query_started_at_ = steady_clock::now();
  if (cfg().log.slow_query_threshold.count() > 0 &&
      (type == p::frontend::query || type == p::frontend::parse || type == p::frontend::bind ||
       type == p::frontend::function_call)) {
    time_request(type, sql, body);
  }
  if (mode_ != p::pool_mode::session &&
      statements_.rewrite(type, message, body, server_->statements,
                          cfg().pool.max_prepared_statements, *this)) {
    co_return;
  }
  forward(type, message);
  if (type == p::frontend::sync) statements_.after_sync(*this);
}

void client_session::forward(char type, std::string_view message, bool swallow, std::uint32_t tag) {
  to_server_.append(message);
  server_->tracker.on_frontend(type);
  server_->replies.on_frontend(type, swallow, tag);
}

void client_session::inject(char type, std::string_view message, std::uint32_t tag) {
  forward(type, message, true, tag);
}

awaitable<void> client_session::server_to_client() {
  for (;;) {
    if (!flush_now()) co_await flush_to_client();
    if (input_closed_ && !retry_pending_ && !retried_ && (!server_ || server_->replies.empty())) {
      close("client closed the connection");
    }
    if (closing_) break;
    if (retry_pending_) {
      co_await retry_read();
      continue;
    }
    if (!server_) {
      if (park_) break;            // serve() waits for the client instead (park())
      to_client_ = std::string();  // an idle client holds no buffers
      writing_to_client_ = std::string();
      waiting_for_server_ = true;
      wake_timer_.expires_at(steady_clock::time_point::max());
      co_await wake_timer_.async_wait(asio::bind_cancellation_slot(wake_signal_.slot(), use_tuple));
      waiting_for_server_ = false;
      continue;
    }
    // While this read is pending, the server stays here: release_server() and lose_server() only
    // ask for it (server_busy_), and it happens below, once no read can land in its buffer.
    server_connection& server = *server_;
    waiting_for_server_ = true;
    server_busy_ = true;
    auto [ec, n] = co_await server.socket.async_read_some(
        server.input.prepare(read_chunk),
        asio::bind_cancellation_slot(wake_signal_.slot(), use_tuple));
    waiting_for_server_ = false;
    server_busy_ = false;
    server.input.commit(n);
    if (&server != server_.get()) {  // lost while the read was pending
      discard_lost_server();
      continue;
    }
    if (n == 0 && ec == asio::error::operation_aborted) {  // woken: look again
      if (release_asked_) {
        release_asked_ = false;
        maybe_release();  // unless the client sent more meanwhile
      }
      continue;
    }
    if (n == 0) {
      lose_server(backend_read_failure(ec));
      continue;
    }
    process_server_messages(server);
    maybe_release();
    if (worker_.draining() && at_transaction_boundary()) end_for_shutdown();
  }
  if (park_) co_return;
  error_code ec;
  client_.cancel(ec);  // client_to_server() may be waiting for the client: let it finish
}

// The rest of a large message whose start already went through (or was dropped): what has
// arrived of it goes on now. false: more of it is still to come.
bool client_session::pass_through(server_connection& server) {
  const std::size_t n = std::min(passthrough_left_, server.input.size());
  if (passthrough_forward_) to_client_.append(server.input.view().substr(0, n));
  server.input.consume(n);
  passthrough_left_ -= n;
  return passthrough_left_ == 0;
}

void client_session::process_server_messages(server_connection& server) {
  if (passthrough_left_ > 0 && !pass_through(server)) return;
  for (;;) {
    const auto frame = p::next_frame(server.input.view(), max_server_message);
    // A row or COPY chunk larger than a read streams through as it arrives instead of being held
    // whole (a single value may be up to 1 GB): its header decides where it goes.
    const bool streamed =
        frame.status == p::frame_status::need_more && frame.size > large_server_message &&
        (frame.type == p::backend::data_row || frame.type == p::backend::copy_data);
    if (frame.status == p::frame_status::need_more && !streamed) break;
    if (frame.status != p::frame_status::complete && !streamed) {
      lose_server("the backend sent a malformed message");
      return;
    }
    const char type = frame.type;
    char status = 0;
    if (type == p::backend::ready_for_query) {
      if (auto s = p::parse_ready_for_query(frame.body)) status = *s;
    }
    server.tracker.on_backend(type, status);
    if (type == p::backend::parse_complete) {
      statements_.on_parse_complete(server.replies.front_tag());
    }
    const auto verdict = server.replies.on_backend(type);
    if (verdict == p::reply_filter::verdict::unexpected) {
      lose_server(std::string("the backend sent an unexpected message of type ") + type);
      return;
    }
    bool forward_it = verdict == p::reply_filter::verdict::forward;
    if (streamed) {
      if (forward_it) end_retry_window();
      passthrough_forward_ = forward_it;
      passthrough_left_ = frame.size;
      if (!pass_through(server)) return;
      continue;
    }
    if (type == p::backend::ready_for_query && forward_it) {
      ++requests_answered_;
      params_.request_done();
      if (pins_.waiting()) {
        const bool was_pinned = pins_.pinned();
        pins_.on_ready(status, params_, server.parameters.edit());
        pinned_changed(was_pinned);
      }
      count_request_done(status, server);
      if (timing_request_) log_if_slow(server);
    }
    if (type == p::backend::parameter_status) {
      if (auto ps = p::parse_parameter_status(frame.body)) {
        std::string name(ps->name);
        std::string value(ps->value);
        server.parameters.edit()[name] = value;
        if (observed_parameters_) (*observed_parameters_)[name] = value;
        if (auto report = params_.on_parameter_status(name, value, forward_it, pool_->defaults())) {
          // PostgreSQL resets to the value the client connected with, which this shared server
          // does not hold: the client is told that value, and the server gets it next.
          std::string out;
          p::write_parameter_status(out, name, *report);
          to_client_ += out;
          forward_it = false;
        }
      }
    } else if (type == p::backend::command_complete && forward_it &&
               mode_ != p::pool_mode::session) {
      // The client's own DEALLOCATE ALL or DISCARD ALL dropped every prepared statement of this
      // server, pgsteer's names included, and on a direct connection the client's own.
      if (auto done = p::parse_command_complete(frame.body)) {
        if (done->tag == "DEALLOCATE ALL" || done->tag == "DISCARD ALL") {
          statements_.deallocated_all(server.statements);
        }
        pins_.on_command_complete(done->tag);
      }
    } else if (type == p::backend::error_response) {
      if (auto fields = p::parse_error_fields(frame.body)) {
        const auto e = p::to_error_fields(*fields);
        if (forward_it && retry_log_active_ && !retry_log_.empty() && p::is_backend_going_away(e)) {
          // A read on a replica that is shutting down failed (a parallel worker terminated, say)
          // before anything but its preamble reached the client: that is the loss of its server,
          // and the read runs once more elsewhere (read_retry.cpp), as when the server vanishes.
          server.input.consume(frame.size);
          lose_server("the backend is going away: " + e.message);
          return;
        }
        if (e.severity == "FATAL" || e.severity == "PANIC") {
          if (keeps_client_without_server()) {
            // The backend is ending its session (shut down, terminated): that is the loss of
            // this transaction's server, not of the client's connection to pgsteer.
            server.input.consume(frame.size);
            lose_server("the backend ended the session: " + e.message);
            return;
          }
          server_said_fatal_ = true;
        }
        if (forward_it) {
          count_error(worker_.stats(), e.code);
          pins_.on_error();
        }
        if (e.code == sqlstate::feature_not_supported &&
            e.message == "cached plan must not change result type") {
          // The table changed under a prepared statement: prepare afresh on next use.
          server.stale_statements = true;
        }
        if (!forward_it) {
          // pgsteer's own request failed (and rolled back): what the server holds is no longer
          // known. This client's settings are set again before its next request, and the server
          // is closed rather than pooled.
          own_error_ = e;
          server.discard_on_release = true;
          params_.sync_failed(server.parameters.edit());
          spdlog::warn("client {}: pgsteer's own statement failed on server {}: {}", id_,
                       server.id(), e.message);
        }
      }
    } else if (type == p::backend::ready_for_query && mode_ == p::pool_mode::statement &&
               status != 'I' && forward_it) {
      send_to_client(server.input.view().substr(0, frame.size));
      server.input.consume(frame.size);
      fatal(sqlstate::feature_not_supported,
            "transaction blocks are not allowed in statement pooling mode");
      close("transaction in statement pooling mode");
      return;
    }
    if (forward_it && is_reply_preamble(type)) {
      // A retried read's new server repeats what the client has already been told.
      if (retry_skip_ > 0) {
        --retry_skip_;
        forward_it = false;
      } else if (retry_log_active_) {
        ++retry_preamble_;
      }
    } else if (forward_it) {
      end_retry_window();
    }
    if (forward_it) to_client_.append(server.input.view().substr(0, frame.size));
    server.input.consume(frame.size);
  }
  statements_.on_failed_parses(server.replies.take_failed_tags(), server.statements);
  if (server.stale_statements && server.replies.empty()) server.statements.forget_all();
  server.input.shrink(64 * 1024);
}

}  // namespace pgsteer::proxy
