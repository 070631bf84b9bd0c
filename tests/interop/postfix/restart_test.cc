// Cubby going away and coming back while Postfix has a queue of mail for it: Postfix defers
// what it could not hand over, retries, and in the end every message is in every mailbox exactly
// once: none lost (a 250 only after the message is durable) and none twice (no message stored
// without its 250 reaching Postfix, even when Cubby stops in the middle of a queue run).
#include "tests/interop/postfix/fixture.h"

namespace cubby::interop {
namespace {

TEST_F(PostfixInterop, CubbyRestartedDuringAQueueRunGetsEveryMessageExactlyOnce) {
  ASSERT_NO_FATAL_FAILURE(start_cubby({"alice", "bob"}));
  auto& pf = postfix();
  pf.set("local_transport", lmtp_unix());
  pf.set("local_recipient_maps", "");
  ASSERT_NO_FATAL_FAILURE(start_postfix());

  // Cubby is down while the messages are queued: Postfix defers them.
  ASSERT_TRUE(cubby_->stop()) << "Cubby did not stop";
  const int kMessages = 200;
  std::vector<Submission> messages;
  for (int i = 1; i <= kMessages; ++i) {
    messages.push_back({"sender@cubby.test",
                        {"alice@cubby.test", "bob@cubby.test"},
                        interop_message("r" + std::to_string(i) + "@ix")});
  }
  ASSERT_EQ(pf.smtp(messages), "");
  const std::string deferred =
      R"(postfix/lmtp\[\d+\]: \w+: to=<(alice|bob)@cubby\.test>, .*status=deferred )";
  ASSERT_FALSE(pf.wait_log(deferred, 1, 30s).empty()) << "Postfix deferred nothing";
  EXPECT_EQ(CubbyInstance::message_files(cubby_->spool(), "alice").size(), 0u);

  // Cubby comes back; in the middle of the queue run it is stopped (SIGTERM: transactions under
  // way finish, the rest are refused) and started again.
  auto e = cubby_->start();
  ASSERT_FALSE(e) << *e;
  pf.postqueue({"-f"});
  ASSERT_TRUE(wait_messages("alice", 20, 60s)) << pf.postqueue({"-p"}).out;
  const size_t deferred_before = pf.log_lines(deferred).size();
  ASSERT_TRUE(cubby_->stop()) << "Cubby did not stop";
  const size_t at_restart = CubbyInstance::message_files(cubby_->spool(), "alice").size();
  EXPECT_LT(at_restart, static_cast<size_t>(kMessages))
      << "the queue run was over before Cubby stopped: the restart tested nothing";
  if (at_restart < static_cast<size_t>(kMessages)) {
    EXPECT_GT(pf.wait_log(deferred, deferred_before + 1, 30s).size(), deferred_before)
        << "Postfix deferred nothing while Cubby was down";
  }
  e = cubby_->start();
  ASSERT_FALSE(e) << *e;

  ASSERT_TRUE(pf.wait_queue_empty(120s)) << pf.postqueue({"-p"}).out;
  for (const std::string user : {"alice", "bob"}) {
    auto counts = id_counts(user);
    EXPECT_EQ(counts.size(), static_cast<size_t>(kMessages)) << user << ": messages missing";
    for (const auto& [id, n] : counts)
      EXPECT_EQ(n, 1) << user << ": " << id << " stored " << n << " times";
  }
  EXPECT_EQ(
      pf.log_lines(R"(postfix/lmtp\[\d+\]: \w+: to=<alice@cubby\.test>, .*status=sent \(250 )")
          .size(),
      static_cast<size_t>(kMessages));
  expect_check_passes();
}

}  // namespace
}  // namespace cubby::interop
