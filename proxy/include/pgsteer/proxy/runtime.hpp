// Runs pgsteer: starts the workers on the configured listen addresses and serves until SIGTERM
// or SIGINT (drain), re-reading `config_file` on SIGHUP. Called by proxy/main.cpp once the
// configuration is valid.
#pragma once

#include <filesystem>

#include "pgsteer/config/config.hpp"

namespace pgsteer::proxy {

// Returns the process exit code: 0 after a shutdown (drained, or ended by a second signal), 1
// when pgsteer could not start (an address already in use, say), after logging why.
// `config_file` is where `cfg` came from: a reload reads it again.
int run(const config::config& cfg, const std::filesystem::path& config_file);

}  // namespace pgsteer::proxy
