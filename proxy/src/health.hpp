// What the health endpoints (/health/live, /health/ready, /primary, /replica) answer, decided from
// the lifecycle flags and the monitor's last topology snapshot. Pure: no I/O, any thread that
// owns the snapshot may call it. docs/health-endpoints.md is the operator's view.
#pragma once

#include <string>
#include <string_view>

#include "http_server.hpp"

namespace pgsteer::proxy {

class shared_state;
struct topology;

struct health_verdict {
  bool ok = false;
  std::string reason;  // why not, when !ok
};

// Ready for clients: not draining, and the topology is known with a primary or an eligible
// replica. (Listening and a loaded configuration are given: the HTTP server starts after both.)
health_verdict readiness(const shared_state& shared, const topology* snapshot);

// The answer for a health path; 404 for any other path.
http_reply health_reply(std::string_view path, const shared_state& shared,
                        const topology* snapshot);

}  // namespace pgsteer::proxy
