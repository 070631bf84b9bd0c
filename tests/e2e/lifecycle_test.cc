// End-to-end connection and server lifecycle: the idle timeout closes a silent connection with
// 421, and SIGTERM lets a transaction in flight finish (every recipient gets its 250) before the
// master exits 0.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/e2e/fixture.h"

namespace cubby::e2e {
namespace {

constexpr const char* kSender = "sender@example.org";

using LifecycleE2e = CubbyTest;

TEST_F(LifecycleE2e, SilentConnectionGets421AfterTheIdleTimeoutAndIsClosed) {
  ASSERT_NO_FATAL_FAILURE(start({}, {"lmtp_idle_timeout: 2"}));
  for (bool over_unix : {true, false}) {
    SCOPED_TRACE(over_unix ? "UNIX socket" : "TCP");
    LmtpClient c = over_unix ? unix_client() : tcp_client(cubby_->tcp_port());
    ASSERT_EQ(c.read_reply().code, 220);
    c.set_timeout(6s);
    const auto t0 = std::chrono::steady_clock::now();
    LmtpReply r = c.read_reply();
    const auto waited = std::chrono::steady_clock::now() - t0;
    ASSERT_EQ(r.lines.size(), 1u) << r.text();
    EXPECT_EQ(r.lines[0], "421 4.4.1 bye idle for too long");
    EXPECT_GE(waited, 1500ms) << "the 421 came too early";
    EXPECT_LE(waited, 3500ms) << "the 421 came too late";
    EXPECT_TRUE(c.wait_closed(2s)) << "the connection stayed open after the 421";
  }
}

// A worker told to stop (SIGTERM via the master) finishes the transaction in flight: the client gets
// its per-recipient replies, then 421, and only then does everything exit. (This once failed: the
// worker's io_context ran out of work while the committer held the message.)
TEST_F(LifecycleE2e, SigtermDuringDataFinishesTheTransactionThenExitsZero) {
  ASSERT_NO_FATAL_FAILURE(start({"alice", "bob"}));
  LmtpClient c = unix_client();
  ASSERT_EQ(c.begin_transaction(kSender, {"alice@e2e.test", "bob@e2e.test"}), "");
  const std::string content = test_message("sigterm-in-data@example.org", 20000);
  const size_t half = content.size() / 2;
  DotStuffer stuffer;
  std::string wire;
  stuffer.stuff(std::string_view(content).substr(0, half), &wire);
  ASSERT_TRUE(c.send(wire)) << c.error();
  ASSERT_TRUE(eventually([&] { return !CubbyInstance::stage_files(cubby_->spool()).empty(); }, 5s))
      << "no stage file appeared while half the message was sent";

  const pid_t master = cubby_->master_pid();
  ASSERT_EQ(kill(master, SIGTERM), 0);
  // The master has begun to stop (it closes its listeners and signals the workers).
  ASSERT_TRUE(eventually([&] { return cubby_->log().find("stopping") != std::string::npos; }, 5s))
      << "the master did not log that it is stopping";
  std::this_thread::sleep_for(200ms);  // let the worker's SIGTERM arrive before the rest
  EXPECT_TRUE(process_alive(master)) << "the master exited with a transaction in flight";

  wire.clear();
  stuffer.stuff(std::string_view(content).substr(half), &wire);
  wire += stuffer.end();
  ASSERT_TRUE(c.send(wire)) << c.error();
  for (const char* who : {"alice", "bob"}) {
    LmtpReply r = c.read_reply();
    EXPECT_EQ(r.code, 250) << who << ": " << r.text();
    EXPECT_EQ(r.enhanced(), "2.1.5") << who << ": " << r.text();
  }
  // Then the session ends: 421, and the connection closes.
  LmtpReply bye = c.read_reply();
  EXPECT_EQ(bye.text(), "421 4.3.2 Shutting down");
  EXPECT_TRUE(c.wait_closed(5s));

  auto status = cubby_->wait_master(20s);
  ASSERT_TRUE(status) << "the master did not exit within 20 s of SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "master wait status " << *status;

  // Stored, durable, and the stage retired by the committer's last checkpoint.
  EXPECT_TRUE(CubbyInstance::stage_files(cubby_->spool()).empty());
  for (const char* who : {"alice", "bob"}) {
    auto rows = cubby_->messages(who);
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows->size(), 1u) << who;
    auto stored = read_file(CubbyInstance::message_file(cubby_->spool(), who, 1));
    ASSERT_TRUE(stored) << who;
    EXPECT_EQ(check_stored(*stored, kSender, "[unix socket]", content), "") << who;
  }
  expect_check_passes();
}

}  // namespace
}  // namespace cubby::e2e
