// Delivery rules on a Maildir++ partition that involve the user's Maildir rather than the index:
// the quota shared with Dovecot through maildirsize (maildir_quota.h, docs/dovecot.md).
//
// A user's quota on a Maildir partition is the limit line of <user Maildir>/maildirsize (written by
// `cubbyctl quota set`, read by Dovecot's `quota = maildir`), and the usage is the sum of its lines
// (Cubby appends one per delivery after the link, Dovecot one per expunge). RCPT and the commit
// apply Cubby's rule (quota.h check_delivery_quota: with lmtp_strict_quota the message must fit,
// otherwise the user must not be over already) and give the same kOverQuota error, so the replies
// are those of a Cyrus partition (452 4.2.2, or 552 5.2.2 with lmtp_over_quota_perm_failure).
// Without a maildirsize file there is no quota. A file that is garbled, too long or stale is
// recalculated (read_maildir_quota) and the recalculation logged at notice level.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

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

// RCPT time: the same check on a Maildir mailbox, reading the file; nullopt on a Cyrus partition.
std::optional<Error> check_maildir_rcpt_quota(const StoreConfig& config, const MailboxRecord& box,
                                              int64_t size, bool strict);

// After the link: appends "<size> 1" to the user's maildirsize when there is one. A failure is
// logged, not returned: the message is delivered, and the next recalculation counts it.
void charge_maildir_quota(const StoreConfig& config, const MailboxRecord& box, int64_t size);

}  // namespace cubby::store
