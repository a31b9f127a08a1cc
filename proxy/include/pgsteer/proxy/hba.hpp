// Host-based authentication: which method a connecting client must pass, decided from its
// address, database, user and whether it uses TLS, by the first matching `clients.hba` rule.
// Pure (no I/O); called once per client before authentication.
#pragma once

#include <optional>
#include <string_view>

#include "pgsteer/config/config.hpp"

namespace pgsteer::proxy {

struct hba_request {
  std::string_view address;  // the client's IP address in text form (IPv4 or IPv6)
  std::string_view database;
  std::string_view user;
  bool ssl = false;
};

// The first rule that matches decides; nullopt means no rule matched and the client is refused
// (as PostgreSQL: `no pg_hba.conf entry for host ...`). A matching `reject` rule returns
// auth_method::reject.
std::optional<config::auth_method> match_hba(const std::vector<config::hba_rule>& rules,
                                             const hba_request& request);

// Whether `address` lies in `cidr` ("all", "10.0.0.0/8", "::1/128", or a bare address).
bool address_in(std::string_view address, std::string_view cidr);

}  // namespace pgsteer::proxy
