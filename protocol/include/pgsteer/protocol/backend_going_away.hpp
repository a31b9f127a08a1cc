// Which login failures mean "that server is going away (or not there yet)": the answer decides
// whether a client waits for the monitor's next word on the topology instead of being told.
#pragma once

#include "pgsteer/protocol/error_response.hpp"

namespace pgsteer::protocol {

// True when `error`, the reason a server connection could not be opened or logged in to, says
// the backend is shutting down, starting up, in recovery or unreachable rather than that this
// login is wrong: 57P01 and 57P02 (the server is ending its sessions), 57P03 (shutting down,
// starting up, in recovery mode, not yet accepting connections), 08001 (pgsteer could not reach
// it: refused, reset or closed before the login's end, timed out) and 08006. Authentication,
// configuration and protocol failures (28xxx, 3D000, 53300, 08004, 08P01, ...) are not.
// Meant for failures before anything of a client's transaction was sent: a server lost after
// that may have run it, whatever the code. (The one other use: an error of a read on a replica,
// which pgsteer may run again elsewhere because it writes nothing.)
bool is_backend_going_away(const error_fields& error);

}  // namespace pgsteer::protocol
