// Follows one server connection's conversation, message type by message type, and says when the
// server may go back to the pool. The most important piece of a transaction pooler: a server
// released one message too early hands a transaction, or half a result, to another client.
//
// Every Query, Sync and FunctionCall makes the server answer with exactly one ReadyForQuery,
// whatever errors happen in between; extended-protocol messages before a Sync leave the server
// owing nothing yet, so it cannot be released; COPY IN hands the turn to the client until
// CopyDone or CopyFail. Pure: fed message types, no I/O, no clock.
#pragma once

#include <cstdint>

namespace pgsteer::protocol {

enum class pool_mode { session, transaction, statement };

class transaction_tracker {
 public:
  // A message the client sent to the server.
  void on_frontend(char type);
  // A message the server sent; for ReadyForQuery, pass its status byte as `status`.
  void on_backend(char type, char status = 0);

  // ReadyForQuery messages the server still owes.
  std::uint32_t outstanding() const { return outstanding_; }
  // 'I', 'T' or 'E' from the last ReadyForQuery ('I' before any).
  char status() const { return status_; }
  bool in_transaction() const { return status_ != 'I'; }
  // Extended-protocol messages sent since the last Sync.
  bool unsynced() const { return unsynced_; }
  bool in_copy_in() const { return copy_in_; }
  bool in_copy_out() const { return copy_out_; }
  // Nothing is owed in either direction.
  bool idle() const { return outstanding_ == 0 && !unsynced_ && !copy_in_ && !copy_out_; }
  // Whether the server may be released to the pool now: in transaction and statement mode when
  // idle and outside a transaction block; never in session mode.
  bool may_release(pool_mode mode) const;

 private:
  std::uint32_t outstanding_ = 0;
  char status_ = 'I';
  bool unsynced_ = false;
  bool copy_in_ = false;
  bool copy_out_ = false;
};

}  // namespace pgsteer::protocol
