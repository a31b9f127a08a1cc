// statement_map: a client's prepared statement names on shared servers, message by message.
// GCC 12 at -O3 warns about std::string assignments it inlines here (GCC bug 105329, a false
// positive of -Wrestrict).
#pragma GCC diagnostic ignored "-Wrestrict"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "frontend_messages.hpp"
#include "pgsteer/protocol/messages.hpp"
#include "statement_map.hpp"

namespace p = pgsteer::protocol;
using pgsteer::proxy::server_statements;
using pgsteer::proxy::statement_map;
using pgsteer::proxy::statement_registry;
using namespace pgsteer::proxy::test_messages;

namespace {

struct sent {
  char type;
  std::string message;
  bool swallow;
  std::uint32_t tag;
};

struct recorder : pgsteer::proxy::request_sink {
  std::vector<sent> requests;
  void send(char type, std::string_view message, bool swallow, std::uint32_t tag) override {
    requests.push_back({type, std::string(message), swallow, tag});
  }
  // "P pgsteer_0_1 swallowed" style lines: what the server is asked, in order.
  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    for (const auto& r : requests) {
      const std::string_view rest = body(r.message);
      std::string line(1, r.type);
      if (r.type == p::frontend::parse) {
        line.append(" ").append(p::parse_parse(rest)->statement);
      } else if (r.type == p::frontend::bind) {
        line.append(" ").append(p::parse_bind(rest)->statement);
      } else if (r.type == p::frontend::describe || r.type == p::frontend::close) {
        line.append(" ").append(p::parse_close(rest)->name);
      }
      if (r.swallow) line += " (pgsteer's)";
      out.push_back(line);
    }
    return out;
  }
};

struct fixture {
  statement_registry registry{"pgsteer_0_"};
  statement_map map{registry};
  server_statements server;
  recorder sink;

  bool client_sends(const std::string& message, std::size_t capacity = 100) {
    return map.rewrite(message[0], message, body(message), server, capacity, sink);
  }
};

using lines = std::vector<std::string>;

}  // namespace

TEST_CASE("a client's Parse is renamed and its Bind follows it", "[proxy][statement_map]") {
  fixture f;
  REQUIRE(f.client_sends(parse("s1", "select 1")));
  REQUIRE(f.client_sends(bind("s1")));
  CHECK(f.sink.lines() == lines{"P pgsteer_0_1", "B pgsteer_0_1"});
  CHECK(f.sink.requests[0].tag == statement_map::parse_tag(1, true));
  CHECK(f.server.has(1));
  CHECK(f.map.find("s1")->query == "select 1");
}

TEST_CASE("unnamed statements and unknown names go through as they are", "[proxy][statement_map]") {
  fixture f;
  CHECK_FALSE(f.client_sends(parse("", "select 1")));
  CHECK_FALSE(f.client_sends(bind("")));
  CHECK_FALSE(f.client_sends(bind("nope")));  // the server's "does not exist" is right
  CHECK_FALSE(f.client_sends(describe("nope")));
  CHECK(f.sink.requests.empty());
}

TEST_CASE("on another server, a statement is prepared again before its first use",
          "[proxy][statement_map]") {
  fixture f;
  f.client_sends(parse("s1", "select 1"));
  server_statements other;
  f.sink.requests.clear();
  REQUIRE(f.map.rewrite(p::frontend::bind, bind("s1"), body(bind("s1")), other, 100, f.sink));
  CHECK(f.sink.lines() == lines{"P pgsteer_0_1 (pgsteer's)", "B pgsteer_0_1"});
  CHECK(f.sink.requests[0].tag == statement_map::parse_tag(1, false));
  f.sink.requests.clear();
  // Describe of a renamed statement: renamed too, and prepared where missing.
  server_statements third;
  REQUIRE(f.map.rewrite(p::frontend::describe, describe("s1"), body(describe("s1")), third, 100,
                        f.sink));
  CHECK(f.sink.lines() == lines{"P pgsteer_0_1 (pgsteer's)", "D pgsteer_0_1"});
}

TEST_CASE("the same text from two clients is one server statement, parsed again for each",
          "[proxy][statement_map]") {
  fixture f;
  f.client_sends(parse("a", "select 1"));
  statement_map second(f.registry);
  f.sink.requests.clear();
  const auto message = parse("b", "select 1");
  REQUIRE(second.rewrite(message[0], message, body(message), f.server, 100, f.sink));
  // Closed and parsed again, so the second client gets its own ParseComplete (or error).
  CHECK(f.sink.lines() == lines{"C pgsteer_0_1 (pgsteer's)", "P pgsteer_0_1"});
}

TEST_CASE("a full server closes its least recently used statement first",
          "[proxy][statement_map]") {
  fixture f;
  f.client_sends(parse("a", "select 1"), 2);
  f.client_sends(parse("b", "select 2"), 2);
  f.client_sends(bind("a"), 2);  // a is now the most recent
  f.sink.requests.clear();
  f.client_sends(parse("c", "select 3"), 2);
  CHECK(f.sink.lines() == lines{"C pgsteer_0_2 (pgsteer's)", "P pgsteer_0_3"});
  CHECK_FALSE(f.server.has(2));
}

TEST_CASE("a duplicate name gets the server's own 42P05, in order", "[proxy][statement_map]") {
  fixture f;
  f.client_sends(parse("s1", "select 1"));
  f.sink.requests.clear();
  REQUIRE(f.client_sends(parse("s1", "select 2")));
  // The server holds the client's name for a moment so that the client's Parse fails there.
  CHECK(f.sink.lines() == lines{"P s1 (pgsteer's)", "P s1"});
  f.sink.requests.clear();
  f.map.after_sync(f.sink);
  CHECK(f.sink.lines() == lines{"C s1 (pgsteer's)", "S (pgsteer's)"});
  f.sink.requests.clear();
  f.map.after_sync(f.sink);  // only once
  CHECK(f.sink.requests.empty());
  CHECK(f.map.find("s1")->query == "select 1");  // the first statement stays
}

TEST_CASE("Close forgets the client's name, the server keeps its copy for others",
          "[proxy][statement_map]") {
  fixture f;
  f.client_sends(parse("s1", "select 1"));
  f.sink.requests.clear();
  REQUIRE(f.client_sends(close("s1")));
  CHECK(f.sink.lines() == lines{"C s1"});  // a no-op there that answers CloseComplete in order
  CHECK(f.map.find("s1") == nullptr);
  CHECK(f.server.has(1));
  // Close of an unknown name: the same, as PostgreSQL answers it.
  f.sink.requests.clear();
  REQUIRE(f.client_sends(close("never")));
  CHECK(f.sink.lines() == lines{"C never"});
}

TEST_CASE("without a server: a validated Parse and any Close are answered at once",
          "[proxy][statement_map]") {
  fixture f;
  std::string out;
  const auto p1 = parse("s1", "select 1");
  // Never accepted by a server yet: it needs one.
  CHECK_FALSE(f.map.answer_without_server(p1[0], body(p1), out));
  f.client_sends(p1);
  f.map.on_parse_complete(f.sink.requests[0].tag);
  statement_map other(f.registry);
  REQUIRE(other.answer_without_server(p1[0], body(p1), out));
  std::string want;
  p::write_parse_complete(want);
  CHECK(out == want);
  CHECK(other.find("s1") != nullptr);
  out.clear();
  REQUIRE(other.answer_without_server('C', body(close("unknown")), out));
  want.clear();
  p::write_close_complete(want);
  CHECK(out == want);
  // A name in use, and other messages, need a server.
  CHECK_FALSE(other.answer_without_server(p1[0], body(p1), out));
  CHECK_FALSE(other.answer_without_server('B', body(bind("s1")), out));
}

TEST_CASE("a failed Parse frees the client's name, a failed re-prepare keeps it",
          "[proxy][statement_map]") {
  fixture f;
  f.client_sends(parse("bad", "selec 1"));
  f.client_sends(parse("good", "select 1"));
  const auto bad_tag = f.sink.requests[0].tag;
  f.map.on_failed_parses({bad_tag}, f.server);
  CHECK(f.map.find("bad") == nullptr);
  CHECK_FALSE(f.server.has(1));
  CHECK(f.map.find("good") != nullptr);

  // An error in the middle of a re-prepare (pgsteer's own Parse on another server): that
  // server does not hold it, the client still has its name, and the next use prepares again.
  server_statements other;
  f.sink.requests.clear();
  f.map.rewrite('B', bind("good"), body(bind("good")), other, 100, f.sink);
  f.map.on_failed_parses({f.sink.requests[0].tag}, other);
  CHECK(f.map.find("good") != nullptr);
  CHECK_FALSE(other.has(2));
  f.sink.requests.clear();
  f.map.rewrite('B', bind("good"), body(bind("good")), other, 100, f.sink);
  CHECK(f.sink.lines() == lines{"P pgsteer_0_2 (pgsteer's)", "B pgsteer_0_2"});
}

TEST_CASE("pipelined Parse/Bind pairs each keep their order", "[proxy][statement_map]") {
  fixture f;
  for (const char* name : {"a", "b"}) {
    f.client_sends(parse(name, std::string("select '") + name + "'"));
    f.client_sends(bind(name));
  }
  f.map.after_sync(f.sink);  // nothing held: nothing added
  CHECK(f.sink.lines() ==
        lines{"P pgsteer_0_1", "B pgsteer_0_1", "P pgsteer_0_2", "B pgsteer_0_2"});
}

TEST_CASE("a client's DEALLOCATE ALL empties the server and the client's names",
          "[proxy][statement_map]") {
  fixture f;
  f.client_sends(parse("s1", "select 1"));
  f.map.on_parse_complete(f.sink.requests[0].tag);
  f.map.deallocated_all(f.server);
  CHECK(f.map.find("s1") == nullptr);
  CHECK(f.map.size() == 0);
  CHECK_FALSE(f.server.has(1));
  // Another client's Parse of the same text (answered without a server, since a server accepted
  // it once) is prepared again on this server before its Bind, not assumed to be there.
  statement_map other(f.registry);
  std::string out;
  const auto p1 = parse("t", "select 1");
  REQUIRE(other.answer_without_server(p1[0], body(p1), out));
  f.sink.requests.clear();
  REQUIRE(other.rewrite('B', bind("t"), body(bind("t")), f.server, 100, f.sink));
  CHECK(f.sink.lines() == lines{"P pgsteer_0_1 (pgsteer's)", "B pgsteer_0_1"});
}
