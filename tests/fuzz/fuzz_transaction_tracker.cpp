// Fuzzes the transaction tracker against a small simulation of a PostgreSQL backend, written the
// way postgres.c consumes its input: one message at a time, skipping to Sync after an
// extended-protocol error, ignoring Sync/Flush in COPY FROM STDIN. The input chooses the client's
// messages, their outcomes (errors, COPY, transaction blocks) and how sending, processing and
// receiving interleave. Safety: whenever the tracker releases, the simulated server is really
// idle. Liveness: whenever the server is really idle, the tracker releases, unless it gave up for
// one of the documented ambiguities.
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
    if (copy_ != copy_state::none) return copy_in(m);
    if (skipping_) {
      if (m.type == 'S') {
        skipping_ = false;
        implicit_ = false;
        ready();
      }
      return;
    }
    switch (m.type) {
      case 'Q':
        implicit_ = false;
        return query(m.outcome);
      case 'P':
      case 'B':
      case 'C':
        implicit_ = true;
        if (m.outcome % 4 == 0) return extended_error();
        return emit(m.type == 'P' ? '1' : m.type == 'B' ? '2' : '3');
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
        return ready();
      case 'F':
        if (m.outcome % 4 == 0) {
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

  bool idle() const {
    for (const auto& m : output) {
      if (m.type == 'Z' || m.outcome != async) return false;
    }
    // Flush and stray CopyData/CopyDone/CopyFail still in flight are read and dropped unanswered.
    for (const auto& m : input) {
      if (std::string_view("Hdcf").find(m.type) == std::string_view::npos) return false;
    }
    return copy_ == copy_state::none && !skipping_ && tx_ == tx_state::none;
  }
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
      case 'S':
      case 'H':
        return;  // ignored in COPY FROM STDIN
      default:   // CopyFail, or any other message: the COPY fails
        return copy_failed();
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
  bool implicit_ = false;
};

struct harness {
  transaction_tracker tracker;
  simulated_server server;
  bool client_unsynced = false;  // extended-protocol messages since the client's last Sync

  void send(char type, std::uint8_t outcome) {
    tracker.on_frontend(type);
    server.input.push_back({type, outcome});
    if (type == 'S') client_unsynced = false;
    if (std::string_view("PBDEC").find(type) != std::string_view::npos) client_unsynced = true;
  }
  void deliver() {
    if (server.output.empty()) return;
    const message m = server.output.front();
    server.output.pop_front();
    tracker.on_backend(m.type, m.type == 'Z' ? static_cast<char>(m.outcome) : '\0');
  }

  void check() const {
    if (tracker.may_release(pool_mode::session)) __builtin_trap();
    const bool released = tracker.may_release(pool_mode::transaction);
    if (released != tracker.may_release(pool_mode::statement)) __builtin_trap();
    const bool idle = server.idle() && !client_unsynced;
    // Safety: never release a server that still owes or holds anything.
    if (released && !idle) __builtin_trap();
    if (released && (tracker.outstanding() != 0 || tracker.unsynced())) __builtin_trap();
    // Liveness: an idle server is released, unless the tracker gave up for a known reason.
    if (idle && !released) {
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
