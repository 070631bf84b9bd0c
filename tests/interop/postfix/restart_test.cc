// Cubby going away and coming back while Postfix has a queue of mail for it: Postfix defers
// what it could not hand over, retries, and in the end every message is in every mailbox.
//
// Stopped cleanly (SIGTERM: transactions under way finish and get their replies), Cubby must
// store every message exactly once. Killed (SIGKILL), it must lose nothing; a transaction that
// was committed but whose replies never reached Postfix is sent again, and only duplicate
// suppression (issue 4) keeps the second copy out of the mailbox, so exactly-once is required
// after a kill only once cubbyctl has its duplicates command. Until then the test reports the
// duplicates it saw.
#include <iostream>

#include "tests/interop/postfix/fixture.h"

namespace cubby::interop {
namespace {

constexpr int kMessages = 200;
const char* const kDeferred =
    R"(postfix/lmtp\[\d+\]: \w+: to=<(alice|bob)@cubby\.test>, .*status=deferred )";

class PostfixRestartInterop : public PostfixInterop {
 protected:
  void start_both() {
    ASSERT_NO_FATAL_FAILURE(start_cubby({"alice", "bob"}));
    postfix().set("local_transport", lmtp_unix());
    postfix().set("local_recipient_maps", "");
    ASSERT_NO_FATAL_FAILURE(start_postfix());
  }
  // kMessages messages over SMTP, each to alice and bob, Message-IDs <prefix><n>@ix.
  void submit(const std::string& prefix) {
    std::vector<Submission> messages;
    for (int i = 1; i <= kMessages; ++i) {
      messages.push_back({"sender@cubby.test",
                          {"alice@cubby.test", "bob@cubby.test"},
                          interop_message(prefix + std::to_string(i) + "@ix")});
    }
    ASSERT_EQ(postfix().smtp(messages), "");
  }
  // Queues the messages while Cubby is down (Postfix defers them all), then starts Cubby and
  // flushes the queue: a burst of deliveries, under way when this returns (20 arrived).
  void start_queue_run(const std::string& prefix) {
    ASSERT_TRUE(cubby_->stop()) << "Cubby did not stop";
    ASSERT_NO_FATAL_FAILURE(submit(prefix));
    ASSERT_FALSE(postfix().wait_log(kDeferred, 1, 30s).empty()) << "Postfix deferred nothing";
    EXPECT_EQ(stored("alice"), 0u);
    auto e = cubby_->start();
    ASSERT_FALSE(e) << *e;
    postfix().postqueue({"-f"});
    ASSERT_TRUE(wait_messages("alice", 20, 60s)) << postfix().postqueue({"-p"}).out;
  }
  size_t stored(const std::string& user) const {
    return CubbyInstance::message_files(cubby_->spool(), user).size();
  }
  // Every message in both mailboxes at least once; returns how many extra copies there are.
  int expect_all_delivered() {
    int extra = 0;
    for (const std::string user : {"alice", "bob"}) {
      auto counts = id_counts(user);
      EXPECT_EQ(counts.size(), static_cast<size_t>(kMessages)) << user << ": messages missing";
      for (const auto& [id, n] : counts) extra += n - 1;
      expect_listed(user);
    }
    return extra;
  }
  void expect_exactly_once() {
    for (const std::string user : {"alice", "bob"}) {
      for (const auto& [id, n] : id_counts(user)) {
        EXPECT_EQ(n, 1) << user << ": " << id << " stored " << n << " times";
      }
    }
  }
};

TEST_F(PostfixRestartInterop, CubbyRestartedDuringAQueueRunGetsEveryMessageExactlyOnce) {
  ASSERT_NO_FATAL_FAILURE(start_both());
  auto& pf = postfix();

  // Cubby is down while the messages are queued; it comes back, and in the middle of the queue
  // run it is stopped (SIGTERM) and started again.
  ASSERT_NO_FATAL_FAILURE(start_queue_run("r"));
  const size_t deferred_before = pf.log_lines(kDeferred).size();
  ASSERT_TRUE(cubby_->stop()) << "Cubby did not stop";
  const size_t at_stop = stored("alice");
  EXPECT_LT(at_stop, static_cast<size_t>(kMessages))
      << "the queue run was over before Cubby stopped: the restart tested nothing";
  if (at_stop < static_cast<size_t>(kMessages)) {
    EXPECT_GT(pf.wait_log(kDeferred, deferred_before + 1, 30s).size(), deferred_before)
        << "Postfix deferred nothing while Cubby was down";
  }
  auto e = cubby_->start();
  ASSERT_FALSE(e) << *e;

  ASSERT_TRUE(pf.wait_queue_empty(120s)) << pf.postqueue({"-p"}).out;
  expect_all_delivered();
  expect_exactly_once();
  EXPECT_EQ(
      pf.log_lines(R"(postfix/lmtp\[\d+\]: \w+: to=<alice@cubby\.test>, .*status=sent \(250 )")
          .size(),
      static_cast<size_t>(kMessages));
  expect_check_passes();
}

TEST_F(PostfixRestartInterop, CubbyKilledDuringAQueueRunLosesNothing) {
  ASSERT_NO_FATAL_FAILURE(start_both());
  auto& pf = postfix();
  ASSERT_NO_FATAL_FAILURE(start_queue_run("k"));
  cubby_->crash();  // SIGKILL to the master and every worker, mid-run
  const size_t at_kill = stored("alice");
  EXPECT_LT(at_kill, static_cast<size_t>(kMessages))
      << "the queue run was over before Cubby was killed: the kill tested nothing";
  auto e = cubby_->start();  // recovery runs in the new workers
  ASSERT_FALSE(e) << *e;

  ASSERT_TRUE(pf.wait_queue_empty(120s)) << pf.postqueue({"-p"}).out;
  const int extra = expect_all_delivered();
  auto usage = cubby_->ctl({"--help"});
  if ((usage.out + usage.err).find("duplicates") != std::string::npos) {
    expect_exactly_once();
  } else if (extra > 0) {
    // Not a failure yet: without duplicate suppression a retried transaction is stored again.
    RecordProperty("duplicates_after_kill", extra);
    std::cerr << "note: " << extra << " message(s) stored twice after the kill at " << at_kill
              << " of " << kMessages
              << ": committed, but Postfix never got the 250 and sent them again; duplicate "
                 "suppression (issue 4) will keep them out\n";
  }
  expect_check_passes();
}

}  // namespace
}  // namespace cubby::interop
