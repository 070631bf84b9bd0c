// Tests of the partition format settings: `partitionformat` (the default of every partition) and
// the `partition-<name>-format` family, with errors carrying file:line.
#include <gtest/gtest.h>

#include "conf/options.h"
#include "conf/settings.h"

namespace cubby::conf {
namespace {

Settings parsed(std::string_view text, std::vector<std::string>* warnings = nullptr) {
  auto result = Settings::parse(text, "imapd.conf", warnings);
  if (!result) ADD_FAILURE() << result.error().str();
  return result ? std::move(result).value() : Settings();
}

std::string error_of(std::string_view text) {
  auto result = Settings::parse(text, "imapd.conf");
  if (result) return "(parsed)";
  return result.error().str();
}

TEST(ConfPartitionFormat, FamilyOfTheKey) {
  EXPECT_EQ(family_of("partition-default-format"), Family::PartitionFormat);
  EXPECT_EQ(family_of("partition-mail-2-format"), Family::PartitionFormat);
  EXPECT_EQ(family_of("partition--format"), Family::Partition);  // no name: a partition "-format"
  EXPECT_EQ(family_of("partition-format"), Family::Partition);   // the partition named "format"
  EXPECT_EQ(family_of("partition-default"), Family::Partition);
  EXPECT_EQ(family_of("partitionformat"), Family::None);  // a table option, not a family
  EXPECT_NE(find_option("partitionformat"), nullptr);
  EXPECT_EQ(check_family_value("partition-default-format", "maildir"), std::nullopt);
  EXPECT_EQ(check_family_value("partition-default-format", "Maildir"), std::nullopt);
  EXPECT_EQ(check_family_value("partition-default-format", "mbox"),
            "\"mbox\" is not one of: cyrus, maildir");
}

TEST(ConfPartitionFormat, DefaultIsCyrus) {
  Settings s = parsed("partition-default: /var/spool/cubby\n");
  EXPECT_EQ(s.get_string("partitionformat"), "cyrus");
  EXPECT_TRUE(s.partition_formats().empty());
  EXPECT_EQ(s.partitions().size(), 1u);
}

TEST(ConfPartitionFormat, PerPartitionAndGlobal) {
  std::vector<std::string> warnings;
  Settings s = parsed(
      "partitionformat: MAILDIR\n"
      "partition-default: /var/spool/cubby\n"
      "partition-old: /var/spool/cyrus\n"
      "partition-old-format: Cyrus\n",
      &warnings);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(s.get_string("partitionformat"), "maildir");  // canonical spelling
  std::map<std::string, std::string> origins;
  EXPECT_EQ(s.partition_formats(&origins), (std::map<std::string, std::string>{{"old", "cyrus"}}));
  EXPECT_EQ(origins.at("old"), "imapd.conf:4");
  // The format line is no partition of its own.
  EXPECT_EQ(s.partitions(), (std::map<std::string, std::string>{{"default", "/var/spool/cubby"},
                                                                {"old", "/var/spool/cyrus"}}));
}

TEST(ConfPartitionFormat, ServiceOverride) {
  Settings s = parsed(
      "partition-default: /var/spool/cubby\n"
      "partition-default-format: cyrus\n"
      "lmtp_partition-default-format: maildir\n");
  EXPECT_EQ(s.partition_formats().at("default"), "cyrus");
  s.set_service("lmtp");
  EXPECT_EQ(s.partition_formats().at("default"), "maildir");
}

TEST(ConfPartitionFormat, BadValuesNameTheLine) {
  EXPECT_EQ(error_of("partition-default: /var/spool/cubby\npartition-default-format: mbox\n"),
            "imapd.conf:2: option \"partition-default-format\": \"mbox\" is not one of: cyrus, "
            "maildir");
  EXPECT_EQ(
      error_of("\npartitionformat: maildir++\n"),
      "imapd.conf:2: option \"partitionformat\": \"maildir++\" is not one of: cyrus, maildir");
  EXPECT_EQ(error_of("lmtp_partition-x-format: \n"),
            "imapd.conf:1: option \"lmtp_partition-x-format\": \"\" is not one of: cyrus, maildir");
}

TEST(ConfPartitionFormat, EffectiveListsTheFormatLine) {
  Settings s = parsed("partition-default: /srv/mail\npartition-default-format: MAILDIR\n");
  bool found = false;
  for (const auto& e : s.effective()) {
    if (e.name != "partition-default-format") continue;
    found = true;
    EXPECT_EQ(e.value, "maildir");
    EXPECT_EQ(e.origin, "imapd.conf:2");
    EXPECT_EQ(e.help, "Format of partition default.");
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace cubby::conf
