// Sieve at delivery through StoreBackend over a real store (server/lmtpd/sieve_delivery.h): one
// message to 10 recipients filed into 1-3 folders each is one inode with its flags; reject answers
// 550 5.7.1 for that recipient only; a broken script keeps the message and is logged once; vacation
// answers once per sender and never to lists, bulk or auto-submitted mail (through a `sendmail`
// script that records its argv and stdin); a redirect loop stops. Also the sievedir layout.
#include <sys/stat.h>

#include <fstream>
#include <gtest/gtest.h>

#include "server/lmtpd/store_backend.h"
#include "sievedir/script_store.h"
#include "tests/store/temp_store.h"

namespace cubby::server {
namespace {

using store::testing::TempStore;

struct SieveFixture {
  SieveFixture() {
    t.config().unix_hierarchy_sep = true;
    t.reopen();
    sievedir = t.root() + "/sieve";
    sent = t.root() + "/sent.log";
    sendmail = t.root() + "/sendmail.sh";
    std::ofstream(sendmail) << "#!/bin/sh\nprintf 'ARGV %s\\n' \"$*\" >> " << sent
                            << "\ncat >> " << sent << "\nprintf '\\n.END\\n' >> " << sent << "\n";
    ::chmod(sendmail.c_str(), 0755);
    SieveRules sieve{sievedir, sendmail, t.root() + "/sieve-history.sqlite", {}};
    RecipientRules rules;
    rules.address.unix_sep = true;
    backend = std::make_unique<StoreBackend>(t.store(), rules, sieve);
  }
  void script(const std::string& user, const std::string& source) {
    sievedir::ScriptStore scripts(sievedir);
    ASSERT_FALSE(scripts.put(user, "main", source, 5));
    ASSERT_FALSE(scripts.activate(user, "main"));
  }
  // Delivers `message` from `from` to `rcpts` (addresses) as one transaction; one reply each.
  std::vector<std::string> deliver(const std::string& message, const std::vector<std::string>& rcpts,
                                   const std::string& from = "sender@example.org") {
    lmtp::DeliveryRequest r;
    r.sink = backend->open_message({}).value();
    r.sink->write(message);
    for (const auto& a : rcpts) {
      lmtp::RecipientRequest q;
      q.address = a;
      q.session_id = "sid";
      auto v = backend->check_recipient(q);
      EXPECT_TRUE(v.accepted) << a;
      r.recipients.push_back(v);
    }
    r.info.session_id = "sid";
    r.info.mail_from = from;
    r.info.message_id = "<m" + std::to_string(++count) + "@example.org>";
    auto batch = backend->batch(r);
    std::vector<store::DeliveryBatch> batches;
    batches.push_back(std::move(batch));
    auto results = store::testing::commit_group(t, std::move(batches));
    std::vector<std::string> out;
    for (const auto& reply : backend->replies(results[0], r.info)) out.push_back(reply.wire());
    return out;
  }
  std::vector<std::pair<std::string, int64_t>> messages(const std::string& external) {
    auto box = t.mailbox(external);
    std::vector<std::pair<std::string, int64_t>> out;
    for (const auto& m : t.store().index().messages(box.id)) {
      out.push_back({t.store().message_path(box, m.uid), m.uid});
    }
    return out;
  }
  std::vector<std::string> flags(const std::string& external, int64_t uid) {
    return t.store().index().flags_of(t.mailbox(external).id, uid);
  }
  std::string sent_log() { return store::testing::read_file(sent); }
  int sends() {
    const std::string log = sent_log();
    int n = 0;
    for (size_t p = log.find("ARGV "); p != std::string::npos; p = log.find("ARGV ", p + 1)) ++n;
    return n;
  }

  TempStore t;
  std::string sievedir, sent, sendmail;
  std::unique_ptr<StoreBackend> backend;
  int count = 0;
};

const std::string kMessage =
    "From: sender@example.org\r\nTo: team@example.com\r\nSubject: report\r\n\r\nbody\r\n";

TEST(SieveDelivery, ScriptsLiveWhereCyrusKeepsThem) {
  sievedir::ScriptStore s("/sv");
  EXPECT_EQ(s.user_dir("alice"), "/sv/a/alice");
  EXPECT_EQ(s.user_dir("Bob"), "/sv/b/Bob");
  EXPECT_EQ(s.user_dir("1st"), "/sv/q/1st");
  EXPECT_EQ(s.user_dir("alice@example.com"), "/sv/domain/e/example.com/a/alice");
  SieveFixture f;
  f.script("alice", "keep;");
  sievedir::ScriptStore scripts(f.sievedir);
  char target[64] = {};
  ASSERT_GT(::readlink((f.sievedir + "/a/alice/defaultbc").c_str(), target, sizeof target - 1), 0);
  EXPECT_STREQ(target, "main.bc");
  EXPECT_TRUE(store::testing::file_exists(f.sievedir + "/a/alice/main.script"));
  EXPECT_EQ(scripts.active_name("alice"), "main");
  EXPECT_TRUE(scripts.remove("alice", "main").has_value());  // active: refused
  ASSERT_FALSE(scripts.deactivate("alice"));
  EXPECT_FALSE(scripts.active("alice"));
  ASSERT_FALSE(scripts.remove("alice", "main"));
  EXPECT_TRUE(scripts.list("alice")->empty());
}

TEST(SieveDelivery, TenRecipientsFiledIntoFoldersAreLinksOfOneInodeWithTheirFlags) {
  SieveFixture f;
  std::vector<std::string> rcpts;
  for (int i = 0; i < 10; ++i) {
    const std::string u = "u" + std::to_string(i);
    f.t.create("user/" + u);
    f.t.create("user/" + u + "/A");
    f.t.create("user/" + u + "/B");
    f.t.create("user/" + u + "/C");
    std::string s = "require [\"fileinto\", \"imap4flags\"];\n";
    const int folders = 1 + i % 3;
    for (int k = 0; k < folders; ++k) {
      s += std::string("fileinto :flags \"\\\\Flagged $f") + std::to_string(k) + "\" \"" +
           std::string(1, static_cast<char>('A' + k)) + "\";\n";
    }
    if (i % 2 == 0) s += "keep;\n";  // INBOX too
    f.script(u, s);
    rcpts.push_back(u + "@example.com");
  }
  auto replies = f.deliver(kMessage, rcpts);
  ASSERT_EQ(replies.size(), 10u);
  std::set<ino_t> inodes;
  int copies = 0;
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(replies[i], "250 2.1.5 Success SESSIONID=<sid>\r\n") << i;
    const std::string u = "user/u" + std::to_string(i);
    const int folders = 1 + i % 3;
    for (int k = 0; k < 3; ++k) {
      const std::string box = u + "/" + std::string(1, static_cast<char>('A' + k));
      auto msgs = f.messages(box);
      ASSERT_EQ(msgs.size(), k < folders ? 1u : 0u) << box;
      if (msgs.empty()) continue;
      inodes.insert(store::testing::stat_of(msgs[0].first).st_ino);
      ++copies;
      EXPECT_EQ(f.flags(box, msgs[0].second),
                (std::vector<std::string>{"\\Flagged", "$f" + std::to_string(k)}));
    }
    auto inbox = f.messages(u);
    ASSERT_EQ(inbox.size(), i % 2 == 0 ? 1u : 0u) << u;
    for (const auto& m : inbox) {
      inodes.insert(store::testing::stat_of(m.first).st_ino);
      ++copies;
      EXPECT_TRUE(f.flags(u, m.second).empty());
    }
  }
  EXPECT_EQ(copies, 19 + 5);  // folders 1+2+3+1+2+3+1+2+3+1, and five keeps
  EXPECT_EQ(inodes.size(), 1u);
  EXPECT_EQ(store::testing::stat_of(f.messages("user/u0")[0].first).st_nlink,
            static_cast<nlink_t>(copies));
}

TEST(SieveDelivery, FlagsGoWithTheirMessage) {
  SieveFixture f;
  f.t.create("user/alice");
  f.script("alice", "require \"imap4flags\";\nkeep :flags \"\\\\Seen\";");
  f.deliver(kMessage, {"alice@example.com"});
  auto msgs = f.messages("user/alice");
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(f.flags("user/alice", msgs[0].second), std::vector<std::string>{"\\Seen"});
  const int64_t id = f.t.mailbox("user/alice").id;
  ASSERT_FALSE(f.t.store().index().delete_message(id, msgs[0].second));
  EXPECT_TRUE(f.t.store().index().flags_of(id, msgs[0].second).empty());
}

TEST(SieveDelivery, RejectAnswersThatRecipientOnlyAndDiscardStoresNothing) {
  SieveFixture f;
  f.t.create("user/alice");
  f.t.create("user/bob");
  f.t.create("user/carol");
  f.script("alice", "require \"reject\";\nreject \"no thanks\";");
  f.script("carol", "discard;");
  auto replies = f.deliver(kMessage, {"alice@example.com", "bob@example.com", "carol@example.com"});
  ASSERT_EQ(replies.size(), 3u);
  EXPECT_EQ(replies[0], "550 5.7.1 no thanks\r\n");
  EXPECT_EQ(replies[1], "250 2.1.5 Success SESSIONID=<sid>\r\n");
  EXPECT_EQ(replies[2], "250 2.1.5 Success SESSIONID=<sid>\r\n");
  EXPECT_TRUE(f.messages("user/alice").empty());
  EXPECT_EQ(f.messages("user/bob").size(), 1u);
  EXPECT_TRUE(f.messages("user/carol").empty());
  // Everyone rejects or discards: nothing at all is stored.
  auto none = f.deliver(kMessage, {"alice@example.com", "carol@example.com"});
  EXPECT_EQ(none[0], "550 5.7.1 no thanks\r\n");
  EXPECT_EQ(none[1], "250 2.1.5 Success SESSIONID=<sid>\r\n");
}

TEST(SieveDelivery, BrokenScriptKeepsTheMessageAndIsCompiledAndLoggedOnce) {
  SieveFixture f;
  f.t.create("user/alice");
  sievedir::ScriptStore scripts(f.sievedir);
  ASSERT_FALSE(scripts.put("alice", "main", "keep;", 5));
  ASSERT_FALSE(scripts.activate("alice", "main"));
  // Broken after it was put (as a copied-over Cyrus script might be).
  std::ofstream(f.sievedir + "/a/alice/main.script") << "if true { fileinto \"x\"; ";
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(f.deliver(kMessage, {"alice@example.com"})[0], "250 2.1.5 Success SESSIONID=<sid>\r\n");
  }
  auto msgs = f.messages("user/alice");
  EXPECT_EQ(msgs.size(), 3u);
  EXPECT_EQ(f.flags("user/alice", msgs[0].second), std::vector<std::string>{"$SieveFailed"});
  EXPECT_EQ(f.backend->sieve().cache().compiles(), 1u);
  // A second failure of the same file version is not new; a changed file is.
  auto file = scripts.active("alice");
  ASSERT_TRUE(file);
  EXPECT_FALSE(f.backend->sieve().cache().first_failure(*file, "compile"));
}

TEST(SieveDelivery, VacationOncePerSenderAndNeverToListsBulkOrAutoSubmitted) {
  SieveFixture f;
  f.t.create("user/alice");
  f.script("alice", "require \"vacation\";\nvacation :days 7 :subject \"away\" \"I am away.\";");
  auto to_alice = [&](const std::string& extra, const std::string& from) {
    const std::string m = "From: " + from + "\r\nTo: alice@example.com\r\n" + extra +
                          "Subject: hi\r\n\r\nbody\r\n";
    return f.deliver(m, {"alice@example.com"}, from)[0];
  };
  EXPECT_EQ(to_alice("", "bob@example.org"), "250 2.1.5 Success SESSIONID=<sid>\r\n");
  EXPECT_EQ(f.sends(), 1);
  EXPECT_NE(f.sent_log().find("ARGV -i -f <> -- bob@example.org"), std::string::npos) << f.sent_log();
  EXPECT_NE(f.sent_log().find("Auto-Submitted: auto-replied"), std::string::npos);
  EXPECT_NE(f.sent_log().find("I am away."), std::string::npos);
  to_alice("", "bob@example.org");  // same sender within the period: no second answer
  EXPECT_EQ(f.sends(), 1);
  to_alice("Auto-Submitted: auto-generated\r\n", "robot@example.org");
  to_alice("List-Id: <list.example.org>\r\n", "list@example.org");
  to_alice("Precedence: bulk\r\n", "bulk@example.org");
  EXPECT_EQ(f.sends(), 1);
  to_alice("", "carol@example.org");  // another sender: answered
  EXPECT_EQ(f.sends(), 2);
  EXPECT_EQ(f.messages("user/alice").size(), 6u);  // vacation keeps every message
}

TEST(SieveDelivery, RedirectIsSentWithALoopMarkAndALoopStops) {
  SieveFixture f;
  f.t.create("user/alice");
  f.script("alice", "redirect \"bob@example.net\";");
  EXPECT_EQ(f.deliver(kMessage, {"alice@example.com"})[0], "250 2.1.5 Success SESSIONID=<sid>\r\n");
  EXPECT_EQ(f.sends(), 1);
  EXPECT_NE(f.sent_log().find("ARGV -i -f sender@example.org -- bob@example.net"),
            std::string::npos);
  EXPECT_NE(f.sent_log().find("X-Cubby-Loop: alice@example.com\r\nFrom: sender@example.org"),
            std::string::npos);
  EXPECT_TRUE(f.messages("user/alice").empty());  // redirect cancels the implicit keep
  // The redirected copy comes back: it is kept, not sent round again.
  EXPECT_EQ(f.deliver("X-Cubby-Loop: alice@example.com\r\n" + kMessage, {"alice@example.com"})[0],
            "250 2.1.5 Success SESSIONID=<sid>\r\n");
  EXPECT_EQ(f.sends(), 1);
  EXPECT_EQ(f.messages("user/alice").size(), 1u);
}

}  // namespace
}  // namespace cubby::server
