// The transaction tracker against a real PostgreSQL 15: each script sends real messages (built by
// protocol/), reads the server's replies through the tracker until it says the server may be
// released, then proves the server owes nothing more: the next query's first reply is its own.
// A tracker that expects too much times out here; one that expects too little fails the proof.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cluster.hpp"
#include "pgsteer/protocol/framer.hpp"
#include "pgsteer/protocol/md5.hpp"
#include "pgsteer/protocol/messages.hpp"
#include "pgsteer/protocol/startup.hpp"
#include "pgsteer/protocol/transaction_tracker.hpp"

using namespace pgsteer::protocol;
using pgsteer::test::cluster;

namespace {

// pg_proc OID of pg_backend_pid(), for FunctionCall.
constexpr std::int32_t pg_backend_pid_oid = 2026;

std::string q(std::string_view sql) {
  std::string out;
  write_query(out, sql);
  return out;
}
std::string parse(std::string_view sql, std::string_view name = "") {
  std::string out;
  write_parse(out, name, sql);
  return out;
}
std::string bind(std::string_view statement = "") {
  std::string out;
  write_bind(out, "", statement);
  return out;
}
std::string describe(char kind, std::string_view name = "") {
  std::string out;
  write_describe(out, kind, name);
  return out;
}
std::string execute(std::int32_t max_rows = 0) {
  std::string out;
  write_execute(out, "", max_rows);
  return out;
}
std::string close_statement(std::string_view name) {
  std::string out;
  write_close(out, 'S', name);
  return out;
}
std::string sync_message() {
  std::string out;
  write_sync(out);
  return out;
}
std::string flush() {
  std::string out;
  write_flush(out);
  return out;
}
std::string copy_data(std::string_view data) {
  std::string out;
  write_copy_data(out, data);
  return out;
}
std::string copy_done() {
  std::string out;
  write_copy_done(out);
  return out;
}
std::string copy_fail() {
  std::string out;
  write_copy_fail(out, "client gave up");
  return out;
}
std::string function_call(std::int32_t oid) {
  std::string out;
  write_function_call(out, oid);
  return out;
}

// One server connection, every message in both directions fed to a tracker.
class server {
 public:
  server() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval timeout{5, 0};  // a tracker that waits for a reply that never comes fails here
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(cluster::shared().port(0)));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    login();
    // Tables for the COPY scripts: a key to violate, a view and a BEFORE STATEMENT trigger that
    // fail a COPY before it reads any data, a constraint checked only at commit.
    send(
        q("create temp table t (a int primary key);"
          "create temp view v as select * from t;"
          "create temp table trig (a int);"
          "create function pg_temp.refuse() returns trigger language plpgsql as "
          "  $$ begin raise exception 'refused'; end $$;"
          "create trigger refuse before insert on trig for each statement "
          "  execute function pg_temp.refuse();"
          "create temp table deferred (a int unique deferrable initially deferred)"));
    REQUIRE(releases());
  }
  ~server() { ::close(fd_); }
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  transaction_tracker tracker;
  std::string trace;  // ">P>B<1<2..." so far, for failure messages

  void send(const std::string& bytes) {
    for (std::string_view rest = bytes; !rest.empty();) {
      const frame f = next_frame(rest, 1 << 20);
      REQUIRE(f.status == frame_status::complete);
      tracker.on_frontend(f.type);
      trace.append(">").push_back(f.type);
      rest.remove_prefix(f.size);
    }
    REQUIRE(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(bytes.size()));
  }

  // The next message from the server, fed to the tracker; 0 on timeout or close.
  char receive() {
    const auto m = next_message();
    if (!m) return 0;
    const char status = m->first == 'Z' && m->second.size() == 1 ? m->second[0] : '\0';
    tracker.on_backend(m->first, status);
    trace.append("<").push_back(m->first);
    if (status != '\0') trace.push_back(status);
    last_body_ = std::move(m->second);
    return m->first;
  }

  // Reads up to and including a message of `type`; the server must stay unreleasable meanwhile.
  bool await(char type) {
    while (true) {
      const char got = receive();
      if (got == 0 || tracker.may_release(pool_mode::transaction)) return got == type;
      if (got == type) return true;
    }
  }

  // Reads until the tracker has nothing outstanding (or gives up), then proves the server agrees:
  // a query sent now is answered first with its own RowDescription.
  bool settles() {
    while (!tracker.idle()) {
      if (tracker.desynchronized() || receive() == 0) return false;
    }
    return owes_nothing();
  }
  // settles(), outside a transaction block: the server may go back to the pool.
  bool releases() { return settles() && tracker.may_release(pool_mode::transaction); }

  bool owes_nothing() {
    const std::string before = trace;
    // In a failed transaction block the sentinel's own first reply is an error.
    const char expected = tracker.status() == 'E' ? 'E' : 'T';
    send(q("select 'sentinel'"));
    const bool first_is_ours = receive() == expected;
    while (!tracker.idle() && !tracker.desynchronized() && receive() != 0) {
    }
    trace = before;
    return first_is_ours && tracker.idle();
  }

  // Runs a query returning one value, through the tracker, and returns that value as text.
  std::string value_of(std::string_view sql) {
    send(q(sql));
    std::string value;
    while (const char got = receive()) {
      if (got == 'D') {
        const auto row = parse_data_row(last_body_);
        if (row && !row->empty() && (*row)[0]) value = std::string(*(*row)[0]);
      }
      if (got == 'Z') break;
    }
    return value;
  }

  // Counts the ReadyForQuery messages that arrive before a sentinel query's first reply: how many
  // the server really owed, whatever the tracker thinks.
  int ready_for_query_before_sentinel() {
    send(q("select 'sentinel'"));
    int count = 0;
    while (true) {
      const auto m = next_message();
      if (!m || m->first == 'T') return count;
      count += m->first == 'Z' ? 1 : 0;
    }
  }

 private:
  std::optional<std::pair<char, std::string>> next_message() {
    while (true) {
      const frame f = next_frame(buffer_, 1 << 20);
      if (f.status == frame_status::complete) {
        std::pair<char, std::string> m{f.type, std::string(f.body)};
        buffer_.erase(0, f.size);
        return m;
      }
      if (f.status != frame_status::need_more) return std::nullopt;
      char chunk[8192];
      const auto n = ::read(fd_, chunk, sizeof chunk);
      if (n <= 0) return std::nullopt;
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  // md5 login as app_md5; the login's own ReadyForQuery goes through the tracker too.
  void login() {
    std::string out;
    write_startup_message(out, {{"user", "app_md5"}, {"database", cluster::app_database}});
    REQUIRE(::send(fd_, out.data(), out.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(out.size()));
    auto m = next_message();
    REQUIRE(m);
    REQUIRE(m->first == 'R');
    const auto auth = parse_authentication(m->second);
    REQUIRE(auth);
    REQUIRE(auth->code == auth_code::md5_password);
    out.clear();
    write_password_message(out, md5::client_response("app_md5", cluster::app_password, auth->data));
    REQUIRE(::send(fd_, out.data(), out.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(out.size()));
    while (true) {
      m = next_message();
      REQUIRE(m);
      REQUIRE(m->first != 'E');
      if (m->first == 'Z') {
        tracker.on_backend('Z', m->second[0]);
        break;
      }
    }
    REQUIRE(tracker.may_release(pool_mode::transaction));
  }

  int fd_ = -1;
  std::string buffer_;
  std::string last_body_;  // of the last message receive() returned
};

}  // namespace

TEST_CASE("tracker vs PostgreSQL: simple query protocol", "[integration][tracker]") {
  server s;
  SECTION("one statement") {
    s.send(q("select 1"));
  }
  SECTION("several statements, one ReadyForQuery") {
    s.send(q("select 1; select 2; select 3"));
  }
  SECTION("an error in the middle of several") {
    s.send(q("select 1; select 1/0; select 3"));
  }
  SECTION("an empty query") {
    s.send(q(""));
  }
  SECTION("notices, a notification and a parameter change on the way") {
    s.send(
        q("do $$ begin raise notice 'hello'; end $$; listen c; notify c, 'payload';"
          "set application_name = 'tracker'"));
  }
  SECTION("pipelined queries") {
    s.send(q("select 1") + q("select 1/0") + q("select 3"));
  }
  SECTION("function calls, one failing") {
    s.send(function_call(pg_backend_pid_oid) + function_call(0));
  }
  INFO(s.trace);
  CHECK(s.releases());
}

TEST_CASE("tracker vs PostgreSQL: transaction blocks hold the server", "[integration][tracker]") {
  server s;
  s.send(q("begin"));
  REQUIRE(s.settles());
  CHECK(s.tracker.status() == 'T');
  CHECK_FALSE(s.tracker.may_release(pool_mode::transaction));
  s.send(q("select 1/0"));
  REQUIRE(s.settles());
  CHECK(s.tracker.status() == 'E');
  CHECK_FALSE(s.tracker.may_release(pool_mode::transaction));
  s.send(q("rollback"));
  INFO(s.trace);
  CHECK(s.releases());
}

TEST_CASE("tracker vs PostgreSQL: extended query protocol", "[integration][tracker]") {
  server s;
  SECTION("parse, bind, describe, execute, sync") {
    s.send(parse("select 1") + bind() + describe('P') + execute() + sync_message());
  }
  SECTION("describe a statement") {
    s.send(parse("select $1::int") + describe('S') + sync_message());
  }
  SECTION("an empty query") {
    s.send(parse("") + bind() + execute() + sync_message());
  }
  SECTION("close a named statement") {
    s.send(parse("select 1", "s1") + sync_message() + close_statement("s1") + sync_message());
  }
  SECTION("a portal suspended, executed again, then synced") {
    s.send(parse("select generate_series(1, 3)") + bind() + execute(1) + flush());
    REQUIRE(s.await('s'));
    CHECK_FALSE(s.tracker.may_release(pool_mode::transaction));
    s.send(execute() + sync_message());
  }
  SECTION("a pipeline of three Syncs, the second failing") {
    s.send(parse("select 1") + bind() + execute() + sync_message() + parse("select 1/0") + bind() +
           execute() + sync_message() + parse("select 3") + bind() + execute() + sync_message());
  }
  SECTION("an error skips a Query and a FunctionCall queued before the Sync") {
    s.send(parse("select 1/0") + bind() + execute() + q("select 2") +
           function_call(pg_backend_pid_oid) + sync_message());
  }
  SECTION("an error skips what the client sends after it, up to its Sync") {
    s.send(parse("select 1/0") + bind() + execute() + flush());
    REQUIRE(s.await('E'));
    CHECK_FALSE(s.tracker.may_release(pool_mode::transaction));
    s.send(q("select 2") + parse("select 3") + bind() + execute());
    s.send(sync_message());
  }
  SECTION("Flush answers without ending the implicit transaction") {
    s.send(parse("select 1") + bind() + execute() + flush());
    REQUIRE(s.await('C'));
    CHECK_FALSE(s.tracker.may_release(pool_mode::transaction));
    s.send(sync_message());
  }
  SECTION("a commit failing at Sync") {
    s.send(parse("insert into deferred values (1), (1)") + bind() + execute() + sync_message());
  }
  INFO(s.trace);
  CHECK(s.releases());
}

TEST_CASE("tracker vs PostgreSQL: COPY", "[integration][tracker]") {
  server s;
  SECTION("FROM STDIN, simple query") {
    s.send(q("copy t from stdin"));
    REQUIRE(s.await('G'));
    CHECK(s.tracker.in_copy_in());
    s.send(copy_data("1\n") + copy_data("2\n") + copy_done());
  }
  SECTION("FROM STDIN, the client gives up") {
    s.send(q("copy t from stdin"));
    REQUIRE(s.await('G'));
    s.send(copy_data("1\n") + copy_fail());
  }
  SECTION("FROM STDIN fails while the client still sends data") {
    s.send(q("copy t from stdin"));
    REQUIRE(s.await('G'));
    s.send(copy_data("not a number\n"));
    REQUIRE(s.await('Z'));
    CHECK(s.tracker.may_release(pool_mode::transaction));
    s.send(copy_data("1\n") + copy_done());  // dropped by the server
  }
  SECTION("FROM STDIN, everything sent at once") {
    s.send(q("copy t from stdin") + copy_data("1\n") + copy_done());
  }
  SECTION("FROM STDIN, extended as libpq does it: the first Sync is ignored") {
    s.send(parse("copy t from stdin") + bind() + describe('P') + execute() + sync_message());
    REQUIRE(s.await('G'));
    s.send(copy_data("1\n") + copy_done() + sync_message());
  }
  SECTION("FROM STDIN, extended as tokio-postgres does it") {
    s.send(parse("copy t from stdin", "copy_t") + sync_message());
    REQUIRE(s.await('Z'));
    s.send(bind("copy_t") + execute() + sync_message());
    REQUIRE(s.await('G'));
    s.send(copy_data("1\n") + copy_done() + sync_message());
  }
  SECTION("FROM STDIN, extended, everything sent at once") {
    s.send(parse("copy t from stdin") + bind() + execute() + copy_data("1\n") + copy_done() +
           sync_message());
  }
  SECTION("FROM STDIN, extended with Flush, the client gives up") {
    s.send(parse("copy t from stdin") + bind() + execute() + flush());
    REQUIRE(s.await('G'));
    s.send(copy_fail() + sync_message());
  }
  SECTION("FROM STDIN, extended with Flush, failing before the client ends it") {
    s.send(parse("copy t from stdin") + bind() + execute() + flush());
    REQUIRE(s.await('G'));
    s.send(copy_data("not a number\n"));
    REQUIRE(s.await('E'));
    s.send(copy_data("1\n") + copy_done() + sync_message());
  }
  SECTION("TO STDOUT, simple query") {
    s.send(q("copy (select 1) to stdout"));
  }
  SECTION("TO STDOUT, extended") {
    s.send(parse("copy (select 1) to stdout") + bind() + describe('P') + execute() +
           sync_message());
  }
  SECTION("TO STDOUT failing midway") {
    s.send(q("copy (select 1 / (x - 2) from generate_series(1, 3) x) to stdout"));
  }
  INFO(s.trace);
  CHECK(s.releases());
}

TEST_CASE("tracker vs PostgreSQL: a Sync ignored in COPY FROM STDIN ends nothing",
          "[integration][tracker]") {
  // libpq's order without its second Sync: the first Sync reaches the server in copy-in mode and
  // is dropped, so after CommandComplete the COPY's implicit transaction is still open. (The
  // Flush, read after the COPY, only makes the server send its CommandComplete now.)
  server s;
  s.send(parse("copy t from stdin") + bind() + execute() + sync_message());
  REQUIRE(s.await('G'));
  s.send(copy_data("1\n") + copy_done() + flush());
  INFO(s.trace);
  REQUIRE(s.await('C'));
  CHECK(s.tracker.outstanding() == 0);
  CHECK(s.tracker.unsynced());
  CHECK_FALSE(s.tracker.may_release(pool_mode::transaction));
  SECTION("the next Sync commits the COPY") {
    s.send(sync_message());
    INFO(s.trace);
    REQUIRE(s.releases());
    CHECK(s.value_of("select count(*) from t") == "1");
  }
  SECTION("released now, another client's failing query would roll the COPY back") {
    s.send(q("select 1/0"));
    REQUIRE(s.await('Z'));
    s.send(sync_message());
    INFO(s.trace);
    REQUIRE(s.releases());
    CHECK(s.value_of("select count(*) from t") == "0");
  }
}

TEST_CASE("tracker vs PostgreSQL: an extended COPY failing with a Sync in flight is ambiguous",
          "[integration][tracker]") {
  // The same client messages get one ReadyForQuery or two, depending on whether the server read
  // the Sync before it failed: the tracker must give up rather than guess.
  struct row {
    const char* table;
    int ready_for_query;
  };
  for (const auto& r : {row{"t", 1}, row{"trig", 2}, row{"v", 2}}) {
    INFO(r.table);
    server s;
    s.send(parse(std::string("copy ") + r.table + " from stdin") + bind() + execute() +
           sync_message());
    REQUIRE(s.await('G'));
    s.send(copy_data("not a number\n"));
    REQUIRE(s.await('E'));
    CHECK(s.tracker.desynchronized());
    CHECK_FALSE(s.tracker.may_release(pool_mode::transaction));
    s.send(copy_done() + sync_message());
    CHECK(s.ready_for_query_before_sentinel() == r.ready_for_query);
  }
}
