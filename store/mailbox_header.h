// MailboxHeader: the small file "cubby.header" in each mailbox directory, from which reconstruct
// rebuilds a mailbox's index row when the index is lost, as Cyrus's cyrus.header serves its
// reconstruct: the internal name, unique id, UID validity, ACL, a floor for the next UID, and the
// quota limits when the mailbox is a quota root.
//
// It is rewritten when the mailbox is created or renamed, when its ACL or quota changes and when
// messages are deleted from it; never by a delivery. So `uidnext` is only a floor: every UID that
// was ever used and whose file is gone is below it (deleting a message records the uidnext of the
// moment first), and reconstruct takes the larger of the floor and the highest file's UID + 1.
// Writes are atomic (fs.h write_file_atomically_at) and never through a link. The format is text, one "key TAB value" per line
// after a first line "Cubby mailbox header 1"; unknown keys are ignored so a newer Cubby may add
// some.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "conf/result.h"
#include "store/error.h"

namespace cubby::store {

inline constexpr const char* kMailboxHeaderFile = "cubby.header";

struct MailboxHeader {
  std::string name;  // internal
  std::string uniqueid;
  int64_t uidvalidity = 0;
  int64_t uidnext = 1;
  std::string acl;  // stored form (acl.h)
  bool quota_root = false;
  std::optional<int64_t> storage_limit;  // KiB, when a quota root with a STORAGE limit
  std::optional<int64_t> message_limit;

  // Reads <dir>/cubby.header; kNotFound when there is none, kCorrupt when it does not parse.
  static Result<MailboxHeader, Error> read(const std::string& dir);
  // The same in the open directory `dir` whose path is `shown`, never through a link (fs.h).
  static Result<MailboxHeader, Error> read_at(int dir, const std::string& shown);
  // Writes <dir>/cubby.header atomically (fs.h write_file_atomically_at).
  [[nodiscard]] std::optional<Error> write_at(int dir, const std::string& shown) const;
  std::string str() const;
  static Result<MailboxHeader, Error> parse(const std::string& text);
};

}  // namespace cubby::store
