// shared_state: secrets derived once from the configuration (see shared_state.hpp).
#include "shared_state.hpp"

#include <algorithm>

#include "pgsteer/protocol/md5.hpp"

namespace pgsteer::proxy {

namespace scram = protocol::scram;

std::optional<user_secrets> secrets_from(const std::string& user, const std::string& secret) {
  user_secrets s;
  if (secret.starts_with("SCRAM-SHA-256$")) {
    s.verifier = scram::verifier::parse(secret);
    if (!s.verifier) return std::nullopt;
  } else if (protocol::md5::is_stored_hash(secret)) {
    s.md5_stored = secret;
    s.password = secret;  // md5 backends accept the stored form (md5::client_response)
  } else {
    s.password = secret;
    s.verifier =
        scram::verifier::from_password(secret, scram::random_bytes(scram::default_salt_length));
    s.md5_stored = protocol::md5::stored_hash(user, secret);
  }
  return s;
}

shared_state::shared_state(config::config cfg)
    : auth_failures(cfg.clients.max_auth_failures_per_minute), cfg_(std::move(cfg)) {
  mock_secret_ = scram::random_bytes(32);
  for (const auto& name : cfg_.routing.write_functions) functions_.add_write_function(name);
  for (const auto& u : cfg_.users) {
    // The loader has checked verifiers: this never fails for a loaded configuration.
    if (auto s = secrets_from(u.name, u.secret)) secrets_.emplace(u.name, std::move(*s));
  }
  // A pool's share per worker must not be zero: never run more workers than the smallest pool.
  std::uint32_t smallest = cfg_.pool.size;
  for (const auto& db : cfg_.databases) {
    if (db.pool_size) smallest = std::min(smallest, *db.pool_size);
  }
  worker_count_ = std::max<std::uint32_t>(1, std::min(cfg_.resolved_workers(), smallest));
}

std::shared_ptr<const user_secrets> shared_state::secrets(const std::string& user) const {
  if (auto it = secrets_.find(user); it != secrets_.end()) {
    // secrets_ lives as long as this object: a pointer that owns nothing.
    return std::shared_ptr<const user_secrets>(std::shared_ptr<void>(), &it->second);
  }
  if (cfg_.auth_query.query.empty()) return nullptr;
  std::lock_guard lock(lookups_mutex_);
  auto it = lookups_.find(user);
  return it == lookups_.end() ? nullptr : it->second.secrets;
}

std::optional<std::shared_ptr<const user_secrets>> shared_state::cached_lookup(
    const std::string& user, steady_clock_point now) const {
  std::lock_guard lock(lookups_mutex_);
  auto it = lookups_.find(user);
  if (it == lookups_.end() || now >= it->second.expires) return std::nullopt;
  return it->second.secrets;
}

void shared_state::cache_lookup(const std::string& user,
                                std::shared_ptr<const user_secrets> secrets,
                                steady_clock_point now) {
  // Names that do not exist cost an entry each until they expire; past this many entries those
  // go first. Users that exist stay: their pools log in with what was found.
  constexpr std::size_t max_lookups = 10000;
  std::lock_guard lock(lookups_mutex_);
  if (lookups_.size() >= max_lookups) {
    for (auto it = lookups_.begin(); it != lookups_.end();) {
      it = !it->second.secrets && (now >= it->second.expires || lookups_.size() >= max_lookups)
               ? lookups_.erase(it)
               : std::next(it);
    }
  }
  lookups_[user] = lookup{std::move(secrets), now + cfg_.auth_query.cache_ttl};
}

const config::user& shared_state::dynamic_user(const std::string& name) {
  std::lock_guard lock(lookups_mutex_);
  auto& slot = dynamic_users_[name];
  if (!slot) {
    slot = std::make_unique<config::user>();
    slot->name = name;
  }
  return *slot;
}

std::optional<scram::client_keys> shared_state::scram_keys(const std::string& user) const {
  std::lock_guard lock(keys_mutex_);
  auto it = keys_.find(user);
  if (it == keys_.end()) return std::nullopt;
  return it->second;
}

void shared_state::remember_scram_keys(const std::string& user, const scram::client_keys& keys) {
  std::lock_guard lock(keys_mutex_);
  keys_[user] = keys;
}

}  // namespace pgsteer::proxy
