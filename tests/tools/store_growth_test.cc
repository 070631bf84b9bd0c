// grow_store(): the store it leaves is one `cubbyctl check` accepts, with the counts asked for, one
// inode per message shared by distinct mailboxes, quota and duplicate marks kept as a delivery
// keeps them; growth_message() has the size asked for.
#include "tools/store_growth.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <set>
#include <sstream>

#include "store/check.h"
#include "store/sqlite.h"
#include "tests/store/temp_store.h"

namespace cubby::tools {
namespace {

using store::testing::TempStore;

int64_t count_rows(store::Store& st, const char* sql) {
  store::Statement s(st.index().db(), sql);
  auto row = s.step();
  EXPECT_TRUE(row.ok() && row.value());
  const int64_t n = s.int_at(0);
  s.reset();
  return n;
}

TEST(StoreGrowth, MakesTheMailboxesAndDeliveriesAskedForAndCheckAcceptsTheStore) {
  TempStore t;
  t.create("user/u0");  // an existing mailbox counts and gets mail too
  GrowthPlan plan;
  plan.mailboxes = 30;
  plan.messages = 503;  // not a multiple of the batch nor of the recipients
  plan.recipients = 5;
  plan.size = 2000;
  plan.batch = 120;
  uint64_t last_progress = 0;
  auto report = grow_store(t.store(), plan, [&](uint64_t done, uint64_t total) {
    EXPECT_EQ(total, 503u);
    last_progress = done;
  });
  ASSERT_TRUE(report.ok()) << report.error().detail;
  EXPECT_EQ(report->mailboxes_created, 29u);
  EXPECT_EQ(report->mailboxes, 30u);
  EXPECT_EQ(report->messages, 503u);
  EXPECT_EQ(report->files, 101u);  // 100 messages to 5 mailboxes, one to the 3 rows left
  EXPECT_EQ(report->bytes, 101u * 2000);
  EXPECT_EQ(report->batches, 5u);
  EXPECT_EQ(last_progress, 503u);

  auto checked = store::check(t.store());
  std::ostringstream problems;
  for (const auto& p : checked.problems) problems << p << "\n";
  EXPECT_TRUE(checked.ok()) << problems.str();
  EXPECT_EQ(checked.mailboxes, 30u);
  EXPECT_EQ(checked.messages, 503u);
  EXPECT_EQ(t.store().index().list_mailboxes().size(), 30u);
  EXPECT_FALSE(t.store().index().messages(t.mailbox("user/u0").id).empty());
  EXPECT_EQ(count_rows(t.store(), "SELECT count(*) FROM deliveries"), 0);  // none pending
  EXPECT_EQ(count_rows(t.store(), "SELECT count(*) FROM messages WHERE size <> 2000"), 0);
  // Each message went to distinct mailboxes, as one inode (check verified the inode).
  EXPECT_EQ(count_rows(t.store(),
                       "SELECT count(*) FROM (SELECT stage, mailbox FROM messages "
                       "GROUP BY stage, mailbox HAVING count(*) > 1)"),
            0);
  EXPECT_EQ(count_rows(t.store(), "SELECT count(DISTINCT stage) FROM messages"), 101);
  const auto box = t.mailbox("user/g0");
  const auto rows = t.store().index().messages(box.id);
  ASSERT_FALSE(rows.empty());
  const auto st = store::testing::stat_of(t.store().message_path(box, rows[0].uid));
  EXPECT_GE(st.st_nlink, 2u);
  // No stage file outlives its batch.
  EXPECT_EQ(store::testing::count_entries(store::stage_dir(t.store().partition_root("default"))),
            0u);
}

TEST(StoreGrowth, AGrownStoreGrowsFurtherWithoutReusingNamesOrUids) {
  TempStore t;
  GrowthPlan plan;
  plan.mailboxes = 12;
  plan.messages = 40;
  plan.recipients = 4;
  ASSERT_TRUE(grow_store(t.store(), plan).ok());
  plan.mailboxes = 20;
  plan.seed = 2;
  auto again = grow_store(t.store(), plan);
  ASSERT_TRUE(again.ok()) << again.error().detail;
  EXPECT_EQ(again->mailboxes_created, 8u);
  EXPECT_EQ(again->mailboxes, 20u);
  auto checked = store::check(t.store());
  EXPECT_TRUE(checked.ok()) << (checked.problems.empty() ? "" : checked.problems[0]);
  EXPECT_EQ(checked.messages, 80u);
}

TEST(StoreGrowth, ChargesQuotaAndMarksDuplicatesAsADeliveryDoes) {
  TempStore t;
  t.config().duplicate_suppression = true;
  t.reopen();
  t.create("user/u0");
  auto name = t.store().parse_name("user/u0");
  ASSERT_TRUE(name.ok());
  ASSERT_FALSE(t.store().set_quota(name.value(), 1000000, std::nullopt));
  GrowthPlan plan;
  plan.mailboxes = 3;
  plan.messages = 30;
  plan.recipients = 3;  // every message reaches every mailbox, user/u0 included
  plan.size = 1000;
  auto report = grow_store(t.store(), plan);
  ASSERT_TRUE(report.ok()) << report.error().detail;
  auto checked = store::check(t.store());  // quota usage equals the contents
  EXPECT_TRUE(checked.ok()) << (checked.problems.empty() ? "" : checked.problems[0]);
  auto root = t.store().index().quotas().get("user.u0");
  ASSERT_TRUE(root.ok() && root.value());
  EXPECT_EQ(root.value()->message_used, 10);
  EXPECT_EQ(root.value()->storage_used, 10 * 1000);
  auto marks = t.store().index().duplicates().count();
  ASSERT_TRUE(marks.ok());
  EXPECT_EQ(marks.value(), 30);
}

TEST(StoreGrowth, FewerMailboxesThanRecipientsGiveEachMessageToEveryMailbox) {
  TempStore t;
  GrowthPlan plan;
  plan.mailboxes = 2;
  plan.messages = 10;
  plan.recipients = 10;
  auto report = grow_store(t.store(), plan);
  ASSERT_TRUE(report.ok()) << report.error().detail;
  EXPECT_EQ(report->files, 5u);
  EXPECT_TRUE(store::check(t.store()).ok());
}

TEST(StoreGrowth, RefusesAMaildirPartition) {
  TempStore t;
  t.config().partition_formats["default"] = store::PartitionFormat::kMaildir;
  t.reopen();
  GrowthPlan plan;
  plan.mailboxes = 1;
  plan.messages = 1;
  auto report = grow_store(t.store(), plan);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.error().code, store::Errc::kBadName);
  EXPECT_TRUE(t.store().index().list_mailboxes().empty());
}

TEST(StoreGrowth, MessagesHaveTheSizeAskedForAndReadLikeMail) {
  for (uint32_t size : {400u, 1000u, 4096u, 65536u}) {
    const std::string text = growth_message(7, 42, size, "u0", "Wed, 02 Dec 2026 10:00:00 +0000");
    EXPECT_EQ(text.size(), size);
    EXPECT_NE(text.find("Message-ID: <fill.7.42@bench.localhost>\r\n"), std::string::npos);
    EXPECT_NE(text.find("\r\n\r\n"), std::string::npos);
    EXPECT_EQ(text.substr(text.size() - 2), "\r\n");
    size_t start = 0;
    for (size_t end; (end = text.find("\r\n", start)) != std::string::npos; start = end + 2) {
      EXPECT_LE(end - start, 998u);
      EXPECT_EQ(text.find('\n', start), end + 1);  // no bare LF
    }
    EXPECT_EQ(start, text.size());
  }
  EXPECT_NE(growth_message(7, 42, 4096, "u0", "d"), growth_message(7, 43, 4096, "u0", "d"));
}

}  // namespace
}  // namespace cubby::tools
