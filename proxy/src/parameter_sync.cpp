// parameter_sync: a client's settings on shared servers (see parameter_sync.hpp).
#include "parameter_sync.hpp"

#include <algorithm>
#include <array>

namespace pgsteer::proxy {
namespace {

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

int compare_parameter_names(std::string_view a, std::string_view b) {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const auto x = static_cast<unsigned char>(a[i] | 0x20);
    const auto y = static_cast<unsigned char>(b[i] | 0x20);
    if (x != y) return x < y ? -1 : 1;
  }
  return a.size() == b.size() ? 0 : (a.size() < b.size() ? -1 : 1);
}

bool is_server_property(std::string_view parameter) {
  static constexpr std::array<std::string_view, 7> properties{
      "server_version",        "server_encoding", "integer_datetimes", "is_superuser",
      "session_authorization", "in_hot_standby",  "scram_iterations"};
  return std::find(properties.begin(), properties.end(), parameter) != properties.end();
}

bool is_reported_parameter(std::string_view parameter) {
  static constexpr std::array<std::string_view, 14> reported{"application_name",
                                                             "client_encoding",
                                                             "DateStyle",
                                                             "default_transaction_read_only",
                                                             "in_hot_standby",
                                                             "integer_datetimes",
                                                             "IntervalStyle",
                                                             "is_superuser",
                                                             "scram_iterations",
                                                             "server_encoding",
                                                             "server_version",
                                                             "session_authorization",
                                                             "standard_conforming_strings",
                                                             "TimeZone"};
  return std::any_of(reported.begin(), reported.end(), [&](std::string_view name) {
    return compare_parameter_names(name, parameter) == 0;
  });
}

namespace {
// What a server holds of a setting whose SET may or may not have taken effect: equal to no
// client's value, so the next sync() sets or resets it.
constexpr std::string_view unknown_value = "\x01unknown";
}  // namespace

std::string quote_literal(std::string_view value) {
  std::string out = "E'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += c;
    out += c;
  }
  out += '\'';
  return out;
}

namespace {
void append_canonical(std::string& out, std::string_view name, std::string_view value) {
  for (char c : name) out += lower(c);
  out += '=';
  out += value;
  out += '\0';
}
}  // namespace

const std::string& server_parameters::canonical() const {
  if (dirty_) {
    canonical_.clear();
    for (const auto& [name, value] : map_) {
      if (!is_server_property(name)) append_canonical(canonical_, name, value);
    }
    dirty_ = false;
  }
  return canonical_;
}

const std::string& parameter_sync::wanted(const parameter_map& defaults) const {
  if (wanted_version_ == version_ && wanted_defaults_ == &defaults) return wanted_;
  // The same merge as sync()'s walk: the client's value, else the default. A server property
  // among the client's values never matches a server's canonical form, so sync() runs then.
  wanted_.clear();
  auto v = values_.begin();
  auto d = defaults.begin();
  while (v != values_.end() || d != defaults.end()) {
    const bool take_v = v != values_.end() &&
                        (d == defaults.end() || compare_parameter_names(v->first, d->first) <= 0);
    if (take_v) {
      if (is_server_property(v->first)) wanted_ += '\x01';
      append_canonical(wanted_, v->first, v->second);
      if (d != defaults.end() && compare_parameter_names(v->first, d->first) == 0) ++d;
      ++v;
    } else {
      append_canonical(wanted_, d->first, d->second);
      ++d;
    }
  }
  wanted_version_ = version_;
  wanted_defaults_ = &defaults;
  return wanted_;
}

std::string parameter_sync::sync(parameter_map& server, const parameter_map& defaults,
                                 parameter_map* unchanged) const {
  // One walk over the three maps, which share one order: for each name, the client's value, else
  // the pool's default, else (a setting another client left) a RESET. Once per transaction in
  // transaction pooling, so no tree lookups.
  std::string sql;
  auto set = [&](const std::string& name, const std::string& value) {
    sql += "SELECT pg_catalog.set_config(" + quote_literal(name) + ", " + quote_literal(value) +
           ", false);";
  };
  auto v = values_.begin();
  auto d = defaults.begin();
  auto s = server.begin();
  // Server settings before `name` (all that are left: null) that neither side has: another
  // client's, reset.
  auto reset_before = [&](const std::string* name) {
    while (s != server.end() && (!name || compare_parameter_names(s->first, *name) < 0)) {
      if (is_server_property(s->first)) {
        ++s;
      } else {
        sql += "RESET " + s->first + ";";
        s = server.erase(s);
      }
    }
  };
  while (v != values_.end() || d != defaults.end()) {
    // The smallest name still to look at among the client's values and the defaults.
    const std::string* name = nullptr;
    if (v != values_.end()) name = &v->first;
    if (d != defaults.end() && (!name || compare_parameter_names(d->first, *name) < 0)) {
      name = &d->first;
    }
    const bool from_client = v != values_.end() && compare_parameter_names(v->first, *name) == 0;
    const bool has_default = d != defaults.end() && compare_parameter_names(d->first, *name) == 0;
    const std::string& value = from_client ? v->second : d->second;
    reset_before(name);
    if (s != server.end() && compare_parameter_names(s->first, *name) == 0) {
      if (s->second != value) {
        if (unchanged) (*unchanged)[*name] = s->second;
        set(*name, value);
        s->second = value;
      }
      ++s;
    } else {
      set(*name, value);
      server.emplace_hint(s, *name, value);
    }
    if (from_client) ++v;
    if (has_default) ++d;
  }
  reset_before(nullptr);
  return sql;
}

void parameter_sync::server_was_reset(parameter_map& server, const parameter_map& defaults) {
  for (auto it = server.begin(); it != server.end();) {
    if (is_server_property(it->first)) {
      ++it;
    } else if (auto d = defaults.find(it->first); d != defaults.end()) {
      it->second = d->second;
      ++it;
    } else {
      it = server.erase(it);
    }
  }
}

std::optional<std::string> parameter_sync::on_parameter_status(const std::string& name,
                                                               const std::string& value,
                                                               bool forwarded,
                                                               const parameter_map& defaults) {
  ++version_;
  if (forwarded && may_reset_) {
    auto start = startup_.find(name);
    auto server_default = defaults.find(name);
    if (start != startup_.end() && start->second != value && server_default != defaults.end() &&
        server_default->second == value) {
      values_[name] = start->second;
      resync_ = true;
      return start->second;
    }
  }
  if (!is_server_property(name) && (forwarded || values_.count(name))) {
    // The client's own SET, or the server's spelling of a value pgsteer set for it.
    values_[name] = value;
  }
  return std::nullopt;
}

void parameter_sync::client_set(const std::string& name, std::string value, parameter_map& server) {
  if (is_reported_parameter(name)) return;
  server[name] = value;
  values_[name] = std::move(value);
  ++version_;
}

void parameter_sync::client_reset(const std::string& name, parameter_map& server) {
  if (is_reported_parameter(name)) return;
  ++version_;
  server.erase(name);
  if (auto start = startup_.find(name); start != startup_.end()) {
    values_[name] = start->second;
    resync_ = true;
  } else {
    values_.erase(name);
  }
}

void parameter_sync::client_reset_all(parameter_map& server) {
  ++version_;
  std::erase_if(server, [](const auto& entry) { return !is_reported_parameter(entry.first); });
  std::erase_if(values_, [](const auto& entry) { return !is_reported_parameter(entry.first); });
  for (const auto& [name, value] : startup_) {
    if (is_reported_parameter(name)) continue;
    values_[name] = value;
    resync_ = true;
  }
}

void parameter_sync::mark_unknown(const std::string& name, parameter_map& server) {
  if (!is_reported_parameter(name)) server[name] = std::string(unknown_value);
}

void parameter_sync::mark_all_unknown(parameter_map& server) {
  for (auto& [name, value] : server) {
    if (!is_reported_parameter(name) && !is_server_property(name)) value = unknown_value;
  }
}

void parameter_sync::sync_failed(parameter_map& server) {
  for (const auto& entry : values_) server.erase(entry.first);
  resync_ = true;
}

parameter_map parameter_sync::login_report(const parameter_map& reported) const {
  parameter_map out = reported;
  for (const auto& [name, value] : values_) {
    if (auto it = out.find(name); it != out.end()) it->second = value;
  }
  return out;
}

// Settings as `name\0value\0` (neither holds a NUL: the protocol ends them with one), the
// client's values first; an empty name ends them. The startup values follow only when they
// differ. The first byte holds the flags.
namespace {

enum pack_flags : char { packed_may_reset = 1, packed_resync = 2, packed_startup_differs = 4 };

void pack_map(std::string& out, const parameter_map& map) {
  for (const auto& [name, value] : map) {
    out.append(name).push_back('\0');
    out.append(value).push_back('\0');
  }
  out.push_back('\0');
}

std::string_view next_field(std::string_view& packed) {
  const auto end = std::min(packed.find('\0'), packed.size());
  const auto field = packed.substr(0, end);
  packed.remove_prefix(std::min(end + 1, packed.size()));
  return field;
}

void unpack_map(std::string_view& packed, parameter_map& map) {
  while (!packed.empty()) {
    const auto name = next_field(packed);
    if (name.empty()) break;
    map[std::string(name)] = std::string(next_field(packed));
  }
}

}  // namespace

std::string parameter_sync::pack() const {
  const bool differs = startup_ != values_;
  if (values_.empty() && !differs && !may_reset_ && !resync_) return {};
  std::string out;
  out.push_back(static_cast<char>((may_reset_ ? packed_may_reset : 0) |
                                  (resync_ ? packed_resync : 0) |
                                  (differs ? packed_startup_differs : 0)));
  pack_map(out, values_);
  if (differs) pack_map(out, startup_);
  return out;
}

parameter_sync parameter_sync::unpack(std::string_view packed) {
  parameter_sync sync;
  if (packed.empty()) return sync;
  const char flags = packed.front();
  packed.remove_prefix(1);
  sync.may_reset_ = (flags & packed_may_reset) != 0;
  sync.resync_ = (flags & packed_resync) != 0;
  unpack_map(packed, sync.values_);
  if ((flags & packed_startup_differs) != 0) {
    unpack_map(packed, sync.startup_);
  } else {
    sync.startup_ = sync.values_;
  }
  return sync;
}

}  // namespace pgsteer::proxy
