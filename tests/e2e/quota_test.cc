// End-to-end quota: refused at RCPT when the root is already over (452 4.2.2, or 552 5.2.2 with
// lmtp_over_quota_perm_failure), at DATA when the root went over meanwhile or, with
// lmtp_strict_quota, when the real message does not fit; IGNOREQUOTA; and a transaction where one
// recipient is over quota while the others are delivered as links of one inode.
#include "tests/e2e/fixture.h"
#include "tests/e2e/transaction.h"

namespace cubby::e2e {
namespace {

using QuotaE2e = CubbyTest;

std::string message(const std::string& id, size_t body_bytes = 10) {
  return "Message-ID: <" + id + ">\r\nSubject: q\r\n\r\n" + std::string(body_bytes, 'x') + "\r\n";
}

bool over_quota(const LmtpReply& r, int code, const std::string& enhanced) {
  return r.code == code && r.enhanced() == enhanced &&
         r.text().find("Over quota SESSIONID=<") != std::string::npos;
}

TEST_F(QuotaE2e, AtRcptTemporaryWithIgnorequotaAndSharedInode) {
  ASSERT_NO_FATAL_FAILURE(start({"a", "full", "b"}));
  LmtpClient c = unix_client();
  // Fill "full" to its limit and one message beyond (Cyrus's rule lets that one through).
  ASSERT_EQ(cubby_->ctl({"quota", "set", "user/full", "message=1"}).exit_code, 0);
  Transaction first = run_transaction(c, "s@x", {"full@x"}, message("q1@x"));
  ASSERT_EQ(first.final.size(), 1u);
  EXPECT_EQ(first.final[0].code, 250) << "at the limit, not over it: accepted";
  Transaction second = run_transaction(c, "s@x", {"full@x"}, message("q2@x"), false);
  ASSERT_EQ(second.final.size(), 1u);
  EXPECT_EQ(second.final[0].code, 250) << "used 1 + 0 > 1 is false";

  Transaction t = run_transaction(c, "s@x", {"a@x", "full@x", "b@x", "full@x> IGNOREQUOTA"},
                                  message("q3@x"), false);
  ASSERT_EQ(t.rcpt.size(), 4u);
  EXPECT_EQ(t.rcpt[0].code, 250);
  EXPECT_TRUE(over_quota(t.rcpt[1], 452, "4.2.2")) << t.rcpt[1].text();
  EXPECT_EQ(t.rcpt[2].code, 250);
  EXPECT_EQ(t.rcpt[3].code, 250) << "IGNOREQUOTA: " << t.rcpt[3].text();
  ASSERT_EQ(t.final.size(), 3u);
  for (const auto& r : t.final) EXPECT_EQ(r.code, 250) << r.text();
  // a, b and full share the inode of one stage file (once the checkpoint has removed it).
  ASSERT_TRUE(cubby_->wait_settled());
  auto sa = stat_file(CubbyInstance::message_file(cubby_->spool(), "a", 1));
  auto sb = stat_file(CubbyInstance::message_file(cubby_->spool(), "b", 1));
  auto sf = stat_file(CubbyInstance::message_file(cubby_->spool(), "full", 3));
  ASSERT_TRUE(sa && sb && sf);
  EXPECT_EQ(sa->st_ino, sb->st_ino);
  EXPECT_EQ(sa->st_ino, sf->st_ino);
  EXPECT_EQ(sa->st_nlink, 3u);
  auto q = cubby_->ctl({"quota", "get", "user/full", "--json"});
  EXPECT_NE(q.out.find("\"message_used\":3"), std::string::npos) << q.out;
  expect_check_passes();
}

TEST_F(QuotaE2e, AtDataWhenTheRootWentOverMeanwhile) {
  ASSERT_NO_FATAL_FAILURE(start({"alice", "bob"}));
  ASSERT_EQ(cubby_->ctl({"quota", "set", "user/alice", "message=1"}).exit_code, 0);
  LmtpClient first = unix_client();
  Transaction fill = run_transaction(first, "s@x", {"alice@x"}, message("d1@x"));
  ASSERT_EQ(fill.final.size(), 1u);
  // Connection 1 passes RCPT while alice is at her limit...
  LmtpClient c1 = unix_client();
  c1.read_reply();
  c1.command("LHLO e2e.client");
  ASSERT_EQ(c1.command("MAIL FROM:<s@x>").code, 250);
  ASSERT_EQ(c1.command("RCPT TO:<alice@x>").code, 250);
  ASSERT_EQ(c1.command("RCPT TO:<bob@x>").code, 250);
  // ...connection 2 takes her over it...
  Transaction over = run_transaction(first, "s@x", {"alice@x"}, message("d2@x"), false);
  ASSERT_EQ(over.final.size(), 1u);
  ASSERT_EQ(over.final[0].code, 250);
  // ...so connection 1's message is refused for alice at DATA, and bob still gets it.
  ASSERT_EQ(c1.command("DATA").code, 354);
  ASSERT_TRUE(c1.send_data(message("d3@x")));
  auto replies = c1.read_replies(2);
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_TRUE(over_quota(replies[0], 452, "4.2.2")) << replies[0].text();
  EXPECT_EQ(replies[1].code, 250);
  EXPECT_EQ(cubby_->messages("alice")->size(), 2u);
  EXPECT_EQ(cubby_->messages("bob")->size(), 1u);
}

TEST_F(QuotaE2e, StrictAndPermanentAtRcptAndAtData) {
  ASSERT_NO_FATAL_FAILURE(start({"alice", "bob"}, {"lmtp_strict_quota: yes",
                                                   "lmtp_over_quota_perm_failure: yes",
                                                   "quotawarn: 40"}));
  ASSERT_EQ(cubby_->ctl({"quota", "set", "user/alice", "storage=2"}).exit_code, 0);  // 2 KiB
  LmtpClient c = unix_client();
  // SIZE= is counted at RCPT.
  Transaction declared = run_transaction(c, "s@x> SIZE=5000", {"alice@x", "bob@x"},
                                         message("s1@x", 4000));
  ASSERT_EQ(declared.rcpt.size(), 2u);
  EXPECT_TRUE(over_quota(declared.rcpt[0], 552, "5.2.2")) << declared.rcpt[0].text();
  EXPECT_EQ(declared.rcpt[1].code, 250);
  // Without SIZE= the real size is counted at delivery; bob shares nothing with a refusal.
  Transaction real = run_transaction(c, "s@x", {"alice@x", "bob@x"}, message("s2@x", 3000), false);
  ASSERT_EQ(real.rcpt[0].code, 250);
  ASSERT_EQ(real.final.size(), 2u);
  EXPECT_TRUE(over_quota(real.final[0], 552, "5.2.2")) << real.final[0].text();
  EXPECT_EQ(real.final[1].code, 250);
  // A message that fits is delivered; IGNOREQUOTA takes one past the limit.
  Transaction fits = run_transaction(c, "s@x", {"alice@x"}, message("s3@x", 1000), false);
  ASSERT_EQ(fits.final.size(), 1u);
  EXPECT_EQ(fits.final[0].code, 250);
  // ~1.1 KiB of 2: past quotawarn (40%), logged once.
  EXPECT_NE(cubby_->log().find("quota: root user.alice is at "), std::string::npos);
  Transaction ignored = run_transaction(c, "s@x> SIZE=5000", {"alice@x> IGNOREQUOTA"},
                                        message("s4@x", 3000), false);
  ASSERT_EQ(ignored.final.size(), 1u);
  EXPECT_EQ(ignored.final[0].code, 250);
  EXPECT_EQ(cubby_->messages("alice")->size(), 2u);
  EXPECT_EQ(cubby_->messages("bob")->size(), 2u);
}

}  // namespace
}  // namespace cubby::e2e
