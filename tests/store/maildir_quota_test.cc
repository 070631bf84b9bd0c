// Tests of Maildir++ quota (maildirsize): the limit line in its forms, usage lines with negative
// changes, the recalculation rules (missing, garbled, too long, stale over quota), the count of
// the files, appending, setting limits, and never following a symbolic link.
#include "store/maildir_quota.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "store/maildir_file_name.h"
#include "tests/store/maildir_temp_dir.h"

namespace cubby::store {
namespace {

using testing::MaildirPartition;

TEST(MaildirQuotaFile, LimitLineForms) {
  bool clean = false;
  EXPECT_EQ(parse_maildir_limits("1000S,20C", &clean), (MaildirQuotaLimits{1000, 20}));
  EXPECT_TRUE(clean);
  EXPECT_EQ(parse_maildir_limits("20C,1000S"), (MaildirQuotaLimits{1000, 20}));
  EXPECT_EQ(parse_maildir_limits("1000S"), (MaildirQuotaLimits{1000, 0}));
  EXPECT_EQ(parse_maildir_limits("0S"), (MaildirQuotaLimits{0, 0}));
  EXPECT_EQ(parse_maildir_limits("5C", &clean), (MaildirQuotaLimits{0, 5}));
  EXPECT_TRUE(clean);
  EXPECT_EQ(parse_maildir_limits("1000S,junk,7C", &clean), (MaildirQuotaLimits{1000, 7}));
  EXPECT_FALSE(clean);
  EXPECT_EQ(parse_maildir_limits("", &clean), (MaildirQuotaLimits{0, 0}));
  EXPECT_FALSE(clean);
  EXPECT_EQ(parse_maildir_limits("12X", &clean), (MaildirQuotaLimits{0, 0}));
  EXPECT_FALSE(clean);

  EXPECT_EQ(format_maildir_limits({1000, 20}), "1000S,20C");
  EXPECT_EQ(format_maildir_limits({1000, 0}), "1000S");
  EXPECT_EQ(format_maildir_limits({0, 20}), "20C");
  EXPECT_EQ(format_maildir_limits({0, 0}), "0S");  // as Dovecot: never an empty line
}

TEST(MaildirQuotaFile, UsageLinesAddUpWithNegativeChanges) {
  auto f = parse_maildirsize("1000S,10C\n  300   3\n100 1\n-300 -3\n50 1\n");
  ASSERT_TRUE(f) << f.error();
  EXPECT_EQ(f->limits, (MaildirQuotaLimits{1000, 10}));
  EXPECT_EQ(f->usage, (MaildirUsage{150, 2}));
  EXPECT_EQ(f->usage_lines, 4u);
  // A last line without LF is an append in progress: ignored.
  auto partial = parse_maildirsize("1000S\n300 3\n12");
  ASSERT_TRUE(partial);
  EXPECT_EQ(partial->usage, (MaildirUsage{300, 3}));
}

TEST(MaildirQuotaFile, GarbledFiles) {
  EXPECT_FALSE(parse_maildirsize(""));
  EXPECT_FALSE(parse_maildirsize("1000S"));                    // no complete line
  EXPECT_FALSE(parse_maildirsize("1000S\n"));                  // no usage line
  EXPECT_FALSE(parse_maildirsize("1000S\n300\n"));             // one number
  EXPECT_FALSE(parse_maildirsize("1000S\n300 3 junk\n"));      // trailing junk
  EXPECT_FALSE(parse_maildirsize("1000S\n300 3\n\n"));         // an empty line
  EXPECT_FALSE(parse_maildirsize("1000S\n300 3\n-400 -1\n"));  // a negative total
  EXPECT_FALSE(parse_maildirsize(std::string("1000S\n3\0 1\n", 11)));
  EXPECT_EQ(parse_maildirsize("1000S\nx y\n").error(), "line 2 is not \"<bytes> <messages>\"");
}

TEST(MaildirQuotaFile, StaleOnlyWhenOverQuota) {
  auto under = *parse_maildirsize("1000S\n100 1\n200 1\n");
  EXPECT_EQ(maildirsize_stale(under, 0, 100000), std::nullopt);  // old and many lines: fine
  auto over_one_line = *parse_maildirsize("1000S\n2000 1\n");
  EXPECT_EQ(maildirsize_stale(over_one_line, 100000 - 60, 100000), std::nullopt);
  EXPECT_TRUE(maildirsize_stale(over_one_line, 100000 - 16 * 60, 100000));
  auto over_two_lines = *parse_maildirsize("10C\n100 10\n100 1\n");
  EXPECT_TRUE(maildirsize_stale(over_two_lines, 100000, 100000));
  EXPECT_TRUE(maildir_quota_exceeded({1000, 0}, {900, 1}, 101, 1));
  EXPECT_FALSE(maildir_quota_exceeded({1000, 0}, {900, 1}, 100, 1));
  EXPECT_FALSE(maildir_quota_exceeded({0, 0}, {900000, 100}, 1, 1));
}

// A user Maildir with messages: two in the INBOX (one named with S=, one without), one in a
// folder, one in Trash.
class MaildirQuotaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto folder : {"", "/.Work", "/.Trash"}) {
      for (auto sub : {"/cur", "/new", "/tmp"}) {
        std::filesystem::create_directories(p.path(std::string("alice") + folder + sub));
      }
    }
    p.write("alice/new/1.M1P1.host,S=100,W=102", std::string(100, 'x'));
    p.write("alice/cur/2.M1P1.host:2,S", std::string(250, 'y'));  // no S=: stat()
    p.write("alice/.Work/cur/3.M1P1.host,S=1000:2,S", "the name's size counts, not this");
    p.write("alice/.Trash/new/4.M1P1.host,S=7", "1234567");
    auto u = UserMaildir::open(p.root(), "alice");
    ASSERT_TRUE(u) << u.error().detail;
    user.emplace(std::move(*u));
  }
  MaildirPartition p;
  std::optional<UserMaildir> user;
};

TEST_F(MaildirQuotaTest, CountsInboxFoldersAndTrash) {
  auto usage = count_maildir_usage(*user);
  ASSERT_TRUE(usage) << usage.error().detail;
  EXPECT_EQ(*usage, (MaildirUsage{100 + 250 + 1000 + 7, 4}));
  // tmp/, files outside new/ and cur/, and a folder that is a symbolic link do not count.
  p.write("alice/tmp/5.M1P1.host,S=99", "x");
  p.write("alice/.Work/dovecot-uidlist", "3 V1 N2\n");
  ASSERT_EQ(::symlink(p.path("alice/.Work").c_str(), p.path("alice/.Evil").c_str()), 0);
  EXPECT_EQ(*count_maildir_usage(*user), (MaildirUsage{1357, 4}));
}

TEST_F(MaildirQuotaTest, MissingFile) {
  auto none = read_maildir_quota(*user);
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->exists);  // no file, no limits: no quota, nothing created
  EXPECT_FALSE(p.exists("alice/maildirsize"));
  auto appended = append_maildir_quota(*user, 10, 1);
  ASSERT_TRUE(appended);
  EXPECT_FALSE(*appended);

  auto made = read_maildir_quota(*user, MaildirQuotaLimits{5000, 0});
  ASSERT_TRUE(made) << made.error().detail;
  EXPECT_TRUE(made->exists);
  EXPECT_EQ(made->recalculated, "missing");
  EXPECT_EQ(made->usage, (MaildirUsage{1357, 4}));
  EXPECT_EQ(p.read("alice/maildirsize"), "5000S\n1357 4\n");
  EXPECT_TRUE(std::filesystem::is_empty(p.path("alice/tmp")));  // the temporary file was renamed
}

TEST_F(MaildirQuotaTest, GarbageIsRecalculatedKeepingTheLimits) {
  p.write("alice/maildirsize", "2000S,10C\nthis is\x01 not a maildirsize file\n");
  auto q = read_maildir_quota(*user);
  ASSERT_TRUE(q) << q.error().detail;
  EXPECT_EQ(q->recalculated, "garbled: line 2 is not \"<bytes> <messages>\"");
  EXPECT_EQ(q->limits, (MaildirQuotaLimits{2000, 10}));
  EXPECT_EQ(q->usage, (MaildirUsage{1357, 4}));
  EXPECT_EQ(p.read("alice/maildirsize"), "2000S,10C\n1357 4\n");
  // Read again: now trusted as it is.
  auto again = read_maildir_quota(*user);
  EXPECT_EQ(again->recalculated, "");
  EXPECT_EQ(again->usage, (MaildirUsage{1357, 4}));
}

TEST_F(MaildirQuotaTest, TrustedFileIsNotCounted) {
  // The file says something else than the disk: a trusted file wins (that is its purpose).
  p.write("alice/maildirsize", "0S\n10 1\n-5 0\n");
  auto q = read_maildir_quota(*user);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->recalculated, "");
  EXPECT_EQ(q->usage, (MaildirUsage{5, 1}));
}

TEST_F(MaildirQuotaTest, LongFileIsRecalculated) {
  std::string text = "100000S\n";
  while (text.size() < 5120) text += "10 1\n";
  p.write("alice/maildirsize", text);
  auto q = read_maildir_quota(*user);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->recalculated, "5120 bytes or longer");
  EXPECT_EQ(p.read("alice/maildirsize"), "100000S\n1357 4\n");
}

TEST_F(MaildirQuotaTest, OverQuotaFileIsRecalculatedWhenStale) {
  p.write("alice/maildirsize", "1000S\n5000 4\n");  // over quota, one line, fresh: trusted
  auto fresh = read_maildir_quota(*user);
  EXPECT_EQ(fresh->recalculated, "");
  EXPECT_EQ(fresh->usage.bytes, 5000);
  auto stale = read_maildir_quota(*user, std::nullopt, std::time(nullptr) + 16 * 60);
  EXPECT_EQ(stale->recalculated, "over quota and older than 15 minutes");
  EXPECT_EQ(stale->usage.bytes, 1357);  // still over 1000: Cubby refuses, as Dovecot would
}

TEST_F(MaildirQuotaTest, AppendsAndExpunges) {
  ASSERT_TRUE(recalculate_maildir_quota(*user, {0, 100}));
  ASSERT_TRUE(*append_maildir_quota(*user, 500, 1));
  ASSERT_TRUE(*append_maildir_quota(*user, -100, -1));  // an expunge, as Dovecot writes it
  EXPECT_EQ(p.read("alice/maildirsize"), "100C\n1357 4\n500 1\n-100 -1\n");
  auto q = read_maildir_quota(*user);
  EXPECT_EQ(q->recalculated, "");
  EXPECT_EQ(q->usage, (MaildirUsage{1757, 4}));
}

TEST_F(MaildirQuotaTest, SetLimitsRewritesTheFile) {
  p.write("alice/maildirsize", "1000S\n1 1\n");
  auto q = recalculate_maildir_quota(*user, {1 << 20, 50});
  ASSERT_TRUE(q) << q.error().detail;
  EXPECT_EQ(p.read("alice/maildirsize"), "1048576S,50C\n1357 4\n");
  EXPECT_EQ(read_maildir_quota(*user)->limits, (MaildirQuotaLimits{1 << 20, 50}));
}

TEST_F(MaildirQuotaTest, NeverFollowsALink) {
  MaildirPartition elsewhere;
  elsewhere.write("target", "1000S\n1 1\n");
  ASSERT_EQ(::symlink(elsewhere.path("target").c_str(), p.path("alice/maildirsize").c_str()), 0);
  EXPECT_FALSE(read_maildir_quota(*user));
  EXPECT_FALSE(append_maildir_quota(*user, 1, 1));
  EXPECT_EQ(elsewhere.read("target"), "1000S\n1 1\n");
  // Setting a limit replaces the link itself, not its target.
  ASSERT_TRUE(recalculate_maildir_quota(*user, {1000, 0}));
  EXPECT_FALSE(std::filesystem::is_symlink(p.path("alice/maildirsize")));
  EXPECT_EQ(elsewhere.read("target"), "1000S\n1 1\n");
}

TEST_F(MaildirQuotaTest, NamesMadeByTheNamerAreCountedBySize) {
  MaildirNamer namer("test");
  p.write("alice/new/" + namer.next({12345, 12400}), "short file");
  EXPECT_EQ(*count_maildir_usage(*user), (MaildirUsage{1357 + 12345, 5}));
}

}  // namespace
}  // namespace cubby::store
