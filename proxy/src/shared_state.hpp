// What every worker reads and nobody changes after start-up (the configuration, the secrets
// derived from it), plus the few process-wide counters and caches that need a lock or an atomic.
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
#include <vector>

#include "pgsteer/config/config.hpp"
#include "pgsteer/protocol/classifier.hpp"
#include "pgsteer/protocol/scram.hpp"
#include "pgsteer/proxy/auth_failure_limiter.hpp"
#include "stats.hpp"

namespace pgsteer::proxy {

class worker;
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

class shared_state {
 public:
  explicit shared_state(config::config cfg);

  const config::config& cfg() const { return cfg_; }
  // A configured user's secrets, else the last secrets auth_query found for that user; null
  // when neither is known. Any thread.
  std::shared_ptr<const user_secrets> secrets(const std::string& user) const;
  const std::string& mock_secret() const { return mock_secret_; }
  std::uint32_t worker_count() const { return worker_count_; }
  // The built-in write functions plus routing.write_functions, for the classifier.
  const protocol::function_policy& functions() const { return functions_; }

  // SCRAM keys to log in to backends without a password (proven by a client, or computed once
  // from the password): a cache, so only the first login per user pays for PBKDF2.
  std::optional<protocol::scram::client_keys> scram_keys(const std::string& user) const;
  void remember_scram_keys(const std::string& user, const protocol::scram::client_keys& keys);

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
  std::vector<worker*> workers;        // set once before any worker runs
  stat_database_names database_names;  // behind the per-database counters (stats.hpp)

  // Lifecycle, set by the runtime before any worker runs and callable from any thread (the admin
  // console's RELOAD and SHUTDOWN, signals). reload() re-reads and validates the configuration
  // file and swaps it in on success; it returns the errors (empty on success).
  std::function<std::vector<std::string>()> reload;
  std::function<void()> shutdown;     // drain as on SIGTERM
  std::atomic<bool> draining{false};  // shutting down: /health/ready answers 503
  std::atomic<std::uint64_t> reloads_succeeded{0};
  std::atomic<std::uint64_t> reloads_failed{0};

 private:
  config::config cfg_;
  std::map<std::string, user_secrets, std::less<>> secrets_;
  std::string mock_secret_;
  std::uint32_t worker_count_ = 1;
  protocol::function_policy functions_;
  mutable std::mutex keys_mutex_;
  std::map<std::string, protocol::scram::client_keys> keys_;
  struct lookup {
    std::shared_ptr<const user_secrets> secrets;
    steady_clock_point expires;
  };
  mutable std::mutex lookups_mutex_;
  std::map<std::string, lookup, std::less<>> lookups_;
  std::map<std::string, std::unique_ptr<config::user>, std::less<>> dynamic_users_;
};

}  // namespace pgsteer::proxy
