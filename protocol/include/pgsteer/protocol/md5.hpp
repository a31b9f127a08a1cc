// MD5 password authentication as PostgreSQL defines it: the stored form is "md5" + md5(password
// + user), the response to a 4-byte salt is "md5" + md5(hex(md5(password + user)) + salt).
#pragma once

#include <string>
#include <string_view>

namespace pgsteer::protocol::md5 {

// The stored form "md5<32 hex>" of a password for a user.
std::string stored_hash(std::string_view user, std::string_view password);
bool is_stored_hash(std::string_view text);
// The PasswordMessage content answering `salt` for a stored hash ("md5<32 hex>").
std::string response(std::string_view stored, std::string_view salt);
// Constant-time check of a client's response against the stored hash.
bool verify(std::string_view stored, std::string_view salt, std::string_view client_response);

}  // namespace pgsteer::protocol::md5
