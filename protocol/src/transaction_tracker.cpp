// Transaction tracker (see transaction_tracker.hpp).
#include "pgsteer/protocol/transaction_tracker.hpp"

#include "pgsteer/protocol/messages.hpp"

namespace pgsteer::protocol {

void transaction_tracker::on_frontend(char type) {
  switch (type) {
    case frontend::query:
    case frontend::function_call:
      ++outstanding_;
      break;
    case frontend::sync:
      ++outstanding_;
      unsynced_ = false;
      break;
    case frontend::parse:
    case frontend::bind:
    case frontend::describe:
    case frontend::execute:
    case frontend::close:
    case frontend::flush:
      unsynced_ = true;
      break;
    case frontend::copy_done:
    case frontend::copy_fail:
      copy_in_ = false;
      break;
    default:
      break;
  }
}

void transaction_tracker::on_backend(char type, char status) {
  switch (type) {
    case backend::ready_for_query:
      if (outstanding_ > 0) --outstanding_;
      if (status == 'I' || status == 'T' || status == 'E') status_ = status;
      // A ReadyForQuery ends any COPY: the server has left copy mode (e.g. after an error).
      copy_in_ = false;
      copy_out_ = false;
      break;
    case backend::copy_in_response:
      copy_in_ = true;
      break;
    case backend::copy_out_response:
      copy_out_ = true;
      break;
    case backend::copy_both_response:
      copy_in_ = true;
      copy_out_ = true;
      break;
    case backend::copy_done:
      copy_out_ = false;
      break;
    default:
      break;
  }
}

bool transaction_tracker::may_release(pool_mode mode) const {
  if (mode == pool_mode::session) return false;
  return idle() && status_ == 'I';
}

}  // namespace pgsteer::protocol
