// Unsettled: what a failed step on the way to disk left unknown, held until it is settled
// (docs/store-protocol.md, "A failure that leaves the disk state unknown").
//
// Three failures leave the disk in a state nobody knows: a directory fsync that fails (Linux may
// drop the dirty pages with the error, so a later fsync that succeeds proves nothing), an index
// COMMIT that fails (its WAL frames may or may not come back after a crash), and the undo of a
// delivery whose file could not be made failing in turn (its row and duplicate mark may stay).
// None of them is ever retried into "durable". The committer instead
//   - keeps every stage file involved, locked, so the rows naming it can be made again;
//   - refuses each delivery touching an involved partition (Errc::kUnsettled: 451 4.3.0);
//   - settles in place before it accepts on that partition again (settle()): the undo first (rows,
//     duplicate marks and quota charges of the deliveries that failed go, in one transaction, so
//     the MTA's retry of those recipients is delivered, not suppressed); then every row still
//     naming a kept stage file gets its file made anew (link_message replaces the entry, so the
//     directory is dirty again and the next fsync really writes it), the directories are fsynced,
//     the rows marked durable in a transaction that always writes, and the stage files removed.
// If the worker dies first, its stage files are unlocked and recover() at the next start does the
// same for them, except the undo: those recipients then have the message (it was committed), and
// the MTA's retry is suppressed as a duplicate. Either way each is stored exactly once.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "store/config.h"
#include "store/duplicates.h"
#include "store/error.h"
#include "store/index.h"
#include "store/message_link.h"
#include "store/stage_file.h"
#include "store/sync_pool.h"

namespace cubby::store {

// A committed delivery whose file could not be made: what taking it back removes. The UID stays
// used (invariant 4).
struct UndoneDelivery {
  int64_t mailbox = 0, uid = 0, size = 0;
  std::optional<DuplicateKey> mark;
  std::string quota_root;  // "" when no root was charged
  std::string stage;       // the stage file its row names: finds the pending row by index
};

// Removes the rows, marks and charges of `undo` in one transaction; all or nothing.
[[nodiscard]] std::optional<Error> undo_deliveries(Index& index,
                                                   const std::vector<UndoneDelivery>& undo);

// Makes the file of every row in `rows` (all made from the stage file at `stage_path` on
// `partition`) from it as `mode` says (message_link.h: kMissing for recovery, kRemake for
// settling), and adds the directory of each file made to *dirs. Rows of a mailbox deleted
// meanwhile are skipped. *made counts the files made, *missing those of them that were not there.
[[nodiscard]] std::optional<Error> relink_rows(const StoreConfig& config, Index& index,
                                               const std::string& partition,
                                               const std::string& stage_path,
                                               const std::vector<MessageRecord>& rows,
                                               LinkMode mode, std::set<std::string>* dirs,
                                               int* made = nullptr, int* missing = nullptr);

// While a worker holds something unsettled it leaves a mark, {configdirectory}/unsettled-<pid>, so
// that recovery after its death knows the page cache may show directory entries the disk does not
// hold: recovery then remakes the entries of every pending row (LinkMode::kRemake) instead of
// trusting those that stand, and removes the marks of processes that are gone. Making the mark is
// best effort (the disk may be failing): a failure is logged.
void mark_unsettled(const StoreConfig& config);
void clear_unsettled_mark(const StoreConfig& config);
// The marks of processes that no longer exist (paths).
std::vector<std::string> dead_unsettled_marks(const StoreConfig& config);

class Unsettled {
 public:
  void add_undo(const std::vector<UndoneDelivery>& undo, const std::string& partition);
  void add_stage(StageFile stage);

  bool empty() const { return partitions_.empty(); }
  const std::set<std::string>& partitions() const { return partitions_; }

  // Settles everything held, as the file comment says. On an error nothing is forgotten: the next
  // call starts again from what is still held.
  [[nodiscard]] std::optional<Error> settle(const StoreConfig& config, Index& index,
                                            SyncPool* pool);

 private:
  std::vector<UndoneDelivery> undo_;
  std::vector<StageFile> stages_;
  std::set<std::string> partitions_;
};

}  // namespace cubby::store
