// Flags of a delivery on a Maildir partition (store/maildir_flags.h): in the info part of the file
// name as Dovecot saves them (cur/<base>:2,<sorted letters>), keywords as letters from the
// mailbox's dovecot-keywords file (added there under Dovecot's uidlist lock), each recipient's link
// with its own name and still one inode; recovery finds and remakes such a file by its name.
#include "store/maildir_flags.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "store/check.h"
#include "store/delivery.h"
#include "store/fs.h"
#include "store/maildir_file_name.h"
#include "store/recovery.h"
#include "tests/store/temp_store.h"

namespace cubby::store {
namespace {

using testing::TempStore;
namespace fs = std::filesystem;

const std::string kMessage = "Subject: flags\r\n\r\nhello Dovecot\r\n";

struct FlagsFixture {
  TempStore t;
  FlagsFixture() {
    t.config().partition_formats["default"] = PartitionFormat::kMaildir;
    t.reopen();
  }
  std::string root() { return t.config().partitions["default"]; }
  std::vector<std::string> entries(const std::string& dir) {
    std::vector<std::string> out;
    for (auto& e : fs::directory_iterator(root() + "/" + dir)) out.push_back(e.path().filename());
    return out;
  }
  std::string read(const std::string& rel) { return testing::read_file(root() + "/" + rel); }
};

DeliveryTarget flagged(const std::string& mailbox, std::vector<std::string> flags) {
  DeliveryTarget t{mailbox, false, std::nullopt};
  t.flags = std::move(flags);
  t.by_owner = true;
  return t;
}

TEST(MaildirFlags, LettersAreSortedSystemFlagsAndKeywordLetters) {
  EXPECT_EQ(maildir_letters({"\\Seen", "\\Flagged"}, {}).letters, "FS");
  EXPECT_EQ(maildir_letters({"\\deleted", "\\Answered", "\\Draft", "\\SEEN", "\\Flagged"}, {}).letters,
            "DFRST");
  EXPECT_EQ(maildir_letters({"\\Recent", "\\Unknown"}, {}).letters, "");
  auto info = maildir_letters({"$Label1", "\\Seen", "work", "Junk"}, {"junk", "", "$label1"});
  EXPECT_EQ(info.letters, "Sac");  // sorted by ASCII code: upper case before the keywords
  EXPECT_EQ(info.unmapped, std::vector<std::string>{"work"});
  EXPECT_EQ(maildir_name_with_info("123.M1P2.host,S=5", ""), "123.M1P2.host,S=5");
  EXPECT_EQ(maildir_name_with_info("123.M1P2.host,S=5", "FS"), "123.M1P2.host,S=5:2,FS");
}

TEST(MaildirFlags, NewKeywordsAreAddedToDovecotKeywordsUnderTheUidlistLock) {
  testing::TempStore t;
  const std::string dir = t.root() + "/box";
  fs::create_directories(dir);
  std::ofstream(dir + "/dovecot-keywords") << "0 $Label1\n2 Old\n";
  // An old mtime: the rewrite must give the file a later one (Dovecot rereads by mtime).
  struct timespec times[2] = {{0, UTIME_OMIT}, {1000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (dir + "/dovecot-keywords").c_str(), times, 0), 0);
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY));
  auto info = maildir_info(fd.get(), dir, {"\\Seen", "$label1", "New", "Other", "bad word"});
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->letters, "Sabd");  // $Label1 a, New at the free index 1 (b), Other d
  EXPECT_EQ(info->unmapped, std::vector<std::string>{"bad word"});
  EXPECT_EQ(testing::read_file(dir + "/dovecot-keywords"), "0 $Label1\n1 New\n2 Old\n3 Other\n");
  EXPECT_GT(testing::stat_of(dir + "/dovecot-keywords").st_mtime, 1000);
  EXPECT_FALSE(testing::file_exists(dir + "/dovecot-uidlist.lock"));
  EXPECT_FALSE(testing::file_exists(dir + "/dovecot-keywords.lock"));
  // Dovecot holds the uidlist lock: a new keyword gets no letter (it is not waited for forever).
  std::ofstream(dir + "/dovecot-uidlist.lock") << "1:elsewhere";
  info = maildir_info(fd.get(), dir, {"Other", "Newer"}, std::chrono::milliseconds(100));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->letters, "d");
  EXPECT_EQ(info->unmapped, std::vector<std::string>{"Newer"});
  EXPECT_TRUE(testing::file_exists(dir + "/dovecot-uidlist.lock"));  // not ours: left alone
}

TEST(MaildirFlags, AFlaggedDeliveryGoesToCurWithItsOwnNamePerRecipientAndOneInode) {
  FlagsFixture f;
  for (auto u : {"user/alice", "user/bob", "user/carol"}) f.t.create(u);
  DeliveryBatch b{f.t.stage(kMessage), {}, {}, {}, {}, {}};
  b.targets.push_back(flagged("user.alice", {"\\Seen", "\\Flagged"}));
  b.targets.push_back(flagged("user.bob", {"$Work"}));
  b.targets.push_back(DeliveryTarget{"user.carol", false, std::nullopt});
  std::vector<DeliveryBatch> batches;
  batches.push_back(std::move(b));
  auto r = testing::commit_group(f.t, std::move(batches));
  for (const auto& o : r[0].outcomes) ASSERT_FALSE(o.error) << o.error->detail;
  auto alice = f.entries("alice/cur");
  ASSERT_EQ(alice.size(), 1u);
  EXPECT_TRUE(f.entries("alice/new").empty());
  EXPECT_EQ(maildir_flags(alice[0]), "FS") << alice[0];
  EXPECT_TRUE(alice[0].ends_with(":2,FS")) << alice[0];
  auto bob = f.entries("bob/cur");
  ASSERT_EQ(bob.size(), 1u);
  EXPECT_TRUE(bob[0].ends_with(":2,a")) << bob[0];
  EXPECT_EQ(f.read("bob/dovecot-keywords"), "0 $Work\n");
  EXPECT_EQ(f.entries("carol/new").size(), 1u);  // no flags: new/, as before
  EXPECT_TRUE(f.entries("carol/cur").empty());
  EXPECT_NE(maildir_base_name(alice[0]), maildir_base_name(bob[0]));  // a name per recipient
  const ino_t inode = testing::stat_of(f.root() + "/alice/cur/" + alice[0]).st_ino;
  EXPECT_EQ(testing::stat_of(f.root() + "/bob/cur/" + bob[0]).st_ino, inode);
  EXPECT_EQ(testing::stat_of(f.root() + "/carol/new/" + f.entries("carol/new")[0]).st_ino, inode);
  // The flags are in the name, not the index; the store finds the file there.
  auto box = f.t.mailbox("user/alice");
  EXPECT_TRUE(f.t.store().index().flags_of(box.id, 1).empty());
  auto row = f.t.store().index().message(box.id, 1);
  ASSERT_TRUE(row);
  EXPECT_EQ(f.t.store().message_path(box, *row), f.root() + "/alice/cur/" + alice[0]);
  EXPECT_TRUE(check(f.t.store()).ok());
}

// A crash right after the COMMIT: recovery makes the flagged file in cur/ under its recorded name;
// once there, recovery leaves it alone (Dovecot may have changed its flags meanwhile).
TEST(MaildirFlags, RecoveryMakesAFlaggedFileInCurAndThenLeavesItAlone) {
  FlagsFixture f;
  f.t.create("user/alice");
  {
    DeliveryBatch b{f.t.stage(kMessage), {}, {}, {}, {}, {}};
    b.targets.push_back(flagged("user.alice", {"\\Seen"}));
    DeliveryGroup group(f.t.store().config(), f.t.store().index());
    group.add(std::move(b));
    group.stage();
    group.commit();
  }
  EXPECT_TRUE(f.entries("alice/cur").empty());
  f.t.reopen();
  auto report = recover(f.t.config(), f.t.store().index());
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->links_restored, 1);
  auto cur = f.entries("alice/cur");
  ASSERT_EQ(cur.size(), 1u);
  EXPECT_TRUE(cur[0].ends_with(":2,S")) << cur[0];
  // Dovecot marks it answered: the name changes, and the message is still found by its base.
  const std::string base(maildir_base_name(cur[0]));
  fs::rename(f.root() + "/alice/cur/" + cur[0], f.root() + "/alice/cur/" + base + ":2,RS");
  auto box = f.t.mailbox("user/alice");
  auto row = f.t.store().index().message(box.id, 1);
  ASSERT_TRUE(row);
  EXPECT_EQ(f.t.store().message_path(box, *row), f.root() + "/alice/cur/" + base + ":2,RS");
  EXPECT_TRUE(check(f.t.store()).ok());
}

// The wait for Dovecot's dovecot-uidlist.lock happens in stage(), before the transaction: the
// commit, which holds the index's write lock, never waits for it. A lock released while stage()
// waits lets the keyword in; a lock taken again before the commit costs nothing, since stage()
// has listed the keyword already; a lock held throughout keeps the keyword in the index.
TEST(MaildirFlags, TheUidlistLockIsWaitedForBeforeTheTransactionNeverInIt) {
  FlagsFixture f;
  f.t.create("user/alice");
  const std::string lock = f.root() + "/alice/dovecot-uidlist.lock";
  std::ofstream(lock) << "1:elsewhere";
  std::thread dovecot([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    fs::remove(lock);
  });
  DeliveryBatch b{f.t.stage(kMessage), {}, {}, {}, {}, {}};
  b.targets.push_back(flagged("user.alice", {"$Work"}));
  DeliveryGroup group(f.t.store().config(), f.t.store().index());
  group.add(std::move(b));
  auto started = std::chrono::steady_clock::now();
  group.stage();
  dovecot.join();
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(250));
  EXPECT_EQ(f.read("alice/dovecot-keywords"), "0 $Work\n");
  std::ofstream(lock) << "1:elsewhere";  // Dovecot holds it again
  started = std::chrono::steady_clock::now();
  group.commit();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(1000));
  group.link();
  Checkpoint cp;
  Unsettled unsettled;
  group.retire(cp, unsettled);
  EXPECT_FALSE(cp.run(f.t.store().index()));
  ASSERT_FALSE(group.results()[0].outcomes[0].error);
  auto cur = f.entries("alice/cur");
  ASSERT_EQ(cur.size(), 1u);
  EXPECT_TRUE(cur[0].ends_with(":2,a")) << cur[0];
  EXPECT_TRUE(f.t.store().index().flags_of(f.t.mailbox("user/alice").id, 1).empty());
  EXPECT_TRUE(testing::file_exists(lock));  // Dovecot's: left alone

  // Held throughout: stage() gives up after its wait, the commit does not wait again, and the
  // new keyword stays in the index.
  DeliveryBatch b2{f.t.stage(kMessage), {}, {}, {}, {}, {}};
  b2.targets.push_back(flagged("user.alice", {"$Home"}));
  DeliveryGroup held(f.t.store().config(), f.t.store().index());
  held.add(std::move(b2));
  held.stage();
  started = std::chrono::steady_clock::now();
  held.commit();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(1000));
  held.link();
  Checkpoint cp2;
  held.retire(cp2, unsettled);
  EXPECT_FALSE(cp2.run(f.t.store().index()));
  ASSERT_FALSE(held.results()[0].outcomes[0].error);
  EXPECT_EQ(f.read("alice/dovecot-keywords"), "0 $Work\n");
  EXPECT_EQ(f.t.store().index().flags_of(f.t.mailbox("user/alice").id, 2),
            std::vector<std::string>{"$Home"});
  EXPECT_EQ(f.entries("alice/new").size(), 1u);  // no letter: new/, as without flags
}

}  // namespace
}  // namespace cubby::store
