// MD5 password authentication (see md5.hpp).
#include "pgsteer/protocol/md5.hpp"

#include "crypto.hpp"

namespace pgsteer::protocol::md5 {
namespace {
constexpr std::string_view prefix = "md5";
}

std::string stored_hash(std::string_view user, std::string_view password) {
  std::string input(password);
  input.append(user);
  return std::string(prefix) + crypto::md5_hex(input);
}

bool is_stored_hash(std::string_view text) {
  if (text.size() != 35 || !text.starts_with(prefix)) return false;
  for (const char c : text.substr(3)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string response(std::string_view stored, std::string_view salt) {
  if (!is_stored_hash(stored)) return {};
  std::string input(stored.substr(prefix.size()));
  input.append(salt);
  return std::string(prefix) + crypto::md5_hex(input);
}

std::string client_response(std::string_view user, std::string_view password,
                            std::string_view salt) {
  if (is_stored_hash(password)) return response(password, salt);
  return response(stored_hash(user, password), salt);
}

bool verify(std::string_view stored, std::string_view salt, std::string_view client_response) {
  if (!is_stored_hash(stored)) return false;
  return crypto::constant_time_equal(response(stored, salt), client_response);
}

}  // namespace pgsteer::protocol::md5
