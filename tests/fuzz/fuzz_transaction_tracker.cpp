// Fuzzes the transaction tracker against a small simulation of a PostgreSQL 15 backend, written
// the way postgres.c and copyfromparse.c consume their input: one message at a time, skipping to
// Sync after an extended-protocol error, ignoring Sync/Flush in COPY FROM STDIN (an ignored Sync
// ends nothing), closing the connection on any other message there. The input chooses the
// client's messages, their outcomes (errors, COPY, transaction blocks) and how sending, processing
// and receiving interleave. Safety: whenever the tracker releases, the simulated server is really
// idle. Liveness: whenever the server is really idle and has read a Sync after its last
// extended-protocol message, the tracker releases, unless it gave up for one of the documented
// ambiguities.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string_view>

#include "pgsteer/protocol/transaction_tracker.hpp"

namespace fuzz_transaction_tracker {

using pgsteer::protocol::pool_mode;
using pgsteer::protocol::transaction_tracker;

struct message {
  char type;
  std::uint8_t outcome;  // what the server will make of it (error, COPY, ...)
};

class simulated_server {
 public:
  std::deque<message> input;   // sent by the client, not read yet
  std::deque<message> output;  // sent by the server, not received yet

  // Reads and answers the next input message.
  void step() {
    if (input.empty()) return;
    const message m = input.front();
    input.pop_front();
    if (closed_) return;
    if (copy_ != copy_state::none) return copy_in(m);
    if (std::string_view("PBDEC").find(m.type) != std::string_view::npos) unsynced_ = true;
    if (skipping_) {
      if (m.type == 'S') {
        skipping_ = false;
        implicit_ = false;
        unsynced_ = false;
        ready();
      }
      return;
    }
    switch (m.type) {
      case 'Q':
        // exec_simple_query runs in the extended messages' implicit transaction, if any, and
        // commits it (or aborts it) when it ends.
        implicit_ = false;
        return query(m.outcome);
      case 'P':
      case 'B':
        implicit_ = true;  // start_xact_command(), finished by the next Sync
        if (m.outcome % 4 == 0) return extended_error();
        return emit(m.type == 'P' ? '1' : '2');
      case 'C':  // Close starts no transaction
        if (m.outcome % 4 == 0) return extended_error();
        return emit('3');
      case 'D':
        implicit_ = true;
        switch (m.outcome % 4) {
          case 0:
            return extended_error();
          case 1:
            return emit('T');
          case 2:
            return emit('n');
          default:
            emit('t');
            return emit('T');
        }
      case 'E':
        implicit_ = true;
        return execute(m.outcome);
      case 'S':
        // A commit failing at Sync (a deferred constraint) reports an error, then ReadyForQuery.
        if (implicit_ && tx_ == tx_state::none && m.outcome % 4 == 0) emit('E');
        implicit_ = false;
        unsynced_ = false;
        return ready();
      case 'F':
        // Like a Query, a function call commits or aborts an open implicit transaction; in a
        // failed transaction block it is refused.
        implicit_ = false;
        if (tx_ == tx_state::failed || m.outcome % 4 == 0) {
          fail();
        } else {
          emit('V');
        }
        return ready();
      default:  // Flush, and CopyData/CopyDone/CopyFail outside COPY: nothing to say
        return;
    }
  }

  // Asynchronous messages (NoticeResponse, NotificationResponse, ParameterStatus) may come at any
  // time, even to an idle server: they are not owed.
  void emit_async(char type) { output.push_back({type, async}); }

  // Owes nothing and holds no transaction, explicit or implicit: another client may have it.
  bool idle() const {
    for (const auto& m : output) {
      if (m.type == 'Z' || m.outcome != async) return false;
    }
    // Flush and stray CopyData/CopyDone/CopyFail still in flight are read and dropped unanswered.
    for (const auto& m : input) {
      if (std::string_view("Hdcf").find(m.type) == std::string_view::npos) return false;
    }
    return copy_ == copy_state::none && !skipping_ && !implicit_ && tx_ == tx_state::none;
  }
  // The server has read a Sync (not one ignored in COPY FROM STDIN) after its last
  // extended-protocol message. The tracker holds a server until then, even where a Query already
  // ended the implicit transaction: it only has to release a server that is idle and synced.
  bool synced() const { return !unsynced_; }
  // The server ended the connection (FATAL); nothing it says matters any more.
  bool closed() const { return closed_; }
  char status() const { return tx_ == tx_state::none ? 'I' : tx_ == tx_state::block ? 'T' : 'E'; }

 private:
  static constexpr std::uint8_t async = 1;
  enum class copy_state { none, simple, extended };
  enum class tx_state { none, block, failed };

  void emit(char type) { output.push_back({type, 0}); }
  void ready() { output.push_back({'Z', static_cast<std::uint8_t>(status())}); }
  void fail() {
    emit('E');
    if (tx_ == tx_state::block) tx_ = tx_state::failed;
  }
  void extended_error() {
    fail();
    skipping_ = true;
  }

  void query(std::uint8_t outcome) {
    const int what = tx_ == tx_state::failed && outcome % 9 != 8 ? 1 : outcome % 9;
    switch (what) {
      case 0:
        emit('T');
        emit('D');
        emit('C');
        break;
      case 1:
        fail();
        break;
      case 2:
        emit('I');
        break;
      case 3:
        emit('G');
        copy_ = copy_state::simple;
        return;  // ReadyForQuery once the COPY ends
      case 4:    // a COPY failing before it reads any data (a BEFORE STATEMENT trigger)
        emit('G');
        fail();
        break;
      case 5:
        emit('H');
        emit('d');
        emit('c');
        emit('C');
        break;
      case 6:
        emit('H');
        emit('d');
        fail();
        break;
      case 7:
        emit('C');
        if (tx_ == tx_state::none) tx_ = tx_state::block;
        break;
      default:  // COMMIT, or ROLLBACK of a failed block
        emit('C');
        tx_ = tx_state::none;
        break;
    }
    ready();
  }

  void execute(std::uint8_t outcome) {
    const int what = tx_ == tx_state::failed && outcome % 10 != 9 ? 0 : outcome % 10;
    switch (what) {
      case 0:
        return extended_error();
      case 1:
        return emit('C');
      case 2:
        emit('D');
        emit('D');
        return emit('C');
      case 3:
        emit('D');
        return emit('s');
      case 4:
        return emit('I');
      case 5:
        emit('G');
        copy_ = copy_state::extended;
        return;
      case 6:
        emit('G');
        return extended_error();
      case 7:
        emit('H');
        emit('d');
        emit('c');
        return emit('C');
      case 8:
        if (tx_ == tx_state::none) tx_ = tx_state::block;
        return emit('C');
      default:
        tx_ = tx_state::none;
        return emit('C');
    }
  }

  void copy_in(const message& m) {
    switch (m.type) {
      case 'd':
        if (m.outcome % 4 == 0) return copy_failed();  // bad data
        return;
      case 'c':
        emit('C');
        if (copy_ == copy_state::simple) ready();
        copy_ = copy_state::none;
        return;
      case 'f':
        return copy_failed();
      case 'S':
      case 'H':
        return;  // ignored in COPY FROM STDIN: the Sync ends nothing
      default:
        // CopyGetData raises an ERROR after reading only the type byte; PostgresMain then finds
        // the message half read, reports FATAL and closes the connection.
        emit('E');
        emit('E');
        closed_ = true;
        input.clear();
        return;
    }
  }

  void copy_failed() {
    const bool simple = copy_ == copy_state::simple;
    copy_ = copy_state::none;
    if (simple) {
      fail();
      ready();
    } else {
      extended_error();
    }
  }

  copy_state copy_ = copy_state::none;
  tx_state tx_ = tx_state::none;
  bool skipping_ = false;
  bool implicit_ = false;  // in the implicit transaction of extended-protocol messages
  bool unsynced_ = false;  // extended-protocol messages read since the last Sync read
  bool closed_ = false;
};

struct harness {
  transaction_tracker tracker;
  simulated_server server;

  void send(char type, std::uint8_t outcome) {
    tracker.on_frontend(type);
    server.input.push_back({type, outcome});
  }
  void deliver() {
    if (server.output.empty()) return;
    const message m = server.output.front();
    server.output.pop_front();
    tracker.on_backend(m.type, m.type == 'Z' ? static_cast<char>(m.outcome) : '\0');
  }

  void check() const {
    if (server.closed()) return;  // a closed server is never pooled
    if (tracker.may_release(pool_mode::session)) __builtin_trap();
    const bool released = tracker.may_release(pool_mode::transaction);
    if (released != tracker.may_release(pool_mode::statement)) __builtin_trap();
    // Safety: never release a server that still owes or holds anything.
    if (released && !server.idle()) __builtin_trap();
    if (released && (tracker.outstanding() != 0 || tracker.unsynced())) __builtin_trap();
    // Liveness: an idle, synced server is released, unless the tracker gave up for a known reason.
    if (server.idle() && server.synced() && !released) {
      const auto reason = tracker.desync_reason();
      if (reason != "COPY failed with messages in flight whose fate is unknown" &&
          reason != "too many messages in flight") {
        __builtin_trap();
      }
    }
  }
};

}  // namespace fuzz_transaction_tracker

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace fuzz_transaction_tracker;
  constexpr std::string_view client_types = "QPBDECSHFdcf";
  harness h;
  std::size_t i = 0;
  const auto next = [&]() -> std::uint8_t { return i < size ? data[i++] : 0; };
  while (i < size) {
    switch (next() % 6) {
      case 0:
      case 1: {
        const char type = client_types[next() % client_types.size()];
        h.send(type, next());
        break;
      }
      case 2:
        h.server.step();
        break;
      case 3:
        h.deliver();
        break;
      case 4:
        while (!h.server.input.empty() || !h.server.output.empty()) {
          h.server.step();
          h.deliver();
        }
        break;
      default:
        h.server.emit_async("NAS"[next() % 3]);
        break;
    }
    h.check();
  }
  while (!h.server.input.empty() || !h.server.output.empty()) {
    h.server.step();
    h.deliver();
    h.check();
  }
  return 0;
}
