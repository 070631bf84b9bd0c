// Store: the mailboxes of every partition and the index that describes them.
//
// Opening a Store creates what is missing (the configuration directory, each partition's stage
// directory, the index schema); it does not run recovery (recovery.h), which the worker and cubbyctl
// run explicitly. A Store's own Index connection belongs to the thread that opened it; the delivery
// committer (committer.h) opens a second one. The store knows nothing of sockets or LMTP.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "conf/result.h"
#include "store/config.h"
#include "store/error.h"
#include "store/index.h"
#include "store/mailbox_name.h"
#include "store/stage_file.h"

namespace cubby::store {

class Store {
 public:
  static Result<std::unique_ptr<Store>, Error> open(StoreConfig config);

  const StoreConfig& config() const { return config_; }
  Index& index() { return index_; }

  // Parses an external name with this store's hierarchy separator.
  Result<MailboxName, Error> parse_name(const std::string& external) const {
    return MailboxName::from_external(external, config_.unix_hierarchy_sep);
  }
  std::string external_name(const std::string& internal) const;

  std::string partition_root(const std::string& partition) const;
  std::string mailbox_dir(const MailboxRecord& m) const;
  std::string message_path(const MailboxRecord& m, int64_t uid) const;

  // Creates the mailbox and its directory on `partition` (default partition when empty).
  Result<MailboxRecord, Error> create_mailbox(const MailboxName& name,
                                              const std::string& partition = "");
  // Removes the mailbox, its index rows and its message files.
  std::optional<Error> delete_mailbox(const MailboxName& name);
  std::optional<MailboxRecord> find_mailbox(const MailboxName& name) {
    return index_.find_mailbox(name.internal());
  }

  Result<StageFile, Error> create_stage(const std::string& partition) const;

 private:
  Store(StoreConfig config, Index index) : config_(std::move(config)), index_(std::move(index)) {}
  StoreConfig config_;
  Index index_;
};

// Parses the "<uid>." file name of a message; nullopt for anything else.
std::optional<int64_t> parse_message_file_name(const std::string& name);

}  // namespace cubby::store
