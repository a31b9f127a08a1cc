// ErrorResponse and NoticeResponse: the fields a person reads (severity, SQLSTATE, message,
// detail, hint) and a builder so that every refusal pgsteer makes looks like PostgreSQL's own.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgsteer::protocol {

// The field type bytes of ErrorResponse and NoticeResponse, as in the protocol documentation.
namespace error_field {
inline constexpr char severity = 'S';
inline constexpr char severity_nonlocalized = 'V';
inline constexpr char code = 'C';
inline constexpr char message = 'M';
inline constexpr char detail = 'D';
inline constexpr char hint = 'H';
inline constexpr char position = 'P';
inline constexpr char internal_position = 'p';
inline constexpr char internal_query = 'q';
inline constexpr char where = 'W';
inline constexpr char schema_name = 's';
inline constexpr char table_name = 't';
inline constexpr char column_name = 'c';
inline constexpr char data_type_name = 'd';
inline constexpr char constraint_name = 'n';
inline constexpr char file = 'F';
inline constexpr char line = 'L';
inline constexpr char routine = 'R';
}  // namespace error_field

struct error_fields {
  std::string severity = "ERROR";  // ERROR, FATAL, PANIC, WARNING, NOTICE, ...
  std::string code;                // SQLSTATE
  std::string message;
  std::string detail;
  std::string hint;
};

// An error as pgsteer's refusals spell it: severity ("ERROR", "FATAL"), SQLSTATE, words.
error_fields make_error(std::string_view severity, std::string_view code, std::string message,
                        std::string detail = {}, std::string hint = {});

// Appends an ErrorResponse ('E'); `V` (non-localised severity) is sent as PostgreSQL does.
void write_error_response(std::string& out, const error_fields& fields);
void write_notice_response(std::string& out, const error_fields& fields);
// Any fields, in the order given ('E' or 'N' as `type`): for rebuilding a server's message with
// every field it had. A field type byte 0 would end the list early: it is skipped.
void write_error_fields(std::string& out, char type,
                        const std::vector<std::pair<char, std::string_view>>& fields);

// Every field of an ErrorResponse/NoticeResponse body, as (type byte, value) pairs; views into
// `body`. nullopt when the body is malformed.
std::optional<std::vector<std::pair<char, std::string_view>>> parse_error_fields(
    std::string_view body);

// The common fields of a parsed body, copied; the severity is the non-localised `V` when present
// (servers since 9.6 send it), else `S`.
error_fields to_error_fields(const std::vector<std::pair<char, std::string_view>>& fields);

}  // namespace pgsteer::protocol
