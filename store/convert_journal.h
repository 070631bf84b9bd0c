// The journal of a conversion (convert.h step 3) and the clean-up it drives (step 5).
//
// {configdirectory}/convert/<uniqueid>.journal is written (atomically) before a unit's index switch
// and lists where its mailboxes and message files were: after the switch the index records only
// the new places, and the journal is what lets a rerun remove the old ones. Text, one
// "key TAB fields" per line after "cubby-convert 1":
//   to <cyrus|maildir>            partition <target partition>
//   box <id> <internal name> <old partition> <old format> <old dir>
//   file <box id> <old file name> ("<uid>." on Cyrus, the Maildir base name on Maildir)
// The clean-up is safe to repeat: what is gone is skipped.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "conf/result.h"
#include "store/error.h"
#include "store/store.h"

namespace cubby::store {

struct ConvertJournal {
  std::string to;         // "cyrus" or "maildir"
  std::string partition;  // the target partition
  struct Box {
    int64_t id = 0;
    std::string name, partition, format, dir;  // the old partition, format and directory
    std::vector<std::string> files;
  };
  std::vector<Box> boxes;

  std::string str() const;
  // kCorrupt (naming `path`) when `text` is not a journal.
  static Result<ConvertJournal, Error> parse(const std::string& text, const std::string& path);
};

// Whether the index shows the journal's unit switched: every mailbox (still there) in the target
// partition and format, unmarked.
bool journal_switched(Store& store, const ConvertJournal& j);

// Removes the old names (a Maildir one wherever Dovecot moved it), the emptied old directories
// (one holding files Cubby did not deliver is left and named in *notes), fsyncs what changed, and
// writes the headers of mailboxes that became Cyrus.
[[nodiscard]] std::optional<Error> clean_old_places(Store& store, const ConvertJournal& j,
                                                    std::vector<std::string>* notes);

}  // namespace cubby::store
