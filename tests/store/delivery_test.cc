// The delivery protocol: one write per partition, hard links, UIDs, failures, the committer.
#include "store/delivery.h"

#include <gtest/gtest.h>

#include <future>

#include "store/check.h"
#include "store/committer.h"
#include "store/sync_pool.h"
#include "tests/store/temp_store.h"

namespace cubby::store {
namespace {

using testing::TempStore;

const std::string kMessage = "Return-Path: <a@b>\r\nSubject: hi\r\n\r\nbody\r\n";

std::vector<DeliveryResult> deliver_now(TempStore& t, std::vector<DeliveryBatch> batches) {
  return testing::commit_group(t, std::move(batches));
}

TEST(Delivery, OneRecipientIsStoredByteExact) {
  TempStore t;
  auto box = t.create("user/alice");
  auto results = deliver_now(t, [&] {
    std::vector<DeliveryBatch> v;
    v.push_back(testing::batch_to(t.stage(kMessage), {"user.alice"}));
    return v;
  }());
  ASSERT_EQ(results.size(), 1u);
  ASSERT_EQ(results[0].outcomes.size(), 1u);
  EXPECT_FALSE(results[0].outcomes[0].error);
  EXPECT_EQ(results[0].outcomes[0].uid, 1);
  EXPECT_EQ(testing::read_file(t.store().message_path(box, 1)), kMessage);
  auto row = t.store().index().message(box.id, 1);
  ASSERT_TRUE(row);
  EXPECT_EQ(row->size, static_cast<int64_t>(kMessage.size()));
  EXPECT_FALSE(row->pending);
  EXPECT_EQ(row->guid, results[0].guid);
  EXPECT_EQ(row->guid.size(), 32u);
  // the stage file is gone after the checkpoint
  EXPECT_EQ(testing::count_entries(t.config().partitions["default"] + "/stage."), 0u);
  EXPECT_TRUE(check(t.store()).ok());
}

TEST(Delivery, ManyRecipientsShareOneInode) {
  TempStore t;
  std::vector<std::string> names;
  for (int i = 0; i < 100; ++i) {
    t.create("user/u" + std::to_string(i));
    names.push_back("user.u" + std::to_string(i));
  }
  std::vector<DeliveryBatch> v;
  v.push_back(testing::batch_to(t.stage(kMessage), names));
  auto results = deliver_now(t, std::move(v));
  EXPECT_EQ(results[0].links, 100);
  EXPECT_EQ(results[0].copies, 0);
  auto first = testing::stat_of(t.store().message_path(t.mailbox("user/u0"), 1));
  EXPECT_EQ(first.st_nlink, 100u);
  for (int i = 1; i < 100; ++i) {
    auto st = testing::stat_of(t.store().message_path(t.mailbox("user/u" + std::to_string(i)), 1));
    EXPECT_EQ(st.st_ino, first.st_ino);
  }
  auto s = stats(t.store());
  EXPECT_EQ(s.back().messages, 100u);
  EXPECT_EQ(s.back().inodes, 1u);
  EXPECT_EQ(s.back().logical_bytes, 100 * kMessage.size());
  EXPECT_EQ(s.back().physical_bytes, kMessage.size());
  EXPECT_TRUE(check(t.store()).ok());
}

TEST(Delivery, TwoPartitionsGetOneCopyEach) {
  TempStore t(2);
  t.create("user/a1");
  t.create("user/a2");
  t.create("user/b1", "p1");
  t.create("user/b2", "p1");
  std::vector<DeliveryBatch> v;
  v.push_back(testing::batch_to(t.stage(kMessage), {"user.a1", "user.b1", "user.a2", "user.b2"}));
  auto results = deliver_now(t, std::move(v));
  for (auto& o : results[0].outcomes) EXPECT_FALSE(o.error) << o.error->detail;
  auto a1 = testing::stat_of(t.store().message_path(t.mailbox("user/a1"), 1));
  auto a2 = testing::stat_of(t.store().message_path(t.mailbox("user/a2"), 1));
  auto b1 = testing::stat_of(t.store().message_path(t.mailbox("user/b1"), 1));
  auto b2 = testing::stat_of(t.store().message_path(t.mailbox("user/b2"), 1));
  EXPECT_EQ(a1.st_ino, a2.st_ino);
  EXPECT_EQ(b1.st_ino, b2.st_ino);
  EXPECT_NE(a1.st_ino, b1.st_ino);
  EXPECT_EQ(a1.st_nlink, 2u);
  EXPECT_EQ(b1.st_nlink, 2u);
  EXPECT_EQ(testing::read_file(t.store().message_path(t.mailbox("user/b2"), 1)), kMessage);
  EXPECT_TRUE(check(t.store()).ok());
}

// A group of more than 64 deliveries is linked in lanes on the pool: every file is made as by one
// thread, and a link that fails (its mailbox directory replaced by a file after the COMMIT) is
// undone for that recipient alone, its row, quota charge and UID use as on one thread.
TEST(Delivery, AGroupLinkedInLanesMakesEveryFileAndUndoesAFailedLinkAlone) {
  TempStore t;
  std::vector<std::string> names;
  for (int i = 0; i < 60; ++i) {
    t.create("user/u" + std::to_string(i));
    names.push_back("user.u" + std::to_string(i));
  }
  SyncPool pool(3);
  DeliveryGroup group(t.store().config(), t.store().index(), &pool);
  group.add(testing::batch_to(t.stage(kMessage), names));
  group.add(testing::batch_to(t.stage(kMessage + "second\r\n"), names));
  group.stage();
  group.commit();
  const std::string broken = t.config().partitions["default"] + "/" + t.mailbox("user/u37").dir;
  ASSERT_EQ(::system(("rm -rf '" + broken + "' && touch '" + broken + "'").c_str()), 0);
  group.link();
  Checkpoint cp;
  Unsettled unsettled;
  group.retire(cp, unsettled);
  EXPECT_TRUE(unsettled.empty());
  EXPECT_FALSE(cp.run(t.store().index(), &pool));
  auto results = group.results();
  ASSERT_EQ(results.size(), 2u);
  for (int m = 0; m < 2; ++m) {
    SCOPED_TRACE(m);
    EXPECT_EQ(results[m].links, 59);
    ino_t first = 0;
    for (int i = 0; i < 60; ++i) {
      const auto& outcome = results[m].outcomes[i];
      const MailboxRecord box = t.mailbox("user/u" + std::to_string(i));
      if (i == 37) {
        ASSERT_TRUE(outcome.error);
        EXPECT_EQ(outcome.error->code, Errc::kIo);
        EXPECT_EQ(outcome.uid, 0);
        EXPECT_TRUE(t.store().index().messages(box.id).empty());
        continue;
      }
      ASSERT_FALSE(outcome.error) << i << ": " << outcome.error->detail;
      EXPECT_EQ(outcome.uid, m + 1);
      auto st = testing::stat_of(t.store().message_path(box, m + 1));
      if (first == 0) first = st.st_ino;
      EXPECT_EQ(st.st_ino, first) << i;
      EXPECT_EQ(st.st_nlink, 59u) << i;
      EXPECT_EQ(t.store().index().messages(box.id).size(), 2u);
    }
  }
}

TEST(Delivery, UidsGrowAndUnknownMailboxFailsAlone) {
  TempStore t;
  auto box = t.create("user/alice");
  for (int i = 1; i <= 3; ++i) {
    std::vector<DeliveryBatch> v;
    v.push_back(testing::batch_to(t.stage(kMessage), {"user.alice", "user.nobody"}));
    auto r = deliver_now(t, std::move(v));
    EXPECT_EQ(r[0].outcomes[0].uid, i);
    ASSERT_TRUE(r[0].outcomes[1].error);
    EXPECT_EQ(r[0].outcomes[1].error->code, Errc::kNotFound);
  }
  EXPECT_EQ(t.mailbox("user/alice").uidnext, 4);
  EXPECT_EQ(t.store().index().messages(box.id).size(), 3u);
}

// stage() looks up every target and each folder's INBOX fallback in one read transaction, and
// ends it: the commit that follows opens its own. A folder that exists gets the message, one that
// does not falls back to the owner's INBOX, in the same group.
TEST(Delivery, StageLooksUpTargetsInOneReadTransactionAndEndsIt) {
  TempStore t;
  t.create("user/alice");
  t.create("user/alice/Bench");
  t.create("user/bob");
  DeliveryGroup group(t.store().config(), t.store().index());
  for (int i = 0; i < 2; ++i) {
    auto b = testing::batch_to(t.stage(kMessage), {});
    for (const std::string box : {"user.alice.Bench", "user.bob.Bench"}) {
      DeliveryTarget target{box, false, std::nullopt};
      target.by_owner = true;
      b.targets.push_back(target);
    }
    group.add(std::move(b));
  }
  group.stage();
  // No transaction is left open.
  EXPECT_NE(sqlite3_get_autocommit(t.store().index().db().handle()), 0);
  group.commit();
  group.link();
  Checkpoint cp;
  Unsettled unsettled;
  group.retire(cp, unsettled);
  EXPECT_TRUE(unsettled.empty());
  auto results = group.results();
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) {
    ASSERT_EQ(r.outcomes.size(), 2u);
    EXPECT_FALSE(r.outcomes[0].error);
    EXPECT_FALSE(r.outcomes[0].fell_back);
    EXPECT_FALSE(r.outcomes[1].error);
    EXPECT_TRUE(r.outcomes[1].fell_back);
    EXPECT_EQ(r.outcomes[1].mailbox, "user.bob");
  }
  EXPECT_EQ(t.store().index().messages(t.mailbox("user/alice/Bench").id).size(), 2u);
  EXPECT_EQ(t.store().index().messages(t.mailbox("user/bob").id).size(), 2u);
}

TEST(Delivery, SameMailboxTwiceWithoutDuplicateSuppressionGetsTwoUids) {
  TempStore t;
  t.config().duplicate_suppression = false;  // as Cyrus: each RCPT is its own delivery
  t.reopen();
  auto box = t.create("user/alice");
  std::vector<DeliveryBatch> v;
  v.push_back(testing::batch_to(t.stage(kMessage), {"user.alice", "user.alice"}));
  auto r = deliver_now(t, std::move(v));
  EXPECT_EQ(r[0].outcomes[0].uid, 1);
  EXPECT_EQ(r[0].outcomes[1].uid, 2);
  EXPECT_EQ(testing::stat_of(t.store().message_path(box, 2)).st_nlink, 2u);
}

TEST(Delivery, WithoutSingleInstanceEveryMailboxGetsACopy) {
  TempStore t;
  t.config().single_instance = false;
  t.reopen();
  t.create("user/a");
  t.create("user/b");
  std::vector<DeliveryBatch> v;
  v.push_back(testing::batch_to(t.stage(kMessage), {"user.a", "user.b"}));
  auto r = deliver_now(t, std::move(v));
  EXPECT_EQ(r[0].copies, 2);
  EXPECT_NE(testing::stat_of(t.store().message_path(t.mailbox("user/a"), 1)).st_ino,
            testing::stat_of(t.store().message_path(t.mailbox("user/b"), 1)).st_ino);
}

TEST(Delivery, AbandonedStageFileLeavesNothing) {
  TempStore t;
  const std::string dir = t.config().partitions["default"] + "/stage.";
  {
    auto s = t.stage("partial message");
    EXPECT_EQ(testing::count_entries(dir), 1u);
  }
  EXPECT_EQ(testing::count_entries(dir), 0u);
}

TEST(Committer, GroupsConcurrentSubmissionsAndCheckpoints) {
  TempStore t;
  for (int i = 0; i < 10; ++i) t.create("user/u" + std::to_string(i));
  auto committer = Committer::start(t.config());
  ASSERT_TRUE(committer.ok());
  std::vector<std::future<DeliveryResult>> futures;
  for (int m = 0; m < 50; ++m) {
    auto promise = std::make_shared<std::promise<DeliveryResult>>();
    futures.push_back(promise->get_future());
    std::vector<std::string> names;
    for (int i = 0; i < 10; ++i) names.push_back("user.u" + std::to_string(i));
    (*committer)->submit(testing::batch_to(t.stage(kMessage + std::to_string(m)), names),
                         [promise](DeliveryResult r) { promise->set_value(std::move(r)); });
  }
  for (auto& f : futures) {
    auto r = f.get();
    for (auto& o : r.outcomes) EXPECT_FALSE(o.error);
  }
  auto stats = (*committer)->stats();
  EXPECT_EQ(stats.messages, 50u);
  EXPECT_LE(stats.groups, 50u);
  (*committer)->stop();
  EXPECT_GE((*committer)->stats().checkpoints, 1u);
  EXPECT_EQ(testing::count_entries(t.config().partitions["default"] + "/stage."), 0u);
  EXPECT_EQ(t.mailbox("user/u3").uidnext, 51);
  auto report = check(t.store());
  EXPECT_TRUE(report.ok()) << (report.problems.empty() ? "" : report.problems[0]);
  EXPECT_EQ(report.messages, 500u);
}

// The committer remembers the mailboxes its groups looked up (mailbox_cache.h); a change another
// connection commits between two groups (here a rename, as cubbyctl makes it) is seen by the next
// group: the old name is unknown and the new one gets the next UID in its new directory.
TEST(Committer, SeesAMailboxRenamedBetweenTwoGroups) {
  TempStore t;
  t.create("user/u0");
  auto committer = Committer::start(t.config());
  ASSERT_TRUE(committer.ok());
  auto deliver = [&](const std::string& mailbox, const std::string& text) {
    std::promise<DeliveryResult> promise;
    auto result = promise.get_future();
    (*committer)->submit(testing::batch_to(t.stage(text), {mailbox}),
                         [&promise](DeliveryResult r) { promise.set_value(std::move(r)); });
    return result.get();
  };
  auto first = deliver("user.u0", kMessage + std::string("1"));
  ASSERT_EQ(first.outcomes.size(), 1u);
  EXPECT_FALSE(first.outcomes[0].error);
  EXPECT_EQ(first.outcomes[0].uid, 1);

  auto from = t.store().parse_name("user/u0");
  auto to = t.store().parse_name("user/u9");
  ASSERT_TRUE(from.ok() && to.ok());
  ASSERT_FALSE(t.store().rename_mailbox(from.value(), to.value()));

  auto gone = deliver("user.u0", kMessage + std::string("2"));
  ASSERT_EQ(gone.outcomes.size(), 1u);
  ASSERT_TRUE(gone.outcomes[0].error);
  EXPECT_EQ(gone.outcomes[0].error->code, Errc::kNotFound);
  auto moved = deliver("user.u9", kMessage + std::string("3"));
  ASSERT_EQ(moved.outcomes.size(), 1u);
  EXPECT_FALSE(moved.outcomes[0].error);
  EXPECT_EQ(moved.outcomes[0].uid, 2);
  (*committer)->stop();
  auto report = check(t.store());
  EXPECT_TRUE(report.ok()) << (report.problems.empty() ? "" : report.problems[0]);
  EXPECT_EQ(report.messages, 2u);
  EXPECT_EQ(t.mailbox("user/u9").uidnext, 3);
}

}  // namespace
}  // namespace cubby::store
