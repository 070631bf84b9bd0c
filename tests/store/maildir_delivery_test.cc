// Delivery, recovery, check and quota on a Maildir++ partition (docs/store-protocol.md, "Maildir++
// partitions"; docs/dovecot.md): what Dovecot would see, checked on the files themselves.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "store/check.h"
#include "store/delivery.h"
#include "store/maildir_file_name.h"
#include "store/maildir_quota.h"
#include "store/recovery.h"
#include "store/settle.h"
#include "tests/store/temp_store.h"

namespace cubby::store {
namespace {

using testing::TempStore;
namespace fs = std::filesystem;

const std::string kMessage = "Subject: maildir\r\n\r\nhello Dovecot\r\n";

struct MaildirFixture {
  TempStore t;
  MaildirFixture() {
    t.config().partition_formats["default"] = PartitionFormat::kMaildir;
    t.reopen();
  }
  std::string root() { return t.config().partitions["default"]; }
  std::string file_of(const std::string& box, int64_t uid = 1) {
    auto m = t.mailbox(box);
    auto row = t.store().index().message(m.id, uid);
    return row ? row->file : "";
  }
  std::vector<std::string> entries(const std::string& dir) {
    std::vector<std::string> out;
    for (auto& e : fs::directory_iterator(root() + "/" + dir)) out.push_back(e.path().filename());
    return out;
  }
};

std::vector<DeliveryResult> deliver1(TempStore& t, DeliveryBatch batch) {
  std::vector<DeliveryBatch> batches;
  batches.push_back(std::move(batch));
  return testing::commit_group(t, std::move(batches));
}

std::vector<std::string> users(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back("user.u" + std::to_string(i));
  return out;
}

TEST(MaildirStore, CreateMailboxMakesMaildirLayout) {
  MaildirFixture f;
  auto inbox = f.t.create("user/alice");
  auto work = f.t.create("user/alice/Work");
  EXPECT_EQ(inbox.dir, "alice");
  EXPECT_EQ(work.dir, "alice/.Work");
  for (auto d : {"alice/cur", "alice/new", "alice/tmp", "alice/.Work/cur", "alice/.Work/new",
                 "alice/.Work/tmp"}) {
    EXPECT_TRUE(fs::is_directory(f.root() + "/" + d)) << d;
  }
  EXPECT_TRUE(fs::is_regular_file(f.root() + "/alice/.Work/maildirfolder"));
  EXPECT_FALSE(testing::file_exists(f.root() + "/alice/cyrus.header"));
  // A shared mailbox has no Maildir++ place.
  auto shared = f.t.store().create_mailbox(f.t.store().parse_name("shared").value());
  ASSERT_FALSE(shared.ok());
  EXPECT_EQ(shared.error().code, Errc::kBadName);
}

TEST(MaildirDelivery, TenRecipientsOneInodeInNewWithSizes) {
  MaildirFixture f;
  for (auto& u : users(10)) f.t.create("user/" + u.substr(5));
  auto r = deliver1(f.t, testing::batch_to(f.t.stage(kMessage), users(10)));
  ASSERT_EQ(r[0].outcomes.size(), 10u);
  ino_t inode = 0;
  for (int i = 0; i < 10; ++i) {
    ASSERT_FALSE(r[0].outcomes[i].error) << r[0].outcomes[i].error->detail;
    const std::string box = "user/u" + std::to_string(i);
    const std::string file = f.file_of(box);
    ASSERT_FALSE(file.empty());
    EXPECT_EQ(maildir_name_size(file), kMessage.size());
    EXPECT_EQ(maildir_name_crlf_size(file), kMessage.size());  // CRLF already
    const std::string path = f.root() + "/u" + std::to_string(i) + "/new/" + file;
    EXPECT_EQ(testing::read_file(path), kMessage);
    EXPECT_EQ(f.t.store().message_path(f.t.mailbox(box), 1), path);
    auto st = testing::stat_of(path);
    if (i == 0) inode = st.st_ino;
    EXPECT_EQ(st.st_ino, inode);
    EXPECT_TRUE(f.entries("u" + std::to_string(i) + "/tmp").empty());
  }
  EXPECT_EQ(r[0].links, 10);
  auto report = check(f.t.store());
  EXPECT_TRUE(report.ok()) << report.problems[0];
}

TEST(MaildirDelivery, BareLfCountsInW) {
  MaildirFixture f;
  f.t.create("user/alice");
  auto r = deliver1(f.t, testing::batch_to(f.t.stage("a\nb\r\n"), {"user.alice"}));
  ASSERT_FALSE(r[0].outcomes[0].error);
  const std::string file = f.file_of("user/alice");
  EXPECT_EQ(maildir_name_size(file), 5u);
  EXPECT_EQ(maildir_name_crlf_size(file), 6u);
}

TEST(MaildirDelivery, NewMissingOrAFileRefusesThatRecipientOnly) {
  MaildirFixture f;
  for (auto u : {"user/alice", "user/bob", "user/carol"}) f.t.create(u);
  fs::remove(f.root() + "/bob/new");
  fs::remove(f.root() + "/carol/new");
  std::ofstream(f.root() + "/carol/new") << "not a directory";
  auto r = deliver1(
      f.t, testing::batch_to(f.t.stage(kMessage), {"user.alice", "user.bob", "user.carol"}));
  EXPECT_FALSE(r[0].outcomes[0].error);
  ASSERT_TRUE(r[0].outcomes[1].error);
  EXPECT_EQ(r[0].outcomes[1].error->code, Errc::kIo);  // 451, not "no such mailbox"
  ASSERT_TRUE(r[0].outcomes[2].error);
  EXPECT_EQ(r[0].outcomes[2].error->code, Errc::kIo);
  EXPECT_TRUE(f.t.store().index().messages(f.t.mailbox("user/bob").id).empty());
  EXPECT_TRUE(f.t.store().index().messages(f.t.mailbox("user/carol").id).empty());
  EXPECT_EQ(f.entries("alice/new").size(), 1u);
}

// A crash after the link, before the checkpoint: Dovecot has meanwhile moved alice's copy to cur/
// with \Seen. Recovery must not put a second copy into new/.
TEST(MaildirRecovery, NoDuplicateWhenDovecotMovedTheFileToCur) {
  MaildirFixture f;
  for (auto u : {"user/alice", "user/bob"}) f.t.create(u);
  std::string stage_path;
  {
    DeliveryGroup group(f.t.store().config(), f.t.store().index());
    auto stage = f.t.stage(kMessage);
    stage_path = stage.path();
    group.add(testing::batch_to(std::move(stage), {"user.alice", "user.bob"}));
    group.stage();
    group.commit();
    group.link();
  }  // crash: no checkpoint
  ASSERT_TRUE(testing::file_exists(stage_path));
  const std::string file = f.file_of("user/alice");
  fs::rename(f.root() + "/alice/new/" + file, f.root() + "/alice/cur/" + file + ":2,S");
  f.t.reopen();
  auto report = recover(f.t.config(), f.t.store().index());
  ASSERT_TRUE(report.ok()) << report.error().detail;
  EXPECT_TRUE(f.entries("alice/new").empty());
  EXPECT_EQ(f.entries("alice/cur"), std::vector<std::string>{file + ":2,S"});
  EXPECT_EQ(f.entries("bob/new").size(), 1u);
  for (auto d : {"alice/new", "bob/new"}) {
    for (auto& n : f.entries(d)) EXPECT_NE(n[0], '.') << "a relink holder left in " << d;
  }
  EXPECT_FALSE(testing::file_exists(stage_path));
  EXPECT_EQ(testing::stat_of(f.root() + "/alice/cur/" + file + ":2,S").st_ino,
            testing::stat_of(f.root() + "/bob/new/" + f.file_of("user/bob")).st_ino);
  auto c = check(f.t.store());
  EXPECT_TRUE(c.ok()) << c.problems[0];
}

// Settling after a failed directory fsync makes every pending row's entry anew (settle.h): in new/
// by an exchange that leaves one entry, never beside a copy Dovecot moved to cur/.
TEST(MaildirSettle, RelinkRowsNeverDuplicatesAndLeavesNoHolder) {
  MaildirFixture f;
  for (auto u : {"user/alice", "user/bob"}) f.t.create(u);
  DeliveryGroup group(f.t.store().config(), f.t.store().index());
  auto stage = f.t.stage(kMessage);
  const std::string stage_path = stage.path(), stage_name = stage.name();
  group.add(testing::batch_to(std::move(stage), {"user.alice", "user.bob"}));
  group.stage();
  group.commit();
  group.link();
  const std::string alice = f.file_of("user/alice"), bob = f.file_of("user/bob");
  fs::rename(f.root() + "/alice/new/" + alice, f.root() + "/alice/cur/" + alice + ":2,S");
  std::vector<MessageRecord> rows;
  for (auto& r : f.t.store().index().staged_rows()) rows.push_back(r.message);
  ASSERT_EQ(rows.size(), 2u);
  std::set<std::string> dirs;
  int made = 0, missing = 0;
  ASSERT_FALSE(relink_rows(f.t.config(), f.t.store().index(), "default", stage_path, rows,
                           LinkMode::kRemake, &dirs,
                           &made, &missing));
  EXPECT_EQ(made, 2);
  EXPECT_EQ(missing, 0);
  EXPECT_TRUE(dirs.count(f.root() + "/alice/cur"));
  EXPECT_TRUE(dirs.count(f.root() + "/bob/new"));
  EXPECT_TRUE(f.entries("alice/new").empty());
  EXPECT_EQ(f.entries("bob/new"), std::vector<std::string>{bob});
  EXPECT_EQ(testing::stat_of(f.root() + "/bob/new/" + bob).st_nlink, 3u);  // + the stage file
  Checkpoint cp;
  Unsettled unsettled;
  group.retire(cp, unsettled);
  EXPECT_FALSE(cp.run(f.t.store().index()));
  EXPECT_TRUE(check(f.t.store()).ok());
}

// Without single-instance store every recipient gets a copy, written in tmp/ and renamed into
// new/: nothing partial is ever visible in new/, and tmp/ is empty afterwards.
TEST(MaildirDelivery, CopiesGoThroughTmp) {
  MaildirFixture f;
  f.t.config().single_instance = false;
  f.t.reopen();
  for (auto u : {"user/alice", "user/bob"}) f.t.create(u);
  auto r = deliver1(f.t, testing::batch_to(f.t.stage(kMessage), {"user.alice", "user.bob"}));
  ASSERT_FALSE(r[0].outcomes[0].error);
  EXPECT_EQ(r[0].copies, 2);
  for (auto u : {"alice", "bob"}) {
    EXPECT_TRUE(f.entries(std::string(u) + "/tmp").empty());
    ASSERT_EQ(f.entries(std::string(u) + "/new").size(), 1u);
  }
  EXPECT_NE(testing::stat_of(f.t.store().message_path(f.t.mailbox("user/alice"), 1)).st_ino,
            testing::stat_of(f.t.store().message_path(f.t.mailbox("user/bob"), 1)).st_ino);
  EXPECT_TRUE(check(f.t.store()).ok());
}

// A crash right after the COMMIT: recovery makes the files in new/ under the recorded names.
TEST(MaildirRecovery, CommittedButNotLinkedIsMadeInNew) {
  MaildirFixture f;
  for (auto u : {"user/alice", "user/bob"}) f.t.create(u);
  {
    DeliveryGroup group(f.t.store().config(), f.t.store().index());
    group.add(testing::batch_to(f.t.stage(kMessage), {"user.alice", "user.bob"}));
    group.stage();
    group.commit();
  }
  EXPECT_TRUE(f.entries("alice/new").empty());
  f.t.reopen();
  auto report = recover(f.t.config(), f.t.store().index());
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->links_restored, 2);
  EXPECT_EQ(f.entries("alice/new"), std::vector<std::string>{f.file_of("user/alice")});
  EXPECT_EQ(f.entries("bob/new"), std::vector<std::string>{f.file_of("user/bob")});
  EXPECT_TRUE(check(f.t.store()).ok());
}

// Dovecot expunges one recipient's copy: the others keep theirs and check stays clean.
TEST(MaildirCheck, ExpungedByDovecotIsNotAProblemButAMissingDirIs) {
  MaildirFixture f;
  for (auto u : {"user/alice", "user/bob"}) f.t.create(u);
  deliver1(f.t, testing::batch_to(f.t.stage(kMessage), {"user.alice", "user.bob"}));
  fs::remove(f.root() + "/alice/new/" + f.file_of("user/alice"));
  auto c = check(f.t.store());
  EXPECT_TRUE(c.ok()) << c.problems[0];
  EXPECT_EQ(c.expunged, 1u);
  EXPECT_EQ(testing::read_file(f.t.store().message_path(f.t.mailbox("user/bob"), 1)), kMessage);
  fs::remove_all(f.root() + "/bob/cur");
  EXPECT_FALSE(check(f.t.store()).ok());
}

TEST(MaildirQuota, LimitFromMaildirsizeRefusesAndDeliveriesAppend) {
  MaildirFixture f;
  f.t.create("user/alice");
  // 1 KiB; Cubby's rule without strict quota: refused once over.
  ASSERT_FALSE(f.t.store().set_quota(f.t.store().parse_name("user/alice").value(), 1, std::nullopt));
  const std::string size_file = f.root() + "/alice/maildirsize";
  EXPECT_EQ(testing::read_file(size_file), "1024S\n0 0\n");
  const std::string big(600, 'x');
  auto r1 = deliver1(f.t, testing::batch_to(f.t.stage(big), {"user.alice"}));
  ASSERT_FALSE(r1[0].outcomes[0].error);
  EXPECT_EQ(testing::read_file(size_file), "1024S\n0 0\n600 1\n");
  auto r2 = deliver1(f.t, testing::batch_to(f.t.stage(big), {"user.alice"}));
  ASSERT_FALSE(r2[0].outcomes[0].error);  // 600 <= 1024: not over yet
  auto r3 = deliver1(f.t, testing::batch_to(f.t.stage(big), {"user.alice"}));
  ASSERT_TRUE(r3[0].outcomes[0].error);
  EXPECT_EQ(r3[0].outcomes[0].error->code, Errc::kOverQuota);
  auto q = f.t.store().maildir_quota(f.t.mailbox("user/alice"));
  ASSERT_TRUE(q.ok() && *q);
  EXPECT_EQ((*q)->usage.bytes, 1200);
  EXPECT_EQ((*q)->usage.messages, 2);
  // cubbyctl message delete: the file goes and maildirsize learns of it.
  ASSERT_FALSE(f.t.store().delete_message(f.t.mailbox("user/alice"), 1));
  q = f.t.store().maildir_quota(f.t.mailbox("user/alice"));
  EXPECT_EQ((*q)->usage.bytes, 600);
  EXPECT_EQ(f.entries("alice/new").size(), 1u);
  auto r4 = deliver1(f.t, testing::batch_to(f.t.stage(big), {"user.alice"}));
  EXPECT_FALSE(r4[0].outcomes[0].error);
}

// One group's deliveries to one user (INBOX and folders alike) are one maildirsize line with their
// sums, as Dovecot writes one line per transaction: one open and one write per user per group.
TEST(MaildirQuota, AGroupAppendsOneLinePerUser) {
  MaildirFixture f;
  for (auto box : {"user/alice", "user/alice/Work", "user/bob"}) f.t.create(box);
  ASSERT_FALSE(
      f.t.store().set_quota(f.t.store().parse_name("user/alice").value(), 1024, std::nullopt));
  const std::string size_file = f.root() + "/alice/maildirsize";
  ASSERT_EQ(testing::read_file(size_file), "1048576S\n0 0\n");
  std::vector<DeliveryBatch> batches;
  const std::vector<std::string> bodies = {std::string(100, 'a'), std::string(250, 'b'),
                                           std::string(40, 'c')};
  for (const auto& body : bodies) {
    batches.push_back(
        testing::batch_to(f.t.stage(body), {"user.alice", "user.alice.Work", "user.bob"}));
    batches.back().targets[1].by_owner = true;  // alice's own Sieve files into her folder
  }
  auto r = testing::commit_group(f.t, std::move(batches));
  for (const auto& result : r) {
    for (const auto& o : result.outcomes) {
      ASSERT_FALSE(o.error) << o.error->detail;
      EXPECT_FALSE(o.fell_back) << o.mailbox;
    }
  }
  EXPECT_EQ(f.entries("alice/.Work/new").size(), 3u);
  EXPECT_EQ(testing::read_file(size_file), "1048576S\n0 0\n780 6\n");
  EXPECT_FALSE(testing::file_exists(f.root() + "/bob/maildirsize"));  // no quota, nothing written
  auto q = f.t.store().maildir_quota(f.t.mailbox("user/alice"));
  ASSERT_TRUE(q.ok() && *q);
  EXPECT_EQ((*q)->usage.bytes, 780);
  EXPECT_EQ((*q)->usage.messages, 6);
  EXPECT_EQ((*q)->recalculated, "");  // the line agrees with what is on disk
}

TEST(MaildirQuota, GarbageMaildirsizeIsRecalculated) {
  MaildirFixture f;
  f.t.create("user/alice");
  deliver1(f.t, testing::batch_to(f.t.stage(kMessage), {"user.alice"}));
  ASSERT_FALSE(f.t.store().set_quota(f.t.store().parse_name("user/alice").value(), 100, 10));
  std::ofstream(f.root() + "/alice/maildirsize", std::ios::trunc) << "garbage\x01\nnot numbers\n";
  auto r = deliver1(f.t, testing::batch_to(f.t.stage(kMessage), {"user.alice"}));
  ASSERT_FALSE(r[0].outcomes[0].error);
  auto q = f.t.store().maildir_quota(f.t.mailbox("user/alice"));
  ASSERT_TRUE(q.ok() && *q);
  EXPECT_EQ((*q)->usage.messages, 2);
  EXPECT_EQ((*q)->usage.bytes, static_cast<int64_t>(2 * kMessage.size()));
}

TEST(MaildirStore, DeleteAndRenameFolder) {
  MaildirFixture f;
  f.t.create("user/alice");
  f.t.create_postable("user/alice/Work");  // a +detail folder needs p
  deliver1(f.t, testing::batch_to(f.t.stage(kMessage), {"user.alice.Work"}));
  auto& s = f.t.store();
  ASSERT_FALSE(s.rename_mailbox(s.parse_name("user/alice/Work").value(),
                                s.parse_name("user/alice/Play").value()));
  EXPECT_EQ(f.t.mailbox("user/alice/Play").dir, "alice/.Play");
  EXPECT_EQ(f.entries("alice/.Play/new").size(), 1u);
  EXPECT_FALSE(testing::file_exists(f.root() + "/alice/.Work"));
  EXPECT_EQ(testing::read_file(s.message_path(f.t.mailbox("user/alice/Play"), 1)), kMessage);
  ASSERT_FALSE(s.delete_mailbox(s.parse_name("user/alice/Play").value()));
  EXPECT_FALSE(s.find_mailbox(s.parse_name("user/alice/Play").value()));
  EXPECT_TRUE(check(s).ok());
}

}  // namespace
}  // namespace cubby::store
