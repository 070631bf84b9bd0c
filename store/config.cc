// Reading the store's settings; see config.h.
#include "store/config.h"

namespace cubby::store {

Result<StoreConfig, std::string> StoreConfig::from(const conf::Settings& s) {
  StoreConfig c;
  c.config_directory = s.get_string("configdirectory");
  c.partitions = s.partitions();
  c.default_partition = s.get_string("defaultpartition");
  c.hash_spool = s.get_bool("hashimapspool");
  c.unix_hierarchy_sep = s.get_bool("unixhierarchysep");
  c.single_instance = s.get_bool("singleinstancestore");
  c.checkpoint_interval = s.get_duration("store_checkpoint_interval");
  c.commit_batch = static_cast<size_t>(std::max<int64_t>(1, s.get_int("store_commit_batch")));
  c.default_acl = s.get_string("defaultacl");
  c.duplicate_suppression = s.get_bool("duplicatesuppression");
  c.strict_quota = s.get_bool("lmtp_strict_quota");
  c.quota_warn_percent = static_cast<int>(s.get_int("quotawarn"));
  std::string where = s.path().empty() ? "settings" : s.path();
  if (c.partitions.empty()) {
    return fail(where + ": no partition configured (add \"partition-default: /path/to/spool\")");
  }
  if (!c.partitions.count(c.default_partition)) {
    return fail(where + ": defaultpartition \"" + c.default_partition +
                "\" has no partition-" + c.default_partition + " line");
  }
  for (const auto& [name, root] : c.partitions) {
    if (root.empty() || root[0] != '/') {
      return fail(where + ": partition-" + name + " must be an absolute path");
    }
  }
  return c;
}

}  // namespace cubby::store
