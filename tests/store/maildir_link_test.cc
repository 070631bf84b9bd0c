// Tests of linking a staged message into Maildir new/ directories: one inode for every
// recipient, a unique name each, and a clear error for a mailbox whose new/ is missing or a file.
#include "store/maildir_link.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "store/maildir_layout.h"
#include "tests/store/maildir_temp_dir.h"

namespace cubby::store {
namespace {

using testing::MaildirPartition;

MailboxName user(const std::string& userid, std::vector<std::string> folders = {}) {
  return *MailboxName::for_user(userid, folders);
}

TEST(MaildirLink, OneInodeUnderUniqueNames) {
  MaildirPartition p;
  const std::string content = "Subject: x\r\n\r\nbody\r\n";
  p.write("stage./1", content);
  MessageSizeCounter counter;
  counter.add(content);
  MaildirNamer namer("mx.example");
  std::vector<MaildirLink> links;
  for (const MailboxName& name : {user("alice"), user("bob"), user("alice", {"Work"})}) {
    ASSERT_EQ(create_maildir_mailbox(p.root(), name), std::nullopt);
    auto link = link_into_new(p.root(), name, p.path("stage./1"), namer, counter.sizes());
    ASSERT_TRUE(link) << link.error().detail;
    links.push_back(*link);
  }
  EXPECT_TRUE(links[0].path.starts_with("alice/new/"));
  EXPECT_TRUE(links[2].path.starts_with("alice/.Work/new/"));
  EXPECT_NE(links[0].file_name, links[1].file_name);
  struct stat stage;
  ASSERT_EQ(::stat(p.path("stage./1").c_str(), &stage), 0);
  EXPECT_EQ(stage.st_nlink, 4u);
  for (const MaildirLink& link : links) {
    struct stat st;
    ASSERT_EQ(::stat(p.path(link.path).c_str(), &st), 0) << link.path;
    EXPECT_EQ(st.st_ino, stage.st_ino);
    EXPECT_EQ(maildir_name_size(link.file_name), content.size());
    EXPECT_EQ(p.read(link.path), content);
  }
}

TEST(MaildirLink, BrokenMailboxIsAnErrorForThatRecipientOnly) {
  MaildirPartition p;
  p.write("stage./1", "x");
  MaildirNamer namer("mx");
  ASSERT_EQ(create_maildir_mailbox(p.root(), user("alice")), std::nullopt);
  ASSERT_EQ(create_maildir_mailbox(p.root(), user("bob")), std::nullopt);
  std::filesystem::remove(p.path("alice/new"));
  p.write("alice/new", "a file where new/ belongs");
  auto broken = link_into_new(p.root(), user("alice"), p.path("stage./1"), namer, {1, 1});
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error().code, Errc::kIo);
  EXPECT_NE(broken.error().detail.find("alice/new: exists and is not a directory"),
            std::string::npos)
      << broken.error().detail;
  EXPECT_TRUE(link_into_new(p.root(), user("bob"), p.path("stage./1"), namer, {1, 1}));
  auto missing = link_into_new(p.root(), user("carol"), p.path("stage./1"), namer, {1, 1});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().detail.find("carol/new"), std::string::npos);
}

TEST(MaildirLink, FoundAndRemovedWhereverDovecotMovedIt) {
  MaildirPartition p;
  p.write("stage./1", "x");
  MaildirNamer namer("mx");
  const MailboxName alice = user("alice");
  ASSERT_EQ(create_maildir_mailbox(p.root(), alice), std::nullopt);
  auto first = link_into_new(p.root(), alice, p.path("stage./1"), namer, {1, 1});
  auto second = link_into_new(p.root(), alice, p.path("stage./1"), namer, {1, 1});
  ASSERT_TRUE(first && second);
  EXPECT_EQ(*find_maildir_message(p.root(), alice, first->file_name), first->path);
  // Dovecot marks the first \Seen: cur/<name>:2,S.
  std::filesystem::rename(p.path(first->path), p.path("alice/cur/" + first->file_name + ":2,S"));
  EXPECT_EQ(*find_maildir_message(p.root(), alice, first->file_name),
            "alice/cur/" + first->file_name + ":2,S");
  EXPECT_EQ(*find_maildir_message(p.root(), alice, first->file_name + "x"), std::nullopt);
  EXPECT_FALSE(find_maildir_message(p.root(), alice, "../new/x"));

  EXPECT_TRUE(*unlink_maildir_message(p.root(), alice, first->file_name));
  EXPECT_FALSE(*unlink_maildir_message(p.root(), alice, first->file_name));  // already gone
  EXPECT_TRUE(*unlink_maildir_message(p.root(), alice, second->file_name));
  EXPECT_TRUE(std::filesystem::is_empty(p.path("alice/cur")));
  EXPECT_TRUE(std::filesystem::is_empty(p.path("alice/new")));
  struct stat stage;
  ASSERT_EQ(::stat(p.path("stage./1").c_str(), &stage), 0);
  EXPECT_EQ(stage.st_nlink, 1u);
}

}  // namespace
}  // namespace cubby::store
