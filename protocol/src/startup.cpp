// Startup-phase packets (see startup.hpp). The error texts follow PostgreSQL's backend so that a
// client sees the same refusal through pgsteer as without it.
#include "pgsteer/protocol/startup.hpp"

#include <optional>

#include "pgsteer/protocol/builder.hpp"
#include "pgsteer/protocol/messages.hpp"
#include "pgsteer/protocol/sqlstate.hpp"
#include "pgsteer/protocol/wire.hpp"

namespace pgsteer::protocol {
namespace {

startup_packet invalid(std::string_view code, std::string message) {
  startup_packet p;
  p.kind = startup_kind::invalid;
  p.error.severity = "FATAL";
  p.error.code = code;
  p.error.message = std::move(message);
  return p;
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// Whether `value` is a non-empty prefix of `word` (at least `min` characters), ignoring case.
bool prefix_of(std::string_view value, std::string_view word, std::size_t min = 1) {
  if (value.size() < min || value.size() > word.size()) return false;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (lower(value[i]) != word[i]) return false;
  }
  return true;
}

// PostgreSQL's boolean spellings (parse_bool): prefixes of true/false/yes/no, on/off, 1/0.
std::optional<bool> parse_bool(std::string_view v) {
  if (prefix_of(v, "true") || prefix_of(v, "yes") || prefix_of(v, "on", 2) || v == "1") {
    return true;
  }
  if (prefix_of(v, "false") || prefix_of(v, "no") || prefix_of(v, "off", 2) || v == "0") {
    return false;
  }
  return std::nullopt;
}

}  // namespace

error_fields unsupported_protocol(std::uint32_t code) {
  return make_error("FATAL", sqlstate::feature_not_supported,
                    "unsupported frontend protocol " + std::to_string(code >> 16) + "." +
                        std::to_string(code & 0xffff) + ": server supports 3.0 to 3.0");
}

std::string_view startup_packet::parameter(std::string_view name) const {
  for (auto it = parameters.rbegin(); it != parameters.rend(); ++it) {
    if (it->first == name) return it->second;
  }
  return {};
}

std::string_view startup_packet::database() const {
  const auto db = parameter("database");
  return db.empty() ? user() : db;
}

startup_packet parse_startup_packet(std::string_view packet, const startup_limits& limits) {
  wire_reader r(packet);
  const auto length = r.u32();
  const auto code = r.u32();
  if (!length || !code || *length != packet.size()) {
    return invalid(sqlstate::protocol_violation, "invalid length of startup packet");
  }

  if (*code == ssl_request_code || *code == gssenc_request_code) {
    if (!r.at_end())
      return invalid(sqlstate::protocol_violation, "invalid length of startup packet");
    startup_packet p;
    p.kind = *code == ssl_request_code ? startup_kind::ssl_request : startup_kind::gssenc_request;
    return p;
  }
  if (*code == cancel_request_code) {
    const auto pid = r.i32();
    const auto key = r.i32();
    if (!pid || !key || !r.at_end()) {
      return invalid(sqlstate::protocol_violation, "invalid length of cancel request");
    }
    startup_packet p;
    p.kind = startup_kind::cancel_request;
    p.process_id = *pid;
    p.secret_key = *key;
    return p;
  }

  startup_packet p;
  p.major = static_cast<std::uint16_t>(*code >> 16);
  p.minor = static_cast<std::uint16_t>(*code & 0xffff);
  if (p.major != 3) {
    startup_packet refused;
    refused.error = unsupported_protocol(*code);
    return refused;
  }
  p.kind = startup_kind::startup_message;
  // name\0value\0 ... \0
  while (true) {
    const auto name = r.cstring();
    if (!name)
      return invalid(sqlstate::protocol_violation,
                     "invalid startup packet layout: expected terminator as last byte");
    if (name->empty()) break;
    const auto value = r.cstring();
    if (!value)
      return invalid(sqlstate::protocol_violation,
                     "invalid startup packet layout: expected terminator as last byte");
    if (p.parameters.size() + p.unrecognized_options.size() >= limits.max_parameters) {
      return invalid(sqlstate::program_limit_exceeded,
                     "too many parameters in startup packet (limit " +
                         std::to_string(limits.max_parameters) + ")");
    }
    if (name->starts_with("_pq_.")) {
      // PostgreSQL defines no protocol options yet: every one is unrecognised.
      p.unrecognized_options.emplace_back(*name);
      continue;
    }
    p.parameters.emplace_back(*name, *value);
  }
  if (!r.at_end()) {
    return invalid(sqlstate::protocol_violation,
                   "invalid startup packet layout: expected terminator as last byte");
  }
  if (p.user().empty()) {
    return invalid(sqlstate::invalid_authorization_specification,
                   "no PostgreSQL user name specified in startup packet");
  }
  if (const auto replication = p.parameter("replication"); !replication.empty()) {
    if (replication == "database") {
      p.replication = replication_mode::logical;
    } else if (const auto on = parse_bool(replication)) {
      p.replication = *on ? replication_mode::physical : replication_mode::none;
    } else {
      auto bad = invalid(
          sqlstate::invalid_parameter_value,
          "invalid value for parameter \"replication\": \"" + std::string(replication) + "\"");
      bad.error.hint = "Valid values are: \"false\", 0, \"true\", 1, \"database\".";
      return bad;
    }
  }
  return p;
}

void write_negotiate_protocol_version(std::string& out, const startup_packet& packet) {
  write_negotiate_protocol_version(out, 0, packet.unrecognized_options);
}

void write_startup_message(std::string& out,
                           const std::vector<std::pair<std::string, std::string>>& parameters) {
  message_builder b(out, '\0');
  b.u32(protocol_3_0);
  for (const auto& [name, value] : parameters) b.cstring(name).cstring(value);
  b.u8(0);
}

void write_ssl_request(std::string& out) {
  message_builder(out, '\0').u32(ssl_request_code);
}

void write_cancel_request(std::string& out, std::int32_t process_id, std::int32_t secret_key) {
  message_builder(out, '\0').u32(cancel_request_code).i32(process_id).i32(secret_key);
}

}  // namespace pgsteer::protocol
