// The one way a message file is made (store/message_link.h): each LinkMode where a file stands.
#include "store/message_link.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/store/temp_store.h"

namespace cubby::store {
namespace {

struct Linked {
  testing::TempStore t;
  std::string root = t.config().partitions["default"];
  StageFile stage = t.stage("Subject: one\r\n\r\nbody\r\n");
  std::string dir = root + "/user/a";
  std::string path = dir + "/7.";
  Linked() {
    std::filesystem::create_directories(dir);
    EXPECT_FALSE(stage.sync());
  }
  ino_t inode(const std::string& p) { return testing::stat_of(p).st_ino; }
};

TEST(MessageLink, NewLinksTheStageFileAndReplacesAStaleFile) {
  Linked l;
  { std::ofstream(l.path) << "stale"; }
  auto made = link_message(l.stage.path(), l.root, "user/a", 7, true, LinkMode::kNew);
  ASSERT_TRUE(made.ok()) << made.error().detail;
  EXPECT_TRUE(made->existed);
  EXPECT_TRUE(made->linked);
  EXPECT_EQ(l.inode(l.path), l.inode(l.stage.path()));
}

TEST(MessageLink, MissingLeavesAFileThatStandsAndMakesOneThatDoesNot) {
  Linked l;
  auto first = link_message(l.stage.path(), l.root, "user/a", 7, true, LinkMode::kMissing);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->made);
  EXPECT_FALSE(first->existed);
  EXPECT_EQ(l.inode(l.path), l.inode(l.stage.path()));
  auto again = link_message(l.stage.path(), l.root, "user/a", 7, true, LinkMode::kMissing);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->made);
}

TEST(MessageLink, RemakeReplacesTheEntryAtomicallyAndEndsAsOneInodeAgain) {
  Linked l;
  ASSERT_TRUE(link_message(l.stage.path(), l.root, "user/a", 7, true).ok());
  auto made = link_message(l.stage.path(), l.root, "user/a", 7, true, LinkMode::kRemake);
  ASSERT_TRUE(made.ok()) << made.error().detail;
  EXPECT_TRUE(made->made);
  EXPECT_TRUE(made->existed);
  EXPECT_TRUE(made->linked);
  EXPECT_EQ(l.inode(l.path), l.inode(l.stage.path())) << "not one inode with the stage file again";
  EXPECT_EQ(testing::read_file(l.path), "Subject: one\r\n\r\nbody\r\n");
  EXPECT_FALSE(testing::file_exists(l.dir + "/.7.remake")) << "the temporary name was left";
}

TEST(MessageLink, APlantedDirectoryLinkIsRefused) {
  Linked l;
  std::filesystem::create_directories(l.t.root() + "/outside");
  ASSERT_EQ(::symlink((l.t.root() + "/outside").c_str(), (l.root + "/user/b").c_str()), 0);
  auto made = link_message(l.stage.path(), l.root, "user/b", 1, true);
  EXPECT_FALSE(made.ok());
  EXPECT_TRUE(std::filesystem::is_empty(l.t.root() + "/outside"));
}

}  // namespace
}  // namespace cubby::store
