// What every worker reads: the configuration and the secrets derived from it, as immutable
// snapshots that a reload replaces whole, plus the few process-wide counters and caches that need
// a lock or an atomic.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pgsteer/config/config.hpp"
#include "pgsteer/protocol/classifier.hpp"
#include "pgsteer/protocol/scram.hpp"
#include "pgsteer/proxy/auth_failure_limiter.hpp"
#include "pgsteer/tls/contexts.hpp"
#include "stats.hpp"

namespace pgsteer::proxy {

class worker_context;
using steady_clock_point = std::chrono::steady_clock::time_point;

// How pgsteer checks a user's clients and logs in to backends as that user.
struct user_secrets {
  std::optional<protocol::scram::verifier> verifier;  // clients: SCRAM
  std::string md5_stored;                             // clients: md5 ("md5..."), empty if unknown
  std::string password;                               // backends: plaintext, empty if unknown
};

// The secrets for one stored secret (a password, a SCRAM verifier or an md5 hash, as in
// `users` or pg_authid); nullopt when it looks like a verifier but does not parse. A password
// costs one PBKDF2.
std::optional<user_secrets> secrets_from(const std::string& user, const std::string& secret);

// One loaded configuration and everything derived from it, never changed after it is built. A
// reload builds a new one; every holder of the old one (a worker until the new one is posted to
// it, a session until its next transaction boundary, a pool until reconfigured) keeps it alive,
// so pointers into it (config::database*, config::user*) stay valid as long as the holder does.
struct config_snapshot {
  config::config cfg;
  std::map<std::string, user_secrets, std::less<>> secrets;
  // The built-in write functions plus routing.write_functions, for the classifier.
  protocol::function_policy functions;
  std::uint64_t generation = 1;  // 1 at start-up, +1 per successful reload

  const user_secrets* find_secrets(std::string_view user) const;
};

// Derives the secrets (one PBKDF2 per plaintext password: not for the hot path).
std::shared_ptr<const config_snapshot> make_config_snapshot(config::config cfg,
                                                            std::uint64_t generation = 1);

class shared_state {
 public:
  explicit shared_state(config::config cfg);

  // The current configuration. Control thread only (topology monitor, HTTP, reload), or before
  // the workers start: reloads happen on the control thread, so the reference stays valid until
  // that thread next yields. Workers and sessions use their own snapshot (worker::config()).
  const config::config& cfg() const { return current_->cfg; }
  // The current snapshot, from any thread (a lock, not for the hot path).
  std::shared_ptr<const config_snapshot> config() const;
  // Publishes a new current snapshot (control thread; the runtime posts it to the workers).
  void set_config(std::shared_ptr<const config_snapshot> next);

  // A configured user's secrets in `snapshot`, else the last secrets auth_query found for that
  // user; null when neither is known. Any thread.
  std::shared_ptr<const user_secrets> secrets(const config_snapshot& snapshot,
                                              const std::string& user) const;

  const std::string& mock_secret() const { return mock_secret_; }
  // Fixed at start-up (changing it needs a restart).
  std::uint32_t worker_count() const { return worker_count_; }
  // The smallest pool size `cfg` asks for: a pool's share per worker must not be zero.
  static std::uint32_t smallest_pool(const config::config& cfg);

  // SCRAM keys to log in to backends without a password (proven by a client, or computed once
  // from the password): a cache, so only the first login per user pays for PBKDF2. Keys are
  // remembered with the configured secret they belong to, and found only for that secret: a
  // password changed by a reload is never answered with the old keys.
  std::optional<protocol::scram::client_keys> scram_keys(const std::string& user,
                                                         const std::string& secret) const;
  void remember_scram_keys(const std::string& user, const std::string& secret,
                           const protocol::scram::client_keys& keys);

  // The TLS contexts new connections use (both legs); null until reload_tls() first succeeded.
  // A connection keeps the snapshot it started with. Any thread.
  std::shared_ptr<const tls::contexts> tls() const;
  // Re-reads every certificate, key and CA file `cfg.tls` names and swaps the new contexts in
  // for new connections. On failure the old ones stay and the reason is returned. Called by
  // run() at start-up (a failure there stops pgsteer) and by reload() (SIGHUP, RELOAD).
  std::optional<std::string> reload_tls(const config::config& cfg);
  // auth_query's cache, for users not in `users`: nullopt when the user was not looked up within
  // auth_query.cache_ttl; else what the lookup found (null: no such user, cached alike, so a
  // known and an unknown name cost the same). Any thread.
  std::optional<std::shared_ptr<const user_secrets>> cached_lookup(const std::string& user,
                                                                   steady_clock_point now) const;
  void cache_lookup(const std::string& user, std::shared_ptr<const user_secrets> secrets,
                    steady_clock_point now);
  // The user object pools are keyed by for a user auth_query let in: created on first use and
  // never freed, so every pool may point to it. Any thread.
  const config::user& dynamic_user(const std::string& name);

  // Failed logins per source address (clients.max_auth_failures_per_minute).
  auth_failure_limiter auth_failures;

  std::atomic<std::uint32_t> clients{0};
  std::atomic<std::uint64_t> next_server_id{1};
  std::atomic<std::uint64_t> next_client_id{1};
  std::vector<worker_context*> workers;  // set once before any worker runs
  stat_database_names database_names;    // behind the per-database counters (stats.hpp)

  // Lifecycle, set by the runtime before any worker runs and callable from any thread (the admin
  // console's RELOAD and SHUTDOWN, signals). reload() re-reads and validates the configuration
  // file and swaps it in on success; it returns the errors (empty on success).
  std::function<std::vector<std::string>()> reload;
  std::function<void()> shutdown;  // drain as on SIGTERM
  // Asks the topology monitor for a round now, `backend` over a fresh login (a worker could not
  // log in to it: topology_monitor::poll_soon). Posted, never blocks; empty without a monitor.
  std::function<void(std::size_t backend)> look_again;
  std::atomic<bool> draining{false};  // shutting down: /health/ready answers 503
  std::atomic<std::uint64_t> reloads_succeeded{0};
  std::atomic<std::uint64_t> reloads_failed{0};

 private:
  mutable std::mutex config_mutex_;
  std::shared_ptr<const config_snapshot> current_;
  std::string mock_secret_;
  std::uint32_t worker_count_ = 1;
  mutable std::mutex tls_mutex_;
  std::shared_ptr<const tls::contexts> tls_;
  mutable std::mutex keys_mutex_;
  std::map<std::string, std::pair<std::string, protocol::scram::client_keys>> keys_;
  struct lookup {
    std::shared_ptr<const user_secrets> secrets;
    steady_clock_point expires;
  };
  mutable std::mutex lookups_mutex_;
  std::map<std::string, lookup, std::less<>> lookups_;
  std::map<std::string, std::unique_ptr<config::user>, std::less<>> dynamic_users_;
};

}  // namespace pgsteer::proxy
