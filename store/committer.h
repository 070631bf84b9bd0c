// Committer: a worker's delivery thread. Sessions submit finished messages; the committer carries
// whatever has queued up through one DeliveryGroup (one set of fsyncs, one SQLite commit for all of
// them: group commit), then reports each result through its callback. A Checkpoint for everything
// delivered since the last one runs once deliveries pause for store_checkpoint_interval, or after
// 1024 pending stage files, or at the latest 5 intervals after its first delivery: under steady
// traffic its directory fsyncs are shared by up to 5 intervals' deliveries (committer.cc).
//
// A failure that leaves the disk state unknown (a failed COMMIT, undo or checkpoint) is never retried
// into "durable": what is involved goes to an Unsettled (settle.h), the partitions involved refuse
// deliveries (Errc::kUnsettled: 451 4.3.0, logged once) and the committer settles them in place
// before it takes deliveries there again: before each group, and every checkpoint interval while
// there is no traffic.
//
// It owns its own Index connection. Callbacks run on the committer thread: a session must hop back
// to its own thread (the server posts to its io_context). stop() (and the destructor) finishes the
// queued work, runs a last checkpoint and joins the thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "conf/result.h"
#include "store/config.h"
#include "store/delivery.h"
#include "store/index.h"
#include "store/maildir_delivery.h"
#include "store/settle.h"
#include "store/stage_reserve.h"

namespace cubby::store {

class Committer {
 public:
  using Done = std::function<void(DeliveryResult)>;

  // With a `reserve` (the worker's Store::stage_reserve(), which must outlive the committer), each
  // group refills it when it runs low (stage_reserve.h, DeliveryGroup::use_stage_reserve).
  static Result<std::unique_ptr<Committer>, Error> start(const StoreConfig& config,
                                                         StageReserve* reserve = nullptr);
  ~Committer();

  // Thread-safe. `done` is called exactly once, on the committer thread.
  void submit(DeliveryBatch batch, Done done);
  void stop();

  // Counters since start, for logs and tests.
  struct Stats {
    uint64_t groups = 0, messages = 0, checkpoints = 0;
    uint64_t unsettled_episodes = 0;  // times a partition was blocked by a failed write
    bool unsettled = false;           // a partition is blocked now
  };
  Stats stats();

 private:
  Committer(const StoreConfig& config, Index index, StageReserve* reserve);
  void run();
  // Tries to settle what is held; true when nothing is (any more).
  bool settle();
  // Logs and counts a new episode when `unsettled_` has changed from empty.
  void note_unsettled(bool was_empty, const char* cause);

  StoreConfig config_;
  Index index_;
  MailboxCache mailbox_cache_;  // stage()'s lookups on index_ (committer thread only)
  StageReserve* reserve_;       // may be null
  SyncPool sync_pool_;  // the syncs of each group and checkpoint, at once
  MaildirQuotaCache maildir_quotas_;  // committer thread only
  Unsettled unsettled_;  // committer thread only
  std::chrono::steady_clock::time_point last_settle_log_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<DeliveryBatch, Done>> queue_;
  bool stopping_ = false;
  Stats stats_;
  std::thread thread_;
};

}  // namespace cubby::store
