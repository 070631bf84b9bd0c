// Importing a mailbox from another server's files; see import.h.
#include "store/import.h"

#include <sys/stat.h>

#include <algorithm>

#include "store/message_link.h"
#include "store/sqlite.h"
#include "store/verify.h"

namespace cubby::store {

namespace {

// The mailbox as import.h step 1 says: found (same UID validity) or made; nullopt in a dry run
// when it would be made.
Result<std::optional<MailboxRecord>, Error> mailbox_for(Store& store, const ImportedMailbox& box,
                                                        const std::string& partition, bool dry_run,
                                                        bool* created) {
  const std::string internal = box.name.internal();
  if (auto found = store.index().find_mailbox(internal)) {
    if (found->uidvalidity != box.uidvalidity) {
      return fail(Error{Errc::kCorrupt,
                        store.external_name(internal) + ": UID validity " +
                            std::to_string(found->uidvalidity) + " here, " +
                            std::to_string(box.uidvalidity) +
                            " at the source (made again there?): nothing imported into it"});
    }
    return std::optional<MailboxRecord>(*found);
  }
  *created = true;
  if (dry_run) return std::optional<MailboxRecord>();
  const std::string rel = box.name.relative_dir(store.config().hash_spool);
  Fd dir;
  if (auto e = make_dirs_beneath(store.partition_root(partition), rel, &dir)) return fail(*e);
  MailboxRecord m;
  m.name = internal;
  m.uniqueid = box.uniqueid;
  m.partition = partition;
  m.dir = rel;
  m.uidvalidity = box.uidvalidity;
  m.uidnext = 1;  // raised with the first commit: a crash before it imports everything again
  m.acl = box.acl;
  auto record = store.index().restore_mailbox(m);
  if (!record.ok()) return fail(record.error());
  if (auto e = store.write_header(record.value())) return fail(*e);
  return std::optional<MailboxRecord>(record.value());
}

struct Linked {
  MessageRecord row;
  std::vector<std::string> flags;
  bool hard_link = false;
};

}  // namespace

Result<ImportResult, Error> import_mailbox(Store& store, const ImportedMailbox& box, bool dry_run) {
  ImportResult result;
  const std::string partition =
      box.partition.empty() ? store.config().default_partition : box.partition;
  if (!store.config().partitions.count(partition)) {
    return fail(Error{Errc::kBadName, "no partition \"" + partition + "\""});
  }
  // A mailbox already here decides by its own format and place (cubbyctl convert may have moved
  // it); a new one is made in the partition's format.
  auto existing = store.index().find_mailbox(box.name.internal());
  if (existing ? store.is_maildir(*existing)
               : store.config().partition_format(partition) == PartitionFormat::kMaildir) {
    return fail(Error{Errc::kBadName, existing ? store.external_name(existing->name) +
                                                     " is a Maildir++ mailbox: import needs a "
                                                     "Cyrus one"
                                               : "partition \"" + partition +
                                                     "\" is a Maildir++ partition: import "
                                                     "needs a Cyrus one"});
  }
  if (existing && existing->converting) {
    return fail(Error{Errc::kBusy, store.external_name(existing->name) +
                                       " is being converted (cubbyctl convert): run it again"});
  }
  auto found = mailbox_for(store, box, partition, dry_run, &result.created);
  if (!found.ok()) return fail(found.error());
  const int64_t uidnext = found.value() ? found.value()->uidnext : 1;

  std::vector<ImportedMessage> todo;
  for (const auto& m : box.messages) {
    if (m.uid < uidnext) {
      ++result.present;
    } else {
      todo.push_back(m);
    }
  }
  std::sort(todo.begin(), todo.end(),
            [](const ImportedMessage& a, const ImportedMessage& b) { return a.uid < b.uid; });
  if (dry_run || !found.value()) {
    for (const auto& m : todo) {
      struct stat st;
      if (::stat(m.path.c_str(), &st) != 0) return fail(sys_error("stat " + m.path));
      ++result.added;
      result.bytes += st.st_size;
    }
    return result;
  }
  const MailboxRecord mailbox = *found.value();
  const std::string root = store.partition_root(mailbox.partition);

  // Step 2: the links (or copies).
  std::vector<Linked> linked;
  for (const auto& m : todo) {
    struct stat st;
    if (::lstat(m.path.c_str(), &st) != 0) return fail(sys_error("stat " + m.path));
    if (!S_ISREG(st.st_mode)) {
      return fail(Error{Errc::kBadName, m.path + ": not a regular file"});
    }
    auto digest = digest_file(m.path);
    if (!digest.ok()) return fail(digest.error());
    auto link = link_message(m.path, root, mailbox.dir, m.uid, store.config().single_instance,
                             LinkMode::kNew);
    if (!link.ok()) return fail(link.error());
    Linked l;
    l.row.mailbox = mailbox.id;
    l.row.uid = m.uid;
    l.row.guid = digest->guid;
    l.row.size = static_cast<int64_t>(digest->size);
    l.row.internaldate = m.internaldate;
    l.row.pending = false;
    l.hard_link = link->linked;
    l.row.stage = l.hard_link
                      ? "import:" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino)
                      : "import:" + std::to_string(mailbox.id) + ":" + std::to_string(m.uid);
    l.flags = m.flags;
    linked.push_back(std::move(l));
  }
  // Step 3: the new entries are durable before any row names them.
  if (!linked.empty()) {
    if (auto e = fsync_dir(store.mailbox_dir(mailbox))) return fail(*e);
  }

  // Step 4: the rows, uidnext and the quota charge in one transaction.
  {
    auto txn = Transaction::begin(store.index().db());
    if (!txn.ok()) return fail(txn.error());
    int64_t bytes = 0;
    int64_t highest = box.uidnext - 1;
    for (const auto& l : linked) {
      if (auto e = store.index().insert_message(l.row)) return fail(*e);
      if (!l.flags.empty()) {
        if (auto e = store.index().set_flags(mailbox.id, l.row.uid, l.flags)) return fail(*e);
      }
      bytes += l.row.size;
      highest = std::max(highest, l.row.uid);
    }
    if (highest >= 1) {
      if (auto e = store.index().raise_uidnext(mailbox.id, highest)) return fail(*e);
    }
    if (!linked.empty()) {
      auto covering = store.index().quotas().root_of(mailbox.name);
      if (!covering.ok()) return fail(covering.error());
      if (covering.value()) {
        if (auto e = store.index().quotas().charge(covering.value()->name, bytes,
                                                   static_cast<int64_t>(linked.size()))) {
          return fail(*e);
        }
      }
    }
    if (auto e = txn->commit()) return fail(*e);
    for (const auto& l : linked) {
      ++result.added;
      result.bytes += l.row.size;
      if (l.hard_link) ++result.linked;
    }
  }
  if (auto now = store.index().mailbox_by_id(mailbox.id)) {
    if (auto e = store.write_header(*now)) return fail(*e);
  }
  return result;
}

}  // namespace cubby::store
