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
//   - a pending row whose file and stage file are both gone cannot be served: it is deleted and
//     reported (this means the durability protocol was broken, e.g. by a disk lying about fsync).
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
  int stage_files_retired = 0;   // committed messages made durable
  int stage_files_live = 0;      // skipped: in use by a live process
  int links_restored = 0;        // <uid>. files recreated from stage files
  bool remade_after_failed_sync = false;  // a dead worker's unsettled mark: entries remade (settle.h)
  std::vector<std::string> lost; // rows deleted because nothing was left to serve them
  bool nothing_done() const {
    return stage_files_removed == 0 && stage_files_retired == 0 && links_restored == 0 &&
           lost.empty();
  }
};

Result<RecoveryReport, Error> recover(const StoreConfig& config, Index& index);

}  // namespace cubby::store
