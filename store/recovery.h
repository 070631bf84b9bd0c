// Recovery: bring the store back to a consistent state after a crash, kill -9 or power cut.
//
// Safe to run at any time, also while other workers deliver: a stage file that is locked belongs to
// a live process and is left alone, and recoveries are serialised by {configdirectory}/recovery.lock.
// What it does, per partition:
//   - a stage file no index row names was never committed (no `250` was sent for it): removed;
//   - a stage file named by pending rows was committed but maybe not linked durably: every such
//     row whose <uid>. file is missing gets it made again (relink_rows, settle.h), the mailbox
//     directories are fsynced, the rows marked durable and the stage file removed (every row's
//     entry is made anew instead when a worker died with a failed sync unsettled: settle.h);
//     Before that the stage file's content is checked against the rows' XXH3-128 and size and then
//     fdatasynced: the COMMIT does not wait for the stage file's sync, so a crash can leave a
//     committed row whose stage file holds zeros or stale blocks;
//   - a pending row whose stage file is gone or does not hold the message, and whose own file is
//     not there either, was never acknowledged (its stage sync had not finished): it is taken
//     back (row, duplicate mark, quota charge, in one transaction; the UID stays used), so the
//     MTA's retry is delivered, not suppressed, and reported in `undone`.
// Stray <uid>. files without a row are not looked for here (that needs a walk of every mailbox);
// `cubbyctl check` reports them and never-reused UIDs make them harmless.
#pragma once

#include <string>
#include <vector>

#include "conf/result.h"
#include "store/config.h"
#include "store/error.h"
#include "store/index.h"

namespace cubby::store {

struct RecoveryReport {
  int stage_files_removed = 0;   // uncommitted messages dropped
  int empty_stage_files_removed = 0;  // a dead worker's reserve (stage_reserve.h): no message
  int stage_files_retired = 0;   // committed messages made durable
  int stage_files_live = 0;      // skipped: in use by a live process
  int links_restored = 0;        // <uid>. files recreated from stage files
  bool remade_after_failed_sync = false;  // a dead worker's unsettled mark: entries remade (settle.h)
  std::vector<std::string> undone;  // deliveries taken back: their stage file never became durable
  bool nothing_done() const {
    return stage_files_removed == 0 && empty_stage_files_removed == 0 &&
           stage_files_retired == 0 && links_restored == 0 &&
           undone.empty();
  }
};

Result<RecoveryReport, Error> recover(const StoreConfig& config, Index& index);

}  // namespace cubby::store
