// Bad Maildirs on a Maildir++ partition (issue 12, docs/store-protocol.md "Maildir++ partitions"):
// a user whose new/ is missing, is a file or is a symbolic link gets 451 for that delivery, with a
// log line naming the path, and nothing is written anywhere for that user (least of all through
// the link); a maildirsize full of garbage (binary, NUL bytes, over the 5120-byte limit) is
// recalculated, logged, and the delivery goes through. Nobody else is affected: the other
// recipients of the same transaction get 250, the partition keeps taking mail, and once the
// Maildir is repaired the MTA's retry is delivered (the undone recipient was not marked a
// duplicate) and `cubbyctl check` is clean. tests/interop/dovecot/cubby_dovecot_test.cc
// (BrokenNewAndGarbageMaildirsizeAffectOnlyThatRecipient) shows the first cases beside Dovecot.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/e2e/fixture.h"
#include "tests/e2e/inbox_files.h"

namespace cubby::e2e {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSender = "sender@example.org";

class MaildirBadInput : public CubbyTest {
 protected:
  std::string maildir(const std::string& user) { return cubby_->spool() + "/" + user; }
  size_t files_in(const std::string& dir) {
    size_t n = 0;
    std::error_code ec;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
      ++n;
    }
    return n;
  }
  // One transaction to `users`; the reply to each after the final dot.
  std::vector<LmtpReply> send(const std::string& id, const std::vector<std::string>& users) {
    std::vector<std::string> rcpts;
    for (const auto& u : users) rcpts.push_back(u + "@e2e.test");
    LmtpClient c = unix_client();
    EXPECT_EQ(c.begin_transaction(kSender, rcpts), "");
    EXPECT_TRUE(c.send_data(test_message(id))) << c.error();
    return c.read_replies(rcpts.size());
  }
};

TEST_F(MaildirBadInput, BrokenNewFailsOnlyThatRecipientAndGarbageMaildirsizeIsRecalculated) {
  const std::vector<std::string> users = {"alice", "bob", "carol", "dave", "erin"};
  ASSERT_NO_FATAL_FAILURE(start(users, format_settings(PartitionFormat::kMaildir)));
  fs::remove(maildir("bob") + "/new");  // missing
  fs::remove(maildir("carol") + "/new");
  std::ofstream(maildir("carol") + "/new") << "a file where new/ belongs";  // a file
  const std::string elsewhere = root_.path() + "/elsewhere";
  ASSERT_EQ(::mkdir(elsewhere.c_str(), 0700), 0);
  fs::remove(maildir("dave") + "/new");
  fs::create_symlink(elsewhere, maildir("dave") + "/new");  // a symbolic link out of the partition
  {
    std::ofstream garbage(maildir("erin") + "/maildirsize", std::ios::binary | std::ios::trunc);
    std::string junk;
    for (int i = 0; i < 8000; ++i) junk += static_cast<char>((i * 37) % 256);  // NULs included
    garbage << junk;
  }

  auto replies = send("broken@example.org", users);
  ASSERT_EQ(replies.size(), users.size());
  EXPECT_EQ(replies[0].code, 250) << replies[0].text();
  for (size_t i : {1, 2, 3}) {
    EXPECT_EQ(replies[i].code, 451) << users[i] << ": " << replies[i].text();
    EXPECT_TRUE(replies[i].enhanced().starts_with("4.")) << replies[i].text();
  }
  EXPECT_EQ(replies[4].code, 250) << replies[4].text();
  ASSERT_TRUE(cubby_->wait_settled());

  // Nothing for the refused, nothing through the link; the others have the message, whole.
  EXPECT_EQ(files_in(elsewhere), 0u) << "written through dave's symbolic link";
  EXPECT_EQ(files_in(maildir("bob") + "/cur"), 0u);
  EXPECT_EQ(files_in(maildir("carol") + "/cur"), 0u);
  for (const auto& u : {"bob", "carol", "dave"}) {
    auto rows = cubby_->messages(u);
    ASSERT_TRUE(rows) << u;
    EXPECT_TRUE(rows->empty()) << u << " has a row for a refused delivery";
  }
  for (const auto& u : {"alice", "erin"}) {
    InboxFiles inbox = read_inbox(*cubby_, PartitionFormat::kMaildir, u);
    EXPECT_TRUE(inbox.problems.empty()) << u << ": " << inbox.problems.front();
    ASSERT_EQ(inbox.copies.size(), 1u) << u;
    EXPECT_EQ(check_stored(inbox.copies[0].bytes, kSender, "[unix socket]",
                           test_message("broken@example.org")),
              "")
        << u;
  }
  // Clear to the administrator: each failure is logged with the path and why.
  const std::string log = cubby_->log();
  for (const auto& u : {"bob", "carol", "dave"}) {
    const std::string path = maildir(u) + "/new";
    size_t at = log.find("delivery failed");
    bool named = false;
    for (; at != std::string::npos; at = log.find("delivery failed", at + 1)) {
      const std::string line = log.substr(at, log.find('\n', at) - at);
      if (line.find(path) != std::string::npos) named = true;
    }
    EXPECT_TRUE(named) << "no 'delivery failed' line names " << path;
  }
  // erin's quota file was recalculated from what is there, and it says so.
  EXPECT_NE(log.find(maildir("erin") + "/maildirsize recalculated"), std::string::npos);
  auto quota = cubby_->ctl({"quota", "get", "user/erin", "--json"});
  ASSERT_EQ(quota.exit_code, 0) << quota.describe();
  InboxFiles erin = read_inbox(*cubby_, PartitionFormat::kMaildir, "erin");
  ASSERT_EQ(erin.copies.size(), 1u);
  EXPECT_NE(quota.out.find("\"storage_used_bytes\":" + std::to_string(erin.copies[0].bytes.size())),
            std::string::npos)
      << quota.out;

  // The partition keeps taking mail for everyone else, at once.
  replies = send("next@example.org", {"alice", "erin"});
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0].code, 250) << replies[0].text();
  EXPECT_EQ(replies[1].code, 250) << replies[1].text();

  // Repaired, the MTA's retry of the refused recipients is delivered, not taken for a duplicate.
  ASSERT_TRUE(fs::create_directory(maildir("bob") + "/new"));
  fs::remove(maildir("carol") + "/new");
  ASSERT_TRUE(fs::create_directory(maildir("carol") + "/new"));
  fs::remove(maildir("dave") + "/new");
  ASSERT_TRUE(fs::create_directory(maildir("dave") + "/new"));
  replies = send("broken@example.org", {"bob", "carol", "dave"});
  ASSERT_EQ(replies.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(replies[i].code, 250) << replies[i].text();
  ASSERT_TRUE(cubby_->wait_settled());
  for (const auto& u : {"bob", "carol", "dave"}) {
    InboxFiles inbox = read_inbox(*cubby_, PartitionFormat::kMaildir, u);
    EXPECT_TRUE(inbox.problems.empty()) << u << ": " << inbox.problems.front();
    EXPECT_EQ(inbox.copies.size(), 1u) << u;
  }
  EXPECT_EQ(files_in(elsewhere), 0u);
  expect_check_passes();
}

}  // namespace
}  // namespace cubby::e2e
