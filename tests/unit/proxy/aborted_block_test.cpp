// aborted_block: a transaction block whose server was lost, answered as PostgreSQL answers a
// failed block, request by request.
#include <catch2/catch.hpp>

#include <string>

#include "aborted_block.hpp"
#include "frontend_messages.hpp"
#include "pgsteer/protocol/messages.hpp"

namespace p = pgsteer::protocol;
using pgsteer::proxy::aborted_block;
using namespace pgsteer::proxy::test_messages;

namespace {

struct fixture {
  pgsteer::proxy::statement_registry registry{"pgsteer_0_"};
  pgsteer::proxy::statement_map statements{registry};
  p::function_policy functions;
  aborted_block block;

  aborted_block::answer client_sends(const std::string& message) {
    return block.on_request(message[0], body(message), statements, functions);
  }
};

}  // namespace

TEST_CASE("simple protocol: anything but COMMIT/ROLLBACK fails with 25P02",
          "[proxy][aborted_block]") {
  fixture f;
  f.block.begin();
  REQUIRE(f.block.active());
  auto a = f.client_sends(query("select 1"));
  REQUIRE(a.error);
  CHECK(a.error->code == "25P02");
  CHECK(a.then == ready('E'));
  CHECK_FALSE(a.skip_until_sync);
  // Two statements, one of them COMMIT, do not end the block.
  a = f.client_sends(query("commit; select 1"));
  CHECK(a.error);
  CHECK(f.block.active());
  for (const char* end : {"COMMIT", "rollback", "end", "abort"}) {
    INFO(end);
    f.block.begin();
    a = f.client_sends(query(end));
    CHECK_FALSE(a.error);
    CHECK(a.then == complete("ROLLBACK") + ready('I'));
    CHECK_FALSE(f.block.active());
  }
}

TEST_CASE("the loss error comes first when the loss fell between two requests",
          "[proxy][aborted_block]") {
  fixture f;
  f.block.begin(p::make_error("ERROR", "08006", "lost the connection"));
  auto a = f.client_sends(query("insert into t values (1)"));
  REQUIRE(a.error);
  CHECK(a.error->code == "08006");
  a = f.client_sends(query("select 1"));
  REQUIRE(a.error);
  CHECK(a.error->code == "25P02");
  // FunctionCall fails the same way.
  a = f.client_sends(message([](std::string& out) { p::write_function_call(out, 1); }));
  CHECK(a.error->code == "25P02");
  CHECK(a.then == ready('E'));
}

TEST_CASE("extended protocol: a failing batch is skipped up to its Sync",
          "[proxy][aborted_block]") {
  fixture f;
  f.block.begin();
  auto a = f.client_sends(parse("", "select 1"));
  REQUIRE(a.error);
  CHECK(a.skip_until_sync);
  CHECK(f.block.status() == 'E');  // what the Sync of the skipped batch reports
  a = f.client_sends(bind(""));
  CHECK(a.skip_until_sync);
  a = f.client_sends(message(p::write_sync));
  CHECK_FALSE(a.error);
  CHECK(a.then == ready('E'));
  CHECK(f.block.active());
}

TEST_CASE("extended protocol: Parse/Bind/Describe/Execute/Sync of ROLLBACK end the block",
          "[proxy][aborted_block]") {
  fixture f;
  f.block.begin();
  std::string all;
  for (const auto& m :
       {parse("", "ROLLBACK"), bind(""),
        message([](std::string& out) { p::write_describe(out, 'P', ""); }),
        message([](std::string& out) { p::write_execute(out, "", 0); }), message(p::write_sync)}) {
    const auto a = f.client_sends(m);
    CHECK_FALSE(a.error);
    all += a.then;
  }
  std::string want;
  p::write_parse_complete(want);
  p::write_bind_complete(want);
  p::write_no_data(want);
  want += complete("ROLLBACK") + ready('I');
  CHECK(all == want);
  CHECK_FALSE(f.block.active());
}

TEST_CASE("a COMMIT prepared earlier (as drivers keep it) ends the block, other statements fail",
          "[proxy][aborted_block]") {
  fixture f;
  std::string ignored;
  pgsteer::proxy::server_statements server;
  struct : pgsteer::proxy::request_sink {
    void send(char, std::string_view, bool, std::uint32_t) override {}
  } sink;
  for (auto [name, sql] :
       {std::pair{"commit_stmt", "COMMIT"}, std::pair{"select_stmt", "select 1"}}) {
    const auto m = parse(name, sql);
    f.statements.rewrite(m[0], m, body(m), server, 100, sink);
  }
  f.block.begin();
  auto a = f.client_sends(bind("select_stmt"));
  CHECK(a.error);
  CHECK(a.skip_until_sync);
  f.client_sends(message(p::write_sync));
  a = f.client_sends(bind("commit_stmt"));
  CHECK_FALSE(a.error);
  f.client_sends(message([](std::string& out) { p::write_execute(out, "", 0); }));
  a = f.client_sends(message(p::write_sync));
  CHECK(a.then == ready('I'));
  CHECK_FALSE(f.block.active());
}

TEST_CASE("Close and Flush are answered without failing the block", "[proxy][aborted_block]") {
  fixture f;
  f.block.begin();
  auto a = f.client_sends(message([](std::string& out) { p::write_close(out, 'S', "x"); }));
  CHECK_FALSE(a.error);
  CHECK(a.then == message(p::write_close_complete));
  a = f.client_sends(message(p::write_flush));
  CHECK_FALSE(a.error);
  CHECK(a.then.empty());
  CHECK(f.block.active());
}

TEST_CASE("a COMMIT after a loss the client has not heard of fails with that loss, not ROLLBACK",
          "[proxy][aborted_block]") {
  fixture f;
  SECTION("simple protocol") {
    f.block.begin(p::make_error("ERROR", "08006", "lost the connection"));
    const auto a = f.client_sends(query("commit"));
    REQUIRE(a.error);
    CHECK(a.error->code == "08006");
    CHECK(a.then == ready('I'));
    CHECK_FALSE(f.block.active());
  }
  SECTION("extended protocol: the batch is skipped and its Sync reports the block ended") {
    f.block.begin(p::make_error("ERROR", "08006", "lost the connection"));
    const auto a = f.client_sends(parse("", "COMMIT"));
    REQUIRE(a.error);
    CHECK(a.error->code == "08006");
    CHECK(a.skip_until_sync);
    CHECK(f.block.status() == 'I');
  }
  SECTION("ROLLBACK after the same loss is still answered ROLLBACK") {
    f.block.begin(p::make_error("ERROR", "08006", "lost the connection"));
    const auto a = f.client_sends(query("rollback"));
    CHECK_FALSE(a.error);
    CHECK(a.then == complete("ROLLBACK") + ready('I'));
  }
  SECTION("a COMMIT after the client was told: ROLLBACK, as PostgreSQL answers a failed block") {
    f.block.begin();
    const auto a = f.client_sends(query("commit"));
    CHECK_FALSE(a.error);
    CHECK(a.then == complete("ROLLBACK") + ready('I'));
  }
}
