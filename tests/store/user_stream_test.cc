// The user stream (store/user_stream.h): a user's mailboxes written by one store and read by
// another keep their uniqueids, UID validity, uidnext, ACLs, quota limits, and every message its
// UID, internal date, flags and bytes; a message in two mailboxes is one inode on the target; a
// second stream of the same user adds nothing; a stream "since" the first sends only the new
// messages; a stream cut short is an error that leaves the complete mailboxes imported.
#include "store/user_stream.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>

#include "store/check.h"
#include "tests/store/temp_store.h"

namespace cubby::store {
namespace {

using testing::TempStore;

// A stream kept in an anonymous temporary file.
struct StreamFile {
  StreamFile() : f(std::tmpfile()) {}
  ~StreamFile() { std::fclose(f); }
  int fd() const { return fileno(f); }
  void rewind() const { ::lseek(fd(), 0, SEEK_SET); }
  std::string text() const {
    rewind();
    std::string s;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd(), buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
    rewind();
    return s;
  }
  FILE* f;
};

MailboxName inbox() { return MailboxName::from_internal("user.alice").value(); }

void deliver(TempStore& t, const std::string& content, const std::vector<std::string>& boxes) {
  std::vector<DeliveryBatch> batches;
  batches.push_back(testing::batch_to(t.stage(content), boxes));
  auto results = testing::commit_group(t, std::move(batches));
  ASSERT_EQ(results.size(), 1u);
}

class UserStream : public ::testing::Test {
 protected:
  void SetUp() override {
    source.create("user/alice");
    source.create_postable("user/alice/Work");
    deliver(source, "Subject: one\r\n\r\nfirst\r\n", {"user.alice"});
    deliver(source, "Subject: two\r\n\r\nboth\r\n", {"user.alice", "user.alice.Work"});
    deliver(source, "Subject: three\r\n\r\nexpunged\r\n", {"user.alice"});
    deliver(source, "Subject: four\r\n\r\nlast\r\n", {"user.alice"});
    auto box = source.mailbox("user/alice");
    ASSERT_FALSE(source.store().delete_message(box, 3));
    ASSERT_FALSE(source.store().index().set_flags(box.id, 2, {"\\Flagged", "$Work"}));
    ASSERT_FALSE(source.store().set_quota(inbox(), 1000, 50));
  }

  UserStreamSummary send(const UidFloors& since = {}) {
    auto sent = write_user_stream(source.store(), inbox(), since, stream.fd());
    EXPECT_TRUE(sent.ok()) << sent.error().detail;
    stream.rewind();
    return sent.ok() ? sent.value() : UserStreamSummary{};
  }
  UserStreamSummary receive() {
    auto got = read_user_stream(target.store(), stream.fd(), "");
    EXPECT_TRUE(got.ok()) << got.error().detail;
    return got.ok() ? got.value() : UserStreamSummary{};
  }

  TempStore source, target;
  StreamFile stream;
};

TEST_F(UserStream, KeepsMailboxesUidsFlagsQuotaAndBytes) {
  auto sent = send();
  EXPECT_EQ(sent.mailboxes, 2);
  EXPECT_EQ(sent.messages, 4);  // 1, 2, 4 in the INBOX and 1 in Work
  auto got = receive();
  EXPECT_EQ(got.mailboxes, 2);
  EXPECT_EQ(got.created, 2);
  EXPECT_EQ(got.messages, 4);

  for (const std::string name : {"user/alice", "user/alice/Work"}) {
    auto from = source.mailbox(name);
    auto to = target.mailbox(name);
    EXPECT_EQ(to.uniqueid, from.uniqueid) << name;
    EXPECT_EQ(to.uidvalidity, from.uidvalidity) << name;
    EXPECT_EQ(to.uidnext, from.uidnext) << name;
    EXPECT_EQ(to.acl, from.acl) << name;
    auto a = source.store().index().messages(from.id);
    auto b = target.store().index().messages(to.id);
    ASSERT_EQ(a.size(), b.size()) << name;
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(b[i].uid, a[i].uid);
      EXPECT_EQ(b[i].internaldate, a[i].internaldate);
      EXPECT_EQ(b[i].guid, a[i].guid);
      EXPECT_FALSE(b[i].pending);
      EXPECT_EQ(testing::read_file(target.store().message_path(to, b[i].uid)),
                testing::read_file(source.store().message_path(from, a[i].uid)));
      EXPECT_EQ(target.store().index().flags_of(to.id, b[i].uid),
                source.store().index().flags_of(from.id, a[i].uid));
    }
  }
  auto to_inbox = target.mailbox("user/alice");
  EXPECT_EQ(to_inbox.uidnext, 5);  // UID 3 was expunged at the source: never handed out again
  EXPECT_EQ(target.store().index().flags_of(to_inbox.id, 2),
            (std::vector<std::string>{"\\Flagged", "$Work"}));
  // The message delivered to both mailboxes is one inode on the target too.
  auto work = target.mailbox("user/alice/Work");
  EXPECT_EQ(testing::stat_of(target.store().message_path(to_inbox, 2)).st_ino,
            testing::stat_of(target.store().message_path(work, 1)).st_ino);
  EXPECT_EQ(testing::stat_of(target.store().message_path(to_inbox, 2)).st_nlink, 2u);
  auto quota = target.store().index().quotas().get("user.alice");
  ASSERT_TRUE(quota.ok());
  ASSERT_TRUE(quota.value());
  EXPECT_EQ(quota.value()->storage_limit, 1000);
  EXPECT_EQ(quota.value()->message_limit, 50);
  EXPECT_EQ(quota.value()->message_used, 4);
  EXPECT_TRUE(check(target.store()).problems.empty());
  // No staging files are left behind.
  EXPECT_EQ(testing::count_entries(target.root() + "/spool-default/transfer."), 0u);
}

TEST_F(UserStream, ASecondStreamAddsNothing) {
  send();
  receive();
  StreamFile again;
  ASSERT_TRUE(write_user_stream(source.store(), inbox(), {}, again.fd()).ok());
  again.rewind();
  auto got = read_user_stream(target.store(), again.fd(), "");
  ASSERT_TRUE(got.ok()) << got.error().detail;
  EXPECT_EQ(got->messages, 0);
  EXPECT_EQ(got->present, 4);
  EXPECT_EQ(target.store().index().messages(target.mailbox("user/alice").id).size(), 3u);
  EXPECT_TRUE(check(target.store()).problems.empty());
}

TEST_F(UserStream, SinceTheFirstStreamSendsOnlyTheNewMessages) {
  auto first = send();
  receive();
  deliver(source, "Subject: five\r\n\r\nlater\r\n", {"user.alice.Work"});
  StreamFile delta;
  auto sent = write_user_stream(source.store(), inbox(), first.sent_up_to, delta.fd());
  ASSERT_TRUE(sent.ok());
  EXPECT_EQ(sent->messages, 1);
  EXPECT_EQ(delta.text().find("first"), std::string::npos);
  auto got = read_user_stream(target.store(), delta.fd(), "");
  ASSERT_TRUE(got.ok()) << got.error().detail;
  EXPECT_EQ(got->messages, 1);
  auto work = target.mailbox("user/alice/Work");
  EXPECT_EQ(testing::read_file(target.store().message_path(work, 2)),
            "Subject: five\r\n\r\nlater\r\n");
  EXPECT_EQ(work.uidnext, 3);
}

TEST_F(UserStream, AStreamCutShortKeepsTheCompleteMailboxes) {
  send();
  const std::string whole = stream.text();
  const size_t work = whole.find("\nmailbox user.alice.Work ");
  ASSERT_NE(work, std::string::npos);
  StreamFile cut;
  const std::string part = whole.substr(0, work + 40);
  ASSERT_EQ(::write(cut.fd(), part.data(), part.size()), static_cast<ssize_t>(part.size()));
  cut.rewind();
  auto got = read_user_stream(target.store(), cut.fd(), "");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, Errc::kCorrupt);
  EXPECT_EQ(target.store().index().messages(target.mailbox("user/alice").id).size(), 3u);
  EXPECT_FALSE(target.store().find_mailbox(MailboxName::from_internal("user.alice.Work").value()));
  // The whole stream then finishes the move.
  auto rest = receive();
  EXPECT_EQ(rest.messages, 1);
  EXPECT_EQ(rest.present, 3);
  EXPECT_TRUE(check(target.store()).problems.empty());
}

TEST_F(UserStream, AnUnknownUserIsNotFound) {
  auto sent = write_user_stream(source.store(), MailboxName::from_internal("user.bob").value(), {},
                                stream.fd());
  ASSERT_FALSE(sent.ok());
  EXPECT_EQ(sent.error().code, Errc::kNotFound);
}

}  // namespace
}  // namespace cubby::store
