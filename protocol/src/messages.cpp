// Views and builders of protocol messages (see messages.hpp). Every view checks that the body is
// consumed exactly: trailing bytes make a message malformed, as they do for PostgreSQL.
#include "pgsteer/protocol/messages.hpp"

#include "pgsteer/protocol/builder.hpp"
#include "pgsteer/protocol/wire.hpp"

namespace pgsteer::protocol {
namespace {

template <typename T>
std::optional<T> finished(wire_reader& r, T value) {
  if (!r.at_end()) return std::nullopt;
  return value;
}

std::optional<target_view> parse_target(std::string_view body) {
  wire_reader r(body);
  const auto kind = r.u8();
  const auto name = r.cstring();
  if (!kind || !name || (*kind != 'S' && *kind != 'P')) return std::nullopt;
  return finished(r, target_view{static_cast<char>(*kind), *name});
}

// Int16 count + Int16 formats, then Int16 count + (Int32 length or -1, bytes) values: the shared
// middle of Bind and FunctionCall.
bool skip_formats_and_values(wire_reader& r) {
  const auto formats = r.u16();
  if (!formats || !r.bytes(std::size_t{*formats} * 2)) return false;
  const auto values = r.u16();
  if (!values) return false;
  for (std::uint16_t i = 0; i < *values; ++i) {
    const auto len = r.i32();
    if (!len || *len < -1) return false;
    if (*len > 0 && !r.bytes(static_cast<std::size_t>(*len))) return false;
  }
  return true;
}

void put_text_values(message_builder& b,
                     const std::vector<std::optional<std::string_view>>& values) {
  b.u16(0);  // no format codes: all text
  b.u16(static_cast<std::uint16_t>(values.size()));
  for (const auto& v : values) {
    if (!v) {
      b.i32(-1);
    } else {
      b.i32(static_cast<std::int32_t>(v->size())).bytes(*v);
    }
  }
}

void write_empty(std::string& out, char type) {
  message_builder(out, type);
}

void write_copy_response(std::string& out, char type, std::int8_t format,
                         const std::vector<std::int16_t>& column_formats) {
  message_builder b(out, type);
  b.u8(static_cast<std::uint8_t>(format)).u16(static_cast<std::uint16_t>(column_formats.size()));
  for (const auto f : column_formats) b.i16(f);
}

}  // namespace

std::optional<query_view> parse_query(std::string_view body) {
  wire_reader r(body);
  const auto sql = r.cstring();
  if (!sql) return std::nullopt;
  return finished(r, query_view{*sql});
}

std::optional<parse_view> parse_parse(std::string_view body) {
  wire_reader r(body);
  const auto name = r.cstring();
  const auto query = r.cstring();
  const auto count = r.u16();
  if (!count) return std::nullopt;
  const auto types = r.bytes(std::size_t{*count} * 4);
  if (!name || !query || !types) return std::nullopt;
  return finished(r, parse_view{*name, *query, *count, *types});
}

std::optional<bind_view> parse_bind(std::string_view body) {
  wire_reader r(body);
  const auto portal = r.cstring();
  const auto statement = r.cstring();
  if (!portal || !statement) return std::nullopt;
  const auto rest = r.rest();
  // Validate the rest's structure so that a rewritten Bind is as well-formed as the original.
  wire_reader v(rest);
  if (!skip_formats_and_values(v)) return std::nullopt;
  const auto result_formats = v.u16();
  if (!result_formats || !v.bytes(std::size_t{*result_formats} * 2) || !v.at_end()) {
    return std::nullopt;
  }
  return bind_view{*portal, *statement, rest};
}

std::optional<target_view> parse_describe(std::string_view body) {
  return parse_target(body);
}
std::optional<target_view> parse_close(std::string_view body) {
  return parse_target(body);
}

std::optional<execute_view> parse_execute(std::string_view body) {
  wire_reader r(body);
  const auto portal = r.cstring();
  const auto rows = r.i32();
  if (!portal || !rows) return std::nullopt;
  return finished(r, execute_view{*portal, *rows});
}

std::optional<copy_fail_view> parse_copy_fail(std::string_view body) {
  wire_reader r(body);
  const auto message = r.cstring();
  if (!message) return std::nullopt;
  return finished(r, copy_fail_view{*message});
}

std::optional<sasl_initial_response_view> parse_sasl_initial_response(std::string_view body) {
  wire_reader r(body);
  const auto mechanism = r.cstring();
  const auto len = r.i32();
  if (!mechanism || !len || *len < -1) return std::nullopt;
  sasl_initial_response_view v{*mechanism, std::nullopt};
  if (*len >= 0) {
    const auto data = r.bytes(static_cast<std::size_t>(*len));
    if (!data) return std::nullopt;
    v.data = *data;
  }
  return finished(r, v);
}

std::optional<std::string_view> parse_password_message(std::string_view body) {
  wire_reader r(body);
  const auto password = r.cstring();
  if (!password) return std::nullopt;
  return finished(r, *password);
}

std::optional<function_call_view> parse_function_call(std::string_view body) {
  wire_reader r(body);
  const auto oid = r.i32();
  if (!oid) return std::nullopt;
  const auto rest = body.substr(r.position());
  if (!skip_formats_and_values(r)) return std::nullopt;
  const auto result_format = r.i16();
  if (!result_format) return std::nullopt;
  return finished(r, function_call_view{*oid, rest, *result_format});
}

std::uint32_t parse_view::parameter_type(std::size_t i) const {
  if (i >= parameter_count || (i + 1) * 4 > parameter_types.size()) return 0;
  return load_u32(parameter_types.data() + i * 4);
}

std::optional<authentication_view> parse_authentication(std::string_view body) {
  wire_reader r(body);
  const auto code = r.i32();
  if (!code) return std::nullopt;
  const auto data = r.rest();
  switch (static_cast<auth_code>(*code)) {
    case auth_code::ok:
    case auth_code::cleartext_password:
      if (!data.empty()) return std::nullopt;
      break;
    case auth_code::md5_password:
      if (data.size() != 4) return std::nullopt;
      break;
    case auth_code::sasl:
    case auth_code::sasl_continue:
    case auth_code::sasl_final:
      break;
    default:
      // Other methods (GSS, SSPI, ...) are reported as they are; the caller refuses them.
      break;
  }
  return authentication_view{static_cast<auth_code>(*code), data};
}

std::vector<std::string_view> sasl_mechanisms(std::string_view data) {
  std::vector<std::string_view> out;
  wire_reader r(data);
  while (r.remaining() > 0) {
    const auto m = r.cstring();
    if (!m || m->empty()) break;
    out.push_back(*m);
  }
  return out;
}

std::optional<backend_key_data_view> parse_backend_key_data(std::string_view body) {
  wire_reader r(body);
  const auto pid = r.i32();
  const auto key = r.i32();
  if (!pid || !key) return std::nullopt;
  return finished(r, backend_key_data_view{*pid, *key});
}

std::optional<parameter_status_view> parse_parameter_status(std::string_view body) {
  wire_reader r(body);
  const auto name = r.cstring();
  const auto value = r.cstring();
  if (!name || !value) return std::nullopt;
  return finished(r, parameter_status_view{*name, *value});
}

std::optional<char> parse_ready_for_query(std::string_view body) {
  if (body.size() != 1) return std::nullopt;
  const char s = body[0];
  if (s != 'I' && s != 'T' && s != 'E') return std::nullopt;
  return s;
}

std::optional<command_complete_view> parse_command_complete(std::string_view body) {
  wire_reader r(body);
  const auto tag = r.cstring();
  if (!tag) return std::nullopt;
  return finished(r, command_complete_view{*tag});
}

std::optional<std::vector<column_description>> parse_row_description(std::string_view body) {
  wire_reader r(body);
  const auto count = r.u16();
  if (!count) return std::nullopt;
  // Each column takes at least 19 bytes: bound the reservation by what the body can hold.
  if (std::size_t{*count} * 19 > r.remaining()) return std::nullopt;
  std::vector<column_description> columns;
  columns.reserve(*count);
  for (std::uint16_t i = 0; i < *count; ++i) {
    const auto name = r.cstring();
    const auto table = r.u32();
    const auto column = r.i16();
    const auto type = r.u32();
    const auto size = r.i16();
    const auto modifier = r.i32();
    const auto format = r.i16();
    if (!name || !table || !column || !type || !size || !modifier || !format) return std::nullopt;
    columns.push_back({*name, *table, *column, *type, *size, *modifier, *format});
  }
  return finished(r, std::move(columns));
}

std::optional<std::vector<std::optional<std::string_view>>> parse_data_row(std::string_view body) {
  wire_reader r(body);
  const auto count = r.u16();
  if (!count || std::size_t{*count} * 4 > r.remaining()) return std::nullopt;
  std::vector<std::optional<std::string_view>> values;
  values.reserve(*count);
  for (std::uint16_t i = 0; i < *count; ++i) {
    const auto len = r.i32();
    if (!len || *len < -1) return std::nullopt;
    if (*len == -1) {
      values.emplace_back(std::nullopt);
      continue;
    }
    const auto value = r.bytes(static_cast<std::size_t>(*len));
    if (!value) return std::nullopt;
    values.emplace_back(*value);
  }
  return finished(r, std::move(values));
}

std::optional<std::vector<std::uint32_t>> parse_parameter_description(std::string_view body) {
  wire_reader r(body);
  const auto count = r.u16();
  if (!count || std::size_t{*count} * 4 != r.remaining()) return std::nullopt;
  std::vector<std::uint32_t> types;
  types.reserve(*count);
  for (std::uint16_t i = 0; i < *count; ++i) types.push_back(*r.u32());
  return types;
}

std::optional<copy_response_view> parse_copy_response(std::string_view body) {
  wire_reader r(body);
  const auto format = r.u8();
  const auto count = r.u16();
  if (!format || !count || *format > 1 || std::size_t{*count} * 2 != r.remaining()) {
    return std::nullopt;
  }
  copy_response_view v{static_cast<std::int8_t>(*format), {}};
  v.column_formats.reserve(*count);
  for (std::uint16_t i = 0; i < *count; ++i) v.column_formats.push_back(*r.i16());
  return v;
}

std::optional<notification_view> parse_notification_response(std::string_view body) {
  wire_reader r(body);
  const auto pid = r.i32();
  const auto channel = r.cstring();
  const auto payload = r.cstring();
  if (!pid || !channel || !payload) return std::nullopt;
  return finished(r, notification_view{*pid, *channel, *payload});
}

std::optional<negotiate_protocol_version_view> parse_negotiate_protocol_version(
    std::string_view body) {
  wire_reader r(body);
  const auto minor = r.i32();
  const auto count = r.i32();
  if (!minor || !count || *count < 0 || static_cast<std::size_t>(*count) > r.remaining()) {
    return std::nullopt;
  }
  negotiate_protocol_version_view v{*minor, {}};
  for (std::int32_t i = 0; i < *count; ++i) {
    const auto option = r.cstring();
    if (!option) return std::nullopt;
    v.unrecognized_options.push_back(*option);
  }
  return finished(r, std::move(v));
}

std::optional<std::optional<std::string_view>> parse_function_call_response(std::string_view body) {
  wire_reader r(body);
  const auto len = r.i32();
  if (!len || *len < -1) return std::nullopt;
  if (*len == -1) return finished(r, std::optional<std::string_view>{});
  const auto value = r.bytes(static_cast<std::size_t>(*len));
  if (!value) return std::nullopt;
  return finished(r, std::optional<std::string_view>{*value});
}

// ---- frontend builders ----

void write_query(std::string& out, std::string_view sql) {
  message_builder(out, frontend::query).cstring(sql);
}

void write_parse(std::string& out, std::string_view statement, std::string_view query,
                 const std::vector<std::uint32_t>& parameter_types) {
  message_builder b(out, frontend::parse);
  b.cstring(statement).cstring(query).u16(static_cast<std::uint16_t>(parameter_types.size()));
  for (const auto t : parameter_types) b.u32(t);
}

void write_parse(std::string& out, const parse_view& parse, std::string_view new_statement) {
  message_builder(out, frontend::parse)
      .cstring(new_statement)
      .cstring(parse.query)
      .u16(parse.parameter_count)
      .bytes(parse.parameter_types);
}

void write_bind(std::string& out, const bind_view& bind, std::string_view new_statement) {
  message_builder(out, frontend::bind).cstring(bind.portal).cstring(new_statement).bytes(bind.rest);
}

void write_bind(std::string& out, std::string_view portal, std::string_view statement,
                const std::vector<std::optional<std::string_view>>& values) {
  message_builder b(out, frontend::bind);
  b.cstring(portal).cstring(statement);
  put_text_values(b, values);
  b.u16(0);  // results in text
}

void write_function_call(std::string& out, std::int32_t function_oid,
                         const std::vector<std::optional<std::string_view>>& arguments) {
  message_builder b(out, frontend::function_call);
  b.i32(function_oid);
  put_text_values(b, arguments);
  b.i16(0);  // result in text
}

void write_describe(std::string& out, char kind, std::string_view name) {
  message_builder(out, frontend::describe).u8(static_cast<std::uint8_t>(kind)).cstring(name);
}

void write_close(std::string& out, char kind, std::string_view name) {
  message_builder(out, frontend::close).u8(static_cast<std::uint8_t>(kind)).cstring(name);
}

void write_execute(std::string& out, std::string_view portal, std::int32_t max_rows) {
  message_builder(out, frontend::execute).cstring(portal).i32(max_rows);
}

void write_sync(std::string& out) {
  write_empty(out, frontend::sync);
}
void write_flush(std::string& out) {
  write_empty(out, frontend::flush);
}
void write_terminate(std::string& out) {
  write_empty(out, frontend::terminate);
}

void write_copy_data(std::string& out, std::string_view data) {
  message_builder(out, frontend::copy_data).bytes(data);
}

void write_copy_done(std::string& out) {
  write_empty(out, frontend::copy_done);
}

void write_copy_fail(std::string& out, std::string_view message) {
  message_builder(out, frontend::copy_fail).cstring(message);
}

void write_password_message(std::string& out, std::string_view password) {
  message_builder(out, frontend::password_message).cstring(password);
}

void write_sasl_initial_response(std::string& out, std::string_view mechanism,
                                 std::string_view data) {
  message_builder(out, frontend::password_message)
      .cstring(mechanism)
      .i32(static_cast<std::int32_t>(data.size()))
      .bytes(data);
}

void write_sasl_response(std::string& out, std::string_view data) {
  message_builder(out, frontend::password_message).bytes(data);
}

// ---- backend builders ----

namespace {
void write_auth(std::string& out, auth_code code, std::string_view data) {
  message_builder(out, backend::authentication).i32(static_cast<std::int32_t>(code)).bytes(data);
}
}  // namespace

void write_authentication_ok(std::string& out) {
  write_auth(out, auth_code::ok, {});
}
void write_authentication_cleartext_password(std::string& out) {
  write_auth(out, auth_code::cleartext_password, {});
}
void write_authentication_md5_password(std::string& out, std::string_view salt4) {
  write_auth(out, auth_code::md5_password, salt4.substr(0, 4));
}

void write_authentication_sasl(std::string& out, const std::vector<std::string_view>& mechanisms) {
  message_builder b(out, backend::authentication);
  b.i32(static_cast<std::int32_t>(auth_code::sasl));
  for (const auto m : mechanisms) b.cstring(m);
  b.u8(0);
}

void write_authentication_sasl_continue(std::string& out, std::string_view data) {
  write_auth(out, auth_code::sasl_continue, data);
}

void write_authentication_sasl_final(std::string& out, std::string_view data) {
  write_auth(out, auth_code::sasl_final, data);
}

void write_backend_key_data(std::string& out, std::int32_t process_id, std::int32_t secret_key) {
  message_builder(out, backend::backend_key_data).i32(process_id).i32(secret_key);
}

void write_parameter_status(std::string& out, std::string_view name, std::string_view value) {
  message_builder(out, backend::parameter_status).cstring(name).cstring(value);
}

void write_ready_for_query(std::string& out, char status) {
  message_builder(out, backend::ready_for_query).u8(static_cast<std::uint8_t>(status));
}

void write_command_complete(std::string& out, std::string_view tag) {
  message_builder(out, backend::command_complete).cstring(tag);
}

void write_parse_complete(std::string& out) {
  write_empty(out, backend::parse_complete);
}
void write_bind_complete(std::string& out) {
  write_empty(out, backend::bind_complete);
}
void write_close_complete(std::string& out) {
  write_empty(out, backend::close_complete);
}
void write_no_data(std::string& out) {
  write_empty(out, backend::no_data);
}
void write_empty_query_response(std::string& out) {
  write_empty(out, backend::empty_query_response);
}
void write_portal_suspended(std::string& out) {
  write_empty(out, backend::portal_suspended);
}

void write_parameter_description(std::string& out, const std::vector<std::uint32_t>& types) {
  message_builder b(out, backend::parameter_description);
  b.u16(static_cast<std::uint16_t>(types.size()));
  for (const auto t : types) b.u32(t);
}

void write_row_description(std::string& out,
                           const std::vector<std::pair<std::string_view, std::uint32_t>>& columns) {
  message_builder b(out, backend::row_description);
  b.u16(static_cast<std::uint16_t>(columns.size()));
  for (const auto& [name, type] : columns) {
    b.cstring(name).u32(0).i16(0).u32(type).i16(-1).i32(-1).i16(0);
  }
}

void write_data_row(std::string& out, const std::vector<std::optional<std::string_view>>& values) {
  message_builder b(out, backend::data_row);
  b.u16(static_cast<std::uint16_t>(values.size()));
  for (const auto& v : values) {
    if (!v) {
      b.i32(-1);
    } else {
      b.i32(static_cast<std::int32_t>(v->size())).bytes(*v);
    }
  }
}

void write_copy_in_response(std::string& out, std::int8_t format,
                            const std::vector<std::int16_t>& column_formats) {
  write_copy_response(out, backend::copy_in_response, format, column_formats);
}

void write_copy_out_response(std::string& out, std::int8_t format,
                             const std::vector<std::int16_t>& column_formats) {
  write_copy_response(out, backend::copy_out_response, format, column_formats);
}

void write_copy_both_response(std::string& out, std::int8_t format,
                              const std::vector<std::int16_t>& column_formats) {
  write_copy_response(out, backend::copy_both_response, format, column_formats);
}

void write_function_call_response(std::string& out, std::optional<std::string_view> value) {
  message_builder b(out, backend::function_call_response);
  if (!value) {
    b.i32(-1);
  } else {
    b.i32(static_cast<std::int32_t>(value->size())).bytes(*value);
  }
}

void write_notification_response(std::string& out, std::int32_t process_id,
                                 std::string_view channel, std::string_view payload) {
  message_builder(out, backend::notification_response)
      .i32(process_id)
      .cstring(channel)
      .cstring(payload);
}

void write_negotiate_protocol_version(std::string& out, std::int32_t newest_minor,
                                      const std::vector<std::string>& unrecognized_options) {
  message_builder b(out, backend::negotiate_protocol_version);
  b.i32(newest_minor).i32(static_cast<std::int32_t>(unrecognized_options.size()));
  for (const auto& o : unrecognized_options) b.cstring(o);
}

}  // namespace pgsteer::protocol
