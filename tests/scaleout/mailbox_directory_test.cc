// cubbyctl mailbox through the mailbox directory (docs/scale-out.md, "Mailboxes through the
// directory"): a private PostgreSQL directory, two back ends (private cubby-masters that make no
// INBOX on delivery: a mailbox exists only if cubbyctl made it) and a front end (`lmtpd -P -a`)
// whose settings are also the admin host's. directory_admin_command is a script that runs the
// test's cubbyctl with the named back end's settings, standing in for `ssh <host> cubbyctl`; a
// back end it does not know fails as an unreachable host would (exit 255).
//   * a new user is placed on the back end with the fewest users, created there only, named by the
//     directory, and a message through the front end lands in the new INBOX;
//   * a folder of an existing user is made on the user's back end;
//   * list shows both back ends' mailboxes; with one back end unreachable its users come from
//     the directory and the exit code is 1;
//   * a creation the back end refuses (an unknown partition) or that cannot reach the back end
//     exits non-zero and leaves no row; a rerun of a creation whose row was lost writes the row;
//   * deleting a user deletes it on its back end and then its row; a message to it is refused.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <memory>

#include "directory/postgres_directory.h"
#include "tests/e2e/instance.h"
#include "tests/e2e/lmtp_client.h"
#include "tests/e2e/process.h"
#include "tests/pg/pg_cluster.h"

namespace cubby::e2e {
namespace {

using namespace std::chrono_literals;

const char kUnreachable[] = "127.0.0.1:1";  // no back end: the admin script fails like ssh

std::string message(const std::string& id) {
  return "From: sender@example.org\r\nMessage-ID: <" + id + "@test.example>\r\nSubject: " + id +
         "\r\n\r\nBody of " + id + "\r\n";
}

class MailboxDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PG_REQUIRE_OR_SKIP();
    pg_ = std::make_unique<test::PgCluster>();
    ASSERT_EQ(pg_->start(), "");
    for (int b = 0; b < 2; ++b) {
      roots_.push_back(std::make_unique<TempDir>());
      InstanceOptions options;
      options.root = roots_.back()->path();
      options.settings = {"servername: be" + std::to_string(b), "autocreate_post: no"};
      backends_.push_back(std::make_unique<CubbyInstance>(options));
      auto error = backends_.back()->start();
      ASSERT_FALSE(error) << *error;
    }
    roots_.push_back(std::make_unique<TempDir>());
    const std::string script = roots_.back()->path() + "/admin.sh";
    {
      std::ofstream out(script);
      out << "#!/bin/sh\ncase \"$1\" in\n";
      for (int b = 0; b < 2; ++b) {
        out << "  " << address(b) << ") conf=" << backends_[b]->settings_path() << " ;;\n";
      }
      out << "  *) echo \"ssh: connect to host $1: Connection refused\" >&2; exit 255 ;;\n"
          << "esac\nshift\nexec " << CUBBY_BIN_DIR << "/cubbyctl -C \"$conf\" \"$@\"\n";
    }
    ASSERT_EQ(::chmod(script.c_str(), 0755), 0);

    front_port_ = free_tcp_port();
    InstanceOptions options;
    options.root = roots_.back()->path();
    options.settings = {"directory_backend: postgresql", "directory_conninfo: " + pg_->conninfo(),
                        "directory_cache_seconds: 0", "servername: fe",
                        "directory_admin_command: " + script + " %b"};
    options.extra_services = {"  lmtpfe cmd=\"lmtpd -P -a\" listen=\"127.0.0.1:" +
                              std::to_string(front_port_) + "\" prefork=1 maxchild=2"};
    front_ = std::make_unique<CubbyInstance>(options);
    auto error = front_->start();
    ASSERT_FALSE(error) << *error;
    ASSERT_TRUE(wait_for_greeting(front_port_, 20s)) << front_->log();
    dir_ = std::make_unique<directory::PostgresDirectory>(pg_->conninfo());
  }

  void TearDown() override {
    dir_.reset();
    front_.reset();
    backends_.clear();
    pg_.reset();
    roots_.clear();
  }

  std::string address(int b) const {
    return "127.0.0.1:" + std::to_string(backends_[b]->tcp_port());
  }
  // cubbyctl on the admin host (the front end's settings).
  ProgramResult admin(const std::vector<std::string>& args) { return front_->ctl(args); }
  bool exists_on(int b, const std::string& mailbox) {
    return backends_[b]->ctl({"mailbox", "info", mailbox}).exit_code == 0;
  }
  // Where the directory says `user` lives ("" when it has no row).
  std::string backend_of(const std::string& user) {
    auto where = dir_->locate(user);
    return where.ok() ? where->backend : "";
  }
  // Places `user` on back end b with its INBOX there, without the commands under test.
  void place(const std::string& user, int b) {
    ASSERT_EQ(backends_[b]->create_mailbox(user), std::nullopt);
    ASSERT_EQ(dir_->assign(user, {address(b), "default"}), std::nullopt);
  }
  // One message to `user` through the front end: the final reply (or the RCPT refusal).
  LmtpReply deliver(const std::string& user, const std::string& id) {
    LmtpClient client;
    if (!client.connect_tcp(front_port_)) return {};
    client.read_reply();
    client.command("LHLO test.example");
    client.command("MAIL FROM:<sender@example.org>");
    auto rcpt = client.command("RCPT TO:<" + user + "@example.org>");
    if (!rcpt.ok()) return rcpt;
    if (client.command("DATA").code != 354 || !client.send_data(message(id))) return {};
    return client.read_reply();
  }

  std::unique_ptr<test::PgCluster> pg_;
  std::vector<std::unique_ptr<TempDir>> roots_;
  std::vector<std::unique_ptr<CubbyInstance>> backends_;
  std::unique_ptr<CubbyInstance> front_;
  std::unique_ptr<directory::PostgresDirectory> dir_;
  int front_port_ = 0;
};

TEST_F(MailboxDirectoryTest, ANewUserGoesToTheBackEndWithFewestUsersAndReceivesMail) {
  ASSERT_NO_FATAL_FAILURE(place("alice", 0));
  ASSERT_NO_FATAL_FAILURE(place("bob", 0));
  ASSERT_NO_FATAL_FAILURE(place("carol", 1));

  auto made = admin({"mailbox", "create", "user/dave"});
  ASSERT_EQ(made.exit_code, 0) << made.describe();
  EXPECT_NE(made.out.find(address(1)), std::string::npos) << made.out;
  EXPECT_EQ(backend_of("dave"), address(1));
  EXPECT_TRUE(exists_on(1, "user/dave"));
  EXPECT_FALSE(exists_on(0, "user/dave"));

  auto reply = deliver("dave", "d1");
  EXPECT_EQ(reply.code, 250) << reply.text();
  EXPECT_EQ(CubbyInstance::message_files(backends_[1]->spool(), "dave").size(), 1u);

  // --backend overrides the rule; --json says where.
  auto erin = admin({"--json", "mailbox", "create", "user/erin", "--backend", address(0)});
  ASSERT_EQ(erin.exit_code, 0) << erin.describe();
  EXPECT_NE(erin.out.find("\"backend\":\"" + address(0) + "\""), std::string::npos) << erin.out;
  EXPECT_EQ(backend_of("erin"), address(0));
  EXPECT_TRUE(exists_on(0, "user/erin"));

  // Creating it again: the name is taken (3), the row unchanged.
  auto again = admin({"mailbox", "create", "user/dave"});
  EXPECT_EQ(again.exit_code, 3) << again.describe();
  EXPECT_EQ(backend_of("dave"), address(1));
}

TEST_F(MailboxDirectoryTest, AFolderOfAnExistingUserIsMadeOnTheUsersBackEnd) {
  ASSERT_NO_FATAL_FAILURE(place("alice", 0));
  ASSERT_NO_FATAL_FAILURE(place("carol", 1));
  auto made = admin({"mailbox", "create", "user/carol/Sent"});
  ASSERT_EQ(made.exit_code, 0) << made.describe();
  EXPECT_TRUE(exists_on(1, "user/carol/Sent"));
  EXPECT_FALSE(exists_on(0, "user/carol/Sent"));
  EXPECT_EQ(backend_of("carol"), address(1));

  // A folder renamed there; a folder for a user not in the directory is refused (2), nothing made.
  auto renamed = admin({"mailbox", "rename", "user/carol/Sent", "user/carol/Sent Items"});
  ASSERT_EQ(renamed.exit_code, 0) << renamed.describe();
  EXPECT_TRUE(exists_on(1, "user/carol/Sent Items"));
  auto orphan = admin({"mailbox", "create", "user/zed/Sent"});
  EXPECT_EQ(orphan.exit_code, 2) << orphan.describe();
  EXPECT_FALSE(exists_on(0, "user/zed/Sent"));
  EXPECT_FALSE(exists_on(1, "user/zed/Sent"));
  EXPECT_EQ(backend_of("zed"), "");
}

TEST_F(MailboxDirectoryTest, ListShowsEveryBackEndsMailboxesAndAnUnreachableOnesUsers) {
  ASSERT_NO_FATAL_FAILURE(place("alice", 0));
  ASSERT_NO_FATAL_FAILURE(place("carol", 1));
  ASSERT_EQ(backends_[1]->ctl({"mailbox", "create", "user/carol/Drafts"}).exit_code, 0);

  auto listed = admin({"mailbox", "list"});
  ASSERT_EQ(listed.exit_code, 0) << listed.describe();
  EXPECT_NE(listed.out.find("user/alice"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("user/carol/Drafts"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find(address(0)), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find(address(1)), std::string::npos) << listed.out;

  auto json = admin({"--json", "mailbox", "list", "user/carol/*"});
  ASSERT_EQ(json.exit_code, 0) << json.describe();
  EXPECT_NE(json.out.find("{\"name\":\"user/carol/Drafts\",\"backend\":\"" + address(1) + "\""),
            std::string::npos)
      << json.out;
  EXPECT_EQ(json.out.find("user/alice"), std::string::npos) << json.out;

  ASSERT_EQ(dir_->assign("gone", {kUnreachable, "default"}), std::nullopt);
  auto partial = admin({"mailbox", "list"});
  EXPECT_EQ(partial.exit_code, 1) << partial.describe();
  EXPECT_NE(partial.err.find(kUnreachable), std::string::npos) << partial.err;
  EXPECT_NE(partial.out.find("user/gone"), std::string::npos) << partial.out;
  EXPECT_NE(partial.out.find("user/carol/Drafts"), std::string::npos) << partial.out;
}

TEST_F(MailboxDirectoryTest, AFailedCreationLeavesNoRowAndARerunFinishesALostRowWrite) {
  ASSERT_NO_FATAL_FAILURE(place("alice", 0));
  auto refused = admin({"mailbox", "create", "user/dave", "--partition", "nosuch"});
  EXPECT_NE(refused.exit_code, 0) << refused.describe();
  EXPECT_EQ(backend_of("dave"), "");
  EXPECT_FALSE(exists_on(0, "user/dave"));

  auto unreachable = admin({"mailbox", "create", "user/dave", "--backend", kUnreachable});
  EXPECT_EQ(unreachable.exit_code, 1) << unreachable.describe();
  EXPECT_EQ(backend_of("dave"), "");
  EXPECT_EQ(admin({"mailbox", "delete", "user/dave"}).exit_code, 2);

  // The mailbox made but its row lost (as when PostgreSQL failed after the back end answered):
  // the same command again writes the row and keeps the mailbox.
  ASSERT_EQ(backends_[1]->create_mailbox("frank"), std::nullopt);
  auto rerun = admin({"mailbox", "create", "user/frank", "--backend", address(1)});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.describe();
  EXPECT_EQ(backend_of("frank"), address(1));
  EXPECT_TRUE(exists_on(1, "user/frank"));
}

TEST_F(MailboxDirectoryTest, DeletingAUserDeletesItOnItsBackEndThenItsRow) {
  ASSERT_NO_FATAL_FAILURE(place("alice", 0));
  ASSERT_NO_FATAL_FAILURE(place("carol", 1));
  ASSERT_EQ(backends_[1]->ctl({"mailbox", "create", "user/carol/Sent"}).exit_code, 0);
  ASSERT_EQ(deliver("carol", "c1").code, 250);

  // A folder alone: the user stays.
  auto folder = admin({"mailbox", "delete", "user/carol/Sent"});
  ASSERT_EQ(folder.exit_code, 0) << folder.describe();
  EXPECT_FALSE(exists_on(1, "user/carol/Sent"));
  EXPECT_EQ(backend_of("carol"), address(1));

  auto gone = admin({"mailbox", "delete", "user/carol"});
  ASSERT_EQ(gone.exit_code, 0) << gone.describe();
  EXPECT_FALSE(exists_on(1, "user/carol"));
  EXPECT_EQ(backend_of("carol"), "");
  EXPECT_EQ(deliver("carol", "c2").code, 550);
  EXPECT_EQ(backend_of("alice"), address(0));
  EXPECT_TRUE(exists_on(0, "user/alice"));

  // Without a directory in the settings, mailbox works on the local store as before.
  auto local = backends_[0]->ctl({"mailbox", "list"});
  ASSERT_EQ(local.exit_code, 0) << local.describe();
  EXPECT_NE(local.out.find("user/alice"), std::string::npos) << local.out;
  EXPECT_EQ(local.out.find("127.0.0.1"), std::string::npos) << local.out;
}

}  // namespace
}  // namespace cubby::e2e
