// Follows one server connection's conversation, message type by message type, and says when the
// server may go back to the pool. The most important piece of a transaction pooler: a server
// released one message too early hands a transaction, or half a result, to another client.
//
// Pure: fed message types in the order they cross the wire, no I/O, no clock. One tracker per
// server connection, used by the worker thread that owns the connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace pgsteer::protocol {

enum class pool_mode { session, transaction, statement };

// The tracker models the queue of messages the server has been sent but has not finished
// answering, the way PostgreSQL's backend consumes it:
//
// - Every Query, FunctionCall and Sync is answered by exactly one ReadyForQuery, whatever errors
//   happen in between; Parse/Bind/Describe/Execute/Close are answered by their own completion
//   message (or an error) and leave the server owing nothing, but inside an implicit
//   transaction until the next Sync, so a server with unsynced extended messages is never
//   released.
// - After an error in an extended-protocol message the server skips every message, Query and
//   FunctionCall included, up to the next Sync: those expect no ReadyForQuery.
// - During COPY FROM STDIN the server ignores Sync and Flush until CopyDone or CopyFail (libpq and
//   tokio-postgres send a Sync right after the Execute of a COPY); a COPY that completes proves
//   those Syncs were ignored, and an ignored Sync ends nothing: after a COPY run by Execute the
//   server stays in its implicit transaction until the next Sync it reads. A COPY that fails
//   with such Syncs in flight leaves it unknowable whether the server read them before failing:
//   the tracker then reports desynchronized().
// - Any message that contradicts the model (a ReadyForQuery nobody asked for, a ParseComplete
//   while a Query runs, an unknown message type, CopyBothResponse) makes it desynchronized()
//   for good: such a server must never be pooled again (close it when its client leaves).
//
// Feed it from the first message a client sends on this server; the ReadyForQuery that ends the
// server's login may be fed too (before any frontend message it only sets the status).
class transaction_tracker {
 public:
  // At most this many runs of queued messages (consecutive messages of one kind share a run);
  // beyond that the tracker gives up (desynchronized) rather than grow without bound.
  static constexpr std::size_t default_max_runs = std::size_t{1} << 16;

  explicit transaction_tracker(std::size_t max_runs = default_max_runs) : max_runs_(max_runs) {}

  // A message the client (or the proxy, for messages it injects) sent to the server.
  void on_frontend(char type);
  // A message the server sent; for ReadyForQuery, pass its status byte as `status`.
  void on_backend(char type, char status = 0);

  // ReadyForQuery messages the server still owes. Syncs sent during COPY FROM STDIN are counted
  // until the COPY completes and shows they were ignored.
  std::uint32_t outstanding() const { return owed_; }
  // 'I', 'T' or 'E' from the last ReadyForQuery ('I' before any).
  char status() const { return status_; }
  bool in_transaction() const { return status_ != 'I'; }
  // Extended-protocol messages sent since the last Sync. A Sync the server turns out to have
  // ignored in COPY FROM STDIN does not count: once the COPY completes, the messages before it
  // are unsynced again until a later Sync.
  bool unsynced() const { return unsynced_; }
  // The server is in COPY FROM STDIN and the client has not ended its copy stream yet: CopyData
  // from the client is expected. CopyData/CopyDone/CopyFail a client sends after the server
  // ended the COPY (with an error) are ignored by PostgreSQL; a proxy that has released the
  // server by then may drop them.
  bool in_copy_in() const { return server_copy_in_ && client_copy_open_; }
  // The server is streaming COPY TO STDOUT data.
  bool in_copy_out() const { return copy_out_; }
  // The server owes nothing and holds no unsynced extended-protocol state.
  bool idle() const;
  // Whether the server may be released to the pool now: in transaction and statement mode when
  // idle, outside a transaction block and synchronized; never in session mode. (Statement mode's
  // "no transaction blocks" rule is the proxy's to enforce: in_transaction() after a statement.)
  bool may_release(pool_mode mode) const;
  // The conversation stopped matching the protocol, or became ambiguous; final.
  bool desynchronized() const { return !desync_reason_.empty(); }
  // Why, for the log; empty while synchronized.
  std::string_view desync_reason() const { return desync_reason_; }

 private:
  enum class run_kind : std::uint8_t { query, function_call, sync, extended, copy_end };
  struct run {
    run_kind kind;
    std::uint32_t count;
  };

  // The queue: a ring over `runs_` (no allocation once it has grown to the working size).
  bool empty() const { return size_ == 0; }
  run& front() { return runs_[head_]; }
  run& at(std::size_t i) { return runs_[(head_ + i) & (runs_.size() - 1)]; }
  void push(run_kind kind);
  void pop_one();
  void erase_after_head(std::size_t first, std::size_t last);
  void skip_noops();

  void on_error();
  // COPY FROM STDIN ended: `completed` by CommandComplete, else by an error.
  void end_copy_in(bool completed);
  void desync(std::string_view reason);

  std::vector<run> runs_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
  std::size_t max_runs_;

  std::uint32_t owed_ = 0;
  char status_ = 'I';
  bool sent_any_ = false;
  bool unsynced_ = false;
  bool skip_till_sync_ = false;  // the server skips what the client sends until its next Sync
  bool server_copy_in_ = false;
  bool client_copy_open_ = false;
  bool copy_out_ = false;
  std::string_view desync_reason_;
};

}  // namespace pgsteer::protocol
