// MailboxCache: a worker's memory of the mailboxes and quota roots its RCPT checks looked up, so
// that a recipient seen before costs one small read of the index instead of several. The
// committer keeps one too, on its own connection, for the lookups of each group's stage step
// (delivery.h), whose begin() it calls once per group.
//
// What it remembers: per internal mailbox name, the mailbox's record or that there is none; per
// mailbox, the name of the quota root covering it or that none does. What it never remembers: the
// quota usage (it changes with every delivery), read fresh from the root's row each time.
//
// Validity: everything remembered belongs to one catalog generation (index.h
// catalog_generation(), raised by triggers in the same transaction as any change to a mailbox's
// name, place, ACL, format or converting mark, or to a quota root's existence or limits, made by
// any process: cubbyctl, another worker, reconstruct). begin() reads the generation and forgets
// everything when it moved, so each RCPT that calls it first sees every change committed before
// it, as an uncached lookup would; a lookup made after begin() may see a newer state than the
// generation it is filed under, never an older one, so nothing stale survives the next begin().
// When the generation cannot be read, nothing is remembered until it can (every lookup goes to
// the index); a lookup whose read fails is answered as a miss, as before, and not remembered. The memory is bounded: past kMaxEntries names it is forgotten at once.
//
// The records' uidnext is that of the lookup, not current: deliveries move it without changing
// the generation; RCPT checks do not read it. One MailboxCache per Index connection, same thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

#include "conf/result.h"
#include "store/error.h"
#include "store/index.h"
#include "store/quota.h"

namespace cubby::store {

class MailboxCache {
 public:
  static constexpr size_t kMaxEntries = 4096;

  explicit MailboxCache(Index& index);

  // Reads the catalog generation and forgets everything if it changed. Call at the start of each
  // check (an RCPT) and again after changing a mailbox oneself (autocreate).
  void begin();

  // Index::find_mailbox, remembered.
  std::optional<MailboxRecord> find(const std::string& name);
  // QuotaTable::root_of, the covering root remembered and its usage read fresh.
  Result<std::optional<QuotaRoot>, Error> quota_root_of(const std::string& mailbox);

  // For tests: lookups answered from memory, and by the index, since construction.
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }

 private:
  void forget();
  // Index::find_mailbox, telling a failed read (an Error) from a missing mailbox (nullopt).
  Result<std::optional<MailboxRecord>, Error> lookup(const std::string& name);
  bool valid() const { return generation_.has_value(); }

  Index& index_;
  Statement find_;  // prepared once, on the index's connection
  std::optional<int64_t> generation_;  // nullopt: unknown, nothing is remembered
  std::unordered_map<std::string, std::optional<MailboxRecord>> mailboxes_;
  std::unordered_map<std::string, std::optional<std::string>> quota_roots_;  // mailbox -> root
  uint64_t hits_ = 0, misses_ = 0;
};

}  // namespace cubby::store
