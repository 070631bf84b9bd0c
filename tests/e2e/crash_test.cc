// End-to-end crash behaviour (invariants 1, 2 and 4 of docs/store-protocol.md): a worker killed in the middle of
// DATA leaves nothing visible and its stage file is removed by the next worker's recovery; a
// server killed abruptly (master and workers, SIGKILL) keeps every acknowledged message
// byte-exact, and UIDs continue above the old ones after a restart.
#include <signal.h>

#include <algorithm>
#include <map>

#include "tests/e2e/fixture.h"

namespace cubby::e2e {
namespace {

constexpr const char* kSender = "sender@example.org";

using CrashE2e = CubbyTest;

TEST_F(CrashE2e, WorkerKilledDuringDataLeavesNothingAndRecoveryClearsTheStage) {
  ASSERT_NO_FATAL_FAILURE(start({"alice", "bob"}));
  const std::vector<pid_t> before = cubby_->workers();
  ASSERT_FALSE(before.empty());

  LmtpClient c = unix_client();
  ASSERT_EQ(c.begin_transaction(kSender, {"alice@e2e.test", "bob@e2e.test"}), "");
  const std::string content = test_message("killed-in-data@example.org", 40000);  // ~1.6 MB
  std::string wire;
  DotStuffer stuffer;
  stuffer.stuff(std::string_view(content).substr(0, content.size() / 2), &wire);
  ASSERT_TRUE(c.send(wire)) << c.error();
  // The worker is writing the message: its stage file exists.
  ASSERT_TRUE(eventually([&] { return !CubbyInstance::stage_files(cubby_->spool()).empty(); }, 5s))
      << "no stage file appeared while half the message was sent";

  for (pid_t w : before) kill(w, SIGKILL);
  LmtpReply r = c.read_reply();
  EXPECT_EQ(r.code, 0) << "expected the connection to drop, got " << r.text();
  c.close();

  // The master replaces the killed worker; the new one runs recovery before it accepts.
  ASSERT_TRUE(eventually(
      [&] {
        auto now = cubby_->workers("lmtpunix");
        return !now.empty() && std::find(before.begin(), before.end(), now[0]) == before.end();
      },
      10s))
      << "no new lmtpunix worker";

  for (const char* who : {"alice", "bob"}) {
    auto rows = cubby_->messages(who);
    ASSERT_TRUE(rows);
    EXPECT_TRUE(rows->empty()) << who << " has " << rows->size() << " message(s)";
    EXPECT_TRUE(CubbyInstance::message_files(cubby_->spool(), who).empty()) << who;
  }

  LmtpClient again = unix_client();
  ASSERT_EQ(again.read_reply().code, 220);  // this worker has finished its recovery
  auto stage = CubbyInstance::stage_files(cubby_->spool());
  EXPECT_TRUE(stage.empty()) << stage.size()
                             << " stage file(s) left, first: " << (stage.empty() ? "" : stage[0]);
  ASSERT_EQ(again.command("LHLO e2e.client").code, 250);
  const std::string next = test_message("after-the-kill@example.org");
  ASSERT_EQ(again.deliver(kSender, {"alice@e2e.test", "bob@e2e.test"}, next, /*greet=*/false), "");
  ASSERT_TRUE(cubby_->wait_settled());
  for (const char* who : {"alice", "bob"}) {
    auto rows = cubby_->messages(who);
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows->size(), 1u) << who;
    EXPECT_EQ((*rows)[0].uid, 1) << who;
    auto stored = read_file(CubbyInstance::message_file(cubby_->spool(), who, 1));
    ASSERT_TRUE(stored) << who;
    EXPECT_EQ(check_stored(*stored, kSender, "[unix socket]", next), "") << who;
  }
  expect_check_passes();
}

TEST_F(CrashE2e, AbruptKillOfEveryProcessKeepsEveryAcknowledgedMessage) {
  const std::vector<std::string> users = {"alice", "bob", "carol"};
  ASSERT_NO_FATAL_FAILURE(start(users));

  // 20 transactions, each to two or three of the users, all acknowledged.
  struct Sent {
    std::string content;
    std::vector<std::string> users;
  };
  std::vector<Sent> sent;
  LmtpClient c = unix_client();
  for (int i = 0; i < 20; ++i) {
    Sent s;
    s.content = test_message("acked-" + std::to_string(i) + "@example.org", 10 + i);
    if (i % 3 == 0) {
      s.users = users;
    } else if (i % 3 == 1) {
      s.users = {"alice", "bob"};
    } else {
      s.users = {"bob", "carol"};
    }
    std::vector<std::string> rcpts;
    for (const auto& u : s.users) rcpts.push_back(u + "@e2e.test");
    ASSERT_EQ(c.deliver(kSender, rcpts, s.content, /*greet=*/i == 0), "") << "message " << i;
    sent.push_back(std::move(s));
  }
  std::map<std::string, std::vector<MessageRow>> before;
  for (const auto& u : users) {
    auto rows = cubby_->messages(u);
    ASSERT_TRUE(rows) << u;
    before[u] = *rows;
  }
  // No clean stop: the committer's checkpoint may not have run, stage files may be pending.
  cubby_->crash();
  c.close();

  ASSERT_NO_FATAL_FAILURE(start({}));  // a new master and new workers on the same directories
  std::map<std::string, int64_t> uid_of_next;
  for (const auto& u : users) {
    SCOPED_TRACE("mailbox user/" + u);
    auto rows = cubby_->messages(u);
    ASSERT_TRUE(rows);
    EXPECT_EQ(*rows, before[u]) << "the index changed across the crash";
    // Each acknowledged message: present, byte-exact, its GUID unchanged.
    size_t k = 0;
    for (const auto& s : sent) {
      if (std::find(s.users.begin(), s.users.end(), u) == s.users.end()) continue;
      ASSERT_LT(k, rows->size()) << "missing messages";
      const MessageRow& row = (*rows)[k++];
      EXPECT_EQ(row.uid, static_cast<int64_t>(k));
      auto stored = read_file(CubbyInstance::message_file(cubby_->spool(), u, row.uid));
      ASSERT_TRUE(stored) << "uid " << row.uid << " has no file";
      EXPECT_EQ(check_stored(*stored, kSender, "[unix socket]", s.content), "")
          << "uid " << row.uid;
      EXPECT_EQ(guid_of(*stored), row.guid) << "uid " << row.uid;
    }
    EXPECT_EQ(k, rows->size());
    uid_of_next[u] = static_cast<int64_t>(rows->size()) + 1;
  }
  ASSERT_TRUE(cubby_->wait_settled());
  expect_check_passes();

  // New deliveries continue above the old UIDs.
  LmtpClient d = unix_client();
  const std::string next = test_message("after-restart@example.org");
  std::vector<std::string> rcpts;
  for (const auto& u : users) rcpts.push_back(u + "@e2e.test");
  ASSERT_EQ(d.deliver(kSender, rcpts, next), "");
  ASSERT_TRUE(cubby_->wait_settled());
  for (const auto& u : users) {
    auto rows = cubby_->messages(u);
    ASSERT_TRUE(rows);
    ASSERT_FALSE(rows->empty());
    EXPECT_EQ(rows->back().uid, uid_of_next[u]) << u;
    EXPECT_GT(rows->back().uid, before[u].back().uid) << u;
  }
  expect_check_passes();
}

}  // namespace
}  // namespace cubby::e2e
