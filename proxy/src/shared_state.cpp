// shared_state: configuration snapshots and the secrets derived from them (see shared_state.hpp).
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

const user_secrets* config_snapshot::find_secrets(std::string_view user) const {
  auto it = secrets.find(user);
  return it == secrets.end() ? nullptr : &it->second;
}

std::shared_ptr<const config_snapshot> make_config_snapshot(config::config cfg,
                                                            std::uint64_t generation) {
  auto snapshot = std::make_shared<config_snapshot>();
  snapshot->cfg = std::move(cfg);
  snapshot->generation = generation;
  for (const auto& name : snapshot->cfg.routing.write_functions) {
    snapshot->functions.add_write_function(name);
  }
  for (const auto& u : snapshot->cfg.users) {
    // The loader has checked verifiers: this never fails for a loaded configuration.
    if (auto s = secrets_from(u.name, u.secret)) snapshot->secrets.emplace(u.name, std::move(*s));
  }
  return snapshot;
}

std::uint32_t shared_state::smallest_pool(const config::config& cfg) {
  std::uint32_t smallest = cfg.pool.size;
  for (const auto& db : cfg.databases) {
    if (db.pool_size) smallest = std::min(smallest, *db.pool_size);
  }
  return smallest;
}

std::shared_ptr<const user_secrets> shared_state::secrets(const config_snapshot& snapshot,
                                                          const std::string& user) const {
  if (const auto* s = snapshot.find_secrets(user)) {
    // The caller holds the snapshot while it uses them: a pointer that owns nothing.
    return std::shared_ptr<const user_secrets>(std::shared_ptr<void>(), s);
  }
  if (snapshot.cfg.auth_query.query.empty()) return nullptr;
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
  {
    std::lock_guard lock(lookups_mutex_);
    if (lookups_.size() >= max_lookups) {
      for (auto it = lookups_.begin(); it != lookups_.end();) {
        it = !it->second.secrets && (now >= it->second.expires || lookups_.size() >= max_lookups)
                 ? lookups_.erase(it)
                 : std::next(it);
      }
    }
  }
  const auto ttl = config()->cfg.auth_query.cache_ttl;
  std::lock_guard lock(lookups_mutex_);
  lookups_[user] = lookup{std::move(secrets), now + ttl};
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

std::shared_ptr<const tls::contexts> shared_state::tls() const {
  std::lock_guard lock(tls_mutex_);
  return tls_;
}

std::optional<std::string> shared_state::reload_tls(const config::config& cfg) {
  auto built = tls::build_contexts(cfg.tls);
  if (auto* error = std::get_if<std::string>(&built)) return std::move(*error);
  auto contexts = std::get<std::shared_ptr<const tls::contexts>>(std::move(built));
  std::lock_guard lock(tls_mutex_);
  tls_ = std::move(contexts);
  return std::nullopt;
}

shared_state::shared_state(config::config cfg)
    : auth_failures(cfg.clients.max_auth_failures_per_minute),
      current_(make_config_snapshot(std::move(cfg))) {
  mock_secret_ = scram::random_bytes(32);
  // A pool's share per worker must not be zero: never run more workers than the smallest pool.
  worker_count_ = std::max<std::uint32_t>(
      1, std::min(current_->cfg.resolved_workers(), smallest_pool(current_->cfg)));
}

std::shared_ptr<const config_snapshot> shared_state::config() const {
  std::lock_guard lock(config_mutex_);
  return current_;
}

void shared_state::set_config(std::shared_ptr<const config_snapshot> next) {
  std::lock_guard lock(config_mutex_);
  current_ = std::move(next);
}

std::optional<scram::client_keys> shared_state::scram_keys(const std::string& user,
                                                           const std::string& secret) const {
  std::lock_guard lock(keys_mutex_);
  auto it = keys_.find(user);
  if (it == keys_.end() || it->second.first != secret) return std::nullopt;
  return it->second.second;
}

void shared_state::remember_scram_keys(const std::string& user, const std::string& secret,
                                       const scram::client_keys& keys) {
  std::lock_guard lock(keys_mutex_);
  keys_[user] = {secret, keys};
}

}  // namespace pgsteer::proxy
