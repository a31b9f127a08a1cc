// topology_monitor: asks every backend for its role and WAL position each health.interval, over
// pgsteer's own backend login, and turns the answers into the topology snapshot workers route by.
// The query and the rules are explained in docs/decisions/0007-topology-monitor.md.
#include "topology.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/post.hpp>
#include <charconv>
#include <cstdlib>

#include "pgsteer/protocol/error_response.hpp"
#include "pgsteer/protocol/framer.hpp"
#include "pgsteer/protocol/messages.hpp"
#include "server_connection.hpp"
#include "shared_state.hpp"

namespace pgsteer::proxy {

namespace p = protocol;

const char* to_string(backend_role role) {
  switch (role) {
    case backend_role::unknown:
      return "unknown";
    case backend_role::primary:
      return "primary";
    case backend_role::replica:
      return "replica";
    case backend_role::down:
      return "down";
    case backend_role::fenced:
      return "fenced";
  }
  return "unknown";
}

namespace {

// One row: in recovery?, WAL position (replay on a replica, current write position on a primary:
// the insert position would sit a page header ahead of any replica on a quiet primary, so
// replicas would never look caught up), timeline as 8
// hex digits, seconds since the last replayed commit (NULL before the first one). Recovery is
// read once (a materialized CTE), so a promotion during the statement cannot mix the branches.
// A primary's timeline comes from its current WAL file name: pg_control_checkpoint() keeps the
// old timeline until the end-of-recovery checkpoint, which PostgreSQL spreads out after a
// promotion. pg_walfile_name() refuses to run in recovery, so a replica reports the timeline of
// its last restartpoint (received_tli in pg_stat_wal_receiver is hidden from unprivileged users).
// What pg_stat_activity shows for the monitor's connections.
const std::string monitor_name = "pgsteer health check";

constexpr std::string_view health_query =
    "with s as materialized (select pg_is_in_recovery() as in_recovery) "
    "select in_recovery, "
    "case when in_recovery then pg_last_wal_replay_lsn() else pg_current_wal_lsn() end, "
    "case when in_recovery "
    "then lpad(to_hex((select timeline_id from pg_control_checkpoint())), 8, '0') "
    "else substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) end, "
    "extract(epoch from now() - pg_last_xact_replay_timestamp()) "
    "from s";

constexpr std::size_t max_reply_message = 64 * 1024;

// What one backend said this round, or why it said nothing.
struct probe_result {
  bool ok = false;
  std::string error;
  bool in_recovery = false;
  p::lsn position{};
  std::uint32_t timeline = 0;
  std::optional<double> replay_age;  // now() - pg_last_xact_replay_timestamp(), its own clock
};

enum class query_outcome {
  answered,  // a row, then ReadyForQuery: the connection stays
  refused,   // an ErrorResponse or a malformed row, then ReadyForQuery: the connection stays
  broken,    // no ReadyForQuery: the connection's framing is unknown, close it
};

std::string describe(const p::error_fields& e) {
  return e.detail.empty() ? e.message : e.message + ": " + e.detail;
}

std::string milliseconds(config::duration d) {
  return std::to_string(d.count()) + " ms";
}

bool parse_row(const std::vector<std::optional<std::string_view>>& row, probe_result& r) {
  if (row.size() != 4 || !row[0] || !row[1] || !row[2]) return false;
  r.in_recovery = *row[0] == "t";
  const auto position = p::lsn::parse(*row[1]);
  if (!position) return false;
  r.position = *position;
  const auto tli = *row[2];
  const auto [end, ec] = std::from_chars(tli.data(), tli.data() + tli.size(), r.timeline, 16);
  if (ec != std::errc{} || end != tli.data() + tli.size()) return false;
  r.replay_age.reset();
  if (row[3]) {
    const std::string age(*row[3]);
    char* age_end = nullptr;
    const double seconds = std::strtod(age.c_str(), &age_end);
    if (age_end != age.c_str() + age.size()) return false;
    r.replay_age = seconds;
  }
  return true;
}

// Sends the health query and reads its reply up to ReadyForQuery.
awaitable<query_outcome> run_health_query(server_connection& server, probe_result& r) {
  std::string out;
  p::write_query(out, health_query);
  if (auto ec = co_await write_all(server.socket, out); ec) {
    r.error = "could not send the health query: " + ec.message();
    co_return query_outcome::broken;
  }
  bool have_row = false;
  std::string failure;
  for (;;) {
    const auto frame = p::next_frame(server.input.view(), max_reply_message);
    if (frame.status == p::frame_status::need_more) {
      if (auto ec = co_await read_more(server.socket, server.input); ec) {
        r.error = failure.empty() ? "the connection ended during the health query: " + ec.message()
                                  : failure;
        co_return query_outcome::broken;
      }
      continue;
    }
    if (frame.status != p::frame_status::complete) {
      r.error = "the backend sent a malformed message";
      co_return query_outcome::broken;
    }
    const char type = frame.type;
    if (type == p::backend::data_row) {
      const auto row = p::parse_data_row(frame.body);
      if (row && parse_row(*row, r)) {
        have_row = true;
      } else if (failure.empty()) {
        failure = "unexpected answer to the health query";
      }
    } else if (type == p::backend::error_response) {
      const auto fields = p::parse_error_fields(frame.body);
      failure = fields ? "the health query failed: " + describe(p::to_error_fields(*fields))
                       : "the backend sent a malformed error";
    } else if (type == p::backend::ready_for_query) {
      server.input.consume(frame.size);
      if (failure.empty() && !have_row) failure = "the health query returned no row";
      if (!failure.empty()) {
        r.error = std::move(failure);
        co_return query_outcome::refused;
      }
      r.ok = true;
      co_return query_outcome::answered;
    }
    // RowDescription, CommandComplete, NoticeResponse, ParameterStatus: nothing to learn.
    server.input.consume(frame.size);
  }
}

// Runs `sql` and returns the first column of every row; nothing when it failed or the
// connection broke (the caller drops the connection then).
awaitable<std::optional<std::vector<std::string>>> run_list_query(server_connection& server,
                                                                  std::string_view sql) {
  std::string out;
  p::write_query(out, sql);
  if (auto ec = co_await write_all(server.socket, out); ec) co_return std::nullopt;
  std::vector<std::string> names;
  bool failed = false;
  for (;;) {
    const auto frame = p::next_frame(server.input.view(), max_reply_message);
    if (frame.status == p::frame_status::need_more) {
      if (auto ec = co_await read_more(server.socket, server.input); ec) co_return std::nullopt;
      continue;
    }
    if (frame.status != p::frame_status::complete) co_return std::nullopt;
    if (frame.type == p::backend::data_row) {
      const auto row = p::parse_data_row(frame.body);
      if (row && !row->empty() && (*row)[0]) names.emplace_back(*(*row)[0]);
    } else if (frame.type == p::backend::error_response) {
      failed = true;
    } else if (frame.type == p::backend::ready_for_query) {
      server.input.consume(frame.size);
      if (failed) co_return std::nullopt;
      co_return names;
    }
    server.input.consume(frame.size);
  }
}

// Functions the catalog marks VOLATILE: called in a SELECT, they may write (classifier.hpp).
constexpr std::string_view volatile_functions_query =
    "select distinct proname::text from pg_catalog.pg_proc where provolatile = 'v'";
constexpr auto functions_refresh = std::chrono::minutes(1);
// poll_soon() never starts rounds closer together than this: many clients finding a backend
// gone at once make one round, not one each.
constexpr auto min_round_gap = std::chrono::milliseconds(20);

}  // namespace

// Shared between the monitor object and its coroutines, so that stop() may be called during a
// round and the monitor destroyed before the cancelled coroutines have unwound.
struct topology_monitor::impl {
  impl(asio::io_context& control_context, shared_state& shared_state_ref, publish_fn publish_to)
      : control(control_context), shared(shared_state_ref), publish(std::move(publish_to)) {
    const auto& cfg = shared.cfg();
    if (!cfg.databases.empty()) dbname = cfg.databases.front().dbname;
    connections.resize(cfg.backends.size());
    fresh_login.resize(cfg.backends.size());
  }

  asio::io_context& control;
  shared_state& shared;
  publish_fn publish;
  std::string dbname;  // the first configured database's (decisions/0007)
  // One persistent connection per backend (null: connect at the next round).
  std::vector<std::unique_ptr<server_connection>> connections;
  std::shared_ptr<const topology> current;
  std::shared_ptr<const p::function_policy> functions;
  steady_clock::time_point functions_loaded{};
  std::uint64_t functions_generation = 0;  // of the configuration the list was built from
  asio::cancellation_signal stop_signal;
  bool started = false;
  bool stopped = false;
  // poll_soon(): backends to ask over a new login next round, whether a round is under way
  // (from its start until the monitor sleeps again), whether one more was asked for meanwhile,
  // and when the sleep between rounds ends (the timer it sleeps on while it does).
  std::vector<bool> fresh_login;
  bool in_round = false;
  bool poll_requested = false;
  steady_clock::time_point round_started{};
  steady_clock::time_point wake_at{};
  asio::steady_timer* sleep_timer = nullptr;

  void nudge(std::optional<std::size_t> suspect);

  awaitable<probe_result> ask(std::size_t i);
  awaitable<probe_result> probe(std::size_t i);
  awaitable<std::vector<probe_result>> probe_all();
  void apply(const std::vector<probe_result>& results, steady_clock::time_point asked_at);
  // Loads the primary's VOLATILE function names when they are missing or a minute old.
  awaitable<void> refresh_functions();
  // Rounds until stop(): probe every backend, publish, wait for the rest of the interval.
  static awaitable<void> run(std::shared_ptr<impl> self);
};

// Asks backend i, on the persistent connection when there is one. A connection
// kept from an earlier round may have been closed by the server since (restart, idle timeout):
// when it breaks, one fresh connection is tried before the backend counts as down.
awaitable<probe_result> topology_monitor::impl::ask(std::size_t i) {
  // Copies: a reload on this thread may replace the configuration while the probe waits.
  const config::backend backend = shared.cfg().backends[i];
  const std::string user = shared.cfg().health.user;
  probe_result r;
  bool reused = connections[i] != nullptr;
  for (;;) {
    if (!connections[i]) {
      if (user.empty() || dbname.empty()) {
        r.error = "no health.user or database to log in with";
        co_return r;
      }
      auto login = co_await connect_server(shared, shared.config(), backend, dbname, user,
                                           shared.next_server_id.fetch_add(1), monitor_name);
      if (!login.connection) {
        r.error = describe(login.error);
        co_return r;
      }
      connections[i] = std::move(login.connection);
      reused = false;
    }
    const auto outcome = co_await run_health_query(*connections[i], r);
    if (outcome != query_outcome::broken) co_return r;
    connections[i].reset();
    if (!reused || stopped) co_return r;
    reused = false;
    r = probe_result{};
  }
}

awaitable<probe_result> topology_monitor::impl::probe(std::size_t i) {
  const auto timeout = shared.cfg().health.timeout;
  auto [done, result] = co_await with_timeout(ask(i), timeout);
  if (!done) {
    // Cancelled mid-conversation: what the server sends next is unknown.
    connections[i].reset();
    result.error = "no answer within health.timeout (" + milliseconds(timeout) + ")";
  }
  co_return result;
}

awaitable<std::vector<probe_result>> topology_monitor::impl::probe_all() {
  auto executor = co_await asio::this_coro::executor;
  using probe_op = decltype(asio::co_spawn(executor, probe(0), asio::deferred));
  std::vector<probe_op> ops;
  for (std::size_t i = 0; i < connections.size(); ++i) {
    ops.push_back(asio::co_spawn(executor, probe(i), asio::deferred));
  }
  auto [order, exceptions, results] =
      co_await asio::experimental::make_parallel_group(std::move(ops))
          .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  (void)order;
  for (std::size_t i = 0; i < exceptions.size(); ++i) {
    if (exceptions[i] && !stopped) {
      // A cancelled coroutine throws at its next co_await; anything else is a bug.
      try {
        std::rethrow_exception(exceptions[i]);
      } catch (const std::exception& e) {
        spdlog::critical("bug: probing backend {} threw: {}", shared.cfg().backends[i].name,
                         e.what());
      }
      results[i].ok = false;
      results[i].error = "the probe failed unexpectedly";
    }
  }
  co_return std::move(results);
}

namespace {

// Every backend not in recovery claims to be the primary. One claim: it is. Several: the highest
// timeline wins (a promotion moved to it), the rest are fenced. A tie at the highest timeline
// cannot be decided from what the servers say: the previous primary keeps the role if it is one
// of them, otherwise nobody gets writes.
void choose_primary(topology& t, std::optional<std::size_t> previous) {
  std::vector<std::size_t> claims;
  for (const auto& b : t.backends) {
    if (b.role == backend_role::primary) claims.push_back(b.index);
  }
  if (claims.empty()) return;
  std::uint32_t highest = 0;
  for (auto i : claims) highest = std::max(highest, t.backends[i].timeline);
  std::vector<std::size_t> top;
  for (auto i : claims) {
    if (t.backends[i].timeline == highest) top.push_back(i);
  }
  if (top.size() == 1) {
    t.primary = top.front();
  } else if (previous && std::find(top.begin(), top.end(), *previous) != top.end()) {
    t.primary = previous;
  }
  for (auto i : claims) {
    if (t.primary == i) continue;
    auto& b = t.backends[i];
    b.role = backend_role::fenced;
    if (t.primary && b.timeline < highest) {
      b.last_error = "not in recovery on timeline " + std::to_string(b.timeline) + ", but " +
                     t.backends[*t.primary].name + " is primary on timeline " +
                     std::to_string(highest) + ": split brain, no traffic";
    } else if (t.primary) {
      b.last_error = "not in recovery on timeline " + std::to_string(b.timeline) +
                     ", the same as primary " + t.backends[*t.primary].name +
                     ": split brain, no traffic";
    } else {
      b.last_error = "not in recovery on timeline " + std::to_string(b.timeline) + ", as " +
                     std::to_string(top.size()) +
                     " backends are: split brain, no primary until one is stopped or demoted";
    }
  }
}

std::string lag_text(const backend_state& b) {
  if (!b.lag_bytes) return "no primary to measure lag against";
  std::string text = "lag " + std::to_string(*b.lag_bytes) + " bytes, ";
  if (!b.lag_seconds) return text + "no commit replayed since it started";
  return text + fmt::format("{:.1f} s", *b.lag_seconds);
}

void log_changes(const topology& t, const topology* before) {
  for (const auto& b : t.backends) {
    const backend_state* old = before ? &before->backends[b.index] : nullptr;
    const bool role_changed = !old || old->role != b.role;
    switch (b.role) {
      case backend_role::primary:
        if (role_changed || old->timeline != b.timeline) {
          spdlog::info("backend {} is now primary (timeline {})", b.name, b.timeline);
        }
        break;
      case backend_role::replica:
        if (role_changed) spdlog::info("backend {} is now a replica", b.name);
        break;
      case backend_role::down:
        if (role_changed) spdlog::warn("backend {} is down: {}", b.name, b.last_error);
        break;
      case backend_role::fenced:
        if (role_changed || old->last_error != b.last_error) {
          spdlog::error("backend {} is fenced: {}", b.name, b.last_error);
        }
        break;
      case backend_role::unknown:
        break;
    }
    if (b.role == backend_role::replica && old && old->role == backend_role::replica &&
        old->eligible_for_reads != b.eligible_for_reads) {
      spdlog::info("replica {} {} ({})", b.name,
                   b.eligible_for_reads ? "takes reads again" : "takes no reads: too far behind",
                   lag_text(b));
    }
  }
  if (t.backends.empty()) return;
  if (!t.primary && (!before || before->primary)) spdlog::warn("no primary backend");
}

}  // namespace

void topology_monitor::impl::apply(const std::vector<probe_result>& results,
                                   steady_clock::time_point asked_at) {
  const auto& cfg = shared.cfg();
  auto next = std::make_shared<topology>();
  next->version = current ? current->version + 1 : 1;
  next->asked_at = asked_at;
  next->functions = functions;
  std::vector<std::optional<double>> replay_age(results.size());
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    backend_state b;
    b.index = i;
    b.name = cfg.backends[i].name;
    b.host = cfg.backends[i].host;
    b.port = cfg.backends[i].port;
    if (r.ok) {
      b.role = r.in_recovery ? backend_role::replica : backend_role::primary;
      b.timeline = r.timeline;
      b.position = r.position;
      replay_age[i] = r.replay_age;
    } else {
      b.role = backend_role::down;
      b.last_error = r.error;
    }
    next->backends.push_back(std::move(b));
  }
  choose_primary(*next, current ? current->primary : std::nullopt);

  const auto max_seconds = std::chrono::duration<double>(cfg.routing.max_lag_seconds).count();
  for (auto& b : next->backends) {
    if (b.role != backend_role::replica) continue;
    if (!next->primary) {
      // Nothing to measure against, and nothing new is being written through pgsteer: a
      // replica keeps serving reads while there is no primary.
      b.eligible_for_reads = true;
    } else {
      const auto& primary = next->backends[*next->primary];
      const auto bytes = p::bytes_between(b.position, primary.position);
      b.lag_bytes = bytes;
      if (bytes == 0) {
        b.lag_seconds = 0.0;
      } else if (replay_age[b.index]) {
        b.lag_seconds = std::max(0.0, *replay_age[b.index]);
      }
      b.eligible_for_reads =
          bytes <= cfg.routing.max_lag_bytes && b.lag_seconds && *b.lag_seconds <= max_seconds;
    }
    if (b.eligible_for_reads) next->readable.push_back(b.index);
  }

  log_changes(*next, current.get());
  current = next;
  if (publish) publish(current);
}

topology_monitor::topology_monitor(asio::io_context& control, shared_state& shared,
                                   publish_fn publish)
    : impl_(std::make_shared<impl>(control, shared, std::move(publish))) {}

topology_monitor::~topology_monitor() {
  stop();
}

void topology_monitor::start() {
  if (impl_->started) return;
  impl_->started = true;
  asio::co_spawn(impl_->control, impl::run(impl_),
                 asio::bind_cancellation_slot(impl_->stop_signal.slot(), [](std::exception_ptr e) {
                   if (!e) return;
                   try {
                     std::rethrow_exception(e);
                   } catch (const boost::system::system_error& ex) {
                     if (ex.code() != asio::error::operation_aborted) {
                       spdlog::critical("bug: the topology monitor ended: {}", ex.what());
                     }
                   } catch (const std::exception& ex) {
                     spdlog::critical("bug: the topology monitor ended: {}", ex.what());
                   }
                 }));
}

void topology_monitor::stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  if (!impl_->started) return;
  // Cancels whatever the round waits for (timers, connects, reads); closing the sockets ends
  // reads even where a cancellation would arrive late. The coroutines hold impl_ until they end.
  impl_->stop_signal.emit(asio::cancellation_type::terminal);
  for (auto& connection : impl_->connections) {
    if (!connection) continue;
    error_code ec;
    connection->socket.close(ec);
  }
}

std::shared_ptr<const topology> topology_monitor::current() const {
  return impl_->current;
}

void topology_monitor::poll_soon(std::optional<std::size_t> suspect) {
  asio::post(impl_->control, [weak = std::weak_ptr<impl>(impl_), suspect] {
    if (auto self = weak.lock()) self->nudge(suspect);
  });
}

void topology_monitor::impl::nudge(std::optional<std::size_t> suspect) {
  if (stopped || !started) return;
  if (suspect && *suspect < fresh_login.size()) fresh_login[*suspect] = true;
  if (in_round) {
    poll_requested = true;
    return;
  }
  const auto soonest = round_started + min_round_gap;
  if (soonest < wake_at) {
    wake_at = soonest;
    if (sleep_timer) sleep_timer->cancel();
  }
}

awaitable<void> topology_monitor::impl::refresh_functions() {
  if (!current || !current->primary) co_return;
  const auto now = steady_clock::now();
  // A reload may have changed routing.write_functions: rebuild the list at once.
  const auto generation = shared.config()->generation;
  if (functions && now - functions_loaded < functions_refresh &&
      functions_generation == generation) {
    co_return;
  }
  auto& connection = connections[*current->primary];
  if (!connection) co_return;
  auto [done, names] = co_await with_timeout(run_list_query(*connection, volatile_functions_query),
                                             shared.cfg().health.timeout);
  if (!done || !names) {
    connection.reset();  // what it says next is unknown; the next round reconnects
    spdlog::warn("could not load the VOLATILE functions from {}",
                 current->backends[*current->primary].name);
    co_return;
  }
  auto policy = std::make_shared<p::function_policy>(shared.config()->functions);
  const auto count = names->size();
  policy->set_volatile_functions(std::move(*names));
  const bool first = !functions;
  functions = std::move(policy);
  functions_loaded = now;
  functions_generation = generation;
  // Workers get the new list now, not a round later.
  auto next = std::make_shared<topology>(*current);
  next->version = current->version + 1;
  next->functions = functions;
  current = std::move(next);
  if (publish) publish(current);
  if (first) spdlog::info("loaded {} VOLATILE function names for routing", count);
}

awaitable<void> topology_monitor::impl::run(std::shared_ptr<impl> self) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  self->sleep_timer = &timer;
  // Also when a cancellation unwinds the coroutine: nudge() must not find a dead timer.
  struct forget_timer {
    impl& owner;
    ~forget_timer() { owner.sleep_timer = nullptr; }
  } forget{*self};
  while (!self->stopped) {
    const auto interval = self->shared.cfg().health.interval;  // a reload may change it
    const auto round_start = steady_clock::now();
    self->round_started = round_start;
    self->in_round = true;
    self->poll_requested = false;
    for (std::size_t i = 0; i < self->fresh_login.size(); ++i) {
      if (!self->fresh_login[i]) continue;
      self->fresh_login[i] = false;
      self->connections[i].reset();
    }
    auto results = co_await self->probe_all();
    if (self->stopped) break;
    self->apply(results, round_start);
    co_await self->refresh_functions();
    if (self->stopped) break;
    self->in_round = false;
    self->wake_at = round_start + (self->poll_requested ? min_round_gap : interval);
    // poll_soon() may move wake_at earlier and wake the timer.
    while (!self->stopped && steady_clock::now() < self->wake_at) {
      timer.expires_at(self->wake_at);
      auto [ec] = co_await timer.async_wait(use_tuple);
      (void)ec;
    }
  }
  self->connections.clear();
}

}  // namespace pgsteer::proxy
