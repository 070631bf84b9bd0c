// A worker's RCPT-time memory of mailboxes and quota roots; see mailbox_cache.h.
#include "store/mailbox_cache.h"

namespace cubby::store {

MailboxCache::MailboxCache(Index& index)
    : index_(index),
      find_(index.db(),
            "SELECT id, name, uniqueid, partition, dir, uidvalidity, uidnext, created, acl, format, "
            "converting FROM mailboxes WHERE name = ?") {}

Result<std::optional<MailboxRecord>, Error> MailboxCache::lookup(const std::string& name) {
  find_.bind(1, name);
  auto row = find_.step();
  if (!row.ok()) {
    find_.reset();
    return fail(row.error());
  }
  std::optional<MailboxRecord> out;
  if (row.value()) {
    const Statement& s = find_;
    out = MailboxRecord{s.int_at(0), s.text_at(1), s.text_at(2), s.text_at(3), s.text_at(4),
                        s.int_at(5), s.int_at(6),  s.int_at(7),  s.text_at(8), s.text_at(9),
                        s.int_at(10) != 0};
  }
  find_.reset();
  return out;
}

void MailboxCache::forget() {
  mailboxes_.clear();
  quota_roots_.clear();
}

void MailboxCache::begin() {
  auto generation = index_.catalog_generation();
  if (!generation.ok()) {
    generation_.reset();
    forget();
    return;
  }
  if (generation_ != generation.value()) {
    forget();
    generation_ = generation.value();
  }
}

std::optional<MailboxRecord> MailboxCache::find(const std::string& name) {
  if (valid()) {
    if (auto it = mailboxes_.find(name); it != mailboxes_.end()) {
      ++hits_;
      return it->second;
    }
  }
  ++misses_;
  auto box = lookup(name);
  if (!box.ok()) return std::nullopt;  // a failed read is a miss, as find_mailbox has it, not remembered
  if (valid()) {
    if (mailboxes_.size() + quota_roots_.size() >= kMaxEntries) forget();
    mailboxes_.emplace(name, box.value());
  }
  return box.value();
}

Result<std::optional<QuotaRoot>, Error> MailboxCache::quota_root_of(const std::string& mailbox) {
  if (valid()) {
    if (auto it = quota_roots_.find(mailbox); it != quota_roots_.end()) {
      if (!it->second) {
        ++hits_;
        return std::optional<QuotaRoot>();
      }
      auto root = index_.quotas().get(*it->second);
      if (!root.ok()) return fail(root.error());
      if (root.value()) {
        ++hits_;
        return root;
      }
      quota_roots_.erase(it);  // removed since: the generation moved; look it up afresh
    }
  }
  ++misses_;
  auto root = index_.quotas().root_of(mailbox);
  if (!root.ok()) return fail(root.error());
  if (valid()) {
    if (mailboxes_.size() + quota_roots_.size() >= kMaxEntries) forget();
    quota_roots_.emplace(mailbox, root.value() ? std::optional<std::string>(root.value()->name)
                                               : std::nullopt);
  }
  return root;
}

}  // namespace cubby::store
