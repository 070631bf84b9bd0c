// cubbyctl convert's store side (store/convert.h): Cyrus layout <-> Maildir++ in place and into
// another partition, and a conversion stopped after each step (as a crash would stop it) that a
// rerun finishes with every message present once.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "store/check.h"
#include "store/convert.h"
#include "store/delivery.h"
#include "store/maildir_file_name.h"
#include "store/maildir_quota.h"
#include "tests/store/temp_store.h"

namespace cubby::store {
namespace {

using testing::TempStore;
namespace fs = std::filesystem;

const std::string kShared = "Subject: to both\r\n\r\nshared\r\n";
const std::string kWork = "Subject: work\r\n\r\nfolder\r\n";

struct Fixture {
  TempStore t{2};
  Fixture() {
    t.create("user/alice");
    t.create_postable("user/alice/Work");
    t.create("user/bob");
    deliver({"user.alice", "user.bob"}, kShared);
    deliver({"user.alice.Work"}, kWork);
    deliver({"user.alice"}, "Subject: seen\r\n\r\nread already\r\n");
    auto alice = t.mailbox("user/alice");
    EXPECT_FALSE(t.store().index().set_flags(alice.id, 2, {"\\Seen", "$label"}));
    EXPECT_FALSE(t.store().set_quota(t.store().parse_name("user/alice").value(), 1000, 50));
  }
  void deliver(const std::vector<std::string>& to, const std::string& body) {
    std::vector<DeliveryBatch> batches;
    batches.push_back(testing::batch_to(t.stage(body), to));
    auto r = testing::commit_group(t, std::move(batches));
    for (const auto& o : r.at(0).outcomes) {
      ASSERT_FALSE(o.error) << o.error->detail;
      ASSERT_FALSE(o.fell_back);
    }
  }
  std::optional<Error> convert(PartitionFormat to, const std::string& into = "",
                               std::optional<ConvertStep> stop = std::nullopt,
                               ConvertReport* out = nullptr) {
    ConvertReport r;
    auto c = Conversion::start(t.store(), out ? out : &r);
    if (!c.ok()) return c.error();
    auto units = c->user_units("user.alice");
    if (!units.ok()) return units.error();
    ConvertRequest request{to, into, stop};
    for (const auto& u : *units) {
      if (auto e = c->convert(u, request)) return e;
    }
    return std::nullopt;
  }
  std::string path(const std::string& box, int64_t uid) {
    auto m = t.mailbox(box);
    return t.store().message_path(m, uid);
  }
  void expect_clean() {
    auto r = check(t.store());
    EXPECT_TRUE(r.problems.empty()) << r.problems.front();
  }
  // Every message of alice's, present once with its bytes, sharing bob's inode where it did.
  void expect_alice_whole() {
    EXPECT_EQ(testing::read_file(path("user/alice", 1)), kShared);
    EXPECT_EQ(testing::read_file(path("user/alice/Work", 1)), kWork);
    EXPECT_EQ(testing::stat_of(path("user/alice", 1)).st_ino,
              testing::stat_of(path("user/bob", 1)).st_ino);
    EXPECT_EQ(t.store().index().messages(t.mailbox("user/alice").id).size(), 2u);
  }
  std::string spool(const std::string& partition = "default") {
    return t.config().partitions[partition];
  }
  // Regular files below `dir` (recursively) whose name holds `part`.
  size_t files_named(const std::string& dir, const std::string& part) {
    size_t n = 0;
    if (!fs::exists(dir)) return 0;
    for (auto& e : fs::recursive_directory_iterator(dir)) {
      if (e.is_regular_file() && e.path().filename().string().find(part) != std::string::npos) ++n;
    }
    return n;
  }
};

TEST(Convert, CyrusToMaildirInPlaceAndBack) {
  Fixture f;
  ASSERT_FALSE(f.convert(PartitionFormat::kMaildir));
  auto alice = f.t.mailbox("user/alice");
  EXPECT_EQ(alice.format, "maildir");
  EXPECT_EQ(alice.dir, "alice");
  EXPECT_FALSE(alice.converting);
  EXPECT_TRUE(f.t.store().is_maildir(alice));
  EXPECT_FALSE(f.t.store().is_maildir(f.t.mailbox("user/bob")));
  // The unseen message in new/, the \Seen one in cur/ with its info, its keyword a letter from
  // dovecot-keywords (maildir_flags.h) and no longer in the index; one name each.
  EXPECT_EQ(testing::count_entries(f.spool() + "/alice/new"), 1u);
  EXPECT_EQ(testing::count_entries(f.spool() + "/alice/cur"), 1u);
  EXPECT_NE(f.path("user/alice", 2).find("/cur/"), std::string::npos);
  EXPECT_EQ(maildir_flags(f.path("user/alice", 2)), "Sa");
  EXPECT_EQ(testing::read_file(f.spool() + "/alice/dovecot-keywords"), "0 $label\n");
  EXPECT_TRUE(f.t.store().index().flags_of(alice.id, 2).empty());
  EXPECT_EQ(maildir_flags(f.t.store().index().message(alice.id, 2)->file), "Sa");
  EXPECT_EQ(testing::count_entries(f.spool() + "/alice/.Work/new"), 1u);
  EXPECT_FALSE(fs::exists(f.spool() + "/user/alice"));  // the old names are gone
  f.expect_alice_whole();
  // Quota: the root's limits are now maildirsize's first line, with the usage.
  EXPECT_FALSE(f.t.store().index().quotas().get("user.alice").value());
  auto user = UserMaildir::open(f.spool(), f.t.store().parse_name("user/alice").value());
  ASSERT_TRUE(user.ok());
  auto q = read_maildir_quota(*user);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->limits, (MaildirQuotaLimits{1000 * 1024, 50}));
  EXPECT_EQ(q->usage.messages, 3);
  f.expect_clean();

  // A delivery now lands in new/.
  f.deliver({"user.alice"}, "Subject: after\r\n\r\nnew format\r\n");
  EXPECT_EQ(testing::count_entries(f.spool() + "/alice/new"), 2u);

  // Dovecot answers the first message: :2,RS. Back to Cyrus, the flags come along.
  const std::string first = f.path("user/alice", 1);
  const std::string answered = f.spool() + "/alice/cur/" +
                               std::string(maildir_base_name(fs::path(first).filename().string())) +
                               ":2,RS";
  ASSERT_EQ(::rename(first.c_str(), answered.c_str()), 0);
  ASSERT_FALSE(f.convert(PartitionFormat::kCyrus));
  alice = f.t.mailbox("user/alice");
  EXPECT_EQ(alice.format, "cyrus");
  EXPECT_EQ(alice.dir, "user/alice");
  EXPECT_EQ(f.path("user/alice", 1), f.spool() + "/user/alice/1.");
  EXPECT_EQ(f.t.store().index().flags_of(alice.id, 1),
            (std::vector<std::string>{"\\Answered", "\\Seen"}));
  EXPECT_EQ(f.t.store().index().flags_of(alice.id, 2),
            (std::vector<std::string>{"\\Seen", "$label"}));
  EXPECT_EQ(testing::stat_of(f.path("user/alice", 1)).st_ino,
            testing::stat_of(f.path("user/bob", 1)).st_ino);
  EXPECT_EQ(testing::read_file(f.path("user/alice/Work", 1)), kWork);
  EXPECT_FALSE(fs::exists(f.spool() + "/alice"));
  EXPECT_TRUE(fs::exists(f.spool() + "/user/alice/cubby.header"));
  auto root = f.t.store().index().quotas().get("user.alice");
  ASSERT_TRUE(root.ok() && *root);
  EXPECT_EQ((*root)->storage_limit, 1000);
  EXPECT_EQ((*root)->message_limit, 50);
  EXPECT_EQ((*root)->message_used, 4);
  f.expect_clean();
}

// Keywords go into the Maildir name through dovecot-keywords and come back from it: one set by
// Sieve (in the index on Cyrus), one Dovecot added while the mailbox was Maildir (a letter only),
// one that found no free letter (kept in the index), over Cyrus -> Maildir -> Cyrus -> Maildir.
TEST(Convert, KeywordsSurviveCyrusMaildirCyrus) {
  Fixture f;
  auto alice = f.t.mailbox("user/alice");
  ASSERT_FALSE(f.t.store().index().set_flags(alice.id, 1, {"$Forwarded"}));
  ASSERT_FALSE(f.convert(PartitionFormat::kMaildir));
  EXPECT_EQ(testing::read_file(f.spool() + "/alice/dovecot-keywords"),
            "0 $Forwarded\n1 $label\n");  // in the order met: uid 1, then uid 2
  EXPECT_EQ(maildir_flags(f.path("user/alice", 1)), "a");
  EXPECT_EQ(maildir_flags(f.path("user/alice", 2)), "Sb");
  EXPECT_TRUE(f.t.store().index().flags_of(alice.id, 1).empty());
  // bob's name for the shared inode is his own, and carries nothing.
  EXPECT_EQ(testing::stat_of(f.path("user/alice", 1)).st_ino,
            testing::stat_of(f.path("user/bob", 1)).st_ino);
  EXPECT_TRUE(f.t.store().index().flags_of(f.t.mailbox("user/bob").id, 1).empty());
  f.expect_clean();

  // Dovecot: a keyword "Work" gets letter c and goes on uid 1, which is also read.
  {
    std::ofstream(f.spool() + "/alice/dovecot-keywords", std::ios::app) << "2 Work\n";
    const std::string now = f.path("user/alice", 1);
    const std::string base(maildir_base_name(fs::path(now).filename().string()));
    ASSERT_EQ(::rename(now.c_str(), (f.spool() + "/alice/cur/" + base + ":2,Sac").c_str()), 0);
  }
  ASSERT_FALSE(f.convert(PartitionFormat::kCyrus));
  alice = f.t.mailbox("user/alice");
  EXPECT_EQ(f.t.store().index().flags_of(alice.id, 1),
            (std::vector<std::string>{"\\Seen", "$Forwarded", "Work"}));
  EXPECT_EQ(f.t.store().index().flags_of(alice.id, 2),
            (std::vector<std::string>{"\\Seen", "$label"}));
  f.expect_clean();

  // Back to Maildir: the new dovecot-keywords is made again, in the order met; the letters follow.
  ASSERT_FALSE(f.convert(PartitionFormat::kMaildir));
  alice = f.t.mailbox("user/alice");
  EXPECT_EQ(testing::read_file(f.spool() + "/alice/dovecot-keywords"),
            "0 $Forwarded\n1 Work\n2 $label\n");
  EXPECT_EQ(maildir_flags(f.path("user/alice", 1)), "Sab");
  EXPECT_EQ(maildir_flags(f.path("user/alice", 2)), "Sc");
  EXPECT_TRUE(f.t.store().index().flags_of(alice.id, 1).empty());
  f.expect_clean();
}

TEST(Convert, KeywordWithoutFreeLetterStaysInTheIndex) {
  Fixture f;
  auto alice = f.t.mailbox("user/alice");
  std::vector<std::string> many = {"\\Seen"};
  for (char c = 'A'; c <= 'Z'; ++c) many.push_back(std::string("k") + c);
  many.push_back("Extra");  // the 27th keyword
  ASSERT_FALSE(f.t.store().index().set_flags(alice.id, 1, many));
  ASSERT_FALSE(f.convert(PartitionFormat::kMaildir));
  alice = f.t.mailbox("user/alice");
  EXPECT_EQ(maildir_flags(f.path("user/alice", 1)), "Sabcdefghijklmnopqrstuvwxyz");
  EXPECT_EQ(f.t.store().index().flags_of(alice.id, 1), std::vector<std::string>{"Extra"});
  ASSERT_FALSE(f.convert(PartitionFormat::kCyrus));
  alice = f.t.mailbox("user/alice");
  auto back = f.t.store().index().flags_of(alice.id, 1);
  EXPECT_EQ(std::set<std::string>(back.begin(), back.end()),
            std::set<std::string>(many.begin(), many.end()));
  f.expect_clean();
}

TEST(Convert, DovecotExpungedMessageIsDroppedGoingBack) {
  Fixture f;
  ASSERT_FALSE(f.convert(PartitionFormat::kMaildir));
  ASSERT_EQ(::unlink(f.path("user/alice", 2).c_str()), 0);
  ConvertReport r;
  ASSERT_FALSE(f.convert(PartitionFormat::kCyrus, "", std::nullopt, &r));
  EXPECT_EQ(r.dropped, 1);
  EXPECT_FALSE(f.t.store().index().message(f.t.mailbox("user/alice").id, 2));
  f.expect_clean();
}

TEST(Convert, IntoAnotherPartitionKeepsOneInodePerDelivery) {
  Fixture f;
  ASSERT_FALSE(f.convert(PartitionFormat::kMaildir, "p1"));
  auto alice = f.t.mailbox("user/alice");
  EXPECT_EQ(alice.partition, "p1");
  EXPECT_EQ(f.path("user/alice", 1).rfind(f.spool("p1"), 0), 0u);
  EXPECT_FALSE(fs::exists(f.spool() + "/user/alice"));
  f.expect_alice_whole();
  f.expect_clean();
  // And back, into the first partition, as Cyrus.
  ASSERT_FALSE(f.convert(PartitionFormat::kCyrus, "default"));
  EXPECT_EQ(f.path("user/alice", 1), f.spool() + "/user/alice/1.");
  EXPECT_FALSE(fs::exists(f.spool("p1") + "/alice/new"));
  f.expect_alice_whole();
  f.expect_clean();
}

// A target partition on another file system (/dev/shm when it is one): copies, fsynced and
// renamed into place, one per delivery, shared by its recipients there.
TEST(Convert, IntoAnotherFileSystemCopiesOncePerDelivery) {
  Fixture f;
  struct stat tmp_st, shm_st;
  if (::stat(f.t.root().c_str(), &tmp_st) != 0 || ::stat("/dev/shm", &shm_st) != 0 ||
      tmp_st.st_dev == shm_st.st_dev) {
    GTEST_SKIP() << "no second file system at /dev/shm";
  }
  char tmpl[] = "/dev/shm/cubby-convert-XXXXXX";
  ASSERT_TRUE(::mkdtemp(tmpl));
  const std::string other = tmpl;
  f.t.config().partitions["far"] = other + "/spool";
  f.t.reopen();
  const auto mtime = testing::stat_of(f.path("user/alice", 1)).st_mtime;
  ConvertReport r;
  auto c = Conversion::start(f.t.store(), &r);
  ASSERT_TRUE(c.ok());
  const ConvertRequest request{PartitionFormat::kMaildir, "far", {}};
  // Stopped after the links once, then finished: the copies made the first time are kept.
  auto units = c->partition_units("default", request);
  ASSERT_TRUE(units.ok());
  ConvertRequest stopping = request;
  stopping.stop_after = ConvertStep::kLink;
  ASSERT_TRUE(c->convert(units->front(), stopping));
  for (const auto& u : *units) ASSERT_FALSE(c->convert(u, request));
  EXPECT_EQ(r.copied, 3);  // alice's 3 messages, once although her conversion ran twice
  EXPECT_EQ(r.linked, 1);  // bob's copy of the shared message is a link of alice's
  f.expect_alice_whole();                 // alice's and bob's shared message: one inode on "far"
  EXPECT_EQ(testing::stat_of(f.path("user/alice", 1)).st_dev, shm_st.st_dev);
  EXPECT_EQ(testing::stat_of(f.path("user/alice", 1)).st_mtime, mtime);  // the internal date
  EXPECT_EQ(f.files_named(other, ".convert"), 0u);  // no copy left half-way in tmp/
  f.expect_clean();
  std::filesystem::remove_all(other);
}

// Stopped after each step, as SIGKILL would stop it; the rerun finishes, nothing doubled.
class ConvertStopped : public ::testing::TestWithParam<std::tuple<PartitionFormat, ConvertStep>> {};

TEST_P(ConvertStopped, RerunFinishesWithEveryMessageOnce) {
  const auto [to, step] = GetParam();
  Fixture f;
  if (to == PartitionFormat::kCyrus) {
    ASSERT_FALSE(f.convert(PartitionFormat::kMaildir));
  }
  auto stopped = f.convert(to, "", step);
  ASSERT_TRUE(stopped);
  EXPECT_NE(stopped->detail.find("stopped"), std::string::npos) << stopped->detail;
  if (step != ConvertStep::kSwitch && step != ConvertStep::kClean) {
    // Still the old format, marked: a delivery is refused (the MTA retries), none is lost.
    EXPECT_TRUE(f.t.mailbox("user/alice").converting);
    std::vector<DeliveryBatch> batches;
    batches.push_back(testing::batch_to(f.t.stage("Subject: x\r\n\r\nx\r\n"), {"user.alice", "user.bob"}));
    auto r = testing::commit_group(f.t, std::move(batches));
    ASSERT_TRUE(r.at(0).outcomes.at(0).error);
    EXPECT_NE(r.at(0).outcomes[0].error->detail.find("converted"), std::string::npos);
    EXPECT_FALSE(r.at(0).outcomes.at(1).error);
    EXPECT_FALSE(check(f.t.store()).problems.empty());  // says it is being converted
  }
  ASSERT_FALSE(f.convert(to));
  auto alice = f.t.mailbox("user/alice");
  EXPECT_EQ(alice.format, to == PartitionFormat::kMaildir ? "maildir" : "cyrus");
  f.expect_alice_whole();
  f.expect_clean();
  // Exactly one name per message on disk for alice: none left at the old place, none doubled.
  const size_t maildir_names = f.files_named(f.spool() + "/alice", "cubby-convert");
  const size_t cyrus_names = f.files_named(f.spool() + "/user/alice", ".") -
                             f.files_named(f.spool() + "/user/alice", "cubby.header");
  if (to == PartitionFormat::kMaildir) {
    EXPECT_EQ(maildir_names, 3u);
    EXPECT_EQ(cyrus_names, 0u);
  } else {
    EXPECT_EQ(maildir_names, 0u);
    EXPECT_EQ(cyrus_names, 3u);
  }
  // No journal left: only the lock file.
  EXPECT_EQ(testing::count_entries(f.t.config().config_directory + "/convert"), 1u);
}

INSTANTIATE_TEST_SUITE_P(
    Steps, ConvertStopped,
    ::testing::Combine(::testing::Values(PartitionFormat::kMaildir, PartitionFormat::kCyrus),
                       ::testing::Values(ConvertStep::kMark, ConvertStep::kLink,
                                         ConvertStep::kJournal, ConvertStep::kSwitch,
                                         ConvertStep::kClean)));

TEST(Convert, FolderAloneMustFollowItsUser) {
  Fixture f;
  ConvertReport r;
  auto c = Conversion::start(f.t.store(), &r);
  ASSERT_TRUE(c.ok());
  auto units = c->mailbox_units("user.alice.Work", ConvertRequest{PartitionFormat::kMaildir, "", {}});
  ASSERT_FALSE(units.ok());
  EXPECT_EQ(units.error().code, Errc::kBadName);
  // A second conversion at the same time is refused.
  ConvertReport r2;
  auto second = Conversion::start(f.t.store(), &r2);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, Errc::kBusy);
}

TEST(Convert, NewFolderFollowsItsConvertedInbox) {
  Fixture f;
  ASSERT_FALSE(f.convert(PartitionFormat::kMaildir));
  auto folder = f.t.create("user/alice/New");
  EXPECT_TRUE(f.t.store().is_maildir(folder));
  EXPECT_EQ(folder.dir, "alice/.New");
  EXPECT_TRUE(fs::is_directory(f.spool() + "/alice/.New/new"));
  EXPECT_FALSE(f.t.store().is_maildir(f.t.create("user/carol")));  // the partition's format
  f.expect_clean();
}

TEST(Convert, PartitionLeavesSharedMailboxesInTheCyrusLayout) {
  Fixture f;
  f.t.create("shared");
  ConvertReport r;
  auto c = Conversion::start(f.t.store(), &r);
  ASSERT_TRUE(c.ok());
  const ConvertRequest request{PartitionFormat::kMaildir, "", {}};
  auto units = c->partition_units("default", request);
  ASSERT_TRUE(units.ok());
  EXPECT_EQ(units->size(), 2u);  // alice (with Work), bob
  for (const auto& u : *units) ASSERT_FALSE(c->convert(u, request));
  EXPECT_EQ(r.units, 2);
  EXPECT_EQ(r.mailboxes, 3);
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_NE(r.notes[0].find("shared"), std::string::npos) << r.notes[0];
  EXPECT_TRUE(f.t.store().is_maildir(f.t.mailbox("user/bob")));
  EXPECT_FALSE(f.t.store().is_maildir(f.t.mailbox("shared")));
  // alice's and bob's copies of the shared message are still one inode, now in new/.
  EXPECT_EQ(testing::stat_of(f.path("user/alice", 1)).st_ino,
            testing::stat_of(f.path("user/bob", 1)).st_ino);
  f.expect_clean();
}

TEST(Convert, FlagLetters) {
  EXPECT_EQ(system_flag_letters({"\\Seen", "\\Answered", "$Forwarded", "\\Deleted", "\\Draft",
                             "\\Flagged", "$label"}),
            "DFRST");
  EXPECT_EQ(system_flags_of_letters("RS"), (std::vector<std::string>{"\\Answered", "\\Seen"}));
}

}  // namespace
}  // namespace cubby::store
