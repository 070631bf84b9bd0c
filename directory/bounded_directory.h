// BoundedDirectory: directory lookups that never hold the caller longer than a bound.
//
// A front end's worker asks locate() on its event loop, where a lookup that waits on PostgreSQL
// (a connection attempt to a server that is down or unreachable lasts up to its connect_timeout)
// would stall every other session of the worker. Here the source (the PostgresDirectory) is asked
// only on a thread of its own, one question at a time; locate() answers:
//   - at once from the cache when the user's answer is fresh (younger than
//   directory_cache_seconds);
//   - otherwise it queues the question (once per user) and waits for the thread's answer at most
//     `wait` (directory_lookup_wait), and not at all when the thread has been busy with one
//     question for longer than `wait` already (the directory hangs: nothing queued behind it can
//     be answered in time);
//   - an answer in time is the answer (a location, or an unknown user);
//   - no answer in time, or the directory unreachable: the cached location when it is younger
//     than fresh + stale (a known user keeps receiving), else kUnreachable (451 4.4.3 at RCPT,
//     never 550).
// An answer that comes after its caller gave up is still kept in the cache, so the sender's retry
// is answered from memory. At most kMaxQueued questions wait; beyond that locate() does not queue.
// locate() may be called from any thread; the destructor waits for the question in progress
// (bounded by the source's own timeouts, postgres_directory.h).
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "directory/directory.h"
#include "directory/directory_cache.h"

namespace cubby::directory {

class BoundedDirectory : public Directory {
 public:
  static constexpr size_t kMaxQueued = 1000;

  BoundedDirectory(std::unique_ptr<Directory> source, CachePolicy policy,
                   std::chrono::milliseconds wait);
  ~BoundedDirectory() override;
  BoundedDirectory(const BoundedDirectory&) = delete;
  BoundedDirectory& operator=(const BoundedDirectory&) = delete;

  Result<Location, LookupError> locate(const std::string& userid) override;

 private:
  // One question to the source and, once asked, its answer.
  struct Question {
    std::string userid;
    std::optional<Result<Location, LookupError>> answer;
  };
  void run();

  std::unique_ptr<Directory> source_;  // used on the thread only
  std::chrono::milliseconds wait_;
  std::mutex mutex_;
  std::condition_variable asked_;     // a question was queued, or stopping
  std::condition_variable answered_;  // a question got its answer
  DirectoryCache cache_;              // guarded by mutex_
  std::deque<std::shared_ptr<Question>> queue_;
  std::map<std::string, std::shared_ptr<Question>> open_;  // queued or being asked, by userid
  std::optional<std::chrono::steady_clock::time_point> busy_since_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace cubby::directory
