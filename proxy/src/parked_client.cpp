// parked_client and parking_lot: a quiet client in its small form, and the one epoll instance per
// worker that wakes it (see parked_client.hpp).
#include "parked_client.hpp"

#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <system_error>

#include "parameter_sync.hpp"
#include "pgsteer/protocol/builder.hpp"
#include "pgsteer/protocol/sqlstate.hpp"
#include "session_common.hpp"
#include "shared_state.hpp"

namespace pgsteer::proxy {

namespace p = protocol;
namespace sqlstate = protocol::sqlstate;

namespace {

// The address of one end of a parked socket ("" and 0 when it cannot be read).
std::pair<std::string, std::uint16_t> socket_address(int fd, bool peer) {
  tcp::endpoint endpoint;
  auto length = static_cast<socklen_t>(endpoint.capacity());
  const int rc = peer ? ::getpeername(fd, endpoint.data(), &length)
                      : ::getsockname(fd, endpoint.data(), &length);
  if (rc != 0) return {};
  endpoint.resize(length);
  return {endpoint.address().to_string(), endpoint.port()};
}

}  // namespace

void parked_client::terminate(const p::error_fields& error, std::string reason) {
  std::string out;
  p::write_error_response(out, error);
  auto& stats = lot_.worker().stats();
  count_error(stats, error.code);
  // An idle client has read everything it was sent: the error fits the empty send buffer. If it
  // does not (the client stopped reading), the connection closes without it.
  const auto sent = ::send(state_.fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (sent > 0) stats.bytes_sent.add(static_cast<std::uint64_t>(sent));
  finish(reason);
}

void parked_client::drain() {
  if (state_.requests_answered == 0) return;
  terminate(make_error("FATAL", sqlstate::admin_shutdown,
                       "terminating connection due to administrator command"),
            "pgsteer is shutting down");
}

void parked_client::park_if_quiet(steady_clock::time_point now) {
  if (!idle_too_long(state_.config->cfg.clients.idle_timeout, state_.quiet_since, now)) return;
  terminate(make_error("FATAL", sqlstate::idle_session_timeout,
                       "terminating connection due to idle-session timeout"),
            "clients.idle_timeout");
}

client_info parked_client::describe() const {
  client_info c;
  c.id = state_.id;
  c.process_id = state_.process_id;
  c.user = state_.user->name;
  c.database = state_.db->name;
  c.state = client_state::active;
  std::tie(c.addr, c.port) = socket_address(state_.fd, true);
  std::tie(c.local_addr, c.local_port) = socket_address(state_.fd, false);
  c.connect_time = state_.connected_wall;
  if (state_.rest && !state_.rest->parameters.empty()) {
    const auto params = parameter_sync::unpack(state_.rest->parameters);
    if (auto it = params.values().find("application_name"); it != params.values().end()) {
      c.application_name = it->second;
    }
  }
  return c;
}

void parked_client::finish(std::string_view reason) {
  auto& worker = lot_.worker();
  const auto peer = socket_address(state_.fd, true).first;
  lot_.remove(*this);
  ::close(state_.fd);
  worker.unregister_session(state_.process_id);
  worker.shared().clients.fetch_sub(1, std::memory_order_relaxed);
  worker.stats().clients_idle.sub();
  worker.session_ended();
  const auto lived =
      std::chrono::duration<double>(steady_clock::now() - state_.connected_at).count();
  spdlog::info("client {} {}@{} from {} disconnected after {:.3f}s: {}", state_.id,
               state_.user->name, state_.db->name, peer.empty() ? "unknown" : peer, lived, reason);
  delete this;
}

parking_lot::parking_lot(worker_context& worker, resume_function resume)
    : worker_(worker), resume_(resume), events_(worker.context()) {
  const int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  events_.assign(fd);
  watch();
}

parking_lot::~parking_lot() {
  // Only when the worker stops without draining: the clients go without a word.
  while (first_) first_->finish("pgsteer stopped");
}

void parking_lot::park(std::unique_ptr<parked_client> client) {
  auto* c = client.release();
  // Level-triggered and one-shot: bytes that came while the session parked wake it at once, and
  // each parked client wakes once.
  epoll_event event{};
  event.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
  event.data.ptr = c;
  if (::epoll_ctl(events_.native_handle(), EPOLL_CTL_ADD, c->state_.fd, &event) != 0) {
    const std::error_code ec(errno, std::generic_category());
    spdlog::warn("client {}: could not park: {}", c->state_.id, ec.message());
    wake(*c);  // unwatched, it goes back to a session, which finds out what its socket holds
    return;
  }
  c->next_ = first_;
  if (first_) first_->prev_ = c;
  first_ = c;
  ++size_;
}

void parking_lot::remove(parked_client& client) {
  if (!client.prev_ && first_ != &client) return;  // not parked here (any more)
  ::epoll_ctl(events_.native_handle(), EPOLL_CTL_DEL, client.state_.fd, nullptr);
  if (client.prev_) {
    client.prev_->next_ = client.next_;
  } else {
    first_ = client.next_;
  }
  if (client.next_) client.next_->prev_ = client.prev_;
  client.prev_ = client.next_ = nullptr;
  --size_;
}

void parking_lot::watch() {
  events_.async_wait(asio::posix::stream_descriptor::wait_read, [this](error_code ec) {
    if (ec) return;  // the lot is going away
    wake_ready();
    watch();
  });
}

void parking_lot::wake_ready() {
  // Waking a client neither ends nor wakes another, so every pointer of a batch stays valid.
  std::array<epoll_event, 64> ready;
  for (;;) {
    const int n = ::epoll_wait(events_.native_handle(), ready.data(), ready.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    const auto count = static_cast<std::size_t>(std::max(n, 0));
    for (std::size_t i = 0; i < count; ++i) {
      wake(*static_cast<parked_client*>(ready[i].data.ptr));
    }
    if (count < ready.size()) break;
  }
}

void parking_lot::wake(parked_client& client) {
  remove(client);
  auto& context = worker_.context();
  tcp::socket socket(context);
  error_code ec;
  socket.assign(client.state_.v6 ? tcp::v6() : tcp::v4(), client.state_.fd, ec);
  if (ec) {
    // The reactor would not take the socket back: the client cannot be served.
    spdlog::warn("client {}: could not resume its session: {}", client.state_.id, ec.message());
    client.finish("could not resume: " + ec.message());
    return;
  }
  spdlog::debug("client {} woke", client.state_.id);
  parked_state state = std::move(client.state_);
  delete &client;
  resume_(std::move(state), std::move(socket), worker_, *this);
}

}  // namespace pgsteer::proxy
