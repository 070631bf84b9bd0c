// MaildirQuotaCache (store/maildir_delivery.h): a user's maildirsize is read once while nobody
// changes it, and any change (a delivery's line, Dovecot's expunge line, a recalculation, a
// garbled file, the user's Maildir made anew) is seen by the very next look-up.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "store/delivery.h"
#include "store/maildir_delivery.h"
#include "tests/store/temp_store.h"

namespace cubby::store {
namespace {

using testing::TempStore;
namespace fs = std::filesystem;

const std::string kMessage = "Subject: cache\r\n\r\nhello\r\n";

struct CacheFixture {
  TempStore t;
  MaildirQuotaCache cache;
  CacheFixture() {
    t.config().partition_formats["default"] = PartitionFormat::kMaildir;
    t.reopen();
    t.create("user/alice");
  }
  std::string size_file() { return t.config().partitions["default"] + "/alice/maildirsize"; }
  std::optional<MaildirQuota> quota() {
    auto q = cache.quota(t.store().config(), t.mailbox("user/alice"));
    EXPECT_TRUE(q.ok()) << (q.ok() ? "" : q.error().detail);
    return q.ok() ? *q : std::nullopt;
  }
  void set_quota(int64_t kib, std::optional<int64_t> messages = std::nullopt) {
    ASSERT_FALSE(t.store().set_quota(t.store().parse_name("user/alice").value(), kib, messages));
  }
  // Appends a line as Dovecot does (one write on O_APPEND).
  void append(const std::string& line) {
    int fd = ::open(size_file().c_str(), O_WRONLY | O_APPEND);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, line.data(), line.size()), static_cast<ssize_t>(line.size()));
    ::close(fd);
  }
};

TEST(MaildirQuotaCache, AnUnchangedFileIsReadOnce) {
  CacheFixture f;
  f.set_quota(1024);
  f.append("600 1\n");
  for (int i = 0; i < 5; ++i) {
    auto q = f.quota();
    ASSERT_TRUE(q);
    EXPECT_EQ(q->limits.bytes, 1024u * 1024u);
    EXPECT_EQ(q->usage.bytes, 600);
    EXPECT_EQ(q->usage.messages, 1);
  }
  EXPECT_EQ(f.cache.reads(), 1u);
  EXPECT_EQ(f.cache.hits(), 4u);
}

TEST(MaildirQuotaCache, NoFileMeansNoQuotaAndAQuotaSetLaterIsSeen) {
  CacheFixture f;
  EXPECT_FALSE(f.quota());
  EXPECT_FALSE(f.quota());
  EXPECT_EQ(f.cache.reads(), 1u);
  f.set_quota(1);  // cubbyctl quota set: the file appears
  auto q = f.quota();
  ASSERT_TRUE(q);
  EXPECT_EQ(q->limits.bytes, 1024u);
}

// The case: Dovecot expunges (one negative line, in the same second as the last read) and
// Cubby's next RCPT counts the lower usage at once: a message refused before is accepted.
TEST(MaildirQuotaCache, DovecotsExpungeIsSeenByTheNextRcpt) {
  CacheFixture f;
  f.set_quota(1);  // 1024 bytes
  f.append("500 1\n");
  const MailboxRecord box = f.t.mailbox("user/alice");
  const StoreConfig& config = f.t.store().config();
  // Strict: 500 + 600 does not fit (the user is not over yet, so the quota is kept).
  for (int i = 0; i < 2; ++i) {
    auto refused = check_maildir_rcpt_quota(config, box, 600, true, &f.cache);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->code, Errc::kOverQuota);
  }
  EXPECT_EQ(f.cache.hits(), 1u);
  f.append("-500 -1\n");  // Dovecot's expunge
  EXPECT_FALSE(check_maildir_rcpt_quota(config, box, 600, true, &f.cache));
  auto q = f.quota();
  ASSERT_TRUE(q);
  EXPECT_EQ(q->usage.bytes, 0);
  EXPECT_EQ(q->usage.messages, 0);
  EXPECT_EQ(f.cache.reads(), 2u);
}

// A file over its limit is not kept: whether it is stale depends on the clock (maildir_quota.h).
TEST(MaildirQuotaCache, AQuotaOverItsLimitIsReadEveryTime) {
  CacheFixture f;
  std::ofstream(f.size_file()) << "1024S\n2000 1\n";  // one usage line, fresh: trusted, over
  for (int i = 0; i < 3; ++i) {
    auto q = f.quota();
    ASSERT_TRUE(q);
    EXPECT_EQ(q->usage.bytes, 2000);
  }
  EXPECT_EQ(f.cache.hits(), 0u);
  EXPECT_EQ(f.cache.reads(), 3u);
}

TEST(MaildirQuotaCache, AGarbledFileIsStillRecalculated) {
  CacheFixture f;
  auto r = testing::commit_group(f.t, [&] {
    std::vector<DeliveryBatch> b;
    b.push_back(testing::batch_to(f.t.stage(kMessage), {"user.alice"}));
    return b;
  }());
  ASSERT_FALSE(r[0].outcomes[0].error);
  f.set_quota(100, 10);
  ASSERT_TRUE(f.quota());
  ASSERT_TRUE(f.quota());
  EXPECT_EQ(f.cache.hits(), 1u);
  std::ofstream(f.size_file(), std::ios::trunc) << "garbage\x01\nnot numbers\n";
  auto q = f.quota();
  ASSERT_TRUE(q);
  EXPECT_EQ(q->usage.messages, 1);
  EXPECT_EQ(q->usage.bytes, static_cast<int64_t>(kMessage.size()));
  // The limits were in the garbage: lost, as Dovecot loses them. The file is whole again, and
  // read once more (it was replaced), then kept.
  EXPECT_EQ(testing::read_file(f.size_file()),
            "0S\n" + std::to_string(kMessage.size()) + " 1\n");
  const uint64_t reads = f.cache.reads();
  ASSERT_TRUE(f.quota());
  ASSERT_TRUE(f.quota());
  EXPECT_EQ(f.cache.reads(), reads + 1);
}

// The user's Maildir replaced by another directory at the same path (the user deleted and made
// again, or a rename): the descriptor kept is of the old one, so the new one is read.
TEST(MaildirQuotaCache, AMaildirMadeAnewAtTheSamePathIsReadAfresh) {
  CacheFixture f;
  EXPECT_FALSE(f.quota());  // no quota, kept
  const std::string dir = f.t.config().partitions["default"] + "/alice";
  fs::rename(dir, dir + ".old");
  fs::create_directories(dir + "/new");
  fs::create_directories(dir + "/cur");
  fs::create_directories(dir + "/tmp");
  std::ofstream(dir + "/maildirsize") << "2048S\n10 1\n";
  auto q = f.quota();
  ASSERT_TRUE(q);
  EXPECT_EQ(q->limits.bytes, 2048u);
  EXPECT_EQ(q->usage.bytes, 10);
}

}  // namespace
}  // namespace cubby::store
