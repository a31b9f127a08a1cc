// aborted_block: a failed transaction block without a server (see aborted_block.hpp).
#include "aborted_block.hpp"

#include "pgsteer/protocol/builder.hpp"
#include "pgsteer/protocol/messages.hpp"
#include "pgsteer/protocol/sqlstate.hpp"

namespace pgsteer::proxy {

namespace p = protocol;

void aborted_block::end() {
  active_ = false;
  ending_ = false;
  pending_.reset();
}

p::error_fields aborted_block::failure() {
  if (pending_) {
    auto e = std::move(*pending_);
    pending_.reset();
    return e;
  }
  return p::make_error(
      "ERROR", p::sqlstate::in_failed_sql_transaction,
      "current transaction is aborted, commands ignored until end of transaction block");
}

aborted_block::answer aborted_block::on_request(char type, std::string_view body,
                                                const statement_map& statements,
                                                const p::function_policy& functions) {
  // How a statement would end the block: not at all, COMMIT, or ROLLBACK (alone in its string).
  enum class block_end { none, commit, rollback };
  auto end_of = [&](std::string_view sql) {
    const auto c = p::classify(sql, functions);
    if (c.multi_statement) return block_end::none;
    if (c.first == p::statement_type::commit) return block_end::commit;
    if (c.first == p::statement_type::rollback) return block_end::rollback;
    return block_end::none;
  };
  answer a;
  // A COMMIT of a transaction whose server was lost before the client heard of it (the loss
  // error still pending) fails with that loss and ends the block, as a COMMIT that cannot commit
  // does in PostgreSQL: answered ROLLBACK, it would look like success to a client that saw no
  // error.
  auto commits_lost = [&](block_end e) { return e == block_end::commit && pending_; };
  auto fail_commit = [&] {
    a.error = std::move(*pending_);
    end();
  };
  auto fail_batch = [&] {
    a.error = failure();
    a.skip_until_sync = true;
  };
  switch (type) {
    case p::frontend::query: {
      const auto q = p::parse_query(body);
      const auto e = q ? end_of(q->sql) : block_end::none;
      if (commits_lost(e)) {
        fail_commit();
        p::write_ready_for_query(a.then, 'I');
      } else if (e != block_end::none) {
        p::write_command_complete(a.then, "ROLLBACK");
        p::write_ready_for_query(a.then, 'I');
        end();
      } else {
        a.error = failure();
        p::write_ready_for_query(a.then, 'E');
      }
      break;
    }
    case p::frontend::function_call:
      a.error = failure();
      p::write_ready_for_query(a.then, 'E');
      break;
    case p::frontend::parse: {
      const auto parse = p::parse_parse(body);
      const auto e = parse ? end_of(parse->query) : block_end::none;
      if (commits_lost(e)) {
        fail_commit();
        a.skip_until_sync = true;  // its Sync gets ReadyForQuery 'I'
      } else if (e != block_end::none) {
        p::write_parse_complete(a.then);
        ending_ = true;
      } else {
        fail_batch();
      }
      break;
    }
    case p::frontend::bind: {
      // COMMIT or ROLLBACK, just parsed or prepared earlier.
      bool ends = ending_;
      if (const auto bind = p::parse_bind(body); bind && !bind->statement.empty()) {
        const auto* st = statements.find(bind->statement);
        const auto e = st ? end_of(st->query) : block_end::none;
        if (commits_lost(e)) {
          fail_commit();
          a.skip_until_sync = true;
          break;
        }
        ends = e != block_end::none;
      }
      if (ends) {
        p::write_bind_complete(a.then);
        ending_ = true;
      } else {
        fail_batch();
      }
      break;
    }
    case p::frontend::describe:
    case p::frontend::execute:
      if (!ending_) {
        fail_batch();
      } else if (type == p::frontend::describe) {
        p::write_no_data(a.then);
      } else {
        p::write_command_complete(a.then, "ROLLBACK");
      }
      break;
    case p::frontend::close:
      p::write_close_complete(a.then);
      break;
    case p::frontend::sync:
      p::write_ready_for_query(a.then, ending_ ? 'I' : 'E');
      if (ending_) end();
      break;
    default:  // Flush, and COPY data of a COPY that ended with its server
      break;
  }
  return a;
}

}  // namespace pgsteer::proxy
