// ErrorResponse/NoticeResponse (see error_response.hpp).
#include "pgsteer/protocol/error_response.hpp"

#include "pgsteer/protocol/builder.hpp"
#include "pgsteer/protocol/messages.hpp"
#include "pgsteer/protocol/wire.hpp"

namespace pgsteer::protocol {
namespace {

void write_fields(std::string& out, char type, const error_fields& f) {
  message_builder b(out, type);
  b.u8(error_field::severity).cstring(f.severity);
  b.u8(error_field::severity_nonlocalized).cstring(f.severity);
  b.u8(error_field::code).cstring(f.code).u8(error_field::message).cstring(f.message);
  if (!f.detail.empty()) b.u8(error_field::detail).cstring(f.detail);
  if (!f.hint.empty()) b.u8(error_field::hint).cstring(f.hint);
  b.u8(0);
}

}  // namespace

error_fields make_error(std::string_view severity, std::string_view code, std::string message,
                        std::string detail, std::string hint) {
  error_fields e;
  e.severity = std::string(severity);
  e.code = std::string(code);
  e.message = std::move(message);
  e.detail = std::move(detail);
  e.hint = std::move(hint);
  return e;
}

void write_error_response(std::string& out, const error_fields& fields) {
  write_fields(out, backend::error_response, fields);
}

void write_notice_response(std::string& out, const error_fields& fields) {
  write_fields(out, backend::notice_response, fields);
}

void write_error_fields(std::string& out, char type,
                        const std::vector<std::pair<char, std::string_view>>& fields) {
  message_builder b(out, type);
  for (const auto& [field, value] : fields) {
    if (field != '\0') b.u8(static_cast<std::uint8_t>(field)).cstring(value);
  }
  b.u8(0);
}

std::optional<std::vector<std::pair<char, std::string_view>>> parse_error_fields(
    std::string_view body) {
  std::vector<std::pair<char, std::string_view>> fields;
  wire_reader r(body);
  while (true) {
    const auto type = r.u8();
    if (!type) return std::nullopt;
    if (*type == 0) break;
    const auto value = r.cstring();
    if (!value) return std::nullopt;
    fields.emplace_back(static_cast<char>(*type), *value);
  }
  if (!r.at_end()) return std::nullopt;
  return fields;
}

error_fields to_error_fields(const std::vector<std::pair<char, std::string_view>>& fields) {
  error_fields out;
  bool nonlocalized = false;
  for (const auto& [type, value] : fields) {
    switch (type) {
      case error_field::severity:
        if (!nonlocalized) out.severity = value;
        break;
      case error_field::severity_nonlocalized:
        out.severity = value;
        nonlocalized = true;
        break;
      case error_field::code:
        out.code = value;
        break;
      case error_field::message:
        out.message = value;
        break;
      case error_field::detail:
        out.detail = value;
        break;
      case error_field::hint:
        out.hint = value;
        break;
      default:
        break;
    }
  }
  return out;
}

}  // namespace pgsteer::protocol
