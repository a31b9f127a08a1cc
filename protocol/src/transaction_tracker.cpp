// Transaction tracker (see transaction_tracker.hpp): a queue of what the server has been sent and
// not yet answered, consumed by the server's replies in the order PostgreSQL produces them.
#include "pgsteer/protocol/transaction_tracker.hpp"

#include <limits>

#include "pgsteer/protocol/messages.hpp"

namespace pgsteer::protocol {
namespace {

constexpr bool owes_ready_for_query(auto kind) {
  using k = decltype(kind);
  return kind == k::query || kind == k::function_call || kind == k::sync;
}

}  // namespace

bool transaction_tracker::idle() const {
  return size_ == 0 && !unsynced_ && !skip_till_sync_ && !server_copy_in_ && !copy_out_ &&
         !desynchronized();
}

bool transaction_tracker::may_release(pool_mode mode) const {
  return mode != pool_mode::session && idle() && status_ == 'I';
}

void transaction_tracker::desync(std::string_view reason) {
  if (desync_reason_.empty()) desync_reason_ = reason;
}

void transaction_tracker::push(run_kind kind) {
  const bool owes = owes_ready_for_query(kind);
  if (owes && owed_ == std::numeric_limits<std::uint32_t>::max()) {
    return desync("too many messages in flight");
  }
  if (size_ > 0 && kind != run_kind::copy_end) {
    run& back = at(size_ - 1);
    if (back.kind == kind && back.count < std::numeric_limits<std::uint32_t>::max()) {
      ++back.count;
      owed_ += owes ? 1 : 0;
      return;
    }
  }
  if (size_ >= max_runs_) return desync("too many messages in flight");
  if (size_ == runs_.size()) {
    // Grow the ring to the next power of two, unrolled so the queue starts at index 0.
    std::vector<run> grown(runs_.empty() ? 8 : runs_.size() * 2);
    for (std::size_t i = 0; i < size_; ++i) grown[i] = at(i);
    runs_.swap(grown);
    head_ = 0;
  }
  at(size_) = run{kind, 1};
  ++size_;
  owed_ += owes ? 1 : 0;
}

void transaction_tracker::pop_one() {
  run& r = front();
  if (owes_ready_for_query(r.kind)) --owed_;
  if (--r.count == 0) {
    head_ = (head_ + 1) & (runs_.size() - 1);
    --size_;
  }
}

// Removes the runs at queue positions [first, last), first >= 1.
void transaction_tracker::erase_after_head(std::size_t first, std::size_t last) {
  for (std::size_t i = first; i < last; ++i) {
    const run& r = at(i);
    if (owes_ready_for_query(r.kind)) owed_ -= r.count;
  }
  for (std::size_t from = last, to = first; from < size_; ++from, ++to) at(to) = at(from);
  size_ -= last - first;
}

// A CopyDone/CopyFail reaching the front of the queue outside COPY is read and dropped by the
// server without a reply.
void transaction_tracker::skip_noops() {
  while (size_ > 0 && front().kind == run_kind::copy_end && !server_copy_in_) {
    head_ = (head_ + 1) & (runs_.size() - 1);
    --size_;
  }
}

void transaction_tracker::on_frontend(char type) {
  if (desynchronized()) return;
  sent_any_ = true;
  switch (type) {
    case frontend::sync:
      skip_till_sync_ = false;  // this Sync ends the server's skipping
      unsynced_ = false;
      push(run_kind::sync);
      break;
    case frontend::query:
    case frontend::function_call:
      client_copy_open_ = false;
      if (skip_till_sync_) break;  // skipped by the server: no ReadyForQuery for it
      push(type == frontend::query ? run_kind::query : run_kind::function_call);
      break;
    case frontend::parse:
    case frontend::bind:
    case frontend::describe:
    case frontend::execute:
    case frontend::close:
      client_copy_open_ = false;
      unsynced_ = true;
      if (skip_till_sync_) break;
      push(run_kind::extended);
      break;
    case frontend::copy_done:
    case frontend::copy_fail:
      client_copy_open_ = false;
      // Outside COPY, and while skipping, the server drops these without a reply.
      if (skip_till_sync_ || size_ == 0) break;
      push(run_kind::copy_end);
      break;
    case frontend::flush:
    case frontend::copy_data:
    case frontend::terminate:
      break;
    default:
      desync("unknown frontend message type");
      break;
  }
}

void transaction_tracker::on_backend(char type, char status) {
  if (desynchronized()) {
    if (type == backend::ready_for_query) status_ = status;
    return;
  }
  const bool at_query = size_ > 0 && front().kind == run_kind::query;
  const bool at_extended = size_ > 0 && front().kind == run_kind::extended;
  switch (type) {
    case backend::ready_for_query:
      if (status != 'I' && status != 'T' && status != 'E') {
        return desync("ReadyForQuery with an unknown status");
      }
      status_ = status;
      if (size_ == 0) {
        // The end of the login: nothing was asked yet.
        if (!sent_any_) return;
        return desync("ReadyForQuery that nothing asked for");
      }
      if (!owes_ready_for_query(front().kind)) {
        return desync("ReadyForQuery while an extended-protocol message is unanswered");
      }
      server_copy_in_ = false;
      copy_out_ = false;
      pop_one();
      skip_noops();
      break;
    case backend::parse_complete:
    case backend::bind_complete:
    case backend::close_complete:
    case backend::no_data:
    case backend::portal_suspended:
      if (!at_extended) return desync("extended-protocol reply without a request");
      pop_one();
      skip_noops();
      break;
    case backend::row_description:       // ends a Describe; one of many inside a Query
    case backend::empty_query_response:  // ends an Execute; part of a Query
      if (at_extended) {
        pop_one();
        skip_noops();
      } else if (!at_query) {
        return desync("result message without a request");
      }
      break;
    case backend::parameter_description:  // a Describe of a statement goes on with T or n
      if (!at_extended) return desync("ParameterDescription without a Describe");
      break;
    case backend::command_complete:
      copy_out_ = false;
      if (server_copy_in_) end_copy_in(true);
      if (desynchronized()) return;
      if (at_extended) {
        pop_one();
        skip_noops();
      } else if (!at_query) {
        return desync("CommandComplete without a request");
      }
      break;
    case backend::error_response:
      copy_out_ = false;
      on_error();
      break;
    case backend::copy_in_response: {
      if (!at_query && !at_extended) return desync("CopyInResponse without a request");
      server_copy_in_ = true;
      // Has the client already ended its copy stream (it may send everything at once)?
      client_copy_open_ = true;
      for (std::size_t i = 1; i < size_; ++i) {
        if (at(i).kind == run_kind::copy_end) client_copy_open_ = false;
      }
      break;
    }
    case backend::copy_out_response:
      if (!at_query && !at_extended) return desync("CopyOutResponse without a request");
      copy_out_ = true;
      break;
    case backend::copy_done:
      copy_out_ = false;
      break;
    case backend::copy_both_response:
      return desync("CopyBothResponse: a replication stream cannot be pooled");
    case backend::data_row:
    case backend::copy_data:
    case backend::function_call_response:
    case backend::notice_response:
    case backend::notification_response:
    case backend::parameter_status:
    case backend::backend_key_data:
    case backend::authentication:
    case backend::negotiate_protocol_version:
      break;
    default:
      desync("unknown backend message type");
      break;
  }
}

void transaction_tracker::on_error() {
  // No request: a FATAL before the server closes, or a late error; nothing to account for.
  if (size_ == 0) return;
  if (server_copy_in_) end_copy_in(false);
  if (desynchronized()) return;
  if (front().kind != run_kind::extended) return;  // a Query, FunctionCall or Sync: Z follows
  // An extended-protocol message failed: the server skips everything up to the next Sync.
  std::size_t sync_at = 1;
  while (sync_at < size_ && at(sync_at).kind != run_kind::sync) ++sync_at;
  erase_after_head(1, sync_at);
  const run failed = front();
  for (std::uint32_t i = 0; i < failed.count; ++i) pop_one();
  if (size_ == 0) skip_till_sync_ = true;  // the Sync has not been sent yet
  skip_noops();
}

void transaction_tracker::end_copy_in(bool completed) {
  server_copy_in_ = false;
  // What the server may have read in COPY mode: the rest of the run holding the COPY command and
  // everything up to the first CopyDone/CopyFail.
  std::size_t end_at = 1;
  while (end_at < size_ && at(end_at).kind != run_kind::copy_end) ++end_at;
  const bool end_sent = end_at < size_;
  bool only_syncs = front().count == 1;
  for (std::size_t i = 1; i < end_at; ++i) only_syncs = only_syncs && at(i).kind == run_kind::sync;
  if (completed) {
    // The server read up to the CopyDone and ignored the Syncs on the way.
    if (!end_sent) return desync("COPY completed before the client ended it");
    if (!only_syncs) return desync("messages other than Sync inside a COPY");
    erase_after_head(1, end_at + 1);
    // Ignored, those Syncs ended nothing: a COPY run by Execute leaves the server in its implicit
    // transaction until the next Sync it reads, which the client may not have sent yet.
    if (front().kind == run_kind::extended) {
      std::size_t sync_at = 1;
      while (sync_at < size_ && at(sync_at).kind != run_kind::sync) ++sync_at;
      if (sync_at == size_) unsynced_ = true;
    }
    return;
  }
  // Failed: whether the server read the messages between the COPY and the failure is unknown,
  // harmless for CopyData, decisive for a Sync (ReadyForQuery or not).
  if (front().count != 1 || end_at > 1) {
    return desync("COPY failed with messages in flight whose fate is unknown");
  }
  if (end_sent) erase_after_head(end_at, end_at + 1);  // dropped unanswered either way
}

}  // namespace pgsteer::protocol
