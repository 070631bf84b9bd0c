// Where mailboxes of a Maildir++ partition live and how they are made; see maildir_layout.h.
#include "store/maildir_layout.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <vector>

namespace cubby::store {
namespace {

Error bad(const MailboxName& name, const std::string& why) {
  return Error{Errc::kBadName, "mailbox \"" + name.internal() + "\" has no Maildir++ name: " + why};
}

bool is_inbox_word(const std::string& s) {
  if (s.size() != 5) return false;
  std::string lower;
  for (char c : s) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower == "inbox";
}

// The fd of directory `entry` in `parent_fd`, created (mode 0700) when missing; *created says
// whether it was. Never follows a link: a link or a file there is an error.
Result<Fd, Error> make_dir_in(int parent_fd, const std::string& parent_path,
                              const std::string& entry, bool* created) {
  *created = false;
  const std::string path = parent_path + "/" + entry;
  if (::mkdirat(parent_fd, entry.c_str(), 0700) == 0) {
    *created = true;
  } else if (errno != EEXIST) {
    return fail(sys_error("mkdir " + path));
  }
  Fd fd(open_beneath(parent_fd, entry, O_RDONLY | O_DIRECTORY));
  if (!fd) {
    if (errno == ELOOP || errno == EXDEV) {
      return fail(Error{Errc::kIo, path + ": is a symbolic link; refusing to follow it"});
    }
    if (errno == ENOTDIR) return fail(Error{Errc::kIo, path + ": exists and is not a directory"});
    return fail(sys_error("open " + path));
  }
  return fd;
}

std::optional<Error> fsync_fd(int fd, const std::string& path) {
  if (::fsync(fd) != 0) return sys_error("fsync " + path);
  return std::nullopt;
}

// Makes cur/, new/ and tmp/ in the Maildir open as `dir_fd`; fsyncs it when one was created.
std::optional<Error> make_maildir_subdirs(int dir_fd, const std::string& path) {
  bool any = false;
  for (const char* sub : {"cur", "new", "tmp"}) {
    bool created = false;
    auto fd = make_dir_in(dir_fd, path, sub, &created);
    if (!fd) return fd.error();
    any = any || created;
  }
  if (any) return fsync_fd(dir_fd, path);
  return std::nullopt;
}

}  // namespace

Result<std::string, Error> maildir_user_dir(const MailboxName& name) {
  if (!name.is_user())
    return fail(bad(name, "a shared mailbox has no place on a Maildir partition"));
  const std::string& user = name.components()[1];
  for (const char* reserved : {"stage.", "transfer."}) {
    if (user == reserved || name.domain() == reserved) {
      return fail(bad(name, "\"" + std::string(reserved) +
                                "\" is Cubby's (stage files; a user import's staging)"));
    }
  }
  if (name.domain().empty()) return user;
  return name.domain() + "/" + user;
}

Result<std::string, Error> maildir_folder_dir(const MailboxName& name) {
  if (!name.is_user())
    return fail(bad(name, "a shared mailbox has no place on a Maildir partition"));
  const auto& parts = name.components();
  std::string dir;
  for (size_t i = 2; i < parts.size(); ++i) {
    if (parts[i].find('.') != std::string::npos) {
      return fail(bad(name, "folder name \"" + parts[i] + "\" holds '.', Maildir++'s separator"));
    }
    if (i == 2 && is_inbox_word(parts[i])) {
      return fail(bad(name, "a folder named INBOX would be the user's INBOX itself"));
    }
    dir += "." + parts[i];
  }
  return dir;
}

Result<std::string, Error> maildir_mailbox_dir(const MailboxName& name) {
  auto user = maildir_user_dir(name);
  if (!user) return user;
  auto folder = maildir_folder_dir(name);
  if (!folder) return folder;
  return folder->empty() ? *user : *user + "/" + *folder;
}

std::optional<Error> create_maildir_mailbox(const std::string& partition_root,
                                            const MailboxName& name) {
  auto user = maildir_user_dir(name);
  if (!user) return user.error();
  auto folder = maildir_folder_dir(name);
  if (!folder) return folder.error();

  Fd root(::open(partition_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root) return sys_error("open " + partition_root);

  // Walk down from the root: [domain/]user[/.folder], creating what is missing.
  std::vector<std::string> steps;
  if (!name.domain().empty()) steps.push_back(name.domain());
  steps.push_back(name.components()[1]);
  if (!folder->empty()) steps.push_back(*folder);

  Fd parent = std::move(root);
  std::string parent_path = partition_root;
  for (size_t i = 0; i < steps.size(); ++i) {
    bool created = false;
    auto dir = make_dir_in(parent.get(), parent_path, steps[i], &created);
    if (!dir) return dir.error();
    const std::string path = parent_path + "/" + steps[i];
    const bool is_user = i + 1 == steps.size() - (folder->empty() ? 0 : 1);
    const bool is_mailbox = i + 1 == steps.size();
    if (is_user || is_mailbox) {
      if (auto err = make_maildir_subdirs(dir->get(), path)) return err;
    }
    if (is_mailbox && !folder->empty()) {
      Fd marker(open_beneath(dir->get(), "maildirfolder", O_WRONLY | O_CREAT | O_NOFOLLOW, 0600));
      if (!marker) return sys_error("create " + path + "/maildirfolder");
      if (auto err = fsync_fd(dir->get(), path)) return err;
    }
    if (created) {
      if (auto err = fsync_fd(parent.get(), parent_path)) return err;
    }
    parent = std::move(*dir);
    parent_path = path;
  }
  return std::nullopt;
}

const char* subdir_name(MaildirSubdir subdir) {
  switch (subdir) {
    case MaildirSubdir::kNew:
      return "new";
    case MaildirSubdir::kCur:
      return "cur";
    case MaildirSubdir::kTmp:
      return "tmp";
  }
  return "new";
}

Result<Fd, Error> open_maildir_subdir(const std::string& partition_root, const MailboxName& name,
                                      MaildirSubdir subdir) {
  auto dir = maildir_mailbox_dir(name);
  if (!dir) return fail(dir.error());
  const std::string rel = *dir + "/" + subdir_name(subdir);
  const std::string path = partition_root + "/" + rel;
  Fd root(::open(partition_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root) return fail(sys_error("open " + partition_root));
  Fd fd(open_beneath(root.get(), rel, O_RDONLY | O_DIRECTORY));
  if (!fd) {
    if (errno == ELOOP || errno == EXDEV) {
      return fail(Error{Errc::kIo, path + ": a symbolic link on the way; refusing to follow it"});
    }
    if (errno == ENOTDIR) return fail(Error{Errc::kIo, path + ": exists and is not a directory"});
    return fail(sys_error("open " + path));
  }
  return fd;
}

Result<UserMaildir, Error> UserMaildir::open(const std::string& partition_root,
                                             const std::string& user_dir) {
  int fd = -1;
  if (auto err = open_dir_beneath(partition_root, user_dir, &fd)) return fail(*err);
  return UserMaildir(Fd(fd), partition_root + "/" + user_dir);
}

Result<UserMaildir, Error> UserMaildir::open(const std::string& partition_root,
                                             const MailboxName& name) {
  auto user = maildir_user_dir(name);
  if (!user) return fail(user.error());
  return open(partition_root, *user);
}

}  // namespace cubby::store
