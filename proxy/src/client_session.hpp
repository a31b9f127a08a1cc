// One client's connection from accept to close: startup and authentication, then relaying its
// messages to a leased server and the replies back, leasing and releasing servers at transaction
// boundaries as the pool mode says. Lives in the coroutine frame that start_client_session()
// spawns; runs on one worker. A quiet client parks: the session hands what must outlive it to a
// parked_client (parked_client.hpp) and ends, and the client's next bytes rebuild it there
// (resume_client_session()).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/cancellation_signal.hpp>

#include "aborted_block.hpp"
#include "inspection.hpp"
#include "io.hpp"
#include "parameter_sync.hpp"
#include "pg_stream.hpp"
#include "pgsteer/config/config.hpp"
#include "pgsteer/protocol/error_response.hpp"
#include "pgsteer/protocol/lsn.hpp"
#include "pgsteer/protocol/messages.hpp"
#include "pgsteer/protocol/startup.hpp"
#include "pgsteer/tls/contexts.hpp"
#include "router.hpp"
#include "server_connection.hpp"
#include "session_pins.hpp"
#include "statement_map.hpp"
#include "stats.hpp"
#include "worker_context.hpp"

namespace pgsteer::proxy {

class shared_state;
class server_pool;
struct config_snapshot;
class admin_console;
class parking_lot;
struct parked_state;

// Spawns the session of an accepted client on `owner`'s thread; a quiet client parks in `lot`.
void start_client_session(tcp::socket socket, worker_context& owner, parking_lot& lot);
// Spawns the session of a parked client whose socket became readable: the relay runs again.
void resume_client_session(parked_state state, tcp::socket socket, worker_context& owner,
                           parking_lot& lot);

class client_session final : public session_handle, private request_sink {
 public:
  client_session(tcp::socket socket, worker_context& owner);
  // A parked client's session again, logged in: relay() runs it.
  client_session(parked_state state, tcp::socket socket, worker_context& owner);
  ~client_session();
  client_session(const client_session&) = delete;
  client_session& operator=(const client_session&) = delete;

  // Login, then relay().
  awaitable<void> serve();
  // Relays until the client leaves, or until it parks (hand_off() then says true).
  awaitable<void> relay();
  // The worker's sweep (about once a second): a client that holds no server and has sent
  // nothing for park_after ends its relay coroutines, and relay() returns to be parked.
  void park_if_quiet(steady_clock::time_point now) override;
  static constexpr auto park_after = std::chrono::seconds(1);
  // After relay() returned: if the client parked, moves what must outlive the session into a
  // parked_client in `lot` (the registry entry moves to it) and leaves this object empty, to be
  // destroyed without counting a disconnection. false: the session ends here.
  bool hand_off(parking_lot& lot);

  // session_handle (worker_context.hpp): what the worker's registry asks of a session.
  std::int32_t secret_key() const override { return secret_key_; }
  std::optional<cancel_target> cancel_target_now() const override;
  void terminate(const protocol::error_fields& error, std::string reason) override;
  void drain() override;
  // For SHOW CLIENTS / SERVERS / POOLS (worker_context::inspect).
  client_info describe() const override;
  const server_pool* pool() const override { return pool_; }
  const server_connection* server() const override { return server_.get(); }

 private:
  // Startup phase: the first packets, authentication, the ParameterStatus set. false: close.
  awaitable<bool> start_up();
  awaitable<bool> read_startup_packet(protocol::startup_packet& packet);
  // Turns the client connection into TLS: after an SSLRequest (answered here), or `direct`ly
  // when the first bytes were a ClientHello (still in input_). false: close.
  awaitable<bool> start_tls(bool direct);
  awaitable<bool> authenticate(config::auth_method method, const std::string& user);
  awaitable<bool> authenticate_scram(const std::string& user);
  awaitable<bool> authenticate_md5(const std::string& user);
  bool authenticate_cert(const std::string& user);
  // A user not in `users`: asks auth_query (or its cache) for the secrets. false: the client was
  // refused because the lookup itself failed.
  awaitable<bool> look_up_user();
  // Refuses a login that failed authentication: counted, and held against the client's address.
  void authentication_failed(std::string_view sqlstate, std::string message, std::string reason,
                             std::string detail = {});
  // Reads the next password-type message ('p') during authentication.
  awaitable<std::optional<std::string_view>> read_password_message();
  // The client's startup settings (parameters and `options`); false: refused, and closed.
  bool apply_startup_parameters(const protocol::startup_packet& packet);
  // `login_target`: where this client's first transaction would go (its pool learns the settings).
  awaitable<bool> settle_startup_parameters(target login_target);

  // Relaying: client -> server, and server -> client, run together.
  awaitable<void> client_to_server();
  awaitable<void> server_to_client();
  // One whole client message; may lease a server first.
  awaitable<void> handle_client_message(char type, std::string_view message, std::string_view body);
  // Leases a server for a transaction bound for `want` (router.hpp) and prepares it for this
  // client.
  awaitable<bool> attach_server(target want, bool at_login = false);
  // Where the transaction this message begins goes.
  target target_for(char type, std::string_view body, const protocol::classification* sql) const;
  // The classifier's write functions: the monitor's (with the catalog's VOLATILE ones) once known.
  const protocol::function_policy& functions() const;
  // Sends what is queued for the server and reads its replies until it owes none (login only,
  // before the relay runs).
  awaitable<bool> exchange_with_server();
  void synchronize_parameters();
  void forward(char type, std::string_view message, bool swallow = false, std::uint32_t tag = 0);
  void inject(char type, std::string_view message, std::uint32_t tag = 0);
  // request_sink: what the statement map sends the server.
  void send(char type, std::string_view message, bool swallow, std::uint32_t tag) override {
    forward(type, message, swallow, tag);
  }
  void process_server_messages(server_connection& server);
  bool pass_through(server_connection& server);
  void maybe_release();
  void release_server();
  // Session state (session_pins.hpp): the effects of a Query or of the statement a Bind runs
  // (a Parse's are kept until its Bind), and what they do to the pin once sent.
  std::vector<protocol::session_effect> session_effects_of(char type, std::string_view body,
                                                           std::string_view sql,
                                                           const protocol::sql_triggers& triggers,
                                                           std::string_view parsed_statement);
  void note_session_effects(const std::vector<protocol::session_effect>& effects);
  void pinned_changed(bool was_pinned);
  // Statistics (stats.hpp): the client's state for the gauges, and a forwarded ReadyForQuery.
  enum class client_state : std::uint8_t { login, idle, waiting, active };
  void set_state(client_state next);
  void count_request_done(char status, const server_connection& server);
  // The server can no longer be used (its connection failed, it ended its session, it broke the
  // protocol). In transaction and statement pooling the client keeps its connection.
  void lose_server(const std::string& why);
  bool keeps_client_without_server() const;
  void answer_for_lost_server(const std::string& why);
  void discard_lost_server();
  // A read on a replica that failed before any reply reached the client runs once more on
  // another eligible backend (server_to_client() runs it; client_to_server() waits meanwhile).
  awaitable<void> retry_read();
  void stop_retry_log();
  // A reply that is more than a preamble reached the client: the read can no longer be retried.
  void end_retry_window();
  static bool is_reply_preamble(char type);

  // Output to the client goes through server_to_client(), the only writer of the socket.
  void send_to_client(std::string_view bytes);
  void send_error(const protocol::error_fields& error);
  void fatal(std::string_view sqlstate, std::string message, std::string detail = {});
  awaitable<void> flush_to_client();
  // What flush_to_client() does when the client's socket takes everything at once (plain TCP):
  // true when nothing is left to write (or the client is gone), false when it must be awaited.
  bool flush_now();
  // Nothing is in flight and nothing is queued: the relay may end for the client to park.
  bool may_park() const;
  // clients.idle_timeout passed without a request: PostgreSQL's FATAL 57P05, then close.
  void end_idle_session();
  // After a FATAL for a request the client was still sending: lets the error reach it.
  awaitable<void> drain_client();
  void wake();
  void close(std::string reason);

  const config::config& cfg() const;
  // At a transaction boundary: a reloaded configuration applies to this session from here on
  // (route, timeouts, limits). false: its database or user was removed, and it was closed.
  bool adopt_latest_config();
  // Nothing in flight: no server, or one that owes nothing and holds no transaction.
  bool at_transaction_boundary() const;
  void end_for_shutdown();
  // log.slow_query_threshold: the request that ended with this ReadyForQuery took too long.
  void log_if_slow(const server_connection& server);
  void time_request(char type, std::string_view sql, std::string_view body);

  worker_context& worker_;
  shared_state& shared_;
  // The configuration this session runs with: the worker's at accept, the worker's latest from
  // its next transaction boundary after a reload. db_ and user_config_ point into it.
  std::shared_ptr<const config_snapshot> config_;
  pg_stream client_;
  // The TLS contexts this connection started with (a reload does not change them under it).
  std::shared_ptr<const tls::contexts> tls_;
  bool client_tls_ = false;  // the client leg is TLS (SSLRequest or direct)
  std::string peer_;
  std::uint64_t id_;
  protocol::pool_mode mode_;
  std::size_t max_message_size_;

  byte_buffer input_;
  std::string to_client_;
  std::string writing_to_client_;
  std::string to_server_;

  std::string user_;
  std::string database_;
  const config::database* db_ = nullptr;
  const config::user* user_config_ = nullptr;
  server_pool* pool_ = nullptr;
  std::unique_ptr<server_connection> server_;
  // A server lost while a read or write of it was pending: discarded once none is.
  std::unique_ptr<server_connection> lost_server_;
  server_pool* lost_pool_ = nullptr;
  // The server of the client's transaction block was lost: failed until the client ends it.
  aborted_block aborted_;
  parameter_sync params_;  // the client's own session parameters, and what RESET returns to
  parameter_map* observed_parameters_ = nullptr;     // collects ParameterStatus while set
  std::optional<protocol::error_fields> own_error_;  // the last error of pgsteer's own request
  statement_map statements_;  // the client's prepared statement names (transaction pooling)
  session_pins pins_;         // session state that keeps the client on its server
  // The session effects of the unnamed statement, and of named ones that have any, until Bind.
  std::vector<protocol::session_effect> unnamed_effects_;
  std::vector<std::pair<std::string, std::vector<protocol::session_effect>>> named_effects_;

  std::int32_t process_id_ = 0;
  std::int32_t secret_key_ = 0;
  bool registered_ = false;
  bool closing_ = false;
  bool writing_to_server_ = false;
  bool waiting_for_server_ = false;   // server_to_client() is parked in a cancellable wait
  bool server_busy_ = false;          // server_to_client() has a read pending on server_
  bool release_asked_ = false;        // release server_ once that read is over
  bool relaying_ = false;             // logged in: the relay runs
  bool input_closed_ = false;         // the client half-closed: finish its requests, then close
  bool idle_waiting_ = false;         // client_to_server() waits for the client's next bytes
  bool park_ = false;                 // the relay ends for the client to park (park_if_quiet())
  bool handed_off_ = false;           // parked: the parked_client counts and logs the client
  bool drain_before_close_ = false;   // see drain_client()
  bool passthrough_forward_ = false;  // the large message passing through is the client's
  std::size_t passthrough_left_ = 0;  // bytes of it still to come from the server
  bool skip_until_sync_ = false;      // a request failed before reaching a server
  bool server_said_fatal_ = false;
  bool looked_up_ = false;  // auth_query found this user
  // consistency: read_your_writes. A transaction on the primary ended at wrote_at_; reads go to
  // replicas that replayed past must_see_, the primary's position in the first snapshot asked
  // after that moment (until then, to the primary).
  bool tracks_writes_ = false;
  bool on_primary_ = false;
  std::optional<steady_clock::time_point> wrote_at_;
  std::optional<protocol::lsn> must_see_;
  std::string close_reason_;
  steady_clock::time_point connected_at_;
  // For the drain: ReadyForQuery messages relayed (0: a client that just connected), and
  // whether a request is waiting for a server.
  std::uint64_t requests_answered_ = 0;
  bool attaching_ = false;
  // log.slow_query_threshold > 0: when the request being answered began, and its SQL.
  bool timing_request_ = false;
  steady_clock::time_point request_started_;
  std::string request_sql_;
  steady_clock::time_point quiet_since_;                   // for clients.idle_timeout
  system_time connected_wall_;                             // for SHOW CLIENTS
  std::optional<steady_clock::time_point> waiting_since_;  // waiting for a server or a RESUME
  // The virtual database `pgsteer`: after authentication the admin console takes the connection.
  bool wants_admin_console_ = false;
  admin_console* admin_ = nullptr;
  // Statistics. Times are unset (epoch) when nothing is running.
  client_state state_ = client_state::login;
  std::size_t db_index_ = max_counted_databases;  // shared_state::database_names; none yet
  route_label route_ = route_label::primary;      // where the attached server's work counts
  steady_clock::time_point query_started_at_{};   // the oldest request awaiting ReadyForQuery
  steady_clock::time_point transaction_started_at_{};
  asio::cancellation_signal wake_signal_;
  asio::steady_timer wake_timer_;
  // The client's messages of a read running on a replica, while a retry is still possible.
  static constexpr std::size_t max_retry_log = 64 * 1024;
  std::string retry_log_;
  bool retry_log_active_ = false;
  bool retry_pending_ = false;      // the read's server was lost: retry_read() runs it again
  bool retried_ = false;            // retry_read() is running
  std::size_t retry_preamble_ = 0;  // replies of the read the client has already been given
  std::size_t retry_skip_ = 0;      // those, not to forward again from the retry's server
  std::optional<std::size_t> failed_replica_;  // excluded from the retry's routing
  asio::steady_timer replay_gate_;             // client_to_server() waits here during a retry
};

}  // namespace pgsteer::proxy
