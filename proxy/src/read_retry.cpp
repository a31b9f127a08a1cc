// client_session, read retry: a read whose replica failed before any reply reached the client
// runs once more on another eligible backend, from the messages kept while it ran.
#include "client_session.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <variant>

#include <boost/asio/bind_cancellation_slot.hpp>

#include "admin_console.hpp"
#include "auth_query.hpp"
#include "pgsteer/protocol/builder.hpp"
#include "pgsteer/protocol/classifier.hpp"
#include "pgsteer/protocol/framer.hpp"
#include "pgsteer/protocol/md5.hpp"
#include "pgsteer/protocol/scram.hpp"
#include "pgsteer/protocol/sqlstate.hpp"
#include "pgsteer/protocol/startup_options.hpp"
#include "pgsteer/protocol/wire.hpp"
#include "pgsteer/proxy/hba.hpp"
#include "server_pool.hpp"
#include "session_common.hpp"
#include "shared_state.hpp"
#include "worker_context.hpp"

namespace pgsteer::proxy {

namespace p = protocol;
namespace scram = protocol::scram;
namespace sqlstate = protocol::sqlstate;

// Replies that describe a statement before it produces anything (its rows, its outcome): a read
// whose server fails after these may still run again, and its retry does not repeat them.
bool client_session::is_reply_preamble(char type) {
  return type == p::backend::parse_complete || type == p::backend::bind_complete ||
         type == p::backend::row_description || type == p::backend::no_data ||
         type == p::backend::parameter_description;
}

void client_session::end_retry_window() {
  retry_skip_ = 0;
  if (retry_log_active_) stop_retry_log();
}

void client_session::stop_retry_log() {
  retry_log_active_ = false;
  retry_preamble_ = 0;
  retry_skip_ = 0;
  retry_log_.clear();
  if (retry_log_.capacity() > client_read_chunk) retry_log_ = std::string();
}

awaitable<void> client_session::retry_read() {
  retry_pending_ = false;
  retried_ = true;
  // The old server's last write must be over before its queue is reused.
  asio::steady_timer pause(client_.get_executor());
  while (writing_to_server_) {
    pause.expires_after(std::chrono::milliseconds(1));
    co_await pause.async_wait(use_tuple);
  }
  to_server_.clear();
  spdlog::info("client {}: retrying a read on another backend ({} bytes of requests)", id_,
               retry_log_.size());
  std::string log = std::move(retry_log_);
  retry_log_ = std::string();
  retry_skip_ = retry_preamble_;
  retry_preamble_ = 0;
  // The same messages, handled afresh: routed again (without the failed backend), prepared
  // statements and settings made ready on the new server.
  for (std::string_view rest = log; !rest.empty() && !closing_;) {
    const auto frame = p::next_frame(rest, max_message_size_);
    if (frame.status != p::frame_status::complete) break;
    co_await handle_client_message(frame.type, rest.substr(0, frame.size), frame.body);
    rest.remove_prefix(frame.size);
  }
  if (server_ && !to_server_.empty() && !closing_) {
    writing_to_server_ = true;
    auto ec = co_await write_all(server_->socket, to_server_);
    writing_to_server_ = false;
    to_server_.clear();
    discard_lost_server();
    if (ec) lose_server("could not send to the backend: " + ec.message());
  }
  retried_ = false;
  replay_gate_.cancel();
}

}  // namespace pgsteer::proxy
