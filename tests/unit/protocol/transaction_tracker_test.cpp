// The transaction tracker decides when a server goes back to the pool: every case here is a way a
// pooler can hand a busy server to another client, or keep an idle one forever.
#include <catch2/catch.hpp>

#include <string>
#include <string_view>

#include "pgsteer/protocol/transaction_tracker.hpp"

using namespace pgsteer::protocol;

namespace {

// Runs a script against a tracker and checks the release decision after every message.
// Script: ">X" the client sends X, "<X" the server sends X, "<Zs" ReadyForQuery with status s;
// spaces are ignored. A '|' marks a point where the server may be released; at every other point
// it must not be. Returns what went wrong, or "" when every point matched.
std::string run_script(transaction_tracker& t, std::string_view script, pool_mode mode) {
  std::string trace;
  for (std::size_t i = 0; i < script.size();) {
    const char c = script[i];
    if (c == ' ' || c == '|') {
      ++i;
      continue;
    }
    const char type = script[i + 1];
    trace.append(script.substr(i, type == 'Z' && c == '<' ? 3 : 2));
    if (c == '>') {
      t.on_frontend(type);
      i += 2;
    } else if (type == 'Z') {
      t.on_backend('Z', script[i + 2]);
      i += 3;
    } else {
      t.on_backend(type);
      i += 2;
    }
    std::size_t next = i;
    while (next < script.size() && script[next] == ' ') ++next;
    const bool expected = next < script.size() && script[next] == '|';
    if (t.may_release(mode) != expected) {
      return "after " + trace + ": may_release is " + (expected ? "false" : "true");
    }
  }
  return "";
}

struct row {
  const char* name;
  const char* script;
};

}  // namespace

TEST_CASE("release points in transaction mode", "[protocol][tracker]") {
  const row rows[] = {
      // Simple query protocol.
      {"simple query", ">Q <T<D<C<ZI|"},
      {"two simple queries in a row", ">Q <C<ZI| >Q <C<ZI|"},
      {"BEGIN leaves a transaction open until COMMIT", ">Q <C<ZT >Q <C<ZT >Q <C<ZI|"},
      {"failed transaction holds the server until ROLLBACK", ">Q <C<ZT >Q <E<ZE >Q <C<ZI|"},
      {"multi-statement simple query: one ReadyForQuery", ">Q <C<T<D<C<C<ZI|"},
      {"error in a multi-statement query", ">Q <C<E<ZI|"},
      {"empty query", ">Q <I<ZI|"},
      {"pipelined simple queries", ">Q>Q <C<ZI <C<ZI|"},
      {"notices, notifications and parameter changes on the way", ">Q <N<S<C<A<ZI|"},
      {"function call", ">F <V<ZI|"},
      {"failing function call", ">F <E<ZI|"},
      {"Terminate and Flush alone change nothing", ">X| >H|"},
      // Extended query protocol.
      {"extended query", ">P>B>D>E>S <1<2<T<D<C<ZI|"},
      {"statement Describe: ParameterDescription then RowDescription", ">P>D>S <1<t<T<ZI|"},
      {"statement Describe of a statement without result", ">P>D>S <1<t<n<ZI|"},
      {"extended query not synced", ">P>B>E <1<2<C"},
      {"Flush answers without ending the implicit transaction", ">P>B>E>H <1<2<C >S <ZI|"},
      {"portal suspended, executed again, then synced", ">P>B>E>H <1<2<D<s >E>S <D<C<ZI|"},
      {"empty query through Execute", ">P>B>E>S <1<2<I<ZI|"},
      {"Close statement and portal", ">C>C>S <3<3<ZI|"},
      {"pipeline: three Syncs in flight", ">P>B>E>S>B>E>S>B>E>S <1<2<C<ZI <2<C<ZI <2<C<ZI|"},
      {"pipeline: an error skips to the next Sync only",
       ">P>B>E>S>B>E>S>B>E>S <1<2<C<ZI <2<E<ZI <2<C<ZI|"},
      {"an error skips a Query queued before the Sync", ">P>B>E>Q>S <1<E<ZI|"},
      {"an error skips what the client sends until its Sync", ">P>B>E>H <1<E >Q>F>B>E >S <ZI|"},
      {"an error without Sync holds the server", ">P>B>E>H <1<2<E"},
      {"commit fails at Sync (deferred constraint)", ">P>B>E>S <1<2<C<E<ZI|"},
      {"extended BEGIN keeps the transaction", ">P>B>E>S <1<2<C<ZT >P>B>E>S <1<2<C<ZI|"},
      // COPY.
      {"COPY FROM STDIN, simple query", ">Q <G >d>d>c <C<ZI|"},
      {"COPY FROM STDIN, client gives up", ">Q <G >d>f <E<ZI|"},
      {"COPY FROM STDIN fails while the client still sends data", ">Q <G >d <E<ZI| >d| >c|"},
      {"COPY FROM STDIN with everything sent at once", ">Q>d>c <G<C<ZI|"},
      {"COPY FROM STDIN, libpq extended: the first Sync is ignored",
       ">P>B>D>E>S <1<2<n<G >d>d>c>S <C<ZI|"},
      {"COPY FROM STDIN, tokio-postgres: Bind Execute Sync, then CopyDone Sync",
       ">B>E>S <2<G >d>c>S <C<ZI|"},
      {"COPY FROM STDIN, extended, everything sent at once", ">P>B>E>d>d>c>S <1<2<G<C<ZI|"},
      {"COPY FROM STDIN, extended with Flush", ">P>B>E>H <1<2<G >d>c>S <C<ZI|"},
      {"COPY FROM STDIN, extended, client gives up", ">P>B>E>H <1<2<G >d>f>S <E<ZI|"},
      {"COPY FROM STDIN, extended, fails before the client ends it",
       ">P>B>E>H <1<2<G >d <E >d>c >S <ZI|"},
      {"COPY TO STDOUT, simple query", ">Q <H<d<d<c<C<ZI|"},
      {"COPY TO STDOUT, extended", ">P>B>E>S <1<2<H<d<c<C<ZI|"},
      {"COPY TO STDOUT fails midway", ">Q <H<d<E<ZI|"},
      // The ReadyForQuery that ends the login.
      {"login ReadyForQuery before any request", "<ZI| >Q <C<ZI|"},
  };
  for (const auto& r : rows) {
    INFO(r.name << ": " << r.script);
    transaction_tracker t;
    CHECK(run_script(t, r.script, pool_mode::transaction) == "");
    CHECK_FALSE(t.desynchronized());
    transaction_tracker s;
    CHECK(run_script(s, r.script, pool_mode::statement) == "");
  }
}

TEST_CASE("session mode never releases", "[protocol][tracker]") {
  transaction_tracker t;
  CHECK(run_script(t, ">Q <C<ZI >P>B>E>S <1<2<C<ZI", pool_mode::session) == "");
  CHECK(t.idle());
}

TEST_CASE("what the server owes, step by step", "[protocol][tracker]") {
  transaction_tracker t;
  CHECK(t.outstanding() == 0);
  CHECK(t.status() == 'I');
  run_script(t, ">P>B>E>S>P>B>E>S>Q|", pool_mode::session);
  CHECK(t.outstanding() == 3);
  CHECK_FALSE(t.unsynced());
  run_script(t, "<1<2<C<ZI", pool_mode::session);
  CHECK(t.outstanding() == 2);
  run_script(t, ">P", pool_mode::session);
  CHECK(t.unsynced());
  run_script(t, "<1<2<C<ZT <C<ZT", pool_mode::session);
  CHECK(t.outstanding() == 0);
  CHECK(t.status() == 'T');
  CHECK(t.in_transaction());
  CHECK_FALSE(t.idle());  // the Parse after the last Sync is still unsynced
  run_script(t, ">S <1<ZI", pool_mode::session);
  CHECK(t.idle());
}

TEST_CASE("Syncs sent during COPY FROM STDIN stop being owed when the COPY completes",
          "[protocol][tracker]") {
  transaction_tracker t;
  run_script(t, ">B>E>S <2<G", pool_mode::session);
  CHECK(t.in_copy_in());
  CHECK(t.outstanding() == 1);  // the Sync: ignored or not, nobody knows yet
  run_script(t, ">d>c", pool_mode::session);
  CHECK_FALSE(t.in_copy_in());  // the client's part is over
  run_script(t, ">S", pool_mode::session);
  CHECK(t.outstanding() == 2);
  run_script(t, "<C", pool_mode::session);
  CHECK(t.outstanding() == 1);  // the COPY completed: the first Sync was ignored
  run_script(t, "<ZI", pool_mode::session);
  CHECK(t.outstanding() == 0);
  CHECK(t.may_release(pool_mode::transaction));
}

TEST_CASE("a Sync ignored in COPY FROM STDIN ends nothing", "[protocol][tracker]") {
  // PostgreSQL reads and drops a Sync sent in copy-in mode (copyfromparse.c): the implicit
  // transaction of a COPY run by Execute stays open until the next Sync the server reads.
  const row rows[] = {
      {"extended COPY, no Sync after CopyDone: held until one comes",
       ">P>B>E>S <1<2<G >d>c <C >S <ZI|"},
      {"tokio-postgres order without the second Sync", ">B>E>S <2<G >d>c <C >H >S <ZI|"},
      {"two ignored Syncs and a Flush", ">B>E>S>H>S <2<G >d>c <C >S <ZI|"},
      {"everything sent at once, the only Sync ignored", ">P>B>E>S>d>c <1<2<G<C >S <ZI|"},
      {"a pipeline after the CopyDone: its Sync ends the COPY's transaction too",
       ">P>B>E>S <1<2<G >d>c>P>B>E>S <C<1<2<C<ZI|"},
      {"extended BEGIN, then a COPY with an ignored Sync: the block stays open",
       ">P>B>E>S <1<2<C<ZT >B>E>S <2<G >d>c <C >S <ZT >Q <C<ZI|"},
      {"simple COPY: the ignored Sync is owed nothing and opened nothing", ">Q <G >S>d>c <C<ZI|"},
  };
  for (const auto& r : rows) {
    INFO(r.name << ": " << r.script);
    transaction_tracker t;
    CHECK(run_script(t, r.script, pool_mode::transaction) == "");
    CHECK_FALSE(t.desynchronized());
    transaction_tracker s;
    CHECK(run_script(s, r.script, pool_mode::statement) == "");
  }
}

TEST_CASE("after a COPY ignored its Sync, the extended messages are unsynced again",
          "[protocol][tracker]") {
  transaction_tracker t;
  run_script(t, ">P>B>E>S", pool_mode::session);
  CHECK_FALSE(t.unsynced());  // whether the server will ignore this Sync is not known yet
  run_script(t, "<1<2<G >d>c <C", pool_mode::session);
  CHECK(t.outstanding() == 0);
  CHECK(t.unsynced());
  CHECK(t.status() == 'I');
  CHECK_FALSE(t.idle());
  CHECK_FALSE(t.may_release(pool_mode::transaction));
  run_script(t, ">S <ZI", pool_mode::session);
  CHECK_FALSE(t.unsynced());
  CHECK(t.may_release(pool_mode::transaction));
}

TEST_CASE("copy states are tracked in both directions", "[protocol][tracker]") {
  transaction_tracker t;
  run_script(t, ">Q <G", pool_mode::session);
  CHECK(t.in_copy_in());
  run_script(t, ">d>c", pool_mode::session);
  CHECK_FALSE(t.in_copy_in());
  run_script(t, "<C<ZI >Q <H", pool_mode::session);
  CHECK(t.in_copy_out());
  run_script(t, "<d<c", pool_mode::session);
  CHECK_FALSE(t.in_copy_out());
  // An error during COPY IN ends with ReadyForQuery, which ends the copy state too.
  run_script(t, "<C<ZI >Q <G<E<ZI", pool_mode::session);
  CHECK_FALSE(t.in_copy_in());
  CHECK(t.may_release(pool_mode::transaction));
}

TEST_CASE("conversations that cannot be followed desynchronize the tracker for good",
          "[protocol][tracker]") {
  const row rows[] = {
      // Whether the server read the Sync before failing decides whether it answers it: both
      // happen (a BEFORE STATEMENT trigger fails before any data is read).
      {"extended COPY fails with a Sync in flight", ">B>E>S <2<G >d <E"},
      {"ReadyForQuery nobody asked for", ">Q <C<ZI| <ZI"},
      {"ReadyForQuery for an extended message", ">P>S <ZI"},
      {"ParseComplete while a Query runs", ">Q <1"},
      {"a reply with nothing outstanding", ">Q <C<ZI| <2"},
      {"ReadyForQuery with a bad status", ">Q <C<ZX"},
      {"unknown frontend message", ">Q <C<ZI| >y"},
      {"unknown backend message", ">Q <y"},
      {"CopyBothResponse (replication)", ">Q <W"},
      {"a Query inside a COPY that then completes", ">Q>Q>c <G<C"},
  };
  for (const auto& r : rows) {
    INFO(r.name << ": " << r.script);
    transaction_tracker t;
    CHECK(run_script(t, r.script, pool_mode::transaction) == "");
    CHECK(t.desynchronized());
    CHECK_FALSE(t.desync_reason().empty());
    CHECK_FALSE(t.idle());
    // Nothing brings it back.
    run_script(t, ">S <ZI >Q <C<ZI", pool_mode::session);
    CHECK_FALSE(t.may_release(pool_mode::transaction));
  }
}

TEST_CASE("statement mode releases after each statement, not inside a transaction block",
          "[protocol][tracker]") {
  transaction_tracker t;
  CHECK(run_script(t, ">Q <C<ZI| >P>B>E>S <1<2<C<ZI|", pool_mode::statement) == "");
  CHECK(run_script(t, ">Q <C<ZT", pool_mode::statement) == "");
  CHECK(t.in_transaction());  // the proxy refuses this in statement mode
}

TEST_CASE("the queue is bounded", "[protocol][tracker]") {
  transaction_tracker t(64);
  // Alternating kinds cannot share a run: 2 runs per Parse+Sync.
  for (int i = 0; i < 31; ++i) {
    t.on_frontend('P');
    t.on_frontend('S');
  }
  CHECK_FALSE(t.desynchronized());
  CHECK(t.outstanding() == 31);
  for (int i = 0; i < 31; ++i) {
    t.on_backend('1');
    t.on_backend('Z', 'I');
  }
  CHECK(t.may_release(pool_mode::transaction));
  // Runs of one kind take one slot however long.
  for (int i = 0; i < 100000; ++i) t.on_frontend('Q');
  CHECK_FALSE(t.desynchronized());
  for (int i = 0; i < 100000; ++i) t.on_backend('Z', 'I');
  CHECK(t.may_release(pool_mode::transaction));
  for (int i = 0; i < 40; ++i) {
    t.on_frontend('P');
    t.on_frontend('S');
  }
  CHECK(t.desynchronized());
}

TEST_CASE("the ring keeps order while it wraps and grows", "[protocol][tracker]") {
  transaction_tracker t;
  // Keep 1..20 alternating runs in flight while the ring head moves around.
  for (int round = 0; round < 200; ++round) {
    const int depth = 1 + round % 20;
    for (int i = 0; i < depth; ++i) {
      t.on_frontend('P');
      t.on_frontend('S');
    }
    for (int i = 0; i < depth; ++i) {
      REQUIRE_FALSE(t.may_release(pool_mode::transaction));
      t.on_backend('1');
      t.on_backend('Z', 'I');
    }
    REQUIRE(t.may_release(pool_mode::transaction));
  }
  CHECK_FALSE(t.desynchronized());
}
