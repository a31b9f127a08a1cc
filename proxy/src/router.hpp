// The one place that decides where a transaction runs: the primary or a replica (from the
// database's route and, for `split`, the classifier's verdict on the transaction's first
// statement), then which backend of the current topology serves it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "pgsteer/config/config.hpp"
#include "pgsteer/protocol/classifier.hpp"
#include "pgsteer/protocol/lsn.hpp"
#include "topology.hpp"

namespace pgsteer::proxy {

enum class target : std::uint8_t { primary, replica };

const char* to_string(target t);

// Where a transaction beginning with `first` goes. `first` is the classification of its first
// statement (null when the request carries no SQL pgsteer knows, e.g. a FunctionCall). Session
// pooling binds a whole session: `split` then means the primary.
target route_for(config::route route, const protocol::classification* first, bool session_mode);

// Picks a backend (index in config.backends) for `want` in `topology`, or none when nothing can
// serve it now: the primary, or among eligible replicas the less
// loaded of two picked at random by weight (`load(k)`: servers leased on backend k by this
// worker). With no eligible replica a read falls back to the primary when `fall_back` is set.
// `random` gives uniform numbers in [0, bound).
// Backends in `excluded` (found unreachable or going away just now) are skipped, and so are
// replicas that have not replayed up to `must_see` (read-your-writes); an excluded primary
// serves nothing, as if there were none.
std::optional<std::size_t> choose_backend(
    const topology& topology, target want, bool fall_back,
    const std::vector<config::backend>& backends, const std::vector<std::size_t>& excluded,
    std::optional<protocol::lsn> must_see, const std::function<std::size_t(std::size_t)>& load,
    const std::function<std::uint64_t(std::uint64_t)>& random);

}  // namespace pgsteer::proxy
