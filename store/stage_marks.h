// StageMarks: the Message-ID and Date of each committed message whose stage file is still around,
// by stage file name (the index's `stage_marks` table, schema version 8).
//
// The index COMMIT of a group runs while its stage files are still being synced
// (docs/store-protocol.md), so after a crash a committed row may name a stage file that never
// reached the disk. Recovery then takes the delivery back, duplicate mark included, so that the
// MTA's retry is delivered and not suppressed; the mark's key (duplicates.h) is made from the
// Message-ID, the mailbox's uniqueid and the Date, and this table keeps the two that the row does
// not. One row per transaction, written in the delivery's own commit, removed with the stage file
// (checkpoint, recovery, settling). Statements are prepared per object: make one per commit, not
// per message. Same thread as its Db.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "conf/result.h"
#include "store/error.h"
#include "store/sqlite.h"

namespace cubby::store {

class StageMarks {
 public:
  explicit StageMarks(Db& db);

  [[nodiscard]] std::optional<Error> record(const std::string& stage, const std::string& message_id,
                                            const std::string& date);
  // (Message-ID, Date) recorded for `stage`, or nullopt when none was.
  Result<std::optional<std::pair<std::string, std::string>>, Error> find(const std::string& stage);
  [[nodiscard]] std::optional<Error> forget(const std::string& stage);

 private:
  Statement record_, find_, forget_;
};

}  // namespace cubby::store
