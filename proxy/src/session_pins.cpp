// session_pins: session state that keeps a client on its server (see session_pins.hpp).
#include "session_pins.hpp"

#include <algorithm>

#include "stats.hpp"

namespace pgsteer::proxy {

using kind = protocol::session_effect_kind;
static_assert(session_pins::kind_count == pin_kind_count);

std::uint32_t session_pins::on_sent(const std::vector<protocol::session_effect>& effects,
                                    parameter_map& server) {
  std::uint32_t added = 0;
  for (const auto& effect : effects) {
    switch (effect.kind) {
      case kind::sets:
      case kind::resets:
        parameter_sync::mark_unknown(effect.name, server);
        break;
      case kind::sets_unknown:
        if (!effect.name.empty()) parameter_sync::mark_unknown(effect.name, server);
        break;
      case kind::resets_all:
      case kind::discards_all:
        parameter_sync::mark_all_unknown(server);
        break;
      default:
        break;
    }
    if (protocol::creates_session_state(effect.kind)) {
      // A setting the server reports needs no pin: its ParameterStatus tells pgsteer the value.
      if (effect.kind == kind::sets_unknown && is_reported_parameter(effect.name)) continue;
      if (!pinned() || std::find(held_.begin(), held_.end(), effect) == held_.end()) {
        added |= 1u << static_cast<unsigned>(effect.kind);
      }
      hold(effect.kind, effect.name);
    } else {
      pending_.push_back(effect);
    }
  }
  return added;
}

void session_pins::on_ready(char status, parameter_sync& params, parameter_map& server) {
  if (status != 'I' || pending_.empty()) return;
  if (!failed_) {
    for (const auto& effect : pending_) apply(effect, params, server);
  }
  pending_.clear();
  failed_ = false;
}

void session_pins::apply(const protocol::session_effect& effect, parameter_sync& params,
                         parameter_map& server) {
  switch (effect.kind) {
    case kind::sets:
      params.client_set(effect.name, effect.value, server);
      release(kind::sets_unknown, effect.name);  // its value is known again
      break;
    case kind::resets:
      params.client_reset(effect.name, server);
      if (!effect.name.empty()) release(kind::sets_unknown, effect.name);
      break;
    case kind::resets_all:
      params.client_reset_all(server);
      release(kind::sets_unknown, {});
      break;
    case kind::discards_all:
      params.client_reset_all(server);
      held_.clear();
      break;
    case kind::drops_temp:
      release(kind::creates_temp, {});
      break;
    case kind::unlocks_advisory_all:
      release(kind::locks_advisory, {});
      break;
    case kind::closes_cursor:
      release(kind::holds_cursor, effect.name);
      break;
    case kind::unlistens:
      release(kind::listens, effect.name);
      break;
    case kind::deallocates:
      release(kind::prepares, effect.name);
      break;
    case kind::resets_role:
      release(kind::sets_role, effect.name);
      break;
    default:
      break;
  }
}

void session_pins::hold(kind k, const std::string& name) {
  protocol::session_effect entry{k, name, {}};
  if (std::find(held_.begin(), held_.end(), entry) == held_.end()) {
    held_.push_back(std::move(entry));
  }
}

void session_pins::release(kind k, const std::string& name) {
  std::erase_if(held_, [&](const protocol::session_effect& held) {
    return held.kind == k && (name.empty() || held.name == name);
  });
}

std::string session_pins::labels() const {
  std::vector<std::string_view> names;
  for (const auto& held : held_) {
    const auto label = protocol::pin_label(held.kind);
    if (std::find(names.begin(), names.end(), label) == names.end()) names.push_back(label);
  }
  std::sort(names.begin(), names.end());
  std::string out;
  for (const auto label : names) {
    if (!out.empty()) out += ',';
    out += label;
  }
  return out;
}

}  // namespace pgsteer::proxy
