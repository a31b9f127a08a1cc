// shared_state: secrets derived once from the configuration (see shared_state.hpp).
#include "shared_state.hpp"

#include <algorithm>

#include "pgsteer/protocol/md5.hpp"

namespace pgsteer::proxy {

namespace scram = protocol::scram;

shared_state::shared_state(config::config cfg) : cfg_(std::move(cfg)) {
  mock_secret_ = scram::random_bytes(32);
  for (const auto& name : cfg_.routing.write_functions) functions_.add_write_function(name);
  for (const auto& u : cfg_.users) {
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
    secrets_.emplace(u.name, std::move(s));
  }
  // A pool's share per worker must not be zero: never run more workers than the smallest pool.
  std::uint32_t smallest = cfg_.pool.size;
  for (const auto& db : cfg_.databases) {
    if (db.pool_size) smallest = std::min(smallest, *db.pool_size);
  }
  worker_count_ = std::max<std::uint32_t>(1, std::min(cfg_.resolved_workers(), smallest));
}

const user_secrets* shared_state::secrets(const std::string& user) const {
  auto it = secrets_.find(user);
  return it == secrets_.end() ? nullptr : &it->second;
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
