// Tests of the Maildir++ layout: where each mailbox lives, what has no Maildir++ name, and making
// a mailbox without following symbolic links.
#include "store/maildir_layout.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "tests/store/maildir_temp_dir.h"

namespace cubby::store {
namespace {

using testing::MaildirPartition;

MailboxName user(const std::string& userid, std::vector<std::string> folders = {},
                 const std::string& domain = "") {
  auto name = MailboxName::for_user(userid, folders, domain);
  EXPECT_TRUE(name) << name.error().detail;
  return *name;
}

std::string dir_of(const MailboxName& name) {
  auto dir = maildir_mailbox_dir(name);
  return dir ? *dir : "error: " + dir.error().detail;
}

TEST(MaildirLayout, Directories) {
  EXPECT_EQ(dir_of(user("alice")), "alice");
  EXPECT_EQ(dir_of(user("alice", {"Work"})), "alice/.Work");
  EXPECT_EQ(dir_of(user("alice", {"Work", "Sub"})), "alice/.Work.Sub");
  EXPECT_EQ(dir_of(user("alice", {"Work"}, "example.com")), "example.com/alice/.Work");
  EXPECT_EQ(dir_of(user("a.b")), "a.b");  // a user name may hold '.'
  // Components are kept as Cubby keeps them: IMAP modified UTF-7, which Dovecot stores too.
  EXPECT_EQ(dir_of(user("alice", {"Entw&APw-rfe"})), "alice/.Entw&APw-rfe");
  EXPECT_EQ(*maildir_user_dir(user("alice", {"Work"}, "example.com")), "example.com/alice");
  EXPECT_EQ(*maildir_folder_dir(user("alice")), "");
  EXPECT_EQ(*maildir_folder_dir(user("alice", {"Work", "Sub"})), ".Work.Sub");
}

TEST(MaildirLayout, NamesWithoutAMaildirPlace) {
  auto shared = MailboxName::shared({"news"});
  ASSERT_TRUE(shared);
  EXPECT_EQ(maildir_mailbox_dir(*shared).error().code, Errc::kBadName);
  auto dotted = maildir_mailbox_dir(user("alice", {"a.b"}));
  ASSERT_FALSE(dotted);
  EXPECT_EQ(dotted.error().code, Errc::kBadName);
  EXPECT_NE(dotted.error().detail.find("'.'"), std::string::npos) << dotted.error().detail;
  EXPECT_FALSE(maildir_mailbox_dir(user("alice", {"Inbox"})));
  EXPECT_TRUE(maildir_mailbox_dir(user("alice", {"Work", "inbox"})));  // only at the top
  EXPECT_FALSE(maildir_mailbox_dir(user("stage.")));
  EXPECT_FALSE(maildir_mailbox_dir(user("transfer.")));
}

TEST(MaildirLayout, CreatesInboxAndFolders) {
  MaildirPartition p;
  ASSERT_EQ(create_maildir_mailbox(p.root(), user("alice", {"Work", "Sub"})), std::nullopt);
  for (const char* sub : {"cur", "new", "tmp"}) {
    EXPECT_TRUE(p.is_dir(std::string("alice/") + sub));
    EXPECT_TRUE(p.is_dir(std::string("alice/.Work.Sub/") + sub));
  }
  EXPECT_TRUE(p.exists("alice/.Work.Sub/maildirfolder"));
  EXPECT_FALSE(p.exists("alice/maildirfolder"));  // the INBOX is no folder
  EXPECT_FALSE(p.exists("alice/.Work"));          // Maildir++ has no parent directories
  // Idempotent, and a domain gets its directory.
  EXPECT_EQ(create_maildir_mailbox(p.root(), user("alice", {"Work", "Sub"})), std::nullopt);
  ASSERT_EQ(create_maildir_mailbox(p.root(), user("bob", {}, "example.com")), std::nullopt);
  EXPECT_TRUE(p.is_dir("example.com/bob/new"));
}

TEST(MaildirLayout, RefusesSymbolicLinks) {
  MaildirPartition p;
  MaildirPartition elsewhere;
  ASSERT_EQ(::symlink(elsewhere.root().c_str(), p.path("mallory").c_str()), 0);
  auto err = create_maildir_mailbox(p.root(), user("mallory"));
  ASSERT_TRUE(err);
  EXPECT_NE(err->detail.find("symbolic link"), std::string::npos) << err->detail;
  EXPECT_FALSE(elsewhere.exists("new"));

  ASSERT_EQ(create_maildir_mailbox(p.root(), user("alice")), std::nullopt);
  ASSERT_EQ(::symlink(elsewhere.root().c_str(), p.path("alice/.Work").c_str()), 0);
  EXPECT_TRUE(create_maildir_mailbox(p.root(), user("alice", {"Work"})));
  EXPECT_FALSE(elsewhere.exists("maildirfolder"));
  EXPECT_FALSE(open_maildir_subdir(p.root(), user("alice", {"Work"}), MaildirSubdir::kNew));
}

TEST(MaildirLayout, OpenNewDirectory) {
  MaildirPartition p;
  ASSERT_EQ(create_maildir_mailbox(p.root(), user("alice")), std::nullopt);
  auto fd = open_maildir_subdir(p.root(), user("alice"), MaildirSubdir::kNew);
  ASSERT_TRUE(fd) << fd.error().detail;
  EXPECT_GE(fd->get(), 0);
  // new/ missing, or a file where it belongs: an error naming the path.
  std::filesystem::remove(p.path("alice/new"));
  auto missing = open_maildir_subdir(p.root(), user("alice"), MaildirSubdir::kNew);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().detail.find("alice/new"), std::string::npos);
  p.write("alice/new", "not a directory");
  auto file = open_maildir_subdir(p.root(), user("alice"), MaildirSubdir::kNew);
  ASSERT_FALSE(file);
  EXPECT_NE(file.error().detail.find("not a directory"), std::string::npos) << file.error().detail;
}

TEST(MaildirLayout, UserMaildirOfAFolder) {
  MaildirPartition p;
  ASSERT_EQ(create_maildir_mailbox(p.root(), user("alice", {"Work"}, "example.com")), std::nullopt);
  auto u = UserMaildir::open(p.root(), user("alice", {"Work"}, "example.com"));
  ASSERT_TRUE(u) << u.error().detail;
  EXPECT_EQ(u->path(), p.root() + "/example.com/alice");
}

}  // namespace
}  // namespace cubby::store
