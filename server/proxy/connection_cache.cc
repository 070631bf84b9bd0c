// Open LMTP connections to the back ends, reused; see connection_cache.h.
#include "server/proxy/connection_cache.h"

#include <utility>

#include "conf/log.h"

namespace cubby::proxy {

ConnectionCache::ConnectionCache(size_t per_backend, std::chrono::milliseconds idle_timeout)
    : per_backend_(per_backend), idle_timeout_(idle_timeout) {}

ConnectionCache::~ConnectionCache() = default;

void ConnectionCache::expire(std::chrono::steady_clock::time_point now) {
  for (auto it = idle_.begin(); it != idle_.end();) {
    std::erase_if(it->second, [&](const auto& c) { return now - c->last_used() >= idle_timeout_; });
    it = it->second.empty() ? idle_.erase(it) : std::next(it);
  }
}

std::unique_ptr<BackendConnection> ConnectionCache::take(const std::string& address) {
  std::vector<std::unique_ptr<BackendConnection>> dead;  // closed outside the lock
  std::unique_ptr<BackendConnection> found;
  {
    std::lock_guard lock(mutex_);
    expire(std::chrono::steady_clock::now());
    auto it = idle_.find(address);
    while (it != idle_.end() && !it->second.empty() && !found) {
      std::unique_ptr<BackendConnection> c = std::move(it->second.back());
      it->second.pop_back();
      if (c->reusable()) {
        found = std::move(c);
      } else {
        CUBBY_LOG_INFO("front end: cached connection to %s was closed by the back end",
                       address.c_str());
        dead.push_back(std::move(c));
      }
    }
  }
  return found;
}

void ConnectionCache::give_back(std::unique_ptr<BackendConnection> connection) {
  if (!connection || per_backend_ == 0 || !connection->reusable()) return;
  std::lock_guard lock(mutex_);
  expire(std::chrono::steady_clock::now());
  auto& kept = idle_[connection->address()];
  if (kept.size() < per_backend_) kept.push_back(std::move(connection));
}

size_t ConnectionCache::idle() const {
  std::lock_guard lock(mutex_);
  size_t n = 0;
  for (const auto& [address, kept] : idle_) n += kept.size();
  return n;
}

}  // namespace cubby::proxy
