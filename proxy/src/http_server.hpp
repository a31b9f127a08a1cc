// The operations HTTP server (http.listen) on the control thread: health checks for load
// balancers and probes, and /metrics for Prometheus. A small HTTP/1.1 server; what each path
// answers is the handler's business (runtime.cpp wires health.hpp and metrics.hpp).
#pragma once

#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>

#include "io.hpp"
#include "pgsteer/config/config.hpp"

namespace pgsteer::proxy {

struct http_reply {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// Answers a GET or HEAD for `path` (the request target without its query string). Runs on the
// control thread and may suspend (a scrape asks every worker).
using http_handler = std::function<awaitable<http_reply>(std::string_view path)>;

// Everything runs on `control`, which must be single-threaded. A slow or broken client cannot
// hold the control thread: every read and write is asynchronous and has a deadline, requests are
// small and bounded, and connections beyond a limit are closed at once.
class http_server {
 public:
  http_server(asio::io_context& control, http_handler handler);
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  // Binds and listens (throws when the address cannot be bound).
  void listen(const config::listen_address& address);
  void start();
  // Closes the listener and every connection (control thread). Handlers in progress finish.
  void stop();

 private:
  struct connection;
  awaitable<void> accept();
  awaitable<void> serve(std::shared_ptr<connection> c);

  asio::io_context& control_;
  http_handler handler_;
  tcp::acceptor acceptor_;
  std::list<std::weak_ptr<connection>> connections_;
  bool stopped_ = false;
};

}  // namespace pgsteer::proxy
