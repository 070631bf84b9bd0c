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
  c.stage_reserve = static_cast<size_t>(std::max<int64_t>(0, s.get_int("store_stage_reserve")));
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
  auto format_of = [](const std::string& text) {
    return text == "maildir" ? PartitionFormat::kMaildir : PartitionFormat::kCyrus;
  };
  std::map<std::string, std::string> origins;
  std::map<std::string, std::string> formats = s.partition_formats(&origins);
  for (const auto& [name, format] : formats) {
    if (!c.partitions.count(name)) {
      std::string origin = origins[name] == "set" ? where : origins[name];
      return fail(origin + ": partition-" + name + "-format names no partition (there is no " +
                  "partition-" + name + " line)");
    }
  }
  const PartitionFormat fallback = format_of(s.get_string("partitionformat"));
  for (const auto& [name, root] : c.partitions) {
    auto it = formats.find(name);
    c.partition_formats[name] = it == formats.end() ? fallback : format_of(it->second);
  }
  return c;
}

}  // namespace cubby::store
