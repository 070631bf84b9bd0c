// Sieve end to end: scripts put and activated with cubbyctl land in Cyrus's sievedir layout; a
// running lmtpd files one transaction into folders as links of one inode, answers a reject with
// 550 5.7.1 for that recipient only, keeps mail for a broken script and logs it once; `cubbyctl
// sieve test --json` prints what delivery would do; a script replaced or switched with cubbyctl is
// obeyed by the next delivery.
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "tests/e2e/fixture.h"
#include "tests/e2e/transaction.h"

namespace cubby::e2e {
namespace {

using SieveE2e = CubbyTest;

std::string write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

std::string message(const std::string& id) {
  return "Message-ID: <" + id + ">\r\nFrom: s@example.org\r\nTo: team@example.com\r\nSubject: " +
         id + "\r\n\r\nbody of " + id + "\r\n";
}

ino_t inode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

size_t count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t p = haystack.find(needle); p != std::string::npos; p = haystack.find(needle, p + 1)) ++n;
  return n;
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Sieve's mail goes out after the replies (outbox.h): waits until `path` holds `n` copies of
// `needle` (or `timeout` has passed), then returns its text.
std::string wait_for(const std::string& path, const std::string& needle, size_t n,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  std::string text = read(path);
  while (count(text, needle) < n && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    text = read(path);
  }
  return text;
}

TEST_F(SieveE2e, DeliveryFilesRejectsAndKeepsForABrokenScript) {
  ASSERT_NO_FATAL_FAILURE(start({"alice", "bob", "carol", "dave"}));
  for (const char* box : {"user/alice/Work", "user/alice/Lists", "user/bob/Work"}) {
    ASSERT_EQ(cubby_->ctl({"mailbox", "create", box}).exit_code, 0);
  }
  const std::string dir = root_.path();
  auto put = [&](const std::string& user, const std::string& source) {
    auto r = cubby_->ctl({"sieve", "put", user, "main", write(dir + "/" + user + ".sieve", source)});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    r = cubby_->ctl({"sieve", "activate", user, "main"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
  };
  ASSERT_NO_FATAL_FAILURE(put("alice",
                              "require [\"fileinto\", \"imap4flags\"];\n"
                              "fileinto :flags \"\\\\Flagged\" \"Work\";\nfileinto \"Lists\";\nkeep;"));
  ASSERT_NO_FATAL_FAILURE(put("bob", "require \"fileinto\";\nfileinto \"Work\";"));
  ASSERT_NO_FATAL_FAILURE(put("carol", "require \"reject\";\nreject \"not here\";"));
  // The layout Cyrus uses: <sievedir>/<letter>/<user>/, defaultbc naming the active script.
  EXPECT_TRUE(std::filesystem::exists(dir + "/lib/sieve/a/alice/main.script"));
  EXPECT_TRUE(std::filesystem::is_symlink(dir + "/lib/sieve/a/alice/defaultbc"));
  auto list = cubby_->ctl({"sieve", "list", "alice"});
  EXPECT_EQ(list.out, "main (active)\n") << list.describe();
  // A broken script, as a copied Cyrus sievedir might hold (put refuses to store one).
  EXPECT_NE(cubby_->ctl({"sieve", "put", "dave", "main", write(dir + "/bad.sieve", "fileinto")})
                .exit_code,
            0);
  std::filesystem::create_directories(dir + "/lib/sieve/d/dave");
  write(dir + "/lib/sieve/d/dave/main.script", "if true { keep;");
  std::filesystem::create_symlink("main.bc", dir + "/lib/sieve/d/dave/defaultbc");

  LmtpClient c = unix_client();
  c.read_reply();
  c.command("LHLO e2e.client");
  for (int i = 0; i < 3; ++i) {
    Transaction t = run_transaction(c, "s@example.org",
                                    {"alice@x", "bob@x", "carol@x", "dave@x"},
                                    message("m" + std::to_string(i) + "@x"), false);
    ASSERT_EQ(t.final.size(), 4u);
    EXPECT_EQ(t.final[0].code, 250) << t.final[0].text();
    EXPECT_EQ(t.final[1].code, 250) << t.final[1].text();
    EXPECT_EQ(t.final[2].code, 550) << t.final[2].text();
    EXPECT_NE(t.final[2].text().find("5.7.1 not here"), std::string::npos) << t.final[2].text();
    EXPECT_EQ(t.final[3].code, 250) << t.final[3].text();
  }
  ASSERT_TRUE(cubby_->wait_settled());
  // alice: Work, Lists and INBOX; bob: Work only; carol nothing; dave everything in the INBOX.
  std::map<std::string, size_t> expected = {{"user/alice", 3},     {"user/alice/Work", 3},
                                            {"user/alice/Lists", 3}, {"user/bob", 0},
                                            {"user/bob/Work", 3},  {"user/carol", 0},
                                            {"user/dave", 3}};
  std::set<ino_t> first_message;
  for (const auto& [box, n] : expected) {
    auto rows = cubby_->mailbox_messages(box);
    ASSERT_TRUE(rows) << box;
    ASSERT_EQ(rows->size(), n) << box;
    if (n == 0) continue;
    auto path = cubby_->mailbox_path(box);
    ASSERT_TRUE(path) << box;
    first_message.insert(inode(*path + "/" + std::to_string(rows->front().uid) + "."));
  }
  EXPECT_EQ(first_message.size(), 1u);  // every copy of the first message is one file
  const std::string log = cubby_->log();
  EXPECT_EQ(count(log, "cannot compile script"), 1u) << log;
  expect_check_passes();
}

// The worker keeps compiled scripts (and their regexes) between deliveries: a script replaced with
// `cubbyctl sieve put` (here by one of the same size, right after a delivery, so that the mtime
// and size may well be unchanged) or another one activated is what the very next delivery obeys.
TEST_F(SieveE2e, ReplacedOrSwitchedScriptIsObeyedByTheNextDelivery) {
  ASSERT_NO_FATAL_FAILURE(start({"alice"}));
  for (const char* box : {"user/alice/AAAA", "user/alice/BBBB", "user/alice/CCCC"}) {
    ASSERT_EQ(cubby_->ctl({"mailbox", "create", box}).exit_code, 0);
  }
  const std::string dir = root_.path();
  auto put = [&](const std::string& name, const std::string& folder) {
    const std::string source = "require [\"fileinto\", \"regex\"];\n"
                               "if header :regex \"subject\" \"^m[0-9]+@x$\" { fileinto \"" +
                               folder + "\"; stop; }\n";
    auto r = cubby_->ctl({"sieve", "put", "alice", name, write(dir + "/" + name + ".sieve", source)});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
  };
  auto activate = [&](const std::string& name) {
    auto r = cubby_->ctl({"sieve", "activate", "alice", name});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
  };
  LmtpClient c = unix_client();
  c.read_reply();
  c.command("LHLO e2e.client");
  int sent = 0;
  auto deliver = [&] {
    Transaction t = run_transaction(c, "s@example.org", {"alice@x"},
                                    message("m" + std::to_string(sent++) + "@x"), false);
    ASSERT_EQ(t.final.size(), 1u);
    ASSERT_EQ(t.final[0].code, 250) << t.final[0].text();
  };
  ASSERT_NO_FATAL_FAILURE(put("main", "AAAA"));
  ASSERT_NO_FATAL_FAILURE(activate("main"));
  ASSERT_NO_FATAL_FAILURE(deliver());
  ASSERT_NO_FATAL_FAILURE(deliver());
  ASSERT_NO_FATAL_FAILURE(put("main", "BBBB"));  // same size, replaced at once
  ASSERT_NO_FATAL_FAILURE(deliver());
  ASSERT_NO_FATAL_FAILURE(put("other", "CCCC"));
  ASSERT_NO_FATAL_FAILURE(activate("other"));
  ASSERT_NO_FATAL_FAILURE(deliver());
  ASSERT_NO_FATAL_FAILURE(activate("main"));
  ASSERT_NO_FATAL_FAILURE(deliver());
  ASSERT_TRUE(cubby_->wait_settled());
  const std::map<std::string, size_t> expected = {
      {"user/alice", 0}, {"user/alice/AAAA", 2}, {"user/alice/BBBB", 2}, {"user/alice/CCCC", 1}};
  for (const auto& [box, n] : expected) {
    auto rows = cubby_->mailbox_messages(box);
    ASSERT_TRUE(rows) << box;
    EXPECT_EQ(rows->size(), n) << box;
  }
  expect_check_passes();
}

TEST_F(SieveE2e, VacationGoesThroughSendmailOncePerSenderAndNotToBulkMail) {
  const std::string dir = root_.path();
  const std::string sent = dir + "/sent.log";
  const std::string sendmail = write(dir + "/sendmail.sh", "#!/bin/sh\nprintf 'ARGV %s\\n' \"$*\" >> " +
                                                             sent + "\ncat >> " + sent + "\n");
  ::chmod(sendmail.c_str(), 0755);
  ASSERT_NO_FATAL_FAILURE(start({"alice"}, {"sendmail: " + sendmail}));
  auto r = cubby_->ctl({"sieve", "put", "alice", "away",
                        write(dir + "/away.sieve", "require \"vacation\";\n"
                                                   "vacation :subject \"Away\" \"Back soon.\";")});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  ASSERT_EQ(cubby_->ctl({"sieve", "activate", "alice", "away"}).exit_code, 0);
  LmtpClient c = unix_client();
  c.read_reply();
  c.command("LHLO e2e.client");
  auto send = [&](const std::string& from, const std::string& id, const std::string& extra) {
    const std::string m = "Message-ID: <" + id + ">\r\nFrom: " + from +
                          "\r\nTo: alice@example.com\r\n" + extra + "Subject: hi\r\n\r\nbody\r\n";
    Transaction t = run_transaction(c, from, {"alice@example.com"}, m, false);
    ASSERT_EQ(t.final.size(), 1u);
    EXPECT_EQ(t.final[0].code, 250) << t.final[0].text();
  };
  send("bob@example.org", "v1@x", "");
  send("bob@example.org", "v2@x", "");
  send("robot@example.org", "v3@x", "Auto-Submitted: auto-generated\r\n");
  send("list@example.org", "v4@x", "List-Id: <l.example.org>\r\n");
  send("bulk@example.org", "v5@x", "Precedence: bulk\r\n");
  wait_for(sent, "ARGV ", 2, std::chrono::seconds(2));  // gives a wrong second answer its chance
  const std::string log = read(sent);
  EXPECT_EQ(count(log, "ARGV "), 1u) << log;
  EXPECT_EQ(count(log, "ARGV -i -f <> -- bob@example.org"), 1u) << log;
  EXPECT_NE(log.find("Subject: Away"), std::string::npos) << log;
  EXPECT_NE(log.find("In-Reply-To: <v1@x>"), std::string::npos) << log;
  EXPECT_EQ(cubby_->messages("alice")->size(), 5u);
}

// The worker does not wait for sendmail: a sendmail that takes 3 s delays no 250 (two messages in
// a row on one connection), and one that fails is logged while the message stays delivered.
TEST_F(SieveE2e, SendmailRunsAfterTheRepliesAndItsFailureIsOnlyLogged) {
  const std::string dir = root_.path();
  const std::string sent = dir + "/sent.log";
  const std::string sendmail =
      write(dir + "/sendmail.sh", "#!/bin/sh\ncase \"$5\" in fail@*) cat >/dev/null; exit 75;; esac\n"
                                  "sleep 3\nprintf 'ARGV %s\\n' \"$*\" >> " + sent + "\ncat >> " + sent + "\n");
  ::chmod(sendmail.c_str(), 0755);
  ASSERT_NO_FATAL_FAILURE(start({"alice", "bob"}, {"sendmail: " + sendmail}));
  auto put = [&](const std::string& user, const std::string& source) {
    auto r = cubby_->ctl({"sieve", "put", user, "main", write(dir + "/" + user + ".sieve", source)});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    ASSERT_EQ(cubby_->ctl({"sieve", "activate", user, "main"}).exit_code, 0);
  };
  ASSERT_NO_FATAL_FAILURE(put("alice", "require \"copy\";\nredirect :copy \"elsewhere@example.net\";"));
  ASSERT_NO_FATAL_FAILURE(put("bob", "require \"copy\";\nredirect :copy \"fail@example.net\";"));
  LmtpClient c = unix_client();
  c.read_reply();
  c.command("LHLO e2e.client");
  const auto start_time = std::chrono::steady_clock::now();
  for (int i = 0; i < 2; ++i) {
    Transaction t = run_transaction(c, "s@example.org", {"alice@example.com", "bob@example.com"},
                                    message("slow" + std::to_string(i) + "@x"), false);
    ASSERT_EQ(t.final.size(), 2u);
    EXPECT_EQ(t.final[0].code, 250) << t.final[0].text();
    EXPECT_EQ(t.final[1].code, 250) << t.final[1].text();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start_time, std::chrono::milliseconds(2500));
  const std::string log = wait_for(sent, "ARGV ", 2);
  EXPECT_EQ(count(log, "ARGV -i -f s@example.org -- elsewhere@example.net"), 2u) << log;
  EXPECT_GE(std::chrono::steady_clock::now() - start_time, std::chrono::milliseconds(2900));
  EXPECT_EQ(cubby_->messages("alice")->size(), 2u);
  EXPECT_EQ(cubby_->messages("bob")->size(), 2u);  // the failed redirects were :copy: kept
  const std::string failed = "sending to fail@example.net through " + sendmail +
                             " failed: exit status 75 (the delivery stands)";
  std::string worker_log = cubby_->log();
  for (int i = 0; i < 100 && count(worker_log, failed) < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    worker_log = cubby_->log();
  }
  EXPECT_EQ(count(worker_log, failed), 2u) << worker_log;
}

TEST_F(SieveE2e, CubbyctlSieveTestPrintsWhatDeliveryWouldDo) {
  ASSERT_NO_FATAL_FAILURE(start({"alice"}));
  ASSERT_EQ(cubby_->ctl({"mailbox", "create", "user/alice/Work"}).exit_code, 0);
  const std::string dir = root_.path();
  const std::string msg = write(dir + "/m.eml", message("t@x"));
  auto test = [&](const std::string& source, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"sieve", "test", "--user", "alice", "--from", "s@example.org"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(write(dir + "/t.sieve", source));
    args.push_back(msg);
    args.push_back("--json");
    return cubby_->ctl(args);
  };
  auto r = test("require [\"fileinto\", \"mailbox\"];\n"
                "if mailboxexists \"Work\" { fileinto \"Work\"; }\n"
                "if mailboxexists \"Nope\" { fileinto \"Nope\"; }");
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.out,
            "{\"actions\":[{\"action\":\"fileinto\",\"mailbox\":\"Work\",\"flags\":[],\"copy\":false,"
            "\"create\":false}]}\n")
      << r.describe();
  r = test("require [\"envelope\", \"subaddress\", \"fileinto\"];\n"
           "if envelope :detail \"to\" \"lists\" { fileinto \"Lists\"; } else { discard; }",
           {"--to", "alice+lists@example.com"});
  EXPECT_NE(r.out.find("\"mailbox\":\"Lists\""), std::string::npos) << r.describe();
  r = test("require \"reject\";\nreject \"go away\";");
  EXPECT_NE(r.out.find("{\"action\":\"reject\",\"reason\":\"go away\"}"), std::string::npos)
      << r.describe();
  r = test("if true { keep;");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("\"error\":\"compile\""), std::string::npos) << r.describe();
}

}  // namespace
}  // namespace cubby::e2e
