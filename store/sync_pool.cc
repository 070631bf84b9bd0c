// The sync pool; see sync_pool.h.
#include "store/sync_pool.h"

#include <cassert>

#include "store/fs.h"

namespace cubby::store {

SyncPool::SyncPool(size_t threads) {
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
}

SyncPool::~SyncPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void SyncPool::drain(std::unique_lock<std::mutex>& lock) {
  while (next_ < tasks_.size()) {
    const std::function<void()>& task = tasks_[next_++];  // tasks_ is not resized mid-batch
    ++running_;
    lock.unlock();
    task();
    lock.lock();
    --running_;
  }
  if (running_ == 0) done_.notify_all();
}

void SyncPool::work() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || next_ < tasks_.size(); });
    if (stopping_) return;
    drain(lock);
  }
}

void SyncPool::run(std::vector<std::function<void()>> tasks) {
  if (tasks.empty()) return;
  start(std::move(tasks));
  wait();
}

void SyncPool::start(std::vector<std::function<void()>> tasks) {
  std::unique_lock lock(mutex_);
  assert(!started_ && "one batch at a time");
  started_ = true;
  tasks_ = std::move(tasks);
  next_ = 0;
  if (threads_.empty()) {  // nobody else would run them
    drain(lock);
    return;
  }
  wake_.notify_all();
}

void SyncPool::wait() {
  std::unique_lock lock(mutex_);
  if (!started_) return;
  drain(lock);
  done_.wait(lock, [&] { return next_ >= tasks_.size() && running_ == 0; });
  tasks_.clear();
  next_ = 0;
  started_ = false;
}

void run_tasks(SyncPool* pool, std::vector<std::function<void()>> tasks) {
  if (pool) return pool->run(std::move(tasks));
  for (const auto& task : tasks) task();
}

std::optional<Error> fsync_dirs(const std::set<std::string>& dirs, SyncPool* pool,
                                std::vector<std::function<void()>> also) {
  const std::vector<std::string> list(dirs.begin(), dirs.end());
  std::vector<std::optional<Error>> errors(list.size());
  std::vector<std::function<void()>> tasks = std::move(also);
  for (size_t i = 0; i < list.size(); ++i) {
    tasks.emplace_back([&, i] { errors[i] = fsync_dir(list[i]); });
  }
  run_tasks(pool, std::move(tasks));
  for (auto& e : errors) {
    if (e) return e;
  }
  return std::nullopt;
}

}  // namespace cubby::store
