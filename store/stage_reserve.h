// StageReserve: stage files named ahead of need, so that a delivery does not wait for a directory
// fsync of its own.
//
// A new stage file's name is durable only after an fsync of its stage directory, and every group
// commit whose messages made their stage files anew pays that fsync beside the WAL's. The reserve
// moves it off the delivery's path: the committer makes stage files in batches (empty, locked and
// named like any stage file, stage_file.h), fsyncs the directory once for the whole batch, and
// only then offers them; a session's DATA takes one (Store::create_stage), writes the message into
// it, and the group's fdatasync of the file alone makes it durable. So per group the syncs go from
// k fdatasyncs + a directory fsync + the WAL's to k + 1, and the reserve's own directory fsync is
// shared by a refill's batch of messages (16 by default).
//
// A reserved file is held (open and flock()ed) by the worker like a live stage file, so recovery in
// another process leaves it alone; after a crash it is an unlocked stage file that no row names,
// and recovery removes it like any other. Destroying the reserve removes the files it holds.
//
// Thread-safe: take() runs on a worker's event loop, the refill on the committer and its sync pool.
#pragma once

#include <algorithm>
#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "store/error.h"
#include "store/stage_file.h"

namespace cubby::store {

class StageReserve {
 public:
  // A refill makes `batch` files at once (store_stage_reserve; 0: no reserve, every stage file is
  // made when its message comes) and starts once fewer than batch / 2 (at least 1) of a partition
  // are ready: one directory fsync per `batch` deliveries. Each reserved file is an open descriptor, so a
  // worker holds fewer than 1.5 x batch more per partition it delivers to (within cyrus.conf's
  // maxfds: the limit is per worker, not per connection).
  explicit StageReserve(size_t batch = kDefaultBatch) : batch_(batch) {}
  static constexpr size_t kDefaultBatch = 16;
  size_t batch() const { return batch_; }
  size_t low_water() const { return std::max<size_t>(1, batch_ / 2); }  // a batch of 1 refills too

  StageReserve(const StageReserve&) = delete;
  StageReserve& operator=(const StageReserve&) = delete;

  // A ready stage file of `partition` (its name already durable: StageFile::name_durable()), or
  // nullopt when none is; the caller then makes one as before.
  std::optional<StageFile> take(const std::string& partition);

  // One batch of new stage files for a partition, from plan() to finish().
  struct Refill {
    std::string partition, root;
    size_t count = 0;
    std::vector<StageFile> files;  // made by run()
    std::optional<Error> error;    // run() failed: none of `files` is offered
  };
  // A refill for `partition` (whose root is `root`) when it runs low and none is under way. The
  // caller runs it (run(), on any thread) and hands it back to finish() whatever happened.
  std::optional<Refill> plan(const std::string& partition, const std::string& root);
  // Makes the files and fsyncs the stage directory once for all of them.
  static void run(Refill& refill);
  // Offers the files of a refill that succeeded. After a failure the partition's ready files go
  // too (the directory's state is unknown: settle.h); the next refill starts afresh.
  void finish(Refill refill);

  size_t ready(const std::string& partition);  // for tests and logs

 private:
  struct Shelf {
    std::deque<StageFile> ready;
    bool refilling = false;
  };
  const size_t batch_;
  std::mutex mutex_;
  std::map<std::string, Shelf> shelves_;  // by partition; guarded by mutex_
};

}  // namespace cubby::store
