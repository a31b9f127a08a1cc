// The failed transaction block, sans I/O. When the server of a client's transaction block is
// lost, the client is left where PostgreSQL leaves one after an error: in a failed block, until
// it ends it. While the block is failed there is no server: COMMIT or ROLLBACK end it (answered
// ROLLBACK, as PostgreSQL answers a COMMIT of a failed block), anything else fails with 25P02.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "pgsteer/protocol/classifier.hpp"
#include "pgsteer/protocol/error_response.hpp"
#include "statement_map.hpp"

namespace pgsteer::proxy {

class aborted_block {
 public:
  bool active() const { return active_; }
  // The block's server was lost. `pending`: the error the client's next request gets, when the
  // loss came between two of its requests (else it was told already).
  void begin(std::optional<protocol::error_fields> pending = std::nullopt) {
    active_ = true;
    ending_ = false;
    pending_ = std::move(pending);
  }

  struct answer {
    std::optional<protocol::error_fields> error;  // sent first
    std::string then;                             // replies after it
    bool skip_until_sync = false;                 // drop the batch's messages up to its Sync
  };
  // A request of the client while active(). `statements` finds the text of a named statement
  // (drivers keep COMMIT and ROLLBACK prepared); `functions` is the classifier's policy.
  answer on_request(char type, std::string_view body, const statement_map& statements,
                    const protocol::function_policy& functions);
  // The ReadyForQuery status the client is in (a batch skipped up to its Sync ends in it).
  char status() const { return active_ ? 'E' : 'I'; }

 private:
  void end();
  protocol::error_fields failure();

  bool active_ = false;
  bool ending_ = false;  // the extended batch in progress is its COMMIT/ROLLBACK
  std::optional<protocol::error_fields> pending_;
};

}  // namespace pgsteer::proxy
