// shared_state: configuration snapshots and the secrets derived from them (see shared_state.hpp).
#include "shared_state.hpp"

#include <algorithm>

#include "pgsteer/protocol/md5.hpp"

namespace pgsteer::proxy {

namespace scram = protocol::scram;

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
    user_secrets s;
    switch (u.kind) {
      case config::secret_kind::password:
        s.password = u.secret;
        s.verifier = scram::verifier::from_password(
            u.secret, scram::random_bytes(scram::default_salt_length));
        s.md5_stored = protocol::md5::stored_hash(u.name, u.secret);
        break;
      case config::secret_kind::scram_verifier:
        s.verifier = scram::verifier::parse(u.secret);
        break;
      case config::secret_kind::md5_hash:
        s.md5_stored = u.secret;
        s.password = u.secret;  // md5 backends accept the stored form (md5::client_response)
        break;
    }
    snapshot->secrets.emplace(u.name, std::move(s));
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

shared_state::shared_state(config::config cfg) : current_(make_config_snapshot(std::move(cfg))) {
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
