// The first packet a client sends: StartupMessage, SSLRequest, GSSENCRequest or CancelRequest.
// parse_startup_packet() decides what it is and what PostgreSQL would answer to a bad one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pgsteer/protocol/error_response.hpp"

namespace pgsteer::protocol {

inline constexpr std::uint32_t protocol_3_0 = 3u << 16;
inline constexpr std::uint32_t cancel_request_code = (1234u << 16) | 5678u;
inline constexpr std::uint32_t ssl_request_code = (1234u << 16) | 5679u;
inline constexpr std::uint32_t gssenc_request_code = (1234u << 16) | 5680u;

enum class startup_kind { startup_message, ssl_request, gssenc_request, cancel_request, invalid };

// The `replication` startup parameter: a walsender connection, physical or logical ("database").
enum class replication_mode { none, physical, logical };

struct startup_limits {
  // Parameters and `_pq_.` options together.
  std::size_t max_parameters = 64;
};

struct startup_packet {
  startup_kind kind = startup_kind::invalid;
  std::uint16_t major = 0;
  std::uint16_t minor = 0;
  // StartupMessage: parameters in the order sent (user, database, options, application_name,
  // replication, and any run-time parameter), copied: the session keeps them.
  std::vector<std::pair<std::string, std::string>> parameters;
  // Protocol options (`_pq_.*`) this side does not know; with minor > 0 they call for a
  // NegotiateProtocolVersion (see needs_negotiation()).
  std::vector<std::string> unrecognized_options;
  // StartupMessage: what `replication` asked for (PostgreSQL's values: a boolean or "database").
  replication_mode replication = replication_mode::none;
  // CancelRequest.
  std::int32_t process_id = 0;
  std::int32_t secret_key = 0;
  // invalid: what to send the client before closing.
  error_fields error;

  // The value of a parameter, or "" when absent; the last one when sent twice, as PostgreSQL
  // applies them in order.
  std::string_view parameter(std::string_view name) const;
  std::string_view user() const { return parameter("user"); }
  // database defaults to the user name, as in PostgreSQL.
  std::string_view database() const;
  std::string_view application_name() const { return parameter("application_name"); }
  // Command-line style options (`-c name=value ...`) for the backend.
  std::string_view options() const { return parameter("options"); }
  // Protocol 3.x with x > 0, or `_pq_.` options: answer with NegotiateProtocolVersion (see
  // write_negotiate_protocol_version(out, packet)) before authentication, then speak 3.0.
  bool needs_negotiation() const { return minor > 0 || !unrecognized_options.empty(); }
};

// `packet` is the whole packet including its 4-byte length (see next_startup_frame()). Never
// throws; a bad packet comes back as `invalid` with the FATAL error PostgreSQL would send.
startup_packet parse_startup_packet(std::string_view packet, const startup_limits& limits = {});

// PostgreSQL's refusal of a request code it does not take (a protocol other than 3.x, or an
// SSLRequest/GSSENCRequest after that negotiation was already answered).
error_fields unsupported_protocol(std::uint32_t code);

// NegotiateProtocolVersion for a StartupMessage that needs_negotiation(): newest minor version
// 0, and the `_pq_.` options pgsteer does not know.
void write_negotiate_protocol_version(std::string& out, const startup_packet& packet);

// Builds a StartupMessage (protocol 3.0) with the given parameters.
void write_startup_message(std::string& out,
                           const std::vector<std::pair<std::string, std::string>>& parameters);
void write_ssl_request(std::string& out);
void write_cancel_request(std::string& out, std::int32_t process_id, std::int32_t secret_key);

}  // namespace pgsteer::protocol
