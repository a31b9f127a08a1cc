// The few libcrypto primitives protocol/ needs, wrapped so the rest of the code handles strings.
#pragma once

#include <string>
#include <string_view>

namespace pgsteer::protocol::crypto {

std::string sha256(std::string_view data);
std::string md5_hex(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);
std::string pbkdf2_sha256(std::string_view password, std::string_view salt, unsigned iterations);
// Equal length and contents, in time independent of where they differ.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace pgsteer::protocol::crypto
