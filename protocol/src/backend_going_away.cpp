// is_backend_going_away: the SQLSTATEs of a login that failed because the server is going away.
#include "pgsteer/protocol/backend_going_away.hpp"

#include <array>
#include <string_view>

#include "pgsteer/protocol/sqlstate.hpp"

namespace pgsteer::protocol {

bool is_backend_going_away(const error_fields& error) {
  static constexpr std::array<std::string_view, 5> codes{
      sqlstate::admin_shutdown,     sqlstate::crash_shutdown,
      sqlstate::cannot_connect_now, sqlstate::sqlclient_unable_to_establish_sqlconnection,
      sqlstate::connection_failure,
  };
  for (auto code : codes) {
    if (error.code == code) return true;
  }
  return false;
}

}  // namespace pgsteer::protocol
