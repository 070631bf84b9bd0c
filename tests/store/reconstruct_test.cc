// reconstruct and verify: rebuilding a lost index from the files (same UIDs, uidnext above the
// highest, unique ids, ACLs and quota roots from the headers), repairing a damaged one (found,
// rediscovered, missing, empty and resized files), and verify catching a file altered on disk.
#include "store/reconstruct.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "store/check.h"
#include "store/verify.h"
#include "tests/store/temp_store.h"

namespace cubby::store {
namespace {

using testing::TempStore;

std::vector<DeliveryOutcome> deliver(TempStore& t, const std::string& content,
                                     const std::vector<std::string>& mailboxes) {
  std::vector<DeliveryBatch> batches;
  batches.push_back(testing::batch_to(t.stage(content), mailboxes));
  return testing::commit_group(t, std::move(batches))[0].outcomes;
}

void remove_index(TempStore& t) {
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::filesystem::remove(t.config().index_path() + suffix);
  }
}

struct Snapshot {
  MailboxRecord box;
  std::vector<MessageRecord> messages;
};

std::map<std::string, Snapshot> snapshot(TempStore& t) {
  std::map<std::string, Snapshot> out;
  for (auto& b : t.store().index().list_mailboxes()) {
    out[b.name] = Snapshot{b, t.store().index().messages(b.id)};
  }
  return out;
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

TEST(Reconstruct, AfterTheIndexIsDeletedEveryMessageComesBackWithItsUid) {
  TempStore t;
  t.config().partitions["p1"] = t.root() + "/spool-p1";
  t.reopen();
  t.create("user/alice");
  t.create_postable("user/alice/Work");
  t.create("example.com!user/bob", "p1");
  t.create("shared/news");
  deliver(t, "one\r\n", {"user.alice", "user.alice.Work", "example.com!user.bob"});
  deliver(t, "two\r\n", {"user.alice"});
  deliver(t, "three\r\n", {"user.alice", "example.com!user.bob"});
  deliver(t, "four\r\n", {"user.alice"});
  // UID 4 of alice is deleted: its UID must never come back.
  ASSERT_FALSE(t.store().delete_message(t.mailbox("user/alice"), 4));
  ASSERT_FALSE(t.store().set_quota(t.store().parse_name("user/alice").value(), 100, 50));
  ASSERT_FALSE(t.store().set_acl(t.mailbox("shared/news"), "anyone\tlrsp\t"));
  auto before = snapshot(t);
  ASSERT_EQ(before["user.alice"].messages.size(), 3u);

  remove_index(t);
  t.reopen();
  EXPECT_TRUE(t.store().index().list_mailboxes().empty());
  auto report = reconstruct(t.store(), {});
  ASSERT_TRUE(report.ok()) << report.error().detail;
  EXPECT_TRUE(report->problems.empty()) << report->problems[0];
  EXPECT_EQ(report->mailboxes_added, 4);
  EXPECT_EQ(report->found, 6);
  EXPECT_EQ(report->rediscovered, 0);

  auto after = snapshot(t);
  ASSERT_EQ(after.size(), before.size());
  for (const auto& [name, was] : before) {
    SCOPED_TRACE(name);
    const Snapshot& now = after[name];
    EXPECT_EQ(now.box.uniqueid, was.box.uniqueid);
    EXPECT_EQ(now.box.uidvalidity, was.box.uidvalidity);
    EXPECT_EQ(now.box.acl, was.box.acl);
    EXPECT_EQ(now.box.partition, was.box.partition);
    ASSERT_EQ(now.messages.size(), was.messages.size());
    for (size_t i = 0; i < was.messages.size(); ++i) {
      EXPECT_EQ(now.messages[i].uid, was.messages[i].uid);
      EXPECT_EQ(now.messages[i].guid, was.messages[i].guid);
      EXPECT_EQ(now.messages[i].size, was.messages[i].size);
    }
    const int64_t highest = was.messages.empty() ? 0 : was.messages.back().uid;
    EXPECT_GT(now.box.uidnext, highest);
  }
  // alice's highest file is 3, but 4 was used and deleted: uidnext stays 5.
  EXPECT_EQ(after["user.alice"].box.uidnext, 5);
  auto root = t.store().index().quotas().get("user.alice").value();
  ASSERT_TRUE(root);
  EXPECT_EQ(root->storage_limit, 100);
  EXPECT_EQ(root->message_used, 4);  // 3 in the INBOX, 1 in Work
  auto c = check(t.store());
  EXPECT_TRUE(c.ok()) << c.problems[0];
  // New deliveries continue above.
  EXPECT_EQ(deliver(t, "five\r\n", {"user.alice"})[0].uid, 5);
  // Running it again changes nothing.
  auto again = reconstruct(t.store(), {});
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->events.empty()) << again->events[0];
}

TEST(Reconstruct, WithoutHeadersNamesComeFromThePaths) {
  for (bool hashed : {false, true}) {
    SCOPED_TRACE(hashed ? "hashimapspool" : "plain spool");
    TempStore t;
    t.config().hash_spool = hashed;
    t.reopen();
    t.create("user/carol");
    t.create_postable("user/carol/a.b");
    t.create("example.com!user/dave");
    deliver(t, "x\r\n", {"user.carol", "user.carol.a^b", "example.com!user.dave"});
    deliver(t, "y\r\n", {"user.carol"});
    for (const auto& b : t.store().index().list_mailboxes()) {
      ::unlink((t.store().mailbox_dir(b) + "/cubby.header").c_str());
    }
    remove_index(t);
    t.reopen();
    auto report = reconstruct(t.store(), {});
    ASSERT_TRUE(report.ok());
    EXPECT_EQ(report->mailboxes_added, 3);
    EXPECT_EQ(t.store().index().messages(t.mailbox("user/carol").id).size(), 2u);
    EXPECT_EQ(t.store().index().messages(t.mailbox("user/carol/a.b").id).size(), 1u);
    EXPECT_EQ(t.mailbox("user/carol").uidnext, 3);
    EXPECT_EQ(t.mailbox("example.com!user/dave").acl, "dave@example.com\tlrswipkxtean\t");
    EXPECT_TRUE(check(t.store()).ok());
  }
}

TEST(Reconstruct, RepairsAMailboxWhoseFilesChangedBehindTheIndex) {
  TempStore t;
  auto box = t.create("user/alice");
  for (int i = 0; i < 5; ++i) deliver(t, "message " + std::to_string(i) + "\r\n", {"user.alice"});
  // 1: deleted behind the index's back; 2: emptied; 3: grew; 4: its row lost (below uidnext);
  // 9: a new file above uidnext.
  ::unlink(t.store().message_path(box, 1).c_str());
  write_file(t.store().message_path(box, 2), "");
  write_file(t.store().message_path(box, 3), "a longer message 3\r\n");
  ASSERT_FALSE(t.store().index().delete_message(box.id, 4));
  write_file(t.store().message_path(box, 9), "dropped in\r\n");
  EXPECT_FALSE(check(t.store()).ok());

  auto report = reconstruct(t.store(), {t.store().parse_name("user/alice").value()});
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->removed, 2);
  EXPECT_EQ(report->corrected, 1);
  EXPECT_EQ(report->found, 1);
  EXPECT_EQ(report->rediscovered, 1);
  std::vector<int64_t> uids;
  for (const auto& m : t.store().index().messages(box.id)) uids.push_back(m.uid);
  // 4 comes back as 10, never as 4 again; 9 keeps its UID.
  EXPECT_EQ(uids, (std::vector<int64_t>{3, 5, 9, 10}));
  EXPECT_EQ(testing::read_file(t.store().message_path(box, 10)), "message 3\r\n");  // was uid 4
  EXPECT_FALSE(testing::file_exists(t.store().message_path(box, 4)));
  EXPECT_EQ(t.mailbox("user/alice").uidnext, 11);
  EXPECT_EQ(t.store().index().message(box.id, 3)->size, 20);
  auto c = check(t.store());
  EXPECT_TRUE(c.ok()) << c.problems[0];
  EXPECT_TRUE(verify(t.store()).ok());
}

TEST(Reconstruct, AMissingDirectoryIsMadeAgainAndItsRowsGo) {
  TempStore t;
  auto box = t.create("user/alice");
  deliver(t, "x\r\n", {"user.alice"});
  std::filesystem::remove_all(t.store().mailbox_dir(box));
  EXPECT_FALSE(check(t.store()).ok());
  auto report = reconstruct(t.store(), {});
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->removed, 1);
  EXPECT_TRUE(check(t.store()).ok());
  EXPECT_EQ(t.mailbox("user/alice").uidnext, 2);
}

TEST(Reconstruct, NamedMailboxesOnlyAndUnknownNames) {
  TempStore t;
  t.create("user/alice");
  auto bob = t.create("user/bob");
  deliver(t, "x\r\n", {"user.alice", "user.bob"});
  write_file(t.store().message_path(bob, 7), "stray\r\n");
  auto report = reconstruct(t.store(), {t.store().parse_name("user/alice").value(),
                                        t.store().parse_name("user/nobody").value()});
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->found, 0);  // bob was not asked for
  ASSERT_EQ(report->problems.size(), 1u);
  EXPECT_NE(report->problems[0].find("user/nobody"), std::string::npos);
}

TEST(Verify, CatchesAFileAlteredOnDisk) {
  TempStore t;
  auto alice = t.create("user/alice");
  auto bob = t.create("user/bob");
  deliver(t, "Subject: intact\r\n\r\nbody\r\n", {"user.alice", "user.bob"});
  deliver(t, "Subject: other\r\n\r\nbody\r\n", {"user.alice"});
  auto clean = verify(t.store());
  EXPECT_TRUE(clean.ok());
  EXPECT_EQ(clean.messages, 3u);
  EXPECT_EQ(clean.files, 2u);  // the shared inode is read once
  // Flip one byte in place: same size, so only the hash can tell.
  {
    std::fstream f(t.store().message_path(alice, 2), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(10);
    f.put('X');
  }
  auto report = verify(t.store());
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_NE(report.problems[0].find("user/alice: uid 2: XXH3"), std::string::npos)
      << report.problems[0];
  EXPECT_TRUE(check(t.store()).ok());  // sizes agree: only verify sees it
  ::unlink(t.store().message_path(bob, 1).c_str());
  EXPECT_EQ(verify(t.store()).problems.size(), 2u);
  EXPECT_TRUE(verify(t.store(), {"user.alice"}).problems.size() == 1u);
}

}  // namespace
}  // namespace cubby::store
