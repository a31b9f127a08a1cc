// server_connection: connecting and logging in to a backend, and the statement cache.
#include "server_connection.hpp"

#include <spdlog/spdlog.h>

#include <array>

#include <boost/asio/read.hpp>

#include "pgsteer/protocol/framer.hpp"
#include "pgsteer/protocol/md5.hpp"
#include "pgsteer/protocol/messages.hpp"
#include "pgsteer/protocol/scram.hpp"
#include "pgsteer/protocol/sqlstate.hpp"
#include "pgsteer/protocol/startup.hpp"
#include "shared_state.hpp"

namespace pgsteer::proxy {

namespace p = protocol;
namespace scram = protocol::scram;

server_connection::server_connection(tcp::socket s, const config::backend& backend,
                                     std::uint64_t id)
    : socket(std::move(s)),
      input(8 * 1024),
      idle_since(steady_clock::now()),
      backend_(backend),
      id_(id),
      created_(steady_clock::now()) {}

namespace {

p::error_fields login_error(std::string_view code, std::string message, std::string detail) {
  p::error_fields e;
  e.severity = "FATAL";
  e.code = std::string(code);
  e.message = std::move(message);
  e.detail = std::move(detail);
  return e;
}

// The backend could not be reached, or went away before the login ended (refused, reset,
// closed, timed out): 08001, which is_backend_going_away() counts as a reason to wait for the
// topology rather than to fail the client.
p::error_fields failure(std::string message, std::string detail = {}) {
  return login_error(p::sqlstate::sqlclient_unable_to_establish_sqlconnection, std::move(message),
                     std::move(detail));
}

// The backend answered, but pgsteer cannot log in to it the way it is configured (no password,
// an authentication method or TLS policy that does not fit, a certificate that does not verify):
// waiting would not help.
p::error_fields rejected(std::string message, std::string detail = {}) {
  return login_error(p::sqlstate::sqlserver_rejected_establishment_of_sqlconnection,
                     std::move(message), std::move(detail));
}

// The backend sent something that is not PostgreSQL's protocol.
p::error_fields malformed(std::string message) {
  return login_error(p::sqlstate::protocol_violation, std::move(message), {});
}

// The login conversation after the StartupMessage: reads messages until ReadyForQuery.
awaitable<p::error_fields> log_in(shared_state& shared, const config_snapshot& config,
                                  server_connection& server, const std::string& user) {
  // A configured user's secrets, or what auth_query found (its SCRAM keys come from a client).
  const auto secrets = shared.secrets(config, user);
  const config::user* configured = config.cfg.find_user(user);
  const std::string secret = configured ? configured->secret : std::string();
  std::optional<scram::client_exchange> exchange;
  std::string out;
  for (;;) {
    const auto frame = p::next_frame(server.input.view(), 1 << 20);
    if (frame.status == p::frame_status::need_more) {
      if (auto ec = co_await read_more(server.socket, server.input); ec) {
        co_return failure("the backend closed the connection during login", ec.message());
      }
      continue;
    }
    if (frame.status != p::frame_status::complete) {
      co_return malformed("the backend sent a malformed message during login");
    }
    const std::string_view body = frame.body;
    const char type = frame.type;
    out.clear();
    if (type == p::backend::error_response) {
      auto fields = p::parse_error_fields(body);
      if (!fields) co_return malformed("the backend sent a malformed error during login");
      auto e = p::to_error_fields(*fields);
      server.input.consume(frame.size);
      co_return e;
    }
    if (type == p::backend::authentication) {
      auto auth = p::parse_authentication(body);
      if (!auth) co_return malformed("the backend sent a malformed authentication request");
      switch (auth->code) {
        case p::auth_code::ok:
          if (exchange && exchange->keys())
            shared.remember_scram_keys(user, secret, *exchange->keys());
          break;
        case p::auth_code::cleartext_password:
          if (!secrets || secrets->password.empty()) {
            co_return rejected("no password for user \"" + user + "\" to log in to the backend");
          }
          p::write_password_message(out, secrets->password);
          break;
        case p::auth_code::md5_password:
          if (!secrets || secrets->password.empty()) {
            co_return rejected("no password for user \"" + user + "\" to log in to the backend");
          }
          p::write_password_message(out,
                                    p::md5::client_response(user, secrets->password, auth->data));
          break;
        case p::auth_code::sasl: {
          bool offered = false;
          for (auto m : p::sasl_mechanisms(auth->data)) offered |= m == scram::mechanism;
          if (!offered) co_return rejected("the backend offers no SASL mechanism pgsteer knows");
          auto keys = shared.scram_keys(user, secret);
          if (secrets && !secrets->password.empty()) {
            exchange.emplace(secrets->password, scram::random_nonce());
            if (keys) exchange->reuse_keys(*keys);
          } else if (keys) {
            exchange.emplace(scram::client_exchange::from_keys(*keys, scram::random_nonce()));
          } else {
            co_return rejected("pgsteer cannot log in to the backend as \"" + user + "\" yet",
                               "Only a SCRAM verifier is configured for this user; pgsteer learns "
                               "the keys from the first client that logs in with SCRAM.");
          }
          p::write_sasl_initial_response(out, scram::mechanism, exchange->client_first());
          break;
        }
        case p::auth_code::sasl_continue: {
          std::string client_final;
          if (!exchange || exchange->server_first(auth->data, client_final) != scram::result::ok) {
            co_return rejected("SCRAM login to the backend failed");
          }
          p::write_sasl_response(out, client_final);
          break;
        }
        case p::auth_code::sasl_final:
          if (!exchange || exchange->server_final(auth->data) != scram::result::ok) {
            co_return rejected("the backend's SCRAM signature is wrong");
          }
          break;
        default:
          co_return rejected(
              "the backend asks for an authentication method pgsteer does not "
              "support");
      }
    } else if (type == p::backend::parameter_status) {
      if (auto ps = p::parse_parameter_status(body)) {
        server.parameters.edit()[std::string(ps->name)] = std::string(ps->value);
        if (ps->name == "in_hot_standby") server.in_hot_standby = ps->value == "on";
      }
    } else if (type == p::backend::backend_key_data) {
      if (auto key = p::parse_backend_key_data(body)) {
        server.process_id = key->process_id;
        server.secret_key = key->secret_key;
      }
    } else if (type == p::backend::ready_for_query) {
      server.input.consume(frame.size);
      co_return p::error_fields{
          .severity = {}, .code = {}, .message = {}, .detail = {}, .hint = {}};
    }
    // NoticeResponse and NegotiateProtocolVersion need no answer.
    server.input.consume(frame.size);
    if (!out.empty()) {
      if (auto ec = co_await write_all(server.socket, out); ec) {
        co_return failure("the backend closed the connection during login", ec.message());
      }
    }
  }
}

// tls.server.mode: asks the backend for TLS (SSLRequest) and, when it agrees, runs the handshake
// with the verification the mode asks for. prefer goes on in plaintext when the backend says
// 'N'; the other modes refuse to. A failure is logged here, naming the backend and the reason,
// because a client only sees "could not connect".
awaitable<std::optional<p::error_fields>> start_tls(shared_state& shared,
                                                    server_connection& server) {
  const auto contexts = shared.tls();
  if (!contexts || !contexts->server) co_return std::nullopt;
  const auto& backend = server.backend();
  const std::string where = "backend \"" + backend.name + "\" (" + backend.host + ":" +
                            std::to_string(backend.port) + ")";
  std::string request;
  p::write_ssl_request(request);
  char answer = 0;
  if (auto ec = co_await write_all(server.socket.socket(), request); ec) {
    co_return failure("could not send SSLRequest to " + where, ec.message());
  }
  auto [rec, n] =
      co_await asio::async_read(server.socket.socket(), asio::buffer(&answer, 1), use_tuple);
  (void)n;
  if (rec)
    co_return failure("the " + where + " closed the connection after SSLRequest", rec.message());
  if (answer == 'N') {
    if (contexts->server_mode == config::server_tls_mode::prefer) co_return std::nullopt;
    spdlog::error(
        "TLS to {} refused: the server does not accept TLS, and tls.server.mode "
        "requires it",
        where);
    co_return rejected("the " + where + " does not accept TLS",
                       "tls.server.mode requires TLS; set ssl = on on the server.");
  }
  if (answer != 'S') {
    co_return malformed("the " + where + " answered SSLRequest with an unexpected byte");
  }
  auto& tls = server.socket.start_tls(contexts->server);
  tls::prepare_server_handshake(tls.native_handle(), backend.host, contexts->server_mode);
  auto [hec] = co_await tls.async_handshake(asio::ssl::stream_base::client, use_tuple);
  if (hec) {
    const std::string verify = tls::verify_failure(tls.native_handle());
    const std::string why =
        verify.empty()
            ? "TLS handshake failed: " + hec.message()
            : "certificate verification failed (tls.server.mode verify-" +
                  std::string(contexts->server_mode == config::server_tls_mode::verify_full
                                  ? "full"
                                  : "ca") +
                  "): " + verify;
    spdlog::error("TLS to {} failed: {}", where, why);
    // A certificate that does not verify stays so; a handshake cut short may be a server dying.
    if (!verify.empty()) co_return rejected("TLS to " + where + " failed", why);
    co_return failure("TLS to " + where + " failed", why);
  }
  co_return std::nullopt;
}

awaitable<login_result> connect_and_log_in(shared_state& shared, const config_snapshot& config,
                                           const config::backend& backend,
                                           const std::string& dbname, const std::string& user,
                                           std::uint64_t id, const std::string& application_name) {
  auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  auto [rec, endpoints] =
      co_await resolver.async_resolve(backend.host, std::to_string(backend.port), use_tuple);
  if (rec) {
    co_return login_result{
        nullptr, failure("could not resolve backend \"" + backend.name + "\"", rec.message())};
  }
  tcp::socket socket(executor);
  auto [cec, endpoint] = co_await asio::async_connect(socket, endpoints, use_tuple);
  (void)endpoint;
  if (cec) {
    co_return login_result{nullptr,
                           failure("could not connect to backend \"" + backend.name + "\" at " +
                                       backend.host + ":" + std::to_string(backend.port),
                                   cec.message())};
  }
  socket.set_option(tcp::no_delay(true));
  socket.non_blocking(true);
  auto server = std::make_unique<server_connection>(std::move(socket), backend, id);
  if (auto error = co_await start_tls(shared, *server)) {
    co_return login_result{nullptr, std::move(*error)};
  }
  std::string startup;
  if (application_name.empty()) {
    p::write_startup_message(startup, {{"user", user}, {"database", dbname}});
  } else {
    p::write_startup_message(
        startup, {{"user", user}, {"database", dbname}, {"application_name", application_name}});
  }
  if (auto ec = co_await write_all(server->socket, startup); ec) {
    co_return login_result{
        nullptr, failure("could not send the startup message to backend \"" + backend.name + "\"",
                         ec.message())};
  }
  auto error = co_await log_in(shared, config, *server, user);
  if (!error.code.empty()) co_return login_result{nullptr, std::move(error)};
  server->tracker.on_backend(p::backend::ready_for_query, 'I');
  co_return login_result{std::move(server), {}};
}

}  // namespace

awaitable<login_result> connect_server(shared_state& shared,
                                       std::shared_ptr<const config_snapshot> config,
                                       const config::backend& backend, const std::string& dbname,
                                       const std::string& user, std::uint64_t id,
                                       const std::string& application_name) {
  const auto timeout = config->cfg.pool.server_connect_timeout;
  auto [done, result] = co_await with_timeout(
      connect_and_log_in(shared, *config, backend, dbname, user, id, application_name), timeout);
  if (!done) {
    result.error = failure("timed out connecting to backend \"" + backend.name + "\"");
  }
  co_return std::move(result);
}

}  // namespace pgsteer::proxy
