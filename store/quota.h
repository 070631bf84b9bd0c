// Quota: limits set on quota roots and the usage charged against them, as Cyrus keeps them.
//
// A quota root is set on a mailbox and covers it and every mailbox below it that no deeper root
// covers: a root on user.alice covers alice's INBOX and all her folders. Two resources: STORAGE,
// a limit in KiB compared with the bytes of the messages, and MESSAGE, a count. Usage is charged
// per mailbox, as in Cyrus: a message linked into two mailboxes under one root counts twice, though
// the disk holds it once (cubbyctl reports the physical bytes beside it).
//
// The rule is Cyrus's: a delivery is refused when used + delta > limit for either resource, where
// delta is 0 unless lmtp_strict_quota (then the message's size and 1). So by default only a root
// that is already over its limit refuses mail, and one message may take it over.
//
// The used figures live on the root's row. Whoever adds or removes messages charges them in the
// same transaction (the group commit for deliveries; cubbyctl for message and mailbox deletion);
// recalc() recomputes them from the messages. One QuotaTable per Index connection, same thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/result.h"
#include "store/error.h"
#include "store/sqlite.h"

namespace cubby::store {

struct QuotaRoot {
  std::string name;                      // internal name of the mailbox the root is set on
  std::optional<int64_t> storage_limit;  // KiB; none: unlimited
  std::optional<int64_t> message_limit;
  int64_t storage_used = 0;  // bytes
  int64_t message_used = 0;
};

// True when adding `bytes` and `messages` breaks the rule: used + delta > limit.
bool exceeds(const QuotaRoot& root, int64_t bytes, int64_t messages);
// Delivery's quota rule, the one place it is written (see above): a message of `size` bytes into
// a mailbox under `root` fails kOverQuota when used + delta > limit, delta being 0, or `size` and
// one message with lmtp_strict_quota (`strict`). RCPT time (with the declared SIZE) and commit
// time (with the stored size) both call it.
[[nodiscard]] std::optional<Error> check_delivery_quota(const QuotaRoot& root, int64_t size,
                                                        bool strict);
// The highest percentage of a limit in use after adding `bytes` and `messages` (0 without limits).
int percent_used(const QuotaRoot& root, int64_t bytes = 0, int64_t messages = 0);

// The quota roots that could cover internal mailbox name `mailbox`, nearest first: the name
// itself, then each ancestor ("d!user.alice.Work", "d!user.alice", "d!user").
std::vector<std::string> quota_root_candidates(std::string_view mailbox);

class QuotaTable {
 public:
  explicit QuotaTable(Db& db);
  QuotaTable(QuotaTable&&) noexcept;
  ~QuotaTable();

  // Whether any root exists: lets a delivery skip the lookups on a store without quota.
  Result<bool, Error> any();
  // The root covering `mailbox` (internal name), or nullopt when none does.
  Result<std::optional<QuotaRoot>, Error> root_of(std::string_view mailbox);
  Result<std::optional<QuotaRoot>, Error> get(std::string_view root);
  Result<std::vector<QuotaRoot>, Error> list();

  // The rest run inside the caller's transaction.
  // Adds to a root's usage (negative figures release it).
  [[nodiscard]] std::optional<Error> charge(std::string_view root, int64_t bytes, int64_t messages);
  // Creates the root or changes its limits; its usage is then recomputed (recalc), and so is that
  // of the root that covered its mailboxes before.
  [[nodiscard]] std::optional<Error> set(std::string_view root, std::optional<int64_t> storage_limit,
                           std::optional<int64_t> message_limit);
  // Removes a root; the root that now covers its mailboxes is recomputed.
  [[nodiscard]] std::optional<Error> remove(std::string_view root);
  // Recomputes a root's usage from the messages of the mailboxes it covers.
  [[nodiscard]] std::optional<Error> recalc(std::string_view root);
  // What recalc() would set: bytes and messages of the mailboxes `root` covers, and the ids of
  // those mailboxes.
  struct Usage {
    int64_t bytes = 0, messages = 0;
    std::vector<int64_t> mailboxes;
  };
  Result<Usage, Error> computed_usage(std::string_view root);
  // Usage of one mailbox: messages and bytes.
  Result<std::pair<int64_t, int64_t>, Error> mailbox_usage(int64_t mailbox_id);

 private:
  struct Statements;
  std::unique_ptr<Statements> st_;
};

}  // namespace cubby::store
