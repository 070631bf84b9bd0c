// SyncPool: every task runs exactly once, run() returns only when all are done, and the tasks of
// one batch really run at the same time (a batch that needs all of its tasks at once to finish).
#include "store/sync_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace cubby::store {
namespace {

TEST(SyncPool, RunsEveryTaskOnceAndReturnsWhenAllAreDone) {
  SyncPool pool(3);
  for (size_t n : {0u, 1u, 2u, 7u, 50u}) {
    std::vector<std::atomic<int>> runs(n);
    std::vector<std::function<void()>> tasks;
    for (size_t i = 0; i < n; ++i) {
      tasks.emplace_back([&runs, i] {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        ++runs[i];
      });
    }
    pool.run(tasks);
    for (size_t i = 0; i < n; ++i) EXPECT_EQ(runs[i].load(), 1) << "task " << i << " of " << n;
  }
}

TEST(SyncPool, TheTasksOfABatchRunAtTheSameTime) {
  // Four tasks that each wait (up to 5 s) until all four have started: one after another, every
  // task would time out.
  SyncPool pool(3);
  std::mutex mu;
  std::condition_variable cv;
  int started = 0, met = 0;
  std::vector<std::function<void()>> tasks(4, [&] {
    std::unique_lock lock(mu);
    ++started;
    cv.notify_all();
    if (cv.wait_for(lock, std::chrono::seconds(5), [&] { return started == 4; })) ++met;
  });
  pool.run(tasks);
  EXPECT_EQ(met, 4);
}

TEST(SyncPool, WithoutHelpersTheCallerRunsEverything) {
  SyncPool pool(0);
  const auto self = std::this_thread::get_id();
  int on_caller = 0;
  std::vector<std::function<void()>> tasks(5, [&] { on_caller += std::this_thread::get_id() == self; });
  pool.run(tasks);
  EXPECT_EQ(on_caller, 5);
}

// start() returns while the tasks run, so the caller can do its own work meanwhile (the group's
// COMMIT while the stage files sync); wait() returns only when every task is done.
TEST(SyncPool, StartReturnsWhileTheTasksRunAndWaitWaitsForThem) {
  SyncPool pool(2);
  std::mutex mu;
  std::condition_variable cv;
  bool caller_went_on = false;
  std::atomic<int> done{0};
  std::vector<std::function<void()>> tasks(3, [&] {
    std::unique_lock lock(mu);
    // Blocks until the caller has gone on past start(): a start() that waited would time out.
    if (cv.wait_for(lock, std::chrono::seconds(5), [&] { return caller_went_on; })) ++done;
  });
  pool.start(tasks);
  {
    std::lock_guard lock(mu);
    caller_went_on = true;
  }
  cv.notify_all();
  pool.wait();
  EXPECT_EQ(done.load(), 3);
  pool.wait();  // nothing started: returns at once
  pool.run(tasks);  // and the pool takes the next batch
  EXPECT_EQ(done.load(), 6);
}

}  // namespace
}  // namespace cubby::store
