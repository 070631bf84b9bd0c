// Tests of deliver's command line (Cyrus's options and refusals) and of the envelope it implies:
// recipient addresses with -m, the MAIL FROM path, xtext (deliver_options.h).
#include "server/deliver/deliver_options.h"

#include <gtest/gtest.h>

namespace cubby::deliver {
namespace {

// Parses `args` as deliver's argv (argv[0] is added).
Result<DeliverOptions, UsageError> parse(std::vector<std::string> args) {
  args.insert(args.begin(), "deliver");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return parse_deliver_options(static_cast<int>(args.size()), argv.data());
}

std::string refusal(std::vector<std::string> args) {
  auto r = parse(std::move(args));
  return r.ok() ? "(accepted)" : r.error().reason;
}

TEST(DeliverOptions, DefaultsAndOperands) {
  auto o = parse({"alice", "bob@example.com"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->config_path, "/etc/cubby/imapd.conf");
  EXPECT_FALSE(o->lmtp_mode);
  EXPECT_FALSE(o->debug);
  EXPECT_FALSE(o->ignore_quota);
  EXPECT_FALSE(o->return_path);
  EXPECT_FALSE(o->mailbox);
  EXPECT_FALSE(o->auth_id);
  EXPECT_EQ(o->userids, (std::vector<std::string>{"alice", "bob@example.com"}));
}

TEST(DeliverOptions, ShortOptions) {
  auto o = parse({"-C", "/etc/x.conf", "-d", "-e", "-D", "-q", "-r", "bob@example.org", "-m",
                  "Work", "-a", "carol", "alice"});
  ASSERT_TRUE(o.ok()) << o.error().reason;
  EXPECT_EQ(o->config_path, "/etc/x.conf");
  EXPECT_TRUE(o->debug);
  EXPECT_TRUE(o->ignore_quota);
  EXPECT_EQ(o->return_path, "bob@example.org");
  EXPECT_EQ(o->mailbox, "Work");
  EXPECT_EQ(o->auth_id, "carol");
  EXPECT_EQ(o->userids, std::vector<std::string>{"alice"});
}

TEST(DeliverOptions, FIsAnotherNameForR) {
  auto o = parse({"-f", "bob@example.org", "alice"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->return_path, "bob@example.org");
  // The last one wins, as with Cyrus's getopt loop.
  o = parse({"-f", "first@example.org", "-r", "second@example.org", "alice"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->return_path, "second@example.org");
}

TEST(DeliverOptions, LongOptions) {
  auto o = parse({"--auth-id=carol", "--mailbox", "Lists/cubby", "--ignore-quota",
                  "--return-path=<>", "--debug", "alice"});
  ASSERT_TRUE(o.ok()) << o.error().reason;
  EXPECT_EQ(o->auth_id, "carol");
  EXPECT_EQ(o->mailbox, "Lists/cubby");
  EXPECT_TRUE(o->ignore_quota);
  EXPECT_EQ(o->return_path, "<>");
  EXPECT_TRUE(o->debug);
  o = parse({"--lmtp"});
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->lmtp_mode);
}

TEST(DeliverOptions, OptionsMayFollowOperandsUntilDoubleDash) {
  auto o = parse({"alice", "-m", "Work", "bob"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->mailbox, "Work");
  EXPECT_EQ(o->userids, (std::vector<std::string>{"alice", "bob"}));
  o = parse({"--", "-odd-user"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->userids, std::vector<std::string>{"-odd-user"});
}

TEST(DeliverOptions, LmtpModeNeedsNoRecipient) {
  auto o = parse({"-e", "-l"});
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->lmtp_mode);
  EXPECT_TRUE(o->userids.empty());
}

TEST(DeliverOptions, AnEmptyMailboxIsNoMailbox) {
  // Postfix's `-m ${extension}` for an address without an extension.
  auto o = parse({"-m", "", "alice"});
  ASSERT_TRUE(o.ok());
  EXPECT_FALSE(o->mailbox);
  // ...but it still counts as the one -m allowed.
  EXPECT_EQ(refusal({"-m", "", "-m", "Work", "alice"}), "deliver: multiple -m options");
}

TEST(DeliverOptions, Refusals) {
  EXPECT_EQ(refusal({}), "");  // no userid, no -m: just the usage
  EXPECT_EQ(refusal({"-m", ""}), "");
  EXPECT_EQ(refusal({"-m", "a", "-m", "b", "alice"}), "deliver: multiple -m options");
  EXPECT_EQ(refusal({"-a", "x", "--auth-id=y", "alice"}), "deliver: multiple -a options");
  EXPECT_EQ(refusal({"-E", "3600"}), "deliver: 'E' option no longer supported");
  EXPECT_EQ(refusal({"-F", "\\Flagged", "alice"}), "deliver: 'F' option no longer supported");
  EXPECT_EQ(refusal({"-x", "alice"}), "deliver: unknown option: -x");
  EXPECT_EQ(refusal({"--bogus", "alice"}), "deliver: unknown option: --bogus");
  EXPECT_EQ(refusal({"alice", "-m"}), "deliver: option requires an argument: -m");
  EXPECT_EQ(refusal({"alice", "--mailbox"}), "deliver: option requires an argument: --mailbox");
}

TEST(DeliverOptions, LineBreaksCannotReachTheWire) {
  EXPECT_EQ(refusal({"alice\r\nRCPT TO:<root>"}), "deliver: line break in a userid");
  EXPECT_EQ(refusal({"-r", "a@b\n", "alice"}), "deliver: line break in the return path");
  EXPECT_EQ(refusal({"-m", "x\ry", "alice"}), "deliver: line break in the mailbox");
  EXPECT_EQ(refusal({"-a", "x\n", "alice"}), "deliver: line break in the auth-id");
}

TEST(DeliverOptions, UsageLooksLikeCyrus) {
  const std::string u = deliver_usage();
  EXPECT_EQ(u.rfind("421-4.3.0 usage: deliver ", 0), 0u) << u;
  EXPECT_NE(u.find("\n421 4.3.0 Cubby "), std::string::npos) << u;
}

TEST(DeliverRecipients, UseridsAsGiven) {
  DeliverOptions o;
  o.userids = {"alice", "bob@example.com"};
  EXPECT_EQ(recipient_addresses(o, ""), (std::vector<std::string>{"alice", "bob@example.com"}));
}

TEST(DeliverRecipients, MailboxBecomesTheDetailBeforeTheDomain) {
  DeliverOptions o;
  o.userids = {"alice", "bob@example.com", "carol@a@b"};
  o.mailbox = "Lists/cubby";
  EXPECT_EQ(recipient_addresses(o, "bb"),
            (std::vector<std::string>{"alice+Lists/cubby", "bob+Lists/cubby@example.com",
                                      "carol+Lists/cubby@a@b"}));
}

TEST(DeliverRecipients, MailboxAloneGoesToPostuser) {
  DeliverOptions o;
  o.mailbox = "shared/news";
  EXPECT_EQ(recipient_addresses(o, ""), std::vector<std::string>{"+shared/news"});
  EXPECT_EQ(recipient_addresses(o, "bb"), std::vector<std::string>{"bb+shared/news"});
}

TEST(DeliverEnvelope, MailFromPath) {
  EXPECT_EQ(mail_from_path("bob@example.org"), "<bob@example.org>");
  EXPECT_EQ(mail_from_path("root"), "<root>");
  EXPECT_EQ(mail_from_path("<bob@example.org>"), "<bob@example.org>");
  EXPECT_EQ(mail_from_path("<>"), "<>");
  EXPECT_EQ(mail_from_path(""), "<>");
}

TEST(DeliverEnvelope, Xtext) {
  EXPECT_EQ(encode_xtext("carol"), "carol");
  EXPECT_EQ(encode_xtext("carol@example.com"), "carol@example.com");
  EXPECT_EQ(encode_xtext("a+b=c d"), "a+2Bb+3Dc+20d");
  EXPECT_EQ(encode_xtext("\x7f\xc3\xa9"), "+7F+C3+A9");
  EXPECT_EQ(encode_xtext(""), "");
}

}  // namespace
}  // namespace cubby::deliver
