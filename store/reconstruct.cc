// Rebuilding index rows from the files; see reconstruct.h.
#include "store/reconstruct.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>

#include "store/acl.h"
#include "store/fs.h"
#include "store/mailbox_header.h"
#include "store/recipient.h"
#include "store/sqlite.h"
#include "store/verify.h"

namespace cubby::store {
namespace {

struct DirEntries {
  std::vector<std::string> dirs;
  std::map<int64_t, std::string> messages;  // uid -> file name, regular files only
  std::vector<std::string> strange;          // "<uid>." names that are no regular file (links)
  bool header = false;
};

// The entries of the open directory `dir`. A "<uid>." that is not a regular file (a planted
// link, say) is left out and named in `links`; a link is never entered as a directory.
DirEntries read_dir(int dir) {
  DirEntries out;
  DIR* d = ::fdopendir(::fcntl(dir, F_DUPFD_CLOEXEC, 0));
  if (!d) return out;
  while (dirent* ent = ::readdir(d)) {
    const std::string n = ent->d_name;
    if (n == "." || n == "..") continue;
    struct stat st;
    const bool known = ::fstatat(dir, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (auto uid = parse_message_file_name(n)) {
      if (known && S_ISREG(st.st_mode)) {
        out.messages.emplace(*uid, n);
      } else if (known) {
        out.strange.push_back(n);
      }
      continue;
    }
    if (n == kMailboxHeaderFile) {
      out.header = true;
      continue;
    }
    if (known && S_ISDIR(st.st_mode)) out.dirs.push_back(n);
  }
  ::closedir(d);
  std::sort(out.dirs.begin(), out.dirs.end());
  std::sort(out.strange.begin(), out.strange.end());
  return out;
}

// The mailbox name of a directory in the legacy layout ("domain/d/user/alice/Work", hashed
// "domain/e/d/a/user/alice/Work"), checked by laying it out again; nullopt when it is none.
std::optional<MailboxName> name_from_dir(const std::string& rel, bool hash_spool) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    size_t slash = rel.find('/', start);
    parts.push_back(rel.substr(start, slash == std::string::npos ? slash : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  size_t i = 0;
  std::string internal;
  if (parts.size() > 1 && parts[0] == "domain") {
    i = hash_spool ? 2 : 1;
    if (i >= parts.size()) return std::nullopt;
    internal = parts[i++] + "!";
  }
  if (hash_spool) ++i;
  if (i >= parts.size()) return std::nullopt;
  for (size_t k = i; k < parts.size(); ++k) internal += (k > i ? "." : "") + parts[k];
  auto name = MailboxName::from_internal(internal);
  if (!name.ok()) return std::nullopt;
  if (!name->is_user() && name->components()[0] == "user") return std::nullopt;  // "user" alone
  if (name->relative_dir(hash_spool) != rel) return std::nullopt;
  return name.value();
}

class Reconstruction {
 public:
  Reconstruction(Store& store, ReconstructReport& report) : store_(store), r_(report) {}

  // Adds the mailbox whose directory is `rel` on `partition` unless the index has it.
  void adopt(const std::string& partition, const std::string& rel, int dir_fd,
             const DirEntries& entries) {
    const std::string dir = store_.partition_root(partition) + "/" + rel;
    std::optional<MailboxHeader> header;
    if (entries.header) {
      auto h = MailboxHeader::read_at(dir_fd, dir);
      if (h.ok()) {
        header = h.value();
      } else {
        r_.problems.push_back(h.error().detail);
      }
    }
    std::optional<MailboxName> name;
    if (header) {
      auto n = MailboxName::from_internal(header->name);
      if (n.ok()) name = n.value();
    }
    if (!name) name = name_from_dir(rel, store_.config().hash_spool);
    if (!name) {
      if (!entries.messages.empty()) {
        r_.problems.push_back(dir + ": holds messages but is no mailbox directory");
      }
      return;
    }
    const std::string internal = name->internal();
    if (auto known = store_.index().find_mailbox(internal)) {
      if (known->partition != partition || known->dir != rel) {
        r_.problems.push_back(dir + ": belongs to " + store_.external_name(internal) +
                              ", which the index places at " +
                              store_.partition_root(known->partition) + "/" + known->dir);
      }
      return;
    }
    MailboxRecord m;
    m.name = internal;
    m.partition = partition;
    m.dir = rel;
    if (header) {
      m.uniqueid = header->uniqueid;
      m.uidvalidity = header->uidvalidity;
      m.uidnext = header->uidnext;
      m.acl = header->acl;
    } else {
      m.acl = Acl::for_new_mailbox(owner_of(*name), store_.config().default_acl).str();
    }
    if (store_.index().mailbox_by_uniqueid(m.uniqueid)) m.uniqueid.clear();  // taken: a new one
    auto added = store_.index().restore_mailbox(m);
    if (!added.ok()) {
      r_.problems.push_back(store_.external_name(internal) + ": " + added.error().detail);
      return;
    }
    ++r_.mailboxes_added;
    fresh_.insert(added->id);
    r_.events.push_back(store_.external_name(internal) + ": mailbox found at " + dir +
                        (header ? "" : " (no header: new unique id)") + " - adding");
    if (header && header->quota_root) {
      auto txn = Transaction::begin(store_.index().db());
      if (txn.ok() &&
          !store_.index().quotas().set(internal, header->storage_limit, header->message_limit) &&
          !txn->commit()) {
        r_.events.push_back(store_.external_name(internal) + ": quota root restored");
      }
    }
  }

  // Walks a partition for mailbox directories; links are neither entered nor adopted.
  void walk(const std::string& partition, const std::string& rel) {
    Fd dir;
    if (auto e = open_dir_beneath(store_.partition_root(partition), rel, &dir)) {
      r_.problems.push_back(e->detail);
      return;
    }
    DirEntries entries = read_dir(dir.get());
    if (!rel.empty() && (entries.header || !entries.messages.empty())) {
      adopt(partition, rel, dir.get(), entries);
    }
    for (const auto& sub : entries.dirs) {
      // Cubby's own directories at a partition's root: stage files, a user import's staging.
      if (rel.empty() && (sub == "stage." || sub == "transfer.")) continue;
      walk(partition, rel.empty() ? sub : rel + "/" + sub);
    }
  }

  void look_for(const MailboxName& name) {
    if (store_.index().find_mailbox(name.internal())) return;
    const std::string rel = name.relative_dir(store_.config().hash_spool);
    for (const auto& [partition, root] : store_.config().partitions) {
      Fd dir;
      if (auto e = open_dir_beneath(root, rel, &dir)) {
        if (e->code == Errc::kNotFound) continue;
        r_.problems.push_back(e->detail);
        return;
      }
      adopt(partition, rel, dir.get(), read_dir(dir.get()));
      return;
    }
    r_.problems.push_back(store_.external_name(name.internal()) +
                          ": not in the index and not on any partition");
  }

  // Step 2 for one mailbox.
  void rebuild(const std::string& internal) {
    Index& index = store_.index();
    auto txn = Transaction::begin(index.db());
    if (!txn.ok()) {
      r_.problems.push_back(internal + ": " + txn.error().detail);
      return;
    }
    auto box = index.find_mailbox(internal);
    if (!box) return;
    ++r_.mailboxes;
    const std::string ext = store_.external_name(internal);
    const std::string dir = store_.mailbox_dir(*box);
    const bool fresh = fresh_.count(box->id) > 0;
    int64_t uidnext = box->uidnext;
    // The directory opens beneath its partition without a link, or the mailbox is left alone.
    Fd dir_fd;
    if (auto e = store_.open_mailbox_dir(*box, &dir_fd)) {
      if (e->code != Errc::kNotFound) {
        r_.problems.push_back(ext + ": " + e->detail);
        return;
      }
      if (auto made = make_dirs_beneath(store_.partition_root(box->partition), box->dir, &dir_fd)) {
        r_.problems.push_back(ext + ": " + made->detail);
        return;
      }
      r_.events.push_back(ext + ": directory " + dir + " missing - created");
    }
    if (auto h = MailboxHeader::read_at(dir_fd.get(), dir); h.ok()) {
      uidnext = std::max(uidnext, h->uidnext);
    }
    DirEntries entries = read_dir(dir_fd.get());
    for (const auto& n : entries.strange) {
      r_.problems.push_back(ext + ": " + refused_link(dir + "/" + n).detail);
    }
    std::map<int64_t, MessageRecord> rows;
    for (auto& m : index.messages(box->id)) rows.emplace(m.uid, std::move(m));
    int64_t highest = 0;
    std::vector<int64_t> homeless;  // files whose UID was handed out before: renamed

    for (const auto& [uid, file] : entries.messages) {
      const std::string path = dir + "/" + file;
      struct stat st;
      if (::fstatat(dir_fd.get(), file.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
          !S_ISREG(st.st_mode)) {
        continue;
      }
      auto row = rows.find(uid);
      if (st.st_size == 0 && (row == rows.end() || !row->second.pending)) {
        ::unlinkat(dir_fd.get(), file.c_str(), 0);
        if (row != rows.end()) {
          if (auto e = index.delete_message(box->id, uid)) {
            r_.problems.push_back(ext + ": " + e->detail);
            return;
          }
          rows.erase(row);
        }
        r_.events.push_back(ext + ": uid " + std::to_string(uid) + ": empty file - removing");
        ++r_.removed;
        continue;
      }
      highest = std::max(highest, uid);
      if (row != rows.end()) {
        if (!row->second.pending && row->second.size != static_cast<int64_t>(st.st_size)) {
          correct(*box, row->second, path, ext);
        }
        continue;
      }
      if (fresh || uid >= uidnext) {
        add(*box, uid, path, st, ext, "found");
      } else {
        homeless.push_back(uid);
      }
    }
    for (const auto& [uid, row] : rows) {
      if (row.pending) {
        highest = std::max(highest, uid);
        continue;
      }
      if (entries.messages.count(uid)) continue;
      if (std::count(entries.strange.begin(), entries.strange.end(), std::to_string(uid) + ".")) {
        continue;  // a link in its place: reported above, the row is left for the administrator
      }
      if (auto e = index.delete_message(box->id, uid)) {
        r_.problems.push_back(ext + ": " + e->detail);
        return;
      }
      r_.events.push_back(ext + ": uid " + std::to_string(uid) + ": file missing - removing");
      ++r_.removed;
    }
    uidnext = std::max(uidnext, highest + 1);
    for (int64_t old_uid : homeless) {
      const int64_t uid = uidnext++;
      const std::string from_name = std::to_string(old_uid) + ".";
      const std::string to_name = std::to_string(uid) + ".";
      const std::string from = dir + "/" + from_name;
      const std::string to = dir + "/" + to_name;
      if (::renameat(dir_fd.get(), from_name.c_str(), dir_fd.get(), to_name.c_str()) != 0) {
        r_.problems.push_back(ext + ": rename " + from + ": " + sys_error("").detail);
        continue;
      }
      struct stat st;
      if (::fstatat(dir_fd.get(), to_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      add(*box, uid, to, st, ext,
          "rediscovered (was uid " + std::to_string(old_uid) + ")");
      --r_.found;
      ++r_.rediscovered;
    }
    if (auto e = index.raise_uidnext(box->id, uidnext - 1)) {
      r_.problems.push_back(ext + ": " + e->detail);
      return;
    }
    if (auto e = txn->commit()) {
      r_.problems.push_back(ext + ": " + e->detail);
      return;
    }
    if (!homeless.empty() && ::fsync(dir_fd.get()) != 0) {
      r_.problems.push_back(ext + ": " + sys_error("fsync " + dir).detail);
    }
  }

  void finish() {
    Index& index = store_.index();
    {
      auto txn = Transaction::begin(index.db());
      auto roots = index.quotas().list();
      if (txn.ok() && roots.ok()) {
        std::optional<Error> failed;
        for (const auto& root : roots.value()) {
          if (!failed) failed = index.quotas().recalc(root.name);
        }
        if (!failed) failed = txn->commit();
        if (failed) r_.problems.push_back("quota: " + failed->detail);
      }
    }
    for (const auto& box : index.list_mailboxes()) {
      if (!touched_.count(box.id)) continue;
      if (auto e = store_.write_header(box)) r_.problems.push_back(e->detail);
    }
  }

  void touch(int64_t id) { touched_.insert(id); }

 private:
  void add(const MailboxRecord& box, int64_t uid, const std::string& path, const struct stat& st,
           const std::string& ext, const std::string& how) {
    auto d = digest_file(path);
    if (!d.ok()) {
      r_.problems.push_back(ext + ": " + d.error().detail);
      return;
    }
    MessageRecord row{box.id, uid, d->guid, static_cast<int64_t>(d->size),
                      static_cast<int64_t>(st.st_mtime), stage_name(st), false, std::string()};
    if (auto e = store_.index().insert_message(row)) {
      r_.problems.push_back(ext + ": uid " + std::to_string(uid) + ": " + e->detail);
      return;
    }
    r_.events.push_back(ext + ": uid " + std::to_string(uid) + " " + how + " - adding");
    ++r_.found;
  }

  void correct(const MailboxRecord& box, const MessageRecord& row, const std::string& path,
               const std::string& ext) {
    auto d = digest_file(path);
    struct stat st;
    if (!d.ok() || ::lstat(path.c_str(), &st) != 0) return;
    MessageRecord fixed = row;
    fixed.guid = d->guid;
    fixed.size = static_cast<int64_t>(d->size);
    // Inside the mailbox's transaction: both or neither.
    auto e = store_.index().delete_message(box.id, row.uid);
    if (!e) e = store_.index().insert_message(fixed);
    if (e) {
      r_.problems.push_back(ext + ": uid " + std::to_string(row.uid) + ": " + e->detail);
      return;
    }
    r_.events.push_back(ext + ": uid " + std::to_string(row.uid) + ": size " +
                        std::to_string(row.size) + " on record, " + std::to_string(d->size) +
                        " on disk - correcting");
    ++r_.corrected;
  }

  // Rows of one delivery share a stage name (check.h); for adopted files the inode is the delivery.
  static std::string stage_name(const struct stat& st) {
    return "reconstructed-" + std::to_string(st.st_dev) + "-" + std::to_string(st.st_ino);
  }

  Store& store_;
  ReconstructReport& r_;
  std::set<int64_t> fresh_, touched_;
};

}  // namespace

Result<ReconstructReport, Error> reconstruct(Store& store, const std::vector<MailboxName>& only) {
  ReconstructReport report;
  Reconstruction rc(store, report);
  std::vector<std::string> names;
  if (only.empty()) {
    // A Maildir partition has no <uid>. files or headers to rebuild from: Dovecot owns its files
    // once delivered (docs/dovecot.md). Its mailboxes are left as they are.
    for (const auto& [partition, root] : store.config().partitions) {
      if (store.config().partition_format(partition) == PartitionFormat::kMaildir) continue;
      rc.walk(partition, "");
    }
    for (const auto& box : store.index().list_mailboxes()) names.push_back(box.name);
  } else {
    for (const auto& name : only) {
      rc.look_for(name);
      names.push_back(name.internal());
    }
  }
  for (const auto& name : names) {
    if (auto box = store.index().find_mailbox(name); box && store.is_maildir(*box)) continue;
    rc.rebuild(name);
    if (auto box = store.index().find_mailbox(name)) rc.touch(box->id);
  }
  rc.finish();
  return report;
}

}  // namespace cubby::store
