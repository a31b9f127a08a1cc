// auth_query: one extended-protocol query on a leased server of auth_query.user's pool.
#include "auth_query.hpp"

#include <spdlog/spdlog.h>

#include "pgsteer/protocol/error_response.hpp"
#include "pgsteer/protocol/framer.hpp"
#include "pgsteer/protocol/messages.hpp"
#include "server_pool.hpp"
#include "worker_context.hpp"

namespace pgsteer::proxy {

namespace p = protocol;

namespace {

using result = std::variant<std::shared_ptr<const user_secrets>, lookup_failure>;

// The secret column of the first row, when the query ran: the query's own error otherwise.
struct query_outcome {
  bool ok = false;
  std::optional<std::string> secret;  // nullopt: no row, or a NULL secret
  std::string error;
};

// Runs the query on `server` up to its ReadyForQuery. false: the connection broke or
// misbehaved (the caller closes it); `out` then says why.
awaitable<bool> run_query(server_connection& server, const std::string& query,
                          const std::string& user, query_outcome& out) {
  std::string request;
  p::write_parse(request, "", query);
  p::write_bind(request, "", "", {std::string_view(user)});
  p::write_execute(request, "", 2);  // a second row is not read: the first one decides
  p::write_sync(request);
  for (char type :
       {p::frontend::parse, p::frontend::bind, p::frontend::execute, p::frontend::sync}) {
    server.tracker.on_frontend(type);
  }
  if (auto ec = co_await write_all(server.socket, request); ec) {
    out.error = "could not send the query: " + ec.message();
    co_return false;
  }
  bool seen_row = false;
  for (;;) {
    const auto frame = p::next_frame(server.input.view(), 1 << 20);
    if (frame.status == p::frame_status::need_more) {
      if (auto ec = co_await read_more(server.socket, server.input); ec) {
        out.error = "the backend connection failed: " + ec.message();
        co_return false;
      }
      continue;
    }
    if (frame.status != p::frame_status::complete) {
      out.error = "the backend sent a malformed message";
      co_return false;
    }
    char status = 0;
    if (frame.type == p::backend::ready_for_query) {
      status = p::parse_ready_for_query(frame.body).value_or('I');
    } else if (frame.type == p::backend::data_row && !seen_row) {
      seen_row = true;
      const auto row = p::parse_data_row(frame.body);
      // PgBouncer's shape: (name, secret). A single column is taken as the secret.
      if (row && !row->empty()) {
        const auto& cell = row->size() >= 2 ? (*row)[1] : (*row)[0];
        if (cell) out.secret = std::string(*cell);
      }
    } else if (frame.type == p::backend::error_response) {
      if (auto fields = p::parse_error_fields(frame.body)) {
        out.error = p::to_error_fields(*fields).message;
      }
    }
    server.tracker.on_backend(frame.type, status);
    server.input.consume(frame.size);
    if (frame.type == p::backend::ready_for_query) break;
  }
  out.ok = out.error.empty();
  co_return true;
}

}  // namespace

awaitable<result> look_up_user_secrets(worker_context& owner, const config::database& db,
                                       const std::string& user) {
  // This worker's configuration, held across the waits below (a reload may replace it).
  const auto snapshot = owner.config_ptr();
  const auto& cfg = snapshot->cfg;
  const config::user* as = cfg.find_user(cfg.auth_query.user);
  if (!as) co_return lookup_failure{"auth_query.user is not configured"};
  auto chosen = co_await owner.choose_backend(db, *as, target::primary);
  if (auto* error = std::get_if<p::error_fields>(&chosen)) {
    co_return lookup_failure{error->message};
  }
  server_pool& pool = owner.pool(db, *as, std::get<std::size_t>(chosen));
  auto lease = co_await pool.acquire();
  if (!lease.server) co_return lookup_failure{lease.error.message};
  auto server = std::move(lease.server);
  query_outcome outcome;
  const bool clean = co_await run_query(*server, cfg.auth_query.query, user, outcome);
  if (clean && server->tracker.may_release(p::pool_mode::transaction)) {
    pool.release(std::move(server));
  } else {
    pool.discard(std::move(server), "auth_query left it in an unknown state");
  }
  if (!outcome.ok) co_return lookup_failure{"auth_query failed: " + outcome.error};
  if (!outcome.secret || outcome.secret->empty()) co_return std::shared_ptr<const user_secrets>();
  auto secrets = secrets_from(user, *outcome.secret);
  if (!secrets) {
    // Said without the secret itself: the log never holds one.
    spdlog::warn("auth_query returned a malformed SCRAM verifier for user \"{}\"", user);
    co_return std::shared_ptr<const user_secrets>();
  }
  co_return std::make_shared<const user_secrets>(std::move(*secrets));
}

}  // namespace pgsteer::proxy
