// Linking a staged message into a Maildir's new/; see maildir_link.h.
#include "store/maildir_link.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/maildir_layout.h"

namespace cubby::store {

Result<MaildirLink, Error> link_into_new(const std::string& partition_root, const MailboxName& name,
                                         const std::string& stage_path, MaildirNamer& namer,
                                         const MessageSizes& sizes) {
  auto dir = maildir_mailbox_dir(name);
  if (!dir) return fail(dir.error());
  auto new_dir = open_maildir_subdir(partition_root, name, MaildirSubdir::kNew);
  if (!new_dir) return fail(new_dir.error());
  constexpr int kAttempts = 3;
  for (int attempt = 1;; ++attempt) {
    MaildirLink link;
    link.file_name = namer.next(sizes);
    link.path = *dir + "/new/" + link.file_name;
    if (::linkat(AT_FDCWD, stage_path.c_str(), new_dir->get(), link.file_name.c_str(), 0) == 0) {
      return link;
    }
    if (errno != EEXIST || attempt == kAttempts) {
      return fail(sys_error("link " + stage_path + " to " + partition_root + "/" + link.path));
    }
  }
}

namespace {

// The entry of `file_name` in the open directory `dir_fd`: the name itself, or the name followed
// by ":2,<flags>" (Maildir's info). Empty when there is none.
Result<std::string, Error> entry_of(int dir_fd, const std::string& dir_path,
                                    const std::string& file_name, bool scan) {
  struct stat st;
  if (::fstatat(dir_fd, file_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return file_name;
  if (errno != ENOENT) return fail(sys_error("stat " + dir_path + "/" + file_name));
  if (!scan) return std::string();
  int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail(sys_error("open " + dir_path));
  DIR* dir = ::fdopendir(fd);
  if (!dir) {
    ::close(fd);
    return fail(sys_error("opendir " + dir_path));
  }
  const std::string prefix = file_name + ":";
  std::string found;
  while (struct dirent* entry = ::readdir(dir)) {
    std::string_view name = entry->d_name;
    if (name.starts_with(prefix)) {
      found = name;
      break;
    }
  }
  ::closedir(dir);
  return found;
}

}  // namespace

Result<std::optional<std::string>, Error> find_maildir_message(const std::string& partition_root,
                                                               const MailboxName& name,
                                                               const std::string& file_name) {
  if (file_name.empty() || file_name.find('/') != std::string::npos) {
    return fail(Error{Errc::kBadName, "not a Maildir file name: \"" + file_name + "\""});
  }
  auto dir = maildir_mailbox_dir(name);
  if (!dir) return fail(dir.error());
  // A name delivered with flags (<base>:2,<letters>) is looked for by its base, as any other.
  const std::string base(maildir_base_name(file_name));
  for (MaildirSubdir subdir : {MaildirSubdir::kNew, MaildirSubdir::kCur}) {
    auto fd = open_maildir_subdir(partition_root, name, subdir);
    if (!fd) return fail(fd.error());
    const std::string rel = *dir + "/" + subdir_name(subdir);
    auto entry =
        entry_of(fd->get(), partition_root + "/" + rel, base, subdir == MaildirSubdir::kCur);
    if (!entry) return fail(entry.error());
    if (!entry->empty()) return std::optional<std::string>(rel + "/" + *entry);
  }
  return std::optional<std::string>();
}

Result<bool, Error> unlink_maildir_message(const std::string& partition_root,
                                           const MailboxName& name, const std::string& file_name) {
  // Dovecot may move the file between our lookup and the unlink: look again, a few times.
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto where = find_maildir_message(partition_root, name, file_name);
    if (!where) return fail(where.error());
    if (!*where) return false;
    const std::string rel = **where;
    const size_t slash = rel.rfind('/');
    auto fd = open_maildir_subdir(
        partition_root, name,
        rel.compare(slash - 3, 3, "new") == 0 ? MaildirSubdir::kNew : MaildirSubdir::kCur);
    if (!fd) return fail(fd.error());
    if (::unlinkat(fd->get(), rel.c_str() + slash + 1, 0) == 0) return true;
    if (errno != ENOENT) return fail(sys_error("unlink " + partition_root + "/" + rel));
  }
  return fail(Error{Errc::kIo, "message " + file_name + " kept moving while it was being removed"});
}

}  // namespace cubby::store
