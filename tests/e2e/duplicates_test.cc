// End-to-end duplicate suppression: the same message (Message-ID and Date) is stored once per
// mailbox across connections, workers and a restart, each RCPT still answered 250; recipients of
// one transaction reaching one mailbox are folded; pruning the marks and messages without a
// Message-ID (a generated one is never the same) are delivered again.
#include "tests/e2e/fixture.h"
#include "tests/e2e/transaction.h"

namespace cubby::e2e {
namespace {

using DuplicatesE2e = CubbyTest;

const std::string kMessage =
    "Message-ID: <retry@example.org>\r\nDate: Tue, 15 Jul 2026 12:00:00 +0000\r\n"
    "Subject: retried\r\n\r\nbody\r\n";

void expect_all_250(const Transaction& t) {
  ASSERT_EQ(static_cast<int>(t.final.size()), t.accepted());
  for (const auto& r : t.final) EXPECT_EQ(r.code, 250) << r.text();
}

TEST_F(DuplicatesE2e, AcrossConnectionsWorkersAndARestart) {
  ASSERT_NO_FATAL_FAILURE(start({"alice", "bob"}));
  {
    LmtpClient unix_c = unix_client();
    ASSERT_NO_FATAL_FAILURE(expect_all_250(run_transaction(unix_c, "s@x", {"alice@x"}, kMessage)));
  }
  {
    // Another worker (the TCP service), another connection: the retry is suppressed.
    LmtpClient tcp = tcp_client(cubby_->tcp_port());
    ASSERT_NO_FATAL_FAILURE(
        expect_all_250(run_transaction(tcp, "s@x", {"alice@x", "bob@x"}, kMessage)));
  }
  EXPECT_EQ(cubby_->messages("alice")->size(), 1u);
  EXPECT_EQ(cubby_->messages("bob")->size(), 1u);
  EXPECT_NE(cubby_->log().find("dupelim: eliminated duplicate message"), std::string::npos);

  ASSERT_TRUE(cubby_->stop().has_value());
  ASSERT_FALSE(cubby_->start());
  {
    LmtpClient c = unix_client();
    ASSERT_NO_FATAL_FAILURE(
        expect_all_250(run_transaction(c, "s@x", {"alice@x", "Bob@x", "bob@x"}, kMessage)));
  }
  EXPECT_EQ(cubby_->messages("alice")->size(), 1u);
  EXPECT_EQ(cubby_->messages("bob")->size(), 1u);

  // Once the marks are pruned the message is new again.
  auto prune = cubby_->ctl({"duplicates", "prune", "--days", "0"});
  ASSERT_EQ(prune.exit_code, 0) << prune.describe();
  {
    LmtpClient c = unix_client();
    ASSERT_NO_FATAL_FAILURE(expect_all_250(run_transaction(c, "s@x", {"alice@x"}, kMessage)));
  }
  EXPECT_EQ(cubby_->messages("alice")->size(), 2u);
  ASSERT_TRUE(cubby_->wait_settled());
  expect_check_passes();
}

TEST_F(DuplicatesE2e, OneTransactionFoldsRepeatedRecipients) {
  ASSERT_NO_FATAL_FAILURE(start({"bob"}));
  LmtpClient c = unix_client();
  const std::string fresh = "Subject: no message-id\r\n\r\nbody\r\n";
  Transaction t = run_transaction(c, "s@x", {"bob@x", "Bob@x", "BOB@X", "bob+nowhere@x"}, fresh);
  ASSERT_NO_FATAL_FAILURE(expect_all_250(t));
  EXPECT_EQ(t.final.size(), 4u);
  EXPECT_EQ(cubby_->messages("bob")->size(), 1u);
  // Without a Message-ID each transaction gets a generated one: sent again, stored again.
  Transaction again = run_transaction(c, "s@x", {"bob@x"}, fresh, false);
  ASSERT_NO_FATAL_FAILURE(expect_all_250(again));
  EXPECT_EQ(cubby_->messages("bob")->size(), 2u);
}

TEST_F(DuplicatesE2e, SuppressionOff) {
  ASSERT_NO_FATAL_FAILURE(start({"bob"}, {"duplicatesuppression: no"}));
  LmtpClient c = unix_client();
  ASSERT_NO_FATAL_FAILURE(expect_all_250(run_transaction(c, "s@x", {"bob@x", "bob@x"}, kMessage)));
  ASSERT_NO_FATAL_FAILURE(expect_all_250(run_transaction(c, "s@x", {"bob@x"}, kMessage, false)));
  EXPECT_EQ(cubby_->messages("bob")->size(), 3u);
}

}  // namespace
}  // namespace cubby::e2e
