// Dovecot reads what Cubby's Maildir code makes: mailboxes made by store/maildir_layout.h, one
// message file linked into several users' new/ (store/maildir_link.h) under names from
// store/maildir_file_name.h, and quota files from store/maildir_quota.h, served by a private
// Dovecot (docs/dovecot.md's settings) over IMAP and POP3.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <regex>

#include "store/maildir_file_name.h"
#include "store/maildir_layout.h"
#include "store/maildir_link.h"
#include "store/maildir_quota.h"
#include "tests/interop/dovecot/dovecot_instance.h"
#include "tests/interop/dovecot/mail_clients.h"

namespace cubby::store {
// For readable failures.
void PrintTo(const MaildirUsage& u, std::ostream* os) {
  *os << "{bytes " << u.bytes << ", messages " << u.messages << "}";
}
void PrintTo(const MaildirQuotaLimits& l, std::ostream* os) {
  *os << "{bytes " << l.bytes << ", messages " << l.messages << "}";
}
}  // namespace cubby::store

namespace cubby::interop {
namespace {

using store::MailboxName;
using store::MaildirQuotaLimits;
using store::MaildirUsage;

// A message with CRLF line ends, a line starting with '.' (POP3 must unstuff it) and padding.
std::string message(const std::string& subject, size_t body_lines = 3) {
  std::string m =
      "From: Sender <sender@example.org>\r\n"
      "To: undisclosed-recipients:;\r\n"
      "Subject: " +
      subject +
      "\r\n"
      "Message-ID: <" +
      subject +
      "@example.org>\r\n"
      "\r\n"
      "Hello.\r\n"
      ".a line that starts with a dot\r\n";
  for (size_t i = 0; i < body_lines; ++i) {
    m += "line " + std::to_string(i) + " of the body, padded to make the message larger\r\n";
  }
  return m;
}

MailboxName mailbox(const std::string& address, std::vector<std::string> folders = {}) {
  size_t at = address.find('@');
  auto name = MailboxName::for_user(address.substr(0, at), folders,
                                    at == std::string::npos ? "" : address.substr(at + 1));
  EXPECT_TRUE(name) << name.error().detail;
  return *name;
}

class DovecotInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cubby-dovecot-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    partition_ = root_ + "/maildir";
    ASSERT_EQ(::mkdir(partition_.c_str(), 0700), 0);
    ASSERT_EQ(::mkdir((partition_ + "/stage.").c_str(), 0700), 0);
    ASSERT_EQ(::mkdir((root_ + "/dovecot").c_str(), 0700), 0);
    dovecot_.emplace(root_ + "/dovecot", partition_);
  }
  void TearDown() override {
    if (dovecot_) {
      if (HasFailure()) std::cerr << "dovecot log:\n" << dovecot_->log();
      EXPECT_EQ(dovecot_->stop(), std::nullopt);
    }
    dovecot_.reset();
    if (!getenv("CUBBY_E2E_KEEP")) std::filesystem::remove_all(root_);
  }
  void start() {
    auto error = dovecot_->start();
    ASSERT_EQ(error, std::nullopt) << *error;
  }

  // What a delivery does: the message written once in the partition's stage directory, then
  // hard-linked into each recipient's new/ under one unique name per link, a line appended to
  // each recipient's maildirsize, and the stage file removed. Returns the paths of the links.
  std::vector<std::string> deliver(const std::vector<MailboxName>& to, const std::string& content) {
    const std::string stage = partition_ + "/stage./" + std::to_string(++staged_);
    {
      int fd = ::open(stage.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
      EXPECT_GE(fd, 0);
      EXPECT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
      EXPECT_EQ(::fsync(fd), 0);
      ::close(fd);
    }
    store::MessageSizeCounter counter;
    counter.add(content);
    std::vector<std::string> paths;
    for (const MailboxName& name : to) {
      EXPECT_EQ(store::create_maildir_mailbox(partition_, name), std::nullopt);
      auto link = store::link_into_new(partition_, name, stage, namer_, counter.sizes());
      EXPECT_TRUE(link) << link.error().detail;
      auto new_dir = store::open_maildir_subdir(partition_, name, store::MaildirSubdir::kNew);
      EXPECT_TRUE(new_dir) << new_dir.error().detail;
      EXPECT_EQ(::fsync(new_dir->get()), 0);
      auto user = store::UserMaildir::open(partition_, name);
      EXPECT_TRUE(user);
      EXPECT_TRUE(store::append_maildir_quota(*user, static_cast<int64_t>(content.size()), 1));
      paths.push_back(partition_ + "/" + link->path);
    }
    ::unlink(stage.c_str());
    return paths;
  }

  store::UserMaildir user_maildir(const MailboxName& name) {
    auto user = store::UserMaildir::open(partition_, name);
    EXPECT_TRUE(user) << user.error().detail;
    return std::move(*user);
  }
  MaildirUsage usage_of(const MailboxName& name) {
    auto quota = store::read_maildir_quota(user_maildir(name));
    EXPECT_TRUE(quota) << quota.error().detail;
    return quota ? quota->usage : MaildirUsage{-1, -1};
  }
  void set_limits(const MailboxName& name, MaildirQuotaLimits limits) {
    ASSERT_EQ(store::create_maildir_mailbox(partition_, name), std::nullopt);
    auto set = store::recalculate_maildir_quota(user_maildir(name), limits);
    ASSERT_TRUE(set) << set.error().detail;
  }
  // The message files of a Maildir directory ("alice/cur").
  std::vector<std::string> files_in(const std::string& rel) {
    std::vector<std::string> out;
    for (const auto& entry : std::filesystem::directory_iterator(partition_ + "/" + rel)) {
      out.push_back(entry.path().filename());
    }
    return out;
  }

  std::string root_, partition_;
  std::optional<DovecotInstance> dovecot_;
  store::MaildirNamer namer_{"cubby/test:host"};
  int staged_ = 0;
};

TEST_F(DovecotInterop, ConfigurationComesFromTheDocument) {
  const std::string config = dovecot_->config();
  EXPECT_NE(config.find("maildir_very_dirty_syncs = yes"), std::string::npos) << config;
  EXPECT_NE(config.find("mail_location = maildir:" + partition_ + "/%d/%n"), std::string::npos)
      << config;
  EXPECT_EQ(config.find("/var/spool/cubby-maildir"), std::string::npos) << config;
}

TEST_F(DovecotInterop, OneInodeInEveryInboxReadByteForByteOverImapAndPop3) {
  const std::vector<MailboxName> users = {mailbox("alice"), mailbox("bob"), mailbox("carol"),
                                          mailbox("dave@example.com")};
  const std::string content = message("one-inode");
  const std::vector<std::string> paths = deliver(users, content);
  struct stat first;
  ASSERT_EQ(::stat(paths[0].c_str(), &first), 0);
  EXPECT_EQ(first.st_nlink, users.size());
  for (const std::string& path : paths) {
    struct stat st;
    ASSERT_EQ(::stat(path.c_str(), &st), 0) << path;
    EXPECT_EQ(st.st_ino, first.st_ino) << path;
  }
  EXPECT_TRUE(std::filesystem::is_directory(partition_ + "/example.com/dave/new"));
  start();

  for (std::string login : {"alice", "bob", "carol", "dave@example.com"}) {
    ImapClient imap(dovecot_->imap_port());
    ASSERT_TRUE(imap.greeting().starts_with("* OK")) << imap.greeting();
    ASSERT_TRUE(imap.login(login, DovecotInstance::kPassword)) << login;
    EXPECT_EQ(imap.select("INBOX"), 1) << login;
    auto uids = imap.uids();
    ASSERT_EQ(uids.size(), 1u) << login;
    EXPECT_EQ(imap.fetch_body(uids[0]), content) << login;
    // RFC822.SIZE is the W= of the name (CRLF already, so the file's size).
    ImapReply size = imap.command("UID FETCH " + std::to_string(uids[0]) + " RFC822.SIZE");
    ASSERT_EQ(size.untagged.size(), 1u);
    EXPECT_NE(size.untagged[0].find("RFC822.SIZE " + std::to_string(content.size())),
              std::string::npos)
        << size.untagged[0];
  }
  for (std::string login : {"alice", "dave@example.com"}) {
    Pop3Client pop3(dovecot_->pop3_port());
    ASSERT_TRUE(pop3.greeting().starts_with("+OK")) << pop3.greeting();
    ASSERT_TRUE(pop3.login(login, DovecotInstance::kPassword)) << login;
    EXPECT_EQ(pop3.count(), 1) << login;
    EXPECT_EQ(pop3.retr(1), content) << login;
    pop3.command("QUIT");
  }
  // Still one inode: Dovecot renames within the Maildir (new/ to cur/), it never copies.
  for (const MailboxName& user : users) {
    const std::string dir = *store::maildir_mailbox_dir(user);
    auto cur = files_in(dir + "/cur");
    auto fresh = files_in(dir + "/new");
    ASSERT_EQ(cur.size() + fresh.size(), 1u) << dir;
    std::string path =
        partition_ + "/" + dir + (cur.empty() ? "/new/" + fresh[0] : "/cur/" + cur[0]);
    struct stat st;
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_ino, first.st_ino) << path;
  }
}

TEST_F(DovecotInterop, SeenAndExpungeInDovecotTouchOnlyThatUser) {
  const std::vector<MailboxName> users = {mailbox("alice"), mailbox("bob"), mailbox("carol")};
  for (const MailboxName& user : users) set_limits(user, {1 << 20, 100});
  const std::string content = message("expunge", 40);
  const int64_t size = static_cast<int64_t>(content.size());
  const std::vector<std::string> paths = deliver(users, content);
  for (const MailboxName& user : users) EXPECT_EQ(usage_of(user), (MaildirUsage{size, 1}));
  start();

  {
    ImapClient imap(dovecot_->imap_port());
    ASSERT_TRUE(imap.login("alice", DovecotInstance::kPassword));
    ASSERT_EQ(imap.select("INBOX"), 1);
    const uint32_t uid = imap.uids().at(0);
    ASSERT_TRUE(imap.command("UID STORE " + std::to_string(uid) + " +FLAGS (\\Seen)").ok());
    // \Seen is the file in cur/ with the same base name and ":2,S".
    auto cur = files_in("alice/cur");
    ASSERT_EQ(cur.size(), 1u);
    const std::string delivered = std::filesystem::path(paths[0]).filename();
    EXPECT_EQ(cur[0], delivered + ":2,S");
    EXPECT_EQ(store::find_maildir_message(partition_, mailbox("alice"), delivered).value(),
              "alice/cur/" + delivered + ":2,S");
    EXPECT_EQ(store::maildir_name_size(cur[0]), static_cast<uint64_t>(size));
    EXPECT_TRUE(files_in("alice/new").empty());

    ASSERT_TRUE(imap.command("UID STORE " + std::to_string(uid) + " +FLAGS (\\Deleted)").ok());
    ASSERT_TRUE(imap.command("EXPUNGE").ok());
    EXPECT_EQ(imap.uids().size(), 0u);
    imap.command("LOGOUT");
  }
  EXPECT_TRUE(files_in("alice/cur").empty());
  EXPECT_TRUE(files_in("alice/new").empty());
  EXPECT_EQ(store::find_maildir_message(partition_, mailbox("alice"),
                                        std::filesystem::path(paths[0]).filename())
                .value(),
            std::nullopt);
  // Dovecot appended the expunge to alice's maildirsize; Cubby's reader agrees, without a
  // recalculation.
  auto alice = store::read_maildir_quota(user_maildir(mailbox("alice")));
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->recalculated, "");
  EXPECT_EQ(alice->usage, (MaildirUsage{0, 0}));
  for (const char* other : {"bob", "carol"}) {
    EXPECT_EQ(usage_of(mailbox(other)), (MaildirUsage{size, 1})) << other;
    ImapClient imap(dovecot_->imap_port());
    ASSERT_TRUE(imap.login(other, DovecotInstance::kPassword));
    ASSERT_EQ(imap.select("INBOX"), 1) << other;
    EXPECT_EQ(imap.fetch_body(imap.uids().at(0)), content) << other;
  }
  // Bob's and Carol's links are left (Dovecot moved them to cur/ when they opened their INBOX).
  auto bobs = files_in("bob/cur");
  ASSERT_EQ(bobs.size(), 1u);
  struct stat st;
  ASSERT_EQ(::stat((partition_ + "/bob/cur/" + bobs[0]).c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 2u);
}

TEST_F(DovecotInterop, GetQuotaRootReportsCubbysLimitsAndUsage) {
  const MailboxName alice = mailbox("alice");
  const MaildirQuotaLimits limits{3 << 20, 50};
  set_limits(alice, limits);
  deliver({alice}, message("quota-1", 100));
  deliver({alice}, message("quota-2", 60));
  const MaildirUsage usage = usage_of(alice);
  EXPECT_EQ(usage.messages, 2);
  ASSERT_GT(usage.bytes, 8 * 1024);
  start();

  ImapClient imap(dovecot_->imap_port());
  ASSERT_TRUE(imap.login("alice", DovecotInstance::kPassword));
  ImapReply reply = imap.command("GETQUOTAROOT INBOX");
  ASSERT_TRUE(reply.ok()) << reply.status;
  std::string quota_line;
  for (const std::string& u : reply.untagged) {
    if (u.starts_with("* QUOTA ")) quota_line = u;
  }
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(quota_line, m, std::regex(R"(STORAGE (\d+) (\d+) MESSAGE (\d+) (\d+))")))
      << quota_line;
  // Dovecot reports STORAGE in KiB rounded up.
  EXPECT_EQ(std::stoll(m[1].str()), (usage.bytes + 1023) / 1024) << quota_line;
  EXPECT_EQ(std::stoull(m[2].str()), limits.bytes / 1024) << quota_line;
  EXPECT_EQ(std::stoll(m[3].str()), usage.messages) << quota_line;
  EXPECT_EQ(std::stoull(m[4].str()), limits.messages) << quota_line;
}

TEST_F(DovecotInterop, FoldersAppearUnderTheirImapNames) {
  const MailboxName work = mailbox("alice", {"Work"});
  const MailboxName sub = mailbox("alice", {"Work", "Sub"});
  const MailboxName utf7 = mailbox("alice", {"Entw&APw-rfe"});
  const std::string content = message("folder");
  deliver({work}, content);
  deliver({sub, utf7}, message("subfolder"));
  EXPECT_TRUE(std::filesystem::exists(partition_ + "/alice/.Work/maildirfolder"));
  start();

  ImapClient imap(dovecot_->imap_port());
  ASSERT_TRUE(imap.login("alice", DovecotInstance::kPassword));
  ImapReply list = imap.command("LIST \"\" \"*\"");
  ASSERT_TRUE(list.ok());
  std::string all;
  for (const std::string& u : list.untagged) all += u + "\n";
  EXPECT_NE(all.find("\"/\" INBOX"), std::string::npos) << all;
  EXPECT_NE(all.find("\"/\" Work\n"), std::string::npos) << all;
  EXPECT_NE(all.find("\"/\" Work/Sub\n"), std::string::npos) << all;
  EXPECT_NE(all.find("\"/\" Entw&APw-rfe\n"), std::string::npos) << all;
  EXPECT_EQ(imap.select("Work"), 1);
  EXPECT_EQ(imap.fetch_body(imap.uids().at(0)), content);
  EXPECT_EQ(imap.select("Work/Sub"), 1);
  EXPECT_EQ(imap.select("Entw&APw-rfe"), 1);
  EXPECT_EQ(imap.select("INBOX"), 0);
}

TEST_F(DovecotInterop, CubbyAndDovecotCountTheSameUsage) {
  // Messages in the INBOX, a folder and Trash, one of them named without ,S= (as another program
  // might deliver it), and a maildirsize full of garbage that both must recalculate.
  const MailboxName alice = mailbox("alice");
  set_limits(alice, {4 << 20, 40});
  deliver({alice}, message("inbox", 20));
  deliver({mailbox("alice", {"Work"})}, message("work", 30));
  deliver({mailbox("alice", {"Trash"})}, message("trash", 10));
  {
    const std::string plain = message("no-size-in-name", 5);
    int fd = ::open((partition_ + "/alice/new/1700000000.M1P1.elsewhere").c_str(),
                    O_WRONLY | O_CREAT | O_EXCL, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, plain.data(), plain.size()), static_cast<ssize_t>(plain.size()));
    ::close(fd);
  }
  const std::string garbage = "4194304S,40C\nthis is not\x01 a usage line\n";
  {
    int fd = ::open((partition_ + "/alice/maildirsize").c_str(), O_WRONLY | O_TRUNC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, garbage.data(), garbage.size()), static_cast<ssize_t>(garbage.size()));
    ::close(fd);
  }
  auto counted = store::count_maildir_usage(user_maildir(alice));
  ASSERT_TRUE(counted) << counted.error().detail;
  EXPECT_EQ(counted->messages, 4);
  start();

  // Dovecot recalculates the garbled file; Cubby then trusts Dovecot's file, and it holds
  // Cubby's count.
  ImapClient imap(dovecot_->imap_port());
  ASSERT_TRUE(imap.login("alice", DovecotInstance::kPassword));
  ImapReply quota = imap.command("GETQUOTAROOT INBOX");
  ASSERT_TRUE(quota.ok()) << quota.status;
  auto after_dovecot = store::read_maildir_quota(user_maildir(alice));
  ASSERT_TRUE(after_dovecot) << after_dovecot.error().detail;
  EXPECT_EQ(after_dovecot->recalculated, "");
  EXPECT_EQ(after_dovecot->usage, *counted);
  EXPECT_EQ(after_dovecot->limits, (MaildirQuotaLimits{4 << 20, 40}));

  // A message Dovecot stores (IMAP APPEND) is appended to maildirsize, and Cubby counts it too.
  // Dovecot writes it with LF line ends (mail_save_crlf = no), so its size on disk is smaller.
  const std::string appended = message("appended", 15);
  ImapReply append =
      imap.command("APPEND Work {" + std::to_string(appended.size()) + "+}\r\n" + appended);
  ASSERT_TRUE(append.ok()) << append.status;
  imap.command("LOGOUT");
  auto after_append = store::read_maildir_quota(user_maildir(alice));
  ASSERT_TRUE(after_append);
  EXPECT_EQ(after_append->recalculated, "");
  const int64_t lines = std::count(appended.begin(), appended.end(), '\n');
  EXPECT_EQ(after_append->usage,
            (MaildirUsage{counted->bytes + static_cast<int64_t>(appended.size()) - lines, 5}));
  EXPECT_EQ(*store::count_maildir_usage(user_maildir(alice)), after_append->usage);
}

}  // namespace
}  // namespace cubby::interop
