// http_server: accepts operations HTTP requests on the control thread (see http_server.hpp).
#include "http_server.hpp"

#include <spdlog/spdlog.h>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <exception>
#include <stdexcept>

namespace pgsteer::proxy {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// Health checks and scrapes are tiny; anything larger is not one of them.
constexpr std::uint32_t header_limit = 8 * 1024;
constexpr std::uint64_t body_limit = 1024;
// A client gets this long to send a request and to take the answer; keep-alive connections
// (Prometheus, HAProxy with http-reuse) stay as long as they ask at least this often.
constexpr auto io_timeout = std::chrono::seconds(10);
// More connections than this at once is not a load balancer or a scraper: refuse the rest
// instead of letting them use up descriptors the proxy needs.
constexpr std::size_t max_connections = 128;

const boost::system::error_category& http_error_category() {
  return http::make_error_code(http::error::bad_target).category();
}

std::string_view path_of(std::string_view target) {
  return target.substr(0, target.find('?'));
}

}  // namespace

struct http_server::connection {
  explicit connection(tcp::socket socket) : stream(std::move(socket)) {}
  beast::tcp_stream stream;
};

http_server::http_server(asio::io_context& control, http_handler handler)
    : control_(control), handler_(std::move(handler)), acceptor_(control) {}

http_server::~http_server() {
  stop();
}

void http_server::listen(const config::listen_address& address) {
  tcp::resolver resolver(control_);
  const auto results = resolver.resolve(address.host, std::to_string(address.port));
  if (results.empty()) {
    throw std::runtime_error("http.listen: " + address.host + " resolves to no address");
  }
  const auto endpoint = results.begin()->endpoint();
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
}

void http_server::start() {
  asio::co_spawn(control_, accept(), [](std::exception_ptr e) {
    if (e) spdlog::critical("bug: the HTTP accept loop ended with an exception");
  });
}

void http_server::stop() {
  if (stopped_) return;
  stopped_ = true;
  error_code ec;
  acceptor_.close(ec);
  for (auto& weak : connections_) {
    if (auto c = weak.lock()) c->stream.socket().close(ec);
  }
  connections_.clear();
}

awaitable<void> http_server::accept() {
  while (!stopped_) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
    if (ec) {
      if (stopped_ || ec == asio::error::operation_aborted) break;
      spdlog::warn("http: accept failed: {}", ec.message());
      continue;
    }
    connections_.remove_if([](const auto& weak) { return weak.expired(); });
    if (connections_.size() >= max_connections) {
      spdlog::warn("http: {} connections open, refusing another", connections_.size());
      continue;  // the socket closes as it goes out of scope
    }
    auto c = std::make_shared<connection>(std::move(socket));
    connections_.push_back(c);
    asio::co_spawn(control_, serve(std::move(c)), [](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::critical("bug: an HTTP connection threw: {}", ex.what());
      }
    });
  }
}

awaitable<void> http_server::serve(std::shared_ptr<connection> c) {
  beast::flat_buffer buffer(header_limit);
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(header_limit);
    parser.body_limit(body_limit);
    c->stream.expires_after(io_timeout);
    auto [read_ec, n] = co_await http::async_read(c->stream, buffer, parser, use_tuple);
    (void)n;
    if (read_ec) {
      // A request we could not parse gets a 400; a client that left or timed out, nothing.
      const bool malformed = read_ec.category() == http_error_category() &&
                             read_ec != http::error::end_of_stream &&
                             read_ec != http::error::partial_message;
      if (malformed) {
        http::response<http::string_body> bad{http::status::bad_request, 11};
        bad.set(http::field::content_type, "application/json");
        bad.set(http::field::connection, "close");
        bad.body() = R"({"status":"error","reason":"bad request"})";
        bad.prepare_payload();
        c->stream.expires_after(io_timeout);
        co_await http::async_write(c->stream, bad, use_tuple);
      }
      break;
    }
    const auto& request = parser.get();
    http::response<http::string_body> response;
    response.version(request.version());
    response.keep_alive(request.keep_alive());
    response.set(http::field::server, "pgsteer");
    if (request.method() != http::verb::get && request.method() != http::verb::head) {
      response.result(http::status::method_not_allowed);
      response.set(http::field::allow, "GET, HEAD");
      response.set(http::field::content_type, "application/json");
      response.body() = R"({"status":"error","reason":"method not allowed"})";
    } else {
      const std::string_view target(request.target().data(), request.target().size());
      http_reply reply = co_await handler_(path_of(target));
      if (stopped_) break;
      response.result(reply.status);
      response.set(http::field::content_type, reply.content_type);
      response.set(http::field::cache_control, "no-store");
      response.body() = std::move(reply.body);
    }
    response.prepare_payload();
    // HEAD: the same headers, Content-Length included, without the body.
    if (request.method() == http::verb::head) response.body().clear();
    c->stream.expires_after(io_timeout);
    auto [write_ec, written] = co_await http::async_write(c->stream, response, use_tuple);
    (void)written;
    if (write_ec || !response.keep_alive()) break;
  }
  error_code ec;
  c->stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  c->stream.close();
}

}  // namespace pgsteer::proxy
