// Every builder round-trips through its view; views refuse malformed bodies.
#include <catch2/catch.hpp>

#include <string>

#include "pgsteer/protocol/error_response.hpp"
#include "pgsteer/protocol/framer.hpp"
#include "pgsteer/protocol/messages.hpp"

using namespace pgsteer::protocol;
using namespace std::string_literals;

namespace {
// The single message in `buffer`, checked to be whole and of `type`.
std::string_view body_of(const std::string& buffer, char type) {
  const frame f = next_frame(buffer, 1 << 20);
  REQUIRE(f.status == frame_status::complete);
  REQUIRE(f.size == buffer.size());
  REQUIRE(f.type == type);
  return f.body;
}
}  // namespace

TEST_CASE("Query: 'Q' | len | sql NUL", "[protocol][messages]") {
  std::string out;
  write_query(out, "select 1");
  CHECK(out == "Q\x00\x00\x00\x0dselect 1\x00"s);
  CHECK(parse_query(body_of(out, 'Q'))->sql == "select 1");
  CHECK_FALSE(parse_query("no terminator"));
  CHECK_FALSE(parse_query("a\0b\0"s));  // trailing bytes
}

TEST_CASE("Parse round-trips and can be renamed", "[protocol][messages]") {
  std::string out;
  write_parse(out, "s1", "select $1::int", {23});
  // 'P' | len 28 | "s1\0" | "select $1::int\0" | Int16 1 | Int32 23
  CHECK(out == "P\x00\x00\x00\x1cs1\x00select $1::int\x00\x00\x01\x00\x00\x00\x17"s);
  const auto p = parse_parse(body_of(out, 'P'));
  REQUIRE(p);
  CHECK(p->statement == "s1");
  CHECK(p->query == "select $1::int");
  CHECK(p->parameter_count == 1);
  std::string renamed;
  write_parse(renamed, *p, "pgsteer_7");
  const auto r = parse_parse(body_of(renamed, 'P'));
  REQUIRE(r);
  CHECK(r->statement == "pgsteer_7");
  CHECK(r->query == p->query);
  CHECK(r->parameter_types == p->parameter_types);
  CHECK_FALSE(parse_parse("s\0q\0\x00\x02\x00\x00\x00\x17"s));  // 2 types announced, 1 sent
}

TEST_CASE("Bind keeps its parameters byte for byte when renamed", "[protocol][messages]") {
  // portal "" | stmt "s1" | 1 format (text) | 2 values: "42", NULL | 1 result format (binary)
  const std::string body =
      "\x00s1\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x02"
      "42\xff\xff\xff\xff\x00\x01\x00\x01"s;
  const auto b = parse_bind(body);
  REQUIRE(b);
  CHECK(b->portal.empty());
  CHECK(b->statement == "s1");
  std::string out;
  write_bind(out, *b, "pgsteer_1");
  const auto r = parse_bind(body_of(out, 'B'));
  REQUIRE(r);
  CHECK(r->statement == "pgsteer_1");
  CHECK(r->rest == b->rest);
  // A value longer than the message is malformed.
  CHECK_FALSE(
      parse_bind("\x00s1\x00\x00\x00\x00\x01\x00\x00\x00\x09"
                 "42\x00\x00"s));
}

TEST_CASE("Describe, Close, Execute and the empty messages round-trip", "[protocol][messages]") {
  std::string out;
  write_describe(out, 'S', "s1");
  auto d = parse_describe(body_of(out, 'D'));
  REQUIRE(d);
  CHECK(d->kind == 'S');
  CHECK(d->name == "s1");
  out.clear();
  write_close(out, 'P', "");
  auto c = parse_close(body_of(out, 'C'));
  REQUIRE(c);
  CHECK(c->kind == 'P');
  CHECK_FALSE(parse_describe("X\0"s));
  out.clear();
  write_execute(out, "p", 10);
  auto e = parse_execute(body_of(out, 'E'));
  REQUIRE(e);
  CHECK(e->portal == "p");
  CHECK(e->max_rows == 10);
  for (auto* write : {write_sync, write_flush, write_terminate, write_copy_done}) {
    out.clear();
    write(out);
    CHECK(out.size() == 5);
    CHECK(next_frame(out, 16).body.empty());
  }
}

TEST_CASE("COPY messages round-trip", "[protocol][messages]") {
  std::string out;
  write_copy_data(out, "1\tone\n");
  CHECK(body_of(out, 'd') == "1\tone\n");
  out.clear();
  write_copy_fail(out, "client gave up");
  CHECK(parse_copy_fail(body_of(out, 'f'))->message == "client gave up");
  out.clear();
  write_copy_in_response(out, 0, {0, 0});
  const auto in = parse_copy_response(body_of(out, 'G'));
  REQUIRE(in);
  CHECK(in->column_formats.size() == 2);
  out.clear();
  write_copy_out_response(out, 1, {1});
  CHECK(parse_copy_response(body_of(out, 'H'))->format == 1);
}

TEST_CASE("authentication requests round-trip", "[protocol][messages]") {
  std::string out;
  write_authentication_ok(out);
  CHECK(out == "R\x00\x00\x00\x08\x00\x00\x00\x00"s);
  CHECK(parse_authentication(body_of(out, 'R'))->code == auth_code::ok);
  out.clear();
  write_authentication_md5_password(out, "abcd");
  auto md5 = parse_authentication(body_of(out, 'R'));
  REQUIRE(md5);
  CHECK(md5->code == auth_code::md5_password);
  CHECK(md5->data == "abcd");
  out.clear();
  write_authentication_sasl(out, {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"});
  auto sasl = parse_authentication(body_of(out, 'R'));
  REQUIRE(sasl);
  CHECK(sasl->code == auth_code::sasl);
  const auto mechanisms = sasl_mechanisms(sasl->data);
  REQUIRE(mechanisms.size() == 2);
  CHECK(mechanisms[1] == "SCRAM-SHA-256");
  out.clear();
  write_authentication_sasl_continue(out, "r=abc");
  CHECK(parse_authentication(body_of(out, 'R'))->data == "r=abc");
  out.clear();
  write_authentication_sasl_final(out, "v=xyz");
  CHECK(parse_authentication(body_of(out, 'R'))->code == auth_code::sasl_final);
  CHECK_FALSE(parse_authentication("\x00\x00\x00\x05\x01"s));  // md5 with a 1-byte salt
}

TEST_CASE("password and SASL responses round-trip", "[protocol][messages]") {
  std::string out;
  write_password_message(out, "md5abc");
  CHECK(*parse_password_message(body_of(out, 'p')) == "md5abc");
  out.clear();
  write_sasl_initial_response(out, "SCRAM-SHA-256", "n,,n=,r=x");
  auto initial = parse_sasl_initial_response(body_of(out, 'p'));
  REQUIRE(initial);
  CHECK(initial->mechanism == "SCRAM-SHA-256");
  CHECK(initial->data == "n,,n=,r=x");
  CHECK_FALSE(parse_sasl_initial_response("SCRAM-SHA-256\0\x00\x00\x00\x09short"s));
  out.clear();
  write_sasl_response(out, "c=biws");
  CHECK(body_of(out, 'p') == "c=biws");
}

TEST_CASE("session messages round-trip", "[protocol][messages]") {
  std::string out;
  write_backend_key_data(out, 4242, -7);
  auto key = parse_backend_key_data(body_of(out, 'K'));
  REQUIRE(key);
  CHECK(key->process_id == 4242);
  CHECK(key->secret_key == -7);
  out.clear();
  write_parameter_status(out, "TimeZone", "UTC");
  auto ps = parse_parameter_status(body_of(out, 'S'));
  REQUIRE(ps);
  CHECK(ps->name == "TimeZone");
  CHECK(ps->value == "UTC");
  out.clear();
  write_ready_for_query(out, 'T');
  CHECK(parse_ready_for_query(body_of(out, 'Z')) == 'T');
  CHECK_FALSE(parse_ready_for_query("X"));
  out.clear();
  write_notification_response(out, 1, "jobs", "42");
  auto n = parse_notification_response(body_of(out, 'A'));
  REQUIRE(n);
  CHECK(n->channel == "jobs");
  CHECK(n->payload == "42");
  out.clear();
  write_negotiate_protocol_version(out, 0, {"_pq_.unknown"});
  auto v = parse_negotiate_protocol_version(body_of(out, 'v'));
  REQUIRE(v);
  CHECK(v->newest_minor == 0);
  REQUIRE(v->unrecognized_options.size() == 1);
  CHECK(v->unrecognized_options[0] == "_pq_.unknown");
}

TEST_CASE("result messages round-trip", "[protocol][messages]") {
  std::string out;
  write_row_description(out, {{"name", 25}, {"count", 20}});
  auto cols = parse_row_description(body_of(out, 'T'));
  REQUIRE(cols);
  REQUIRE(cols->size() == 2);
  CHECK((*cols)[0].name == "name");
  CHECK((*cols)[1].type_oid == 20);
  out.clear();
  write_data_row(out, {std::string_view("pg1"), std::nullopt});
  auto row = parse_data_row(body_of(out, 'D'));
  REQUIRE(row);
  REQUIRE(row->size() == 2);
  CHECK((*row)[0] == "pg1");
  CHECK_FALSE((*row)[1].has_value());
  out.clear();
  write_command_complete(out, "SHOW");
  CHECK(parse_command_complete(body_of(out, 'C'))->tag == "SHOW");
  out.clear();
  write_parameter_description(out, {23, 25});
  CHECK(parse_parameter_description(body_of(out, 't'))->size() == 2);
  // A column count larger than the body can hold is refused before reserving memory.
  CHECK_FALSE(parse_row_description("\xff\xff"s));
  CHECK_FALSE(parse_data_row("\xff\xff\x00\x00"s));
}

TEST_CASE("ErrorResponse carries every field a person reads", "[protocol][messages]") {
  std::string out;
  write_error_response(out, {"FATAL", "28P01", "password authentication failed for user \"app\"",
                             "", "check the password"});
  const auto fields = parse_error_fields(body_of(out, 'E'));
  REQUIRE(fields);
  const auto e = to_error_fields(*fields);
  CHECK(e.severity == "FATAL");
  CHECK(e.code == "28P01");
  CHECK(e.message == "password authentication failed for user \"app\"");
  CHECK(e.hint == "check the password");
  CHECK_FALSE(parse_error_fields("Sx"s));        // no NUL
  CHECK_FALSE(parse_error_fields("SERROR\0"s));  // no final NUL
}

TEST_CASE("the remaining builders round-trip", "[protocol][messages]") {
  struct empty_case {
    void (*write)(std::string&);
    char type;
  };
  for (const auto& c :
       {empty_case{write_parse_complete, '1'}, empty_case{write_bind_complete, '2'},
        empty_case{write_close_complete, '3'}, empty_case{write_no_data, 'n'},
        empty_case{write_empty_query_response, 'I'}, empty_case{write_portal_suspended, 's'}}) {
    std::string out;
    c.write(out);
    CHECK(body_of(out, c.type).empty());
  }
  std::string out;
  write_authentication_cleartext_password(out);
  CHECK(parse_authentication(body_of(out, 'R'))->code == auth_code::cleartext_password);
  out.clear();
  write_notice_response(out, {"WARNING", "01000", "careful", "", ""});
  const auto notice = to_error_fields(*parse_error_fields(body_of(out, 'N')));
  CHECK(notice.severity == "WARNING");
  CHECK(notice.message == "careful");
  out.clear();
  write_parse(out, "", "select 1");
  const auto unnamed = parse_parse(body_of(out, 'P'));
  REQUIRE(unnamed);
  CHECK(unnamed->statement.empty());
  CHECK(unnamed->parameter_count == 0);
  // FunctionCall: Int32 function OID | Int16 0 formats | Int16 0 arguments | Int16 0 result
  // format; everything after the OID passed through untouched.
  const std::string call = "\x00\x00\x04\xd2\x00\x00\x00\x00\x00\x00"s;
  const auto f = parse_function_call(call);
  REQUIRE(f);
  CHECK(f->function_oid == 1234);
  CHECK(f->rest == "\x00\x00\x00\x00\x00\x00"s);
}

TEST_CASE("Bind from text values is what PostgreSQL expects", "[protocol][messages]") {
  std::string out;
  write_bind(out, "p1", "s1", {std::string_view("42"), std::nullopt});
  // 'B' | len 26 | "p1\0" | "s1\0" | Int16 0 formats | Int16 2 values | Int32 2 "42" | Int32 -1
  //   | Int16 0 result formats
  CHECK(out ==
        "B\x00\x00\x00\x1ap1\x00s1\x00\x00\x00\x00\x02\x00\x00\x00\x02"
        "42\xff\xff\xff\xff\x00\x00"s);
  const auto b = parse_bind(body_of(out, 'B'));
  REQUIRE(b);
  CHECK(b->portal == "p1");
  CHECK(b->statement == "s1");
  out.clear();
  write_bind(out, "", "");
  CHECK(parse_bind(body_of(out, 'B')));
}

TEST_CASE("FunctionCall and its response round-trip", "[protocol][messages]") {
  std::string out;
  write_function_call(out, 2026, {std::string_view("x"), std::nullopt});
  // 'F' | len 23 | Int32 2026 | Int16 0 formats | Int16 2 args | Int32 1 "x" | Int32 -1 | Int16 0
  CHECK(out ==
        "F\x00\x00\x00\x17\x00\x00\x07\xea\x00\x00\x00\x02\x00\x00\x00\x01x"
        "\xff\xff\xff\xff\x00\x00"s);
  const auto f = parse_function_call(body_of(out, 'F'));
  REQUIRE(f);
  CHECK(f->function_oid == 2026);
  CHECK(f->result_format == 0);
  CHECK(f->rest == std::string_view(out).substr(9));
  // An argument longer than the message, a missing result format, trailing bytes.
  CHECK_FALSE(parse_function_call("\x00\x00\x07\xea\x00\x00\x00\x01\x00\x00\x00\x09x\x00\x00"s));
  CHECK_FALSE(parse_function_call("\x00\x00\x07\xea\x00\x00\x00\x00"s));
  CHECK_FALSE(parse_function_call("\x00\x00\x07\xea\x00\x00\x00\x00\x00\x00\x00"s));

  out.clear();
  write_function_call_response(out, std::string_view("4242"));
  const auto v = parse_function_call_response(body_of(out, 'V'));
  REQUIRE(v);
  CHECK(*v == "4242");
  out.clear();
  write_function_call_response(out, std::nullopt);
  const auto null = parse_function_call_response(body_of(out, 'V'));
  REQUIRE(null);
  CHECK_FALSE(null->has_value());
  CHECK_FALSE(
      parse_function_call_response("\x00\x00\x00\x05"
                                   "abc"s));
}

TEST_CASE("Parse exposes its parameter types", "[protocol][messages]") {
  std::string out;
  write_parse(out, "s", "select $1, $2", {23, 25});
  const auto p = parse_parse(body_of(out, 'P'));
  REQUIRE(p);
  CHECK(p->parameter_type(0) == 23);
  CHECK(p->parameter_type(1) == 25);
  CHECK(p->parameter_type(2) == 0);
}

TEST_CASE("CopyBothResponse round-trips", "[protocol][messages]") {
  std::string out;
  write_copy_both_response(out, 0, {});
  const auto both = parse_copy_response(body_of(out, 'W'));
  REQUIRE(both);
  CHECK(both->column_formats.empty());
  CHECK_FALSE(parse_copy_response("\x02\x00\x00"s));  // format 2 does not exist
}

TEST_CASE("ErrorResponse keeps every field when rebuilt", "[protocol][messages]") {
  // A server's error as PostgreSQL 15 sends it, localised severity first.
  const std::string body =
      "SFEHLER\0VERROR\0C23505\0Mdoppelter Schl\xc3\xbcsselwert\0"
      "Dschon da\0sapp\0tusers\0nusers_pkey\0Fnbtinsert.c\0L664\0R_bt_check_unique\0\0"s;
  const auto fields = parse_error_fields(body);
  REQUIRE(fields);
  CHECK(fields->size() == 11);
  const auto e = to_error_fields(*fields);
  CHECK(e.severity == "ERROR");  // the non-localised V, not the German S
  CHECK(e.code == "23505");
  CHECK(e.detail == "schon da");
  std::string out;
  write_error_fields(out, 'E', *fields);
  CHECK(body_of(out, 'E') == body);
  // Our own errors carry S and V alike.
  out.clear();
  write_error_response(
      out, {"FATAL", "57P01", "terminating connection due to administrator command", "", ""});
  const auto own = parse_error_fields(body_of(out, 'E'));
  REQUIRE(own);
  REQUIRE(own->size() == 4);
  CHECK((*own)[0] == std::pair<char, std::string_view>{error_field::severity, "FATAL"});
  CHECK((*own)[1] ==
        std::pair<char, std::string_view>{error_field::severity_nonlocalized, "FATAL"});
}
