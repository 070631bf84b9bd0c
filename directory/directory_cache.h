// DirectoryCache: a front end's short memory of directory answers.
//
// It wraps the directory it asks (its `source`) and follows two durations (directory_cache_seconds
// and directory_stale_seconds):
//   - an answer younger than `fresh` is given without asking the source;
//   - otherwise the source is asked; a location is remembered, an unknown user forgotten (unknown
//     users are never cached, so a user added to the directory is deliverable at once);
//   - when the source is unreachable, a remembered location younger than fresh + stale is given
//     instead: known users keep receiving mail through a PostgreSQL restart or a failover to a
//     replica. A user the cache does not know gets kUnreachable (a temporary error), never
//     kUnknownUser.
// At most kMaxEntries users are remembered; beyond that the oldest half is dropped.
// fresh(), usable() and record() are the same memory without asking: a BoundedDirectory
// (bounded_directory.h) asks its source on a thread of its own and keeps the answers here; its
// cache has no source (nullptr), and its locate() is never called.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "directory/directory.h"

namespace cubby::directory {

struct CachePolicy {
  std::chrono::milliseconds fresh{30000};
  std::chrono::milliseconds stale{600000};
};

class DirectoryCache : public Directory {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  static constexpr size_t kMaxEntries = 100000;

  DirectoryCache(std::unique_ptr<Directory> source, CachePolicy policy,
                 Clock clock = [] { return std::chrono::steady_clock::now(); });

  Result<Location, LookupError> locate(const std::string& userid) override;

  // The remembered location when younger than `fresh`; when younger than fresh + stale.
  std::optional<Location> fresh(const std::string& userid) const;
  std::optional<Location> usable(const std::string& userid) const;
  // Keeps the source's answer: a location remembered, an unknown user forgotten, an unreachable
  // directory changes nothing.
  void record(const std::string& userid, Result<Location, LookupError> answer);

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    Location where;
    std::chrono::steady_clock::time_point fetched;
  };
  void make_room(std::chrono::steady_clock::time_point now);

  std::unique_ptr<Directory> source_;
  CachePolicy policy_;
  Clock clock_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace cubby::directory
