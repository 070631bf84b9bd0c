// Delivery rules on a Maildir++ partition that involve the user's Maildir rather than the index:
// the quota shared with Dovecot through maildirsize (maildir_quota.h, docs/dovecot.md).
//
// A user's quota on a Maildir partition is the limit line of <user Maildir>/maildirsize (written by
// `cubbyctl quota set`, read by Dovecot's `quota = maildir`), and the usage is the sum of its lines
// (Cubby appends one per user per group after the links, MaildirCharges; Dovecot one per expunge).
// RCPT and the commit apply Cubby's rule (quota.h check_delivery_quota: with lmtp_strict_quota the
// message must fit, otherwise the user must not be over already) and give the same kOverQuota
// error, so the replies are those of a Cyrus partition (452 4.2.2, or 552 5.2.2 with
// lmtp_over_quota_perm_failure). Without a maildirsize file there is no quota. A file that is
// garbled, too long or stale is recalculated (read_maildir_quota) and the recalculation logged at
// notice level.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "conf/result.h"
#include "store/config.h"
#include "store/error.h"
#include "store/index.h"
#include "store/maildir_quota.h"

namespace cubby::store {

// The quota of the user owning Maildir mailbox `box` (nullopt: no quota file). An error when the
// user's Maildir cannot be opened or the file cannot be read or rewritten.
Result<std::optional<MaildirQuota>, Error> user_maildir_quota(const StoreConfig& config,
                                                              const MailboxRecord& box);

// kOverQuota when delivering `size` more bytes (after `charged` already added by this commit)
// breaks the rule above.
std::optional<Error> check_maildir_delivery_quota(const MaildirQuota& quota,
                                                  const MaildirUsage& charged, int64_t size,
                                                  bool strict, const std::string& user);

// A worker's memory of the quotas user_maildir_quota() read, so that a user's maildirsize is not
// opened and read again for every recipient and every group while nobody changes it (Dovecot
// validates its own copy the same way). Each look-up costs two fstatat() calls by path and holds no
// descriptor: the user's Maildir directory must still be the one read (same device and inode: a
// user deleted and created again, or renamed, is read afresh), and its maildirsize must be the file
// read last time (same device, inode, size, mtime and ctime, to the nanosecond: any append, by
// Cubby or by Dovecot's expunge, and any recalculation, which renames a new file into place,
// changes one), or still be missing. (Stat by path may follow a link planted on the way; it can
// only ever match the very file that was read safely, beneath the root, or find none, which an
// owner of the Maildir could have had by removing maildirsize.) Otherwise the file is read as before (garbled, too long or stale: recalculated
// and logged). A quota over its limit is never kept: the 15-minute rule (maildir_quota.h) depends
// on the clock, not on the file. At most kMaxUsers users are kept; then it starts again. Not
// thread-safe: one per thread (a worker's event loop for RCPT, its committer for the commit).
class MaildirQuotaCache {
 public:
  static constexpr size_t kMaxUsers = 4096;
  // As user_maildir_quota().
  Result<std::optional<MaildirQuota>, Error> quota(const StoreConfig& config,
                                                   const MailboxRecord& box);
  // Look-ups answered from memory and files read, since construction (for tests).
  uint64_t hits() const { return hits_; }
  uint64_t reads() const { return reads_; }

 private:
  struct Entry {
    std::string path;          // the user's Maildir: partition root + "/" + user dir
    dev_t dir_dev = 0;         // the directory opened there (beneath the root, no links)
    ino_t dir_ino = 0;
    bool file = false;         // maildirsize existed when read
    struct stat file_stat {};  // as it was just before it was read
    std::optional<MaildirQuota> quota;
  };
  std::map<std::string, Entry> users_;  // partition + ":" + user dir
  uint64_t hits_ = 0, reads_ = 0;
};

// RCPT time: the same check on a Maildir mailbox, reading the file (through `cache` when given);
// nullopt on a Cyrus partition.
std::optional<Error> check_maildir_rcpt_quota(const StoreConfig& config, const MailboxRecord& box,
                                              int64_t size, bool strict,
                                              MaildirQuotaCache* cache = nullptr);

// Before the transaction (DeliveryGroup::stage): lists the keywords among `flags` that Maildir
// mailbox `box` does not know yet in its dovecot-keywords (maildir_info, waiting up to 2 s for
// Dovecot's dovecot-uidlist.lock), so that the commit, which holds the index's write lock and must
// not wait, finds them listed and names the file with their letters (maildir_info with no wait).
// Nothing on a Cyrus partition or without keywords. A failure is logged; the commit then tries
// once more without waiting, and keeps in the index what still has no letter.
void prepare_maildir_keywords(const StoreConfig& config, const MailboxRecord& box,
                              const std::vector<std::string>& flags);

// The maildirsize lines of one group's link step: each delivery is added once it is linked, and
// write() appends one line "<bytes> <messages>" per user with the group's sums (as Dovecot writes
// one line per transaction), so a user who got many messages costs one open and one write, not one
// per delivery. Users without a maildirsize get nothing (no quota). A failure is logged, not
// returned: the messages are delivered, and the next recalculation counts them.
class MaildirCharges {
 public:
  void add(const MailboxRecord& box, int64_t size);
  void write(const StoreConfig& config);

 private:
  struct Charge {
    std::string partition, user_dir;  // the user's Maildir (maildir_user_dir)
    MaildirUsage usage;
  };
  std::map<int64_t, Charge*> by_mailbox_;  // mailbox id -> its user's charge
  std::map<std::string, Charge> users_;    // partition + ":" + user dir -> the group's sum
};

}  // namespace cubby::store
