// admin_console: the login, the command loop and every command's answer (see
// admin_console.hpp). Facts about other workers come back by posting; nothing here blocks.
#include "admin_console.hpp"

#include "admin_results.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <thread>
#include <tuple>

#include <boost/asio/post.hpp>

#include "pgsteer/protocol/framer.hpp"
#include "pgsteer/protocol/messages.hpp"
#include "pgsteer/protocol/sqlstate.hpp"
#include "shared_state.hpp"
#include "stats.hpp"
#include "topology.hpp"
#include "worker_context.hpp"

namespace pgsteer::proxy {

namespace p = protocol;
namespace sqlstate = protocol::sqlstate;
using namespace admin_text;

namespace {

constexpr std::size_t max_admin_message = 1 << 20;

// The start of the process, for SHOW STATS's per-second averages.
const steady_clock::time_point process_started = steady_clock::now();

// Asks every worker `question` on its own thread and resumes with the answers (in worker order)
// once all have answered. The asker's worker keeps running meanwhile. `question` is copied before
// the first suspension; callers pass a named object, not a temporary (GCC 12 destroys some
// temporaries of a co_await expression twice).
template <typename R, typename Question>
awaitable<std::vector<R>> ask_every_worker(shared_state& shared, const Question& question) {
  auto home = co_await asio::this_coro::executor;
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(std::vector<R>)>(
      [&shared, home](auto handler, const Question& q) {
        struct gather {
          decltype(handler) resume;
          std::vector<R> answers;
          std::size_t pending;
        };
        const std::size_t n = shared.workers.size();
        auto state = std::make_shared<gather>(gather{std::move(handler), std::vector<R>(n), n});
        for (std::size_t i = 0; i < n; ++i) {
          worker_context* w = shared.workers[i];
          asio::post(w->context(), [state, i, w, q, home]() {
            R answer = q(*w);
            asio::post(home, [state, i, answer = std::move(answer)]() mutable {
              state->answers[i] = std::move(answer);
              if (--state->pending == 0) std::move(state->resume)(std::move(state->answers));
            });
          });
        }
      },
      asio::use_awaitable, std::cref(question));
}

// Runs `fn` on a thread of its own and resumes with its result: RELOAD reads files and derives
// secrets, which must not stall the worker the console runs on.
awaitable<std::vector<std::string>> off_worker(
    const std::function<std::vector<std::string>()>& fn) {
  auto home = co_await asio::this_coro::executor;
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>&,
                                          void(std::vector<std::string>)>(
      [home](auto handler, const std::function<std::vector<std::string>()>& fn_ref) {
        std::thread([handler = std::move(handler), f = fn_ref, home]() mutable {
          std::vector<std::string> errors;
          try {
            errors = f();
          } catch (const std::exception& e) {
            errors.push_back(std::string("reload failed: ") + e.what());
          }
          asio::post(home, [handler = std::move(handler), errors = std::move(errors)]() mutable {
            std::move(handler)(std::move(errors));
          });
        }).detach();
      },
      asio::use_awaitable, std::cref(fn));
}

}  // namespace

// ---- the console ----

std::optional<p::error_fields> admin_console::refusal(const config::config& cfg,
                                                      const std::string& user) {
  const config::user* u = cfg.find_user(user);
  if (u && u->admin) return std::nullopt;
  p::error_fields e;
  e.severity = "FATAL";
  e.code = std::string(sqlstate::insufficient_privilege);
  e.message = "not allowed: user \"" + user + "\" may not use pgsteer's admin console";
  e.hint = "Connect as a user marked admin: true under users in pgsteer's configuration.";
  return e;
}

admin_console::admin_console(worker_context& owner, pg_stream& client, byte_buffer& input,
                             std::string user)
    : worker_(owner),
      shared_(owner.shared()),
      client_(client),
      input_(input),
      user_(std::move(user)) {}

const config::config& admin_console::cfg() const {
  return worker_.config().cfg;  // shared_state::cfg() is the control thread's
}

void admin_console::close(std::string reason) {
  if (close_reason_.empty()) close_reason_ = std::move(reason);
  closing_ = true;
}

void admin_console::terminate(const p::error_fields& error) {
  terminated_ = error;
  close("pgsteer is shutting down");
  error_code ec;
  client_.cancel(ec);
}

void admin_console::send_result(const admin_result& result) {
  std::vector<std::pair<std::string_view, std::uint32_t>> columns;
  for (const auto& [name, type] : result.columns) columns.emplace_back(name, type);
  p::write_row_description(out_, columns);
  std::vector<std::optional<std::string_view>> values;
  for (const auto& row : result.rows) {
    values.clear();
    for (const auto& v : row) {
      values.push_back(v ? std::optional<std::string_view>(*v) : std::nullopt);
    }
    p::write_data_row(out_, values);
  }
  send_complete(result.tag);
}

void admin_console::send_error(std::string_view code, std::string message, std::string detail,
                               std::string hint) {
  p::error_fields e;
  e.code = std::string(code);
  e.message = std::move(message);
  e.detail = std::move(detail);
  e.hint = std::move(hint);
  p::write_error_response(out_, e);
}

void admin_console::send_complete(std::string_view tag) {
  p::write_command_complete(out_, tag);
}

awaitable<void> admin_console::serve(std::int32_t process_id, std::int32_t secret_key) {
  p::write_authentication_ok(out_);
  const std::pair<const char*, std::string> parameters[] = {
      {"server_version", server_version()},
      {"server_encoding", "UTF8"},
      {"client_encoding", "UTF8"},
      {"DateStyle", "ISO, MDY"},
      {"IntervalStyle", "postgres"},
      {"TimeZone", "UTC"},
      {"integer_datetimes", "on"},
      {"standard_conforming_strings", "on"},
      {"is_superuser", "off"},
      {"session_authorization", user_},
      {"application_name", ""},
  };
  for (const auto& [name, value] : parameters) p::write_parameter_status(out_, name, value);
  p::write_backend_key_data(out_, process_id, secret_key);
  p::write_ready_for_query(out_, 'I');
  spdlog::info("admin console: {} logged in", user_);

  bool skip_until_sync = false;
  while (!closing_) {
    for (;;) {
      const auto frame = p::next_frame(input_.view(), max_admin_message);
      if (frame.status == p::frame_status::need_more) break;
      if (frame.status != p::frame_status::complete) {
        p::error_fields e;
        e.severity = "FATAL";
        e.code = std::string(sqlstate::protocol_violation);
        e.message = frame.status == p::frame_status::too_large
                        ? "message too large for the admin console"
                        : "invalid message length";
        p::write_error_response(out_, e);
        close("invalid message");
        break;
      }
      const char type = frame.type;
      const std::string body(frame.body);
      input_.consume(frame.size);
      if (type == p::frontend::terminate) {
        close("client terminated");
        break;
      }
      if (type == p::frontend::sync) {
        skip_until_sync = false;
        p::write_ready_for_query(out_, 'I');
        continue;
      }
      if (skip_until_sync || type == p::frontend::flush || type == p::frontend::copy_data ||
          type == p::frontend::copy_done || type == p::frontend::copy_fail) {
        continue;
      }
      if (type == p::frontend::query) {
        const auto query = p::parse_query(body);
        const auto parsed = query ? p::parse_admin_command(query->sql)
                                  : p::admin_parse_result{std::nullopt, "malformed Query message"};
        if (!parsed.command) {
          send_error(sqlstate::syntax_error, parsed.error, {},
                     "The admin console knows: " + std::string(p::admin_command_list) + ".");
        } else if (parsed.command->verb == p::admin_verb::empty) {
          p::write_empty_query_response(out_);
        } else {
          co_await run(*parsed.command);
        }
        p::write_ready_for_query(out_, 'I');
        if (closing_) break;
        continue;
      }
      const bool extended = type == p::frontend::parse || type == p::frontend::bind ||
                            type == p::frontend::describe || type == p::frontend::execute ||
                            type == p::frontend::close;
      if (extended || type == p::frontend::function_call) {
        send_error(sqlstate::feature_not_supported,
                   "the admin console accepts only the simple query protocol", {},
                   "Send admin commands as plain queries (psql does; in drivers, avoid prepared "
                   "statements and parameters).");
        if (extended) {
          skip_until_sync = true;
        } else {
          p::write_ready_for_query(out_, 'I');
        }
        continue;
      }
      p::error_fields e;
      e.severity = "FATAL";
      e.code = std::string(sqlstate::protocol_violation);
      e.message = std::string("invalid frontend message type ") + std::to_string(int(type));
      p::write_error_response(out_, e);
      close("invalid message type");
      break;
    }
    if (!out_.empty() && !terminated_) {
      std::string writing;
      writing.swap(out_);
      if (auto ec = co_await write_all(client_, writing); ec) close("client connection lost");
    }
    if (closing_) break;
    if (auto ec = co_await read_more(client_, input_); ec) {
      close(ec == asio::error::eof ? "client closed the connection"
                                   : "client connection lost: " + ec.message());
    }
  }
  if (terminated_) {
    out_.clear();
    p::write_error_response(out_, *terminated_);
    co_await write_all(client_, out_);
  } else if (!out_.empty()) {
    co_await write_all(client_, out_);
  }
  spdlog::info("admin console: {} left: {}", user_, close_reason_);
}

bool admin_console::refuse_database(const std::string& database, std::string_view verb) {
  if (database == database_name) {
    send_error(sqlstate::feature_not_supported,
               std::string(verb) + " cannot be applied to the admin console's database");
    return true;
  }
  if (!cfg().find_database(database)) {
    send_error(sqlstate::invalid_catalog_name,
               "database \"" + database + "\" is not configured in pgsteer", {},
               "SHOW DATABASES lists the databases clients can use.");
    return true;
  }
  return false;
}

awaitable<void> admin_console::pause(const std::string& database) {
  if (!database.empty() && refuse_database(database, "PAUSE")) co_return;
  const bool already = database.empty() ? worker_.all_paused() : worker_.paused(database);
  if (already) {
    send_error(sqlstate::object_not_in_prerequisite_state,
               database.empty() ? "every database is already paused"
                                : "database \"" + database + "\" is already paused");
    co_return;
  }
  const auto pause_all = [database](worker_context& w) {
    w.pause(database);
    return true;
  };
  co_await ask_every_worker<bool>(shared_, pause_all);
  // Transactions already running finish; PAUSE answers once no server of those pools is busy.
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    const auto count_busy = [database](worker_context& w) { return w.busy_servers(database); };
    const auto busy = co_await ask_every_worker<std::size_t>(shared_, count_busy);
    std::size_t total = 0;
    for (auto n : busy) total += n;
    if (total == 0) break;
    if (closing_) co_return;
    const bool still = database.empty() ? worker_.all_paused() : worker_.paused(database);
    if (!still) {
      send_error(sqlstate::query_canceled,
                 "PAUSE was canceled by RESUME before the transactions in progress finished");
      co_return;
    }
    timer.expires_after(std::chrono::milliseconds(50));
    co_await timer.async_wait(use_tuple);
  }
  spdlog::info("admin console: {} paused {}", user_,
               database.empty() ? "every database" : database);
  send_complete("PAUSE");
}

awaitable<void> admin_console::run(const p::admin_command& command) {
  switch (command.verb) {
    case p::admin_verb::empty:
      co_return;
    case p::admin_verb::pause:
      co_await pause(command.database);
      co_return;
    case p::admin_verb::resume: {
      const std::string& db = command.database;
      if (!db.empty() && refuse_database(db, "RESUME")) co_return;
      if (!db.empty() && worker_.all_paused()) {
        send_error(sqlstate::object_not_in_prerequisite_state,
                   "every database is paused: RESUME without a name resumes them");
        co_return;
      }
      bool any = worker_.all_paused();
      for (const auto& d : cfg().databases) any = any || worker_.paused(d.name);
      if (db.empty() ? !any : !worker_.paused(db)) {
        send_error(sqlstate::object_not_in_prerequisite_state,
                   db.empty() ? "no database is paused" : "database \"" + db + "\" is not paused");
        co_return;
      }
      const auto resume_all = [db](worker_context& w) {
        w.resume(db);
        return true;
      };
      co_await ask_every_worker<bool>(shared_, resume_all);
      spdlog::info("admin console: {} resumed {}", user_, db.empty() ? "every database" : db);
      send_complete("RESUME");
      co_return;
    }
    case p::admin_verb::kill: {
      const std::string& db = command.database;
      if (refuse_database(db, "KILL")) co_return;
      p::error_fields e;
      e.severity = "FATAL";
      e.code = std::string(sqlstate::admin_shutdown);
      e.message = "terminating connection due to administrator command";
      e.detail = "An admin of pgsteer ran KILL " + db + ".";
      const auto kill_all = [db, e](worker_context& w) { return w.kill(db, e); };
      const auto killed = co_await ask_every_worker<std::size_t>(shared_, kill_all);
      std::size_t total = 0;
      for (auto n : killed) total += n;
      spdlog::warn("admin console: {} killed database {} ({} clients)", user_, db, total);
      send_complete("KILL");
      co_return;
    }
    case p::admin_verb::reload: {
      if (!shared_.reload) {
        send_error(sqlstate::feature_not_supported, "RELOAD is not available in this pgsteer");
        co_return;
      }
      const auto errors = co_await off_worker(shared_.reload);
      if (!errors.empty()) {
        std::string detail;
        for (const auto& line : errors) {
          if (!detail.empty()) detail += '\n';
          detail += line;
        }
        send_error("F0000", "the configuration was not reloaded: it has errors", detail,
                   "pgsteer keeps running with the configuration it had.");
        co_return;
      }
      spdlog::info("admin console: {} reloaded the configuration", user_);
      send_complete("RELOAD");
      co_return;
    }
    case p::admin_verb::shutdown: {
      if (!shared_.shutdown) {
        send_error(sqlstate::feature_not_supported, "SHUTDOWN is not available in this pgsteer");
        co_return;
      }
      spdlog::warn("admin console: {} asked for SHUTDOWN", user_);
      send_complete("SHUTDOWN");
      // Off this worker: draining stops workers, this one included.
      std::thread([shutdown = shared_.shutdown] { shutdown(); }).detach();
      co_return;
    }
    case p::admin_verb::show:
      break;
  }

  const auto inspect = [](worker_context& w) { return w.inspect(); };
  admin_result r;
  switch (command.subject) {
    case p::admin_subject::none:
    case p::admin_subject::help:
      r.columns = {{"command", text_oid}, {"does", text_oid}};
      r.rows = {
          {"SHOW POOLS", "clients and servers of each (database, user, backend) pool"},
          {"SHOW CLIENTS", "every client connection"},
          {"SHOW SERVERS", "every server connection, with the backend's process id"},
          {"SHOW STATS", "transactions, queries, bytes and times since start"},
          {"SHOW DATABASES", "the databases clients can use"},
          {"SHOW BACKENDS", "backends, their roles, lag and routed transactions"},
          {"SHOW CONFIG", "the settings in use"},
          {"SHOW VERSION", "pgsteer's version"},
          {"PAUSE [db]", "wait for transactions to finish, hold new ones"},
          {"RESUME [db]", "let held transactions go"},
          {"KILL db", "drop every client and server connection of a database"},
          {"RELOAD", "re-read the configuration file"},
          {"SHUTDOWN", "drain and stop pgsteer"},
      };
      break;
    case p::admin_subject::version:
      r.columns = {{"version", text_oid}};
      r.rows = {{std::string("pgsteer ") + PGSTEER_VERSION}};
      break;
    case p::admin_subject::config:
      r = show_config(cfg());
      break;
    case p::admin_subject::stats: {
      stats_totals t;
      for (const worker_context* w : shared_.workers) {
        const auto& s = w->stats();
        for (const auto& c : s.transactions_total) t.xact_count += c.get();
        for (const auto& c : s.queries_total) t.query_count += c.get();
        t.received += s.bytes_received.get();
        t.sent += s.bytes_sent.get();
        t.xact_time_us += s.transaction_time_us.get();
        t.query_time_us += s.query_time_us.get();
        t.wait_time_us += s.wait_time_us.get();
        t.wait_count += s.pool_wait_seconds.count();
      }
      const std::chrono::duration<double> up = steady_clock::now() - process_started;
      r = show_stats(t, up.count());
      break;
    }
    case p::admin_subject::backends: {
      r.columns = {
          {"name", text_oid},        {"host", text_oid},         {"port", int8_oid},
          {"role", text_oid},        {"state", text_oid},        {"lag_bytes", int8_oid},
          {"lag_seconds", text_oid}, {"timeline", int8_oid},     {"position", text_oid},
          {"weight", int8_oid},      {"routed_reads", int8_oid}, {"routed_writes", int8_oid},
          {"last_error", text_oid}};
      const topology* t = worker_.current_topology();
      const auto& backends = cfg().backends;
      for (std::size_t k = 0; k < backends.size(); ++k) {
        const auto& b = backends[k];
        const backend_state* s = t && k < t->backends.size() ? &t->backends[k] : nullptr;
        std::uint64_t reads = 0, writes = 0;
        if (k < max_counted_backends) {
          for (const worker_context* w : shared_.workers) {
            reads += w->stats().routed[k][static_cast<std::size_t>(route_label::replica)].get();
            writes += w->stats().routed[k][static_cast<std::size_t>(route_label::primary)].get();
          }
        }
        const backend_role role = s ? s->role : backend_role::unknown;
        const char* state = "unknown";
        switch (role) {
          case backend_role::primary:
            state = "writable";
            break;
          case backend_role::replica:
            state = s->eligible_for_reads ? "readable" : "lagging";
            break;
          case backend_role::down:
            state = "down";
            break;
          case backend_role::fenced:
            state = "fenced";
            break;
          case backend_role::unknown:
            break;
        }
        std::optional<std::string> lag_bytes, lag_seconds, timeline, position, last_error;
        if (s && s->lag_bytes) lag_bytes = number(*s->lag_bytes);
        if (s && s->lag_seconds) {
          char text[32];
          std::snprintf(text, sizeof text, "%.3f", *s->lag_seconds);
          lag_seconds = text;
        }
        if (s && (role == backend_role::primary || role == backend_role::replica ||
                  role == backend_role::fenced)) {
          timeline = number(s->timeline);
          position = s->position.to_string();
        }
        if (s && !s->last_error.empty()) last_error = s->last_error;
        r.rows.push_back({b.name, b.host, number(b.port), std::string(to_string(role)), state,
                          lag_bytes, lag_seconds, timeline, position, number(b.weight),
                          number(reads), number(writes), last_error});
      }
      break;
    }
    case p::admin_subject::databases: {
      const auto seen = co_await ask_every_worker<worker_inspection>(shared_, inspect);
      std::map<std::string, std::size_t> connections;
      for (const auto& w : seen) {
        for (const auto& pool : w.pools) {
          connections[pool.database] += pool.sv_active + pool.sv_idle + pool.sv_login;
        }
      }
      r.columns = {{"name", text_oid},
                   {"database", text_oid},
                   {"route", text_oid},
                   {"pool_size", int8_oid},
                   {"min_pool_size", int8_oid},
                   {"pool_mode", text_oid},
                   {"current_connections", int8_oid},
                   {"paused", int8_oid},
                   {"disabled", int8_oid}};
      // Read after the wait: a RELOAD may have swapped the configuration meanwhile.
      const auto& now = cfg();
      for (const auto& d : now.databases) {
        r.rows.push_back({d.name, d.dbname, std::string(route_name(d.route_mode)),
                          number(d.pool_size.value_or(now.pool.size)), number(now.pool.min_idle),
                          std::string(pool_mode_name(now.pool.mode)), number(connections[d.name]),
                          worker_.paused(d.name) ? "1" : "0", "0"});
      }
      break;
    }
    case p::admin_subject::pools: {
      const auto seen = co_await ask_every_worker<worker_inspection>(shared_, inspect);
      // Workers' shares of one pool add up to the pool.
      std::map<std::tuple<std::string, std::string, std::size_t>, pool_info> pools;
      for (const auto& w : seen) {
        for (const auto& p : w.pools) {
          auto& sum = pools[{p.database, p.user, p.backend_index}];
          sum.database = p.database;
          sum.user = p.user;
          sum.backend = p.backend;
          sum.cl_active += p.cl_active;
          sum.cl_waiting += p.cl_waiting;
          sum.sv_active += p.sv_active;
          sum.sv_idle += p.sv_idle;
          sum.sv_login += p.sv_login;
          sum.maxwait = std::max(sum.maxwait, p.maxwait);
        }
      }
      r.columns = {{"database", text_oid},  {"user", text_oid},       {"backend", text_oid},
                   {"cl_active", int8_oid}, {"cl_waiting", int8_oid}, {"sv_active", int8_oid},
                   {"sv_idle", int8_oid},   {"sv_used", int8_oid},    {"sv_login", int8_oid},
                   {"maxwait", int8_oid},   {"maxwait_us", int8_oid}, {"pool_mode", text_oid}};
      for (const auto& [key, p] : pools) {
        const auto us = p.maxwait.count();
        r.rows.push_back({p.database, p.user, p.backend, number(p.cl_active), number(p.cl_waiting),
                          number(p.sv_active), number(p.sv_idle), "0", number(p.sv_login),
                          number(static_cast<std::uint64_t>(us / 1000000)),
                          number(static_cast<std::uint64_t>(us % 1000000)),
                          std::string(pool_mode_name(cfg().pool.mode))});
      }
      break;
    }
    case p::admin_subject::clients: {
      const auto seen = co_await ask_every_worker<worker_inspection>(shared_, inspect);
      std::vector<client_info> clients;
      for (const auto& w : seen) clients.insert(clients.end(), w.clients.begin(), w.clients.end());
      std::sort(clients.begin(), clients.end(),
                [](const client_info& a, const client_info& b) { return a.id < b.id; });
      r.columns = {{"type", text_oid},         {"user", text_oid},
                   {"database", text_oid},     {"state", text_oid},
                   {"addr", text_oid},         {"port", int8_oid},
                   {"local_addr", text_oid},   {"local_port", int8_oid},
                   {"connect_time", text_oid}, {"wait", int8_oid},
                   {"wait_us", int8_oid},      {"id", int8_oid},
                   {"pid", int8_oid},          {"link", int8_oid},
                   {"backend", text_oid},      {"application_name", text_oid},
                   {"pinned", text_oid}};
      for (const auto& c : clients) {
        const auto us = c.wait ? c.wait->count() : 0;
        std::optional<std::string> link, backend;
        if (c.server_id) {
          link = number(*c.server_id);
          backend = c.backend;
        }
        r.rows.push_back(
            {"C", c.user, c.database,
             std::string(c.state == client_state::waiting ? "waiting" : "active"), c.addr,
             number(c.port), c.local_addr, number(c.local_port), timestamp(c.connect_time),
             number(static_cast<std::uint64_t>(us / 1000000)),
             number(static_cast<std::uint64_t>(us % 1000000)), number(c.id),
             std::to_string(c.process_id), link, backend, c.application_name, c.pinned});
      }
      break;
    }
    case p::admin_subject::servers: {
      const auto seen = co_await ask_every_worker<worker_inspection>(shared_, inspect);
      std::vector<server_info> servers;
      for (const auto& w : seen) servers.insert(servers.end(), w.servers.begin(), w.servers.end());
      std::sort(servers.begin(), servers.end(),
                [](const server_info& a, const server_info& b) { return a.id < b.id; });
      r.columns = {{"type", text_oid},
                   {"user", text_oid},
                   {"database", text_oid},
                   {"backend", text_oid},
                   {"state", text_oid},
                   {"addr", text_oid},
                   {"port", int8_oid},
                   {"local_addr", text_oid},
                   {"local_port", int8_oid},
                   {"connect_time", text_oid},
                   {"link", int8_oid},
                   {"remote_pid", int8_oid},
                   {"prepared_statements", int8_oid},
                   {"id", int8_oid}};
      for (const auto& s : servers) {
        std::optional<std::string> link;
        if (s.client_id) link = number(*s.client_id);
        r.rows.push_back({"S", s.user, s.database, s.backend,
                          std::string(s.state == server_state::active ? "active" : "idle"), s.addr,
                          number(s.port), s.local_addr, number(s.local_port),
                          timestamp(s.connect_time), link, std::to_string(s.remote_pid),
                          number(s.prepared_statements), number(s.id)});
      }
      break;
    }
  }
  send_result(r);
}

}  // namespace pgsteer::proxy
