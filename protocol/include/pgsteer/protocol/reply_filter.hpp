// Matches a server's replies to the requests that caused them, so a proxy can swallow the replies
// to messages it injected (a Parse re-preparing a statement, a Close evicting one, a SET syncing a
// parameter) and forward everything else, in order. The transaction tracker says when a server
// may be released; this says whose each reply is.
//
// Pure: fed message types in wire order, no I/O. One filter per server connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

namespace pgsteer::protocol {

class reply_filter {
 public:
  // A request sent to the server. `swallow`: its replies are the proxy's, not the client's.
  // `tag`: non-zero to learn (failed_tags()) when this request failed or was skipped by the
  // server after an earlier error, e.g. to forget a statement whose Parse did not succeed.
  // Feed every message in wire order: Flush and CopyData are ignored, CopyDone and CopyFail
  // mark where a COPY FROM STDIN's data ends (PostgreSQL ignores a Sync sent inside it).
  void on_frontend(char type, bool swallow = false, std::uint32_t tag = 0);

  enum class verdict { forward, swallow, unexpected };
  // A reply from the server. Asynchronous messages (NoticeResponse, ParameterStatus,
  // NotificationResponse) are forwarded unless they arrive while a swallowed request is being
  // answered. The error of a failed swallowed extended request (an injected Parse) is forwarded:
  // the server then skips the client's requests up to Sync, so the error is the client's answer.
  // `unexpected` means the reply matches no request (the caller must stop trusting this
  // connection).
  verdict on_backend(char type);

  // Tags of requests that failed or were skipped since the last call; cleared by the call.
  std::vector<std::uint32_t> take_failed_tags();

  // What the client is still owed if the server is lost now: a ReadyForQuery for each of its
  // Query, FunctionCall and Sync messages not answered yet, and whether it has sent extended
  // requests after the last of them (it has not sent their Sync yet).
  struct owed {
    std::size_t ready_for_query = 0;
    bool open_batch = false;
  };
  owed owed_to_client() const;

  // The tag of the request the next reply answers (0: none or untagged).
  std::uint32_t front_tag() const { return pending_.empty() ? 0 : pending_.front().tag; }
  // No request is waiting for replies.
  bool empty() const { return pending_.empty(); }
  std::size_t size() const { return pending_.size(); }

 private:
  struct request {
    char type;
    bool swallow;
    std::uint32_t tag;
  };
  void fail(const request& r);
  // Drops copy-end markers at the head (they answer nothing).
  void drop_markers();
  // The server entered COPY FROM STDIN: the Syncs sent before the client ends its data are
  // ignored, so they expect no reply.
  void enter_copy_in();
  // An extended-protocol request failed: the server skips what follows up to the next Sync.
  void skip_until_sync();

  std::deque<request> pending_;
  std::vector<std::uint32_t> failed_tags_;
  bool skipping_ = false;  // the server skips requests sent from now until a Sync
  bool copy_in_ = false;   // the server is in COPY FROM STDIN and the client has not ended it
};

}  // namespace pgsteer::protocol
