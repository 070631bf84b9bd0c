// ConnectionCache: the front end's open LMTP connections to its back ends, reused across
// transactions as Postfix's connection cache reuses its sessions (its scache).
//
// take(address) gives an idle connection to that back end when one is kept (the most recently
// used first) and still reusable (backend_connection.h: the back end has neither closed it nor
// said anything since), else nothing: the caller opens a new one. give_back() keeps a connection
// after a transaction that left it reusable, up to `per_backend` idle connections per back end
// (beyond that it is closed with QUIT). A connection idle for longer than `idle_timeout` is closed
// at the next take() or give_back() rather than reused (keep it below the back ends'
// lmtp_idle_timeout). So a back end sees at most as many connections from a front end worker as
// that worker has transactions to it at once, and no new connection per message.
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/proxy/backend_connection.h"

namespace cubby::proxy {

class ConnectionCache {
 public:
  ConnectionCache(size_t per_backend, std::chrono::milliseconds idle_timeout);
  ~ConnectionCache();

  std::unique_ptr<BackendConnection> take(const std::string& address);
  void give_back(std::unique_ptr<BackendConnection> connection);
  // Idle connections kept, over all back ends.
  size_t idle() const;

 private:
  // Closes the connections idle for too long (under mutex_; closing sends QUIT, which does not
  // block on a healthy socket).
  void expire(std::chrono::steady_clock::time_point now);

  const size_t per_backend_;
  const std::chrono::milliseconds idle_timeout_;
  mutable std::mutex mutex_;
  std::map<std::string, std::vector<std::unique_ptr<BackendConnection>>> idle_;
};

}  // namespace cubby::proxy
