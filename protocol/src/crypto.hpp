// The few libcrypto primitives protocol/ needs, wrapped so the rest of the code handles strings.
// A failing primitive returns an empty string; callers check lengths, so a failure can only
// make an authentication fail, never pass.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pgsteer::protocol::crypto {

std::string sha256(std::string_view data);
std::string md5_hex(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);
// Empty when iterations is 0 or above INT_MAX (libcrypto takes an int).
std::string pbkdf2_sha256(std::string_view password, std::string_view salt, unsigned iterations);
// Equal length and contents, in time independent of where they differ.
bool constant_time_equal(std::string_view a, std::string_view b);
// RFC 5929 tls-server-end-point data of a DER certificate.
std::optional<std::string> certificate_end_point_hash(std::string_view der);

}  // namespace pgsteer::protocol::crypto
