// The RCPT cache (store/mailbox_cache.h) through StoreBackend: a recipient seen before is answered
// from memory, and a change made by another connection to the index (as cubbyctl makes it, in
// another process) is seen by the very next RCPT: a mailbox created, deleted, renamed, its ACL
// changed, a quota root set, changed or removed. Also the catalog generation itself (index.h).
#include <gtest/gtest.h>

#include <memory>

#include "server/lmtpd/store_backend.h"
#include "store/acl.h"
#include "store/mailbox_cache.h"
#include "tests/store/temp_store.h"

namespace cubby::server {
namespace {

using store::testing::TempStore;

constexpr const char* kUnknown = "550 5.1.1 User unknown\r\n";
constexpr const char* kDenied = "550 5.7.1 Permission denied\r\n";
constexpr const char* kOverQuota = "452 4.2.2 Over quota SESSIONID=<sid-1>\r\n";

struct Fixture {
  Fixture() {
    RecipientRules rules;
    rules.address.unix_sep = true;
    backend = std::make_unique<StoreBackend>(t.store(), rules);
    auto opened = store::Store::open(t.config());  // the other process: cubbyctl
    if (!opened.ok()) throw std::runtime_error(opened.error().detail);
    admin = std::move(opened.value());
  }
  // The target of an accepted RCPT, or the last line of the refusal.
  std::string rcpt(const std::string& address, const std::string& auth = "") {
    lmtp::RecipientRequest r;
    r.address = address;
    r.auth_id = auth;
    r.session_id = "sid-1";
    auto v = backend->check_recipient(r);
    if (v.accepted) return v.target;
    const std::string wire = v.rejection.wire();
    const size_t last = wire.rfind("\r\n", wire.size() - 3);
    return last == std::string::npos ? wire : wire.substr(last + 2);
  }
  store::MailboxName name(const std::string& external) {
    return admin->parse_name(external).value();
  }
  store::MailboxRecord create(const std::string& external) {
    auto m = admin->create_mailbox(name(external));
    EXPECT_TRUE(m.ok());
    return m.ok() ? m.value() : store::MailboxRecord{};
  }
  TempStore t;
  std::unique_ptr<StoreBackend> backend;
  std::unique_ptr<store::Store> admin;
};

TEST(MailboxCache, RepeatedRecipientsAreAnsweredFromMemory) {
  Fixture f;
  f.create("user/alice");
  f.create("user/alice/Work");
  EXPECT_EQ(f.rcpt("alice@x"), "user.alice");
  const auto misses = f.backend->cache().misses();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(f.rcpt("alice@x"), "user.alice");
    EXPECT_EQ(f.rcpt("alice+Work@x"), "user.alice.Work");
    EXPECT_EQ(f.rcpt("nobody@x"), kUnknown);
  }
  // Only the first sight of the folder and of nobody went to the index.
  EXPECT_EQ(f.backend->cache().misses(), misses + 2);  // the folder, and nobody
  EXPECT_GE(f.backend->cache().hits(), 10u);
}

TEST(MailboxCache, AMailboxCreatedElsewhereIsSeenByTheNextRcpt) {
  Fixture f;
  EXPECT_EQ(f.rcpt("bob@x"), kUnknown);
  EXPECT_EQ(f.rcpt("bob@x"), kUnknown);  // remembered as missing
  f.create("user/bob");
  EXPECT_EQ(f.rcpt("bob@x"), "user.bob");
  EXPECT_EQ(f.rcpt("bob+Lists@x"), "user.bob");  // no folder yet: the INBOX
  f.create("user/bob/Lists");
  EXPECT_EQ(f.rcpt("bob+Lists@x"), "user.bob.Lists");
}

TEST(MailboxCache, AMailboxDeletedElsewhereIsSeenByTheNextRcpt) {
  Fixture f;
  f.create("user/carol");
  f.create("user/carol/Work");
  EXPECT_EQ(f.rcpt("carol+Work@x"), "user.carol.Work");
  ASSERT_FALSE(f.admin->delete_mailbox(f.name("user/carol/Work")));
  EXPECT_EQ(f.rcpt("carol+Work@x"), "user.carol");
  ASSERT_FALSE(f.admin->delete_mailbox(f.name("user/carol")));
  EXPECT_EQ(f.rcpt("carol@x"), kUnknown);
  EXPECT_EQ(f.rcpt("carol+Work@x"), kUnknown);
}

TEST(MailboxCache, AMailboxRenamedElsewhereIsSeenByTheNextRcpt) {
  Fixture f;
  f.create("user/dave");
  EXPECT_EQ(f.rcpt("dave@x"), "user.dave");
  EXPECT_EQ(f.rcpt("erin@x"), kUnknown);
  ASSERT_FALSE(f.admin->rename_mailbox(f.name("user/dave"), f.name("user/erin")));
  EXPECT_EQ(f.rcpt("dave@x"), kUnknown);
  EXPECT_EQ(f.rcpt("erin@x"), "user.erin");
}

TEST(MailboxCache, AnAclChangedElsewhereIsSeenByTheNextRcpt) {
  Fixture f;
  auto box = f.create("shared/news");  // defaultacl: anyone lrs
  EXPECT_EQ(f.rcpt("+shared/news@x"), kDenied);
  ASSERT_FALSE(f.admin->set_acl(box, "anyone\tlrsp\t"));
  EXPECT_EQ(f.rcpt("+shared/news@x"), "shared.news");
  ASSERT_FALSE(f.admin->set_acl(box, "anyone\tr\tbot\tlp\t"));
  EXPECT_EQ(f.rcpt("+shared/news@x"), kUnknown);  // not even l
  EXPECT_EQ(f.rcpt("+shared/news@x", "bot"), "shared.news");
  ASSERT_FALSE(f.admin->set_acl(box, "anyone\tl\t"));
  EXPECT_EQ(f.rcpt("+shared/news@x", "bot"), kDenied);
}

TEST(MailboxCache, QuotaSetChangedOrRemovedElsewhereIsSeenByTheNextRcpt) {
  Fixture f;
  f.create("user/frank");
  f.create("user/frank/Work");
  EXPECT_EQ(f.rcpt("frank@x"), "user.frank");  // remembered: no quota root covers it
  ASSERT_FALSE(f.admin->set_quota(f.name("user/frank"), 0, std::nullopt));
  EXPECT_EQ(f.rcpt("frank@x"), "user.frank");  // at its limit, not over it
  // A delivery's usage does not move the generation: it is read fresh at every RCPT.
  ASSERT_FALSE(f.admin->index().quotas().charge("user.frank", 1, 1));
  EXPECT_EQ(f.rcpt("frank@x"), kOverQuota);
  EXPECT_EQ(f.rcpt("frank+Work@x"), kOverQuota);
  ASSERT_FALSE(f.admin->set_quota(f.name("user/frank"), 10, std::nullopt));  // recomputes: 0 used
  EXPECT_EQ(f.rcpt("frank@x"), "user.frank");
  ASSERT_FALSE(f.admin->index().quotas().charge("user.frank", 20000, 1));
  EXPECT_EQ(f.rcpt("frank@x"), kOverQuota);
  ASSERT_FALSE(f.admin->set_quota(f.name("user/frank"), std::nullopt, std::nullopt));  // removed
  EXPECT_EQ(f.rcpt("frank@x"), "user.frank");
  EXPECT_EQ(f.rcpt("frank+Work@x"), "user.frank.Work");
}

TEST(MailboxCache, TheCatalogGenerationMovesWithTheCatalogOnly) {
  TempStore t;
  auto& index = t.store().index();
  auto g0 = index.catalog_generation();
  ASSERT_TRUE(g0.ok());
  auto box = t.create("user/gina");
  auto g1 = index.catalog_generation().value();
  EXPECT_GT(g1, g0.value());
  ASSERT_TRUE(index.allocate_uid(box.id).ok());  // a delivery's UID: same generation
  ASSERT_FALSE(index.raise_uidnext(box.id, 100));
  EXPECT_EQ(index.catalog_generation().value(), g1);
  ASSERT_FALSE(index.set_acl(box.id, "anyone\tlrs\t"));
  const auto g2 = index.catalog_generation().value();
  EXPECT_GT(g2, g1);
  ASSERT_FALSE(t.store().set_quota(t.store().parse_name("user/gina").value(), 100, std::nullopt));
  const auto g3 = index.catalog_generation().value();
  EXPECT_GT(g3, g2);
  ASSERT_FALSE(index.quotas().charge("user.gina", 10, 1));  // a delivery's usage: same generation
  EXPECT_EQ(index.catalog_generation().value(), g3);
}

}  // namespace
}  // namespace cubby::server
