// Verify: bit-rot detection. Re-reads every message file and compares its XXH3-128 (the GUID the
// index recorded when the message was staged) and its size with the index.
//
// A file that several mailboxes share (hard links) is read once. Rows still pending (a delivery in
// flight or awaiting recovery) are skipped, and so is a Maildir row whose file Dovecot expunged
// (check.h). Each problem is one line naming the mailbox, the UID and
// what differs; the index and the files are only read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "conf/result.h"
#include "store/error.h"
#include "store/store.h"

namespace cubby::store {

struct FileDigest {
  std::string guid;  // XXH3-128, 32 hex digits
  uint64_t size = 0;
};
// Hashes a whole file as the stage file hashed the message; a symbolic link is refused.
Result<FileDigest, Error> digest_file(const std::string& path);

struct VerifyReport {
  uint64_t messages = 0;  // rows checked
  uint64_t files = 0;     // distinct files read
  uint64_t bytes = 0;     // bytes read
  std::vector<std::string> problems;
  bool ok() const { return problems.empty(); }
};

// Verifies the mailboxes named (internal names), or every mailbox when `mailboxes` is empty.
VerifyReport verify(Store& store, const std::vector<std::string>& mailboxes = {});

}  // namespace cubby::store
