// Sieve at delivery through StoreBackend over a real store (server/lmtpd/sieve_delivery.h): one
// message to 10 recipients filed into 1-3 folders each is one inode with its flags; reject answers
// 550 5.7.1 for that recipient only; a broken script keeps the message and is logged once; vacation
// answers once per sender and never to lists, bulk or auto-submitted mail (through a `sendmail`
// script that records its argv and stdin); a redirect loop stops. Also the sievedir layout.
#include <sys/stat.h>

#include <chrono>
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
    make_backend();
  }
  void make_backend(Outbox::Limits outbox = {}) {
    SieveRules sieve{sievedir, sendmail, t.root() + "/sieve-history.sqlite", {}, outbox};
    RecipientRules rules;
    rules.address.unix_sep = true;
    backend.reset();
    backend = std::make_unique<StoreBackend>(t.store(), rules, sieve, &io);
  }
  // Runs the event loop until every sendmail child has exited.
  void settle() {
    io.run();
    io.restart();
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
  std::string sent_log() {
    settle();
    return store::testing::read_file(sent);
  }
  // The sends so far, once every sendmail child has exited.
  int sends() {
    settle();
    const std::string log = sent_log();
    int n = 0;
    for (size_t p = log.find("ARGV "); p != std::string::npos; p = log.find("ARGV ", p + 1)) ++n;
    return n;
  }

  TempStore t;
  std::string sievedir, sent, sendmail;
  boost::asio::io_context io;  // runs the sendmail children; outlives the backend
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

// One evaluation per message where the recipient cannot matter (sieve_delivery.h): three users
// with the same recipient-independent script cost one evaluation, and each still gets its own
// fileinto target (one without the folder falls back to its INBOX, as it would alone); a user
// whose script differs, and each user whose script reads the envelope "to", get their own.
TEST(SieveDelivery, IdenticalRecipientIndependentScriptsAreEvaluatedOncePerMessage) {
  SieveFixture f;
  const std::string shared =
      "require [\"fileinto\", \"envelope\"];\n"
      "if envelope :is \"from\" \"nobody@example.net\" { discard; stop; }\n"
      "if header :contains \"subject\" \"report\" { fileinto \"Bench\"; stop; }\n";
  for (const std::string u : {"alice", "bob", "carol", "dave", "erin", "frank"}) {
    f.t.create("user/" + u);
  }
  for (const std::string u : {"alice", "bob", "dave"}) f.t.create("user/" + u + "/Bench");
  f.script("alice", shared);
  f.script("bob", shared);
  f.script("carol", shared);  // has no Bench: the fileinto falls back to her INBOX
  f.script("dave", shared + "# another script\n");
  const std::string by_rcpt =
      "require [\"fileinto\", \"envelope\"];\n"
      "if envelope :localpart \"to\" \"erin\" { fileinto \"Mine\"; stop; }\n"
      "discard;\n";
  f.script("erin", by_rcpt);
  f.script("frank", by_rcpt);
  f.t.create("user/erin/Mine");

  auto replies = f.deliver(kMessage, {"alice@example.com", "bob@example.com", "carol@example.com"});
  ASSERT_EQ(replies.size(), 3u);
  for (const auto& r : replies) EXPECT_EQ(r, "250 2.1.5 Success SESSIONID=<sid>\r\n");
  EXPECT_EQ(f.backend->sieve().evaluations(), 1u);
  EXPECT_EQ(f.messages("user/alice/Bench").size(), 1u);
  EXPECT_EQ(f.messages("user/bob/Bench").size(), 1u);
  EXPECT_EQ(f.messages("user/carol").size(), 1u);
  EXPECT_TRUE(f.messages("user/alice").empty());

  // The next message is evaluated again (once): the shared result is the message's own.
  f.deliver(kMessage, {"alice@example.com", "bob@example.com", "dave@example.com",
                       "erin@example.com", "frank@example.com"});
  EXPECT_EQ(f.backend->sieve().evaluations(), 1u + 1 + 1 + 2);
  EXPECT_EQ(f.messages("user/alice/Bench").size(), 2u);
  EXPECT_EQ(f.messages("user/bob/Bench").size(), 2u);
  EXPECT_EQ(f.messages("user/dave/Bench").size(), 1u);
  EXPECT_EQ(f.messages("user/erin/Mine").size(), 1u);
  EXPECT_TRUE(f.messages("user/frank").empty());  // discarded: his script saw his own address

  // Another sender is another evaluation, even of the same script in the same session.
  f.deliver(kMessage, {"alice@example.com", "bob@example.com"}, "nobody@example.net");
  EXPECT_EQ(f.backend->sieve().evaluations(), 6u);
  EXPECT_EQ(f.messages("user/alice/Bench").size(), 2u);  // both discarded
  EXPECT_EQ(f.messages("user/bob/Bench").size(), 2u);
}

// Each recipient's active script is resolved once per message (a readlink and a stat), also the
// first recipient's, whose answer both decides that the message is read and plans its delivery;
// a recipient without a script is resolved once too, and costs nothing more.
TEST(SieveDelivery, ActiveScriptIsResolvedOncePerRecipientPerMessage) {
  SieveFixture f;
  for (const std::string u : {"alice", "bob", "carol"}) f.t.create("user/" + u);
  f.t.create("user/alice/Bench");
  f.t.create("user/bob/Bench");
  const std::string script = "require \"fileinto\";\nfileinto \"Bench\";\n";
  f.script("alice", script);
  f.script("bob", script);
  f.deliver(kMessage, {"alice@example.com", "bob@example.com", "carol@example.com"});
  EXPECT_EQ(f.backend->sieve().resolutions(), 3u);
  f.deliver(kMessage, {"alice@example.com", "bob@example.com"});
  EXPECT_EQ(f.backend->sieve().resolutions(), 5u);
  EXPECT_EQ(f.messages("user/alice/Bench").size(), 2u);
  EXPECT_EQ(f.messages("user/bob/Bench").size(), 2u);
  EXPECT_EQ(f.messages("user/carol").size(), 1u);
}

// The fileinto target and its INBOX fallback are looked up afresh for each commit (in one read
// transaction): a folder deleted after a delivery filed into it sends the next message to the
// INBOX, and one created again gets the message after that.
TEST(SieveDelivery, FileintoIntoAFolderDeletedSinceTheLastDeliveryFallsBackToTheInbox) {
  SieveFixture f;
  f.t.create("user/alice");
  f.t.create("user/alice/Bench");
  f.script("alice", "require \"fileinto\";\nfileinto \"Bench\";\n");
  f.deliver(kMessage, {"alice@example.com"});
  EXPECT_EQ(f.messages("user/alice/Bench").size(), 1u);
  EXPECT_TRUE(f.messages("user/alice").empty());

  ASSERT_FALSE(f.t.store().delete_mailbox(f.t.store().parse_name("user/alice/Bench").value()));
  auto replies = f.deliver(kMessage, {"alice@example.com"});
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0], "250 2.1.5 Success SESSIONID=<sid>\r\n");
  EXPECT_EQ(f.messages("user/alice").size(), 1u);

  f.t.create("user/alice/Bench");
  f.deliver(kMessage, {"alice@example.com"});
  EXPECT_EQ(f.messages("user/alice/Bench").size(), 1u);
  EXPECT_EQ(f.messages("user/alice").size(), 1u);
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

size_t count_of(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t p = haystack.find(needle); p != std::string::npos; p = haystack.find(needle, p + 1)) ++n;
  return n;
}

// "A broken script keeps the message and logs once": a script that does not compile and one that
// fails at run time each log once per version of the file, not once per message, across several
// deliveries; a changed file is compiled again (and, still broken, logged again; fixed, it runs).
TEST(SieveDelivery, BrokenScriptsLogOncePerFileVersionAndAreRecompiledWhenChanged) {
  SieveFixture f;
  f.t.create("user/alice");
  f.t.create("user/dave");
  f.t.create("user/dave/Work");
  f.script("alice", "require \"ihave\";\nerror \"boom\";");  // compiles, fails when run
  sievedir::ScriptStore scripts(f.sievedir);
  ASSERT_FALSE(scripts.put("dave", "main", "keep;", 5));
  ASSERT_FALSE(scripts.activate("dave", "main"));
  const std::string dave_script = f.sievedir + "/d/dave/main.script";
  std::ofstream(dave_script) << "if true { keep;";  // broken after it was put
  testing::internal::CaptureStderr();
  for (int i = 0; i < 4; ++i) {
    auto replies = f.deliver(kMessage, {"alice@example.com", "dave@example.com"});
    EXPECT_EQ(replies[0], "250 2.1.5 Success SESSIONID=<sid>\r\n");
    EXPECT_EQ(replies[1], "250 2.1.5 Success SESSIONID=<sid>\r\n");
  }
  std::string log = testing::internal::GetCapturedStderr();
  EXPECT_EQ(count_of(log, "sieve: runtime error in script"), 1u) << log;
  EXPECT_EQ(count_of(log, "sieve: cannot compile script"), 1u) << log;
  EXPECT_NE(log.find("boom"), std::string::npos) << log;
  EXPECT_EQ(f.backend->sieve().cache().compiles(), 2u);  // once per script
  for (const char* box : {"user/alice", "user/dave"}) {
    auto msgs = f.messages(box);
    ASSERT_EQ(msgs.size(), 4u) << box;
    for (const auto& m : msgs) {
      EXPECT_EQ(f.flags(box, m.second), std::vector<std::string>{"$SieveFailed"}) << box;
    }
  }

  // Changed but still broken: compiled again and logged again, once.
  std::ofstream(dave_script) << "if true { keep; ";
  testing::internal::CaptureStderr();
  for (int i = 0; i < 3; ++i) f.deliver(kMessage, {"dave@example.com"});
  log = testing::internal::GetCapturedStderr();
  EXPECT_EQ(count_of(log, "sieve: cannot compile script"), 1u) << log;
  EXPECT_EQ(f.backend->sieve().cache().compiles(), 3u);

  // Fixed: compiled again and obeyed.
  std::ofstream(dave_script) << "require \"fileinto\";\nfileinto \"Work\";";
  testing::internal::CaptureStderr();
  f.deliver(kMessage, {"dave@example.com"});
  f.deliver(kMessage, {"dave@example.com"});
  log = testing::internal::GetCapturedStderr();
  EXPECT_EQ(count_of(log, "sieve: cannot compile script"), 0u) << log;
  EXPECT_EQ(f.backend->sieve().cache().compiles(), 4u);
  EXPECT_EQ(f.messages("user/dave/Work").size(), 2u);
  EXPECT_EQ(f.messages("user/dave").size(), 7u);
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

// Sending never holds up the replies (outbox.h): a sendmail that takes 3 s to run does not
// delay the 250, and while it runs the same sender is not answered a second time.
TEST(SieveDelivery, ASlowSendmailDoesNotDelayTheReplies) {
  SieveFixture f;
  std::ofstream(f.sendmail) << "#!/bin/sh\nsleep 3\nprintf 'ARGV %s\\n' \"$*\" >> " << f.sent
                            << "\ncat >> " << f.sent << "\n";
  f.t.create("user/alice");
  f.script("alice", "require \"vacation\";\nvacation :subject \"away\" \"I am away.\";");
  const std::string m = "From: bob@example.org\r\nTo: alice@example.com\r\nSubject: hi\r\n\r\nb\r\n";
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(f.deliver(m, {"alice@example.com"}, "bob@example.org")[0],
            "250 2.1.5 Success SESSIONID=<sid>\r\n");
  EXPECT_EQ(f.deliver(m, {"alice@example.com"}, "bob@example.org")[0],
            "250 2.1.5 Success SESSIONID=<sid>\r\n");
  const auto replied = std::chrono::steady_clock::now() - start;
  EXPECT_LT(replied, std::chrono::milliseconds(2500));  // the sendmail sleeps 3 s
  ASSERT_NE(f.backend->sieve().outbox(), nullptr);
  EXPECT_EQ(f.backend->sieve().outbox()->running(), 1u);  // one answer, under way
  EXPECT_EQ(f.messages("user/alice").size(), 2u);        // both stored already
  EXPECT_EQ(f.sends(), 1);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2900));
}

// A sendmail that fails: logged once, the message delivered all the same, and the vacation answer
// not remembered as sent (the next message from that sender is answered).
TEST(SieveDelivery, AFailedSendIsLoggedAndTheDeliveryStands) {
  SieveFixture f;
  const std::string broken = f.t.root() + "/broken";
  std::ofstream(broken) << "";
  std::ofstream(f.sendmail) << "#!/bin/sh\nif [ -e " << broken << " ]; then cat >/dev/null; exit 75; fi\n"
                            << "printf 'ARGV %s\\n' \"$*\" >> " << f.sent << "\ncat >> " << f.sent
                            << "\n";
  f.t.create("user/alice");
  f.script("alice", "require [\"vacation\", \"copy\"];\nredirect :copy \"carol@example.net\";\n"
                    "vacation :subject \"away\" \"I am away.\";");
  const std::string m = "From: bob@example.org\r\nTo: alice@example.com\r\nSubject: hi\r\n\r\nb\r\n";
  testing::internal::CaptureStderr();
  const auto reply = f.deliver(m, {"alice@example.com"}, "bob@example.org")[0];
  f.settle();
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_EQ(reply, "250 2.1.5 Success SESSIONID=<sid>\r\n");
  EXPECT_EQ(f.messages("user/alice").size(), 1u);
  for (const char* to : {"carol@example.net", "bob@example.org"}) {
    const std::string line = std::string("sending to ") + to + " through " + f.sendmail +
                             " failed: exit status 75 (the delivery stands)";
    size_t n = 0;
    for (size_t p = log.find(line); p != std::string::npos; p = log.find(line, p + 1)) ++n;
    EXPECT_EQ(n, 1u) << line << "\n" << log;
  }
  EXPECT_EQ(f.sends(), 0);
  ASSERT_EQ(::unlink(broken.c_str()), 0);
  f.deliver(m, {"alice@example.com"}, "bob@example.org");
  EXPECT_EQ(f.sends(), 2);  // the redirect and, since the failed one was forgotten, the answer
  EXPECT_NE(f.sent_log().find("ARGV -i -f <> -- bob@example.org"), std::string::npos);
}

TEST(SieveDelivery, ASendmailThatHangsIsKilledAtItsTimeout) {
  SieveFixture f;
  f.make_backend(Outbox::Limits{4, std::chrono::milliseconds(300), 1000});
  std::ofstream(f.sendmail) << "#!/bin/sh\nexec sleep 30\n";
  f.t.create("user/alice");
  f.script("alice", "require \"copy\";\nredirect :copy \"carol@example.net\";");
  testing::internal::CaptureStderr();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(f.deliver(kMessage, {"alice@example.com"})[0], "250 2.1.5 Success SESSIONID=<sid>\r\n");
  f.settle();
  const auto took = std::chrono::steady_clock::now() - start;
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("sending to carol@example.net through " + f.sendmail +
                     " failed: killed after 300 ms (sieve_sendmail_timeout)"),
            std::string::npos)
      << log;
  EXPECT_LT(took, std::chrono::seconds(5));
  EXPECT_EQ(f.messages("user/alice").size(), 1u);
}

}  // namespace
}  // namespace cubby::server
