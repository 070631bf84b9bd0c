// A real Postfix (a private instance, tests/interop/postfix/postfix_instance.h) delivering one
// message to 50 users on three back ends through the front end, with
// lmtp_destination_recipient_limit (100) above the number of recipients: Postfix makes one LMTP
// transaction (its lmtp(8) log, made verbose for the front end's address with debug_peer_list,
// shows one MAIL FROM, 50 RCPT TO and one DATA), every recipient is delivered ("status=sent" with
// the recipient's own back end's 250), and each back end holds the message as one inode.
#include <pwd.h>
#include <unistd.h>

#include "tests/interop/postfix/postfix_instance.h"
#include "tests/scaleout/scaleout_fixture.h"

namespace cubby::scaleout {
namespace {

constexpr int kRecipients = 50;

TEST_F(ScaleOut, PostfixDeliversFiftyRecipientsThroughTheFrontEndInOneTransaction) {
  std::string missing;
  if (::geteuid() != 0) {
    missing = "needs root: it starts a private Postfix (postfix start)";
  } else if (::access("/usr/sbin/postfix", X_OK) != 0 || ::getpwnam("postfix") == nullptr) {
    missing = "the postfix package is not installed (scripts/install-deps installs it)";
  }
  if (!missing.empty()) {
    if (std::getenv("CI")) GTEST_FAIL() << missing << " (not skipped under CI)";
    GTEST_SKIP() << missing;
  }
  ClusterOptions options;
  options.users = kRecipients;
  ASSERT_NO_FATAL_FAILURE(start_cluster(options));

  TempDir postfix_root;
  interop::PostfixInstance postfix(postfix_root.path());
  const std::string front = "127.0.0.1:" + std::to_string(front_port());
  postfix.set("local_transport", "lmtp:inet:" + front);
  postfix.set("local_recipient_maps", "");  // the front end decides who exists
  postfix.set("lmtp_destination_recipient_limit", std::to_string(2 * kRecipients));
  // lmtp(8) logs every command it sends to this peer ("> 127.0.0.1[127.0.0.1]:<port>: ...").
  postfix.set("debug_peer_list", "127.0.0.1");
  auto error = postfix.start();
  ASSERT_FALSE(error) << *error;

  std::vector<std::string> rcpts;
  std::vector<int> users;
  for (int u = 0; u < kRecipients; ++u) {
    rcpts.push_back(user_name(u) + "@cubby.test");
    users.push_back(u);
  }
  ASSERT_EQ(postfix.smtp({{"sender@cubby.test", rcpts, test_message("pf1")}}), "");
  ASSERT_TRUE(postfix.wait_queue_empty(60s)) << postfix.postqueue({"-p"}).out << postfix.maillog();

  const auto sent = postfix.log_lines(R"(postfix/lmtp\[[0-9]+\]: .* to=<user[0-9]+@cubby\.test>, relay=[^,]*, .*status=sent \(250 )");
  EXPECT_EQ(sent.size(), static_cast<size_t>(kRecipients)) << postfix.maillog();
  for (int u = 0; u < kRecipients; ++u) {
    // Its own back end's reply (the front end passes each recipient's reply on, in RCPT order).
    const auto own = postfix.log_lines("to=<" + user_name(u) +
                                       R"(@cubby\.test>, .*status=sent \(250 .*SESSIONID=<be)" +
                                       std::to_string(home_of(u)) + "-");
    EXPECT_EQ(own.size(), 1u) << user_name(u);
  }
  const std::string peer = R"(postfix/lmtp\[[0-9]+\]: > 127\.0\.0\.1\[127\.0\.0\.1\]:)" +
                           std::to_string(front_port()) + ": ";
  EXPECT_EQ(postfix.log_lines(peer + "MAIL FROM:").size(), 1u) << postfix.maillog();
  EXPECT_EQ(postfix.log_lines(peer + "RCPT TO:").size(), static_cast<size_t>(kRecipients));
  EXPECT_EQ(postfix.log_lines(peer + "DATA$").size(), 1u);

  expect_stored_once({{"pf1", users}}, {0, 1, 2});
  auto stopped = postfix.stop();
  EXPECT_FALSE(stopped) << *stopped;
}

}  // namespace
}  // namespace cubby::scaleout
