// A real Cubby (cubby-master, lmtpd, cubbyctl) delivering into a Maildir partition that a private
// Dovecot serves at the same time (docs/dovecot.md, docs/store-protocol.md "Maildir++
// partitions"): what LMTP accepted is what IMAP and POP3 return, byte for byte; Dovecot's flags,
// expunges and quota are seen by Cubby; bad Maildirs fail one recipient only.
//
// Ownership: the tests run as root and the fixture's Dovecot reads mail as "nobody"; Cubby runs as
// root (cubby_user: root), so after each delivery the test hands the partition over to the mail
// user (DovecotInstance::hand_over_partition), as a site runs Dovecot's mail processes as
// cubby_user.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>

#include "tests/e2e/instance.h"
#include "tests/e2e/lmtp_client.h"
#include "tests/interop/dovecot/dovecot_instance.h"
#include "tests/interop/dovecot/mail_clients.h"

namespace cubby::interop {
namespace {

namespace fs = std::filesystem;
using e2e::CubbyInstance;
using e2e::InstanceOptions;
using e2e::LmtpClient;
using e2e::LmtpReply;

std::string message(const std::string& id, size_t lines = 3) {
  std::string m = "From: Sender <sender@example.org>\r\nSubject: " + id + "\r\nMessage-ID: <" + id +
                  "@example.org>\r\n\r\nHello.\r\n.a line that starts with a dot\r\n";
  for (size_t i = 0; i < lines; ++i) m += "line " + std::to_string(i) + " of the body\r\n";
  return m;
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir, ec)) out.push_back(e.path().filename());
  return out;
}

class CubbyDovecot : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(root_.path().empty());
    InstanceOptions options;
    options.root = root_.path();
    options.settings = {"partitionformat: maildir"};
    cubby_ = std::make_unique<CubbyInstance>(options);
    auto error = cubby_->start();
    ASSERT_FALSE(error) << *error;
    ASSERT_EQ(::mkdir((root_.path() + "/dovecot").c_str(), 0700), 0);
  }
  void TearDown() override {
    if (HasFailure()) {
      if (dovecot_) std::cerr << "---- dovecot log ----\n" << dovecot_->log();
      if (cubby_) std::cerr << "---- cubby log ----\n" << cubby_->log();
    }
    if (dovecot_) {
      EXPECT_EQ(dovecot_->stop(), std::nullopt);
    }
    dovecot_.reset();
    if (cubby_) cubby_->stop();
    cubby_.reset();
  }
  void users(const std::vector<std::string>& names) {
    for (const auto& u : names) {
      auto e = cubby_->create_mailbox(u);
      ASSERT_FALSE(e) << *e;
    }
  }
  void start_dovecot() {
    dovecot_.emplace(root_.path() + "/dovecot", cubby_->spool());
    auto error = dovecot_->start();
    ASSERT_EQ(error, std::nullopt) << *error;
  }
  // After Cubby wrote (as root): the files go to Dovecot's mail user.
  void hand_over() {
    ASSERT_TRUE(cubby_->wait_settled());
    auto error = dovecot_->hand_over_partition();
    ASSERT_EQ(error, std::nullopt) << *error;
  }
  LmtpClient client() {
    LmtpClient c;
    EXPECT_TRUE(c.connect_unix(cubby_->socket_path())) << c.error();
    return c;
  }
  // One transaction; the RCPT replies and the DATA replies (one per accepted recipient).
  struct Replies {
    std::vector<LmtpReply> rcpt, data;
  };
  Replies transact(const std::vector<std::string>& rcpts, const std::string& content) {
    Replies out;
    LmtpClient c = client();
    c.read_reply();
    c.command("LHLO test");
    c.command("MAIL FROM:<sender@example.org>");
    size_t accepted = 0;
    for (const auto& r : rcpts) {
      out.rcpt.push_back(c.command("RCPT TO:<" + r + ">"));
      if (out.rcpt.back().ok()) ++accepted;
    }
    if (accepted == 0) return out;
    LmtpReply go = c.command("DATA");
    EXPECT_EQ(go.code, 354) << go.text();
    c.send_data(content);
    out.data = c.read_replies(accepted);
    return out;
  }
  std::string spool() { return cubby_->spool(); }
  std::string quota_json(const std::string& user) {
    return cubby_->ctl({"quota", "get", "user/" + user, "--json"}).out;
  }

  e2e::TempDir root_;
  std::unique_ptr<CubbyInstance> cubby_;
  std::optional<DovecotInstance> dovecot_;
};

// The one message file of a Maildir directory ("<spool>/alice/new"): the bytes Cubby stored (the
// message with its Return-Path and Received lines), which IMAP and POP3 must return.
std::string stored(const std::string& dir) {
  auto files = files_in(dir);
  EXPECT_EQ(files.size(), 1u) << dir;
  if (files.size() != 1) return "";
  std::ifstream in(dir + "/" + files[0], std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::optional<int64_t> json_int(const std::string& json, const std::string& key) {
  const std::string k = "\"" + key + "\":";
  size_t at = json.find(k);
  if (at == std::string::npos) return std::nullopt;
  return std::stoll(json.substr(at + k.size()));
}

TEST_F(CubbyDovecot, TenRecipientsReadByImapAndPop3OneInode) {
  std::vector<std::string> names, rcpts;
  for (int i = 0; i < 10; ++i) {
    names.push_back("u" + std::to_string(i));
    rcpts.push_back(names.back() + "@e2e.test");
  }
  ASSERT_NO_FATAL_FAILURE(users(names));
  ASSERT_NO_FATAL_FAILURE(start_dovecot());
  const std::string m = message("ten");
  LmtpClient c = client();
  ASSERT_EQ(c.deliver("sender@example.org", rcpts, m), "");
  ASSERT_NO_FATAL_FAILURE(hand_over());
  ino_t inode = 0;
  std::string first;
  for (int i = 0; i < 10; ++i) {
    auto files = files_in(spool() + "/" + names[i] + "/new");
    ASSERT_EQ(files.size(), 1u) << names[i];
    const std::string bytes = stored(spool() + "/" + names[i] + "/new");
    if (i == 0) first = bytes;
    EXPECT_EQ(bytes, first);
    EXPECT_NE(bytes.find("Subject: ten\r\n"), std::string::npos);
    EXPECT_TRUE(bytes.ends_with("\r\n\r\nHello.\r\n.a line that starts with a dot\r\n"
                                "line 0 of the body\r\nline 1 of the body\r\nline 2 of the body\r\n"));
    EXPECT_NE(files[0].find(",S=" + std::to_string(bytes.size()) + ",W=" +
                            std::to_string(bytes.size())),
              std::string::npos)
        << files[0];
    struct stat st;
    ASSERT_EQ(::stat((spool() + "/" + names[i] + "/new/" + files[0]).c_str(), &st), 0);
    if (i == 0) inode = st.st_ino;
    EXPECT_EQ(st.st_ino, inode);
    ImapClient imap(dovecot_->imap_port());
    ASSERT_TRUE(imap.login(names[i], DovecotInstance::kPassword));
    ASSERT_EQ(imap.select("INBOX"), 1);
    auto uids = imap.uids();
    ASSERT_EQ(uids.size(), 1u);
    EXPECT_EQ(imap.fetch_body(uids[0]), bytes);
  }
  Pop3Client pop(dovecot_->pop3_port());
  ASSERT_TRUE(pop.login("u3", DovecotInstance::kPassword));
  EXPECT_EQ(pop.count(), 1);
  EXPECT_EQ(pop.retr(1), first);
  pop.command("QUIT");
  auto check = cubby_->ctl({"check"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
}

TEST_F(CubbyDovecot, SeenAndExpungedInDovecotCubbySeesTheNewUsage) {
  ASSERT_NO_FATAL_FAILURE(users({"alice", "bob", "carol"}));
  for (auto u : {"alice", "bob", "carol"}) {
    ASSERT_EQ(cubby_->ctl({"quota", "set", "user/" + std::string(u), "storage=1000"}).exit_code, 0);
  }
  ASSERT_NO_FATAL_FAILURE(start_dovecot());
  const std::string m = message("expunge");
  LmtpClient c = client();
  ASSERT_EQ(c.deliver("sender@example.org", {"alice@e2e.test", "bob@e2e.test", "carol@e2e.test"},
                      m),
            "");
  ASSERT_NO_FATAL_FAILURE(hand_over());
  const std::string bytes = stored(spool() + "/bob/new");
  const auto size = static_cast<int64_t>(bytes.size());
  EXPECT_EQ(json_int(quota_json("alice"), "storage_used_bytes"), size);
  {
    ImapClient imap(dovecot_->imap_port());
    ASSERT_TRUE(imap.login("alice", DovecotInstance::kPassword));
    ASSERT_EQ(imap.select("INBOX"), 1);
    auto uids = imap.uids();
    ASSERT_EQ(uids.size(), 1u);
    ASSERT_TRUE(imap.command("UID STORE " + std::to_string(uids[0]) + " +FLAGS (\\Seen)").ok());
    auto cur = files_in(spool() + "/alice/cur");
    ASSERT_EQ(cur.size(), 1u);
    EXPECT_NE(cur[0].find(":2,S"), std::string::npos) << cur[0];
    auto check = cubby_->ctl({"check"});
    EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
    ASSERT_TRUE(imap.command("UID STORE " + std::to_string(uids[0]) + " +FLAGS (\\Deleted)").ok());
    ASSERT_TRUE(imap.command("EXPUNGE").ok());
  }
  EXPECT_TRUE(files_in(spool() + "/alice/cur").empty());
  EXPECT_EQ(json_int(quota_json("alice"), "storage_used_bytes"), 0);
  EXPECT_EQ(json_int(quota_json("bob"), "storage_used_bytes"), size);
  for (auto u : {"bob", "carol"}) {
    ImapClient imap(dovecot_->imap_port());
    ASSERT_TRUE(imap.login(u, DovecotInstance::kPassword));
    ASSERT_EQ(imap.select("INBOX"), 1);
    EXPECT_EQ(imap.fetch_body(imap.uids().at(0)), bytes);
  }
  // Cubby's next delivery counts from the new usage.
  ASSERT_EQ(c.deliver("sender@example.org", {"alice@e2e.test"}, message("again"), false), "");
  ASSERT_TRUE(cubby_->wait_settled());
  EXPECT_EQ(json_int(quota_json("alice"), "storage_used_bytes"),
            static_cast<int64_t>(stored(spool() + "/alice/new").size()));
  auto check = cubby_->ctl({"check"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
}

TEST_F(CubbyDovecot, OverQuotaIs452AndGetquotarootAgrees) {
  ASSERT_NO_FATAL_FAILURE(users({"alice", "bob"}));
  ASSERT_EQ(cubby_->ctl({"quota", "set", "user/alice", "storage=1"}).exit_code, 0);  // 1 KiB
  ASSERT_NO_FATAL_FAILURE(start_dovecot());
  const std::string big = message("big", 60);  // over 1 KiB
  ASSERT_GT(big.size(), 1024u);
  LmtpClient c = client();
  ASSERT_EQ(c.deliver("sender@example.org", {"alice@e2e.test"}, big), "");
  Replies r = transact({"alice@e2e.test", "bob@e2e.test"}, message("small"));
  ASSERT_EQ(r.rcpt.size(), 2u);
  EXPECT_EQ(r.rcpt[0].code, 452) << r.rcpt[0].text();
  EXPECT_EQ(r.rcpt[0].enhanced(), "4.2.2");
  EXPECT_EQ(r.rcpt[1].code, 250);
  ASSERT_NO_FATAL_FAILURE(hand_over());
  auto used = json_int(quota_json("alice"), "storage_used_bytes");
  ASSERT_EQ(used, static_cast<int64_t>(stored(spool() + "/alice/new").size()));
  ImapClient imap(dovecot_->imap_port());
  ASSERT_TRUE(imap.login("alice", DovecotInstance::kPassword));
  auto q = imap.command("GETQUOTAROOT INBOX");
  ASSERT_TRUE(q.ok()) << q.status;
  const std::string kib = std::to_string((*used + 1023) / 1024);
  bool seen = false;
  for (const auto& line : q.untagged) {
    if (line.find("QUOTA ") != std::string::npos && line.find("STORAGE " + kib + " 1") !=
                                                         std::string::npos) {
      seen = true;
    }
  }
  EXPECT_TRUE(seen) << "expected STORAGE " << kib << " 1 in " << q.untagged.size() << " lines: "
                    << (q.untagged.empty() ? "" : q.untagged.back());
}

TEST_F(CubbyDovecot, DetailIntoWorkFolder) {
  ASSERT_NO_FATAL_FAILURE(users({"alice"}));
  auto made = cubby_->ctl({"mailbox", "create", "user/alice/Work"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  // +detail needs the p right for anyone (Cyrus's rule).
  auto acl = cubby_->ctl({"acl", "set", "user/alice/Work", "anyone", "p"});
  ASSERT_EQ(acl.exit_code, 0) << acl.out << acl.err;
  ASSERT_NO_FATAL_FAILURE(start_dovecot());
  const std::string m = message("work");
  LmtpClient c = client();
  ASSERT_EQ(c.deliver("sender@example.org", {"alice+Work@e2e.test"}, m), "");
  ASSERT_NO_FATAL_FAILURE(hand_over());
  const std::string bytes = stored(spool() + "/alice/.Work/new");  // before Dovecot moves it
  ImapClient imap(dovecot_->imap_port());
  ASSERT_TRUE(imap.login("alice", DovecotInstance::kPassword));
  ASSERT_EQ(imap.select("Work"), 1);
  EXPECT_EQ(imap.fetch_body(imap.uids().at(0)), bytes);
  ASSERT_EQ(imap.select("INBOX"), 0);
}

// Sieve's flags on a Maildir partition are in the file name, as Dovecot saves them: IMAP shows
// \Seen \Flagged and the keyword of a `fileinto :flags` at once (docs/sieve.md).
TEST_F(CubbyDovecot, SieveFlagsAreWhatImapFetchFlagsShows) {
  ASSERT_NO_FATAL_FAILURE(users({"alice"}));
  ASSERT_EQ(cubby_->ctl({"mailbox", "create", "user/alice/Work"}).exit_code, 0);
  const std::string script = root_.path() + "/flags.sieve";
  std::ofstream(script) << "require [\"fileinto\", \"imap4flags\"];\n"
                           "fileinto :flags [\"\\\\Seen\", \"\\\\Flagged\", \"$Work\"] \"Work\";\n"
                           "keep;\n";
  auto put = cubby_->ctl({"sieve", "put", "alice", "main", script});
  ASSERT_EQ(put.exit_code, 0) << put.out << put.err;
  ASSERT_EQ(cubby_->ctl({"sieve", "activate", "alice", "main"}).exit_code, 0);
  ASSERT_NO_FATAL_FAILURE(start_dovecot());
  LmtpClient c = client();
  ASSERT_EQ(c.deliver("sender@example.org", {"alice@e2e.test"}, message("flags")), "");
  ASSERT_NO_FATAL_FAILURE(hand_over());
  auto cur = files_in(spool() + "/alice/.Work/cur");
  ASSERT_EQ(cur.size(), 1u);
  EXPECT_TRUE(cur[0].ends_with(":2,FSa")) << cur[0];
  EXPECT_EQ(files_in(spool() + "/alice/new").size(), 1u);  // the keep: no flags, new/
  ImapClient imap(dovecot_->imap_port());
  ASSERT_TRUE(imap.login("alice", DovecotInstance::kPassword));
  ASSERT_EQ(imap.select("Work"), 1);
  ImapReply flags = imap.command("UID FETCH " + std::to_string(imap.uids().at(0)) + " FLAGS");
  ASSERT_TRUE(flags.ok()) << flags.status;
  ASSERT_EQ(flags.untagged.size(), 1u);
  const std::string& line = flags.untagged[0];
  EXPECT_NE(line.find("\\Seen"), std::string::npos) << line;
  EXPECT_NE(line.find("\\Flagged"), std::string::npos) << line;
  EXPECT_NE(line.find("$Work"), std::string::npos) << line;
  ASSERT_EQ(imap.select("INBOX"), 1);
  flags = imap.command("UID FETCH " + std::to_string(imap.uids().at(0)) + " FLAGS");
  ASSERT_EQ(flags.untagged.size(), 1u);
  EXPECT_EQ(flags.untagged[0].find("\\Seen"), std::string::npos) << flags.untagged[0];
}

TEST_F(CubbyDovecot, BrokenNewAndGarbageMaildirsizeAffectOnlyThatRecipient) {
  ASSERT_NO_FATAL_FAILURE(users({"alice", "bob", "carol", "dave"}));
  fs::remove(spool() + "/bob/new");
  fs::remove(spool() + "/carol/new");
  std::ofstream(spool() + "/carol/new") << "a file";
  ASSERT_EQ(cubby_->ctl({"quota", "set", "user/dave", "storage=100"}).exit_code, 0);
  std::ofstream(spool() + "/dave/maildirsize", std::ios::trunc) << "garbage\nnot\x01numbers\n";
  const std::string m = message("broken");
  Replies r = transact({"alice@e2e.test", "bob@e2e.test", "carol@e2e.test", "dave@e2e.test"}, m);
  ASSERT_EQ(r.data.size(), 4u);
  EXPECT_EQ(r.data[0].code, 250) << r.data[0].text();
  EXPECT_EQ(r.data[1].code, 451) << r.data[1].text();
  EXPECT_EQ(r.data[2].code, 451) << r.data[2].text();
  EXPECT_EQ(r.data[3].code, 250) << r.data[3].text();
  EXPECT_EQ(files_in(spool() + "/alice/new").size(), 1u);
  EXPECT_EQ(files_in(spool() + "/dave/new").size(), 1u);
  EXPECT_NE(cubby_->log().find("recalculated"), std::string::npos);
  EXPECT_EQ(json_int(quota_json("dave"), "storage_used_bytes"),
            static_cast<int64_t>(stored(spool() + "/dave/new").size()));
}

}  // namespace
}  // namespace cubby::interop
