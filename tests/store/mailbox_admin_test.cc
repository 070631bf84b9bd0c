// Administrative operations of the Store: headers, default ACLs, quota roots and their usage,
// deleting messages and mailboxes, renaming (children, quota roots, unique ids).
#include <gtest/gtest.h>

#include "store/acl.h"
#include "store/check.h"
#include "store/delivery.h"
#include "store/mailbox_header.h"
#include "tests/store/temp_store.h"

namespace cubby::store {
namespace {

using testing::TempStore;

// Delivers `content` to each mailbox (internal names) through the real group commit.
std::vector<DeliveryOutcome> deliver(TempStore& t, const std::string& content,
                                     const std::vector<std::string>& mailboxes) {
  std::vector<DeliveryBatch> batches;
  batches.push_back(testing::batch_to(t.stage(content), mailboxes));
  return testing::commit_group(t, std::move(batches))[0].outcomes;
}

QuotaRoot root(TempStore& t, const std::string& name) {
  auto r = t.store().index().quotas().get(name);
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.value()) << name;
  return r.value() ? *r.value() : QuotaRoot{};
}

TEST(MailboxAdmin, CreateWritesAHeaderAndTheDefaultAcl) {
  TempStore t;
  auto alice = t.create("user/alice");
  EXPECT_EQ(alice.acl, "alice\tlrswipkxtean\t");
  auto work = t.create("user/alice/Work");
  EXPECT_EQ(work.acl, "alice\tlrswipkxtean\t");
  auto shared = t.create("shared/news");
  EXPECT_EQ(shared.acl, "anyone\tlrs\t");
  auto h = MailboxHeader::read(t.store().mailbox_dir(work));
  ASSERT_TRUE(h.ok()) << h.error().detail;
  EXPECT_EQ(h->name, "user.alice.Work");
  EXPECT_EQ(h->uniqueid, work.uniqueid);
  EXPECT_EQ(h->uidvalidity, work.uidvalidity);
  EXPECT_EQ(h->acl, work.acl);
  EXPECT_FALSE(h->quota_root);
  EXPECT_TRUE(check(t.store()).ok());
}

TEST(MailboxAdmin, HeaderRoundTripsAndRejectsGarbage) {
  MailboxHeader h;
  h.name = "example.com!user.alice";
  h.uniqueid = "abc";
  h.uidvalidity = 17;
  h.uidnext = 42;
  h.acl = "alice\tlr\t";
  h.quota_root = true;
  h.storage_limit = 1024;
  auto back = MailboxHeader::parse(h.str());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->name, h.name);
  EXPECT_EQ(back->uidnext, 42);
  EXPECT_EQ(back->acl, h.acl);
  EXPECT_TRUE(back->quota_root);
  EXPECT_EQ(back->storage_limit, 1024);
  EXPECT_FALSE(back->message_limit);
  EXPECT_FALSE(MailboxHeader::parse("hello\n").ok());
  EXPECT_FALSE(MailboxHeader::parse("Cubby mailbox header 1\nname\tx\n").ok());
}

TEST(MailboxAdmin, QuotaRootCoversTheUsersFoldersAndCountsEachLink) {
  TempStore t;
  t.create("user/alice");
  t.create_postable("user/alice/Work");
  t.create("user/bob");
  const std::string msg(1000, 'x');
  deliver(t, msg, {"user.alice", "user.alice.Work", "user.bob"});
  ASSERT_FALSE(t.store().set_quota(t.store().parse_name("user/alice").value(), 10, std::nullopt));
  auto r = root(t, "user.alice");
  EXPECT_EQ(r.storage_limit, 10);
  EXPECT_FALSE(r.message_limit);
  EXPECT_EQ(r.message_used, 2);  // charged per mailbox: one inode, two messages
  EXPECT_EQ(r.storage_used, 2000);
  // Later deliveries are charged in the commit.
  deliver(t, msg, {"user.alice.Work"});
  r = root(t, "user.alice");
  EXPECT_EQ(r.message_used, 3);
  EXPECT_EQ(r.storage_used, 3000);
  // A deeper root takes its mailbox's usage over.
  ASSERT_FALSE(t.store().set_quota(t.store().parse_name("user/alice/Work").value(), std::nullopt, 5));
  EXPECT_EQ(root(t, "user.alice.Work").message_used, 2);
  EXPECT_EQ(root(t, "user.alice").message_used, 1);
  // Removing it gives the usage back.
  ASSERT_FALSE(t.store().set_quota(t.store().parse_name("user/alice/Work").value(), std::nullopt,
                                   std::nullopt));
  EXPECT_FALSE(t.store().index().quotas().get("user.alice.Work").value());
  EXPECT_EQ(root(t, "user.alice").message_used, 3);
  // The root's limits are in its header.
  auto h = MailboxHeader::read(t.store().mailbox_dir(t.mailbox("user/alice")));
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(h->quota_root);
  EXPECT_EQ(h->storage_limit, 10);
  EXPECT_TRUE(check(t.store()).ok());
}

TEST(MailboxAdmin, TheQuotaRule) {
  QuotaRoot r;
  r.storage_limit = 1;  // KiB
  r.message_limit = 2;
  r.storage_used = 1024;
  r.message_used = 1;
  EXPECT_FALSE(exceeds(r, 0, 0));  // exactly at the limit still passes
  EXPECT_TRUE(exceeds(r, 1, 0));
  EXPECT_FALSE(exceeds(r, 0, 1));
  EXPECT_TRUE(exceeds(r, 0, 2));
  r.storage_used = 1025;
  EXPECT_TRUE(exceeds(r, 0, 0));
  EXPECT_EQ(percent_used(QuotaRoot{}), 0);
  EXPECT_EQ(percent_used(r), 100);
  EXPECT_EQ(quota_root_candidates("d.com!user.a^b.Work"),
            (std::vector<std::string>{"d.com!user.a^b.Work", "d.com!user.a^b", "d.com!user"}));
  EXPECT_EQ(quota_root_candidates("shared"), (std::vector<std::string>{"shared"}));
}

TEST(MailboxAdmin, DeletingAMessageReleasesItsQuotaAndOnlyItsLink) {
  TempStore t;
  auto alice = t.create("user/alice");
  auto bob = t.create("user/bob");
  deliver(t, "hello\r\n", {"user.alice", "user.bob"});
  deliver(t, "again\r\n", {"user.alice"});
  ASSERT_FALSE(t.store().set_quota(t.store().parse_name("user/alice").value(), 100, 100));
  EXPECT_EQ(root(t, "user.alice").message_used, 2);
  const auto bob_file = t.store().message_path(bob, 1);
  EXPECT_EQ(testing::stat_of(bob_file).st_nlink, 2u);
  ASSERT_FALSE(t.store().delete_message(alice, 1));
  EXPECT_FALSE(testing::file_exists(t.store().message_path(alice, 1)));
  EXPECT_EQ(testing::stat_of(bob_file).st_nlink, 1u);
  EXPECT_EQ(root(t, "user.alice").message_used, 1);
  EXPECT_EQ(root(t, "user.alice").storage_used, 7);
  EXPECT_EQ(t.store().delete_message(alice, 1)->code, Errc::kNotFound);
  // The header remembers that UIDs up to 2 were used.
  EXPECT_EQ(MailboxHeader::read(t.store().mailbox_dir(alice))->uidnext, 3);
  EXPECT_TRUE(check(t.store()).ok());
}

TEST(MailboxAdmin, DeletingAnInboxDeletesTheUserAndTheirRoot) {
  TempStore t;
  t.create("user/alice");
  auto work = t.create_postable("user/alice/Work");
  t.create("user/alice/Work/Old");
  t.create("user/alicea");
  deliver(t, "hello\r\n", {"user.alice.Work", "user.alicea"});
  ASSERT_FALSE(t.store().set_quota(t.store().parse_name("user/alice").value(), 100, 100));
  ASSERT_FALSE(t.store().delete_mailbox(t.store().parse_name("user/alice").value()));
  EXPECT_FALSE(t.store().index().find_mailbox("user.alice.Work"));
  EXPECT_FALSE(t.store().index().find_mailbox("user.alice.Work.Old"));
  EXPECT_TRUE(t.store().index().find_mailbox("user.alicea"));
  EXPECT_FALSE(t.store().index().quotas().get("user.alice").value());
  EXPECT_FALSE(testing::file_exists(t.store().mailbox_dir(work)));
  EXPECT_TRUE(check(t.store()).ok());
}

TEST(MailboxAdmin, DeletingAFolderChargesItsRoot) {
  TempStore t;
  t.create("user/alice");
  t.create_postable("user/alice/Work");
  deliver(t, "hello\r\n", {"user.alice", "user.alice.Work"});
  ASSERT_FALSE(t.store().set_quota(t.store().parse_name("user/alice").value(), 100, 100));
  ASSERT_FALSE(t.store().delete_mailbox(t.store().parse_name("user/alice/Work").value()));
  EXPECT_EQ(root(t, "user.alice").message_used, 1);
  EXPECT_EQ(t.store().delete_mailbox(t.store().parse_name("user/alice/Work").value())->code,
            Errc::kNotFound);
}

TEST(MailboxAdmin, RenameMovesChildrenKeepsUniqueIdsAndMovesQuotaRoots) {
  TempStore t;
  auto alice = t.create("user/alice");
  auto work = t.create("user/alice/Work");
  t.create_postable("user/alice/Work/Old");
  deliver(t, "hello\r\n", {"user.alice", "user.alice.Work.Old"});
  ASSERT_FALSE(t.store().set_quota(t.store().parse_name("user/alice").value(), 100, 100));
  ASSERT_FALSE(t.store().rename_mailbox(t.store().parse_name("user/alice").value(),
                                        t.store().parse_name("user/carol").value()));
  EXPECT_FALSE(t.store().index().find_mailbox("user.alice"));
  auto carol = t.mailbox("user/carol");
  EXPECT_EQ(carol.uniqueid, alice.uniqueid);
  EXPECT_EQ(carol.dir, "user/carol");
  auto old = t.mailbox("user/carol/Work/Old");
  EXPECT_EQ(old.dir, "user/carol/Work/Old");
  EXPECT_EQ(testing::read_file(t.store().message_path(old, 1)), "hello\r\n");
  EXPECT_EQ(t.mailbox("user/carol/Work").uniqueid, work.uniqueid);
  EXPECT_FALSE(t.store().index().quotas().get("user.alice").value());
  EXPECT_EQ(root(t, "user.carol").message_used, 2);
  EXPECT_EQ(MailboxHeader::read(t.store().mailbox_dir(old))->name, "user.carol.Work.Old");
  EXPECT_TRUE(check(t.store()).ok());

  // A folder into another user's tree.
  t.create("user/dave");
  ASSERT_FALSE(t.store().rename_mailbox(t.store().parse_name("user/carol/Work").value(),
                                        t.store().parse_name("user/dave/Projects").value()));
  EXPECT_TRUE(t.store().index().find_mailbox("user.dave.Projects.Old"));
  EXPECT_EQ(root(t, "user.carol").message_used, 1);
  EXPECT_TRUE(check(t.store()).ok());

  // Refusals.
  auto name = [&](const char* n) { return t.store().parse_name(n).value(); };
  EXPECT_EQ(t.store().rename_mailbox(name("user/nobody"), name("user/x"))->code, Errc::kNotFound);
  EXPECT_EQ(t.store().rename_mailbox(name("user/carol"), name("user/dave"))->code, Errc::kExists);
  EXPECT_EQ(t.store().rename_mailbox(name("user/carol"), name("user/dave/x"))->code,
            Errc::kBadName);
  EXPECT_EQ(t.store().rename_mailbox(name("user/dave/Projects"), name("user/dave/Projects/x"))
                ->code,
            Errc::kBadName);
}

TEST(MailboxAdmin, RenameUnderHashedSpool) {
  TempStore t;
  t.config().hash_spool = true;
  t.reopen();
  t.create("user/alice");
  t.create_postable("user/alice/Work");
  deliver(t, "hello\r\n", {"user.alice.Work"});
  ASSERT_FALSE(t.store().rename_mailbox(t.store().parse_name("user/alice").value(),
                                        t.store().parse_name("user/bob").value()));
  auto work = t.mailbox("user/bob/Work");
  EXPECT_EQ(work.dir, "b/user/bob/Work");
  EXPECT_EQ(testing::read_file(t.store().message_path(work, 1)), "hello\r\n");
  EXPECT_TRUE(check(t.store()).ok());
}

TEST(MailboxAdmin, SetAclUpdatesIndexAndHeader) {
  TempStore t;
  auto box = t.create("shared/news");
  auto acl = Acl::parse(box.acl).value();
  ASSERT_FALSE(acl.set("anyone", "lrsp"));
  ASSERT_FALSE(t.store().set_acl(box, acl.str()));
  EXPECT_EQ(t.mailbox("shared/news").acl, "anyone\tlrsp\t");
  EXPECT_EQ(MailboxHeader::read(t.store().mailbox_dir(box))->acl, "anyone\tlrsp\t");
}

}  // namespace
}  // namespace cubby::store
