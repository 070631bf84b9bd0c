// Symbolic links planted in a partition (issue 19): the file-system steps of store/fs.h refuse
// them, the Store's administrative operations fail naming the path and change nothing outside,
// and recovery restores no message file through a linked mailbox directory. The same cases
// through cubbyctl are in tests/e2e/hostile_links_test.cc.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "store/delivery.h"
#include "store/fs.h"
#include "store/recovery.h"
#include "tests/store/temp_store.h"

namespace cubby::store {
namespace {

namespace fs = std::filesystem;
using testing::TempStore;

const std::string kPrecious = "precious\n";

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

struct Planted {
  TempStore t;
  std::string outside = t.root() + "/outside";  // beside the partition, never inside it
  Planted() { fs::create_directories(outside); }
  std::string partition() { return t.config().partitions["default"]; }
  // Moves the directory of `box` outside and leaves a link to it in its place.
  std::string move_out(const std::string& box) {
    const std::string dir = t.store().mailbox_dir(t.mailbox(box));
    const std::string out = outside + "/" + fs::path(dir).filename().string();
    fs::rename(dir, out);
    EXPECT_EQ(::symlink(out.c_str(), dir.c_str()), 0);
    return out;
  }
};

std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(PlantedLinks, WriteFileAtomicallyNeverWritesThroughTheTmpLink) {
  Planted p;
  const std::string victim = p.outside + "/victim";
  write_text(victim, kPrecious);
  const std::string file = p.partition() + "/f";
  ASSERT_EQ(::symlink(victim.c_str(), (file + ".tmp").c_str()), 0);
  auto e = write_file_atomically(file, "new");
  ASSERT_TRUE(e);
  EXPECT_NE(e->detail.find(file + ".tmp: is a symbolic link"), std::string::npos) << e->detail;
  EXPECT_EQ(testing::read_file(victim), kPrecious);
  EXPECT_FALSE(testing::file_exists(file));
  // A leftover regular file is replaced, and no .tmp is left behind.
  fs::remove(file + ".tmp");
  write_text(file + ".tmp", "stale");
  EXPECT_FALSE(write_file_atomically(file, "new"));
  EXPECT_EQ(testing::read_file(file), "new");
  EXPECT_FALSE(testing::file_exists(file + ".tmp"));
}

TEST(PlantedLinks, MakeDirsBeneathRefusesALinkOnTheWay) {
  Planted p;
  ASSERT_EQ(::symlink(p.outside.c_str(), (p.partition() + "/user").c_str()), 0);
  Fd fd;
  auto e = make_dirs_beneath(p.partition(), "user/a/b", &fd);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->detail, p.partition() + "/user: is a symbolic link; refusing to follow it");
  EXPECT_TRUE(names_in(p.outside).empty());
  EXPECT_TRUE(make_dirs_beneath(p.partition(), "x/../y", &fd));
  EXPECT_FALSE(make_dirs_beneath(p.partition(), "x/y/z", &fd));
  EXPECT_TRUE(fs::is_directory(p.partition() + "/x/y/z"));
  EXPECT_FALSE(open_dir_beneath(p.partition(), "x/y", &fd));
  auto missing = open_dir_beneath(p.partition(), "x/none", &fd);
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->code, Errc::kNotFound);
}

TEST(PlantedLinks, HeaderTmpLinkFailsSetAclAndChangesNothing) {
  Planted p;
  auto box = p.t.create("user/a");
  const std::string header = p.t.store().mailbox_dir(box) + "/cubby.header";
  const std::string before = testing::read_file(header);
  const std::string victim = p.outside + "/victim";
  write_text(victim, kPrecious);
  ASSERT_EQ(::symlink(victim.c_str(), (header + ".tmp").c_str()), 0);
  auto e = p.t.store().set_acl(box, "a\tlrswipkxtecda\tb\tlrs\t");
  ASSERT_TRUE(e);
  EXPECT_NE(e->detail.find("cubby.header.tmp: is a symbolic link"), std::string::npos);
  EXPECT_EQ(testing::read_file(victim), kPrecious);
  EXPECT_EQ(testing::read_file(header), before);
  EXPECT_EQ(p.t.mailbox("user/a").acl, box.acl) << "the index changed";
  // The same for a quota change, a rename and a create over a leftover directory.
  auto name = p.t.store().parse_name("user/a").value();
  e = p.t.store().set_quota(name, 100, std::nullopt);
  ASSERT_TRUE(e);
  EXPECT_NE(e->detail.find("cubby.header.tmp: is a symbolic link"), std::string::npos);
  auto root = p.t.store().index().quotas().get("user.a");
  ASSERT_TRUE(root.ok());
  EXPECT_FALSE(root.value()) << "the quota root was set";
  e = p.t.store().rename_mailbox(name, p.t.store().parse_name("user/z").value());
  ASSERT_TRUE(e);
  EXPECT_NO_THROW(p.t.mailbox("user/a"));
  fs::create_directories(p.partition() + "/user/y");
  ASSERT_EQ(::symlink(victim.c_str(), (p.partition() + "/user/y/cubby.header.tmp").c_str()), 0);
  auto created = p.t.store().create_mailbox(p.t.store().parse_name("user/y").value());
  ASSERT_FALSE(created.ok());
  EXPECT_FALSE(p.t.store().find_mailbox(p.t.store().parse_name("user/y").value()));
  EXPECT_EQ(testing::read_file(victim), kPrecious);
}

TEST(PlantedLinks, CreateDeleteRenameThroughADirectoryLinkFail) {
  Planted p;
  p.t.create("user/a");
  p.t.create("user/b");
  // create over a linked directory holding a "<n>." file
  fs::create_directories(p.outside + "/c");
  write_text(p.outside + "/c/1.", kPrecious);
  ASSERT_EQ(::symlink((p.outside + "/c").c_str(), (p.partition() + "/user/c").c_str()), 0);
  auto created = p.t.store().create_mailbox(p.t.store().parse_name("user/c").value());
  ASSERT_FALSE(created.ok());
  EXPECT_NE(created.error().detail.find("/user/c: is a symbolic link"), std::string::npos)
      << created.error().detail;
  EXPECT_EQ(names_in(p.outside + "/c"), std::vector<std::string>{"1."});
  EXPECT_FALSE(p.t.store().find_mailbox(p.t.store().parse_name("user/c").value()));

  // delete and rename through a linked directory
  const std::string out = p.move_out("user/a");
  write_text(out + "/1.", kPrecious);
  const auto before = names_in(out);
  auto e = p.t.store().delete_mailbox(p.t.store().parse_name("user/a").value());
  ASSERT_TRUE(e);
  EXPECT_NE(e->detail.find("symbolic link"), std::string::npos) << e->detail;
  EXPECT_EQ(names_in(out), before);
  EXPECT_NO_THROW(p.t.mailbox("user/a"));
  e = p.t.store().rename_mailbox(p.t.store().parse_name("user/a").value(),
                                 p.t.store().parse_name("user/z").value());
  ASSERT_TRUE(e);
  EXPECT_EQ(names_in(out), before);
  EXPECT_NO_THROW(p.t.mailbox("user/a"));
  // a message delete refuses before the header or the index change
  e = p.t.store().delete_message(p.t.mailbox("user/a"), 1);
  EXPECT_TRUE(e);
  EXPECT_EQ(names_in(out), before);
}

// Recovery makes message files with link_message (message_link.h), which opens the mailbox
// directory beneath the partition first: a planted link fails recovery, nothing is written.
TEST(PlantedLinks, RecoverRestoresNoMessageFileThroughALinkedMailboxDirectory) {
  Planted p;
  p.t.create("user/a");
  {
    DeliveryGroup group(p.t.store().config(), p.t.store().index());
    group.add(testing::batch_to(p.t.stage("Subject: s\r\n\r\nbody\r\n"), {"user.a"}));
    group.stage();
    group.commit();  // then "crash": committed, never linked, the stage file left
  }
  const std::string out = p.move_out("user/a");
  const auto before = names_in(out);
  p.t.reopen();
  auto r = recover(p.t.config(), p.t.store().index());
  EXPECT_FALSE(r.ok() && r->links_restored > 0) << "a file was linked through the planted link";
  if (!r.ok()) {
    EXPECT_NE(r.error().detail.find("symbolic link"), std::string::npos) << r.error().detail;
  }
  EXPECT_EQ(names_in(out), before) << "recovery wrote outside the partition";
}

}  // namespace
}  // namespace cubby::store
