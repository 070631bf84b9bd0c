// Hostile spool: symbolic links planted where cubbyctl's administrative commands work (issue 19).
// Delivery refuses links on the way to a mailbox (hostile_names_test.cc); the admin commands
// follow the same rule (store/fs.h): every path is reached beneath its partition without following
// a link, temporary files are created exclusively, and a planted link makes the command fail with
// a message naming the path, having changed nothing outside the partition. One test per case:
//   - a link at `cubby.header.tmp` under `acl set` (and `quota set`);
//   - a mailbox directory that is a link, under `mailbox create`, `delete`, `rename` (source and
//     target), `reconstruct`, `message show` and `message delete`;
//   - a `<uid>.` message file that is a link, under `reconstruct` and `message show`.
// The `recover` case is a store test (tests/store/planted_links_test.cc).
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/e2e/fixture.h"

namespace cubby::e2e {
namespace {

namespace fs = std::filesystem;

const std::string kPrecious = "precious, outside the spool\n";

std::string slurp(const std::string& path) { return read_file(path).value_or("<missing>"); }

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

bool is_link(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

// Names in a directory (not following links), sorted.
std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) out.push_back(e.path().filename());
  std::sort(out.begin(), out.end());
  return out;
}

class HostileLinks : public CubbyTest {
 protected:
  std::string outside() {
    const std::string dir = root2_.path() + "/outside";
    fs::create_directories(dir);
    return dir;
  }
  // Moves user/<user>'s directory outside the spool and leaves a link to it in its place; returns
  // the outside directory.
  std::string move_out(const std::string& user) {
    const std::string dir = CubbyInstance::mailbox_dir(cubby_->spool(), user);
    const std::string out = outside() + "/" + user;
    fs::rename(dir, out);
    EXPECT_EQ(::symlink(out.c_str(), dir.c_str()), 0);
    return out;
  }
  void deliver_to(const std::string& user, const std::string& id) {
    LmtpClient c = unix_client();
    ASSERT_EQ(c.deliver("sender@example.org", {user + "@e2e.test"}, test_message(id)), "");
    ASSERT_TRUE(cubby_->wait_settled());
  }
  // The command failed, saying which path is a link.
  static void expect_refused(const ProgramResult& r, const std::string& path) {
    EXPECT_NE(r.exit_code, 0) << r.describe();
    const std::string said = r.out + r.err;
    EXPECT_NE(said.find("symbolic link"), std::string::npos) << r.describe();
    EXPECT_NE(said.find(path), std::string::npos) << "the message names " << path << "\n"
                                                  << r.describe();
  }
};

TEST_F(HostileLinks, AclSetRefusesALinkAtTheHeaderTmp) {
  ASSERT_NO_FATAL_FAILURE(start({"alice"}));
  const std::string dir = CubbyInstance::mailbox_dir(cubby_->spool(), "alice");
  const std::string header = dir + "/cubby.header";
  const std::string before = slurp(header);
  const std::string victim = outside() + "/victim";
  write_text(victim, kPrecious);
  ASSERT_EQ(::symlink(victim.c_str(), (header + ".tmp").c_str()), 0);

  auto r = cubby_->ctl({"acl", "set", "user/alice", "bob", "lrs"});
  expect_refused(r, "cubby.header.tmp");
  EXPECT_EQ(slurp(victim), kPrecious) << "the link's target was overwritten";
  EXPECT_FALSE(is_link(header)) << "cubby.header became a link";
  EXPECT_EQ(slurp(header), before);
  auto acl = cubby_->ctl({"acl", "list", "user/alice"});
  EXPECT_EQ(acl.out.find("bob"), std::string::npos) << "the index changed: " << acl.describe();

  r = cubby_->ctl({"quota", "set", "user/alice", "storage=100"});
  expect_refused(r, "cubby.header.tmp");
  EXPECT_EQ(slurp(victim), kPrecious);

  // A leftover regular .tmp (a crash) is simply replaced.
  fs::remove(header + ".tmp");
  write_text(header + ".tmp", "half a header");
  r = cubby_->ctl({"acl", "set", "user/alice", "bob", "lrs"});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(slurp(header).find("bob"), std::string::npos);
  EXPECT_FALSE(fs::exists(header + ".tmp"));
}

TEST_F(HostileLinks, MailboxCreateRefusesADirectoryLink) {
  ASSERT_NO_FATAL_FAILURE(start({"alice"}));
  const std::string out = outside() + "/bob";
  fs::create_directories(out);
  write_text(out + "/1.", kPrecious);
  const std::string bob = CubbyInstance::mailbox_dir(cubby_->spool(), "bob");
  ASSERT_EQ(::symlink(out.c_str(), bob.c_str()), 0);

  auto r = cubby_->ctl({"mailbox", "create", "user/bob"});
  expect_refused(r, bob);
  EXPECT_EQ(slurp(out + "/1."), kPrecious) << "a file outside the spool was removed";
  EXPECT_EQ(names_in(out), std::vector<std::string>{"1."}) << "something was written outside";
  EXPECT_NE(cubby_->ctl({"mailbox", "info", "user/bob"}).exit_code, 0) << "the mailbox exists";

  // A link higher up (user/carol/Work under a linked user/carol) is refused the same way.
  const std::string carol = CubbyInstance::mailbox_dir(cubby_->spool(), "carol");
  ASSERT_EQ(::symlink(out.c_str(), carol.c_str()), 0);
  r = cubby_->ctl({"mailbox", "create", "user/carol/Work"});
  expect_refused(r, carol);
  EXPECT_EQ(names_in(out), std::vector<std::string>{"1."});
}

TEST_F(HostileLinks, MailboxDeleteRefusesADirectoryLink) {
  ASSERT_NO_FATAL_FAILURE(start({"alice"}));
  ASSERT_NO_FATAL_FAILURE(deliver_to("alice", "delete-link@e2e"));
  const std::string out = move_out("alice");
  const auto before = names_in(out);
  ASSERT_EQ(before, (std::vector<std::string>{"1.", "cubby.header"}));
  const std::string message = slurp(out + "/1.");

  auto r = cubby_->ctl({"mailbox", "delete", "user/alice"});
  expect_refused(r, CubbyInstance::mailbox_dir(cubby_->spool(), "alice"));
  EXPECT_EQ(names_in(out), before) << "a file outside the spool was removed";
  EXPECT_EQ(slurp(out + "/1."), message);
  auto rows = cubby_->messages("alice");
  ASSERT_TRUE(rows) << "the mailbox left the index";
  EXPECT_EQ(rows->size(), 1u);

  r = cubby_->ctl({"message", "delete", "user/alice", "1"});
  EXPECT_NE(r.exit_code, 0) << r.describe();
  EXPECT_EQ(names_in(out), before);
  r = cubby_->ctl({"message", "show", "user/alice", "1"});
  expect_refused(r, CubbyInstance::mailbox_dir(cubby_->spool(), "alice"));
  EXPECT_EQ(r.out.find("delete-link@e2e"), std::string::npos) << "printed through the link";
}

TEST_F(HostileLinks, MailboxRenameRefusesADirectoryLinkAtEitherEnd) {
  ASSERT_NO_FATAL_FAILURE(start({"alice", "bob"}));
  ASSERT_NO_FATAL_FAILURE(deliver_to("alice", "rename-link@e2e"));
  const std::string out = move_out("alice");
  const auto before = names_in(out);
  const std::string alice = CubbyInstance::mailbox_dir(cubby_->spool(), "alice");

  auto r = cubby_->ctl({"mailbox", "rename", "user/alice", "user/zed"});
  expect_refused(r, alice);
  EXPECT_EQ(names_in(out), before);
  EXPECT_EQ(slurp(out + "/cubby.header").find("user.zed"), std::string::npos);
  EXPECT_TRUE(is_link(alice)) << "the link was moved";
  EXPECT_FALSE(fs::exists(CubbyInstance::mailbox_dir(cubby_->spool(), "zed")));
  EXPECT_TRUE(cubby_->messages("alice")) << "the index changed";

  // The target's parent a link: user/bob/Work renamed below a linked user/carol.
  ASSERT_EQ(cubby_->ctl({"mailbox", "create", "user/bob/Work"}).exit_code, 0);
  const std::string carol = CubbyInstance::mailbox_dir(cubby_->spool(), "carol");
  const std::string carol_out = outside() + "/carol";
  fs::create_directories(carol_out);
  ASSERT_EQ(::symlink(carol_out.c_str(), carol.c_str()), 0);
  r = cubby_->ctl({"mailbox", "rename", "user/bob/Work", "user/carol/Work"});
  expect_refused(r, carol);
  EXPECT_TRUE(names_in(carol_out).empty()) << "a mailbox was moved outside the spool";
  EXPECT_TRUE(fs::is_directory(CubbyInstance::mailbox_dir(cubby_->spool(), "bob") + "/Work"));
}

TEST_F(HostileLinks, ReconstructRefusesLinkedMessageFilesAndDirectories) {
  ASSERT_NO_FATAL_FAILURE(start({"alice", "bob"}));
  ASSERT_NO_FATAL_FAILURE(deliver_to("alice", "reconstruct-link@e2e"));
  const std::string alice = CubbyInstance::mailbox_dir(cubby_->spool(), "alice");
  const std::string victim = outside() + "/victim";
  write_text(victim, "Subject: outside\r\n\r\n" + kPrecious);
  ASSERT_EQ(::symlink(victim.c_str(), (alice + "/2.").c_str()), 0);

  auto r = cubby_->ctl({"reconstruct"});
  expect_refused(r, alice + "/2.");
  auto rows = cubby_->messages("alice");
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u) << "the linked file was taken in";
  EXPECT_EQ(rows->front().uid, 1);
  r = cubby_->ctl({"message", "show", "user/alice", "2"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.out.find("precious"), std::string::npos) << "the outside file was printed";
  EXPECT_TRUE(is_link(alice + "/2.")) << "reconstruct leaves the link for the administrator";
  EXPECT_EQ(slurp(victim), "Subject: outside\r\n\r\n" + kPrecious);

  // The file of a known message replaced by a link: `message show` refuses it.
  const std::string one = slurp(alice + "/1.");
  fs::remove(alice + "/1.");
  ASSERT_EQ(::symlink(victim.c_str(), (alice + "/1.").c_str()), 0);
  r = cubby_->ctl({"message", "show", "user/alice", "1"});
  expect_refused(r, alice + "/1.");
  EXPECT_EQ(r.out.find("precious"), std::string::npos) << "the outside file was printed";
  fs::remove(alice + "/1.");
  fs::remove(alice + "/2.");
  write_text(alice + "/1.", one);

  // A whole mailbox directory that is a link, with a message file in it the index lacks.
  const std::string out = move_out("bob");
  write_text(out + "/7.", "Subject: seven\r\n\r\n" + kPrecious);
  const auto before = names_in(out);
  r = cubby_->ctl({"reconstruct", "user/bob"});
  expect_refused(r, CubbyInstance::mailbox_dir(cubby_->spool(), "bob"));
  rows = cubby_->messages("bob");
  ASSERT_TRUE(rows);
  EXPECT_TRUE(rows->empty()) << "a file outside the spool was adopted";
  EXPECT_EQ(names_in(out), before) << "reconstruct wrote or removed outside the spool";
  r = cubby_->ctl({"reconstruct"});
  EXPECT_NE(r.exit_code, 0) << r.describe();
  EXPECT_EQ(names_in(out), before);
}

}  // namespace
}  // namespace cubby::e2e
