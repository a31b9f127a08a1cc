// Fuzzes every message view with the first byte choosing the message type; a view that accepts a
// body must describe it within the body's bounds, and rewriting Parse/Bind must re-parse.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "pgsteer/protocol/error_response.hpp"
#include "pgsteer/protocol/messages.hpp"

using namespace pgsteer::protocol;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string out;
  switch (data[0] % 20) {
    case 0:
      (void)parse_query(body);
      break;
    case 1:
      if (const auto p = parse_parse(body)) {
        write_parse(out, *p, "pgsteer_s1");
        if (!parse_parse(std::string_view(out).substr(5))) __builtin_trap();
      }
      break;
    case 2:
      if (const auto b = parse_bind(body)) {
        write_bind(out, *b, "pgsteer_s1");
        if (!parse_bind(std::string_view(out).substr(5))) __builtin_trap();
      }
      break;
    case 3:
      (void)parse_describe(body);
      break;
    case 4:
      (void)parse_close(body);
      break;
    case 5:
      (void)parse_execute(body);
      break;
    case 6:
      (void)parse_copy_fail(body);
      break;
    case 7:
      (void)parse_sasl_initial_response(body);
      break;
    case 8:
      (void)parse_password_message(body);
      break;
    case 9:
      (void)parse_function_call(body);
      break;
    case 10:
      if (const auto a = parse_authentication(body)) (void)sasl_mechanisms(a->data);
      break;
    case 11:
      (void)parse_backend_key_data(body);
      break;
    case 12:
      (void)parse_parameter_status(body);
      break;
    case 13:
      (void)parse_ready_for_query(body);
      break;
    case 14:
      (void)parse_command_complete(body);
      break;
    case 15:
      (void)parse_row_description(body);
      break;
    case 16:
      (void)parse_data_row(body);
      break;
    case 17:
      (void)parse_parameter_description(body);
      break;
    case 18:
      (void)parse_copy_response(body);
      break;
    default:
      if (const auto f = parse_error_fields(body)) (void)to_error_fields(*f);
      (void)parse_notification_response(body);
      (void)parse_negotiate_protocol_version(body);
      break;
  }
  return 0;
}
