// Configuration loading (see config.hpp): YAML -> interpolated scalars -> typed, validated value.
// Every problem is collected with its position and key path; nothing stops at the first error.
#include "pgsteer/config/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "pgsteer/protocol/md5.hpp"
#include "pgsteer/protocol/scram.hpp"

namespace pgsteer::config {
namespace {

class loader {
 public:
  loader(std::string file, const load_options& options)
      : file_(std::move(file)), options_(options) {}

  std::vector<config_error> errors;

  void error(const YAML::Node& at, const std::string& path, const std::string& message) {
    const auto mark = at.Mark();
    errors.push_back({file_, mark.line >= 0 ? mark.line + 1 : 0,
                      mark.column >= 0 ? mark.column + 1 : 0, path, message});
  }

  // The scalar's text with ${NAME} replaced ($${ stays a literal ${).
  std::optional<std::string> text(const YAML::Node& n, const std::string& path) {
    if (!n.IsScalar()) {
      error(n, path, "expected a single value");
      return std::nullopt;
    }
    const std::string& raw = n.Scalar();
    std::string out;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw.compare(i, 3, "$${") == 0) {
        out += "${";
        i += 2;
        continue;
      }
      if (raw.compare(i, 2, "${") == 0) {
        const auto end = raw.find('}', i + 2);
        if (end == std::string::npos) {
          error(n, path, "unterminated ${ in value");
          return std::nullopt;
        }
        const std::string name = raw.substr(i + 2, end - i - 2);
        const auto value = lookup_env(name);
        if (!value) {
          error(n, path, "environment variable " + name + " is not set");
          return std::nullopt;
        }
        out += *value;
        i = end;
        continue;
      }
      out.push_back(raw[i]);
    }
    return out;
  }

  template <typename T>
  std::optional<T> number(const YAML::Node& n, const std::string& path, T min, T max) {
    const auto t = text(n, path);
    if (!t) return std::nullopt;
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(t->data(), t->data() + t->size(), v);
    if (ec != std::errc() || end != t->data() + t->size() || v < min || v > max) {
      error(n, path,
            "expected a whole number from " + std::to_string(min) + " to " + std::to_string(max) +
                ", got \"" + *t + "\"");
      return std::nullopt;
    }
    return static_cast<T>(v);
  }

  std::optional<bool> boolean(const YAML::Node& n, const std::string& path) {
    const auto t = text(n, path);
    if (!t) return std::nullopt;
    if (*t == "true" || *t == "yes" || *t == "on") return true;
    if (*t == "false" || *t == "no" || *t == "off") return false;
    error(n, path, "expected true or false, got \"" + *t + "\"");
    return std::nullopt;
  }

  std::optional<duration> dur(const YAML::Node& n, const std::string& path) {
    const auto t = text(n, path);
    if (!t) return std::nullopt;
    const auto d = parse_duration(*t);
    if (!d) error(n, path, "expected a duration such as 500ms, 5s, 10m or 1h, got \"" + *t + "\"");
    return d;
  }

  std::optional<std::uint64_t> size(const YAML::Node& n, const std::string& path) {
    const auto t = text(n, path);
    if (!t) return std::nullopt;
    const auto s = parse_size(*t);
    if (!s) error(n, path, "expected a size such as 64kB, 16MB or 1GB, got \"" + *t + "\"");
    return s;
  }

  // One of `names`, returning its index.
  std::optional<std::size_t> choice(const YAML::Node& n, const std::string& path,
                                    std::initializer_list<std::string_view> names) {
    const auto t = text(n, path);
    if (!t) return std::nullopt;
    std::size_t i = 0;
    std::string list;
    for (const auto name : names) {
      if (*t == name) return i;
      list += (i++ == 0 ? "" : " | ") + std::string(name);
    }
    error(n, path, "expected one of " + list + ", got \"" + *t + "\"");
    return std::nullopt;
  }

  // Reports keys of map `n` that are not in `known`.
  bool check_map(const YAML::Node& n, const std::string& path,
                 std::initializer_list<std::string_view> known) {
    if (!n.IsMap()) {
      error(n, path, "expected a mapping of keys to values");
      return false;
    }
    for (const auto& kv : n) {
      const std::string key = kv.first.as<std::string>();
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        std::string hint;
        for (const auto k : known) {
          if (close_enough(key, k)) hint = " (did you mean " + std::string(k) + "?)";
        }
        error(kv.first, join(path, key), "unknown key" + hint);
      }
    }
    return true;
  }

  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

  std::optional<std::string> read_secret_file(const YAML::Node& n, const std::string& path) {
    const auto name = text(n, path);
    if (!name) return std::nullopt;
    std::ifstream in(*name, std::ios::binary);
    if (!in) {
      error(n, path, "cannot read password file " + *name);
      return std::nullopt;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    std::string secret = ss.str();
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
    if (secret.empty()) {
      error(n, path, "password file " + *name + " is empty");
      return std::nullopt;
    }
    return secret;
  }

 private:
  std::optional<std::string> lookup_env(const std::string& name) {
    if (options_.env) return options_.env(name);
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  }

  // One edit apart, or the same letters but for '_' vs '-': a likely typo.
  static bool close_enough(std::string_view a, std::string_view b) {
    if (a == b) return false;
    const std::size_t n = a.size(), m = b.size();
    if (n > m + 1 || m > n + 1) return false;
    std::size_t i = 0, j = 0, edits = 0;
    while (i < n && j < m) {
      if (a[i] == b[j] || (a[i] == '-' && b[j] == '_')) {
        ++i, ++j;
        continue;
      }
      if (++edits > 1) return false;
      if (n > m)
        ++i;
      else if (m > n)
        ++j;
      else
        ++i, ++j;
    }
    return edits + (n - i) + (m - j) <= 1;
  }

  std::string file_;
  const load_options& options_;
};

std::optional<listen_address> parse_listen(loader& l, const YAML::Node& n,
                                           const std::string& path) {
  const auto t = l.text(n, path);
  if (!t) return std::nullopt;
  std::string host;
  std::string port;
  if (!t->empty() && t->front() == '[') {
    const auto close = t->find("]:");
    if (close == std::string::npos) {
      l.error(n, path, "expected [ipv6]:port, got \"" + *t + "\"");
      return std::nullopt;
    }
    host = t->substr(1, close - 1);
    port = t->substr(close + 2);
  } else {
    const auto colon = t->rfind(':');
    if (colon == std::string::npos || t->find(':') != colon) {
      l.error(n, path, "expected host:port (IPv6 as [addr]:port), got \"" + *t + "\"");
      return std::nullopt;
    }
    host = t->substr(0, colon);
    port = t->substr(colon + 1);
  }
  unsigned p = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (host.empty() || ec != std::errc() || end != port.data() + port.size() || p < 1 || p > 65535) {
    l.error(n, path, "expected host:port with a port from 1 to 65535, got \"" + *t + "\"");
    return std::nullopt;
  }
  return listen_address{host, static_cast<std::uint16_t>(p)};
}

// A scalar or a list of scalars ("all" -> empty list).
std::vector<std::string> name_list(loader& l, const YAML::Node& n, const std::string& path) {
  std::vector<std::string> out;
  if (n.IsSequence()) {
    for (std::size_t i = 0; i < n.size(); ++i) {
      if (auto t = l.text(n[i], path + "[" + std::to_string(i) + "]")) out.push_back(*t);
    }
  } else if (auto t = l.text(n, path)) {
    if (*t != "all") out.push_back(*t);
  }
  return out;
}

bool valid_cidr(const std::string& s) {
  if (s == "all") return true;
  const auto slash = s.find('/');
  const std::string addr = s.substr(0, slash);
  const bool v6 = addr.find(':') != std::string::npos;
  unsigned bits = v6 ? 128 : 32;
  if (slash != std::string::npos) {
    const std::string b = s.substr(slash + 1);
    const auto [end, ec] = std::from_chars(b.data(), b.data() + b.size(), bits);
    if (ec != std::errc() || end != b.data() + b.size() || bits > (v6 ? 128u : 32u)) return false;
  }
  if (v6) return addr.find_first_not_of("0123456789abcdefABCDEF:.") == std::string::npos;
  int dots = 0;
  for (const char c : addr) {
    if (c == '.')
      ++dots;
    else if (c < '0' || c > '9')
      return false;
  }
  return dots == 3;
}

void load_document(loader& l, const YAML::Node& root, config& c) {
  if (!l.check_map(
          root, "",
          {"listen", "workers", "backends", "databases", "users", "pool", "clients", "auth_query",
           "health", "routing", "failover", "tls", "http", "log", "shutdown_timeout"})) {
    return;
  }

  if (const auto n = root["listen"]) {
    if (n.IsSequence()) {
      for (std::size_t i = 0; i < n.size(); ++i) {
        if (auto a = parse_listen(l, n[i], "listen[" + std::to_string(i) + "]"))
          c.listen.push_back(*a);
      }
    } else if (auto a = parse_listen(l, n, "listen")) {
      c.listen.push_back(*a);
    }
  } else {
    c.listen.push_back({"127.0.0.1", 6432});
  }

  if (const auto n = root["workers"]) {
    if (n.IsScalar() && n.Scalar() == "auto") {
      c.workers.reset();
    } else if (auto w = l.number<std::uint32_t>(n, "workers", 1, 1024)) {
      c.workers = *w;
    }
  }

  if (const auto n = root["backends"]; n && n.IsSequence()) {
    std::set<std::string> names;
    for (std::size_t i = 0; i < n.size(); ++i) {
      const std::string path = "backends[" + std::to_string(i) + "]";
      const auto b = n[i];
      if (!l.check_map(b, path, {"name", "host", "port", "weight"})) continue;
      backend out;
      if (auto t = b["name"] ? l.text(b["name"], path + ".name") : std::nullopt)
        out.name = *t;
      else if (!b["name"])
        l.error(b, path + ".name", "missing: every backend needs a name");
      if (auto t = b["host"] ? l.text(b["host"], path + ".host") : std::nullopt)
        out.host = *t;
      else if (!b["host"])
        l.error(b, path + ".host", "missing: every backend needs a host");
      if (b["port"]) {
        if (auto p = l.number<std::uint16_t>(b["port"], path + ".port", 1, 65535)) out.port = *p;
      }
      if (b["weight"]) {
        if (auto w = l.number<std::uint32_t>(b["weight"], path + ".weight", 1, 1000))
          out.weight = *w;
      }
      if (!out.name.empty() && !names.insert(out.name).second) {
        l.error(b["name"], path + ".name", "duplicate backend name " + out.name);
      }
      c.backends.push_back(out);
    }
  } else if (n) {
    l.error(n, "backends", "expected a list of backends");
  }
  if (c.backends.empty()) l.error(root, "backends", "at least one backend is required");

  // Database names are the client-facing names: any key is allowed at this level.
  if (const auto n = root["databases"]; n && n.IsMap()) {
    for (const auto& kv : n) {
      const std::string name = kv.first.as<std::string>();
      const std::string path = "databases." + name;
      const auto d = kv.second;
      if (!l.check_map(d, path, {"dbname", "route", "pool_size"})) continue;
      database out{name, name, route::split, std::nullopt};
      if (d["dbname"]) {
        if (auto t = l.text(d["dbname"], path + ".dbname")) out.dbname = *t;
      }
      if (d["route"]) {
        if (auto r = l.choice(d["route"], path + ".route", {"split", "primary", "replica"})) {
          out.route_mode = static_cast<route>(*r);
        }
      }
      if (d["pool_size"]) {
        out.pool_size = l.number<std::uint32_t>(d["pool_size"], path + ".pool_size", 1, 100000);
      }
      if (name == "pgsteer")
        l.error(kv.first, path, "pgsteer is the admin console's database name");
      c.databases.push_back(out);
    }
  } else if (n) {
    l.error(n, "databases", "expected a mapping of client database names");
  }
  if (c.databases.empty()) l.error(root, "databases", "at least one database is required");

  if (const auto n = root["users"]; n && n.IsSequence()) {
    std::set<std::string> names;
    for (std::size_t i = 0; i < n.size(); ++i) {
      const std::string path = "users[" + std::to_string(i) + "]";
      const auto u = n[i];
      if (!l.check_map(u, path, {"name", "password", "password_file", "admin"})) continue;
      user out;
      if (u["name"]) {
        if (auto t = l.text(u["name"], path + ".name")) out.name = *t;
      } else {
        l.error(u, path + ".name", "missing: every user needs a name");
      }
      const bool has_password = static_cast<bool>(u["password"]);
      const bool has_file = static_cast<bool>(u["password_file"]);
      if (has_password == has_file) {
        l.error(u, path, "give exactly one of password or password_file");
      } else {
        const std::optional<std::string> secret =
            has_password ? l.text(u["password"], path + ".password")
                         : l.read_secret_file(u["password_file"], path + ".password_file");
        if (secret) {
          out.secret = *secret;
          if (secret->starts_with("SCRAM-SHA-256$")) {
            out.kind = secret_kind::scram_verifier;
            if (!protocol::scram::verifier::parse(*secret)) {
              l.error(has_password ? u["password"] : u["password_file"], path + ".password",
                      "looks like a SCRAM verifier but is malformed");
            }
          } else if (protocol::md5::is_stored_hash(*secret)) {
            out.kind = secret_kind::md5_hash;
          }
        }
      }
      if (u["admin"]) out.admin = l.boolean(u["admin"], path + ".admin").value_or(false);
      if (!out.name.empty() && !names.insert(out.name).second) {
        l.error(u["name"], path + ".name", "duplicate user " + out.name);
      }
      c.users.push_back(out);
    }
  } else if (n) {
    l.error(n, "users", "expected a list of users");
  }

  if (const auto n = root["pool"];
      n && l.check_map(n, "pool",
                       {"mode", "size", "min_idle", "query_wait_timeout", "server_idle_timeout",
                        "server_lifetime", "server_connect_timeout", "max_prepared_statements",
                        "server_reset_query"})) {
    auto& p = c.pool;
    if (n["mode"]) {
      if (auto m = l.choice(n["mode"], "pool.mode", {"session", "transaction", "statement"})) {
        p.mode = std::array{protocol::pool_mode::session, protocol::pool_mode::transaction,
                            protocol::pool_mode::statement}[*m];
      }
    }
    if (n["size"])
      p.size = l.number<std::uint32_t>(n["size"], "pool.size", 1, 100000).value_or(p.size);
    if (n["min_idle"]) {
      p.min_idle = l.number<std::uint32_t>(n["min_idle"], "pool.min_idle", 0, 100000).value_or(0);
    }
    if (n["query_wait_timeout"]) {
      p.query_wait_timeout =
          l.dur(n["query_wait_timeout"], "pool.query_wait_timeout").value_or(p.query_wait_timeout);
    }
    if (n["server_idle_timeout"]) {
      p.server_idle_timeout = l.dur(n["server_idle_timeout"], "pool.server_idle_timeout")
                                  .value_or(p.server_idle_timeout);
    }
    if (n["server_lifetime"]) {
      p.server_lifetime =
          l.dur(n["server_lifetime"], "pool.server_lifetime").value_or(p.server_lifetime);
    }
    if (n["server_connect_timeout"]) {
      p.server_connect_timeout = l.dur(n["server_connect_timeout"], "pool.server_connect_timeout")
                                     .value_or(p.server_connect_timeout);
    }
    if (n["max_prepared_statements"]) {
      p.max_prepared_statements = l.number<std::uint32_t>(n["max_prepared_statements"],
                                                          "pool.max_prepared_statements", 0, 100000)
                                      .value_or(p.max_prepared_statements);
    }
    if (n["server_reset_query"]) {
      p.server_reset_query =
          l.text(n["server_reset_query"], "pool.server_reset_query").value_or(p.server_reset_query);
    }
    if (p.min_idle > p.size) l.error(n["min_idle"], "pool.min_idle", "must not exceed pool.size");
  }

  if (const auto n = root["clients"];
      n && l.check_map(n, "clients",
                       {"max_connections", "auth", "idle_timeout", "auth_timeout",
                        "max_message_size", "max_auth_failures_per_minute", "hba"})) {
    auto& cl = c.clients;
    if (n["max_connections"]) {
      cl.max_connections =
          l.number<std::uint32_t>(n["max_connections"], "clients.max_connections", 1, 1000000)
              .value_or(cl.max_connections);
    }
    if (n["auth"]) {
      if (auto m = l.choice(n["auth"], "clients.auth", {"scram-sha-256", "md5", "cert", "trust"})) {
        cl.auth = static_cast<auth_method>(*m);
      }
    }
    if (n["idle_timeout"])
      cl.idle_timeout = l.dur(n["idle_timeout"], "clients.idle_timeout").value_or(cl.idle_timeout);
    if (n["auth_timeout"])
      cl.auth_timeout = l.dur(n["auth_timeout"], "clients.auth_timeout").value_or(cl.auth_timeout);
    if (cl.auth_timeout.count() <= 0)
      l.error(n["auth_timeout"], "clients.auth_timeout", "must be more than 0");
    if (n["max_auth_failures_per_minute"]) {
      cl.max_auth_failures_per_minute =
          l.number<std::uint32_t>(n["max_auth_failures_per_minute"],
                                  "clients.max_auth_failures_per_minute", 0, 1000000)
              .value_or(cl.max_auth_failures_per_minute);
    }
    if (n["max_message_size"]) {
      cl.max_message_size =
          l.size(n["max_message_size"], "clients.max_message_size").value_or(cl.max_message_size);
      if (cl.max_message_size < 1024 || cl.max_message_size > (1ull << 30)) {
        l.error(n["max_message_size"], "clients.max_message_size", "must be from 1kB to 1GB");
      }
    }
    if (const auto h = n["hba"]; h && h.IsSequence()) {
      for (std::size_t i = 0; i < h.size(); ++i) {
        const std::string path = "clients.hba[" + std::to_string(i) + "]";
        const auto r = h[i];
        if (!l.check_map(r, path, {"type", "address", "database", "user", "method"})) continue;
        hba_rule rule;
        if (r["type"]) {
          if (auto t = l.choice(r["type"], path + ".type", {"host", "hostssl", "hostnossl"})) {
            rule.type = static_cast<hba_type>(*t);
          }
        }
        rule.address =
            r["address"] ? l.text(r["address"], path + ".address").value_or("all") : "all";
        if (!valid_cidr(rule.address)) {
          l.error(r["address"], path + ".address",
                  "expected an address in CIDR form (127.0.0.0/8, ::1/128) or all");
        }
        if (r["database"]) rule.databases = name_list(l, r["database"], path + ".database");
        if (r["user"]) rule.users = name_list(l, r["user"], path + ".user");
        if (r["method"]) {
          if (auto m = l.choice(r["method"], path + ".method",
                                {"scram-sha-256", "md5", "cert", "trust", "reject"})) {
            rule.method = static_cast<auth_method>(*m);
          }
        } else {
          rule.method = cl.auth;
        }
        cl.hba.push_back(rule);
      }
    } else if (h) {
      l.error(h, "clients.hba", "expected a list of rules");
    }
  }

  if (const auto n = root["auth_query"];
      n && l.check_map(n, "auth_query", {"query", "user", "database", "cache_ttl"})) {
    auto& a = c.auth_query;
    if (n["query"]) a.query = l.text(n["query"], "auth_query.query").value_or("");
    if (n["user"]) a.user = l.text(n["user"], "auth_query.user").value_or("");
    if (n["database"]) a.database = l.text(n["database"], "auth_query.database").value_or("");
    if (n["cache_ttl"])
      a.cache_ttl = l.dur(n["cache_ttl"], "auth_query.cache_ttl").value_or(a.cache_ttl);
    if (!a.query.empty() && a.user.empty())
      l.error(n, "auth_query.user", "auth_query needs a user to run the query as");
    // pgsteer logs in as this user with a secret it holds: it cannot be looked up itself.
    if (!a.user.empty() && c.find_user(a.user) == nullptr)
      l.error(n["user"], "auth_query.user", "user " + a.user + " is not in users");
    if (!a.database.empty() && c.find_database(a.database) == nullptr)
      l.error(n["database"], "auth_query.database",
              "database " + a.database + " is not in databases");
  }

  if (const auto n = root["health"];
      n && l.check_map(n, "health", {"interval", "timeout", "user"})) {
    auto& h = c.health;
    if (n["interval"]) h.interval = l.dur(n["interval"], "health.interval").value_or(h.interval);
    if (n["timeout"]) h.timeout = l.dur(n["timeout"], "health.timeout").value_or(h.timeout);
    if (n["user"]) h.user = l.text(n["user"], "health.user").value_or("");
    if (h.interval.count() <= 0) l.error(n["interval"], "health.interval", "must be more than 0");
  }
  if (c.health.user.empty() && !c.users.empty()) c.health.user = c.users.front().name;
  if (!c.health.user.empty() && c.find_user(c.health.user) == nullptr) {
    l.error(root["health"] ? root["health"]["user"] : root, "health.user",
            "user " + c.health.user + " is not in users");
  }

  if (const auto n = root["routing"];
      n && l.check_map(n, "routing",
                       {"max_lag_bytes", "max_lag_seconds", "reads_fall_back_to_primary",
                        "consistency", "write_functions"})) {
    auto& r = c.routing;
    if (n["max_lag_bytes"])
      r.max_lag_bytes =
          l.size(n["max_lag_bytes"], "routing.max_lag_bytes").value_or(r.max_lag_bytes);
    if (n["max_lag_seconds"])
      r.max_lag_seconds =
          l.dur(n["max_lag_seconds"], "routing.max_lag_seconds").value_or(r.max_lag_seconds);
    if (n["reads_fall_back_to_primary"]) {
      r.reads_fall_back_to_primary =
          l.boolean(n["reads_fall_back_to_primary"], "routing.reads_fall_back_to_primary")
              .value_or(true);
    }
    if (n["consistency"]) {
      if (auto m =
              l.choice(n["consistency"], "routing.consistency", {"eventual", "read_your_writes"})) {
        r.consistency_mode = static_cast<consistency>(*m);
      }
    }
    if (n["write_functions"])
      r.write_functions = name_list(l, n["write_functions"], "routing.write_functions");
  }

  if (const auto n = root["failover"]; n && l.check_map(n, "failover", {"wait_timeout"})) {
    if (n["wait_timeout"])
      c.failover.wait_timeout =
          l.dur(n["wait_timeout"], "failover.wait_timeout").value_or(c.failover.wait_timeout);
  }

  if (const auto n = root["tls"]; n && l.check_map(n, "tls", {"client", "server"})) {
    if (const auto t = n["client"]; t && l.check_map(t, "tls.client",
                                                     {"mode", "cert_file", "key_file", "ca_file",
                                                      "min_version", "ciphers", "ciphersuites"})) {
      auto& s = c.tls.client;
      if (t["mode"]) {
        if (auto m = l.choice(t["mode"], "tls.client.mode", {"disable", "allow", "require"}))
          s.mode = static_cast<client_tls_mode>(*m);
      }
      if (t["cert_file"]) s.cert_file = l.text(t["cert_file"], "tls.client.cert_file").value_or("");
      if (t["key_file"]) s.key_file = l.text(t["key_file"], "tls.client.key_file").value_or("");
      if (t["ca_file"]) s.ca_file = l.text(t["ca_file"], "tls.client.ca_file").value_or("");
      if (t["min_version"]) {
        if (auto m = l.choice(t["min_version"], "tls.client.min_version", {"TLSv1.2", "TLSv1.3"})) {
          s.min_version = *m == 0 ? "TLSv1.2" : "TLSv1.3";
        }
      }
      if (t["ciphers"]) s.ciphers = l.text(t["ciphers"], "tls.client.ciphers").value_or("");
      if (t["ciphersuites"])
        s.ciphersuites = l.text(t["ciphersuites"], "tls.client.ciphersuites").value_or("");
      if (s.mode != client_tls_mode::disable && (s.cert_file.empty() || s.key_file.empty())) {
        l.error(t, "tls.client", "cert_file and key_file are required unless mode is disable");
      }
    }
    if (const auto t = n["server"];
        t && l.check_map(t, "tls.server", {"mode", "ca_file", "cert_file", "key_file"})) {
      auto& s = c.tls.server;
      if (t["mode"]) {
        if (auto m = l.choice(t["mode"], "tls.server.mode",
                              {"disable", "prefer", "require", "verify-ca", "verify-full"})) {
          s.mode = static_cast<server_tls_mode>(*m);
        }
      }
      if (t["ca_file"]) s.ca_file = l.text(t["ca_file"], "tls.server.ca_file").value_or("");
      if (t["cert_file"]) s.cert_file = l.text(t["cert_file"], "tls.server.cert_file").value_or("");
      if (t["key_file"]) s.key_file = l.text(t["key_file"], "tls.server.key_file").value_or("");
      if ((s.mode == server_tls_mode::verify_ca || s.mode == server_tls_mode::verify_full) &&
          s.ca_file.empty()) {
        l.error(t, "tls.server.ca_file", "required for verify-ca and verify-full");
      }
    }
  }

  if (const auto n = root["http"]; n && l.check_map(n, "http", {"listen"})) {
    if (n["listen"]) c.http.listen = parse_listen(l, n["listen"], "http.listen");
  }

  if (const auto n = root["log"];
      n && l.check_map(n, "log", {"level", "format", "slow_query_threshold"})) {
    if (n["level"]) {
      if (auto m = l.choice(n["level"], "log.level",
                            {"trace", "debug", "info", "warn", "error", "critical", "off"})) {
        c.log.level = std::array{"trace", "debug", "info", "warn", "error", "critical", "off"}[*m];
      }
    }
    if (n["format"]) {
      if (auto m = l.choice(n["format"], "log.format", {"text", "json"}))
        c.log.format = static_cast<log_format>(*m);
    }
    if (n["slow_query_threshold"])
      c.log.slow_query_threshold =
          l.dur(n["slow_query_threshold"], "log.slow_query_threshold").value_or(duration{0});
  }

  if (const auto n = root["shutdown_timeout"]) {
    c.shutdown_timeout = l.dur(n, "shutdown_timeout").value_or(c.shutdown_timeout);
  }
}

load_result finish(loader& l, config c) {
  load_result r;
  r.errors = std::move(l.errors);
  std::stable_sort(r.errors.begin(), r.errors.end(),
                   [](const config_error& a, const config_error& b) {
                     return std::tie(a.line, a.column) < std::tie(b.line, b.column);
                   });
  if (r.errors.empty()) r.value = std::move(c);
  return r;
}

}  // namespace

std::uint32_t config::resolved_workers() const {
  if (workers) return *workers;
  return std::max(1u, std::thread::hardware_concurrency());
}

const user* config::find_user(std::string_view name) const {
  for (const auto& u : users) {
    if (u.name == name) return &u;
  }
  return nullptr;
}

const database* config::find_database(std::string_view name) const {
  for (const auto& d : databases) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

std::string config_error::to_string() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": ";
  if (!path.empty()) out += path + ": ";
  return out + message;
}

std::optional<duration> parse_duration(std::string_view text) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end == text.data()) return std::nullopt;
  const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  std::uint64_t ms = 0;
  if (unit == "ms")
    ms = v;
  else if (unit == "s")
    ms = v * 1000;
  else if (unit == "m" || unit == "min")
    ms = v * 60'000;
  else if (unit == "h")
    ms = v * 3'600'000;
  else if (unit.empty() && v == 0)
    ms = 0;
  else
    return std::nullopt;
  if (ms > 365ull * 24 * 3'600'000) return std::nullopt;
  return duration(static_cast<duration::rep>(ms));
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end == text.data()) return std::nullopt;
  const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  std::uint64_t mult = 1;
  if (unit.empty() || unit == "B")
    mult = 1;
  else if (unit == "kB")
    mult = 1ull << 10;
  else if (unit == "MB")
    mult = 1ull << 20;
  else if (unit == "GB")
    mult = 1ull << 30;
  else
    return std::nullopt;
  if (v > (1ull << 50) / mult) return std::nullopt;
  return v * mult;
}

load_result load_config_string(std::string_view yaml, const std::string& file_name,
                               const load_options& options) {
  loader l(file_name, options);
  config c;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::ParserException& e) {
    l.errors.push_back(
        {file_name, e.mark.line + 1, e.mark.column + 1, "", "YAML syntax: " + e.msg});
    return finish(l, std::move(c));
  }
  try {
    load_document(l, root, c);
  } catch (const YAML::Exception& e) {
    l.errors.push_back({file_name, e.mark.line + 1, e.mark.column + 1, "", e.msg});
  }
  return finish(l, std::move(c));
}

load_result load_config(const std::filesystem::path& file, const load_options& options) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    load_result r;
    r.errors.push_back({file.string(), 0, 0, "", "cannot read the configuration file"});
    return r;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return load_config_string(ss.str(), file.string(), options);
}

const char* to_string(auth_method method) {
  switch (method) {
    case auth_method::scram_sha_256:
      return "scram-sha-256";
    case auth_method::md5:
      return "md5";
    case auth_method::cert:
      return "cert";
    case auth_method::trust:
      return "trust";
    case auth_method::reject:
      return "reject";
  }
  return "scram-sha-256";
}

}  // namespace pgsteer::config
