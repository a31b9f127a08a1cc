// auth_query: the secret of a user who is not in `users`, looked up on the current primary with
// the configured query, logged in as auth_query.user through that user's pool (PgBouncer's
// auth_query). Cached in shared_state for auth_query.cache_ttl, misses included.
#pragma once

#include <memory>
#include <string>
#include <variant>

#include "io.hpp"
#include "pgsteer/config/config.hpp"
#include "shared_state.hpp"

namespace pgsteer::proxy {

class worker_context;

// Why a lookup could not be answered (the primary is unreachable, the query failed): the client
// is refused as when no server is available; it says nothing about the user.
struct lookup_failure {
  std::string reason;
};

// The user's secrets, null when the query found none (or none pgsteer can use), or the failure.
// `db`: the database whose pool runs the query (auth_query.database, else the client's). Runs
// on `owner`'s thread.
awaitable<std::variant<std::shared_ptr<const user_secrets>, lookup_failure>> look_up_user_secrets(
    worker_context& owner, const config::database& db, const std::string& user);

}  // namespace pgsteer::proxy
