// import_mailbox (store/import.h): a mailbox from another server's files keeps its uniqueid, UID
// validity, ACL and UIDs; each file is a hard link of the source; a second run adds only UIDs at
// or above uidnext; a UID validity that changed at the source is refused; a file left at the name
// by an import that crashed before its commit is replaced; quota is charged; a dry run changes
// nothing. The real Cyrus behind it is in tests/install/cyrus_import_test.sh.
#include "store/import.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "store/check.h"
#include "store/convert.h"
#include "tests/store/temp_store.h"

namespace cubby::store {
namespace {

using testing::TempStore;

// A Cyrus-like source directory beside the store (same file system, so links can be made).
struct Source {
  explicit Source(TempStore& t) : dir(t.root() + "/cyrus/user/alice") {
    std::filesystem::create_directories(dir);
  }
  ImportedMessage add(int64_t uid, const std::string& content) {
    const std::string path = dir + "/" + std::to_string(uid) + ".";
    std::ofstream(path, std::ios::binary) << content;
    return ImportedMessage{uid, path, 1700000000 + uid, {"\\Seen"}};
  }
  std::string dir;
};

ImportedMailbox alice(std::vector<ImportedMessage> messages, int64_t uidnext) {
  return ImportedMailbox{MailboxName::from_internal("user.alice").value(),
                         "",
                         "abcuniqueid123",
                         1234567,
                         uidnext,
                         "alice\tlrswipkxtean\tanyone\tp\t",
                         std::move(messages)};
}

ino_t inode(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

TEST(Import, KeepsTheMailboxAndItsUidsAndLinksTheFiles) {
  TempStore t;
  Source src(t);
  auto m1 = src.add(1, "one\r\n");
  auto m4 = src.add(4, "four\r\n");
  auto r = import_mailbox(t.store(), alice({m4, m1}, 7), false);
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_TRUE(r->created);
  EXPECT_EQ(r->added, 2);
  EXPECT_EQ(r->linked, 2);
  EXPECT_EQ(r->bytes, 11);

  auto box = t.mailbox("user/alice");
  EXPECT_EQ(box.uniqueid, "abcuniqueid123");
  EXPECT_EQ(box.uidvalidity, 1234567);
  EXPECT_EQ(box.uidnext, 7);  // the source's: UIDs 5 and 6 (expunged there) are never reused
  EXPECT_EQ(box.acl, "alice\tlrswipkxtean\tanyone\tp\t");
  auto rows = t.store().index().messages(box.id);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].uid, 1);
  EXPECT_EQ(rows[1].uid, 4);
  EXPECT_FALSE(rows[0].pending);
  EXPECT_EQ(rows[0].internaldate, 1700000001);
  EXPECT_EQ(t.store().index().flags_of(box.id, 4), std::vector<std::string>{"\\Seen"});
  EXPECT_EQ(inode(t.store().message_path(box, 1)), inode(m1.path));
  EXPECT_EQ(inode(t.store().message_path(box, 4)), inode(m4.path));
  EXPECT_TRUE(check(t.store()).problems.empty());
}

// A mailbox cubbyctl convert made Maildir++ on a Cyrus partition is not imported into (its
// format is its own, not the partition's), and one being converted is refused for now.
TEST(Import, RefusesAMailboxConvertedToMaildir) {
  TempStore t;
  Source src(t);
  auto m1 = src.add(1, "one\r\n");
  ASSERT_TRUE(import_mailbox(t.store(), alice({m1}, 2), false).ok());
  {
    ConvertReport report;
    auto c = Conversion::start(t.store(), &report);
    ASSERT_TRUE(c.ok()) << c.error().detail;
    auto units = c->user_units("user.alice");
    ASSERT_TRUE(units.ok()) << units.error().detail;
    for (const auto& u : *units) {
      // Stopped after the mark, as a kill there would leave it.
      ASSERT_TRUE(c->convert(u, ConvertRequest{PartitionFormat::kMaildir, "", ConvertStep::kMark}));
    }
  }
  auto m2 = src.add(2, "two\r\n");
  auto busy = import_mailbox(t.store(), alice({m1, m2}, 3), false);
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.error().code, Errc::kBusy);
  {
    ConvertReport report;
    auto c = Conversion::start(t.store(), &report);
    ASSERT_TRUE(c.ok()) << c.error().detail;
    auto units = c->user_units("user.alice");
    ASSERT_TRUE(units.ok()) << units.error().detail;
    for (const auto& u : *units) ASSERT_FALSE(c->convert(u, ConvertRequest{}));
  }
  ASSERT_TRUE(t.store().is_maildir(t.mailbox("user/alice")));
  auto r = import_mailbox(t.store(), alice({m1, m2}, 3), false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kBadName);
  EXPECT_EQ(t.store().index().messages(t.mailbox("user/alice").id).size(), 1u);
  EXPECT_TRUE(check(t.store()).problems.empty());
}

TEST(Import, ASecondRunAddsOnlyWhatArrivedSince) {
  TempStore t;
  Source src(t);
  auto m1 = src.add(1, "one\r\n");
  ASSERT_TRUE(import_mailbox(t.store(), alice({m1}, 2), false).ok());
  // Deleted in Cubby meanwhile: must not come back.
  auto box = t.mailbox("user/alice");
  ASSERT_FALSE(t.store().delete_message(box, 1));
  auto m2 = src.add(2, "two\r\n");
  auto r = import_mailbox(t.store(), alice({m1, m2}, 3), false);
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_FALSE(r->created);
  EXPECT_EQ(r->added, 1);
  EXPECT_EQ(r->present, 1);
  box = t.mailbox("user/alice");
  auto rows = t.store().index().messages(box.id);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].uid, 2);
  EXPECT_EQ(box.uidnext, 3);
  auto again = import_mailbox(t.store(), alice({m1, m2}, 3), false);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->added, 0);
  EXPECT_EQ(again->present, 2);
}

TEST(Import, AnotherUidValidityIsRefused) {
  TempStore t;
  Source src(t);
  auto m1 = src.add(1, "one\r\n");
  ASSERT_TRUE(import_mailbox(t.store(), alice({m1}, 2), false).ok());
  auto remade = alice({m1, src.add(2, "two\r\n")}, 3);
  remade.uidvalidity = 7654321;
  auto r = import_mailbox(t.store(), remade, false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kCorrupt);
  EXPECT_EQ(t.store().index().messages(t.mailbox("user/alice").id).size(), 1u);
}

TEST(Import, AFileLeftByACrashedImportIsReplacedAndQuotaIsCharged) {
  TempStore t;
  t.create("user/alice");
  auto box = t.mailbox("user/alice");
  ASSERT_FALSE(
      t.store().set_quota(MailboxName::from_internal("user.alice").value(), 100, std::nullopt));
  // Same UID validity as the source, as if created by an earlier run.
  ASSERT_FALSE(t.store().index().db().exec("UPDATE mailboxes SET uidvalidity = 1234567"));
  Source src(t);
  auto m1 = src.add(1, "the real one\r\n");
  const std::string stale = t.store().mailbox_dir(box) + "/1.";
  std::ofstream(stale, std::ios::binary) << "half";
  auto r = import_mailbox(t.store(), alice({m1}, 2), false);
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(inode(stale), inode(m1.path));
  auto root = t.store().index().quotas().get("user.alice");
  ASSERT_TRUE(root.ok() && root.value());
  EXPECT_EQ(root.value()->storage_used, 14);
  EXPECT_EQ(root.value()->message_used, 1);
  EXPECT_TRUE(check(t.store()).problems.empty());
}

TEST(Import, ADryRunChangesNothing) {
  TempStore t;
  Source src(t);
  auto r = import_mailbox(t.store(), alice({src.add(1, "one\r\n")}, 2), true);
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_TRUE(r->created);
  EXPECT_EQ(r->added, 1);
  EXPECT_FALSE(t.store().find_mailbox(MailboxName::from_internal("user.alice").value()));
}

}  // namespace
}  // namespace cubby::store
