// Crash recovery of stage files and pending rows; see recovery.h.
#include "store/recovery.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <set>

#include "store/fs.h"
#include "store/mailbox_name.h"
#include "store/maildir_link.h"
#include "store/settle.h"
#include "store/sqlite.h"
#include "store/stage_file.h"

namespace cubby::store {
namespace {

bool exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* ent = ::readdir(d)) {
      std::string n = ent->d_name;
      if (n != "." && n != "..") names.push_back(std::move(n));
    }
    ::closedir(d);
  }
  return names;
}

}  // namespace

Result<RecoveryReport, Error> recover(const StoreConfig& config, Index& index) {
  const std::string lock_path = config.config_directory + "/recovery.lock";
  Fd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock) return fail(sys_error("open " + lock_path));
  if (::flock(lock.get(), LOCK_EX) != 0) return fail(sys_error("flock " + lock_path));

  RecoveryReport report;
  // (partition, stage name) -> pending rows made from it.
  std::map<std::pair<std::string, std::string>, std::vector<MessageRecord>> pending;
  for (auto& row : index.staged_rows()) {
    pending[{row.partition, row.message.stage}].push_back(std::move(row.message));
  }
  std::map<int64_t, MailboxRecord> mailboxes;
  auto mailbox = [&](int64_t id) -> const MailboxRecord* {
    auto it = mailboxes.find(id);
    if (it == mailboxes.end()) {
      auto m = index.mailbox_by_id(id);
      if (!m) return nullptr;
      it = mailboxes.emplace(id, *m).first;
    }
    return &it->second;
  };
  auto file_of = [&](const std::string& partition, const MessageRecord& m) -> std::string {
    const MailboxRecord* box = mailbox(m.mailbox);
    if (!box) return {};
    if (!m.file.empty()) {  // Maildir: in new/, or moved by Dovecot to cur/ (with flags)
      const std::string root = config.partition_root(partition);
      auto name = MailboxName::from_internal(box->name);
      if (!name.ok()) return {};
      auto where = find_maildir_message(root, *name, m.file);
      if (where.ok() && *where) return root + "/" + **where;
      return root + "/" + box->dir + "/new/" + m.file;  // gone (or expunged): reported below
    }
    return config.partition_root(partition) + "/" + box->dir + "/" + std::to_string(m.uid) + ".";
  };

  const std::vector<std::string> dead_marks = dead_unsettled_marks(config);
  const LinkMode mode = dead_marks.empty() ? LinkMode::kMissing : LinkMode::kRemake;
  report.remade_after_failed_sync = !dead_marks.empty();
  std::set<std::pair<std::string, std::string>> seen;  // stage files found on disk
  for (const auto& [partition, root] : config.partitions) {
    const std::string dir = stage_dir(root);
    // Everything in a stage directory may be removed: never one reached through a link.
    struct stat st;
    if (::lstat(dir.c_str(), &st) == 0) {
      if (auto e = require_real_dir(dir)) return fail(*e);
    }
    for (const auto& name : list_dir(dir)) {
      const std::string path = dir + "/" + name;
      Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
      if (!fd) continue;  // removed meanwhile by its owner
      seen.insert({partition, name});
      if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        ++report.stage_files_live;
        continue;
      }
      auto rows = pending.find({partition, name});
      if (rows == pending.end()) {
        // No pending row: either never committed, or committed and already durable (its rows were
        // marked before a crash stopped the removal). Both ways the file is no longer needed.
        ::unlink(path.c_str());
        ++report.stage_files_removed;
        continue;
      }
      // A file that stands there is this message and stays (readers may have it open; an IMAP
      // server must never see it vanish), unless a process died holding a failed sync unsettled:
      // then the page cache may show an entry the disk does not hold, and it is made anew.
      std::set<std::string> dirs;
      if (auto e = relink_rows(config, index, partition, path, rows->second, mode, &dirs,
                               &report.links_restored)) {
        return fail(*e);  // keep the stage file; retry later
      }
      if (auto e = fsync_dirs(dirs, nullptr)) return fail(*e);
      auto txn = Transaction::begin(index.db());
      if (!txn.ok()) return fail(txn.error());
      if (auto e = index.clear_stage(partition, name)) return fail(*e);
      if (auto e = txn->commit()) return fail(*e);
      ::unlink(path.c_str());
      ++report.stage_files_retired;
    }
  }

  // Pending rows whose stage file is gone: fine if their file is there, lost otherwise.
  for (const auto& [key, rows] : pending) {
    if (seen.count(key)) continue;
    auto txn = Transaction::begin(index.db());
    if (!txn.ok()) return fail(txn.error());
    for (const auto& m : rows) {
      const std::string target = file_of(key.first, m);
      if (!target.empty() && !exists(target)) {
        report.lost.push_back(target + " (uid " + std::to_string(m.uid) + ", stage " + key.second +
                              ")");
        if (auto e = index.delete_message(m.mailbox, m.uid)) return fail(*e);
      }
    }
    if (auto e = index.clear_stage(key.first, key.second)) return fail(*e);
    if (auto e = txn->commit()) return fail(*e);
  }
  for (const auto& m : dead_marks) ::unlink(m.c_str());  // settled now: every entry remade
  return report;
}

}  // namespace cubby::store
