// worker: the thread, the acceptors and the sessions of one worker (see worker.hpp).
#include "worker.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/asio/post.hpp>

#include "client_session.hpp"
#include "shared_state.hpp"

namespace pgsteer::proxy {

namespace {

// SO_REUSEPORT lets every worker bind the same address; the kernel spreads new connections.
using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

}  // namespace

worker::worker(shared_state& shared, std::uint32_t index)
    : worker_context(shared, index), parked_(*this, &resume_client_session) {}

worker::~worker() {
  join();
}

void worker::listen() {
  for (const auto& address : config_->cfg.listen) {
    tcp::resolver resolver(context_);
    const auto results = resolver.resolve(address.host, std::to_string(address.port));
    for (const auto& entry : results) {
      auto acceptor = std::make_unique<tcp::acceptor>(context_);
      acceptor->open(entry.endpoint().protocol());
      acceptor->set_option(tcp::acceptor::reuse_address(true));
      acceptor->set_option(reuse_port(true));
      acceptor->bind(entry.endpoint());
      acceptor->listen(asio::socket_base::max_listen_connections);
      acceptors_.push_back(std::move(acceptor));
      break;  // the first address a name resolves to
    }
  }
}

void worker::start() {
  for (auto& acceptor : acceptors_) {
    asio::co_spawn(context_, accept(*acceptor), [](std::exception_ptr e) {
      if (e) spdlog::critical("bug: the accept loop ended with an exception");
    });
  }
  asio::co_spawn(context_, sweep(), [](std::exception_ptr e) {
    if (e) spdlog::critical("bug: the pool sweeper ended with an exception");
  });
  thread_ = std::thread([this] { context_.run(); });
}

void worker::stop() {
  asio::post(context_, [this] {
    stopping_ = true;
    for (auto& acceptor : acceptors_) {
      // Connections the kernel already completed are clients that connected before the drain:
      // closing the socket would reset them, so they are taken (and get their first
      // transaction, client_session::serve). Anyone later is refused by the closed port, which
      // a load balancer retries elsewhere.
      error_code ec;
      acceptor->non_blocking(true, ec);
      for (;;) {
        tcp::socket socket(context_);
        acceptor->accept(socket, ec);
        if (ec) break;
        start_session(std::move(socket));
      }
      acceptor->close(ec);
    }
    // Clients waiting for a primary are between transactions: they are refused, not kept.
    for (auto* timer : topology_waiters_) timer->cancel();
    std::vector<session_handle*> sessions;
    for (auto& [pid, s] : sessions_) sessions.push_back(s);
    for (auto* s : sessions) s->drain();
    asio::co_spawn(context_, drain(), [](std::exception_ptr e) {
      if (e) spdlog::critical("bug: draining a worker threw");
    });
  });
}

void worker::terminate_sessions() {
  asio::post(context_, [this] { shutdown_sessions(); });
}

awaitable<void> worker::drain() {
  asio::steady_timer timer(context_);
  while (active_sessions_ > 0) {
    timer.expires_after(std::chrono::milliseconds(10));
    co_await timer.async_wait(use_tuple);
  }
  pools_.clear();  // closes idle servers
  context_.stop();
}

void worker::join() {
  if (thread_.joinable()) thread_.join();
}

awaitable<void> worker::accept(tcp::acceptor& acceptor) {
  while (!stopping_) {
    auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
    if (ec) {
      if (stopping_ || ec == asio::error::operation_aborted) break;
      spdlog::warn("worker {}: accept failed: {}", index_, ec.message());
      continue;
    }
    start_session(std::move(socket));
  }
}

void worker::start_session(tcp::socket socket) {
  start_client_session(std::move(socket), *this, parked_);
}

awaitable<void> worker::sweep() {
  // Pools once a second; quiet sessions ten times a second, so that a client that may park does
  // so soon (a session costs kilobytes, a parked client a few hundred bytes) and a parked one
  // past clients.idle_timeout goes on time.
  asio::steady_timer timer(context_);
  for (unsigned tick = 1; !stopping_; ++tick) {
    timer.expires_after(std::chrono::milliseconds(100));
    auto [ec] = co_await timer.async_wait(use_tuple);
    (void)ec;
    if (tick % 10 == 0) {
      for (auto& [key, pool] : pools_) pool->sweep();
    }
    park_quiet_sessions();
  }
}

}  // namespace pgsteer::proxy
