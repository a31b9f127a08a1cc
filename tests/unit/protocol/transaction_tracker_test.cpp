// The transaction tracker decides when a server goes back to the pool: every case here is a way a
// pooler can hand a busy server to another client.
#include <catch2/catch.hpp>

#include <string_view>

#include "pgsteer/protocol/transaction_tracker.hpp"

using namespace pgsteer::protocol;

namespace {
// Feeds a script: ">X" frontend message X, "<X" backend message X, "<Zs" ReadyForQuery status s.
void feed(transaction_tracker& t, std::string_view script) {
  for (std::size_t i = 0; i < script.size();) {
    const char dir = script[i];
    const char type = script[i + 1];
    if (dir == '>') {
      t.on_frontend(type);
      i += 2;
    } else if (type == 'Z') {
      t.on_backend('Z', script[i + 2]);
      i += 3;
    } else {
      t.on_backend(type);
      i += 2;
    }
  }
}
}  // namespace

TEST_CASE("release points in transaction mode", "[protocol][tracker]") {
  struct row {
    const char* name;
    const char* script;
    bool releasable;
  };
  const row rows[] = {
      {"simple query answered", ">Q<T<D<C<ZI", true},
      {"simple query not answered yet", ">Q<T<D", false},
      {"BEGIN leaves a transaction open", ">Q<C<ZT", false},
      {"COMMIT closes it", ">Q<C<ZT>Q<C<ZI", true},
      {"failed transaction holds the server", ">Q<C<ZT>Q<E<ZE", false},
      {"ROLLBACK after failure releases", ">Q<C<ZT>Q<E<ZE>Q<C<ZI", true},
      {"extended query without Sync", ">P>B>E", false},
      {"extended query answered up to Flush only", ">P>B>E>H<1<2<C", false},
      {"extended query synced and answered", ">P>B>D>E>S<1<2<T<D<C<ZI", true},
      {"pipeline: two Syncs, one answered", ">P>B>E>S>B>E>S<1<2<C<ZI", false},
      {"pipeline: two Syncs, both answered", ">P>B>E>S>B>E>S<1<2<C<ZI<2<C<ZI", true},
      {"error inside a pipeline still ends with one Z per Sync", ">P>B>E>S>B>E>S<E<ZI<2<C<ZI",
       true},
      {"multi-statement simple query: one Z", ">Q<C<C<C<ZI", true},
      {"empty query", ">Q<I<ZI", true},
      {"COPY FROM STDIN in progress", ">Q<G>d>d", false},
      {"COPY FROM STDIN done, not answered", ">Q<G>d>c", false},
      {"COPY FROM STDIN finished", ">Q<G>d>c<C<ZI", true},
      {"COPY FROM STDIN failed by the client", ">Q<G>f<E<ZI", true},
      {"COPY TO STDOUT streaming", ">Q<H<d<d", false},
      {"COPY TO STDOUT finished", ">Q<H<d<c<C<ZI", true},
      {"function call answered", ">F<V<ZI", true},
      {"Sync alone", ">S<ZI", true},
      {"Terminate changes nothing", ">X", true},
  };
  for (const auto& r : rows) {
    INFO(r.name);
    transaction_tracker t;
    feed(t, r.script);
    CHECK(t.may_release(pool_mode::transaction) == r.releasable);
    CHECK(t.may_release(pool_mode::statement) == r.releasable);
    CHECK_FALSE(t.may_release(pool_mode::session));
  }
}

TEST_CASE("the tracker reports what is outstanding", "[protocol][tracker]") {
  transaction_tracker t;
  feed(t, ">P>B>E>S>P>B>E>S>Q");
  CHECK(t.outstanding() == 3);
  CHECK_FALSE(t.unsynced());
  feed(t, "<1<2<C<ZI");
  CHECK(t.outstanding() == 2);
  feed(t, ">P");
  CHECK(t.unsynced());
  feed(t, "<1<2<C<ZT<C<ZT");
  CHECK(t.outstanding() == 0);
  CHECK(t.status() == 'T');
  CHECK(t.in_transaction());
  CHECK_FALSE(t.idle());  // the Parse after the last Sync is still unsynced
}

TEST_CASE("copy states are tracked in both directions", "[protocol][tracker]") {
  transaction_tracker t;
  feed(t, ">Q<G");
  CHECK(t.in_copy_in());
  feed(t, ">c");
  CHECK_FALSE(t.in_copy_in());
  feed(t, "<C<ZI>Q<H");
  CHECK(t.in_copy_out());
  feed(t, "<c");
  CHECK_FALSE(t.in_copy_out());
  // An error during COPY IN ends with ReadyForQuery, which ends the copy state too.
  feed(t, "<C<ZI>Q<G<E<ZI");
  CHECK_FALSE(t.in_copy_in());
  CHECK(t.may_release(pool_mode::transaction));
}

TEST_CASE("an unexpected ReadyForQuery never makes the count wrap", "[protocol][tracker]") {
  transaction_tracker t;
  t.on_backend('Z', 'I');
  CHECK(t.outstanding() == 0);
  CHECK(t.may_release(pool_mode::transaction));
}
