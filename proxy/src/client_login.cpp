// client_session, stage 1: login. The first packets (SSLRequest, direct TLS, CancelRequest), the
// checks before authentication (limits, HBA), authentication itself (SCRAM-SHA-256, md5, cert,
// auth_query), the client's startup settings, and the ParameterStatus set it is greeted with.
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

awaitable<bool> client_session::read_startup_packet(p::startup_packet& packet) {
  // Each negotiation is answered once: a second SSLRequest (GSSENCRequest) is, for PostgreSQL,
  // a request for a protocol it does not speak.
  bool ssl_answered = false;
  bool gss_answered = false;
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
      if (auto ec = co_await read_more(client_, input_, login_read_chunk); ec) {
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
        if (bool& answered =
                packet.kind == p::startup_kind::ssl_request ? ssl_answered : gss_answered;
            answered) {
          send_error(p::unsupported_protocol(packet.kind == p::startup_kind::ssl_request
                                                 ? p::ssl_request_code
                                                 : p::gssenc_request_code));
          close("repeated encryption request");
          co_return false;
        } else {
          answered = true;
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
        worker_context::route_cancel(shared_, packet.process_id, packet.secret_key);
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

bool client_session::apply_startup_parameters(const p::startup_packet& packet) {
  for (const auto& [name, value] : packet.parameters) {
    if (name == "user" || name == "database" || name == "options" || name == "replication" ||
        name.rfind("_pq_.", 0) == 0) {
      continue;
    }
    params_.set(name, value);
  }
  auto options = p::parse_startup_options(packet.options());
  if (options.error) {
    send_error(*options.error);
    close("startup options refused: " + options.error->message);
    return false;
  }
  for (auto& [name, value] : options.settings) params_.set(name, std::move(value));
  return true;
}

// The client's startup settings as PostgreSQL holds them: checked by a server, and spelled the
// way a server reports them. A pool learns each value once; until then a server checks it, and a
// value it refuses ends the login as it would on a direct connection.
awaitable<bool> client_session::settle_startup_parameters(target login_target) {
  bool known = pool_->has_defaults();
  for (const auto& [name, value] : params_.values()) {
    if (name != "application_name" && !pool_->canonical(name, value)) known = false;
  }
  if (known) {
    for (auto& [name, value] : params_.values()) {
      if (const auto* canonical = pool_->canonical(name, value)) value = *canonical;
    }
  } else {
    const parameter_map asked = params_.values();
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
      params_.values()[name] = canonical;
      pool_->learn_canonical(name, value, std::move(canonical));
    }
    maybe_release();
  }
  params_.login_done();
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
  if (!apply_startup_parameters(packet)) co_return false;
  if (!co_await settle_startup_parameters(login_target)) co_return false;
  process_id_ = worker_.register_session(*this);
  registered_ = true;
  std::string out;
  p::write_authentication_ok(out);
  for (const auto& [name, value] : params_.login_report(pool_->login_parameters())) {
    p::write_parameter_status(out, name, value);
  }
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
      if (auto ec = co_await read_more(client_, input_, login_read_chunk); ec) {
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

}  // namespace pgsteer::proxy
