// Tests of StoreConfig::from: every partition gets a format (its own line, else partitionformat),
// and a format line naming no partition is an error that says where it is.
#include "store/config.h"

#include <gtest/gtest.h>

namespace cubby::store {
namespace {

Result<StoreConfig, std::string> config_of(std::string_view text) {
  auto settings = conf::Settings::parse(text, "imapd.conf");
  if (!settings) return fail(settings.error().str());
  return StoreConfig::from(*settings);
}

TEST(StoreConfigFormat, CyrusUnlessSaidOtherwise) {
  auto c = config_of("partition-default: /srv/a\npartition-b: /srv/b\n");
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c->partition_format("default"), PartitionFormat::kCyrus);
  EXPECT_EQ(c->partition_format("b"), PartitionFormat::kCyrus);
  EXPECT_EQ(c->partition_formats.size(), 2u);
}

TEST(StoreConfigFormat, PerPartitionLineBeatsTheGlobalDefault) {
  auto c = config_of(
      "partitionformat: maildir\n"
      "partition-default: /srv/a\n"
      "partition-old: /srv/old\n"
      "partition-old-format: cyrus\n");
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c->partition_format("default"), PartitionFormat::kMaildir);
  EXPECT_EQ(c->partition_format("old"), PartitionFormat::kCyrus);
  EXPECT_EQ(c->partitions.size(), 2u);  // "old-format" is no partition
}

TEST(StoreConfigFormat, FormatLineWithoutPartitionIsAnError) {
  auto c = config_of("partition-default: /srv/a\n\npartition-spare-format: maildir\n");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(),
            "imapd.conf:3: partition-spare-format names no partition (there is no "
            "partition-spare line)");
}

}  // namespace
}  // namespace cubby::store
