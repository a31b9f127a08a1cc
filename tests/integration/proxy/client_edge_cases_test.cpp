// Client end-of-stream and startup edge cases, with raw sockets, answered as PostgreSQL answers
// them: each expectation is what the direct server sends in the same test, not a copy of ours.
//   - a client that half-closes after its last request gets every reply, then the close;
//   - a second SSLRequest after an `N` is refused with PostgreSQL's FATAL;
//   - a message over clients.max_message_size: the client reads the error, not a reset.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "cluster.hpp"
#include "pg.hpp"
#include "pgsteer/protocol/error_response.hpp"
#include "pgsteer/protocol/framer.hpp"
#include "pgsteer/protocol/messages.hpp"
#include "pgsteer/protocol/startup.hpp"
#include "pgsteer_process.hpp"
#include "raw_client.hpp"

using pgsteer::test::cluster;
using pgsteer::test::pgsteer_options;
using pgsteer::test::pgsteer_process;
using pgsteer::test::raw_client;
namespace pg = pgsteer::test::pg;
namespace p = pgsteer::protocol;
using namespace std::chrono_literals;

namespace {

// The message types in a stream of backend messages ("TDCZ"), and whether it ended cleanly.
std::string types_of(std::string_view stream) {
  std::string out;
  for (;;) {
    const auto frame = p::next_frame(stream, 1 << 30);
    if (frame.status != p::frame_status::complete) {
      if (!stream.empty()) out += "<partial>";
      return out;
    }
    out += frame.type;
    stream.remove_prefix(frame.size);
  }
}

std::optional<p::error_fields> first_error(std::string_view stream) {
  for (;;) {
    const auto frame = p::next_frame(stream, 1 << 30);
    if (frame.status != p::frame_status::complete) return std::nullopt;
    if (frame.type == p::backend::error_response) {
      if (auto fields = p::parse_error_fields(frame.body)) return p::to_error_fields(*fields);
      return std::nullopt;
    }
    stream.remove_prefix(frame.size);
  }
}

const std::string simple_request = [] {
  std::string out;
  p::write_query(out, "select 1 as one from pg_sleep(0.01)");
  return out;
}();

const std::string extended_request = [] {
  std::string out;
  p::write_parse(out, "", "select $1::int + 1 as two from pg_sleep(0.01)");
  p::write_bind(out, "", "", {std::string_view("1")});
  p::write_describe(out, 'P', "");
  p::write_execute(out, "", 0);
  p::write_sync(out);
  return out;
}();

// Logs in, sends `request`, half-closes, and returns everything read until the server closes.
std::string half_close(int port, const std::string& request, bool& clean_close) {
  raw_client client(port);
  client.log_in(cluster::app_user, cluster::app_password, "app");
  client.send(request);
  client.shutdown_write();
  auto bytes = client.read_until_closed(20s);
  clean_close = client.closed() && !client.reset();
  return bytes;
}

}  // namespace

TEST_CASE("a client that half-closes after its request gets the whole answer, 100 times in a row",
          "[proxy]") {
  auto& c = cluster::shared();
  for (const char* mode : {"transaction", "session"}) {
    DYNAMIC_SECTION(mode << " pooling") {
      pgsteer_options options;
      options.pool_mode = mode;
      options.pool_size = 1;  // a server kept by a half-open client would starve the next one
      options.workers = 1;
      pgsteer_process proxy(c, options);
      for (const auto* request : {&simple_request, &extended_request}) {
        bool direct_clean = false;
        const auto direct = half_close(c.port(0), *request, direct_clean);
        REQUIRE(direct_clean);
        INFO("PostgreSQL answered " << types_of(direct));
        REQUIRE(types_of(direct).back() == 'Z');
        for (int run = 0; run < 100; ++run) {
          INFO("run " << run);
          bool clean = false;
          const auto through = half_close(proxy.port(), *request, clean);
          CHECK(types_of(through) == types_of(direct));
          CHECK(through == direct);
          CHECK(clean);
          if (through != direct) break;
        }
      }
      // The pool's one server serves the next client.
      pg::connection next(proxy.conninfo("app_rw"));
      CHECK(next.scalar("select 42") == "42");
    }
  }
}

TEST_CASE("a half-closed client inside a transaction block leaves nothing open", "[proxy]") {
  auto& c = cluster::shared();
  pgsteer_options options;
  options.pool_size = 1;
  options.workers = 1;
  pgsteer_process proxy(c, options);
  std::string request;
  p::write_query(request, "begin; select 1");
  bool clean = false;
  const auto through = half_close(proxy.port(), request, clean);
  CHECK(types_of(through) == "CTDCZ");
  CHECK(clean);
  pg::connection next(proxy.conninfo("app_rw"));
  // Not inside the other client's transaction, on whichever server this is.
  CHECK(next.scalar("select now() = statement_timestamp()") == "t");
}

TEST_CASE("a second SSLRequest after N is refused as PostgreSQL refuses it", "[proxy]") {
  auto& c = cluster::shared();
  pgsteer_process proxy(c);
  std::string ssl;
  p::write_ssl_request(ssl);
  auto attempt = [&](int port) {
    raw_client client(port);
    client.send(ssl);
    const auto answer = client.read_until_closed(300ms);
    REQUIRE(answer == "N");
    client.send(ssl);
    const auto bytes = client.read_until_closed(10s);
    CHECK(client.closed());
    return bytes;
  };
  const auto direct = first_error(attempt(c.port(0)));
  const auto through = first_error(attempt(proxy.port()));
  REQUIRE(direct);
  REQUIRE(through);
  CHECK(through->severity == direct->severity);
  CHECK(through->code == direct->code);
  CHECK(through->message == direct->message);
}

TEST_CASE("a message over clients.max_message_size: the client reads the 54000 error", "[proxy]") {
  auto& c = cluster::shared();
  pgsteer_options options;
  options.client_settings = {"max_message_size: 1MB"};
  pgsteer_process proxy(c, options);
  for (int run = 0; run < 5; ++run) {
    INFO("run " << run);
    raw_client client(proxy.port());
    client.log_in(cluster::app_user, cluster::app_password, "app");
    // A Query of 8 MB: pgsteer refuses it on its header while the client is still sending.
    std::string big;
    p::write_query(big, std::string(8 << 20, 'x'));
    client.send_some(big);
    const auto bytes = client.read_until_closed(20s);
    const auto error = first_error(bytes);
    REQUIRE(error);
    CHECK(error->severity == "FATAL");
    CHECK(error->code == "54000");
    CHECK(error->message.find("exceeds pgsteer's clients.max_message_size") != std::string::npos);
    CHECK(client.closed());
    CHECK_FALSE(client.reset());
  }
  // Other clients carry on.
  pg::connection next(proxy.conninfo("app_rw"));
  CHECK(next.scalar("select 1") == "1");
}
