// End-to-end mailbox semantics: every address form reaching its mailbox through a real lmtpd
// (virtual domains, upper-case default domain, +detail folders and their `p` right, fuzzy matches,
// UTF-8 details, +shared and postuser addresses), under both hierarchy separators; the headers
// Cubby writes; the per-user concurrency limit across processes.
#include <unistd.h>

#include <set>

#include "store/delivery_slot.h"
#include "tests/e2e/fixture.h"
#include "tests/e2e/transaction.h"

namespace cubby::e2e {
namespace {

using MailboxE2e = CubbyTest;

struct Form {
  const char* address;
  const char* mailbox;  // external, with '/' written as {s} for the separator
};

std::string with_sep(const std::string& s, char sep) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s.compare(i, 3, "{s}") == 0) {
      out += sep;
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

class AddressForms : public CubbyTest, public testing::WithParamInterface<bool> {
 protected:
  void address_forms(bool unix_sep);
};

void AddressForms::address_forms(bool unix_sep) {
  auto& cubby = cubby_;
  const char sep = unix_sep ? '/' : '.';
  auto ctl_ok = [&](std::vector<std::string> args) {
    for (auto& a : args) a = with_sep(a, sep);
    auto r = cubby->ctl(args);
    ASSERT_EQ(r.exit_code, 0) << r.describe();
  };
  // alice lives in the default domain, bob in example.com.
  ASSERT_NO_FATAL_FAILURE(ctl_ok({"mailbox", "create", "user{s}alice"}));
  ASSERT_NO_FATAL_FAILURE(ctl_ok({"mailbox", "create", "user{s}alice{s}Work"}));
  ASSERT_NO_FATAL_FAILURE(ctl_ok({"mailbox", "create", "user{s}alice{s}Private"}));
  ASSERT_NO_FATAL_FAILURE(ctl_ok({"mailbox", "create", "user{s}alice{s}Mailing Lists"}));
  ASSERT_NO_FATAL_FAILURE(ctl_ok({"mailbox", "create", "user{s}alice{s}Entw&APw-rfe"}));
  ASSERT_NO_FATAL_FAILURE(ctl_ok({"mailbox", "create", "example.com!user{s}bob"}));
  ASSERT_NO_FATAL_FAILURE(ctl_ok({"mailbox", "create", "example.com!user{s}bob{s}Lists"}));
  ASSERT_NO_FATAL_FAILURE(ctl_ok({"mailbox", "create", "example.com!user{s}bob{s}Lists{s}cubby"}));
  ASSERT_NO_FATAL_FAILURE(ctl_ok({"mailbox", "create", "example.com!shared{s}news"}));
  for (const char* box : {"user{s}alice{s}Work", "user{s}alice{s}Mailing Lists",
                          "user{s}alice{s}Entw&APw-rfe", "example.com!user{s}bob{s}Lists{s}cubby",
                          "example.com!shared{s}news"}) {
    ASSERT_NO_FATAL_FAILURE(ctl_ok({"acl", "set", box, "anyone", "+p"}));
  }
  // Private keeps the owner-only ACL: anonymous +Private mail lands in the INBOX.

  const std::vector<Form> forms = {
      {"alice@example.org", "user{s}alice"},
      {"ALICE@EXAMPLE.ORG", "user{s}alice"},  // Cyrus 3414: upper-case default domain
      {"alice+Work@Example.Org", "user{s}alice{s}Work"},
      {"alice+work@example.org", "user{s}alice{s}Work"},  // fuzzy
      {"alice+mailing_lists@example.org", "user{s}alice{s}Mailing Lists"},  // fuzzy: _ = space
      {"alice+Private@example.org", "user{s}alice"},  // no p: the INBOX
      {"alice+Nowhere@example.org", "user{s}alice"},
      {"alice+INBOX@example.org", "user{s}alice"},
      {"alice+Entw\xc3\xbcrfe@example.org", "user{s}alice{s}Entw&APw-rfe"},  // UTF-8 detail
      {"bob@example.com", "example.com!user{s}bob"},
      {"Bob@EXAMPLE.COM", "example.com!user{s}bob"},
      {"bob+lists@example.com", "example.com!user{s}bob"},  // Lists has no p; fuzzy finds it
      {"bob+Lists{s}Cubby@example.com", "example.com!user{s}bob{s}Lists{s}cubby"},
      {"+shared{s}news@EXAMPLE.COM", "example.com!shared{s}news"},
  };
  std::vector<std::string> rcpts;
  std::map<std::string, int> expected;
  for (const auto& f : forms) {
    rcpts.push_back(with_sep(f.address, sep));
    ++expected[with_sep(f.mailbox, sep)];
  }
  LmtpClient c = unix_client();
  Transaction t = run_transaction(c, "sender@example.org> SMTPUTF8", rcpts,
                                  "Message-ID: <forms@example.org>\r\nDate: Tue, 15 Jul 2026 "
                                  "12:00:00 +0000\r\nSubject: forms\r\n\r\nbody\r\n");
  ASSERT_EQ(t.mail.code, 250) << t.mail.text();
  for (size_t i = 0; i < t.rcpt.size(); ++i) {
    EXPECT_EQ(t.rcpt[i].code, 250) << rcpts[i] << ": " << t.rcpt[i].text();
  }
  ASSERT_EQ(t.final.size(), forms.size());
  for (size_t i = 0; i < t.final.size(); ++i) {
    EXPECT_EQ(t.final[i].code, 250) << rcpts[i] << ": " << t.final[i].text();
  }
  // Recipients reaching one mailbox are folded: one message per mailbox, all one inode.
  std::set<ino_t> inodes;
  for (const auto& [mailbox, n] : expected) {
    SCOPED_TRACE(mailbox);
    std::string error;
    auto rows = cubby->mailbox_messages(mailbox, &error);
    ASSERT_TRUE(rows) << error;
    EXPECT_EQ(rows->size(), 1u);
    auto path = cubby->mailbox_path(mailbox);
    ASSERT_TRUE(path);
    auto st = stat_file(*path + "/1.");
    ASSERT_TRUE(st);
    inodes.insert(st->st_ino);
  }
  EXPECT_EQ(inodes.size(), 1u);
  for (const char* empty : {"user{s}alice{s}Private", "example.com!user{s}bob{s}Lists"}) {
    EXPECT_EQ(cubby->mailbox_messages(with_sep(empty, sep))->size(), 0u) << empty;
  }
  // Unknown forms are refused at RCPT, with Cyrus's text.
  LmtpClient u = unix_client();
  Transaction refused = run_transaction(
      u, "sender@example.org", {"carol@example.org", "bob@example.org", "alice@example.com"}, "x");
  for (const auto& r : refused.rcpt) {
    EXPECT_EQ(r.code, 550) << r.text();
    EXPECT_EQ(r.enhanced(), "5.1.1") << r.text();
  }
}

TEST_P(AddressForms, EveryFormReachesItsMailbox) {
  const bool unix_sep = GetParam();
  ASSERT_NO_FATAL_FAILURE(start({}, {std::string("unixhierarchysep: ") + (unix_sep ? "yes" : "no"),
                                     "virtdomains: userid", "defaultdomain: example.org",
                                     "lmtp_fuzzy_mailbox_match: yes"}));
  ASSERT_NO_FATAL_FAILURE(address_forms(unix_sep));
  ASSERT_TRUE(cubby_->wait_settled());
  expect_check_passes();
}

INSTANTIATE_TEST_SUITE_P(E2e, AddressForms, testing::Values(true, false),
                         [](const testing::TestParamInfo<bool>& info) {
                           return std::string(info.param ? "UnixSeparator" : "NetnewsSeparator");
                         });

TEST_F(MailboxE2e, PostuserAndCatchall) {
  ASSERT_NO_FATAL_FAILURE(start({"postmaster"}, {"postuser: bb", "lmtp_catchall_mailbox: postmaster"}));
  ASSERT_EQ(cubby_->ctl({"mailbox", "create", "shared/blah"}).exit_code, 0);
  ASSERT_EQ(cubby_->ctl({"acl", "set", "shared/blah", "anyone", "lrsp"}).exit_code, 0);
  LmtpClient c = unix_client();
  Transaction t = run_transaction(c, "s@example.org", {"bb+shared/blah@x", "nobody@x"},
                                  "Subject: x\r\n\r\nbody\r\n");
  EXPECT_EQ(t.accepted(), 2);
  ASSERT_EQ(t.final.size(), 2u);
  EXPECT_EQ(t.final[0].code, 250);
  EXPECT_EQ(t.final[1].code, 250);
  EXPECT_EQ(cubby_->mailbox_messages("shared/blah")->size(), 1u);
  EXPECT_EQ(cubby_->messages("postmaster")->size(), 1u);
}

TEST_F(MailboxE2e, StoredHeadersAsCyrusWritesThem) {
  ASSERT_NO_FATAL_FAILURE(start({"alice"}, {"maxmessagesize: 1000"}));
  LmtpClient c = unix_client();
  // No Message-ID, no Date, a Return-Path of its own, an 8-bit header value; a sender without
  // a domain.
  Transaction t = run_transaction(c, "postmaster", {"alice@x"},
                                  "Return-Path: <forged@evil.example>\r\nSubject: caf\xc3\xa9\r\n"
                                  "\r\nbody\r\n");
  ASSERT_EQ(t.final.size(), 1u);
  ASSERT_EQ(t.final[0].code, 250) << t.final[0].text();
  auto stored = read_file(CubbyInstance::message_file(cubby_->spool(), "alice", 1));
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->rfind("Return-Path: <postmaster@e2e.test>\r\nReceived: from e2e.client", 0), 0u)
      << *stored;
  EXPECT_EQ(stored->find("forged"), std::string::npos);
  EXPECT_NE(stored->find("Subject: caf\xc3\xa9\r\n"), std::string::npos);  // stored as sent
  EXPECT_NE(stored->find("\r\nMessage-ID: <cubby-lmtpd-"), std::string::npos);
  EXPECT_NE(stored->find("\r\nDate: "), std::string::npos);
  // maxmessagesize counts the stored bytes, added headers included: content that fits by itself
  // is refused once Return-Path and Received are added (one reply per recipient).
  const std::string body(1000 - 64, 'x');
  Transaction big = run_transaction(c, "s@example.org", {"alice@x", "alice@x"},
                                    "Subject: big\r\n\r\n" + body + "\r\n", false);
  ASSERT_EQ(big.final.size(), 2u);
  EXPECT_EQ(big.final[0].code, 552) << big.final[0].text();
  EXPECT_EQ(big.final[0].enhanced(), "5.2.3");
  // An invalid header and an empty Message-ID are refused: 554 5.6.0.
  for (const char* bad : {"Bad Header: x\r\n\r\nbody\r\n", "Message-ID:\r\n\r\nbody\r\n"}) {
    Transaction r = run_transaction(c, "s@example.org", {"alice@x"}, bad, false);
    ASSERT_EQ(r.final.size(), 1u);
    EXPECT_EQ(r.final[0].text(), "554 5.6.0 Message contains invalid header") << bad;
  }
  EXPECT_EQ(cubby_->messages("alice")->size(), 1u);
}

TEST_F(MailboxE2e, UserConcurrencyLimitRefusesOnlyThatUser) {
  ASSERT_NO_FATAL_FAILURE(start({"alice", "bob"}, {"lmtp_user_concurrency_limit: 1"}));
  // Another process (this test) holds alice's only slot, as a delivery in another worker would.
  auto held = store::DeliverySlot::acquire(root_.path() + "/lib", "user.alice", 1);
  ASSERT_TRUE(held.ok() && held.value());
  LmtpClient c = unix_client();
  Transaction t = run_transaction(c, "s@example.org", {"alice@x", "bob@x", "alice+x@x"},
                                  "Subject: x\r\n\r\nbody\r\n");
  ASSERT_EQ(t.final.size(), 3u);
  EXPECT_EQ(t.final[0].text(), "451 4.4.5 Too many concurrent deliveries for this user");
  EXPECT_EQ(t.final[1].code, 250);
  EXPECT_EQ(t.final[2].code, 451);
  EXPECT_EQ(cubby_->messages("alice")->size(), 0u);
  EXPECT_EQ(cubby_->messages("bob")->size(), 1u);
  held = store::DeliverySlot::acquire(root_.path() + "/lib", "user.nobody", 1);  // frees alice's
  Transaction again = run_transaction(c, "s@example.org", {"alice@x"}, "Subject: y\r\n\r\nb\r\n",
                                      false);
  ASSERT_EQ(again.final.size(), 1u);
  EXPECT_EQ(again.final[0].code, 250) << again.final[0].text();
}

}  // namespace
}  // namespace cubby::e2e
