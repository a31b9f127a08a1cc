// Fuzzes every message view with the first byte choosing the message type. A view that accepts a
// body must describe it exactly: rebuilding the message from the view gives the same bytes back,
// and rewriting Parse/Bind with a new statement name parses again.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pgsteer/protocol/error_response.hpp"
#include "pgsteer/protocol/messages.hpp"

namespace {

using namespace pgsteer::protocol;

// The body of the single message `out` holds must be `body`.
void expect_body(const std::string& out, std::string_view body) {
  if (out.size() < 5 || std::string_view(out).substr(5) != body) __builtin_trap();
}

void check_frontend(std::uint8_t selector, std::string_view body) {
  std::string out;
  switch (selector) {
    case 0:
      if (const auto v = parse_query(body)) {
        write_query(out, v->sql);
        expect_body(out, body);
      }
      break;
    case 1:
      if (const auto v = parse_parse(body)) {
        write_parse(out, *v, v->statement);
        expect_body(out, body);
        for (std::size_t i = 0; i < v->parameter_count; ++i) (void)v->parameter_type(i);
        out.clear();
        write_parse(out, *v, "pgsteer_s1");
        if (!parse_parse(std::string_view(out).substr(5))) __builtin_trap();
      }
      break;
    case 2:
      if (const auto v = parse_bind(body)) {
        write_bind(out, *v, v->statement);
        expect_body(out, body);
        out.clear();
        write_bind(out, *v, "pgsteer_s1");
        const auto renamed = parse_bind(std::string_view(out).substr(5));
        if (!renamed || renamed->rest != v->rest || renamed->statement != "pgsteer_s1") {
          __builtin_trap();
        }
      }
      break;
    case 3:
    case 4:
      if (const auto v = selector == 3 ? parse_describe(body) : parse_close(body)) {
        if (selector == 3) {
          write_describe(out, v->kind, v->name);
        } else {
          write_close(out, v->kind, v->name);
        }
        expect_body(out, body);
      }
      break;
    case 5:
      if (const auto v = parse_execute(body)) {
        write_execute(out, v->portal, v->max_rows);
        expect_body(out, body);
      }
      break;
    case 6:
      if (const auto v = parse_copy_fail(body)) {
        write_copy_fail(out, v->message);
        expect_body(out, body);
      }
      break;
    case 7:
      if (const auto v = parse_sasl_initial_response(body); v && v->data) {
        write_sasl_initial_response(out, v->mechanism, *v->data);
        expect_body(out, body);
      }
      break;
    case 8:
      if (const auto v = parse_password_message(body)) {
        write_password_message(out, *v);
        expect_body(out, body);
      }
      break;
    default:
      if (const auto v = parse_function_call(body)) {
        if (v->rest.size() + 4 != body.size() || v->rest.size() < 6) __builtin_trap();
      }
      break;
  }
}

void check_backend(std::uint8_t selector, std::string_view body) {
  std::string out;
  switch (selector) {
    case 0:
      if (const auto v = parse_authentication(body)) {
        switch (v->code) {
          case auth_code::ok:
            write_authentication_ok(out);
            break;
          case auth_code::cleartext_password:
            write_authentication_cleartext_password(out);
            break;
          case auth_code::md5_password:
            write_authentication_md5_password(out, v->data);
            break;
          case auth_code::sasl_continue:
            write_authentication_sasl_continue(out, v->data);
            break;
          case auth_code::sasl_final:
            write_authentication_sasl_final(out, v->data);
            break;
          default:
            for (const auto m : sasl_mechanisms(v->data)) {
              if (m.empty() || m.size() > v->data.size()) __builtin_trap();
            }
            return;
        }
        expect_body(out, body);
      }
      break;
    case 1:
      if (const auto v = parse_backend_key_data(body)) {
        write_backend_key_data(out, v->process_id, v->secret_key);
        expect_body(out, body);
      }
      break;
    case 2:
      if (const auto v = parse_parameter_status(body)) {
        write_parameter_status(out, v->name, v->value);
        expect_body(out, body);
      }
      break;
    case 3:
      if (const auto v = parse_ready_for_query(body)) {
        write_ready_for_query(out, *v);
        expect_body(out, body);
      }
      break;
    case 4:
      if (const auto v = parse_command_complete(body)) {
        write_command_complete(out, v->tag);
        expect_body(out, body);
      }
      break;
    case 5:
      if (const auto v = parse_row_description(body)) {
        if (v->size() * 19 > body.size()) __builtin_trap();
      }
      break;
    case 6:
      if (const auto v = parse_data_row(body)) {
        write_data_row(out, *v);
        expect_body(out, body);
      }
      break;
    case 7:
      if (const auto v = parse_parameter_description(body)) {
        write_parameter_description(out, *v);
        expect_body(out, body);
      }
      break;
    case 8:
      if (const auto v = parse_copy_response(body)) {
        write_copy_in_response(out, v->format, v->column_formats);
        expect_body(out, body);
      }
      break;
    case 9:
      if (const auto v = parse_notification_response(body)) {
        write_notification_response(out, v->process_id, v->channel, v->payload);
        expect_body(out, body);
      }
      break;
    case 10:
      if (const auto v = parse_negotiate_protocol_version(body)) {
        write_negotiate_protocol_version(out, v->newest_minor,
                                         std::vector<std::string>(v->unrecognized_options.begin(),
                                                                  v->unrecognized_options.end()));
        expect_body(out, body);
      }
      break;
    case 11:
      if (const auto v = parse_function_call_response(body)) {
        write_function_call_response(out, *v);
        expect_body(out, body);
      }
      break;
    default:
      if (const auto v = parse_error_fields(body)) {
        (void)to_error_fields(*v);
        write_error_fields(out, 'E', *v);
        expect_body(out, body);
      }
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  // Low bit: frontend or backend; the rest picks the message.
  const auto selector = static_cast<std::uint8_t>(data[0] >> 1);
  if (data[0] & 1) {
    check_backend(static_cast<std::uint8_t>(selector % 13), body);
  } else {
    check_frontend(static_cast<std::uint8_t>(selector % 10), body);
  }
  return 0;
}
