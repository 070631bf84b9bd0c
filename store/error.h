// Error: why a store operation failed, as a value.
//
// The code says what kind of failure it is (the LMTP layer maps it to a reply: kNoSpace → 451 4.3.1,
// kNotFound → 550 5.1.1, kPermission → 550 5.7.1, kOverQuota → 452 4.2.2 or 552 5.2.2, kBusy →
// 451 4.4.5, the rest (kUnsettled among them) → 451 4.3.0); `detail` says what exactly, for logs and cubbyctl.
#pragma once

#include <cerrno>
#include <string>

namespace cubby::store {

enum class Errc {
  kIo,        // a system call failed
  kNoSpace,   // ENOSPC or EDQUOT
  kNotFound,  // no such mailbox or message
  kExists,    // mailbox already exists
  kBadName,   // a mailbox or partition name we refuse
  kCorrupt,   // index and files disagree
  kPermission,  // the poster lacks the right to post (p); the mailbox is visible (l)
  kOverQuota,   // the quota root's limit is reached (Cyrus's rule, quota.h)
  kBusy,        // too many deliveries to this user at once (lmtp_user_concurrency_limit)
  kUnsettled,   // the partition is refusing deliveries until a failed write is settled (settle.h)
};

struct Error {
  Errc code = Errc::kIo;
  std::string detail;
  const std::string& str() const { return detail; }
};

// An Error for a failed system call: "<what>: <strerror(err)>", kNoSpace for ENOSPC/EDQUOT.
Error sys_error(const std::string& what, int err = errno);

}  // namespace cubby::store
