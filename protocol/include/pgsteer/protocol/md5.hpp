// MD5 password authentication as PostgreSQL defines it: the stored form is "md5" + md5(password
// + user), the response to a 4-byte salt is "md5" + md5(hex(md5(password + user)) + salt).
// Server side: stored_hash() once per configured password (or the configured "md5..." text),
// then verify() per login. Client side: client_response().
#pragma once

#include <string>
#include <string_view>

namespace pgsteer::protocol::md5 {

// The stored form "md5<32 hex>" of a password for a user.
std::string stored_hash(std::string_view user, std::string_view password);
// Exactly "md5" and 32 lower-case hex digits, as PostgreSQL writes it.
bool is_stored_hash(std::string_view text);
// The PasswordMessage content answering `salt` for a stored hash ("md5<32 hex>"); empty when
// `stored` is not a stored hash.
std::string response(std::string_view stored, std::string_view salt);
// The PasswordMessage content pgsteer sends to a backend asking for md5: `password` may be the
// plaintext or, as PgBouncer allows, the stored "md5<32 hex>" form itself.
std::string client_response(std::string_view user, std::string_view password,
                            std::string_view salt);
// Constant-time check of a client's response against the stored hash; false when `stored` is
// not a stored hash.
bool verify(std::string_view stored, std::string_view salt, std::string_view client_response);

}  // namespace pgsteer::protocol::md5
