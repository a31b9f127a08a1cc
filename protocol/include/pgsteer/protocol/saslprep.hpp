// SASLprep (RFC 4013) of passwords, as PostgreSQL applies it before SCRAM-SHA-256: both the
// server (when it stores a verifier) and libpq (when it logs in) prepare the password, so pgsteer
// must too, or non-ASCII passwords would not match. See docs/decisions/0002-scram-saslprep.md for
// the subset pgsteer supports.
#pragma once

#include <string>
#include <string_view>

namespace pgsteer::protocol {

enum class saslprep_status {
  unchanged,    // already in prepared form (every ASCII password is): used as is
  prepared,     // non-ASCII spaces mapped, invisible characters removed: differs from the input
  raw,          // PostgreSQL uses the raw bytes here as well (not UTF-8, a prohibited character,
                // a bidi violation, nothing left after mapping): the result is exact
  unsupported,  // needs Unicode normalisation pgsteer does not do: the raw bytes are used, which
                // PostgreSQL may prepare differently (worth a warning when the password is loaded)
};

struct saslprep_result {
  std::string password;  // the bytes to feed to PBKDF2
  saslprep_status status = saslprep_status::unchanged;
};

// Pure and total: any input gives a result; never throws for bad input.
saslprep_result saslprep(std::string_view password);

}  // namespace pgsteer::protocol
