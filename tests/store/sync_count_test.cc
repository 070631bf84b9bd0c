// Invariant 5 (docs/store-protocol.md): the syncs a message costs do not grow with its recipients.
// Counted with the process's own fsync()/fdatasync() (sync_counter.h), SQLite's WAL syncs included.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "store/committer.h"
#include "tests/store/sync_counter.h"
#include "tests/store/temp_store.h"

namespace cubby::store {
namespace {

using testing::TempStore;

const std::string kMessage = "Return-Path: <a@b>\r\nSubject: syncs\r\n\r\nbody\r\n";

std::vector<std::string> users(TempStore& t, int n) {
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) {
    t.create("user/u" + std::to_string(i));
    names.push_back("user.u" + std::to_string(i));
  }
  return names;
}

struct Cost {
  uint64_t before_reply = 0;  // stage, commit and link: what the 250 waits for
  uint64_t checkpoint = 0;    // the checkpoint that makes the links durable
};

// Delivers `messages` messages (one group) to `recipients` mailboxes and counts the syncs.
Cost deliver_counted(int recipients, int messages) {
  TempStore t;
  auto names = users(t, recipients);
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
  return cost;
}

TEST(SyncCount, AMessageCostsTheSameSyncsForOneTenOrAHundredRecipients) {
  const Cost one = deliver_counted(1, 1), ten = deliver_counted(10, 1),
             hundred = deliver_counted(100, 1);
  std::cout << "[ syncs ] before the reply: " << one.before_reply << " / " << ten.before_reply
            << " / " << hundred.before_reply << " for 1 / 10 / 100 recipients\n";
  // One fdatasync of the stage file, one fsync of its directory, the WAL's sync at COMMIT.
  EXPECT_EQ(one.before_reply, 3u);
  EXPECT_EQ(ten.before_reply, one.before_reply);
  EXPECT_EQ(hundred.before_reply, one.before_reply);
}

TEST(SyncCount, TheCheckpointSyncsEachDirectoryOnceForAllItsMessages) {
  // The checkpoint fsyncs each mailbox directory that got entries once, however many messages
  // it holds: its cost is per directory per interval, shared by every message delivered in it.
  const Cost single = deliver_counted(100, 1), many = deliver_counted(100, 20);
  std::cout << "[ syncs ] checkpoint: " << single.checkpoint << " for 1 message, "
            << many.checkpoint << " for 20, to the same 100 mailboxes\n";
  EXPECT_EQ(many.checkpoint, single.checkpoint);
  // 100 directories and the WAL sync of the transaction that marks the rows durable.
  EXPECT_EQ(single.checkpoint, 101u);
  // 20 messages in one group: 20 stage fdatasyncs, one directory fsync, one COMMIT.
  EXPECT_EQ(many.before_reply, 22u);
}

// A stage file the reserve made ahead (stage_reserve.h) has a durable name already: its delivery
// waits for its own fdatasync and the WAL's, not for a directory fsync too. The group that takes
// the reserve below its low-water mark refills it with one directory fsync for a whole batch.
TEST(SyncCount, AMessageInAReservedStageFileCostsTwoSyncsBeforeTheReply) {
  TempStore t;
  auto names = users(t, 10);
  StageReserve& reserve = t.store().stage_reserve();
  auto deliver = [&](int m) {
    DeliveryGroup group(t.store().config(), t.store().index());
    group.use_stage_reserve(&reserve);
    group.add(testing::batch_to(t.stage(kMessage + std::to_string(m)), names));
    const uint64_t start = testing::syncs_so_far();
    group.stage();
    group.commit();
    group.link();
    const uint64_t syncs = testing::syncs_so_far() - start;
    Checkpoint cp;
    Unsettled unsettled;
    group.retire(cp, unsettled);
    EXPECT_TRUE(unsettled.empty());
    const auto results = group.results();
    for (const auto& o : results.at(0).outcomes) EXPECT_FALSE(o.error);
    return syncs;
  };
  // The first message's stage file was made anew (the reserve was empty): its directory fsync,
  // the refill's, its fdatasync, the WAL's.
  EXPECT_EQ(deliver(0), 4u);
  EXPECT_EQ(reserve.ready("default"), reserve.batch());
  const size_t from_reserve = reserve.batch() - reserve.low_water() + 1;
  uint64_t total = 0;
  for (size_t m = 1; m <= from_reserve; ++m) {
    const uint64_t syncs = deliver(static_cast<int>(m));
    total += syncs;
    if (m < from_reserve) {
      EXPECT_EQ(syncs, 2u) << "message " << m;
    }
  }
  // The last one took the reserve below its low-water mark: its group refilled it.
  EXPECT_EQ(total, 2u * from_reserve + 1);
  EXPECT_EQ(reserve.ready("default"), reserve.low_water() - 1 + reserve.batch());
}

// Group commit: transactions queued while the committer syncs share its next group's syncs.
TEST(Committer, QueuedTransactionsShareOneGroup) {
  TempStore t;
  auto names = users(t, 10);
  std::vector<StageFile> stages;
  for (int m = 0; m < 50; ++m) stages.push_back(t.stage(kMessage + std::to_string(m)));
  auto committer = Committer::start(t.config());
  ASSERT_TRUE(committer.ok());
  const uint64_t start = testing::syncs_so_far();
  std::vector<std::future<DeliveryResult>> futures;
  for (auto& stage : stages) {
    auto promise = std::make_shared<std::promise<DeliveryResult>>();
    futures.push_back(promise->get_future());
    (*committer)->submit(testing::batch_to(std::move(stage), names),
                         [promise](DeliveryResult r) { promise->set_value(std::move(r)); });
  }
  for (auto& f : futures) {
    for (auto& o : f.get().outcomes) EXPECT_FALSE(o.error);
  }
  const uint64_t syncs = testing::syncs_so_far() - start;
  auto stats = (*committer)->stats();
  (*committer)->stop();
  EXPECT_EQ(stats.messages, 50u);
  // Submitted faster than one group's syncs take: without grouping there would be 50 groups and
  // 50 COMMITs (150 syncs before the checkpoints).
  EXPECT_LT(stats.groups, 25u) << "the committer did not group queued transactions";
  EXPECT_LT(syncs, 50u * 3u) << "grouped transactions did not share their syncs";
  std::cout << "[ group commit ] 50 messages in " << stats.groups << " groups, " << syncs
            << " syncs before stop\n";
}

// The committer refills the worker's stage reserve on its sync pool while sessions take files
// from it (here one submitting thread, as a worker's event loop): most messages then come in a
// reserved file, so a group's syncs are its fdatasyncs and the WAL's, and a refill's directory
// fsync is shared by a batch. (Run under ThreadSanitizer in CI: scripts/test's tsan_tests.)
TEST(Committer, RefillsTheStageReserveWhileSessionsTakeFromIt) {
  TempStore t;
  auto names = users(t, 10);
  StageReserve& reserve = t.store().stage_reserve();
  auto committer = Committer::start(t.config(), &reserve);
  ASSERT_TRUE(committer.ok());
  constexpr int kMessages = 200;
  int reserved = 0;
  const uint64_t start = testing::syncs_so_far();
  std::vector<std::future<DeliveryResult>> futures;
  std::thread session([&] {
    for (int m = 0; m < kMessages; ++m) {
      StageFile stage = t.stage(kMessage + std::to_string(m));
      if (stage.name_durable()) ++reserved;
      auto promise = std::make_shared<std::promise<DeliveryResult>>();
      futures.push_back(promise->get_future());
      (*committer)->submit(testing::batch_to(std::move(stage), names),
                           [promise](DeliveryResult r) { promise->set_value(std::move(r)); });
      if (m % 4 == 3) futures.back().wait();  // let groups end now and then, as replies do
    }
  });
  session.join();
  for (auto& f : futures) {
    for (auto& o : f.get().outcomes) EXPECT_FALSE(o.error);
  }
  auto stats = (*committer)->stats();
  (*committer)->stop();
  const uint64_t syncs = testing::syncs_so_far() - start;
  EXPECT_EQ(stats.messages, static_cast<uint64_t>(kMessages));
  EXPECT_GT(reserved, kMessages / 2) << "few messages came in a reserved stage file";
  // Without the reserve every group would also fsync the stage directory: at least
  // kMessages + 2 x groups syncs before the checkpoints.
  EXPECT_LT(syncs, kMessages + 2 * stats.groups) << "the reserve saved no directory fsync";
  std::cout << "[ stage reserve ] " << kMessages << " messages in " << stats.groups << " groups, "
            << reserved << " in a reserved stage file, " << syncs << " syncs\n";
}

}  // namespace
}  // namespace cubby::store
