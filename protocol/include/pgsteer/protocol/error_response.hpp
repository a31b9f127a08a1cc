// ErrorResponse and NoticeResponse: the fields a person reads (severity, SQLSTATE, message,
// detail, hint) and a builder so that every refusal pgsteer makes looks like PostgreSQL's own.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgsteer::protocol {

struct error_fields {
  std::string severity = "ERROR";  // ERROR, FATAL, PANIC, WARNING, NOTICE, ...
  std::string code;                // SQLSTATE
  std::string message;
  std::string detail;
  std::string hint;
};

// Appends an ErrorResponse ('E'); `V` (non-localised severity) is sent as PostgreSQL does.
void write_error_response(std::string& out, const error_fields& fields);
void write_notice_response(std::string& out, const error_fields& fields);

// Every field of an ErrorResponse/NoticeResponse body, as (type byte, value) pairs; views into
// `body`. nullopt when the body is malformed.
std::optional<std::vector<std::pair<char, std::string_view>>> parse_error_fields(
    std::string_view body);

// The common fields of a parsed body, copied.
error_fields to_error_fields(const std::vector<std::pair<char, std::string_view>>& fields);

}  // namespace pgsteer::protocol
