// The messages of one user's INBOX as they lie on disk, for either partition format, checked
// against the index: what the crash tests (crash loop, power cut) compare with what they sent.
//
// Cyrus layout: one file `<spool>/user/<u>/<uid>.` per row of `cubbyctl message list`, its bytes
// hashing to the row's GUID.
// Maildir++ (docs/store-protocol.md "Maildir++ partitions"): the files of `<spool>/<u>/new/` and
// `<spool>/<u>/cur/` (Dovecot may have moved one there, with `:2,<flags>`), each file's `,S=` the
// size of its bytes; rows and files correspond one to one by GUID (these tests expunge nothing and
// store nothing through Dovecot). What docs/store-protocol.md lets a crash leave there, narrowed to
// these tests (hard links, never copies; no sync fails, so nothing is settled): in `tmp/` only a
// `maildirsize.*` file of a quota recalculation cut short; in `new/` and `cur/` only whole message
// files (no dot name).
// Everything that breaks these rules is reported in InboxFiles::problems.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "tests/e2e/instance.h"

namespace cubby::e2e {

enum class PartitionFormat { kCyrus, kMaildir };

// "Cyrus" or "Maildir", for test names.
std::string format_name(PartitionFormat format);
inline void PrintTo(PartitionFormat format, std::ostream* os) { *os << format_name(format); }
// The settings lines that make the default partition of that format.
std::vector<std::string> format_settings(PartitionFormat format);
// The directory of user/<user>'s INBOX on a partition root of that format.
std::string inbox_dir(PartitionFormat format, const std::string& spool, const std::string& user);

struct StoredCopy {
  std::string path;   // the file
  std::string bytes;  // its content
  int64_t uid = 0;    // Cubby's UID of its row
  std::string guid;   // of the row, equal to the XXH3 of bytes
};

struct InboxFiles {
  std::vector<StoredCopy> copies;
  std::vector<std::string> problems;  // empty when the disk and the index agree
};

// Reads user/<user>'s INBOX of a running (or stopped) instance.
InboxFiles read_inbox(const CubbyInstance& cubby, PartitionFormat format, const std::string& user);

// The Message-ID (without <>) of a stored message, or "".
std::string message_id_of(const std::string& bytes);

}  // namespace cubby::e2e
