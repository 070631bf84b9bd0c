// Mailbox ACLs: rights letters and named sets, anyone/anonymous, negative rights, the stored form.
#include "store/acl.h"

#include <gtest/gtest.h>

namespace cubby::store {
namespace {

TEST(Acl, RightsAreCanonicalised) {
  EXPECT_EQ(parse_rights("pl").value(), "lp");
  EXPECT_EQ(parse_rights("lrswipkxtea").value(), "lrswipkxtea");
  EXPECT_EQ(parse_rights("c").value(), "kx");   // obsolete create
  EXPECT_EQ(parse_rights("d").value(), "xte");  // obsolete delete
  EXPECT_EQ(parse_rights("post").value(), "lrsp");
  EXPECT_EQ(parse_rights("all").value(), "lrswipkxtean");
  EXPECT_EQ(parse_rights("none").value(), "");
  EXPECT_EQ(parse_rights("").value(), "");
  EXPECT_FALSE(parse_rights("lrz").ok());
  EXPECT_FALSE(parse_rights("L").ok());
}

TEST(Acl, AnyoneMatchesEveryIdentityAnonymousOnlyTheAnonymousOne) {
  Acl acl;
  ASSERT_FALSE(acl.set("anyone", "l"));
  ASSERT_FALSE(acl.set("anonymous", "p"));
  ASSERT_FALSE(acl.set("bob", "lrp"));
  EXPECT_EQ(acl.rights_of(""), "lp");
  EXPECT_EQ(acl.rights_of("alice"), "l");
  EXPECT_EQ(acl.rights_of("bob"), "lrp");
  EXPECT_TRUE(acl.allows("", 'p'));
  EXPECT_FALSE(acl.allows("alice", 'p'));
}

TEST(Acl, NegativeRightsAreTakenAway) {
  Acl acl;
  ASSERT_FALSE(acl.set("anyone", "lp"));
  ASSERT_FALSE(acl.set("-bob", "p"));
  EXPECT_EQ(acl.rights_of("bob"), "l");
  EXPECT_EQ(acl.rights_of("carol"), "lp");
  ASSERT_FALSE(acl.set("-anyone", "l"));
  EXPECT_EQ(acl.rights_of("carol"), "p");
}

TEST(Acl, SetReplacesRemovesAndKeepsOrder) {
  Acl acl;
  ASSERT_FALSE(acl.set("alice", "all"));
  ASSERT_FALSE(acl.set("anyone", "p"));
  ASSERT_FALSE(acl.set("alice", "lr"));
  EXPECT_EQ(acl.str(), "alice\tlr\tanyone\tp\t");
  ASSERT_FALSE(acl.set("alice", ""));
  EXPECT_EQ(acl.str(), "anyone\tp\t");
  EXPECT_EQ(acl.entry("anyone"), "p");
  EXPECT_EQ(acl.entry("alice"), "");
  EXPECT_TRUE(acl.set("bad id", "l"));
  EXPECT_TRUE(acl.set("", "l"));
  EXPECT_TRUE(acl.set("-", "l"));
  EXPECT_TRUE(acl.set("x", "q"));
}

TEST(Acl, StoredFormRoundTrips) {
  auto acl = Acl::parse("alice\tlrswipkxtea\tanyone\tp\t-bob\tp\t");
  ASSERT_TRUE(acl.ok()) << acl.error();
  EXPECT_EQ(acl->entries().size(), 3u);
  EXPECT_EQ(acl->str(), "alice\tlrswipkxtea\tanyone\tp\t-bob\tp\t");
  EXPECT_TRUE(Acl::parse("").ok());
  EXPECT_FALSE(Acl::parse("alice\tlr").ok());
  EXPECT_FALSE(Acl::parse("alice\tlz\t").ok());
}

TEST(Acl, NewMailboxes) {
  EXPECT_EQ(Acl::for_new_mailbox("alice", "anyone lrs").str(), "alice\tlrswipkxtean\t");
  EXPECT_EQ(Acl::for_new_mailbox("", "anyone lrs").str(), "anyone\tlrs\t");
  EXPECT_EQ(Acl::for_new_mailbox("", "anyone p  postmaster all").str(),
            "anyone\tp\tpostmaster\tlrswipkxtean\t");
  EXPECT_EQ(Acl::for_new_mailbox("", "").str(), "");
}

}  // namespace
}  // namespace cubby::store
