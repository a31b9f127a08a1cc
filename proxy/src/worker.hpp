// One worker thread: its context (worker_context.hpp: pools, topology, sessions' registry), a
// SO_REUSEPORT acceptor per listen address, and the client sessions the kernel gives it, each a
// coroutine on the worker's io_context. The only room that knows client_session. Nothing here
// is touched by another thread except through post() (stop, terminate_sessions).
#pragma once

#include <memory>
#include <thread>
#include <vector>

#include "parked_client.hpp"
#include "worker_context.hpp"

namespace pgsteer::proxy {

class worker final : public worker_context {
 public:
  worker(shared_state& shared, std::uint32_t index);
  ~worker();

  // Opens this worker's acceptors (throws std::system_error when an address cannot be bound).
  void listen();
  void start();
  // Drains (safe from any thread): stops accepting, ends idle sessions with 57P01 now and the
  // others at their next transaction boundary, and stops the worker's loop once the last session
  // is gone. Clients waiting for a primary are woken and refused.
  void stop();
  // Ends every remaining session now with 57P01 (shutdown_timeout passed); safe from any thread.
  void terminate_sessions();
  void join();

 private:
  awaitable<void> accept(tcp::acceptor& acceptor);
  void start_session(tcp::socket socket);
  awaitable<void> sweep();
  // After stop(): ends the worker's loop once its last session is gone.
  awaitable<void> drain();

  std::vector<std::unique_ptr<tcp::acceptor>> acceptors_;
  std::thread thread_;
  // Quiet clients without a session (parked_client.hpp); they count among the active sessions.
  parking_lot parked_;
};

}  // namespace pgsteer::proxy
