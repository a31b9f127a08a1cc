// health: the verdicts behind the load-balancer and probe endpoints (see health.hpp).
#include "health.hpp"

#include <string>

#include "shared_state.hpp"
#include "topology.hpp"

namespace pgsteer::proxy {

namespace {

// Backend names come from the configuration: escape what JSON needs escaped.
std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

http_reply available(std::string extra = {}) {
  return {200, "application/json", "{\"status\":\"ok\"" + extra + "}\n"};
}

http_reply unavailable(std::string_view reason) {
  return {503, "application/json",
          "{\"status\":\"unavailable\",\"reason\":" + json_string(reason) + "}\n"};
}

}  // namespace

health_verdict readiness(const shared_state& shared, const topology* snapshot) {
  if (shared.draining.load(std::memory_order_relaxed)) return {false, "draining"};
  if (!snapshot) return {false, "topology not known yet"};
  if (!snapshot->primary && snapshot->readable.empty()) {
    return {false, "no primary and no eligible replica"};
  }
  return {true, {}};
}

http_reply health_reply(std::string_view path, const shared_state& shared,
                        const topology* snapshot) {
  if (path == "/health/live") return available();
  if (path == "/health/ready") {
    const auto verdict = readiness(shared, snapshot);
    return verdict.ok ? available() : unavailable(verdict.reason);
  }
  if (path == "/primary") {
    if (!snapshot) return unavailable("topology not known yet");
    if (!snapshot->primary) return unavailable("no primary");
    return available(",\"primary\":" + json_string(snapshot->backends[*snapshot->primary].name));
  }
  if (path == "/replica") {
    if (!snapshot) return unavailable("topology not known yet");
    if (snapshot->readable.empty()) return unavailable("no eligible replica");
    std::string names;
    for (const auto i : snapshot->readable) {
      if (!names.empty()) names += ',';
      names += json_string(snapshot->backends[i].name);
    }
    return available(",\"replicas\":[" + names + "]");
  }
  return {404, "application/json", "{\"status\":\"error\",\"reason\":\"not found\"}\n"};
}

}  // namespace pgsteer::proxy
