// StoreBackend over a real store: RCPT-time checks for every address form (both hierarchy
// separators, virtdomains on and off, upper-case domains with defaultdomain, UTF-8 details, fuzzy
// matches), shared mailboxes and their rights, quota at RCPT (plain, strict, temporary, permanent,
// IGNOREQUOTA), autocreate, the catch-all, the per-user concurrency limit, and the replies.
#include "server/lmtpd/store_backend.h"

#include <gtest/gtest.h>

#include "store/acl.h"
#include "tests/store/temp_store.h"

namespace cubby::server {
namespace {

using store::testing::TempStore;

RecipientRules plain_rules() {
  RecipientRules r;
  r.address.unix_sep = true;
  return r;
}

struct Fixture {
  explicit Fixture(RecipientRules rules = plain_rules(), bool unix_sep = true)
      : backend(nullptr) {
    t.config().unix_hierarchy_sep = unix_sep;
    rules.address.unix_sep = unix_sep;
    t.reopen();
    backend = std::make_unique<StoreBackend>(t.store(), rules);
  }
  lmtp::RecipientVerdict rcpt(const std::string& address, bool ignore_quota = false,
                              uint64_t size = 0, const std::string& auth = "") {
    lmtp::RecipientRequest r;
    r.address = address;
    r.ignore_quota = ignore_quota;
    r.declared_size = size;
    r.auth_id = auth;
    r.session_id = "sid-1";
    return backend->check_recipient(r);
  }
  // The target of an accepted RCPT, or the reply's first line when refused.
  std::string target(const std::string& address, const std::string& auth = "") {
    auto v = rcpt(address, false, 0, auth);
    if (v.accepted) return v.target;
    std::string wire = v.rejection.wire();
    return "refused: " + wire.substr(wire.rfind("\r\n", wire.size() - 3) == std::string::npos
                                         ? 0
                                         : wire.rfind("\r\n", wire.size() - 3) + 2);
  }
  void quota(const std::string& external, std::optional<int64_t> kib,
             std::optional<int64_t> messages) {
    ASSERT_FALSE(t.store().set_quota(t.store().parse_name(external).value(), kib, messages));
  }
  void fill(const std::string& internal, size_t bytes) {
    store::DeliveryGroup g(t.store().config(), t.store().index());
    g.add(store::testing::batch_to(t.stage(std::string(bytes, 'x')), {internal}));
    g.stage();
    g.commit();
    g.link();
    store::Checkpoint cp;
    store::Unsettled unsettled;
    g.retire(cp, unsettled);
    ASSERT_FALSE(cp.run(t.store().index()));
  }
  TempStore t;
  std::unique_ptr<StoreBackend> backend;
};

constexpr const char* kUnknown = "refused: 550 5.1.1 User unknown\r\n";

TEST(StoreBackend, UserAddressesFindTheInboxOrTheirFolder) {
  for (bool unix_sep : {true, false}) {
    SCOPED_TRACE(unix_sep ? "unixhierarchysep: yes" : "unixhierarchysep: no");
    Fixture f(plain_rules(), unix_sep);
    const std::string sep = unix_sep ? "/" : ".";
    f.t.create("user" + sep + "alice");
    f.t.create("user" + sep + "alice" + sep + "Work");
    f.t.create("user" + sep + "alice" + sep + "Lists" + sep + "cubby");
    f.t.create("user" + sep + "alice" + sep + "Entw&APw-rfe");
    EXPECT_EQ(f.target("alice@example.com"), "user.alice");
    EXPECT_EQ(f.target("ALICE@EXAMPLE.COM"), "user.alice");
    EXPECT_EQ(f.target("alice"), "user.alice");
    EXPECT_EQ(f.target("alice+Work@example.com"), "user.alice.Work");
    EXPECT_EQ(f.target("alice+work@example.com"), "user.alice");  // no fuzzy match by default
    EXPECT_EQ(f.target("alice+Lists" + sep + "cubby@example.com"), "user.alice.Lists.cubby");
    EXPECT_EQ(f.target("alice+Nowhere@example.com"), "user.alice");
    EXPECT_EQ(f.target("alice+INBOX@example.com"), "user.alice");
    EXPECT_EQ(f.target("alice+Entw\xc3\xbcrfe@example.com"), "user.alice.Entw&APw-rfe");
    EXPECT_EQ(f.target("bob@example.com"), kUnknown);
    EXPECT_EQ(f.target("bob+Work@example.com"), kUnknown);
  }
}

TEST(StoreBackend, VirtualDomainsWithUpperCaseDomainsAndTheDefaultDomain) {
  for (bool unix_sep : {true, false}) {
    SCOPED_TRACE(unix_sep ? "unixhierarchysep: yes" : "unixhierarchysep: no");
    RecipientRules rules = plain_rules();
    rules.address.virtdomains = true;
    rules.address.default_domain = "example.org";
    Fixture f(rules, unix_sep);
    const std::string sep = unix_sep ? "/" : ".";
    f.t.create("example.com!user" + sep + "alice");
    f.t.create("example.com!user" + sep + "alice" + sep + "Work");
    f.t.create("user" + sep + "bob");
    EXPECT_EQ(f.t.mailbox("example.com!user" + sep + "alice").dir, "domain/example.com/user/alice");
    EXPECT_EQ(f.target("alice@example.com"), "example.com!user.alice");
    EXPECT_EQ(f.target("Alice@EXAMPLE.COM"), "example.com!user.alice");
    EXPECT_EQ(f.target("alice+Work@Example.Com"), "example.com!user.alice.Work");
    EXPECT_EQ(f.target("bob@example.org"), "user.bob");
    EXPECT_EQ(f.target("bob@EXAMPLE.ORG"), "user.bob");  // Cyrus 3414: refused there
    EXPECT_EQ(f.target("bob"), "user.bob");
    EXPECT_EQ(f.target("bob@example.com"), kUnknown);
    EXPECT_EQ(f.target("alice@example.org"), kUnknown);
  }
}

TEST(StoreBackend, WithoutVirtualDomainsTheDomainIsDropped) {
  Fixture f;
  f.t.create("user/alice");
  EXPECT_EQ(f.target("alice@anything.example"), "user.alice");
  EXPECT_EQ(f.target("alice@[192.0.2.1]"), "user.alice");
}

TEST(StoreBackend, FuzzyMatchingOfFoldersAndSharedMailboxes) {
  RecipientRules rules = plain_rules();
  rules.fuzzy_match = true;
  Fixture f(rules);
  f.t.create("user/alice");
  f.t.create("user/alice/Mailing Lists");
  f.t.create("user/alice/Mailing Lists/Cyrus-Devel");
  f.t.create("user/alice/work");
  f.t.create("user/alice/Work");
  f.t.create("user/alicea/Other");
  auto shared = f.t.create("Shared Stuff");
  auto acl = store::Acl::parse(shared.acl).value();
  ASSERT_FALSE(acl.set("anyone", "lrsp"));
  ASSERT_FALSE(f.t.store().set_acl(shared, acl.str()));
  EXPECT_EQ(f.target("alice+mailing_lists@x"), "user.alice.Mailing Lists");
  EXPECT_EQ(f.target("alice+MAILING-LISTS@x"), "user.alice.Mailing Lists");
  EXPECT_EQ(f.target("alice+mailing_lists/cyrus_devel@x"),
            "user.alice.Mailing Lists.Cyrus-Devel");
  // no such child: the deepest existing parent
  EXPECT_EQ(f.target("alice+mailing-lists/postfix@x"), "user.alice.Mailing Lists");
  // an exact match wins over a fuzzy one
  EXPECT_EQ(f.target("alice+WORK@x"), "user.alice.Work");
  EXPECT_EQ(f.target("alice+work@x"), "user.alice.work");
  // nothing matches at all: the INBOX; another user's folders never match
  EXPECT_EQ(f.target("alice+other@x"), "user.alice");
  EXPECT_EQ(f.target("+shared_stuff@x"), "Shared Stuff");
  EXPECT_EQ(f.target("+SHARED-STUFF/sub@x"), "Shared Stuff");
  EXPECT_EQ(f.target("+nothing@x"), kUnknown);
}

TEST(StoreBackend, SharedMailboxesNeedThePostRightAtRcpt) {
  Fixture f;
  auto box = f.t.create("shared/news");  // anyone lrs
  EXPECT_EQ(f.target("+shared/news@x"), "refused: 550 5.7.1 Permission denied\r\n");
  auto wire = f.rcpt("+shared/news@x").rejection.wire();
  EXPECT_EQ(wire,
            "550-You do not have permission to post a message to this mailbox.\r\n"
            "550-Please contact the owner of this mailbox in order to submit\r\n"
            "550-your message, or postmaster if you believe you\r\n"
            "550-received this message in error.\r\n"
            "550 5.7.1 Permission denied\r\n");
  ASSERT_FALSE(f.t.store().set_acl(box, "anyone\tr\tbot\tlp\t"));
  EXPECT_EQ(f.target("+shared/news@x"), kUnknown);  // not even l
  EXPECT_EQ(f.target("+shared/news@x", "bot"), "shared.news");
  ASSERT_FALSE(f.t.store().set_acl(box, "anyone\tlp\t"));
  EXPECT_EQ(f.target("+shared/news@x"), "shared.news");
  EXPECT_EQ(f.target("+shared/news/sub@x"), kUnknown);  // no fall-back for shared mailboxes
}

TEST(StoreBackend, QuotaAtRcpt) {
  Fixture f;
  f.t.create("user/alice");
  f.quota("user/alice", 1, std::nullopt);
  f.fill("user.alice", 1024);  // exactly at the limit
  EXPECT_TRUE(f.rcpt("alice@x").accepted);  // Cyrus's rule: used + 0 > limit is false
  EXPECT_TRUE(f.rcpt("alice@x", false, 5000).accepted);  // SIZE= only counts with strict
  f.fill("user.alice", 1);
  auto v = f.rcpt("alice@x");
  ASSERT_FALSE(v.accepted);
  EXPECT_EQ(v.rejection.wire(), "452 4.2.2 Over quota SESSIONID=<sid-1>\r\n");
  EXPECT_TRUE(f.rcpt("alice@x", true).accepted);  // IGNOREQUOTA
  // the folder's owner's root is what RCPT checks
  EXPECT_FALSE(f.rcpt("alice+Work@x").accepted);
}

TEST(StoreBackend, QuotaAtRcptPermanentAndStrict) {
  RecipientRules rules = plain_rules();
  rules.over_quota_permanent = true;
  rules.strict_quota = true;
  Fixture f(rules);
  f.t.create("user/alice");
  f.quota("user/alice", 1, 3);
  f.fill("user.alice", 1000);
  EXPECT_TRUE(f.rcpt("alice@x", false, 24).accepted);  // 1024: fits
  auto v = f.rcpt("alice@x", false, 25);
  ASSERT_FALSE(v.accepted);
  EXPECT_EQ(v.rejection.wire(), "552 5.2.2 Over quota SESSIONID=<sid-1>\r\n");
  EXPECT_TRUE(f.rcpt("alice@x", true, 25).accepted);
  f.fill("user.alice", 1);
  f.fill("user.alice", 1);
  EXPECT_FALSE(f.rcpt("alice@x", false, 0).accepted);  // MESSAGE: 3 + 1 > 3
}

TEST(StoreBackend, AutocreateMakesTheInboxWithItsQuota) {
  RecipientRules rules = plain_rules();
  rules.autocreate = true;
  rules.autocreate_storage = 2048;
  rules.autocreate_messages = 10;
  Fixture f(rules);
  EXPECT_EQ(f.target("newbie+Folder@x"), "user.newbie");
  auto box = f.t.mailbox("user/newbie");
  EXPECT_EQ(box.acl, "newbie\tlrswipkxtean\t");
  auto root = f.t.store().index().quotas().get("user.newbie").value();
  ASSERT_TRUE(root);
  EXPECT_EQ(root->storage_limit, 2048);
  EXPECT_EQ(root->message_limit, 10);
  EXPECT_EQ(f.target("+shared/none@x"), kUnknown);  // never a shared mailbox
  RecipientRules off = plain_rules();
  Fixture g(off);
  EXPECT_EQ(g.target("newbie@x"), kUnknown);
}

TEST(StoreBackend, CatchallTakesWhatWouldBeRefused) {
  RecipientRules rules = plain_rules();
  rules.catchall = "postmaster";
  Fixture f(rules);
  f.t.create("user/postmaster");
  f.t.create("user/full");
  f.t.create("shared/closed");
  f.quota("user/full", std::nullopt, 0);
  f.fill("user.full", 10);
  EXPECT_EQ(f.target("nobody@x"), "user.postmaster");
  EXPECT_EQ(f.target("nobody+Folder@x"), "user.postmaster");
  EXPECT_EQ(f.target("full@x"), "user.postmaster");
  EXPECT_EQ(f.target("+shared/closed@x"), "user.postmaster");
  // the catch-all's own failure is reported
  f.quota("user/postmaster", std::nullopt, 0);
  f.fill("user.postmaster", 10);
  EXPECT_EQ(f.target("nobody@x"), "refused: 452 4.2.2 Over quota SESSIONID=<sid-1>\r\n");
}

TEST(StoreBackend, ConcurrencyLimitRefusesOnlyThatUsersRecipients) {
  RecipientRules rules = plain_rules();
  rules.user_concurrency_limit = 1;
  Fixture f(rules);
  f.t.create("user/alice");
  f.t.create("user/bob");
  auto request = [&](std::vector<std::string> targets) {
    lmtp::DeliveryRequest r;
    r.sink = f.backend->open_message({}).value();
    for (auto& t : targets) {
      lmtp::RecipientVerdict v;
      v.accepted = true;
      v.target = t;
      r.recipients.push_back(v);
    }
    r.info.message_id = "<x@y>";
    return r;
  };
  auto r1 = request({"user.alice"});
  auto first = f.backend->batch(r1);  // holds alice's only slot
  ASSERT_FALSE(first.targets[0].refused);
  EXPECT_EQ(first.slots.size(), 1u);
  auto r2 = request({"user.alice", "user.bob", "user.alice"});
  auto second = f.backend->batch(r2);
  ASSERT_TRUE(second.targets[0].refused);
  EXPECT_EQ(second.targets[0].refused->code, store::Errc::kBusy);
  EXPECT_FALSE(second.targets[1].refused);
  ASSERT_TRUE(second.targets[2].refused);
  store::DeliveryResult result;
  result.outcomes.resize(3);
  result.outcomes[0].error = second.targets[0].refused;
  result.outcomes[2].error = second.targets[2].refused;
  lmtp::MessageInfo info;
  info.session_id = "sid-2";
  auto replies = f.backend->replies(result, info);
  EXPECT_EQ(replies[0].wire(), "451 4.4.5 Too many concurrent deliveries for this user\r\n");
  EXPECT_EQ(replies[1].wire(), "250 2.1.5 Success SESSIONID=<sid-2>\r\n");
  // Released with the first batch: alice can be delivered to again.
  first = store::DeliveryBatch{f.t.stage("x"), {}, {}, {}, {}, {}};
  auto r3 = request({"user.alice"});
  EXPECT_FALSE(f.backend->batch(r3).targets[0].refused);
}

TEST(StoreBackend, RepliesForEveryOutcome) {
  Fixture f;
  store::DeliveryResult result;
  result.outcomes.resize(7);
  result.outcomes[1].duplicate = true;
  result.outcomes[2].error = store::Error{store::Errc::kNotFound, "x"};
  result.outcomes[3].error = store::Error{store::Errc::kPermission, "x"};
  result.outcomes[4].error = store::Error{store::Errc::kOverQuota, "x"};
  result.outcomes[5].error = store::Error{store::Errc::kNoSpace, "x"};
  result.outcomes[6].error = store::Error{store::Errc::kIo, "x"};
  lmtp::MessageInfo info;
  info.session_id = "s";
  auto r = f.backend->replies(result, info);
  ASSERT_EQ(r.size(), 7u);
  EXPECT_EQ(r[0].wire(), "250 2.1.5 Success SESSIONID=<s>\r\n");
  EXPECT_EQ(r[1].wire(), "250 2.1.5 Success SESSIONID=<s>\r\n");
  EXPECT_EQ(r[2].code, 550);
  EXPECT_EQ(r[2].enhanced, "5.1.1");
  EXPECT_EQ(r[3].enhanced, "5.7.1");
  EXPECT_EQ(r[4].wire(), "452 4.2.2 Over quota SESSIONID=<s>\r\n");
  EXPECT_EQ(r[5].wire(), "451 4.3.1 mail system storage has been exceeded\r\n");
  EXPECT_EQ(r[6].wire(), "451 4.3.0 System I/O error\r\n");
}

}  // namespace
}  // namespace cubby::server
