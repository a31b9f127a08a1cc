// ErrorResponse/NoticeResponse (see error_response.hpp).
#include "pgsteer/protocol/error_response.hpp"

#include "pgsteer/protocol/builder.hpp"
#include "pgsteer/protocol/messages.hpp"
#include "pgsteer/protocol/wire.hpp"

namespace pgsteer::protocol {
namespace {

void write_fields(std::string& out, char type, const error_fields& f) {
  message_builder b(out, type);
  b.u8('S').cstring(f.severity).u8('V').cstring(f.severity);
  b.u8('C').cstring(f.code).u8('M').cstring(f.message);
  if (!f.detail.empty()) b.u8('D').cstring(f.detail);
  if (!f.hint.empty()) b.u8('H').cstring(f.hint);
  b.u8(0);
}

}  // namespace

void write_error_response(std::string& out, const error_fields& fields) {
  write_fields(out, backend::error_response, fields);
}

void write_notice_response(std::string& out, const error_fields& fields) {
  write_fields(out, backend::notice_response, fields);
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
  for (const auto& [type, value] : fields) {
    switch (type) {
      case 'S':
        out.severity = value;
        break;
      case 'C':
        out.code = value;
        break;
      case 'M':
        out.message = value;
        break;
      case 'D':
        out.detail = value;
        break;
      case 'H':
        out.hint = value;
        break;
      default:
        break;
    }
  }
  return out;
}

}  // namespace pgsteer::protocol
