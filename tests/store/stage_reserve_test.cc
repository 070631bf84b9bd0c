// StageReserve (store/stage_reserve.h): stage files made and named ahead, offered only once their
// directory fsync succeeded, held locked like live stage files, gone with the reserve, and removed
// by recovery when a crash leaves them behind.
#include "store/stage_reserve.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>

#include "store/recovery.h"
#include "tests/store/sync_counter.h"
#include "tests/store/temp_store.h"

namespace cubby::store {
namespace {

using testing::TempStore;

size_t files_in(const std::string& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

// Whether another open file description can take the file's lock: false while a StageFile holds it.
bool lockable(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_TRUE(fd) << path;
  return ::flock(fd.get(), LOCK_EX | LOCK_NB) == 0;
}

void refill(StageReserve& reserve, const std::string& root) {
  auto r = reserve.plan("default", root);
  ASSERT_TRUE(r);
  StageReserve::run(*r);
  EXPECT_FALSE(r->error);
  reserve.finish(std::move(*r));
}

TEST(StageReserve, OffersFilesOnlyAfterTheirDirectoryFsync) {
  TempStore t;
  const std::string root = t.config().partitions["default"];
  StageReserve reserve;
  EXPECT_FALSE(reserve.take("default"));
  auto r = reserve.plan("default", root);
  ASSERT_TRUE(r);
  EXPECT_FALSE(reserve.plan("default", root)) << "a second refill while one is under way";
  const uint64_t before = testing::syncs_so_far();
  StageReserve::run(*r);
  ASSERT_FALSE(r->error);
  EXPECT_EQ(testing::syncs_so_far() - before, 1u) << "one directory fsync for the whole batch";
  EXPECT_EQ(files_in(stage_dir(root)), reserve.batch());
  EXPECT_FALSE(reserve.take("default")) << "offered before finish() saw the fsync";
  reserve.finish(std::move(*r));
  EXPECT_EQ(reserve.ready("default"), reserve.batch());
  EXPECT_FALSE(reserve.plan("default", root)) << "a refill while enough are ready";

  auto f = reserve.take("default");
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->name_durable());
  EXPECT_EQ(f->size(), 0u);
  EXPECT_EQ(f->partition(), "default");
  EXPECT_TRUE(testing::file_exists(f->path()));
  EXPECT_FALSE(lockable(f->path())) << "a reserved file must be locked, or recovery takes it";
  EXPECT_FALSE(f->append("Subject: x\r\n\r\nbody\r\n"));
  EXPECT_FALSE(f->sync());
  EXPECT_EQ(testing::read_file(f->path()), "Subject: x\r\n\r\nbody\r\n");
  EXPECT_EQ(reserve.ready("default"), reserve.batch() - 1);
}

TEST(StageReserve, RefillsOnlyBelowTheLowWaterMark) {
  TempStore t;
  const std::string root = t.config().partitions["default"];
  StageReserve reserve;
  refill(reserve, root);
  std::vector<StageFile> taken;
  while (reserve.ready("default") >= reserve.low_water()) {
    EXPECT_FALSE(reserve.plan("default", root));
    taken.push_back(*reserve.take("default"));
  }
  EXPECT_TRUE(reserve.plan("default", root));
}

TEST(StageReserve, AFailedRefillOffersNothingAndDropsWhatWasReady) {
  TempStore t;
  const std::string root = t.config().partitions["default"];
  StageReserve reserve;
  refill(reserve, root);
  while (reserve.ready("default") >= reserve.low_water()) (void)reserve.take("default");
  auto r = reserve.plan("default", t.root() + "/no-such-partition");
  ASSERT_TRUE(r);
  StageReserve::run(*r);
  EXPECT_TRUE(r->error);
  reserve.finish(std::move(*r));
  EXPECT_EQ(reserve.ready("default"), 0u);
  EXPECT_FALSE(reserve.take("default"));
  EXPECT_EQ(files_in(stage_dir(root)), 0u) << "the dropped files are removed";
  refill(reserve, root);  // the next refill starts afresh
  EXPECT_EQ(reserve.ready("default"), reserve.batch());
}

TEST(StageReserve, ABatchOfZeroIsNoReserve) {
  TempStore t;
  StageReserve reserve(0);
  EXPECT_FALSE(reserve.plan("default", t.config().partitions["default"]));
  EXPECT_FALSE(reserve.take("default"));
}

TEST(StageReserve, ABatchOfOneRefillsWhenEmpty) {
  TempStore t;
  const std::string root = t.config().partitions["default"];
  StageReserve reserve(1);
  refill(reserve, root);
  EXPECT_EQ(reserve.ready("default"), 1u);
  EXPECT_FALSE(reserve.plan("default", root));
  ASSERT_TRUE(reserve.take("default"));
  EXPECT_TRUE(reserve.plan("default", root)) << "a reserve of one never refilled";
}

TEST(StageReserve, RemovesItsFilesWhenDestroyed) {
  TempStore t;
  const std::string root = t.config().partitions["default"];
  {
    StageReserve reserve;
    refill(reserve, root);
    EXPECT_EQ(files_in(stage_dir(root)), reserve.batch());
  }
  EXPECT_EQ(files_in(stage_dir(root)), 0u);
}

TEST(StageReserve, RecoveryRemovesTheFilesADeadWorkerHeld) {
  TempStore t;
  const std::string root = t.config().partitions["default"];
  StageReserve& reserve = t.store().stage_reserve();
  refill(reserve, root);
  // The worker dies: its locks go, its reserved files stay, no row names them.
  while (auto f = reserve.take("default")) f->abandon();
  EXPECT_EQ(files_in(stage_dir(root)), reserve.batch());
  auto report = recover(t.config(), t.store().index());
  ASSERT_TRUE(report.ok()) << report.error().detail;
  EXPECT_EQ(report->empty_stage_files_removed, static_cast<int>(reserve.batch()));
  EXPECT_EQ(report->stage_files_removed, 0) << "no message was in them";
  EXPECT_EQ(files_in(stage_dir(root)), 0u);
}

TEST(StageReserve, RecoveryLeavesALiveWorkersReserveAlone) {
  TempStore t;
  const std::string root = t.config().partitions["default"];
  StageReserve& reserve = t.store().stage_reserve();
  refill(reserve, root);
  auto report = recover(t.config(), t.store().index());
  ASSERT_TRUE(report.ok()) << report.error().detail;
  EXPECT_EQ(report->stage_files_removed, 0);
  EXPECT_EQ(files_in(stage_dir(root)), reserve.batch());
  EXPECT_EQ(reserve.ready("default"), reserve.batch());
}

}  // namespace
}  // namespace cubby::store
