// Recovery from every intermediate state of the delivery protocol (invariants 1, 2, 4 of docs/store-protocol.md).
#include "store/recovery.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <unistd.h>

#include <functional>

#include "store/check.h"
#include "store/delivery.h"
#include "tests/store/temp_store.h"

namespace cubby::store {
namespace {

using testing::TempStore;

const std::string kMessage = "Subject: crash\r\n\r\nsurvive me\r\n";

struct Fixture {
  TempStore t;
  std::vector<std::string> names{"user.a", "user.b", "user.c"};
  Fixture() {
    for (auto n : {"user/a", "user/b", "user/c"}) t.create(n);
  }
  std::string stage_dir() { return t.config().partitions["default"] + "/stage."; }

  enum class Step { kStage, kCommit, kLink };
  // Runs the delivery protocol up to and including `last`, calls `before_crash` while the group
  // still holds its stage file, then "crashes": the group is dropped without a checkpoint, which
  // leaves every kept stage file on disk, unlocked. Returns the stage file's path.
  std::string crash_after(Step last, std::vector<std::string> mailboxes = {},
                          std::function<void(const std::string& stage_name)> before_crash = {}) {
    DeliveryGroup group(t.store().config(), t.store().index());
    auto stage = t.stage(kMessage);
    const std::string name = stage.name(), path = stage.path();
    group.add(testing::batch_to(std::move(stage), mailboxes.empty() ? names : mailboxes));
    group.stage();
    if (last >= Step::kCommit) group.commit();
    if (last >= Step::kLink) group.link();
    if (before_crash) before_crash(name);
    return path;
  }
  std::string path(const std::string& box, int64_t uid) {
    return t.store().message_path(t.mailbox(box), uid);
  }
  RecoveryReport recover_now() {
    t.reopen();  // a restarted process
    auto r = recover(t.config(), t.store().index());
    EXPECT_TRUE(r.ok());
    return r.value();
  }
  // After recovery the store is consistent and takes new deliveries at once, above old UIDs.
  void expect_healthy_and_deliverable(int64_t expected_uid) {
    auto report = check(t.store());
    EXPECT_TRUE(report.ok()) << (report.problems.empty() ? "" : report.problems[0]);
    DeliveryGroup group(t.store().config(), t.store().index());
    group.add(testing::batch_to(t.stage("Subject: after\r\n\r\n"), {"user.a"}));
    group.stage();
    group.commit();
    group.link();
    auto r = group.results();
    ASSERT_FALSE(r[0].outcomes[0].error);
    EXPECT_EQ(r[0].outcomes[0].uid, expected_uid);
  }
};

TEST(Recovery, UncommittedStageFileIsRemovedAndNothingIsVisible) {
  Fixture f;
  auto s = f.t.stage(kMessage);
  ASSERT_FALSE(s.sync());
  s.abandon();  // the process died during or right after DATA
  EXPECT_EQ(testing::count_entries(f.stage_dir()), 1u);
  auto r = f.recover_now();
  EXPECT_EQ(r.stage_files_removed, 1);
  EXPECT_EQ(testing::count_entries(f.stage_dir()), 0u);
  EXPECT_TRUE(f.t.store().index().messages(f.t.mailbox("user/a").id).empty());
  EXPECT_FALSE(testing::file_exists(f.path("user/a", 1)));
  f.expect_healthy_and_deliverable(1);
}

TEST(Recovery, CommittedButNotLinkedIsLinked) {
  Fixture f;
  f.crash_after(Fixture::Step::kCommit);  // no link() and no checkpoint
  EXPECT_FALSE(testing::file_exists(f.path("user/a", 1)));
  auto r = f.recover_now();
  EXPECT_EQ(r.links_restored, 3);
  EXPECT_EQ(r.stage_files_retired, 1);
  for (auto box : {"user/a", "user/b", "user/c"}) {
    EXPECT_EQ(testing::read_file(f.path(box, 1)), kMessage) << box;
  }
  EXPECT_EQ(testing::stat_of(f.path("user/a", 1)).st_nlink, 3u);
  EXPECT_EQ(testing::count_entries(f.stage_dir()), 0u);
  f.expect_healthy_and_deliverable(2);
}

TEST(Recovery, LinksLostInAPowerCutAreRestored) {
  Fixture f;
  f.crash_after(Fixture::Step::kLink, {}, [&](const std::string&) {
    // the directory entries of two links were not yet fsynced when the power went
    ::unlink(f.path("user/b", 1).c_str());
    ::unlink(f.path("user/c", 1).c_str());
  });
  auto r = f.recover_now();
  EXPECT_EQ(r.links_restored, 2);
  EXPECT_EQ(testing::read_file(f.path("user/c", 1)), kMessage);
  EXPECT_EQ(testing::stat_of(f.path("user/a", 1)).st_ino,
            testing::stat_of(f.path("user/c", 1)).st_ino);
  f.expect_healthy_and_deliverable(2);
}

// A worker that died holding a failed sync unsettled left its mark (settle.h): the entries that
// stand may exist only in the page cache, so recovery makes every one anew, as one inode again,
// and removes the mark. A live process's mark changes nothing.
TEST(Recovery, ADeadWorkersUnsettledMarkMakesEveryEntryAnew) {
  Fixture f;
  f.crash_after(Fixture::Step::kLink);
  const std::string dir = f.t.config().config_directory;
  const std::string dead = dir + "/unsettled-2147483646";  // no such process
  const std::string live = dir + "/unsettled-" + std::to_string(::getpid());
  { std::ofstream(dead) << ""; }
  { std::ofstream(live) << ""; }
  auto r = f.recover_now();
  EXPECT_TRUE(r.remade_after_failed_sync);
  EXPECT_EQ(r.links_restored, 3);
  EXPECT_FALSE(testing::file_exists(dead)) << "the dead worker's mark stayed";
  EXPECT_TRUE(testing::file_exists(live)) << "a live process's mark was taken";
  EXPECT_EQ(testing::stat_of(f.path("user/a", 1)).st_ino, testing::stat_of(f.path("user/c", 1)).st_ino);
  EXPECT_EQ(testing::read_file(f.path("user/b", 1)), kMessage);
  ::unlink(live.c_str());
  f.expect_healthy_and_deliverable(2);
}

TEST(Recovery, LinkedButNotCheckpointedIsRetired) {
  Fixture f;
  f.crash_after(Fixture::Step::kLink);
  auto r = f.recover_now();
  EXPECT_EQ(r.links_restored, 0);
  EXPECT_EQ(r.stage_files_retired, 1);
  EXPECT_FALSE(f.t.store().index().message(f.t.mailbox("user/b").id, 1)->pending);
  f.expect_healthy_and_deliverable(2);
}

TEST(Recovery, CheckpointedButStageFileLeftIsRemoved) {
  Fixture f;
  // crash between marking the rows durable and removing the stage file
  f.crash_after(Fixture::Step::kLink, {}, [&](const std::string& stage_name) {
    ASSERT_FALSE(f.t.store().index().clear_stage("default", stage_name));
  });
  auto r = f.recover_now();
  EXPECT_EQ(r.stage_files_removed, 1);
  EXPECT_EQ(testing::read_file(f.path("user/b", 1)), kMessage);
  f.expect_healthy_and_deliverable(2);
}

TEST(Recovery, LiveStageFilesOfOtherProcessesAreLeftAlone) {
  Fixture f;
  auto live = f.t.stage(kMessage);  // locked by this "process"
  auto r = f.recover_now();
  EXPECT_EQ(r.stage_files_live, 1);
  EXPECT_EQ(r.stage_files_removed, 0);
  EXPECT_TRUE(testing::file_exists(live.path()));
}

// The index COMMIT runs while the stage file's sync does (docs/store-protocol.md): a crash can
// leave a committed row whose stage file never reached the disk. That delivery was never
// acknowledged, so recovery takes it back (row, duplicate mark, quota charge; the UID stays used)
// and the MTA's retry of the same message is delivered, not suppressed as a duplicate.
struct TakeBack : Fixture {
  static constexpr const char* kMessageId = "<crash-1@example.com>";
  static constexpr const char* kDate = "Wed, 2 Dec 2026 13:00:00 +0000";
  TakeBack() {
    auto root = t.store().parse_name("user/a");
    EXPECT_FALSE(t.store().set_quota(root.value(), int64_t{1000}, int64_t{100}));
  }
  DeliveryBatch batch(const std::string& content) {
    auto b = testing::batch_to(t.stage(content), {"user.a"});
    b.message_id = kMessageId;
    b.date = kDate;
    return b;
  }
  // Commits one message to user.a and crashes before the link: returns the stage file's path.
  std::string commit_and_crash() {
    DeliveryGroup group(t.store().config(), t.store().index());
    group.add(batch(kMessage));
    group.stage();
    group.commit();
    auto r = group.results();
    EXPECT_FALSE(r[0].outcomes[0].error);
    EXPECT_EQ(r[0].outcomes[0].uid, 1);
    return r.empty() ? "" : t.config().partitions["default"] + "/stage./" +
                                t.store().index().message(t.mailbox("user/a").id, 1)->stage;
  }
  QuotaRoot usage() { return *t.store().index().quotas().get("user.a").value(); }
  // The MTA's retry: delivered again (not a duplicate), above the UID taken back.
  void expect_retry_delivered() {
    auto r = testing::commit_group(t, [&] {
      std::vector<DeliveryBatch> v;
      v.push_back(batch(kMessage));
      return v;
    }());
    ASSERT_FALSE(r[0].outcomes[0].error);
    EXPECT_FALSE(r[0].outcomes[0].duplicate) << "the retry was suppressed: the message is lost";
    EXPECT_EQ(r[0].outcomes[0].uid, 2);
    EXPECT_EQ(testing::read_file(path("user/a", 2)), kMessage);
    EXPECT_EQ(usage().message_used, 1);
    EXPECT_EQ(usage().storage_used, static_cast<int64_t>(kMessage.size()));
    EXPECT_TRUE(check(t.store()).ok());
  }
};

TEST(Recovery, CommittedRowWhoseStageFileIsMissingIsTakenBack) {
  TakeBack f;
  const std::string stage_path = f.commit_and_crash();
  EXPECT_EQ(f.usage().message_used, 1);
  ::unlink(stage_path.c_str());  // its directory entry never reached the disk
  auto r = f.recover_now();
  ASSERT_EQ(r.undone.size(), 1u);
  EXPECT_TRUE(f.t.store().index().messages(f.t.mailbox("user/a").id).empty());
  EXPECT_EQ(f.usage().message_used, 0);
  EXPECT_EQ(f.usage().storage_used, 0);
  f.expect_retry_delivered();
}

TEST(Recovery, CommittedRowWhoseStageFileHasTheRightSizeButOtherBytesIsTakenBack) {
  TakeBack f;
  const std::string stage_path = f.commit_and_crash();
  // A power cut before the fdatasync finished: the size made it, the data blocks did not.
  { std::ofstream(stage_path, std::ios::binary | std::ios::trunc) << std::string(kMessage.size(), '\0'); }
  ASSERT_EQ(testing::stat_of(stage_path).st_size, static_cast<off_t>(kMessage.size()));
  auto r = f.recover_now();
  ASSERT_EQ(r.undone.size(), 1u);
  EXPECT_EQ(r.links_restored, 0);
  EXPECT_FALSE(testing::file_exists(f.path("user/a", 1)));
  EXPECT_FALSE(testing::file_exists(stage_path));
  EXPECT_TRUE(f.t.store().index().messages(f.t.mailbox("user/a").id).empty());
  EXPECT_EQ(f.usage().message_used, 0);
  f.expect_retry_delivered();
}

TEST(Recovery, CommittedRowWhoseStageFileIsWholeIsKeptAndTheRetryIsADuplicate) {
  TakeBack f;
  f.commit_and_crash();
  auto r = f.recover_now();
  EXPECT_TRUE(r.undone.empty());
  EXPECT_EQ(r.links_restored, 1);
  EXPECT_EQ(testing::read_file(f.path("user/a", 1)), kMessage);
  EXPECT_EQ(f.usage().message_used, 1);
  auto again = testing::commit_group(f.t, [&] {
    std::vector<DeliveryBatch> v;
    v.push_back(f.batch(kMessage));
    return v;
  }());
  ASSERT_FALSE(again[0].outcomes[0].error);
  EXPECT_TRUE(again[0].outcomes[0].duplicate);  // committed: delivered exactly once
  EXPECT_EQ(again[0].outcomes[0].uid, 1);
}

TEST(Recovery, RowWithNothingLeftIsTakenBack) {
  Fixture f;
  const std::string stage_path = f.crash_after(Fixture::Step::kCommit, {"user.a"});
  ::unlink(stage_path.c_str());
  auto r = f.recover_now();
  ASSERT_EQ(r.undone.size(), 1u);
  EXPECT_TRUE(f.t.store().index().messages(f.t.mailbox("user/a").id).empty());
  // the UID is not reused
  f.expect_healthy_and_deliverable(2);
}

TEST(Recovery, CleanStoreIsUntouched) {
  Fixture f;
  auto r = f.recover_now();
  EXPECT_TRUE(r.nothing_done());
}

TEST(Check, ReportsStrayMissingAndResizedFiles) {
  Fixture f;
  {
    DeliveryGroup group(f.t.store().config(), f.t.store().index());
    group.add(testing::batch_to(f.t.stage(kMessage), f.names));
    group.stage();
    group.commit();
    group.link();
    Checkpoint cp;
    Unsettled unsettled;
    group.retire(cp, unsettled);
    ASSERT_FALSE(cp.run(f.t.store().index()));
  }
  ASSERT_TRUE(check(f.t.store()).ok());
  ::unlink(f.path("user/b", 1).c_str());
  { std::ofstream(f.t.store().mailbox_dir(f.t.mailbox("user/c")) + "/7.") << "stray"; }
  auto report = check(f.t.store());
  EXPECT_EQ(report.problems.size(), 2u);
  bool missing = false, stray = false;
  for (auto& p : report.problems) {
    missing |= p.find("missing") != std::string::npos;
    stray |= p.find("stray") != std::string::npos;
  }
  EXPECT_TRUE(missing);
  EXPECT_TRUE(stray);
}

}  // namespace
}  // namespace cubby::store
