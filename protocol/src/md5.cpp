// MD5 password authentication (see md5.hpp).
#include "pgsteer/protocol/md5.hpp"

#include "crypto.hpp"

namespace pgsteer::protocol::md5 {

std::string stored_hash(std::string_view user, std::string_view password) {
  std::string input(password);
  input.append(user);
  return "md5" + crypto::md5_hex(input);
}

bool is_stored_hash(std::string_view text) {
  if (text.size() != 35 || !text.starts_with("md5")) return false;
  for (const char c : text.substr(3)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string response(std::string_view stored, std::string_view salt) {
  std::string input(stored.substr(3));
  input.append(salt);
  return "md5" + crypto::md5_hex(input);
}

bool verify(std::string_view stored, std::string_view salt, std::string_view client_response) {
  if (!is_stored_hash(stored)) return false;
  return crypto::constant_time_equal(response(stored, salt), client_response);
}

}  // namespace pgsteer::protocol::md5
