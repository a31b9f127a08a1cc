// Message type bytes, non-owning views of the messages the proxy must read, and builders for the
// messages it writes. Views point into the message body they were parsed from and live no longer
// than it. A parse function returns nullopt for a malformed body; it never throws, and never
// allocates more than the body's size justifies.
//
// Builders append one whole message to `out`, computing the length while writing. Their inputs
// are the caller's to bound: counts are Int16 on the wire (at most 65535 columns, parameters or
// values) and a message stays under the peer's maximum size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgsteer::protocol {

namespace frontend {
inline constexpr char query = 'Q';
inline constexpr char parse = 'P';
inline constexpr char bind = 'B';
inline constexpr char describe = 'D';
inline constexpr char execute = 'E';
inline constexpr char close = 'C';
inline constexpr char sync = 'S';
inline constexpr char flush = 'H';
inline constexpr char terminate = 'X';
inline constexpr char copy_data = 'd';
inline constexpr char copy_done = 'c';
inline constexpr char copy_fail = 'f';
inline constexpr char function_call = 'F';
inline constexpr char password_message = 'p';  // also SASLInitialResponse and SASLResponse
}  // namespace frontend

namespace backend {
inline constexpr char authentication = 'R';
inline constexpr char backend_key_data = 'K';
inline constexpr char parameter_status = 'S';
inline constexpr char ready_for_query = 'Z';
inline constexpr char error_response = 'E';
inline constexpr char notice_response = 'N';
inline constexpr char row_description = 'T';
inline constexpr char data_row = 'D';
inline constexpr char command_complete = 'C';
inline constexpr char parse_complete = '1';
inline constexpr char bind_complete = '2';
inline constexpr char close_complete = '3';
inline constexpr char no_data = 'n';
inline constexpr char parameter_description = 't';
inline constexpr char portal_suspended = 's';
inline constexpr char empty_query_response = 'I';
inline constexpr char copy_in_response = 'G';
inline constexpr char copy_out_response = 'H';
inline constexpr char copy_both_response = 'W';
inline constexpr char copy_data = 'd';
inline constexpr char copy_done = 'c';
inline constexpr char notification_response = 'A';
inline constexpr char negotiate_protocol_version = 'v';
inline constexpr char function_call_response = 'V';
}  // namespace backend

// Authentication request codes (the Int32 after 'R').
enum class auth_code : std::int32_t {
  ok = 0,
  kerberos_v5 = 2,
  cleartext_password = 3,
  md5_password = 5,
  scm_credential = 6,
  gss = 7,
  gss_continue = 8,
  sspi = 9,
  sasl = 10,
  sasl_continue = 11,
  sasl_final = 12,
};

// ---- frontend views ----

struct query_view {
  std::string_view sql;
};
std::optional<query_view> parse_query(std::string_view body);

struct parse_view {
  std::string_view statement;  // "" is the unnamed statement
  std::string_view query;
  std::uint16_t parameter_count = 0;
  std::string_view parameter_types;  // parameter_count Int32 OIDs, raw

  // The i-th parameter type OID (0 = unspecified); i < parameter_count.
  std::uint32_t parameter_type(std::size_t i) const;
};
std::optional<parse_view> parse_parse(std::string_view body);

struct bind_view {
  std::string_view portal;
  std::string_view statement;
  // Everything after the statement name (formats, values, result formats), raw: a statement name
  // can be rewritten without re-encoding the parameters.
  std::string_view rest;
};
std::optional<bind_view> parse_bind(std::string_view body);

// Describe and Close share a layout: 'S' (statement) or 'P' (portal), then a name.
struct target_view {
  char kind = 'S';
  std::string_view name;
};
std::optional<target_view> parse_describe(std::string_view body);
std::optional<target_view> parse_close(std::string_view body);

struct execute_view {
  std::string_view portal;
  std::int32_t max_rows = 0;
};
std::optional<execute_view> parse_execute(std::string_view body);

struct copy_fail_view {
  std::string_view message;
};
std::optional<copy_fail_view> parse_copy_fail(std::string_view body);

struct sasl_initial_response_view {
  std::string_view mechanism;
  std::optional<std::string_view> data;  // absent when the length field is -1
};
std::optional<sasl_initial_response_view> parse_sasl_initial_response(std::string_view body);

// PasswordMessage: a NUL-terminated password (cleartext or "md5...").
std::optional<std::string_view> parse_password_message(std::string_view body);

// FunctionCall: the function OID, then argument formats, arguments and the result format,
// checked for structure and kept raw in `rest`.
struct function_call_view {
  std::int32_t function_oid = 0;
  std::string_view rest;
  std::int16_t result_format = 0;
};
std::optional<function_call_view> parse_function_call(std::string_view body);

// ---- backend views ----

struct authentication_view {
  auth_code code = auth_code::ok;
  std::string_view data;  // md5: 4-byte salt; SASL: mechanism list; continue/final: SCRAM data
};
std::optional<authentication_view> parse_authentication(std::string_view body);
// The mechanisms of an AuthenticationSASL body's data.
std::vector<std::string_view> sasl_mechanisms(std::string_view data);

struct backend_key_data_view {
  std::int32_t process_id = 0;
  std::int32_t secret_key = 0;
};
std::optional<backend_key_data_view> parse_backend_key_data(std::string_view body);

struct parameter_status_view {
  std::string_view name;
  std::string_view value;
};
std::optional<parameter_status_view> parse_parameter_status(std::string_view body);

// 'I' idle, 'T' in a transaction block, 'E' in a failed transaction block.
std::optional<char> parse_ready_for_query(std::string_view body);

struct command_complete_view {
  std::string_view tag;
};
std::optional<command_complete_view> parse_command_complete(std::string_view body);

struct column_description {
  std::string_view name;
  std::uint32_t table_oid = 0;
  std::int16_t column = 0;
  std::uint32_t type_oid = 0;
  std::int16_t type_size = 0;
  std::int32_t type_modifier = 0;
  std::int16_t format = 0;
};
std::optional<std::vector<column_description>> parse_row_description(std::string_view body);

// DataRow values; nullopt for SQL NULL.
std::optional<std::vector<std::optional<std::string_view>>> parse_data_row(std::string_view body);

std::optional<std::vector<std::uint32_t>> parse_parameter_description(std::string_view body);

struct copy_response_view {
  std::int8_t format = 0;
  std::vector<std::int16_t> column_formats;
};
std::optional<copy_response_view> parse_copy_response(std::string_view body);

struct notification_view {
  std::int32_t process_id = 0;
  std::string_view channel;
  std::string_view payload;
};
std::optional<notification_view> parse_notification_response(std::string_view body);

struct negotiate_protocol_version_view {
  std::int32_t newest_minor = 0;
  std::vector<std::string_view> unrecognized_options;
};
std::optional<negotiate_protocol_version_view> parse_negotiate_protocol_version(
    std::string_view body);

// FunctionCallResponse: the result value, nullopt inside for SQL NULL.
std::optional<std::optional<std::string_view>> parse_function_call_response(std::string_view body);

// ---- builders: each appends one whole message to `out` ----

// frontend
void write_query(std::string& out, std::string_view sql);
void write_parse(std::string& out, std::string_view statement, std::string_view query,
                 const std::vector<std::uint32_t>& parameter_types = {});
void write_parse(std::string& out, const parse_view& parse, std::string_view new_statement);
void write_bind(std::string& out, const bind_view& bind, std::string_view new_statement);
// A Bind of text-format parameter values (nullopt = NULL) asking for text results.
void write_bind(std::string& out, std::string_view portal, std::string_view statement,
                const std::vector<std::optional<std::string_view>>& values = {});
void write_describe(std::string& out, char kind, std::string_view name);
void write_close(std::string& out, char kind, std::string_view name);
void write_execute(std::string& out, std::string_view portal, std::int32_t max_rows);
void write_sync(std::string& out);
void write_flush(std::string& out);
void write_terminate(std::string& out);
void write_copy_data(std::string& out, std::string_view data);
void write_copy_done(std::string& out);
void write_copy_fail(std::string& out, std::string_view message);
void write_password_message(std::string& out, std::string_view password);
void write_sasl_initial_response(std::string& out, std::string_view mechanism,
                                 std::string_view data);
void write_sasl_response(std::string& out, std::string_view data);
// A FunctionCall with text-format arguments (nullopt = NULL) asking for a text result.
void write_function_call(std::string& out, std::int32_t function_oid,
                         const std::vector<std::optional<std::string_view>>& arguments = {});

// backend
void write_authentication_ok(std::string& out);
void write_authentication_cleartext_password(std::string& out);
void write_authentication_md5_password(std::string& out, std::string_view salt4);
void write_authentication_sasl(std::string& out, const std::vector<std::string_view>& mechanisms);
void write_authentication_sasl_continue(std::string& out, std::string_view data);
void write_authentication_sasl_final(std::string& out, std::string_view data);
void write_backend_key_data(std::string& out, std::int32_t process_id, std::int32_t secret_key);
void write_parameter_status(std::string& out, std::string_view name, std::string_view value);
void write_ready_for_query(std::string& out, char status);
void write_command_complete(std::string& out, std::string_view tag);
void write_parse_complete(std::string& out);
void write_bind_complete(std::string& out);
void write_close_complete(std::string& out);
void write_no_data(std::string& out);
void write_empty_query_response(std::string& out);
void write_portal_suspended(std::string& out);
void write_parameter_description(std::string& out, const std::vector<std::uint32_t>& types);
// A RowDescription of text columns of the given type OIDs (25 = text, 20 = int8).
void write_row_description(std::string& out,
                           const std::vector<std::pair<std::string_view, std::uint32_t>>& columns);
void write_data_row(std::string& out, const std::vector<std::optional<std::string_view>>& values);
void write_copy_in_response(std::string& out, std::int8_t format,
                            const std::vector<std::int16_t>& column_formats);
void write_copy_out_response(std::string& out, std::int8_t format,
                             const std::vector<std::int16_t>& column_formats);
void write_copy_both_response(std::string& out, std::int8_t format,
                              const std::vector<std::int16_t>& column_formats);
void write_function_call_response(std::string& out, std::optional<std::string_view> value);
void write_notification_response(std::string& out, std::int32_t process_id,
                                 std::string_view channel, std::string_view payload);
void write_negotiate_protocol_version(std::string& out, std::int32_t newest_minor,
                                      const std::vector<std::string>& unrecognized_options);

}  // namespace pgsteer::protocol
