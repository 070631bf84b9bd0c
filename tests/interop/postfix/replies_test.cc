// Cubby's per-recipient refusals as Postfix acts on them: a 5xx (unknown user, over quota with
// lmtp_over_quota_perm_failure) bounces that recipient and the sender gets Postfix's
// non-delivery notice; a 4xx (over quota) defers it, the message stays in Postfix's queue with
// Cubby's reply as the reason, and arrives once the cause is gone. The other recipients of the
// same transaction are delivered either way.
#include "tests/e2e/stored_message.h"
#include "tests/interop/postfix/fixture.h"

namespace cubby::interop {
namespace {

using Counts = std::map<std::string, int>;

// True if cubbyctl's usage lists a quota command (mailbox semantics, issue 4).
bool cubbyctl_has_quota(const CubbyInstance& cubby) {
  auto r = cubby.ctl({"--help"});
  return (r.out + r.err).find("quota") != std::string::npos;
}

TEST_F(PostfixInterop, UnknownUserIsBouncedWithCubbysReplyWhileTheOtherRecipientIsDelivered) {
  ASSERT_NO_FATAL_FAILURE(start_cubby({"alice", "sender"}));
  auto& pf = postfix();
  pf.set("local_transport", lmtp_unix());
  pf.set("local_recipient_maps", "");  // smtpd accepts any local name; Cubby decides
  ASSERT_NO_FATAL_FAILURE(start_postfix());

  ASSERT_EQ(pf.smtp({{"sender@cubby.test",
                      {"alice@cubby.test", "nosuch@cubby.test"},
                      interop_message("u1@ix")}}),
            "");
  // The bounce notice goes to sender@cubby.test, that is into Cubby too; then the queue is empty.
  ASSERT_TRUE(wait_messages("sender", 1, 30s)) << pf.postqueue({"-p"}).out;
  ASSERT_TRUE(pf.wait_queue_empty(30s)) << pf.postqueue({"-p"}).out;

  EXPECT_EQ(id_counts("alice"), (Counts{{"u1@ix", 1}}));
  EXPECT_EQ(
      pf.log_lines(
            R"(to=<nosuch@cubby\.test>, relay=[^,]*, .*dsn=5\.1\.1, status=bounced \(host [^ ]* said: 550[ -].*5\.1\.1 User unknown \(in reply to RCPT TO command\)\))")
          .size(),
      1u);
  EXPECT_EQ(pf.log_lines(R"(to=<alice@cubby\.test>, .*status=sent \(250 2\.1\.5 )").size(), 1u);
  auto notices = stored_files(mailbox_dir("sender"));
  ASSERT_EQ(notices.size(), 1u);
  auto notice = e2e::read_file(notices[0].path);
  ASSERT_TRUE(notice);
  EXPECT_EQ(notice->rfind("Return-Path: <>\r\n", 0), 0u) << "a bounce has the null sender";
  EXPECT_NE(notice->find("Undelivered Mail Returned to Sender"), std::string::npos);
  EXPECT_NE(notice->find("<nosuch@cubby.test>"), std::string::npos);
  EXPECT_NE(notice->find("550 5.1.1"), std::string::npos);
  expect_check_passes();
}

TEST_F(PostfixInterop, OverQuotaDefersOn452AndBouncesOn552) {
  // The UNIX socket's service refuses over-quota recipients permanently (552), the TCP service
  // temporarily (452, the default), so one Postfix can see both through two domains.
  ASSERT_NO_FATAL_FAILURE(
      start_cubby({"full", "sender"}, {"lmtpunix_lmtp_over_quota_perm_failure: yes"}));
  if (!cubbyctl_has_quota(*cubby_)) {
    GTEST_SKIP() << "cubbyctl has no quota command yet (quota: issue 4, mailbox semantics); "
                    "cubbyctl --help: "
                 << cubby_->ctl({"--help"}).describe();
  }
  auto set_quota = [&](const std::string& kib) {
    auto r = cubby_->ctl({"quota", "set", "user/full", "STORAGE", kib});
    EXPECT_EQ(r.exit_code, 0) << "cubbyctl quota set user/full STORAGE " << kib
                              << " (if quota takes other arguments, adjust this test): "
                              << r.describe();
  };
  ASSERT_NO_FATAL_FAILURE(set_quota("1"));
  // Quota is checked as Cyrus does (used + 0 > limit): the first message fills the mailbox.
  {
    LmtpClient c;
    ASSERT_TRUE(c.connect_unix(cubby_->socket_path())) << c.error();
    ASSERT_EQ(c.deliver("sender@cubby.test", {"full@cubby.test"}, interop_message("fill@ix", 100)),
              "");
  }
  auto& pf = postfix();
  pf.set("local_transport", lmtp_unix());
  pf.set("local_recipient_maps", "");
  pf.set(
      "transport_maps",
      write_table("transport", "temp.test lmtp:[127.0.0.1]:" + std::to_string(cubby_->tcp_port()) +
                                   "\n" + "perm.test lmtp:unix:" + cubby_->socket_path() + "\n"));
  ASSERT_NO_FATAL_FAILURE(start_postfix());

  ASSERT_EQ(pf.smtp({{"sender@cubby.test", {"full@temp.test"}, interop_message("q1@ix")},
                     {"sender@cubby.test", {"full@perm.test"}, interop_message("q2@ix")}}),
            "");
  // Postfix may already have retried it (and been deferred again) by the time the log is read.
  EXPECT_GE(
      pf.wait_log(R"(to=<full@temp\.test>, .*status=deferred \(host [^ ]* said: 452 4\.2\.2 )", 1,
                  30s)
          .size(),
      1u);
  EXPECT_EQ(pf.wait_log(R"(to=<full@perm\.test>, .*status=bounced \(host [^ ]* said: 552 5\.2\.2 )",
                        1, 30s)
                .size(),
            1u);
  ASSERT_TRUE(wait_messages("sender", 1, 30s)) << "no bounce notice for full@perm.test";
  // While qmgr retries the message the listing shows it active, without the reason: poll.
  auto queue = pf.postqueue({"-p"});
  e2e::eventually(
      [&] {
        queue = pf.postqueue({"-p"});
        return queue.out.find("452 4.2.2") != std::string::npos;
      },
      10s);
  EXPECT_NE(queue.out.find("452 4.2.2"), std::string::npos) << queue.out;
  EXPECT_NE(queue.out.find("full@temp.test"), std::string::npos) << queue.out;
  EXPECT_EQ(id_counts("full"), (Counts{{"fill@ix", 1}}));

  // Nothing was lost: with room in the mailbox the deferred message arrives on the next try.
  ASSERT_NO_FATAL_FAILURE(set_quota("100000"));
  ASSERT_TRUE(pf.wait_queue_empty(30s)) << pf.postqueue({"-p"}).out;
  EXPECT_EQ(pf.wait_log(R"(to=<full@temp\.test>, .*status=sent \(250 2\.1\.5 )", 1, 30s).size(), 1u);
  EXPECT_EQ(id_counts("full"), (Counts{{"fill@ix", 1}, {"q1@ix", 1}}));
  expect_check_passes();
}

}  // namespace
}  // namespace cubby::interop
