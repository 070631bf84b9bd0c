// The committer thread: group commit and periodic checkpoints; see committer.h.
#include "store/committer.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <string>

#include "conf/log.h"

namespace cubby::store {
namespace {

// Stage files kept open (and locked) until a checkpoint; beyond this many, checkpoint at once.
constexpr size_t kMaxPendingStages = 1024;
// While deliveries keep coming, the checkpoint waits for a pause of one store_checkpoint_interval,
// for kMaxPendingStages, or at most this many intervals after its first work: its fsyncs (one per
// directory that got entries) are then shared by everything delivered meanwhile, not repeated
// every interval for the same directories (a run twice as long must not cost twice the
// directory fsyncs per message). Below convert's 10 s wait for a checkpoint (convert.h).
constexpr int kMaxCheckpointDelay = 5;
// Threads besides the committer's own for the syncs of a group or a checkpoint: they wait on the
// disk, they do not compute, so more than the CPUs.
constexpr size_t kSyncThreads = 7;

std::string joined(const std::set<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

Result<std::unique_ptr<Committer>, Error> Committer::start(const StoreConfig& config,
                                                          StageReserve* reserve) {
  auto index = Index::open(config.index_path());
  if (!index.ok()) return fail(index.error());
  std::unique_ptr<Committer> c(new Committer(config, std::move(index.value()), reserve));
  c->thread_ = std::thread([p = c.get()] { p->run(); });
  return c;
}

Committer::Committer(const StoreConfig& config, Index index, StageReserve* reserve)
    : config_(config),
      index_(std::move(index)),
      mailbox_cache_(index_),
      reserve_(reserve),
      sync_pool_(kSyncThreads) {}

Committer::~Committer() { stop(); }

void Committer::submit(DeliveryBatch batch, Done done) {
  {
    std::lock_guard lock(mutex_);
    queue_.emplace_back(std::move(batch), std::move(done));
  }
  wake_.notify_one();
}

void Committer::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

Committer::Stats Committer::stats() {
  std::lock_guard lock(mutex_);
  return stats_;
}

void Committer::note_unsettled(bool was_empty, const char* cause) {
  if (!was_empty || unsettled_.empty()) return;
  CUBBY_LOG_ERR("store: %s left the disk state unknown; partition(s) %s refuse deliveries "
                "(451 4.3.0) until it is settled",
                cause, joined(unsettled_.partitions()).c_str());
  last_settle_log_ = std::chrono::steady_clock::now();
  mark_unsettled(config_);
  std::lock_guard lock(mutex_);
  ++stats_.unsettled_episodes;
  stats_.unsettled = true;
}

bool Committer::settle() {
  if (unsettled_.empty()) return true;
  if (auto e = unsettled_.settle(config_, index_, &sync_pool_)) {
    // Every attempt fails the same way while the disk does: say so now and then, not every time.
    const auto now = std::chrono::steady_clock::now();
    if (now - last_settle_log_ >= std::chrono::seconds(60)) {
      CUBBY_LOG_ERR("store: settling partition(s) %s failed (will retry): %s",
                    joined(unsettled_.partitions()).c_str(), e->detail.c_str());
      last_settle_log_ = now;
    }
    return false;
  }
  clear_unsettled_mark(config_);
  std::lock_guard lock(mutex_);
  stats_.unsettled = false;
  return true;
}

void Committer::run() {
  using Clock = std::chrono::steady_clock;
  Checkpoint checkpoint;
  const auto interval = config_.checkpoint_interval;
  auto last_checkpoint = Clock::now();  // or the last try at settling with nothing to checkpoint
  auto last_group = Clock::now();
  Clock::time_point first_pending;  // when the checkpoint got its first work; valid when not empty
  auto checkpoint_due = [&](Clock::time_point now) {
    if (checkpoint.empty()) return now - last_checkpoint >= interval;  // settling, when held
    return checkpoint.pending_stages() >= kMaxPendingStages || now - last_group >= interval ||
           now - first_pending >= kMaxCheckpointDelay * interval;
  };
  auto do_checkpoint = [&] {
    if (checkpoint.empty()) {
      last_checkpoint = Clock::now();  // the next try at settling waits an interval too
      return;
    }
    if (auto e = checkpoint.run(index_, &sync_pool_)) {
      // Never run again: a later fsync that succeeds proves nothing (settle.h).
      const bool was_empty = unsettled_.empty();
      checkpoint.surrender(unsettled_);
      CUBBY_LOG_ERR("store: checkpoint failed: %s", e->detail.c_str());
      note_unsettled(was_empty, "a failed checkpoint");
    } else {
      std::lock_guard lock(mutex_);
      ++stats_.checkpoints;
    }
    last_checkpoint = Clock::now();
  };

  for (;;) {
    std::vector<std::pair<DeliveryBatch, Done>> work;
    bool stopping;
    {
      std::unique_lock lock(mutex_);
      if (queue_.empty() && !stopping_) {
        if (checkpoint.empty() && unsettled_.empty()) {
          wake_.wait(lock, [&] { return !queue_.empty() || stopping_; });
        } else {
          auto deadline = last_checkpoint + interval;
          if (!checkpoint.empty()) {
            deadline = std::min(last_group + interval,
                                first_pending + kMaxCheckpointDelay * interval);
          }
          wake_.wait_until(lock, deadline, [&] { return !queue_.empty() || stopping_; });
        }
      }
      while (!queue_.empty() && work.size() < config_.commit_batch) {
        work.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      stopping = stopping_ && queue_.empty();
    }

    if (!work.empty()) {
      settle();
      DeliveryGroup group(config_, index_, &sync_pool_);
      group.block(unsettled_.partitions());
      group.use_maildir_quotas(&maildir_quotas_);
      group.use_mailbox_cache(&mailbox_cache_);
      group.use_stage_reserve(reserve_);
      for (auto& [batch, done] : work) group.add(std::move(batch));
      group.stage();
      group.commit();
      group.link();
      const bool was_empty = unsettled_.empty();
      const bool had_work = !checkpoint.empty();
      group.retire(checkpoint, unsettled_);
      note_unsettled(was_empty, "a failed index commit or undo");
      last_group = Clock::now();
      if (!had_work && !checkpoint.empty()) first_pending = last_group;
      auto results = group.results();
      {
        std::lock_guard lock(mutex_);
        ++stats_.groups;
        stats_.messages += work.size();
      }
      for (size_t i = 0; i < work.size(); ++i) work[i].second(std::move(results[i]));
    }

    if (stopping || checkpoint_due(Clock::now())) {
      do_checkpoint();
      settle();
    }
    if (stopping) return;
  }
}

}  // namespace cubby::store
