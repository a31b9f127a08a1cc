// reply_filter: replies to injected requests are swallowed, everything else reaches the client in
// order, including after errors and around COPY.
#include "pgsteer/protocol/reply_filter.hpp"

#include <catch2/catch.hpp>
#include <string>

using pgsteer::protocol::reply_filter;
using verdict = reply_filter::verdict;

namespace {

// Feeds replies and returns F (forward), S (swallow) or ! (unexpected) per reply.
std::string feed(reply_filter& f, std::string_view replies) {
  std::string out;
  for (char c : replies) {
    switch (f.on_backend(c)) {
      case verdict::forward:
        out += 'F';
        break;
      case verdict::swallow:
        out += 'S';
        break;
      case verdict::unexpected:
        out += '!';
        break;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("an injected Parse before a client's Bind is swallowed, the rest forwarded",
          "[reply_filter]") {
  reply_filter f;
  f.on_frontend('P', true, 7);
  f.on_frontend('B');
  f.on_frontend('E');
  f.on_frontend('S');
  CHECK(feed(f, "12DDCZ") == "SFFFFF");
  CHECK(f.empty());
  CHECK(f.take_failed_tags().empty());
}

TEST_CASE("an injected SET query is swallowed whole, parameter status and notices included",
          "[reply_filter]") {
  reply_filter f;
  f.on_frontend('Q', true);
  f.on_frontend('Q');
  CHECK(feed(f, "SNCZ") == "SSSS");
  CHECK(feed(f, "TDCZ") == "FFFF");
  CHECK(f.empty());
}

TEST_CASE("an error in an extended request skips to Sync and reports failed tags",
          "[reply_filter]") {
  reply_filter f;
  f.on_frontend('P', true, 1);  // injected, fails
  f.on_frontend('B', false, 0);
  f.on_frontend('P', false, 2);  // skipped by the server
  f.on_frontend('S');
  CHECK(feed(f, "E") == "F");  // the client's Bind is skipped: this error is its answer
  CHECK(f.take_failed_tags() == std::vector<std::uint32_t>{1, 2});
  // Requests sent after the error, before the Sync reached the server, are skipped too.
  reply_filter g;
  g.on_frontend('P', false, 3);
  CHECK(feed(g, "E") == "F");
  g.on_frontend('B', false, 4);
  g.on_frontend('S');
  CHECK(g.take_failed_tags() == std::vector<std::uint32_t>{3, 4});
  CHECK(feed(g, "Z") == "F");
  CHECK(g.empty());
}

TEST_CASE("errors in simple queries do not skip anything", "[reply_filter]") {
  reply_filter f;
  f.on_frontend('Q');
  f.on_frontend('Q', true);
  CHECK(feed(f, "EZ") == "FF");
  CHECK(feed(f, "CZ") == "SS");
  CHECK(f.empty());
}

TEST_CASE("Syncs sent inside an extended COPY FROM STDIN expect no reply", "[reply_filter]") {
  reply_filter f;
  for (char c : std::string_view("PBDES")) f.on_frontend(c);
  CHECK(feed(f, "12n") == "FFF");
  CHECK(feed(f, "G") == "F");  // the Sync above is ignored by the server
  f.on_frontend('d');
  f.on_frontend('c');
  f.on_frontend('S');
  CHECK(feed(f, "CZ") == "FF");
  CHECK(f.empty());
}

TEST_CASE("replies nobody asked for are unexpected, except FATAL errors and notices",
          "[reply_filter]") {
  reply_filter f;
  CHECK(feed(f, "NE") == "FF");
  CHECK(feed(f, "Z") == "!");
  CHECK(feed(f, "1") == "!");
}

TEST_CASE("Describe of a statement ends at its row description", "[reply_filter]") {
  reply_filter f;
  f.on_frontend('D', true);
  f.on_frontend('S');
  CHECK(feed(f, "tT") == "SS");
  CHECK(feed(f, "Z") == "F");
}

TEST_CASE("what a client is owed when its server is lost", "[reply_filter]") {
  SECTION("a simple query waiting for its answer") {
    reply_filter f;
    f.on_frontend('Q');
    CHECK(f.owed_to_client().ready_for_query == 1);
    CHECK_FALSE(f.owed_to_client().open_batch);
  }
  SECTION("an injected query and Sync are pgsteer's, not the client's") {
    reply_filter f;
    f.on_frontend('Q', true);
    f.on_frontend('P', true, 3);
    f.on_frontend('B');
    f.on_frontend('E');
    CHECK(f.owed_to_client().ready_for_query == 0);
    CHECK(f.owed_to_client().open_batch);
    f.on_frontend('S');
    CHECK(f.owed_to_client().ready_for_query == 1);
    CHECK_FALSE(f.owed_to_client().open_batch);
  }
  SECTION("a pipeline: two Syncs and a batch still open") {
    reply_filter f;
    for (char c : std::string_view("PBESBESBE")) f.on_frontend(c);
    CHECK(f.owed_to_client().ready_for_query == 2);
    CHECK(f.owed_to_client().open_batch);
    CHECK(feed(f, "123CZ") == "FFFFF");  // the first batch is answered
    CHECK(f.owed_to_client().ready_for_query == 1);
  }
  SECTION("after an error the server skips to a Sync the client has not sent") {
    reply_filter f;
    f.on_frontend('P');
    f.on_frontend('B');
    CHECK(feed(f, "E") == "F");
    CHECK(f.owed_to_client().ready_for_query == 0);
    CHECK(f.owed_to_client().open_batch);
  }
  SECTION("nothing asked: nothing owed") {
    reply_filter f;
    CHECK(f.owed_to_client().ready_for_query == 0);
    CHECK_FALSE(f.owed_to_client().open_batch);
  }
}
