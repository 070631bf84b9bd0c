// SyncPool: a few threads that run a batch of sync calls at once, so a group commit waits for its
// fdatasyncs and directory fsyncs about as long as for the slowest one instead of for their sum.
// The calls are I/O waits, not computation: the block layer merges the cache flushes of
// concurrent syncs, which is where the time goes on most disks.
//
// run() hands out the tasks and runs some on the calling thread too; it returns when every task
// has finished. start() hands them out to the helper threads only and returns at once, so the
// caller can do other work (the group's COMMIT) while they run; wait() then helps with what is
// left and returns when every task has finished. One batch at a time (the committer thread is the
// only caller): run() or start()...wait(), never nested. Whatever a task refers to must outlive
// the wait().
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/error.h"

namespace cubby::store {

class SyncPool {
 public:
  // `threads` helpers besides the caller; 0 runs every task on the caller, one after another.
  explicit SyncPool(size_t threads);
  ~SyncPool();
  SyncPool(const SyncPool&) = delete;
  SyncPool& operator=(const SyncPool&) = delete;

  void run(std::vector<std::function<void()>> tasks);
  // With no helper threads start() runs the tasks on the caller before it returns.
  void start(std::vector<std::function<void()>> tasks);
  void wait();

 private:
  void work();
  // Takes and runs tasks of the current batch until none is left.
  void drain(std::unique_lock<std::mutex>& lock);

  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::vector<std::function<void()>> tasks_;  // the current batch; empty between batches
  size_t next_ = 0, running_ = 0;
  bool started_ = false;  // a batch is out; wait() has not returned yet
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// Runs `tasks` on `pool`, or one after another on the caller when `pool` is null.
void run_tasks(SyncPool* pool, std::vector<std::function<void()>> tasks);

// fsyncs every directory of `dirs` at once on `pool` (or one after another without one), with
// `also` in the same batch; the first directory's error found, after all have run.
[[nodiscard]] std::optional<Error> fsync_dirs(const std::set<std::string>& dirs, SyncPool* pool,
                                              std::vector<std::function<void()>> also = {});

}  // namespace cubby::store
