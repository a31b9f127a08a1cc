// What a worker reports about the objects that live on it (client sessions, pools, servers) when
// another thread asks (worker::inspect): plain values, copied on the worker's thread and read by
// the asker (the admin console; the metrics endpoint may use the same).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pgsteer::proxy {

using system_time = std::chrono::system_clock::time_point;

enum class client_state : std::uint8_t {
  active,   // logged in: holding a server, or idle between transactions (PgBouncer's "active")
  waiting,  // waiting for a server: its pool is full, or its database is paused
};

struct client_info {
  std::uint64_t id = 0;
  std::int32_t process_id = 0;  // the BackendKeyData pgsteer gave it
  std::string user, database;
  client_state state = client_state::active;
  std::string addr, local_addr;
  std::uint16_t port = 0, local_port = 0;
  system_time connect_time{};
  std::optional<std::chrono::microseconds> wait;  // how long it has waited, when waiting
  std::string application_name;
  std::optional<std::uint64_t> server_id;  // the server it holds
  std::string backend;                     // that server's backend name
  bool admin = false;                      // an admin console session
  std::string pinned;  // session state that holds it on its server (session_pins::labels())
};

enum class server_state : std::uint8_t {
  active,  // leased to a client
  idle,    // in its pool
};

struct server_info {
  std::uint64_t id = 0;
  std::string user, database, backend;
  server_state state = server_state::idle;
  std::string addr, local_addr;
  std::uint16_t port = 0, local_port = 0;
  system_time connect_time{};
  std::int32_t remote_pid = 0;             // the backend's process id (pg_stat_activity.pid)
  std::optional<std::uint64_t> client_id;  // the client holding it
  std::size_t prepared_statements = 0;
};

// One worker's share of one (database, user, backend) pool.
struct pool_info {
  std::string database, user, backend;
  std::size_t backend_index = 0;
  std::size_t cl_active = 0;   // clients holding one of its servers
  std::size_t cl_waiting = 0;  // clients waiting for one of its servers
  std::size_t sv_active = 0, sv_idle = 0, sv_login = 0;
  std::chrono::microseconds maxwait{0};  // the longest wait of a waiting client
};

struct worker_inspection {
  std::vector<client_info> clients;
  std::vector<server_info> servers;
  std::vector<pool_info> pools;
};

}  // namespace pgsteer::proxy
