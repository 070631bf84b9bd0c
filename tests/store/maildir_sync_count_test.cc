// Invariant 5 on a Maildir++ partition (docs/store-protocol.md, "Maildir++ partitions"): a message
// costs exactly the syncs it costs on the Cyrus layout (sync_count_test.cc), whatever the number of
// recipients: the links into new/, the unique names and the maildirsize lines add none, and the
// checkpoint fsyncs each new/ once, as it fsyncs each Cyrus mailbox directory once. Counted with
// the process's own fsync()/fdatasync() (sync_counter.h), SQLite's WAL syncs included.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <memory>

#include "store/committer.h"
#include "store/delivery.h"
#include "tests/store/sync_counter.h"
#include "tests/store/temp_store.h"

namespace cubby::store {
namespace {

using testing::TempStore;

const std::string kMessage = "Return-Path: <a@b>\r\nSubject: syncs\r\n\r\nbody\r\n";

struct Cost {
  uint64_t before_reply = 0;  // stage, commit and link: what the 250 waits for
  uint64_t checkpoint = 0;    // the checkpoint that makes the links durable
};

// Delivers `messages` messages (one group) to the INBOXes of `recipients` Maildir users, each with
// a maildirsize (a quota) when `quota`, and counts the syncs.
Cost deliver_counted(int recipients, int messages, bool quota = false) {
  TempStore t;
  t.config().partition_formats["default"] = PartitionFormat::kMaildir;
  t.reopen();
  std::vector<std::string> names;
  for (int i = 0; i < recipients; ++i) {
    const std::string user = "user/u" + std::to_string(i);
    t.create(user);
    if (quota) {
      EXPECT_FALSE(t.store().set_quota(t.store().parse_name(user).value(), 1 << 20, std::nullopt));
    }
    names.push_back("user.u" + std::to_string(i));
  }
  DeliveryGroup group(t.store().config(), t.store().index());
  for (int m = 0; m < messages; ++m) {
    group.add(testing::batch_to(t.stage(kMessage + std::to_string(m)), names));
  }
  Cost cost;
  const uint64_t start = testing::syncs_so_far();
  group.stage();
  group.commit();
  group.link();
  cost.before_reply = testing::syncs_so_far() - start;
  Checkpoint cp;
  Unsettled unsettled;
  group.retire(cp, unsettled);
  EXPECT_TRUE(unsettled.empty());
  const uint64_t at_checkpoint = testing::syncs_so_far();
  EXPECT_FALSE(cp.run(t.store().index()));
  cost.checkpoint = testing::syncs_so_far() - at_checkpoint;
  for (const auto& r : group.results()) {
    for (const auto& o : r.outcomes) EXPECT_FALSE(o.error) << o.error->detail;
  }
  const std::string root = t.config().partitions["default"];
  size_t files = 0;
  for (int i = 0; i < recipients; ++i) {
    for (auto& e : std::filesystem::directory_iterator(root + "/u" + std::to_string(i) + "/new")) {
      (void)e;
      ++files;
    }
  }
  EXPECT_EQ(files, static_cast<size_t>(recipients * messages));
  return cost;
}

TEST(MaildirSyncCount, AMessageCostsTheSameSyncsForOneTenOrAHundredRecipients) {
  const Cost one = deliver_counted(1, 1), ten = deliver_counted(10, 1),
             hundred = deliver_counted(100, 1), hundred_quota = deliver_counted(100, 1, true);
  std::cout << "[ syncs ] before the reply on Maildir: " << one.before_reply << " / "
            << ten.before_reply << " / " << hundred.before_reply << " / "
            << hundred_quota.before_reply
            << " for 1 / 10 / 100 / 100 recipients with a maildirsize\n";
  // As on the Cyrus layout: one fdatasync of the stage file, one fsync of its directory, the WAL's
  // sync at COMMIT. No maildirsize append is synced.
  EXPECT_EQ(one.before_reply, 3u);
  EXPECT_EQ(ten.before_reply, one.before_reply);
  EXPECT_EQ(hundred.before_reply, one.before_reply);
  EXPECT_EQ(hundred_quota.before_reply, one.before_reply);
}

TEST(MaildirSyncCount, TheCheckpointSyncsEachNewDirectoryOnceForAllItsMessages) {
  const Cost single = deliver_counted(100, 1), many = deliver_counted(100, 20, true);
  std::cout << "[ syncs ] Maildir checkpoint: " << single.checkpoint << " for 1 message, "
            << many.checkpoint << " for 20, to the same 100 users\n";
  // 100 new/ directories and the WAL sync of the transaction that marks the rows durable: nothing
  // for tmp/, cur/ or the user's directory.
  EXPECT_EQ(single.checkpoint, 101u);
  EXPECT_EQ(many.checkpoint, single.checkpoint);
  // 20 messages in one group: 20 stage fdatasyncs, one directory fsync, one COMMIT.
  EXPECT_EQ(many.before_reply, 22u);
}

// The checkpoint's fsyncs must not grow with the length of a burst (the bench's W3 on Maildir paid
// about 100 directory fsyncs for every extra second its run took, one checkpoint per interval for
// the same 100 new/ directories): under steady traffic the committer checkpoints once deliveries
// pause (or after five intervals, or 1024 stage files), so a burst of three intervals to the same
// 100 users costs one checkpoint, 100 directory fsyncs and one WAL sync, at the end.
TEST(MaildirSyncCount, ASteadyBurstIsCheckpointedOnceWhenItEnds) {
  TempStore t;
  t.config().partition_formats["default"] = PartitionFormat::kMaildir;
  t.config().checkpoint_interval = std::chrono::milliseconds(100);
  t.reopen();
  std::vector<std::string> names;
  for (int i = 0; i < 100; ++i) {
    t.create("user/u" + std::to_string(i));
    names.push_back("user.u" + std::to_string(i));
  }
  auto committer = Committer::start(t.config());
  ASSERT_TRUE(committer.ok());
  const auto start = std::chrono::steady_clock::now();
  int messages = 0;
  uint64_t syncs_before_reply = 0;
  while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(300)) {
    StageFile stage = t.stage(kMessage + std::to_string(messages++));
    auto promise = std::make_shared<std::promise<DeliveryResult>>();
    auto future = promise->get_future();
    const uint64_t before = testing::syncs_so_far();
    (*committer)->submit(testing::batch_to(std::move(stage), names),
                         [promise](DeliveryResult r) { promise->set_value(std::move(r)); });
    for (auto& o : future.get().outcomes) ASSERT_FALSE(o.error) << o.error->detail;
    syncs_before_reply += testing::syncs_so_far() - before;
  }
  // Three intervals of traffic without a pause: no checkpoint yet (it used to run three).
  EXPECT_EQ((*committer)->stats().checkpoints, 0u) << messages << " messages";
  const uint64_t at_stop = testing::syncs_so_far();
  (*committer)->stop();
  const uint64_t at_checkpoint = testing::syncs_so_far() - at_stop;
  EXPECT_EQ((*committer)->stats().checkpoints, 1u);
  // Each new/ once, and the WAL sync of the rows made durable; SQLite's automatic WAL checkpoint
  // (every 1000 pages, and 57 messages to 100 users write thousands) may fall on that commit and
  // sync the WAL and the database once more.
  EXPECT_GE(at_checkpoint, 101u);
  EXPECT_LE(at_checkpoint, 103u);
  EXPECT_EQ(testing::count_entries(t.config().partitions["default"] + "/stage."), 0u);
  std::cout << "[ syncs ] " << messages << " messages to 100 Maildir users in 300 ms: "
            << syncs_before_reply << " syncs before the replies, " << at_checkpoint
            << " at the one checkpoint\n";
}

}  // namespace
}  // namespace cubby::store
