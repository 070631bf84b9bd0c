// Hostile clients: mailbox names and symbolic links.
//   - RCPT local parts and +details with "..", '/', NUL and control characters never name a
//     directory outside user/<name> of the partition: they are refused (550/501), or, for a bad
//     +detail, fall back to the user's INBOX, as Cyrus does;
//   - `cubbyctl mailbox create` refuses the same names and creates nothing;
//   - symbolic links planted in the store: at the next `<uid>.` of a mailbox (replaced, never
//     followed), as a mailbox directory, and as the stage directory (see each test for what the
//     store does); nothing is ever written or removed outside the partition; files are 0600.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "tests/e2e/fixture.h"
#include "tests/e2e/hostile.h"

namespace cubby::e2e {
namespace {

namespace fs = std::filesystem;

// Every path under `root` (relative), directories included, not following symbolic links.
std::set<std::string> tree(const std::string& root) {
  std::set<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    out.insert(fs::relative(it->path(), root).string());
  }
  return out;
}

// Regular files under `root` whose permission bits are not 0600 (symbolic links not followed).
std::vector<std::string> not_0600(const std::string& root) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        (st.st_mode & 07777) != 0600) {
      out.push_back(it->path().string());
    }
  }
  return out;
}

std::string slurp(const std::string& path) { return read_file(path).value_or("<missing>"); }

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

using HostileNames = CubbyTest;

TEST_F(HostileNames, RecipientLocalPartsAndDetailsStayInsideTheUsersMailbox) {
  ASSERT_NO_FATAL_FAILURE(start({"alice"}));
  const std::string spool = cubby_->spool();
  // Decoys a successful escape would reach.
  for (const char* d : {"etc", "user/etc"}) fs::create_directories(spool + "/../" + d);

  struct Case {
    std::string rcpt;  // the whole RCPT argument
    bool to_inbox;     // accepted into user/alice (a bad +detail falls back to the INBOX)
  };
  const std::vector<Case> cases = {
      {"TO:<\"../../etc\"@e2e.test>", false},
      {"TO:<\"..\"@e2e.test>", false},
      {"TO:<\".\"@e2e.test>", false},
      {"TO:<\"a/b\"@e2e.test>", false},
      {"TO:<\"/etc/passwd\"@e2e.test>", false},
      {"TO:<\"alice/../bob\"@e2e.test>", false},
      {"TO:<\"a\\\x01" "b\"@e2e.test>", false},
      {"TO:<a\x7f@e2e.test>", false},
      {std::string("TO:<al\0ice@e2e.test>", 20), false},
      {"TO:<\"user.alice\"@e2e.test>", false},
      {"TO:<alice+../../../etc@e2e.test>", true},
      {"TO:<alice+a/../../b@e2e.test>", true},
      {"TO:<alice+..@e2e.test>", true},
      {"TO:<alice+.@e2e.test>", true},
      {"TO:<alice+/abs@e2e.test>", true},
      {"TO:<\"alice+\\\x01\"@e2e.test>", false},  // a quoted control character: 501
      {"TO:<alice+a^b@e2e.test>", true},
  };
  int to_inbox = 0;
  for (const Case& k : cases) {
    SCOPED_TRACE(k.rcpt);
    LmtpClient c = unix_client();
    ASSERT_EQ(c.read_reply().code, 220);
    ASSERT_EQ(c.command("LHLO e2e.client").code, 250);
    ASSERT_EQ(c.command("MAIL FROM:<sender@example.org>").code, 250);
    LmtpReply r = c.command("RCPT " + k.rcpt);
    if (!k.to_inbox) {
      EXPECT_TRUE(r.code == 550 || r.code == 501 || r.code == 553) << r.text();
      continue;
    }
    ASSERT_EQ(r.code, 250) << r.text();
    ASSERT_EQ(c.command("DATA").code, 354);
    ASSERT_TRUE(c.send_data(test_message("name-" + std::to_string(to_inbox) + "@e2e")));
    EXPECT_EQ(c.read_reply().code, 250);
    ++to_inbox;
  }
  // Everything went to user/alice; nothing else appeared anywhere.
  auto rows = cubby_->messages("alice");
  ASSERT_TRUE(rows);
  EXPECT_EQ(static_cast<int>(rows->size()), to_inbox);
  ASSERT_TRUE(cubby_->wait_settled());
  std::set<std::string> expected = {"etc", "user", "user/etc"};
  std::set<std::string> outside = tree(spool + "/..");
  for (const auto& p : tree(spool)) {
    if (p == "stage." || p == "user" || p == "user/alice" || p.rfind("user/alice/", 0) == 0) {
      continue;
    }
    // The worker's reserve of empty stage files (wait_settled() saw no stage file holding mail).
    if (p.rfind("stage./", 0) == 0 && fs::file_size(spool + "/" + p) == 0) continue;
    ADD_FAILURE() << "unexpected path in the partition: " << p;
  }
  for (const auto& p : outside) {
    if (p.rfind("spool", 0) == 0 || p.rfind("lib", 0) == 0 || p.rfind("socket", 0) == 0 ||
        p.rfind("sanitizer", 0) == 0 || expected.count(p) || p == "imapd.conf" ||
        p == "cyrus.conf" || p.rfind("master.", 0) == 0) {
      continue;
    }
    ADD_FAILURE() << "unexpected path next to the partition: " << p;
  }
  EXPECT_TRUE(fs::is_empty(spool + "/../etc"));
  EXPECT_TRUE(fs::is_empty(spool + "/../user/etc"));
  EXPECT_EQ(not_0600(spool), std::vector<std::string>{});
  expect_check_passes();
}

TEST_F(HostileNames, CubbyctlRefusesNamesThatLeaveThePartition) {
  ASSERT_NO_FATAL_FAILURE(start({}));
  const std::set<std::string> before = tree(root_.path());
  // A NUL cannot be passed in argv at all; the parser's refusal of NUL is covered by the
  // mailbox_name fuzz target and tests/store.
  for (const std::string name :
       {"user/..", "user/../x", "../x", "user/a/../../b", "user/.", "/user/x", "user//x",
        "user/a\x01" "b", "user/a\tb", "user/a\x7f" "b", "user/a^b", "..!user/x", "user/x@..",
        "user/x@a/b", "user/", "."}) {
    auto r = cubby_->ctl({"mailbox", "create", name});
    EXPECT_NE(r.exit_code, 0) << "created \"" << name << "\": " << r.describe();
  }
  EXPECT_EQ(tree(root_.path()), before) << "a refused name left something behind";
  auto list = cubby_->ctl({"mailbox", "list"});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_EQ(list.out, "");
}

// A symbolic link where the next message file of a mailbox will go: the store replaces the link
// (it treats any existing `<uid>.` as a stale file of its own) and never writes through it.
TEST_F(HostileNames, SymlinkAtTheNextMessageFileIsReplacedNotFollowed) {
  ASSERT_NO_FATAL_FAILURE(start({"alice"}));
  const std::string victim = root2_.path() + "/victim";
  write_text(victim, "precious\n");
  const std::string planted = CubbyInstance::message_file(cubby_->spool(), "alice", 1);
  ASSERT_EQ(::symlink(victim.c_str(), planted.c_str()), 0);

  LmtpClient c = unix_client();
  const std::string content = test_message("symlink-uid@e2e");
  EXPECT_EQ(c.deliver("sender@example.org", {"alice@e2e.test"}, content), "");
  EXPECT_EQ(slurp(victim), "precious\n") << "the store wrote through the planted link";
  struct stat st {};
  ASSERT_EQ(::lstat(planted.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode)) << "the link is still there";
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(check_stored(slurp(planted), "sender@example.org", "[unix socket]", content), "");
  ASSERT_TRUE(cubby_->wait_settled());
  expect_check_passes();
}

// A mailbox directory replaced by a symbolic link to a directory outside the partition: the
// store opens mailbox directories without following links (store/fs.h open_dir_beneath), so that
// recipient gets 451 and nothing is written outside; the other recipient is delivered.
TEST_F(HostileNames, SymlinkedMailboxDirectoryIsNotWrittenThrough) {
  ASSERT_NO_FATAL_FAILURE(start({"alice", "bob", "carol"}));
  const std::string outside = root2_.path() + "/elsewhere";
  fs::create_directories(outside + "/bob");
  // bob's directory is a link to a directory outside; carol's a link climbing out with "..".
  const std::string bob = CubbyInstance::mailbox_dir(cubby_->spool(), "bob");
  fs::remove_all(bob);
  ASSERT_EQ(::symlink((outside + "/bob").c_str(), bob.c_str()), 0);
  const std::string carol = CubbyInstance::mailbox_dir(cubby_->spool(), "carol");
  fs::remove_all(carol);
  ASSERT_EQ(::symlink("../../../elsewhere-carol", carol.c_str()), 0);

  LmtpClient c = unix_client();
  ASSERT_EQ(c.begin_transaction("sender@example.org",
                                {"alice@e2e.test", "bob@e2e.test", "carol@e2e.test"}),
            "");
  ASSERT_TRUE(c.send_data(test_message("symlink-dir@e2e")));
  std::vector<LmtpReply> replies = c.read_replies(3);
  ASSERT_EQ(replies.size(), 3u);
  EXPECT_EQ(replies[0].code, 250) << replies[0].text();
  EXPECT_EQ(replies[1].code, 451) << replies[1].text();
  EXPECT_EQ(replies[2].code, 451) << replies[2].text();
  EXPECT_TRUE(fs::is_empty(outside + "/bob")) << "a message file was written outside the partition";
  EXPECT_FALSE(fs::exists(cubby_->spool() + "/../../elsewhere-carol"));
  EXPECT_NE(cubby_->log().find("symbolic link"), std::string::npos);
  auto rows = cubby_->messages("alice");
  ASSERT_TRUE(rows);
  EXPECT_EQ(rows->size(), 1u);
}

// The stage directory replaced by a symbolic link while the server is down: recovery removes
// every unlocked file of a stage directory, so it must never do so through a link. The store
// refuses to open (cubbyctl and lmtpd alike) until an administrator removes the link.
TEST_F(HostileNames, SymlinkedStageDirectoryIsRefused) {
  ASSERT_NO_FATAL_FAILURE(start({"alice"}));
  ASSERT_TRUE(cubby_->stop());
  const std::string outside = root2_.path() + "/stage-elsewhere";
  fs::create_directories(outside);
  write_text(outside + "/victim", "precious\n");
  const std::string stage = cubby_->spool() + "/stage.";
  fs::remove_all(stage);
  ASSERT_EQ(::symlink(outside.c_str(), stage.c_str()), 0);

  auto r = cubby_->ctl({"recover"});
  EXPECT_NE(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.err.find("symbolic link"), std::string::npos) << r.describe();
  EXPECT_EQ(slurp(outside + "/victim"), "precious\n") << "recovery removed a file it does not own";
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(outside)) names.insert(e.path().filename());
  EXPECT_EQ(names, std::set<std::string>{"victim"});
  // Removing the link and restarting brings everything back.
  fs::remove(stage);
  auto error = cubby_->start();
  ASSERT_FALSE(error) << *error;
  LmtpClient c = unix_client();
  EXPECT_EQ(c.deliver("sender@example.org", {"alice@e2e.test"}, test_message("stage-back@e2e")), "");
}

}  // namespace
}  // namespace cubby::e2e
