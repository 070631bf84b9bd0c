// Postfix's LMTP_README mechanisms for local mail, against a real Postfix: mailbox_transport
// (local(8) expands aliases, then hands each recipient to lmtp(8)), local_transport (no local(8):
// one LMTP transaction for many recipients, so one stored file) and fallback_transport (only
// users without a UNIX account go to Cubby).
#include <pwd.h>

#include <cstdio>
#include <set>

#include "tests/e2e/stored_message.h"
#include "tests/interop/postfix/fixture.h"

namespace cubby::interop {
namespace {

using Counts = std::map<std::string, int>;

TEST_F(PostfixInterop, MailboxTransportDeliversWhatLocalExpandsFromAliases) {
  // root and daemon are UNIX accounts on every Debian system, so the aliases point at them, as
  // aliases usually point at accounts; carol has no account and reaches Cubby all the same.
  ASSERT_NE(::getpwnam("root"), nullptr);
  ASSERT_NE(::getpwnam("daemon"), nullptr);
  ASSERT_NO_FATAL_FAILURE(expect_no_unix_account("carol"));
  ASSERT_NO_FATAL_FAILURE(start_cubby({"root", "daemon", "carol"}));
  write_table("aliases", "postmaster: root\nsupport: root, daemon\n");
  postfix().set("mailbox_transport", lmtp_unix());
  // Cubby users without a UNIX account are accepted from a table of their own.
  postfix().set("local_recipient_maps",
                "proxy:unix:passwd.byname $alias_maps " + write_table("cubby_users", "carol ok\n"));
  ASSERT_NO_FATAL_FAILURE(start_postfix());
  auto& pf = postfix();

  // sendmail: an alias with two members; SMTP: an alias with one, an account, a Cubby-only user.
  auto sent = pf.sendmail("sender@cubby.test", {"support@cubby.test"}, interop_message("m1@ix"));
  ASSERT_EQ(sent.exit_code, 0) << sent.describe();
  ASSERT_EQ(pf.smtp({{"sender@cubby.test", {"postmaster@cubby.test"}, interop_message("m2@ix")},
                     {"sender@cubby.test", {"daemon@cubby.test"}, interop_message("m3@ix")},
                     {"sender@cubby.test", {"carol@cubby.test"}, interop_message("m4@ix")}}),
            "");
  ASSERT_TRUE(pf.wait_queue_empty(30s)) << pf.postqueue({"-p"}).out;

  EXPECT_EQ(id_counts("root"), (Counts{{"m1@ix", 1}, {"m2@ix", 1}}));
  EXPECT_EQ(id_counts("daemon"), (Counts{{"m1@ix", 1}, {"m3@ix", 1}}));
  // local(8) hands mail for a name without a UNIX account to mailbox_transport too.
  EXPECT_EQ(id_counts("carol"), (Counts{{"m4@ix", 1}}));
  EXPECT_EQ(
      pf.log_lines(R"(postfix/local\[\d+\]: \w+: passing <root@cubby\.test> to transport=lmtp)")
          .size(),
      2u);
  const std::string relay = regex_escape("[" + cubby_->socket_path() + "]");
  EXPECT_EQ(pf.log_lines("to=<root@cubby\\.test>, orig_to=<support@cubby\\.test>, relay=[^,]*" +
                         relay + ".*status=sent \\(250 2\\.1\\.5 ")
                .size(),
            1u);
  EXPECT_EQ(pf.log_lines("to=<daemon@cubby\\.test>, orig_to=<support@cubby\\.test>, relay=[^,]*" +
                         relay + ".*status=sent \\(250 2\\.1\\.5 ")
                .size(),
            1u);
  // local(8) hands over one recipient at a time: root's and daemon's copies of m1 came in two
  // LMTP transactions, so they are two files, not one hard-linked file.
  const std::string root_m1 = file_with_id(mailbox_dir("root"), "m1@ix");
  const std::string daemon_m1 = file_with_id(mailbox_dir("daemon"), "m1@ix");
  ASSERT_FALSE(root_m1.empty() || daemon_m1.empty());
  EXPECT_NE(inode_of(root_m1), inode_of(daemon_m1));
  // Nothing went to local(8)'s own mailboxes.
  EXPECT_FALSE(e2e::stat_file(pf.mail_spool() + "/root"));
  expect_check_passes();
}

TEST_F(PostfixInterop, LocalTransportSendsAHundredRecipientsInOneLmtpTransaction) {
  std::vector<std::string> users;
  std::string recipients_table;
  for (int i = 1; i <= 100; ++i) {
    char name[8];
    snprintf(name, sizeof name, "u%03d", i);
    users.push_back(name);
    recipients_table += std::string(name) + " ok\n";
  }
  ASSERT_NO_FATAL_FAILURE(start_cubby(users));
  auto& pf = postfix();
  pf.set("local_transport", lmtp_unix());
  // The limit that counts is the one of the transport named in master.cf: "lmtp".
  pf.set("lmtp_destination_recipient_limit", "300");
  // Without local(8), smtpd must learn Cubby's users from a table of its own.
  pf.set("local_recipient_maps", write_table("recipients", recipients_table));
  ASSERT_NO_FATAL_FAILURE(start_postfix());

  std::vector<std::string> rcpts;
  for (const auto& u : users) rcpts.push_back(u + "@cubby.test");
  ASSERT_EQ(pf.smtp({{"sender@cubby.test", rcpts, interop_message("hundred@ix", 200)}}), "");
  ASSERT_TRUE(pf.wait_queue_empty(30s)) << pf.postqueue({"-p"}).out;

  std::set<ino_t> inodes;
  for (const auto& u : users) {
    ASSERT_EQ(id_counts(u), (Counts{{"hundred@ix", 1}})) << u;
    expect_listed(u);
    inodes.insert(inode_of(CubbyInstance::message_file(cubby_->spool(), u, 1)));
  }
  EXPECT_EQ(inodes.size(), 1u) << "the 100 files are not one inode";
  std::string error;
  auto by_guid = index_rows_by_guid(cubby_->root() + "/lib/cubby.sqlite", &error);
  ASSERT_TRUE(error.empty()) << error;
  ASSERT_EQ(by_guid.size(), 1u);
  EXPECT_EQ(by_guid.begin()->second.rows, 100);
  EXPECT_EQ(by_guid.begin()->second.stages, 1) << "the 100 rows name more than one stage file";
  EXPECT_EQ(
      pf.log_lines(R"(postfix/qmgr\[\d+\]: \w+: from=<sender@cubby\.test>.* nrcpt=100 )").size(),
      1u);
  EXPECT_EQ(
      pf.log_lines(
            R"(postfix/lmtp\[\d+\]: \w+: to=<u\d+@cubby\.test>, .*status=sent \(250 2\.1\.5 )")
          .size(),
      100u);
  expect_check_passes();

  // LMTP_README's local_destination_recipient_limit does not govern local_transport = lmtp:...:
  // with only that set, lmtp's limit is the default 50, and the same message arrives in two
  // transactions (two stage files, two inodes).
  pf.unset("lmtp_destination_recipient_limit");
  pf.set("local_destination_recipient_limit", "300");
  ASSERT_FALSE(pf.restart());
  ASSERT_EQ(pf.smtp({{"sender@cubby.test", rcpts, interop_message("fifty@ix", 200)}}), "");
  ASSERT_TRUE(pf.wait_queue_empty(30s)) << pf.postqueue({"-p"}).out;
  inodes.clear();
  for (const auto& u : users) {
    const std::string path = file_with_id(mailbox_dir(u), "fifty@ix");
    ASSERT_FALSE(path.empty()) << u;
    inodes.insert(inode_of(path));
  }
  EXPECT_EQ(inodes.size(), 2u);
  const std::string hundred = by_guid.begin()->first;
  by_guid = index_rows_by_guid(cubby_->root() + "/lib/cubby.sqlite", &error);
  ASSERT_TRUE(error.empty()) << error;
  ASSERT_EQ(by_guid.count(hundred), 1u);
  EXPECT_EQ(by_guid[hundred].rows, 100);
  EXPECT_EQ(by_guid[hundred].stages, 1);
  // The two transactions of the second message store the same bytes, one GUID, unless they fall
  // in two seconds: Cubby's Received: header ends with the time of its transaction (on a loaded
  // machine the first of 50 recipients can take a second). Either way: 100 rows, two stage files.
  by_guid.erase(hundred);
  ASSERT_GE(by_guid.size(), 1u);
  ASSERT_LE(by_guid.size(), 2u);
  int rows = 0, stages = 0;
  for (const auto& [guid, r] : by_guid) {
    rows += r.rows;
    stages += r.stages;
  }
  EXPECT_EQ(rows, 100);
  EXPECT_EQ(stages, 2);
  expect_check_passes();
}

TEST_F(PostfixInterop, FallbackTransportTakesOnlyUsersWithoutAUnixAccount) {
  ASSERT_NO_FATAL_FAILURE(expect_no_unix_account("alice"));
  ASSERT_NO_FATAL_FAILURE(expect_no_unix_account("carol"));
  ASSERT_NE(::getpwnam("root"), nullptr);
  ASSERT_NO_FATAL_FAILURE(start_cubby({"alice", "carol"}));
  auto& pf = postfix();
  write_table("aliases", "postmaster: root\ninfo: carol\n");
  pf.set("fallback_transport", lmtp_unix());
  pf.set("local_recipient_maps", "");  // any local name is accepted; local(8) sorts them out
  ASSERT_NO_FATAL_FAILURE(start_postfix());

  ASSERT_EQ(pf.smtp({{"sender@cubby.test",
                      {"alice@cubby.test", "info@cubby.test", "root@cubby.test"},
                      interop_message("f1@ix")}}),
            "");
  ASSERT_TRUE(pf.wait_queue_empty(30s)) << pf.postqueue({"-p"}).out;

  EXPECT_EQ(id_counts("alice"), (Counts{{"f1@ix", 1}}));
  EXPECT_EQ(id_counts("carol"), (Counts{{"f1@ix", 1}}));  // through the alias
  // root has an account: local(8) delivered to its own mailbox (in the test's spool directory).
  auto mbox = e2e::read_file(pf.mail_spool() + "/root");
  ASSERT_TRUE(mbox) << "no local mailbox for root";
  EXPECT_NE(mbox->find("Message-ID: <f1@ix>"), std::string::npos);
  EXPECT_EQ(
      pf.log_lines(R"(to=<root@cubby\.test>, relay=local, .*status=sent \(delivered to mailbox\))")
          .size(),
      1u);
  EXPECT_EQ(
      pf.log_lines(R"(to=<alice@cubby\.test>, relay=[^,]*\[/.*status=sent \(250 2\.1\.5 )").size(),
      1u);
  expect_check_passes();
}

}  // namespace
}  // namespace cubby::interop
