// client_session: startup, authentication and the relay loop (see client_session.hpp).
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
#include "pgsteer/protocol/wire.hpp"
#include "pgsteer/proxy/hba.hpp"
#include "server_pool.hpp"
#include "shared_state.hpp"
#include "worker.hpp"

namespace pgsteer::proxy {

namespace p = protocol;
namespace scram = protocol::scram;
namespace sqlstate = protocol::sqlstate;

namespace {

// Largest message a server may send pgsteer (PostgreSQL's own limit on a value is 1 GB).
constexpr std::size_t max_server_message = std::size_t{1} << 30;
// Read size per wake-up: a large result streams through in pieces of this size. A client's
// requests are small, and its buffer exists only while it talks.
constexpr std::size_t read_chunk = 64 * 1024;
constexpr std::size_t client_read_chunk = 16 * 1024;

p::error_fields make_error(std::string_view severity, std::string_view code, std::string message,
                           std::string detail = {}, std::string hint = {}) {
  p::error_fields e;
  e.severity = std::string(severity);
  e.code = std::string(code);
  e.message = std::move(message);
  e.detail = std::move(detail);
  e.hint = std::move(hint);
  return e;
}

// An SQL string literal that reads the same whatever standard_conforming_strings is.
std::string quote_literal(std::string_view value) {
  std::string out = "E'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += c;
    out += c;
  }
  out += '\'';
  return out;
}

bool is_extended(char type) {
  return type == p::frontend::parse || type == p::frontend::bind || type == p::frontend::describe ||
         type == p::frontend::execute || type == p::frontend::close;
}

// Tags for reply_filter: which statement a Parse was for, and whether the client sent it.
std::uint32_t parse_tag(std::uint64_t statement, bool from_client) {
  return static_cast<std::uint32_t>(statement * 2 + (from_client ? 1 : 0));
}

// Whether SQL may RESET session settings (RESET, DISCARD ALL, SET ... TO DEFAULT): a cheap,
// conservative look for the keywords anywhere in the text.
bool may_reset_settings(std::string_view sql) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
  for (std::string_view word : {"reset", "discard", "default"}) {
    auto it = std::search(sql.begin(), sql.end(), word.begin(), word.end(),
                          [&](char a, char b) { return lower(a) == b; });
    if (it != sql.end()) return true;
  }
  return false;
}

// Why reading a server failed, for lose_server().
std::string backend_read_failure(const error_code& ec) {
  return ec == asio::error::eof ? "the backend closed the connection"
                                : "the backend connection failed: " + ec.message();
}

// An ErrorResponse on its way to the client, by SQLSTATE class. (Failed authentications are
// counted where they are decided: authentication_failed().)
void count_error(worker_stats& stats, std::string_view code) {
  stats.errors_by_class[sqlstate_class_index(code)].add();
}

}  // namespace

awaitable<void> run_client_session(tcp::socket socket, worker& owner) {
  client_session session(std::move(socket), owner);
  co_await session.serve();
}

client_session::client_session(tcp::socket socket, worker& owner)
    : worker_(owner),
      shared_(owner.shared()),
      config_(owner.config_ptr()),
      client_(std::move(socket)),
      id_(owner.shared().next_client_id.fetch_add(1, std::memory_order_relaxed)),
      mode_(config_->cfg.pool.mode),
      max_message_size_(config_->cfg.clients.max_message_size),
      input_(0),
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

client_session::~client_session() {
  if (registered_) worker_.unregister_session(process_id_);
  if (lost_server_) lost_pool_->discard(std::move(lost_server_), "lost");
  if (server_) {
    // A server goes back only when it owes nothing and holds no transaction; anything else
    // is closed (a client that vanished mid-transaction leaves no trace on the next one).
    if (!server_said_fatal_ && server_->replies.empty() &&
        server_->tracker.may_release(p::pool_mode::transaction) && to_server_.empty()) {
      if (mode_ == p::pool_mode::session) server_->needs_reset = true;
      pool_->release(std::move(server_));
    } else {
      pool_->discard(std::move(server_), "its client left mid-transaction");
    }
  }
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

std::optional<cancel_target> client_session::cancel_target_now() const {
  if (!server_) return std::nullopt;
  return cancel_target{server_->backend().host, server_->backend().port, server_->process_id,
                       server_->secret_key};
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
                       "terminating connection due to administrator command"));
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

void client_session::time_request(char type, std::string_view sql, std::string_view body) {
  if (timing_request_) return;
  if (type == p::frontend::bind && sql.empty()) {
    if (auto bind = p::parse_bind(body); bind && !bind->statement.empty()) {
      if (auto it = statements_.find(bind->statement); it != statements_.end()) {
        sql = worker_.statement(it->second).query;
      }
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

// ---- output to the client ----

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

void client_session::wake() {
  if (waiting_for_server_) wake_signal_.emit(asio::cancellation_type::terminal);
}

// ---- startup ----

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
  relaying_ = true;
  set_state(server_ ? client_state::active : client_state::idle);
  using namespace asio::experimental::awaitable_operators;
  co_await (client_to_server() && server_to_client());
}

awaitable<bool> client_session::read_startup_packet(p::startup_packet& packet) {
  for (;;) {
    // 0x16 is a TLS handshake record; no startup packet starts with it (its length would be
    // over 369 MB). PostgreSQL 17 clients with sslnegotiation=direct open this way.
    if (!client_tls_ && !input_.empty() && static_cast<unsigned char>(input_.view()[0]) == 0x16) {
      if (!co_await start_tls(true)) co_return false;
      continue;
    }
    const auto frame = p::next_startup_frame(input_.view(), p::max_startup_packet_size);
    if (frame.status == p::frame_status::need_more) {
      const auto before = input_.size();
      if (auto ec = co_await read_more(client_, input_); ec) {
        close("client left during startup");
        co_return false;
      }
      worker_.stats().bytes_received.add(input_.size() - before);
      continue;
    }
    if (frame.status != p::frame_status::complete) {
      fatal(sqlstate::protocol_violation, "invalid length of startup packet");
      close("invalid startup packet");
      co_return false;
    }
    packet = p::parse_startup_packet(input_.view().substr(0, frame.size));
    input_.consume(frame.size);
    switch (packet.kind) {
      case p::startup_kind::ssl_request:
      case p::startup_kind::gssenc_request:
        if (client_tls_) {
          fatal(sqlstate::protocol_violation, "encryption requested on an encrypted connection");
          close("SSLRequest inside TLS");
          co_return false;
        }
        // Whatever came with the request was sent before the answer, so in plaintext: it
        // must not be taken as if it came through TLS (CVE-2021-23214).
        if (!input_.empty()) {
          fatal(sqlstate::protocol_violation, "received unencrypted data after SSL request",
                "This could be either a client-software bug or evidence of an attempted "
                "man-in-the-middle attack.");
          close("data after SSLRequest");
          co_return false;
        }
        if (packet.kind == p::startup_kind::ssl_request && tls_ && tls_->client) {
          if (!co_await start_tls(false)) co_return false;
          continue;
        }
        // No TLS here (or GSSAPI, never): libpq goes on without (sslmode=prefer) or gives up
        // (sslmode=require) on its own.
        if (auto ec = co_await write_all(client_, "N"); ec) co_return false;
        continue;
      case p::startup_kind::cancel_request:
        worker::route_cancel(shared_, packet.process_id, packet.secret_key);
        close("cancel request");
        co_return false;
      case p::startup_kind::invalid:
        send_error(packet.error);
        close("invalid startup packet: " + packet.error.message);
        co_return false;
      case p::startup_kind::startup_message:
        co_return true;
    }
  }
}

awaitable<bool> client_session::start_tls(bool direct) {
  if (!tls_ || !tls_->client) {
    // Nothing understandable can be said to a TLS client in plaintext.
    close("direct TLS connection, but tls.client.mode is disable");
    co_return false;
  }
  if (!direct) {
    if (auto ec = co_await write_all(client_, "S"); ec) {
      close("client left during SSL negotiation");
      co_return false;
    }
  }
  auto& tls = client_.start_tls(tls_->client);
  // Direct: the ClientHello (and whatever followed it) is already in input_.
  auto [ec, used] = co_await tls.async_handshake(asio::ssl::stream_base::server,
                                                 asio::buffer(input_.view()), use_tuple);
  (void)used;
  input_.consume(input_.size());
  if (ec) {
    worker_.stats().tls_handshake_failures_total.add();
    const std::string verify = tls::verify_failure(tls.native_handle());
    close("TLS handshake failed: " +
          (verify.empty() ? ec.message() : "client certificate not accepted: " + verify));
    co_return false;
  }
  client_tls_ = true;
  worker_.stats().tls_handshakes_total.add();
  if (direct && tls::negotiated_alpn(tls.native_handle()) != tls::alpn_protocol) {
    // PostgreSQL 17 insists on ALPN for direct TLS, so that a TLS connection meant for another
    // service cannot be replayed against a database.
    fatal(sqlstate::protocol_violation,
          "received direct SSL connection request without ALPN protocol negotiation extension");
    close("direct TLS without ALPN postgresql");
    co_return false;
  }
  spdlog::debug("client {} from {}: {} ({})", id_, peer_,
                tls::protocol_version(tls.native_handle()), direct ? "direct" : "SSLRequest");
  co_return true;
}

void client_session::apply_startup_parameters(const p::startup_packet& packet) {
  for (const auto& [name, value] : packet.parameters) {
    if (name == "user" || name == "database" || name == "options" || name == "replication" ||
        name.rfind("_pq_.", 0) == 0) {
      continue;
    }
    parameters_[name] = value;
  }
  // `options`: -c name=value / --name=value, separated by spaces, "\ " escaping a space.
  const std::string_view options = packet.options();
  std::vector<std::string> words(1);
  for (std::size_t i = 0; i < options.size(); ++i) {
    if (options[i] == '\\' && i + 1 < options.size()) {
      words.back() += options[++i];
    } else if (options[i] == ' ') {
      if (!words.back().empty()) words.emplace_back();
    } else {
      words.back() += options[i];
    }
  }
  for (std::size_t i = 0; i < words.size(); ++i) {
    std::string setting;
    if (words[i] == "-c" && i + 1 < words.size()) {
      setting = words[++i];
    } else if (words[i].rfind("-c", 0) == 0 && words[i].size() > 2) {
      setting = words[i].substr(2);
    } else if (words[i].rfind("--", 0) == 0) {
      setting = words[i].substr(2);
    }
    const auto eq = setting.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    std::string name = setting.substr(0, eq);
    for (auto& c : name) {
      if (c == '-') c = '_';
    }
    parameters_[name] = setting.substr(eq + 1);
  }
}

// The client's startup settings as PostgreSQL holds them: checked by a server, and spelled the
// way a server reports them. A pool learns each value once; until then a server checks it, and a
// value it refuses ends the login as it would on a direct connection.
awaitable<bool> client_session::settle_startup_parameters(target login_target) {
  bool known = pool_->has_defaults();
  for (const auto& [name, value] : parameters_) {
    if (name != "application_name" && !pool_->canonical(name, value)) known = false;
  }
  if (known) {
    for (auto& [name, value] : parameters_) {
      if (const auto* canonical = pool_->canonical(name, value)) value = *canonical;
    }
  } else {
    const parameter_map asked = parameters_;
    parameter_map observed;
    observed_parameters_ = &observed;
    own_error_.reset();
    const bool ok = co_await attach_server(login_target, true) && co_await exchange_with_server();
    observed_parameters_ = nullptr;
    if (!ok) co_return false;
    if (own_error_) {
      auto error = *own_error_;
      error.severity = "FATAL";
      send_error(error);
      close("startup parameter refused: " + error.message);
      co_return false;
    }
    for (const auto& [name, value] : asked) {
      if (name == "application_name") continue;
      auto seen = observed.find(name);
      const bool reported = pool_->login_parameters().count(name) > 0;
      std::string canonical = reported && seen != observed.end() ? seen->second : value;
      parameters_[name] = canonical;
      pool_->learn_canonical(name, value, std::move(canonical));
    }
    maybe_release();
  }
  startup_parameters_ = parameters_;
  co_return true;
}

awaitable<bool> client_session::start_up() {
  tls_ = shared_.tls();
  p::startup_packet packet;
  if (!co_await read_startup_packet(packet)) co_return false;
  user_ = std::string(packet.user());
  database_ = std::string(packet.database());
  if (packet.needs_negotiation()) {
    std::string out;
    p::write_negotiate_protocol_version(out, packet);
    send_to_client(out);
  }
  const auto& cfg = this->cfg();
  if (packet.replication != p::replication_mode::none) {
    fatal(sqlstate::feature_not_supported, "pgsteer does not pool replication connections",
          "Connect to the server directly for streaming replication.");
    close("replication connection refused");
    co_return false;
  }
  if (shared_.clients.load(std::memory_order_relaxed) > cfg.clients.max_connections) {
    fatal(sqlstate::too_many_connections, "sorry, too many clients already",
          "pgsteer's clients.max_connections is " + std::to_string(cfg.clients.max_connections) +
              ".");
    close("too many clients");
    co_return false;
  }
  if (!client_tls_ && tls_ && tls_->client_mode == config::client_tls_mode::require) {
    send_error(make_error(
        "FATAL", sqlstate::invalid_authorization_specification,
        "SSL is required for host \"" + peer_ + "\", user \"" + user_ + "\", database \"" +
            database_ + "\"",
        {}, "pgsteer's tls.client.mode is require: connect with sslmode=require or stricter."));
    close("TLS required");
    co_return false;
  }
  if (const auto wait = shared_.auth_failures.refused_for(peer_, steady_clock::now())) {
    const auto seconds = std::chrono::ceil<std::chrono::seconds>(*wait).count();
    fatal(sqlstate::invalid_authorization_specification,
          "too many failed authentication attempts from host \"" + peer_ + "\"",
          "pgsteer refuses new connections from this address for " + std::to_string(seconds) +
              " more seconds (clients.max_auth_failures_per_minute is " +
              std::to_string(shared_.auth_failures.limit()) + ").");
    close("too many failed authentication attempts");
    co_return false;
  }
  // A named request, not a braced temporary argument: GCC 12 -O3 miscompiles the latter in this
  // coroutine (the views pointed at freed memory and the Release build crashed at every login).
  const hba_request request{peer_, database_, user_, client_tls_};
  const auto method = match_hba(cfg.clients.hba, request);
  // PostgreSQL's own messages, so that tools matching them keep working.
  const std::string who = "host \"" + peer_ + "\", user \"" + user_ + "\", database \"" +
                          database_ + "\", " + (client_tls_ ? "SSL encryption" : "no encryption");
  if (!method) {
    authentication_failed(sqlstate::invalid_authorization_specification,
                          "no pg_hba.conf entry for " + who, "no clients.hba rule",
                          "No rule in pgsteer's clients.hba matches this connection.");
    co_return false;
  }
  if (*method == config::auth_method::reject) {
    authentication_failed(sqlstate::invalid_authorization_specification,
                          "pg_hba.conf rejects connection for " + who, "rejected by clients.hba");
    co_return false;
  }
  if (!cfg.find_user(user_) && !cfg.auth_query.query.empty() && !co_await look_up_user()) {
    co_return false;
  }
  if (!co_await authenticate(*method, user_)) co_return false;
  if (database_ == admin_console::database_name) {
    if (auto refusal = admin_console::refusal(cfg, user_)) {
      send_error(*refusal);
      close("not an admin");
      co_return false;
    }
    wants_admin_console_ = true;
    co_return true;
  }

  db_ = cfg.find_database(database_);
  if (db_) db_index_ = shared_.database_names.index_of(db_->name);
  const config::user* user = cfg.find_user(user_);
  if (!user && looked_up_) user = &shared_.dynamic_user(user_);
  if (!db_) {
    fatal(sqlstate::invalid_catalog_name, "database \"" + database_ + "\" does not exist",
          "pgsteer serves the databases listed under `databases` in its configuration.");
    close("unknown database");
    co_return false;
  }
  if (!user) {
    // Only under trust (or cert): the other methods refused an unknown user already.
    if (cfg.auth_query.query.empty()) {
      fatal(sqlstate::invalid_authorization_specification,
            "role \"" + user_ + "\" is not configured in pgsteer",
            "pgsteer logs in to backends only as the users listed under `users`.");
    } else {
      fatal(sqlstate::invalid_authorization_specification,
            "role \"" + user_ + "\" does not exist");  // PostgreSQL's words
    }
    close("unknown user");
    co_return false;
  }
  user_config_ = user;
  tracks_writes_ = cfg.routing.consistency_mode == config::consistency::read_your_writes &&
                   db_->route_mode == config::route::split && mode_ != p::pool_mode::session;
  // The pool of the backend this client's first transaction would use learns its settings.
  const target login_target = route_for(db_->route_mode, nullptr, mode_ == p::pool_mode::session);
  {
    auto chosen = co_await worker_.choose_backend(*db_, *user, login_target);
    if (auto* error = std::get_if<p::error_fields>(&chosen)) {
      error->severity = "FATAL";
      send_error(*error);
      close("no backend: " + error->message);
      co_return false;
    }
    pool_ = &worker_.pool(*db_, *user, std::get<std::size_t>(chosen));
  }
  apply_startup_parameters(packet);
  if (!co_await settle_startup_parameters(login_target)) co_return false;
  process_id_ = worker_.register_session(*this);
  registered_ = true;
  std::string out;
  p::write_authentication_ok(out);
  parameter_map reported = pool_->login_parameters();
  for (const auto& [name, value] : parameters_) {
    if (reported.count(name)) reported[name] = value;
  }
  for (const auto& [name, value] : reported) p::write_parameter_status(out, name, value);
  p::write_backend_key_data(out, process_id_, secret_key_);
  p::write_ready_for_query(out, 'I');
  send_to_client(out);
  co_await flush_to_client();
  co_return !closing_;
}

awaitable<std::optional<std::string_view>> client_session::read_password_message() {
  for (;;) {
    const auto frame = p::next_frame(input_.view(), 64 * 1024);
    if (frame.status == p::frame_status::need_more) {
      const auto before = input_.size();
      if (auto ec = co_await read_more(client_, input_); ec) {
        close("client left during authentication");
        co_return std::nullopt;
      }
      worker_.stats().bytes_received.add(input_.size() - before);
      continue;
    }
    if (frame.status == p::frame_status::complete && frame.type == p::frontend::terminate) {
      // A client giving up (no password to offer) is not a failed attempt.
      close("client left during authentication");
      co_return std::nullopt;
    }
    if (frame.status != p::frame_status::complete || frame.type != p::frontend::password_message) {
      authentication_failed(
          sqlstate::protocol_violation,
          frame.status == p::frame_status::complete
              ? std::string("expected password response, got message type ") + frame.type
              : std::string("invalid message length during authentication"),
          "malformed authentication message");
      co_return std::nullopt;
    }
    // The view stays valid until the next read: the caller uses it before reading again.
    input_.consume(frame.size);
    co_return frame.body;
  }
}

awaitable<bool> client_session::authenticate(config::auth_method method, const std::string& user) {
  switch (method) {
    case config::auth_method::trust:
      co_return true;
    case config::auth_method::scram_sha_256:
      co_return co_await authenticate_scram(user);
    case config::auth_method::md5: {
      // As PostgreSQL: a user whose only secret is a SCRAM verifier is asked for SCRAM instead.
      const auto secrets = shared_.secrets(*config_, user);
      if (secrets && secrets->md5_stored.empty() && secrets->verifier) {
        co_return co_await authenticate_scram(user);
      }
      co_return co_await authenticate_md5(user);
    }
    case config::auth_method::cert:
      if (client_tls_) co_return authenticate_cert(user);
      break;
    case config::auth_method::reject:
      break;
  }
  fatal(sqlstate::invalid_authorization_specification,
        std::string(config::to_string(method)) +
            " authentication needs TLS, which this connection "
            "does not use");
  close("authentication method unavailable");
  co_return false;
}

// `cert`: the certificate verified against tls.client.ca_file in the handshake names the user
// in its CN (PostgreSQL's clientcert=verify-full without a user name map).
bool client_session::authenticate_cert(const std::string& user) {
  const SSL* ssl = client_.native_tls();
  if (!tls_->verifies_client_certificates || !SSL_get0_peer_certificate(ssl)) {
    authentication_failed(
        sqlstate::invalid_authorization_specification,
        "connection requires a valid client certificate", "no client certificate",
        tls_->verifies_client_certificates
            ? std::string()
            : "pgsteer asks for client certificates only when tls.client.ca_file is set.");
    return false;
  }
  const auto cn = tls::verified_peer_common_name(ssl);
  if (!cn || *cn != user) {
    spdlog::info("client {} from {}: certificate CN {} does not name user \"{}\"", id_, peer_,
                 cn ? "\"" + *cn + "\"" : std::string("(missing or ambiguous)"), user);
    authentication_failed(sqlstate::invalid_authorization_specification,
                          "certificate authentication failed for user \"" + user + "\"",
                          "certificate does not match the user");
    return false;
  }
  return true;
}

awaitable<bool> client_session::authenticate_scram(const std::string& user) {
  const auto secrets = shared_.secrets(*config_, user);
  const bool known = secrets && secrets->verifier;
  // TLS clients are offered SCRAM-SHA-256-PLUS, bound to the certificate they were shown.
  const std::string binding = client_tls_ ? tls_->client_end_point_hash : std::string();
  scram::server_exchange exchange(
      known ? *secrets->verifier : scram::mock_verifier(user, shared_.mock_secret()),
      scram::random_nonce(), binding);
  std::string out;
  p::write_authentication_sasl(out, scram::server_mechanisms(!binding.empty()));
  send_to_client(out);
  co_await flush_to_client();
  auto first = co_await read_password_message();
  if (!first) co_return false;
  auto initial = p::parse_sasl_initial_response(*first);
  std::string server_first;
  auto r = initial && initial->data
               ? exchange.client_first(initial->mechanism, *initial->data, server_first)
               : scram::result::malformed;
  if (r == scram::result::ok) {
    out.clear();
    p::write_authentication_sasl_continue(out, server_first);
    send_to_client(out);
    co_await flush_to_client();
    auto final_message = co_await read_password_message();
    if (!final_message) co_return false;
    std::string server_final;
    r = exchange.client_final(*final_message, server_final);
    if (r == scram::result::ok && known) {
      out.clear();
      p::write_authentication_sasl_final(out, server_final);
      send_to_client(out);
      if (secrets->password.empty()) {
        // Only a verifier is known (configured or found by auth_query): the keys this client
        // proved are how pgsteer logs in to backends as this user.
        const auto* cfg_user = cfg().find_user(user);
        shared_.remember_scram_keys(user, cfg_user ? cfg_user->secret : std::string(),
                                    exchange.proven_keys());
      }
      co_return true;
    }
  }
  if (r == scram::result::malformed) {
    authentication_failed(sqlstate::protocol_violation, "malformed SCRAM message",
                          "malformed SCRAM message");
  } else {
    // The same words whether the user exists or not (no oracle); the log tells them apart.
    authentication_failed(sqlstate::invalid_password,
                          "password authentication failed for user \"" + user + "\"",
                          known ? "wrong password" : "unknown user");
  }
  co_return false;
}

awaitable<bool> client_session::authenticate_md5(const std::string& user) {
  const auto secrets = shared_.secrets(*config_, user);
  const std::string salt = scram::random_bytes(4);
  std::string out;
  p::write_authentication_md5_password(out, salt);
  send_to_client(out);
  co_await flush_to_client();
  auto response = co_await read_password_message();
  if (!response) co_return false;
  auto password = p::parse_password_message(*response);
  if (!password) {
    authentication_failed(sqlstate::protocol_violation, "malformed password message",
                          "malformed password message");
    co_return false;
  }
  const bool known = secrets && !secrets->md5_stored.empty();
  if (known && p::md5::verify(secrets->md5_stored, salt, *password)) co_return true;
  authentication_failed(sqlstate::invalid_password,
                        "password authentication failed for user \"" + user + "\"",
                        known ? "wrong password" : "unknown user");
  co_return false;
}

awaitable<bool> client_session::look_up_user() {
  const auto& cfg = this->cfg();
  if (auto cached = shared_.cached_lookup(user_, steady_clock::now())) {
    looked_up_ = *cached != nullptr;
    co_return true;
  }
  const config::database* db = cfg.find_database(
      cfg.auth_query.database.empty() ? std::string_view(database_) : cfg.auth_query.database);
  // No database to ask in: the user stays unknown and fails like a wrong password.
  if (!db) co_return true;
  auto found = co_await look_up_user_secrets(worker_, *db, user_);
  if (auto* failure = std::get_if<lookup_failure>(&found)) {
    spdlog::warn("client {} from {}: could not look up user \"{}\" with auth_query: {}", id_, peer_,
                 user_, failure->reason);
    fatal(sqlstate::sqlclient_unable_to_establish_sqlconnection,
          "pgsteer could not look up user \"" + user_ + "\"",
          "auth_query failed; pgsteer's log says why.");
    close("auth_query failed");
    co_return false;
  }
  auto& secrets = std::get<std::shared_ptr<const user_secrets>>(found);
  looked_up_ = secrets != nullptr;
  shared_.cache_lookup(user_, std::move(secrets), steady_clock::now());
  co_return true;
}

void client_session::authentication_failed(std::string_view code, std::string message,
                                           std::string reason, std::string detail) {
  worker_.stats().auth_failures_total.add();
  shared_.auth_failures.record_failure(peer_, steady_clock::now());
  fatal(code, std::move(message), std::move(detail));
  close(std::move(reason));
}

// ---- relay ----

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
        break;
      }
      if (frame.status == p::frame_status::bad_length) {
        fatal(sqlstate::protocol_violation, "invalid message length");
        close("invalid message length");
        break;
      }
      const std::string_view message = input_.view().substr(0, frame.size);
      co_await handle_client_message(frame.type, message, frame.body);
      input_.consume(frame.size);
      if (closing_) break;
    }
    if (!to_server_.empty() && server_) {
      writing_to_server_ = true;
      auto ec = co_await write_all(server_->socket, to_server_);
      writing_to_server_ = false;
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
          fatal(sqlstate::idle_session_timeout,
                "terminating connection due to idle-session timeout");
          close("clients.idle_timeout");
          break;
        }
        const auto limit = server_ ? idle_timeout : idle_timeout - quiet_for;
        auto [done, read_ec] =
            co_await with_timeout(read_more(client_, input_, client_read_chunk), limit);
        if (done) {
          ec = read_ec;
          break;
        }
      }
      if (closing_) break;
    } else {
      if (!input_.holds_memory() && !client_tls_) {
        // Idle: wait here, in this frame, so an idle client holds nothing more than it. (A TLS
        // engine may hold bytes the socket will not signal again: TLS reads at once.)
        auto [wait_ec] = co_await client_.socket().async_wait(tcp::socket::wait_read, use_tuple);
        ec = wait_ec;
      }
      if (!ec) ec = co_await read_more(client_, input_, client_read_chunk);
    }
    worker_.stats().bytes_received.add(input_.size() - before);
    if (ec) {
      close(ec == asio::error::eof ? "client closed the connection"
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
      p::write_ready_for_query(out, aborted_block_ ? 'E' : 'I');
      send_to_client(out);
    } else if (type == p::frontend::terminate) {
      close("client terminated");
    }
    co_return;
  }
  if (aborted_block_ && !server_ && type != p::frontend::terminate) {
    answer_in_aborted_block(type, body);
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
  if (type == p::frontend::query) {
    if (auto q = p::parse_query(body)) sql = q->sql;
  } else if (type == p::frontend::parse) {
    if (auto parse = p::parse_parse(body)) sql = parse->query;
  }
  if (!sql.empty() && may_reset_settings(sql)) may_reset_ = true;
  if (!server_ && mode_ != p::pool_mode::session && answer_without_server(type, body)) co_return;
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
    attaching_ = true;
    const bool attached = co_await attach_server(target_for(type, body, c ? &*c : nullptr));
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
  if (resync_parameters_ && server_->replies.empty()) {
    synchronize_parameters();
    resync_parameters_ = false;
  }
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
  if (mode_ != p::pool_mode::session && rewrite_statement_message(type, message, body)) co_return;
  forward(type, message);
  if (type == p::frontend::sync && !close_after_sync_.empty()) {
    std::string out;
    p::write_close(out, 'S', close_after_sync_);
    inject(p::frontend::close, out);
    out.clear();
    p::write_sync(out);
    inject(p::frontend::sync, out);
    close_after_sync_.clear();
  }
}

// Outside a transaction, a Parse of a statement some server already accepted and a Close need
// no server: answering them here keeps a client that prepares synchronously (pgbench -M
// prepared, many drivers) from waiting for a server it does not need yet. The statement is
// prepared on a server when the client first uses it.
bool client_session::answer_without_server(char type, std::string_view body) {
  std::string out;
  if (type == p::frontend::parse) {
    auto parse = p::parse_parse(body);
    if (!parse || parse->statement.empty() || statements_.count(parse->statement)) return false;
    const auto id =
        worker_.statement_id(parse->query, parse->parameter_types, parse->parameter_count);
    if (!worker_.statement(id).validated) return false;
    statements_[std::string(parse->statement)] = id;
    p::write_parse_complete(out);
  } else if (type == p::frontend::close) {
    auto close_view = p::parse_close(body);
    if (!close_view) return false;
    if (close_view->kind == 'S') {
      if (auto it = statements_.find(close_view->name); it != statements_.end()) {
        statements_.erase(it);
      }
    }
    p::write_close_complete(out);
  } else {
    return false;
  }
  send_to_client(out);
  return true;
}

void client_session::forward(char type, std::string_view message, bool swallow, std::uint32_t tag) {
  to_server_.append(message);
  server_->tracker.on_frontend(type);
  server_->replies.on_frontend(type, swallow, tag);
}

void client_session::inject(char type, std::string_view message, std::uint32_t tag) {
  forward(type, message, true, tag);
}

// Transaction and statement pooling: a client's named prepared statements live on servers
// under pgsteer's names, prepared on each server when first needed there.
bool client_session::rewrite_statement_message(char type, std::string_view message,
                                               std::string_view body) {
  std::string out;
  switch (type) {
    case p::frontend::parse: {
      auto parse = p::parse_parse(body);
      if (!parse || parse->statement.empty()) return false;
      if (statements_.count(parse->statement)) {
        // The name is taken: PostgreSQL refuses the Parse, after checking its text. The server
        // holds the client's name for a moment so that it gives exactly that error, in order.
        p::write_parse(out, parse->statement, "SELECT NULL");
        inject(p::frontend::parse, out);
        forward(type, message);
        close_after_sync_ = std::string(parse->statement);
        return true;
      }
      const auto id =
          worker_.statement_id(parse->query, parse->parameter_types, parse->parameter_count);
      statements_[std::string(parse->statement)] = id;
      const auto& st = worker_.statement(id);
      if (server_->has_statement(id)) {
        // Already there (another client prepared the same text): re-prepare so the client gets
        // its own ParseComplete, or its own error, in order.
        p::write_close(out, 'S', st.server_name);
        inject(p::frontend::close, out);
        out.clear();
        server_->forget_statement(id);
      }
      if (auto evicted = server_->add_statement(id, cfg().pool.max_prepared_statements)) {
        p::write_close(out, 'S', worker_.statement(evicted).server_name);
        inject(p::frontend::close, out);
        out.clear();
      }
      p::write_parse(out, *parse, st.server_name);
      forward(type, out, false, parse_tag(id, true));
      return true;
    }
    case p::frontend::bind: {
      auto bind = p::parse_bind(body);
      if (!bind || bind->statement.empty()) return false;
      auto it = statements_.find(bind->statement);
      if (it == statements_.end()) return false;  // the server's "does not exist" is right
      ensure_prepared(it->second);
      p::write_bind(out, *bind, worker_.statement(it->second).server_name);
      forward(type, out);
      return true;
    }
    case p::frontend::describe: {
      auto describe = p::parse_describe(body);
      if (!describe || describe->kind != 'S' || describe->name.empty()) return false;
      auto it = statements_.find(describe->name);
      if (it == statements_.end()) return false;
      ensure_prepared(it->second);
      p::write_describe(out, 'S', worker_.statement(it->second).server_name);
      forward(type, out);
      return true;
    }
    case p::frontend::close: {
      auto close_view = p::parse_close(body);
      if (!close_view || close_view->kind != 'S' || close_view->name.empty()) return false;
      // The server's copy stays for others; closing the client's name there is a no-op that
      // still answers CloseComplete in order.
      auto it = statements_.find(close_view->name);
      if (it != statements_.end()) statements_.erase(it);
      forward(type, message);
      return true;
    }
    default:
      return false;
  }
}

void client_session::ensure_prepared(std::uint64_t id) {
  if (server_->has_statement(id)) {
    server_->touch_statement(id);
    return;
  }
  std::string out;
  if (auto evicted = server_->add_statement(id, cfg().pool.max_prepared_statements)) {
    p::write_close(out, 'S', worker_.statement(evicted).server_name);
    inject(p::frontend::close, out);
    out.clear();
  }
  const auto& st = worker_.statement(id);
  {
    p::message_builder m(out, p::frontend::parse);
    m.cstring(st.server_name).cstring(st.query).u16(st.parameter_count).bytes(st.parameter_types);
  }
  inject(p::frontend::parse, out, parse_tag(id, false));
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
    if (auto it = statements_.find(name); it != statements_.end()) {
      const auto c = p::classify(worker_.statement(it->second).query, functions());
      return route_for(db_->route_mode, &c, false);
    }
  }
  return target::primary;
}

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
    auto chosen = co_await worker_.choose_backend(
        *db_, *user_config_, want, unreachable, want == target::replica ? must_see_ : std::nullopt);
    if (auto* error = std::get_if<p::error_fields>(&chosen)) {
      if (error->code == sqlstate::admin_shutdown) {
        end_for_shutdown();  // woken by the drain while waiting for a primary
      } else {
        refuse(*error, "no backend");
      }
      co_return false;
    }
    if (closing_) co_return false;
    const std::size_t backend = std::get<std::size_t>(chosen);
    pool_ = &worker_.pool(*db_, *user_config_, backend);
    waiting_since_ = steady_clock::now();
    lease = co_await pool_->acquire();
    waiting_since_.reset();
    if (lease.server) break;
    // Read after the wait: a snapshot may have come meanwhile (without the primary, say).
    const auto* topology = worker_.current_topology();
    const bool refused = p::is_backend_going_away(lease.error);
    if (refused && want == target::replica && !(topology && topology->primary == backend)) {
      unreachable.push_back(backend);
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
    server_->forget_all_statements();
    // Parameters went back to the server's defaults; those it reports arrive as
    // ParameterStatus, the others pgsteer set are gone.
    for (auto it = server_->parameters.begin(); it != server_->parameters.end();) {
      if (!pool_->defaults().count(it->first) && !is_server_property(it->first)) {
        it = server_->parameters.erase(it);
      } else {
        ++it;
      }
    }
    server_->needs_reset = false;
  }
  if (server_->stale_statements) {
    p::write_query(out, "DEALLOCATE ALL");
    inject(p::frontend::query, out);
    out.clear();
    server_->forget_all_statements();
    server_->stale_statements = false;
  }
  synchronize_parameters();
  resync_parameters_ = false;
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
  std::string sql;
  auto want = [&](const std::string& name, const std::string& value) {
    auto it = server_->parameters.find(name);
    if (it != server_->parameters.end() && it->second == value) return;
    // Unchanged by the set (same value, other spelling), a value is not reported again.
    if (observed_parameters_ && it != server_->parameters.end()) {
      (*observed_parameters_)[name] = it->second;
    }
    sql += "SELECT pg_catalog.set_config(" + quote_literal(name) + ", " + quote_literal(value) +
           ", false);";
    server_->parameters[name] = value;
  };
  for (const auto& [name, value] : parameters_) want(name, value);
  for (const auto& [name, value] : pool_->defaults()) {
    if (!parameters_.count(name)) want(name, value);
  }
  // Settings another client made that this one did not ask for and the server does not report.
  for (auto it = server_->parameters.begin(); it != server_->parameters.end();) {
    if (!parameters_.count(it->first) && !pool_->defaults().count(it->first) &&
        !is_server_property(it->first)) {
      sql += "RESET " + it->first + ";";
      it = server_->parameters.erase(it);
    } else {
      ++it;
    }
  }
  if (sql.empty()) return;
  std::string out;
  p::write_query(out, sql);
  inject(p::frontend::query, out);
}

// Whether a reported `value` is a RESET (or DISCARD ALL, SET ... TO DEFAULT) of a setting the
// client connected with: on a direct connection that goes back to the startup value, here the
// shared server goes back to its own. Then parameters_ keeps the startup value, to be set on the
// server before the client's next request.
bool client_session::reset_to_startup_value(const std::string& name, const std::string& value) {
  if (!may_reset_) return false;
  auto start = startup_parameters_.find(name);
  if (start == startup_parameters_.end() || start->second == value) return false;
  auto server_default = pool_->defaults().find(name);
  if (server_default == pool_->defaults().end() || server_default->second != value) return false;
  parameters_[name] = start->second;
  resync_parameters_ = true;
  return true;
}

awaitable<void> client_session::server_to_client() {
  for (;;) {
    co_await flush_to_client();
    if (closing_) break;
    if (retry_pending_) {
      co_await retry_read();
      continue;
    }
    if (!server_) {
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
  error_code ec;
  client_.cancel(ec);  // client_to_server() may be waiting for the client: let it finish
}

void client_session::process_server_messages(server_connection& server) {
  for (;;) {
    const auto frame = p::next_frame(server.input.view(), max_server_message);
    if (frame.status == p::frame_status::need_more) break;
    if (frame.status != p::frame_status::complete) {
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
      if (const auto tag = server.replies.front_tag(); tag != 0) worker_.mark_validated(tag / 2);
    }
    const auto verdict = server.replies.on_backend(type);
    if (verdict == p::reply_filter::verdict::unexpected) {
      lose_server(std::string("the backend sent an unexpected message of type ") + type);
      return;
    }
    bool forward_it = verdict == p::reply_filter::verdict::forward;
    if (type == p::backend::ready_for_query && forward_it) {
      ++requests_answered_;
      may_reset_ = false;
      count_request_done(status, server);
      if (timing_request_) log_if_slow(server);
    }
    if (type == p::backend::parameter_status) {
      if (auto ps = p::parse_parameter_status(frame.body)) {
        std::string name(ps->name);
        std::string value(ps->value);
        server.parameters[name] = value;
        if (observed_parameters_) (*observed_parameters_)[name] = value;
        if (forward_it && reset_to_startup_value(name, value)) {
          // PostgreSQL resets to the value the client connected with, which this shared server
          // does not hold: the client is told that value, and the server gets it next.
          std::string out;
          p::write_parameter_status(out, name, parameters_[name]);
          to_client_ += out;
          forward_it = false;
        } else if (!is_server_property(name) && (forward_it || parameters_.count(name))) {
          // The client's own SET, or the canonical form of a value pgsteer set for it.
          parameters_[name] = std::move(value);
        }
      }
    } else if (type == p::backend::error_response) {
      if (auto fields = p::parse_error_fields(frame.body)) {
        const auto e = p::to_error_fields(*fields);
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
        if (forward_it) count_error(worker_.stats(), e.code);
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
          for (const auto& entry : parameters_) server.parameters.erase(entry.first);
          resync_parameters_ = true;
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
      retry_skip_ = 0;
      if (retry_log_active_) stop_retry_log();
    }
    if (forward_it) to_client_.append(server.input.view().substr(0, frame.size));
    server.input.consume(frame.size);
  }
  for (const auto tag : server.replies.take_failed_tags()) {
    const std::uint64_t id = tag / 2;
    server.forget_statement(id);
    if (tag % 2 == 1) {
      for (auto it = statements_.begin(); it != statements_.end();) {
        it = it->second == id ? statements_.erase(it) : std::next(it);
      }
    }
  }
  if (server.stale_statements && server.replies.empty()) {
    server.forget_all_statements();
  }
  server.input.shrink(64 * 1024);
}

void client_session::maybe_release() {
  if (!server_ || closing_ || mode_ == p::pool_mode::session || writing_to_server_) return;
  if (!to_server_.empty() || !server_->input.empty() || !server_->replies.empty()) return;
  if (!server_->tracker.may_release(mode_)) return;
  release_server();
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

// Replies that describe a statement before it produces anything (its rows, its outcome): a read
// whose server fails after these may still run again, and its retry does not repeat them.
bool client_session::is_reply_preamble(char type) {
  return type == p::backend::parse_complete || type == p::backend::bind_complete ||
         type == p::backend::row_description || type == p::backend::no_data ||
         type == p::backend::parameter_description;
}

bool client_session::keeps_client_without_server() const {
  return relaying_ && mode_ != p::pool_mode::session;
}

void client_session::lose_server(const std::string& why) {
  if (!server_) return;
  spdlog::warn("client {}: server {} on {} lost: {}", id_, server_->id(), server_->backend().name,
               why);
  const bool keep_client = keeps_client_without_server();
  if (keep_client && retry_log_active_ && !retry_log_.empty()) {
    // Nothing of this read reached the client: it runs again on another eligible backend.
    failed_replica_ = pool_->backend_index();
    retry_pending_ = true;
    retry_log_active_ = false;
    wake();
  } else if (keep_client) {
    stop_retry_log();
    answer_for_lost_server(why);
  } else if (!server_said_fatal_) {
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

void client_session::answer_in_aborted_block(char type, std::string_view body) {
  auto ends_block = [&](std::string_view sql) {
    const auto c = p::classify(sql, functions());
    return !c.multi_statement &&
           (c.first == p::statement_type::commit || c.first == p::statement_type::rollback);
  };
  // A COMMIT of a transaction whose server was lost before the client heard of it (loss_error_
  // pending) fails with that loss and ends the block, as a COMMIT that cannot commit does in
  // PostgreSQL: answered ROLLBACK, it would look like success to a client that saw no error.
  auto commits_lost = [&](std::string_view sql) {
    const auto c = p::classify(sql, functions());
    return loss_error_ && !c.multi_statement && c.first == p::statement_type::commit;
  };
  auto fail_commit = [&] {
    send_error(*loss_error_);
    loss_error_.reset();
    aborted_block_ = false;
  };
  auto fail = [&] {
    if (loss_error_) {
      send_error(*loss_error_);
      loss_error_.reset();
    } else {
      send_error(make_error("ERROR", sqlstate::in_failed_sql_transaction,
                            "current transaction is aborted, commands ignored until end of "
                            "transaction block"));
    }
  };
  std::string out;
  switch (type) {
    case p::frontend::query: {
      const auto q = p::parse_query(body);
      if (q && commits_lost(q->sql)) {
        fail_commit();
        p::write_ready_for_query(out, 'I');
      } else if (q && ends_block(q->sql)) {
        p::write_command_complete(out, "ROLLBACK");
        p::write_ready_for_query(out, 'I');
        aborted_block_ = false;
        loss_error_.reset();
      } else {
        fail();
        p::write_ready_for_query(out, 'E');
      }
      break;
    }
    case p::frontend::function_call:
      fail();
      p::write_ready_for_query(out, 'E');
      break;
    case p::frontend::parse: {
      const auto parse = p::parse_parse(body);
      if (parse && commits_lost(parse->query)) {
        fail_commit();
        skip_until_sync_ = true;  // its Sync gets ReadyForQuery 'I'
        break;
      }
      if (parse && ends_block(parse->query)) {
        p::write_parse_complete(out);
        ending_aborted_block_ = true;
        break;
      }
      fail();
      skip_until_sync_ = true;
      break;
    }
    case p::frontend::bind: {
      // COMMIT or ROLLBACK, just parsed or prepared earlier (drivers keep them as statements).
      bool ends = ending_aborted_block_;
      if (const auto bind = p::parse_bind(body); bind && !bind->statement.empty()) {
        auto it = statements_.find(bind->statement);
        const std::string* query =
            it != statements_.end() ? &worker_.statement(it->second).query : nullptr;
        if (query && commits_lost(*query)) {
          fail_commit();
          skip_until_sync_ = true;
          break;
        }
        ends = query && ends_block(*query);
      }
      if (ends) {
        p::write_bind_complete(out);
        ending_aborted_block_ = true;
        break;
      }
      fail();
      skip_until_sync_ = true;
      break;
    }
    case p::frontend::describe:
    case p::frontend::execute:
      if (ending_aborted_block_) {
        if (type == p::frontend::describe) {
          p::write_no_data(out);
        } else {
          p::write_command_complete(out, "ROLLBACK");
        }
        break;
      }
      fail();
      skip_until_sync_ = true;
      break;
    case p::frontend::close:
      p::write_close_complete(out);
      break;
    case p::frontend::sync:
      p::write_ready_for_query(out, ending_aborted_block_ ? 'I' : 'E');
      if (ending_aborted_block_) {
        aborted_block_ = false;
        ending_aborted_block_ = false;
        loss_error_.reset();
      }
      break;
    default:  // Flush, and COPY data of a COPY that ended with its server
      break;
  }
  if (!out.empty()) send_to_client(out);
}

void client_session::stop_retry_log() {
  retry_log_active_ = false;
  retry_preamble_ = 0;
  retry_skip_ = 0;
  retry_log_.clear();
  if (retry_log_.capacity() > client_read_chunk) retry_log_ = std::string();
}

awaitable<void> client_session::retry_read() {
  retry_pending_ = false;
  retried_ = true;
  // The old server's last write must be over before its queue is reused.
  asio::steady_timer pause(client_.get_executor());
  while (writing_to_server_) {
    pause.expires_after(std::chrono::milliseconds(1));
    co_await pause.async_wait(use_tuple);
  }
  to_server_.clear();
  spdlog::info("client {}: retrying a read on another backend ({} bytes of requests)", id_,
               retry_log_.size());
  std::string log = std::move(retry_log_);
  retry_log_ = std::string();
  retry_skip_ = retry_preamble_;
  retry_preamble_ = 0;
  // The same messages, handled afresh: routed again (without the failed backend), prepared
  // statements and settings made ready on the new server.
  for (std::string_view rest = log; !rest.empty() && !closing_;) {
    const auto frame = p::next_frame(rest, max_message_size_);
    if (frame.status != p::frame_status::complete) break;
    co_await handle_client_message(frame.type, rest.substr(0, frame.size), frame.body);
    rest.remove_prefix(frame.size);
  }
  if (server_ && !to_server_.empty() && !closing_) {
    writing_to_server_ = true;
    auto ec = co_await write_all(server_->socket, to_server_);
    writing_to_server_ = false;
    to_server_.clear();
    discard_lost_server();
    if (ec) lose_server("could not send to the backend: " + ec.message());
  }
  retried_ = false;
  replay_gate_.cancel();
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
  may_reset_ = false;
  // Inside a transaction block the client is left where PostgreSQL leaves one after an error:
  // in a failed transaction, until it ends it (answer_in_aborted_block()).
  aborted_block_ = server_->tracker.in_transaction();
  const auto owed = server_->replies.owed_to_client();
  if (owed.ready_for_query == 0 && !owed.open_batch) {
    // The client is between statements of its transaction: its next request gets the error.
    if (aborted_block_) loss_error_ = std::move(error);
    return;
  }
  std::string ready;
  p::write_ready_for_query(ready, aborted_block_ ? 'E' : 'I');
  for (std::size_t i = 0; i < owed.ready_for_query; ++i) {
    send_error(error);
    send_to_client(ready);
  }
  if (owed.open_batch) {
    send_error(error);
    skip_until_sync_ = true;
  }
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
  if (auto it = parameters_.find("application_name"); it != parameters_.end()) {
    c.application_name = it->second;
  }
  if (server_) {
    c.server_id = server_->id();
    c.backend = server_->backend().name;
  }
  return c;
}

// ---- statistics ----

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
