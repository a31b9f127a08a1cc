// reply_filter: which request each server reply answers (see reply_filter.hpp).
#include "pgsteer/protocol/reply_filter.hpp"

#include "pgsteer/protocol/messages.hpp"

namespace pgsteer::protocol {

namespace {

bool is_extended(char type) {
  switch (type) {
    case frontend::parse:
    case frontend::bind:
    case frontend::describe:
    case frontend::execute:
    case frontend::close:
      return true;
    default:
      return false;
  }
}

// Whether `reply` is the last message answering a request of type `request`.
bool ends(char request, char reply) {
  switch (request) {
    case frontend::parse:
      return reply == backend::parse_complete;
    case frontend::bind:
      return reply == backend::bind_complete;
    case frontend::close:
      return reply == backend::close_complete;
    case frontend::describe:
      return reply == backend::row_description || reply == backend::no_data;
    case frontend::execute:
      return reply == backend::command_complete || reply == backend::empty_query_response ||
             reply == backend::portal_suspended;
    default:  // Query, FunctionCall, Sync
      return reply == backend::ready_for_query;
  }
}

bool is_asynchronous(char reply) {
  return reply == backend::notice_response || reply == backend::parameter_status ||
         reply == backend::notification_response;
}

bool is_copy_end(char type) {
  return type == frontend::copy_done || type == frontend::copy_fail;
}

}  // namespace

void reply_filter::on_frontend(char type, bool swallow, std::uint32_t tag) {
  if (type == frontend::flush || type == frontend::copy_data) return;
  if (is_copy_end(type)) {
    if (copy_in_) {
      copy_in_ = false;
    } else if (!pending_.empty()) {
      pending_.push_back(request{type, false, 0});  // marks the end of data the server has not
                                                    // asked for yet
    }
    return;
  }
  if (copy_in_ && (type == frontend::sync)) return;  // ignored inside COPY FROM STDIN
  const request r{type, swallow, tag};
  if (skipping_) {
    if (type != frontend::sync) {
      fail(r);  // the server reads it and drops it: no reply
      return;
    }
    skipping_ = false;
  }
  pending_.push_back(r);
}

reply_filter::verdict reply_filter::on_backend(char type) {
  drop_markers();
  if (pending_.empty()) {
    // A FATAL error (the server is shutting down, the session was terminated) or a notice can
    // arrive while nothing is asked; anything else answers nothing.
    return is_asynchronous(type) || type == backend::error_response ? verdict::forward
                                                                    : verdict::unexpected;
  }
  const request head = pending_.front();
  const verdict v = head.swallow ? verdict::swallow : verdict::forward;
  if (is_asynchronous(type)) return v;
  if (type == backend::error_response) {
    if (is_extended(head.type)) {
      pending_.pop_front();
      fail(head);
      skip_until_sync();
      // An injected Parse that fails stands in for the client's own request, which the server
      // now skips: the client must see the error.
      return verdict::forward;
    }
    return v;
  }
  if (type == backend::copy_in_response) {
    enter_copy_in();
  } else if (ends(head.type, type)) {
    pending_.pop_front();
  }
  return v;
}

reply_filter::owed reply_filter::owed_to_client() const {
  owed o;
  for (const auto& r : pending_) {
    if (r.swallow) continue;
    if (r.type == frontend::query || r.type == frontend::function_call ||
        r.type == frontend::sync) {
      ++o.ready_for_query;
      o.open_batch = false;
    } else if (is_extended(r.type)) {
      o.open_batch = true;
    }
  }
  // The server was skipping the client's requests after an error: their Sync is still to come.
  if (skipping_) o.open_batch = true;
  return o;
}

void reply_filter::drop_markers() {
  while (!pending_.empty() && is_copy_end(pending_.front().type)) pending_.pop_front();
}

void reply_filter::enter_copy_in() {
  // Requests after the head sent before the client's end of data: Syncs among them are ignored.
  auto it = pending_.begin() + 1;
  while (it != pending_.end() && !is_copy_end(it->type)) {
    it = it->type == frontend::sync ? pending_.erase(it) : it + 1;
  }
  if (it == pending_.end()) copy_in_ = true;
}

std::vector<std::uint32_t> reply_filter::take_failed_tags() {
  std::vector<std::uint32_t> out;
  out.swap(failed_tags_);
  return out;
}

void reply_filter::fail(const request& r) {
  if (r.tag != 0) failed_tags_.push_back(r.tag);
}

void reply_filter::skip_until_sync() {
  while (!pending_.empty() && pending_.front().type != frontend::sync) {
    fail(pending_.front());
    pending_.pop_front();
  }
  if (pending_.empty()) skipping_ = true;
}

}  // namespace pgsteer::protocol
