// The delivery rules decided in the group commit: rights on folders and shared mailboxes, the
// fall-back to the INBOX, quota (plain, strict, IGNOREQUOTA, per root), duplicate suppression and
// the folding of recipients that reach the same mailbox, refused targets, and undoing a delivery
// whose file could not be made.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "store/check.h"
#include "store/delivery.h"
#include "tests/store/temp_store.h"

namespace cubby::store {
namespace {

using testing::TempStore;

struct Rcpt {
  Rcpt(const char* m, bool ignore = false, std::optional<Error> r = std::nullopt)
      : mailbox(m), ignore_quota(ignore), refused(std::move(r)) {}
  std::string mailbox;
  bool ignore_quota = false;
  std::optional<Error> refused;
};

struct Message {
  std::string content = "Subject: hi\r\n\r\nbody\r\n";
  std::string poster;
  std::string message_id = "<m1@example.com>";
  std::string date = "Tue, 15 Jul 2026 12:00:00 +0200";
};

DeliveryBatch make_batch(TempStore& t, const Message& m, const std::vector<Rcpt>& rcpts) {
  DeliveryBatch b = testing::batch_to(t.stage(m.content), {});
  for (const auto& r : rcpts) b.targets.push_back(DeliveryTarget{r.mailbox, r.ignore_quota, r.refused});
  b.poster = m.poster;
  b.message_id = m.message_id;
  b.date = m.date;
  return b;
}

DeliveryResult deliver(TempStore& t, const Message& m, const std::vector<Rcpt>& rcpts) {
  std::vector<DeliveryBatch> batches;
  batches.push_back(make_batch(t, m, rcpts));
  return testing::commit_group(t, std::move(batches))[0];
}

size_t count(TempStore& t, const std::string& external) {
  return t.store().index().messages(t.mailbox(external).id).size();
}

void set_acl(TempStore& t, const std::string& external, const std::string& acl) {
  ASSERT_FALSE(t.store().set_acl(t.mailbox(external), acl));
}

void set_quota(TempStore& t, const std::string& external, std::optional<int64_t> kib,
               std::optional<int64_t> messages) {
  ASSERT_FALSE(t.store().set_quota(t.store().parse_name(external).value(), kib, messages));
}

TEST(DeliveryRules, AFolderNeedsPostForThePosterOrAnyone) {
  TempStore t;
  t.create("user/alice");
  t.create("user/alice/Work");  // owner alice only
  // anonymous: no right, so the INBOX
  auto r = deliver(t, {}, {{"user.alice.Work"}});
  ASSERT_FALSE(r.outcomes[0].error) << r.outcomes[0].error->detail;
  EXPECT_EQ(r.outcomes[0].mailbox, "user.alice");
  EXPECT_TRUE(r.outcomes[0].fell_back);
  // the owner posting (MAIL AUTH=alice): the folder
  Message m;
  m.poster = "alice";
  m.message_id = "<m2@example.com>";
  r = deliver(t, m, {{"user.alice.Work"}});
  EXPECT_EQ(r.outcomes[0].mailbox, "user.alice.Work");
  EXPECT_FALSE(r.outcomes[0].fell_back);
  // anyone p: the folder for everybody
  set_acl(t, "user/alice/Work", "alice\tall\tanyone\tp\t");
  m.poster = "";
  m.message_id = "<m3@example.com>";
  r = deliver(t, m, {{"user.alice.Work"}});
  EXPECT_EQ(r.outcomes[0].mailbox, "user.alice.Work");
  // ... unless taken away from this poster
  set_acl(t, "user/alice/Work", "alice\tall\tanyone\tp\t-mallory\tp\t");
  m.poster = "mallory";
  m.message_id = "<m4@example.com>";
  r = deliver(t, m, {{"user.alice.Work"}});
  EXPECT_EQ(r.outcomes[0].mailbox, "user.alice");
  EXPECT_EQ(count(t, "user/alice"), 2u);
  EXPECT_EQ(count(t, "user/alice/Work"), 2u);
  EXPECT_TRUE(check(t.store()).ok());
}

TEST(DeliveryRules, AMissingFolderFallsBackToTheInbox) {
  TempStore t;
  t.create("user/alice");
  auto r = deliver(t, {}, {{"user.alice.Gone"}});
  ASSERT_FALSE(r.outcomes[0].error);
  EXPECT_EQ(r.outcomes[0].mailbox, "user.alice");
  EXPECT_TRUE(r.outcomes[0].fell_back);
  // and with no INBOX either, the INBOX's error
  r = deliver(t, {}, {{"user.nobody.Work"}});
  ASSERT_TRUE(r.outcomes[0].error);
  EXPECT_EQ(r.outcomes[0].error->code, Errc::kNotFound);
}

TEST(DeliveryRules, SharedMailboxesNeedPostAndHaveNoFallBack) {
  TempStore t;
  t.create("shared/news");  // defaultacl: anyone lrs
  auto r = deliver(t, {}, {{"shared.news"}});
  ASSERT_TRUE(r.outcomes[0].error);
  EXPECT_EQ(r.outcomes[0].error->code, Errc::kPermission);  // l but not p
  set_acl(t, "shared/news", "anyone\tr\t");
  r = deliver(t, {}, {{"shared.news"}});
  ASSERT_TRUE(r.outcomes[0].error);
  EXPECT_EQ(r.outcomes[0].error->code, Errc::kNotFound);  // not even l
  set_acl(t, "shared/news", "anyone\tlrs\tposter\tp\t");
  Message m;
  m.poster = "poster";
  r = deliver(t, m, {{"shared.news"}});
  ASSERT_FALSE(r.outcomes[0].error);
  EXPECT_EQ(r.outcomes[0].mailbox, "shared.news");
  EXPECT_EQ(count(t, "shared/news"), 1u);
}

TEST(DeliveryRules, QuotaAtDeliveryPlainRuleLetsOneMessageOver) {
  TempStore t;
  t.create("user/alice");
  set_quota(t, "user/alice", 1, std::nullopt);  // 1 KiB
  Message m;
  m.content = std::string(800, 'x');
  m.message_id = "<a@x>";
  EXPECT_FALSE(deliver(t, m, {{"user.alice"}}).outcomes[0].error);  // 800 of 1024
  m.message_id = "<b@x>";
  EXPECT_FALSE(deliver(t, m, {{"user.alice"}}).outcomes[0].error);  // 1600: over now
  m.message_id = "<c@x>";
  auto r = deliver(t, m, {{"user.alice"}});
  ASSERT_TRUE(r.outcomes[0].error);
  EXPECT_EQ(r.outcomes[0].error->code, Errc::kOverQuota);
  // IGNOREQUOTA delivers anyway, and the usage still counts
  m.message_id = "<d@x>";
  EXPECT_FALSE(deliver(t, m, {{"user.alice", true}}).outcomes[0].error);
  EXPECT_EQ(t.store().index().quotas().get("user.alice").value()->storage_used, 2400);
  EXPECT_EQ(count(t, "user/alice"), 3u);
}

TEST(DeliveryRules, StrictQuotaCountsTheMessageItself) {
  TempStore t;
  t.config().strict_quota = true;
  t.reopen();
  t.create("user/alice");
  set_quota(t, "user/alice", 1, 2);
  Message m;
  m.content = std::string(1024, 'x');
  m.message_id = "<a@x>";
  EXPECT_FALSE(deliver(t, m, {{"user.alice"}}).outcomes[0].error);  // exactly the limit
  m.content = "y";
  m.message_id = "<b@x>";
  auto r = deliver(t, m, {{"user.alice"}});
  ASSERT_TRUE(r.outcomes[0].error);
  EXPECT_EQ(r.outcomes[0].error->code, Errc::kOverQuota);
  // MESSAGE: 1 of 2 used, one more fits (storage raised)
  set_quota(t, "user/alice", 10, 2);
  EXPECT_FALSE(deliver(t, m, {{"user.alice"}}).outcomes[0].error);
  m.message_id = "<c@x>";
  r = deliver(t, m, {{"user.alice"}});
  ASSERT_TRUE(r.outcomes[0].error);
  EXPECT_EQ(r.outcomes[0].error->code, Errc::kOverQuota);
}

TEST(DeliveryRules, AFolderOverItsOwnRootFallsBackToTheInbox) {
  TempStore t;
  t.create("user/alice");
  t.create_postable("user/alice/Lists");
  Message m;
  m.content = std::string(10, 'x');
  m.message_id = "<first@x>";
  ASSERT_FALSE(deliver(t, m, {{"user.alice.Lists"}}).outcomes[0].fell_back);
  set_quota(t, "user/alice/Lists", std::nullopt, 0);  // 1 > 0: over
  m.message_id = "<second@x>";
  auto r = deliver(t, m, {{"user.alice.Lists"}});
  ASSERT_FALSE(r.outcomes[0].error);
  EXPECT_EQ(r.outcomes[0].mailbox, "user.alice");
  EXPECT_TRUE(r.outcomes[0].fell_back);
  // The INBOX over quota too: its error is reported.
  set_quota(t, "user/alice", std::nullopt, 0);  // one message in it now
  m.message_id = "<other@x>";
  r = deliver(t, m, {{"user.alice.Lists"}});
  ASSERT_TRUE(r.outcomes[0].error);
  EXPECT_EQ(r.outcomes[0].error->code, Errc::kOverQuota);
  EXPECT_EQ(r.outcomes[0].mailbox, "user.alice");
}

TEST(DeliveryRules, OneRecipientOverQuotaTheOthersShareOneInode) {
  TempStore t;
  auto a = t.create("user/a");
  t.create("user/full");
  auto b = t.create("user/b");
  Message earlier;
  earlier.message_id = "<earlier@x>";
  ASSERT_FALSE(deliver(t, earlier, {{"user.full"}}).outcomes[0].error);
  set_quota(t, "user/full", std::nullopt, 1);  // at the limit: still takes mail
  ASSERT_FALSE(deliver(t, {}, {{"user.full"}}).outcomes[0].error);  // now over
  Message m;
  m.message_id = "<third@x>";
  auto r = deliver(t, m, {{"user.a"}, {"user.full"}, {"user.b"}});
  EXPECT_FALSE(r.outcomes[0].error);
  ASSERT_TRUE(r.outcomes[1].error);
  EXPECT_EQ(r.outcomes[1].error->code, Errc::kOverQuota);
  EXPECT_FALSE(r.outcomes[2].error);
  auto sa = testing::stat_of(t.store().message_path(a, 1));
  auto sb = testing::stat_of(t.store().message_path(b, 1));
  EXPECT_EQ(sa.st_ino, sb.st_ino);
  EXPECT_EQ(sa.st_nlink, 2u);
  EXPECT_EQ(r.links, 2);
  EXPECT_TRUE(check(t.store()).ok());
}

TEST(DeliveryRules, DuplicatesAreSuppressedPerMailboxUniqueIdAndDate) {
  TempStore t;
  t.create("user/alice");
  t.create("user/bob");
  Message m;
  auto first = deliver(t, m, {{"user.alice"}});
  ASSERT_FALSE(first.outcomes[0].error);
  auto again = deliver(t, m, {{"user.alice"}, {"user.bob"}});
  ASSERT_FALSE(again.outcomes[0].error);
  EXPECT_TRUE(again.outcomes[0].duplicate);
  EXPECT_EQ(again.outcomes[0].uid, first.outcomes[0].uid);
  EXPECT_FALSE(again.outcomes[1].duplicate);  // bob had not had it
  EXPECT_EQ(count(t, "user/alice"), 1u);
  EXPECT_EQ(count(t, "user/bob"), 1u);
  // Another Date is another message.
  m.date = "Wed, 16 Jul 2026 12:00:00 +0200";
  EXPECT_FALSE(deliver(t, m, {{"user.alice"}}).outcomes[0].duplicate);
  EXPECT_EQ(count(t, "user/alice"), 2u);
  // A renamed mailbox keeps its unique id, and so its marks.
  ASSERT_FALSE(t.store().rename_mailbox(t.store().parse_name("user/alice").value(),
                                        t.store().parse_name("user/alicia").value()));
  EXPECT_TRUE(deliver(t, m, {{"user.alicia"}}).outcomes[0].duplicate);
  EXPECT_EQ(t.store().index().duplicates().count().value(), 3);
  // Pruning forgets them.
  EXPECT_EQ(t.store().index().duplicates().prune(time(nullptr) + 10).value(), 3);
  EXPECT_FALSE(deliver(t, m, {{"user.alicia"}}).outcomes[0].duplicate);
}

TEST(DeliveryRules, TheDuplicateCheckComesAfterQuota) {
  TempStore t;
  t.create("user/alice");
  Message m;
  ASSERT_FALSE(deliver(t, m, {{"user.alice"}}).outcomes[0].error);
  set_quota(t, "user/alice", std::nullopt, 0);
  auto r = deliver(t, m, {{"user.alice"}});
  ASSERT_TRUE(r.outcomes[0].error);
  EXPECT_EQ(r.outcomes[0].error->code, Errc::kOverQuota);
}

TEST(DeliveryRules, WithoutSuppressionTheSameMessageIsStoredAgain) {
  TempStore t;
  t.config().duplicate_suppression = false;
  t.reopen();
  t.create("user/alice");
  Message m;
  deliver(t, m, {{"user.alice"}});
  EXPECT_FALSE(deliver(t, m, {{"user.alice"}}).outcomes[0].duplicate);
  EXPECT_EQ(count(t, "user/alice"), 2u);
  EXPECT_EQ(t.store().index().duplicates().count().value(), 0);
}

TEST(DeliveryRules, RecipientsReachingOneMailboxAreFoldedIntoOneDelivery) {
  TempStore t;
  t.create("user/bob");
  t.create("user/bob/Work");  // no p: a +Work recipient lands in the INBOX
  auto r = deliver(t, {}, {{"user.bob"}, {"user.bob"}, {"user.bob.Work"}});
  for (const auto& o : r.outcomes) {
    ASSERT_FALSE(o.error);
    EXPECT_EQ(o.mailbox, "user.bob");
    EXPECT_EQ(o.uid, 1);
  }
  EXPECT_FALSE(r.outcomes[0].folded);
  EXPECT_TRUE(r.outcomes[1].folded);
  EXPECT_TRUE(r.outcomes[2].folded);
  EXPECT_EQ(count(t, "user/bob"), 1u);
  EXPECT_EQ(r.links, 1);
  // Without a Message-ID (no duplicate key) recipients are still folded.
  Message m;
  m.message_id.clear();
  r = deliver(t, m, {{"user.bob"}, {"user.bob"}});
  EXPECT_EQ(r.outcomes[1].uid, r.outcomes[0].uid);
  EXPECT_EQ(count(t, "user/bob"), 2u);
}

TEST(DeliveryRules, TwoTransactionsOfOneGroupWithTheSameMessage) {
  TempStore t;
  t.create("user/alice");
  DeliveryGroup group(t.store().config(), t.store().index());
  group.add(make_batch(t, {}, {{"user.alice"}}));
  group.add(make_batch(t, {}, {{"user.alice"}}));
  group.stage();
  group.commit();
  group.link();
  Checkpoint cp;
  Unsettled unsettled;
  group.retire(cp, unsettled);
  ASSERT_FALSE(cp.run(t.store().index()));
  auto r = group.results();
  EXPECT_FALSE(r[0].outcomes[0].duplicate);
  EXPECT_TRUE(r[1].outcomes[0].duplicate);
  EXPECT_EQ(count(t, "user/alice"), 1u);
  EXPECT_TRUE(check(t.store()).ok());
}

TEST(DeliveryRules, RefusedTargetsKeepTheirErrorTheOthersAreDelivered) {
  TempStore t;
  t.create("user/a");
  t.create("user/busy");
  auto r = deliver(t, {}, {{"user.a"}, {"user.busy", false, Error{Errc::kBusy, "busy"}}});
  EXPECT_FALSE(r.outcomes[0].error);
  ASSERT_TRUE(r.outcomes[1].error);
  EXPECT_EQ(r.outcomes[1].error->code, Errc::kBusy);
  EXPECT_EQ(count(t, "user/busy"), 0u);
}

TEST(DeliveryRules, ADeliveryWhoseFileCannotBeMadeIsUndoneWholly) {
  TempStore t;
  auto alice = t.create("user/alice");
  t.create("user/bob");
  set_quota(t, "user/alice", 100, 100);
  Message m;
  DeliveryGroup group(t.store().config(), t.store().index());
  group.add(make_batch(t, m, {{"user.alice"}, {"user.bob"}, {"user.alice"}}));
  group.stage();
  group.commit();
  // The directory vanishes between commit and link: the link and the copy both fail.
  ASSERT_EQ(::rmdir(t.store().mailbox_dir(alice).c_str()) == 0 ||
                ::unlink((t.store().mailbox_dir(alice) + "/cubby.header").c_str()) == 0,
            true);
  ::rmdir(t.store().mailbox_dir(alice).c_str());
  group.link();
  Checkpoint cp;
  Unsettled unsettled;
  group.retire(cp, unsettled);
  ASSERT_FALSE(cp.run(t.store().index()));
  auto r = group.results()[0];
  ASSERT_TRUE(r.outcomes[0].error);
  EXPECT_FALSE(r.outcomes[1].error);
  ASSERT_TRUE(r.outcomes[2].error);  // folded into the failed one
  EXPECT_EQ(count(t, "user/alice"), 0u);
  auto root = t.store().index().quotas().get("user.alice").value();
  EXPECT_EQ(root->message_used, 0);
  EXPECT_EQ(root->storage_used, 0);
  // The mark went too: a retry is delivered, not suppressed.
  ASSERT_FALSE(make_dirs(t.store().mailbox_dir(alice)));
  auto retry = deliver(t, m, {{"user.alice"}});
  ASSERT_FALSE(retry.outcomes[0].error);
  EXPECT_FALSE(retry.outcomes[0].duplicate);
  EXPECT_EQ(retry.outcomes[0].uid, 2);  // UID 1 stays used
}

}  // namespace
}  // namespace cubby::store
