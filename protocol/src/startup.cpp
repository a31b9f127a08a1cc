// Startup-phase packets (see startup.hpp). The error texts follow PostgreSQL's backend so that a
// client sees the same refusal through pgsteer as without it.
#include "pgsteer/protocol/startup.hpp"

#include "pgsteer/protocol/builder.hpp"
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

}  // namespace

std::string_view startup_packet::parameter(std::string_view name) const {
  for (const auto& [key, value] : parameters) {
    if (key == name) return value;
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
    return invalid(sqlstate::feature_not_supported,
                   "unsupported frontend protocol " + std::to_string(p.major) + "." +
                       std::to_string(p.minor) + ": server supports 3.0 to 3.0");
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
    if (name->starts_with("_pq_.")) {
      p.unrecognized_options.emplace_back(*name);
      continue;
    }
    if (p.parameters.size() >= limits.max_parameters) {
      return invalid(sqlstate::program_limit_exceeded,
                     "too many parameters in startup packet (limit " +
                         std::to_string(limits.max_parameters) + ")");
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
  return p;
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
