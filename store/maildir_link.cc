// Linking a staged message into a Maildir's new/; see maildir_link.h.
#include "store/maildir_link.h"

#include <fcntl.h>
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

}  // namespace cubby::store
