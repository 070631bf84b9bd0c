// StoreConfig: the settings the store needs, read once from the settings file.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <string>

#include "conf/result.h"
#include "conf/settings.h"

namespace cubby::store {

// How a partition lays out its mailboxes: Cyrus's layout with Cubby's index, or Maildir++ (one
// Maildir per user, folders as ".Name" directories) that Dovecot reads live (docs/dovecot.md).
enum class PartitionFormat { kCyrus, kMaildir };

struct StoreConfig {
  std::string config_directory;                 // holds cubby.sqlite and the recovery lock
  std::map<std::string, std::string> partitions;  // name -> root directory
  // name -> format, one entry per partition (partition-<name>-format, else partitionformat).
  std::map<std::string, PartitionFormat> partition_formats;
  std::string default_partition = "default";
  bool hash_spool = false;                      // hashimapspool
  bool unix_hierarchy_sep = true;               // unixhierarchysep
  bool single_instance = true;                  // singleinstancestore: link, don't copy
  std::chrono::milliseconds checkpoint_interval{1000};  // store_checkpoint_interval
  size_t commit_batch = 256;                    // store_commit_batch
  size_t stage_reserve = 16;                    // store_stage_reserve (stage_reserve.h)
  std::string default_acl = "anyone lrs";       // defaultacl: a new shared mailbox's ACL
  // Delivery rules the group commit applies (delivery.h).
  bool duplicate_suppression = true;            // duplicatesuppression
  bool strict_quota = false;                    // lmtp_strict_quota
  int quota_warn_percent = 90;                  // quotawarn

  std::string index_path() const { return config_directory + "/cubby.sqlite"; }
  // Root directory of a partition; "" when there is no such partition.
  std::string partition_root(const std::string& partition) const {
    auto it = partitions.find(partition);
    return it == partitions.end() ? std::string() : it->second;
  }
  // The format of a partition (kCyrus for a name that is no partition).
  PartitionFormat partition_format(const std::string& partition) const {
    auto it = partition_formats.find(partition);
    return it == partition_formats.end() ? PartitionFormat::kCyrus : it->second;
  }
  // The format of a mailbox on `partition` whose row records `recorded` (MailboxRecord::format):
  // the recorded one once `cubbyctl convert` has set it, else the partition's.
  PartitionFormat mailbox_format(const std::string& partition, const std::string& recorded) const {
    if (recorded == "maildir") return PartitionFormat::kMaildir;
    if (recorded == "cyrus") return PartitionFormat::kCyrus;
    return partition_format(partition);
  }
  // Checks that there is at least one partition, that the default partition exists and that every
  // partition-<name>-format line names a partition.
  static Result<StoreConfig, std::string> from(const conf::Settings& settings);
};

}  // namespace cubby::store
