// Runs pgsteer: starts the workers on the configured listen addresses and serves until SIGINT or
// SIGTERM. Called by proxy/main.cpp once the configuration is valid.
#pragma once

#include "pgsteer/config/config.hpp"

namespace pgsteer::proxy {

// Returns the process exit code: 0 after a clean shutdown, 1 when pgsteer could not start (an
// address already in use, say), after logging why.
int run(const config::config& cfg);

}  // namespace pgsteer::proxy
